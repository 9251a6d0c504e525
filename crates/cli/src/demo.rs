//! `doorstep demo`: the whole flow on one machine. Central starts on a
//! loopback port with its embedded SQLite store; three field laptops (home
//! visits, hospital beds, a factory) enroll generated records while central
//! is still down, fail to sync, then sync once it is up and download their
//! worklists: central's roster holds everyone they enrolled and a quarter
//! as many again still to reach, and the demo ends with who is left.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use doorstep_central::sqlite::{AssignMode, UnitSource};
use doorstep_central::{AppState, CentralStore, SqliteCentral, router};
use doorstep_core::record::RecordBody;
use doorstep_core::roster::{Need, parse_roster};
use doorstep_core::worklist::TOTAL_ROW;
use doorstep_core::{Units, ValidationContext, validate};
use doorstep_gen::Generator;
use doorstep_store::{EnrollOutcome, FieldStore, InitOptions, PreparedBody};
use doorstep_sync::worklist::{PullReport, pull_worklist};
use doorstep_sync::{Client, RetryPolicy, SyncOptions, SyncReport, sync_outbox};
use serde_json::{Value, json};

use crate::builtin_units::{UNITS_2023, UNITS_2023_SOURCE};
use crate::cli::DemoArgs;
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

/// One mobile team: where it works and what kind of visits it makes.
struct Team {
    dir: &'static str,
    name: &'static str,
    unit: &'static str,
    place: &'static str,
    reasons: &'static [&'static str],
}

const TEAMS: [Team; 3] = [
    Team {
        dir: "field-home-visits",
        name: "Tổ 1 – thăm hộ gia đình, Thành phố Thuận An",
        unit: "725",
        place: "home",
        reasons: &["elderly", "disabled", "other"],
    },
    Team {
        dir: "field-hospital",
        name: "Tổ 2 – bệnh nhân nằm viện, Thành phố Thủ Dầu Một",
        unit: "718",
        place: "hospital",
        reasons: &["bedridden", "elderly"],
    },
    Team {
        dir: "field-factory",
        name: "Tổ 3 – công nhân khu công nghiệp, Thành phố Dĩ An",
        unit: "724",
        place: "workplace",
        reasons: &["worker", "temporary_resident"],
    },
];

