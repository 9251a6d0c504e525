//! Provisioning: `central provision | devices | revoke` on central's data
//! directory, and `field register` (or `field init --token`) on a laptop.

use std::io::IsTerminal;
use std::time::Duration;

use crate::central_store::Central;
use anyhow::Context;
use chrono::Utc;
use doorstep_central::SqliteCentral;
use doorstep_central::registry::{RegisteredNode, RegistryError};
use doorstep_store::FieldStore;
use doorstep_sync::client::SendError;
use doorstep_sync::provision::{ProvisionError, register_laptop};
use doorstep_wire::NodeRole;
use doorstep_wire::register::RegisterAnswer;
use serde_json::json;

use crate::cli::{
    ClientTlsArgs, DevicesArgs, ProvisionArgs, ProvisionRole, RegisterArgs, RevokeArgs,
    StationRegisterArgs,
};
use crate::lang::{Lang, Pick};
use crate::sync_cmd::check_server_url;
use crate::{Outcome, UserError, table};

/// A refusal the person can act on becomes a usage error (exit 2) that
/// says what to do; a storage failure stays an error (exit 1).
fn registry_error(e: RegistryError, lang: Lang) -> anyhow::Error {
    let hint = match &e {
        RegistryError::UnknownUnit(_) => lang.pick(
            "mã đơn vị không có trong danh mục của trung tâm",
            "the unit code is not in central's unit list",
        ),
        RegistryError::UnknownStation(_) => lang.pick(
            "trạm này chưa được đăng ký hoặc đã bị thu hồi",
            "that station is not registered or was revoked",
        ),
        RegistryError::UnknownNode(_) => lang.pick(
            "không có thiết bị nào với mã này (xem `doorstep central devices`)",
            "no device with this ID (see `doorstep central devices`)",
        ),
        RegistryError::AlreadyRevoked { .. } => lang.pick(
            "thiết bị này đã bị thu hồi",
            "this device was already revoked",
        ),
        RegistryError::Store(_) => return anyhow::Error::new(e),
        _ => "",
    };
    anyhow::Error::new(UserError(if hint.is_empty() {
        e.to_string()
    } else {
        format!("{hint}: {e}")
    }))
}

pub fn provision(args: ProvisionArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let name = doorstep_core::text::clean(&args.name);
    if name.is_empty() {
        return Err(UserError(
            lang.pick("--name không được để trống", "--name must not be empty")
                .into(),
        )
        .into());
    }
    if args.valid_hours == 0 || args.valid_hours > 24 * 30 {
        return Err(UserError(format!(
            "--valid-hours {}: {}",
            args.valid_hours,
            lang.pick("cần từ 1 đến 720 giờ", "must be 1 to 720 hours")
        ))
        .into());
    }
    let role = match args.role {
        ProvisionRole::Field => NodeRole::Field,
        ProvisionRole::Station => NodeRole::Station,
    };
    if role == NodeRole::Station && args.station.is_some() {
        return Err(UserError(
            lang.pick(
                "--station chỉ dùng cho máy trạm (--role field)",
                "--station is for laptops (--role field)",
            )
            .into(),
        )
        .into());
    }
    if role == NodeRole::Station && args.biometrics != doorstep_core::record::BiometricPolicy::NONE
    {
        return Err(UserError(
            lang.pick(
                "--biometrics chỉ dùng cho máy trạm (--role field)",
                "--biometrics is for laptops (--role field)",
            )
            .into(),
        )
        .into());
    }
    let rt = crate::central_store::runtime()?;
    let central = rt.block_on(Central::open(&args.dir))?;
    let issued = rt
        .block_on(central.store().issue_token(
            role,
            args.unit.trim(),
            &name,
            args.station,
            args.biometrics,
            chrono::Duration::hours(i64::from(args.valid_hours)),
            Utc::now(),
        ))
        .map_err(|e| registry_error(e, lang))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&issued)?);
        return Ok(Outcome::Ok);
    }
    println!(
        "{} ({} {}, {} {}):",
        lang.pick("Mã đăng ký dùng một lần", "One-time registration token"),
        role.as_str(),
        issued.name,
        lang.pick("đơn vị", "unit"),
        issued.unit_code
    );
    println!();
    println!("    {}", issued.token);
    println!();
    if std::io::stdout().is_terminal()
        && let Ok(code) = qrcode::QrCode::new(issued.token.as_bytes())
    {
        let image = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        println!("{image}");
    }
    if args.biometrics != doorstep_core::record::BiometricPolicy::NONE {
        println!(
            "{}: {}",
            lang.pick(
                "Hồ sơ cấp căn cước phải có",
                "ID card applications must carry"
            ),
            args.biometrics.spec()
        );
    }
    println!(
        "{} {} — {}",
        lang.pick("Hết hạn lúc", "Expires at"),
        issued.expires_at,
        lang.pick(
            "dùng được một lần; mã chỉ hiện lần này, trung tâm chỉ lưu giá trị băm.",
            "single use; shown only now, central keeps only its hash."
        )
    );
    println!(
        "{} doorstep field init --data-dir DIR --unit {} --device-name \"{}\" --server URL --token {}",
        lang.pick("Trên máy trạm:", "On the laptop:"),
        issued.unit_code,
        issued.name,
        issued.token
    );
    Ok(Outcome::Ok)
}

pub fn devices(args: DevicesArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let rt = crate::central_store::runtime()?;
    let central = rt.block_on(Central::open(&args.dir))?;
    let nodes = rt
        .block_on(central.store().list_nodes())
        .map_err(|e| registry_error(e, lang))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "devices": nodes }))?
        );
        return Ok(Outcome::Ok);
    }
    if nodes.is_empty() {
        println!(
            "{}",
            lang.pick(
                "Chưa có thiết bị nào đăng ký (cấp mã: doorstep central provision).",
                "No device registered yet (issue a token: doorstep central provision)."
            )
        );
        return Ok(Outcome::Ok);
    }
    let rows: Vec<[String; 8]> = nodes.iter().map(|n| node_row(n, lang)).collect();
    let headers = match lang {
        Lang::Vi => [
            "mã thiết bị",
            "vai trò",
            "tên",
            "đơn vị",
            "trạm",
            "sinh trắc bắt buộc",
            "đăng ký lúc",
            "trạng thái",
        ],
        Lang::En => [
            "device",
            "role",
            "name",
            "unit",
            "station",
            "biometrics",
            "registered",
            "status",
        ],
    };
    table::write(&mut std::io::stdout().lock(), &headers, &rows)?;
    Ok(Outcome::Ok)
}

fn node_row(n: &RegisteredNode, lang: Lang) -> [String; 8] {
    [
        n.node_id.to_string(),
        n.role.as_str().to_owned(),
        n.name.clone(),
        n.unit_code.clone(),
        n.station_id
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        n.biometrics.spec(),
        n.registered_at.clone(),
        match &n.revoked_at {
            Some(at) => format!("{} {at}", lang.pick("thu hồi", "revoked")),
            None => lang.pick("hoạt động", "active").to_owned(),
        },
    ]
}

pub fn revoke(args: RevokeArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let rt = crate::central_store::runtime()?;
    let central = rt.block_on(Central::open(&args.dir))?;
    let node = rt
        .block_on(
            central
                .store()
                .revoke_node(args.device, args.reason.trim(), Utc::now()),
        )
        .map_err(|e| registry_error(e, lang))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&node)?);
    } else {
        println!(
            "{} {} ({}, {}): {}",
            lang.pick("Đã thu hồi", "Revoked"),
            node.node_id,
            node.role.as_str(),
            node.name,
            node.revoked_reason.as_deref().unwrap_or_default()
        );
    }
    Ok(Outcome::Ok)
}