pub fn run(args: DemoArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let l = |vi, en| lang.pick(vi, en);
    let root = demo_dir(args.dir.as_deref(), lang)?;
    let units = Units::from_csv(UNITS_2023).context("the built-in unit list")?;
    let say = |text: String| {
        if !args.json {
            println!("{text}");
        }
    };
    say(format!(
        "{} {}",
        l("Thư mục demo:", "Demo directory:"),
        root.display()
    ));

    // 0. Before the campaign, central provisions the three laptops: each
    //    makes its key and registers it with a one-time token.
    let central_dir = root.join("central");
    let central = SqliteCentral::open_or_create(
        &central_dir,
        Some(UnitSource {
            source: UNITS_2023_SOURCE.to_owned(),
            csv: UNITS_2023.to_vec(),
        }),
        Utc::now(),
    )?;

    // 1. Three laptops, offline: records are validated, signed and stored locally.
    let mut stores = Vec::new();
    let mut enrolled = Vec::new();
    let mut still_to_reach = Vec::new();
    for (i, team) in TEAMS.iter().enumerate() {
        let dir = root.join(team.dir);
        let mut store = FieldStore::init(
            &dir,
            &InitOptions {
                device_name: team.name.to_owned(),
                unit_code: team.unit.to_owned(),
                units_csv: Some((UNITS_2023_SOURCE.to_owned(), UNITS_2023.to_vec())),
                passphrase: demo_passphrase(),
                kdf: doorstep_crypto::KdfParams::DEFAULT,
            },
            Utc::now(),
        )?;
        provision(&central, &mut store, team.unit, team.name)?;
        let (stored, bodies) =
            enroll_generated(&mut store, &units, team, args.records, i as u64 + 1)?;
        enrolled.extend(bodies);
        still_to_reach.extend(generated_bodies(
            &units,
            team,
            args.records / 4,
            i as u64 + 101,
            Utc::now(),
        )?);
        // The team reaches the residents of its unit (and the units under it).
        central
            .assign(
                store.device().device_id,
                AssignMode::Replace,
                &[team.unit.to_owned()],
                &[],
                Utc::now(),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        say(format!(
            "{}: {} {} ({})",
            team.name,
            stored,
            l("hồ sơ đã lưu ngoại tuyến", "records stored offline"),
            dir.display()
        ));
        stores.push(store);
    }
    if std::env::var(crate::passphrase::ENV).is_err() {
        say(format!(
            "{} `{DEMO_PASSPHRASE}`",
            l(
                "dữ liệu công dân trên các máy được mã hóa; mật khẩu của máy trong bản chạy thử:",
                "citizen data on the laptops is encrypted; the demo laptops' passphrase:"
            )
        ));
    }

    // The roster of residents still to reach, as the population database
    // gives it to central: the teams download their part at their sync.
    let roster = roster_csv(&enrolled, &still_to_reach)?;
    let residents = parse_roster(
        &roster,
        &units,
        doorstep_central::reports::today_in_vietnam(Utc::now()),
    )
    .map_err(|errors| {
        anyhow::anyhow!(
            "the demo roster is invalid: {}",
            errors.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    std::fs::write(root.join("roster.csv"), &roster)
        .with_context(|| format!("cannot write {}", root.join("roster.csv").display()))?;
    let imported = central.import_roster(&residents, Utc::now())?;
    say(format!(
        "{}: {} {}",
        l(
            "Danh sách cư dân cần tiếp cận",
            "Roster of residents to reach"
        ),
        imported.residents,
        l("người (roster.csv)", "people (roster.csv)")
    ));
    drop(central);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        // 2. Central is down: a sync attempt fails and every record stays queued.
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot find a free loopback port")?;
        let addr = probe.local_addr()?;
        drop(probe);
        let server = format!("http://{addr}");
        let offline = SyncOptions {
            retry: RetryPolicy {
                base: Duration::from_millis(100),
                cap: Duration::from_millis(200),
                retries: 1,
            },
            ..SyncOptions::default()
        };
        let client = Client::new(&server, Duration::from_secs(30))?;
        let first = sync_outbox(&mut stores[0], &client, &offline, &mut ()).await?;
        say(format!(
            "{} {server}: {} — {} {}",
            l(
                "Thử đồng bộ khi trung tâm chưa chạy",
                "Sync attempt while central is down"
            ),
            first.error.as_deref().unwrap_or("?"),
            first.outbox_after,
            l("hồ sơ vẫn chờ gửi", "records still pending")
        ));

        // 3. Central comes up on that port with its embedded store.
        let central = Arc::new(SqliteCentral::open(&central_dir)?);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(AppState::new(Arc::clone(&central)));
        let server_task = tokio::spawn(doorstep_central::http::serve(listener, app, async {
            let _ = stop_rx.await;
        }));
        say(format!(
            "{} {server}",
            l("Trung tâm đã chạy tại", "Central is up at")
        ));

        // 4. The three laptops sync at the same time.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for mut store in stores {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let report =
                    sync_outbox(&mut store, &client, &SyncOptions::default(), &mut ()).await;
                // Then each downloads its worklist: who is still to reach.
                let worklist = match &report {
                    Ok(_) => Some(
                        pull_worklist(&client, &mut store, None, &RetryPolicy::default()).await,
                    ),
                    Err(_) => None,
                };
                (store, report, worklist, t.elapsed())
            }));
        }
        let mut summaries = Vec::new();
        for (team, task) in TEAMS.iter().zip(tasks) {
            let (store, report, worklist, took) = task.await.context("a sync task stopped")?;
            let report: SyncReport = report?;
            let worklist = match worklist {
                Some(w) => w?,
                None => PullReport::default(),
            };
            let st = store.status()?;
            summaries.push(json!({
                "device": team.name, "device_id": store.device().device_id,
                "sent": report.records_sent, "accepted": report.accepted,
                "duplicate": report.duplicate, "rejected": report.rejected,
                "confirmed": st.by_status.iter().find(|s| s.0 == "confirmed").map_or(0, |s| s.1),
                "pending": st.outbox, "batches": report.batches, "bytes_sent": report.bytes_sent,
                "seconds": took.as_secs_f64(), "worklist": worklist.people,
            }));
        }
        let elapsed = started.elapsed();
        let status = central.status().await?;
        let coverage = central.coverage(None, false).await?;
        let _ = stop_tx.send(());
        let _ = server_task.await;
        // Central's audit log, recomputed from its store as an auditor would.
        let audit = tokio::task::block_in_place(|| {
            doorstep_central::sqlite::audit::verify(&root.join("central"), &mut |_, _, _| {})
        })?;

        if args.json {
            println!(
                "{}",
                json!({"dir": root, "server": server, "devices": summaries, "central": status,
                       "sync_seconds": elapsed.as_secs_f64(), "audit": audit,
                       "coverage": coverage.rows})
            );
            return anyhow::Ok(());
        }
        println!();
        let rows: Vec<[String; 7]> = summaries
            .iter()
            .map(|s| {
                [
                    s["device"].as_str().unwrap_or_default().to_owned(),
                    s["sent"].to_string(),
                    s["accepted"].to_string(),
                    s["confirmed"].to_string(),
                    s["pending"].to_string(),
                    s["worklist"].to_string(),
                    format!("{:.2}", s["seconds"].as_f64().unwrap_or_default()),
                ]
            })
            .collect();
        let mut out = std::io::stdout().lock();
        crate::table::write(
            &mut out,
            &[
                l("thiết bị", "device"),
                l("đã gửi", "sent"),
                l("tiếp nhận", "accepted"),
                l("đã xác nhận", "confirmed"),
                l("còn chờ", "pending"),
                l("cần tiếp cận", "to reach"),
                l("giây", "seconds"),
            ],
            &rows,
        )?;
        drop(out);
        println!();
        println!(
            "{}: {} {} ({} {:.2} s)",
            l("Trung tâm", "Central"),
            status.records,
            l("hồ sơ", "records"),
            l("đồng bộ trong", "synced in"),
            elapsed.as_secs_f64()
        );
        for (kind, n) in &status.by_kind {
            println!("  {kind}: {n}");
        }
        let gaps: usize = status.devices.iter().map(|d| d.gaps.len()).sum();
        println!(
            "  {}: {}, {}: {}",
            l("thiết bị", "devices"),
            status.devices.len(),
            l("khoảng trống số thứ tự", "sequence gaps"),
            gaps
        );
        println!(
            "{}: {} {}, {} {}; {}",
            l("Nhật ký kiểm toán", "Audit log"),
            audit.entries,
            l("mục", "entries"),
            audit.tree_heads,
            l("đầu cây đã ký", "signed tree heads"),
            if audit.is_clean() {
                l("đã tính lại và khớp", "recomputed and matching")
            } else {
                l("KHÔNG KHỚP", "MISMATCH")
            }
        );
        if let Some(total) = coverage.rows.iter().find(|r| r.unit_code == TOTAL_ROW) {
            println!(
                "{}: {} {}, {} {}, {} {}",
                l("Danh sách cư dân", "Roster"),
                total.eligible,
                l("người cần làm", "eligible"),
                total.enrolled,
                l("đã thu nhận đủ", "enrolled"),
                total.remaining,
                l("còn phải tiếp cận", "still to reach")
            );
        }
        let central_dir = root.join("central");
        println!(
            "{more} doorstep report coverage --data-dir {dir} --remaining; doorstep field worklist --data-dir {laptop}",
            more = l("Ai còn lại:", "Who is left:"),
            dir = central_dir.display(),
            laptop = root.join(TEAMS[0].dir).display()
        );
        println!(
            "{more} doorstep central status --data-dir {dir}; doorstep audit verify --data-dir {dir}",
            more = l("Xem thêm:", "More:"),
            dir = central_dir.display()
        );
        anyhow::Ok(())
    })?;
    Ok(Outcome::Ok)
}

/// Provisions a laptop in-process, as `central provision` and
/// `field register` do over the network: a one-time token, the laptop's
/// key registered with it, central's log key pinned on the laptop.
fn provision(
    central: &SqliteCentral,
    store: &mut FieldStore,
    unit: &str,
    name: &str,
) -> anyhow::Result<()> {
    let issued = central
        .provision(
            doorstep_wire::NodeRole::Field,
            unit,
            name,
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            chrono::Duration::hours(1),
            Utc::now(),
        )
        .map_err(anyhow::Error::new)?;
    let public = store.ensure_device_key()?;
    let node = central
        .register_node(
            &issued.token,
            store.device().device_id,
            doorstep_wire::NodeRole::Field,
            &hex::encode(public),
            Utc::now(),
        )
        .map_err(anyhow::Error::new)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start the async runtime")?;
    let log = rt.block_on(doorstep_central::CentralStore::tree_head(central))?;
    store.record_registration(&doorstep_store::Registration {
        central_id: doorstep_central::CentralStore::node_id(central),
        server: "in-process".into(),
        registered_at: node.registered_at,
        unit_code: node.unit_code,
        station_id: None,
        seal_key: central.opener().map(|o| o.public()),
        log_head: doorstep_store::StoredLogHead {
            log_id: log.tree_head.log_id,
            public_key: log.public_key,
            tree_size: log.tree_head.tree_size,
            timestamp: log.tree_head.timestamp,
            root_hash: log.tree_head.root_hash,
            signature: log.tree_head.signature,
            checked_at: doorstep_core::canonical::format_utc_millis(&Utc::now()),
        },
    })?;
    Ok(())
}