pub fn register(args: RegisterArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    // Unlocked, the records enrolled so far are sealed to central's key as
    // soon as registration gives it.
    crate::passphrase::unlock(&mut store, lang)?;
    let answer = register_store(&mut store, &args.server, &args.token, &args.tls, lang)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_registration(&answer, lang);
    }
    Ok(Outcome::Ok)
}

/// Registers the laptop of `store`; refusals a person can act on (bad,
/// used or expired token) are usage errors that say what to do.
pub fn register_store(
    store: &mut FieldStore,
    server: &str,
    token: &str,
    tls: &ClientTlsArgs,
    lang: Lang,
) -> anyhow::Result<RegisterAnswer> {
    let server = check_server_url(server, lang)?;
    let client = crate::sync_cmd::client(&server, Duration::from_secs(30), tls, lang)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match rt.block_on(register_laptop(store, &client, token)) {
        Ok(answer) => Ok(answer),
        Err(ProvisionError::Send(send)) => Err(refusal(*send, lang)),
        Err(e @ ProvisionError::AlreadyRegistered { .. }) => {
            Err(anyhow::Error::new(UserError(e.to_string())))
        }
        Err(other) => Err(anyhow::Error::new(other)),
    }
}

/// A registration central refused: bad, used or expired tokens are usage
/// errors that say what to do; anything else stays an error.
fn refusal(send: SendError, lang: Lang) -> anyhow::Error {
    match send {
        SendError::Problem { problem, .. } if problem.status < 500 => {
            let hint = match problem.code.as_str() {
                "token.unknown" => lang.pick(
                    "mã đăng ký không đúng (gõ nhầm?)",
                    "the token is not right (mistyped?)",
                ),
                "token.used" => lang.pick(
                    "mã đăng ký đã được dùng, hãy xin mã mới",
                    "the token was already used",
                ),
                "token.expired" => {
                    lang.pick("mã đăng ký đã hết hạn, hãy xin mã mới", "the token expired")
                }
                _ => lang.pick(
                    "trung tâm từ chối đăng ký",
                    "central refused the registration",
                ),
            };
            anyhow::Error::new(UserError(format!(
                "{hint}: {}",
                problem.detail.unwrap_or(problem.title)
            )))
        }
        other => anyhow::Error::new(other),
    }
}

pub fn register_station(args: StationRegisterArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let server = check_server_url(&args.server, lang)?;
    let units = crate::central_cmd::read_units(args.units.as_deref(), lang)?;
    let store =
        SqliteCentral::open_or_create_as(&args.data_dir, NodeRole::Station, units, Utc::now())?;
    let client = crate::sync_cmd::client(&server, Duration::from_secs(30), &args.tls, lang)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = match rt.block_on(doorstep_sync::provision::register_station(
        &store,
        &client,
        &args.token,
    )) {
        Ok(answer) => answer,
        Err(doorstep_sync::provision::StationProvisionError::Send(send)) => {
            return Err(refusal(*send, lang));
        }
        Err(e @ doorstep_sync::provision::StationProvisionError::AlreadyRegistered { .. }) => {
            return Err(UserError(e.to_string()).into());
        }
        Err(other) => return Err(other.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_registration(&answer, lang);
    }
    Ok(Outcome::Ok)
}

pub fn print_registration(r: &RegisterAnswer, lang: Lang) {
    println!(
        "{} {} ({} {}, {} {}); {} {}",
        lang.pick("Đã đăng ký với trung tâm", "Registered with central"),
        r.central_id,
        lang.pick("đơn vị", "unit"),
        r.unit_code,
        lang.pick("lúc", "at"),
        r.registered_at,
        lang.pick(
            "khóa nhật ký của trung tâm đã được ghi nhớ:",
            "central's log key pinned:"
        ),
        hex::encode(r.log.public_key),
    );
}