/// The demo laptops' passphrase: `DOORSTEP_PASSPHRASE` if set, else one
/// printed with the demo's results (its stores are throwaway).
fn demo_passphrase() -> String {
    std::env::var(crate::passphrase::ENV).unwrap_or_else(|_| DEMO_PASSPHRASE.to_owned())
}

/// What `doorstep field list --data-dir <demo laptop>` asks for.
pub const DEMO_PASSPHRASE: &str = "demo-doorstep";

/// A new, empty directory for the demo.
fn demo_dir(dir: Option<&Path>, lang: Lang) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!(
            "doorstep-demo-{}",
            Utc::now().format("%Y%m%d-%H%M%S-%3f")
        )),
    };
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(UserError(format!(
            "--dir {}: {}",
            dir.display(),
            lang.pick(
                "thư mục đã có dữ liệu; chọn một thư mục mới hoặc trống",
                "the directory is not empty; choose a new or empty one"
            )
        ))
        .into());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Generates `count` records for a team's kind of visits and enrolls them;
/// returns how many were stored and the bodies, for the roster.
fn enroll_generated(
    store: &mut FieldStore,
    units: &Units,
    team: &Team,
    count: u64,
    seed: u64,
) -> anyhow::Result<(u64, Vec<RecordBody>)> {
    let now = Utc::now();
    let bodies = generated_bodies(units, team, count, seed, now)?;
    let mut stored = 0;
    for chunk in bodies.chunks(1_000) {
        let batch: Vec<PreparedBody> = chunk.iter().cloned().map(PreparedBody::new).collect();
        stored += count_stored(&store.enroll(&batch, now)?);
    }
    Ok((stored, bodies))
}

/// `count` generated records of a team's kind of visits, validated.
fn generated_bodies(
    units: &Units,
    team: &Team,
    count: u64,
    seed: u64,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<Vec<RecordBody>> {
    let opts = crate::gen_cmd::options_for(units, team.unit, seed);
    let generator = Generator::new(opts).map_err(|e| anyhow::anyhow!("cannot generate: {e}"))?;
    let ctx = ValidationContext::new(units, now);
    let mut out = Vec::new();
    for (i, mut record) in generator
        .take(usize::try_from(count).unwrap_or(usize::MAX))
        .enumerate()
    {
        if let Some(visit) = record.get_mut("visit").and_then(Value::as_object_mut) {
            visit.insert("place".into(), team.place.into());
            visit.insert("reason".into(), team.reasons[i % team.reasons.len()].into());
        }
        // The generator makes valid records; one that is not is skipped, not stored.
        if let Ok(body) = validate(&record, &ctx) {
            out.push(body);
        }
    }
    Ok(out)
}

/// The commune's roster as the police's population database would give
/// it: everyone the teams enrolled (with the need their record meets)
/// and, for each team, a quarter as many again still to reach.
fn roster_csv(enrolled: &[RecordBody], still_to_reach: &[RecordBody]) -> anyhow::Result<Vec<u8>> {
    let mut seen = std::collections::HashMap::<String, Vec<&'static str>>::new();
    let mut rows: Vec<&RecordBody> = Vec::new();
    let people = enrolled
        .iter()
        .filter_map(|b| Need::covered_by(b.kind).map(|n| (b, vec![n.as_str()])))
        .chain(
            still_to_reach
                .iter()
                .map(|b| (b, vec![Need::Card.as_str(), Need::EidRegistration.as_str()])),
        );
    for (body, needs) in people {
        let entry = seen.entry(body.citizen.personal_id.clone()).or_default();
        if entry.is_empty() {
            rows.push(body);
        }
        for n in needs {
            if !entry.contains(&n) {
                entry.push(n);
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(doorstep_core::roster::roster_csv_header().split(','))?;
    for body in rows {
        let c = &body.citizen;
        let needs = seen
            .get(&c.personal_id)
            .map(|n| n.join(";"))
            .unwrap_or_default();
        w.write_record([
            c.personal_id.as_str(),
            c.full_name.as_str(),
            &c.date_of_birth.format("%Y-%m-%d").to_string(),
            c.sex.as_str(),
            c.permanent_address.unit_code.as_str(),
            c.permanent_address.detail.as_deref().unwrap_or(""),
            "",
            &needs,
        ])?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write the roster: {e}"))
}

fn count_stored(outcomes: &[EnrollOutcome]) -> u64 {
    outcomes
        .iter()
        .filter(|o| matches!(o, EnrollOutcome::Stored { .. }))
        .count() as u64
}
