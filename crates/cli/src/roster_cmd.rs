//! `central roster import`, `central assign` / `station assign` and
//! `report coverage`: the roster residents' worklists are made of, who
//! reaches whom, and who is left.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use doorstep_central::sqlite::{AssignMode, CoverageReport};
use doorstep_central::worklist::AssignError;
use doorstep_central::{CentralStore, SqliteCentral};
use doorstep_core::roster::parse_roster;
use doorstep_core::worklist::{CoverageRow, Reason};

use crate::central_store::{Central, runtime};
use crate::cli::CentralDataDir;
use crate::lang::{Lang, Pick};
use crate::worklist_args::{
    AssignArgs, CentralAssignArgs, ReportCoverageArgs, RosterImportArgs, StationAssignArgs,
};
use crate::{Outcome, UserError};

/// Bad lines listed before "… and N more".
const MAX_LISTED_ERRORS: usize = 50;

pub fn import(args: RosterImportArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let file = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| {
        UserError(format!(
            "{file}: {} ({e})",
            lang.pick("không đọc được tệp", "cannot read the file")
        ))
    })?;
    let rt = runtime()?;
    let central = rt.block_on(Central::open(&args.dir))?;
    let store = central.store();
    let units = store.units();
    let today = doorstep_central::reports::today_in_vietnam(Utc::now());
    let residents = parse_roster(&bytes, &units, today).map_err(|errors| {
        let mut text = String::new();
        for e in errors.iter().take(MAX_LISTED_ERRORS) {
            let message = match lang {
                Lang::Vi => e.message_vi(),
                Lang::En => e.to_string(),
            };
            text.push_str(&format!("{file}: {message}\n"));
        }
        if errors.len() > MAX_LISTED_ERRORS {
            text.push_str(&match lang {
                Lang::Vi => format!("… và {} lỗi khác\n", errors.len() - MAX_LISTED_ERRORS),
                Lang::En => format!("… and {} more\n", errors.len() - MAX_LISTED_ERRORS),
            });
        }
        text.push_str(lang.pick(
            "Chưa nhập gì: hãy sửa các dòng trên rồi nhập lại cả tệp.",
            "Nothing was imported: fix the lines above and import the whole file again.",
        ));
        UserError(text)
    })?;
    let report = rt.block_on(store.import_roster(residents, Utc::now()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(Outcome::Ok);
    }
    match lang {
        Lang::Vi => println!(
            "Đã nhập {} người của {} đơn vị: {} mới, {} cập nhật, {} không đổi, {} không còn trong danh sách",
            report.residents,
            report.units.len(),
            report.added,
            report.updated,
            report.unchanged,
            report.absent
        ),
        Lang::En => println!(
            "Imported {} residents of {} units: {} new, {} updated, {} unchanged, {} no longer listed",
            report.residents,
            report.units.len(),
            report.added,
            report.updated,
            report.unchanged,
            report.absent
        ),
    }
    Ok(Outcome::Ok)
}

/// `central assign`: on central's store, embedded or on PostgreSQL.
pub fn central_assign(args: CentralAssignArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let rt = runtime()?;
    let central = rt.block_on(Central::open(&args.dir))?;
    assign(central.store(), &rt, args.assign, lang)
}

/// `station assign`: stations keep their embedded store.
pub fn station_assign(args: StationAssignArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let rt = runtime()?;
    let station = SqliteCentral::open(&args.data_dir)?;
    assign(&station, &rt, args.assign, lang)
}

fn assign(
    store: &dyn CentralStore,
    rt: &tokio::runtime::Runtime,
    args: AssignArgs,
    lang: Lang,
) -> anyhow::Result<Outcome> {
    if args.list {
        let lines = rt.block_on(store.assignments())?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&lines)?);
            return Ok(Outcome::Ok);
        }
        let rows: Vec<[String; 5]> = lines
            .iter()
            .map(|l| {
                [
                    l.device_id.to_string(),
                    l.source.clone(),
                    dash(&l.units.join(",")),
                    dash(&l.households.join(",")),
                    l.people.to_string(),
                ]
            })
            .collect();
        let headers = match lang {
            Lang::Vi => ["thiết bị", "giao bởi", "đơn vị", "hộ", "số người"],
            Lang::En => ["device", "assigned by", "units", "households", "people"],
        };
        crate::table::write(&mut std::io::stdout().lock(), &headers, &rows)?;
        return Ok(Outcome::Ok);
    }
    let Some(device) = args.device else {
        return Err(UserError(
            lang.pick(
                "cần --device ID (hoặc --list để xem các phân công)",
                "--device ID is required (or --list to see assignments)",
            )
            .to_owned(),
        )
        .into());
    };
    let mode = if args.add {
        AssignMode::Add
    } else if args.remove {
        AssignMode::Remove
    } else {
        AssignMode::Replace
    };
    let units: Vec<String> = args
        .units
        .iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    let households: Vec<String> = args
        .households
        .iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    if mode == AssignMode::Replace && units.is_empty() && households.is_empty() {
        return Err(UserError(
            lang.pick(
                "cần --units và/hoặc --households (để bỏ hết phân công: --remove với các đơn vị đang giao)",
                "give --units and/or --households (to take units away: --remove with them)",
            )
            .to_owned(),
        )
        .into());
    }
    let assignment = match rt.block_on(store.assign(device, mode, units, households, Utc::now())) {
        Ok(a) => a,
        Err(e) if e.is_user_error() => {
            return Err(UserError(match lang {
                Lang::Vi => e.message_vi(),
                Lang::En => e.to_string(),
            })
            .into());
        }
        Err(AssignError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(anyhow::anyhow!(e.to_string())),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "device_id": device,
                "units": assignment.units,
                "households": assignment.households,
            }))?
        );
        return Ok(Outcome::Ok);
    }
    match lang {
        Lang::Vi => println!(
            "Thiết bị {device} được giao: đơn vị {}; hộ {}. Thiết bị nhận danh sách mới ở lần đồng bộ tới.",
            dash(&assignment.units.join(", ")),
            dash(&assignment.households.join(", "))
        ),
        Lang::En => println!(
            "Device {device} is assigned: units {}; households {}. It downloads the new worklist at its next sync.",
            dash(&assignment.units.join(", ")),
            dash(&assignment.households.join(", "))
        ),
    }
    Ok(Outcome::Ok)
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

pub fn coverage(args: ReportCoverageArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let report = match (&args.server, &args.data_dir) {
        (Some(server), _) => {
            let server = crate::sync_cmd::check_server_url(server, lang)?;
            let mut query = Vec::new();
            if let Some(u) = &args.unit {
                query.push(("unit", u.clone()));
            }
            let client =
                crate::sync_cmd::client(&server, Duration::from_secs(60), &args.tls, lang)?;
            runtime()?
                .block_on(client.coverage_report(&query))
                .map_err(|e| crate::report_cmd::report_error(&server, e))?
        }
        (None, Some(dir)) => {
            let rt = runtime()?;
            let central = rt.block_on(Central::open(&CentralDataDir {
                data_dir: dir.clone(),
                database: args.database.clone(),
            }))?;
            let store = central.store();
            if let Some(u) = &args.unit
                && !store.units().contains(u)
            {
                return Err(UserError(format!(
                    "--unit `{u}`: {}",
                    lang.pick("không có trong danh sách đơn vị", "is not in the unit list")
                ))
                .into());
            }
            let mut r = rt.block_on(store.coverage(args.unit.clone(), true))?;
            if !args.remaining {
                r.remaining = None;
            }
            r
        }
        (None, None) => {
            return Err(UserError(
                lang.pick(
                    "cần --server URL hoặc --data-dir DIR",
                    "give --server URL or --data-dir DIR",
                )
                .to_owned(),
            )
            .into());
        }
    };
    let mut out = crate::report_cmd::output(args.output.as_deref())?;
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else if args.csv {
        write_csv(&mut out, &report)?;
    } else {
        write_table(&mut out, &report, lang)?;
    }
    out.flush().context("cannot write the report")?;
    Ok(Outcome::Ok)
}

/// Needs as officers read them ("cấp căn cước, đăng ký định danh điện tử").
fn needs_label(needs: &[String], lang: Lang) -> String {
    let labels: Vec<&str> = needs
        .iter()
        .map(|n| match doorstep_core::roster::Need::parse(n) {
            Some(need) => lang.pick(need.label_vi(), need.label_en()),
            None => n.as_str(),
        })
        .collect();
    labels.join(", ")
}

fn reason_label(reason: &str, lang: Lang) -> String {
    let label = Reason::parse(reason).map(|r| match r {
        Reason::NotVisited => lang.pick("chưa tiếp xúc", "not visited"),
        Reason::NotHome => lang.pick("vắng nhà", "not home"),
        Reason::CannotTravel => lang.pick("không thể di chuyển", "cannot travel"),
        Reason::Refused => lang.pick("từ chối", "refused"),
        Reason::Moved => lang.pick("đã chuyển đi", "moved"),
        Reason::PartlyEnrolled => lang.pick("còn thiếu việc", "partly enrolled"),
        Reason::Review => lang.pick("cần xem lại", "review"),
    });
    label.unwrap_or(reason).to_owned()
}

fn by_reason(row: &CoverageRow, lang: Lang) -> String {
    let parts: Vec<String> = row
        .remaining_by_reason
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{} {n}", reason_label(r, lang)))
        .collect();
    dash(&parts.join(", "))
}

fn write_table(out: &mut dyn Write, report: &CoverageReport, lang: Lang) -> anyhow::Result<()> {
    let headers = match lang {
        Lang::Vi => [
            "mã",
            "đơn vị",
            "cần làm",
            "đã tiếp xúc",
            "đã thu nhận",
            "khép lại",
            "chuyển đi",
            "chuyển đến",
            "cần xem lại",
            "còn lại",
            "còn lại theo lý do",
        ],
        Lang::En => [
            "code",
            "unit",
            "eligible",
            "reached",
            "enrolled",
            "closed",
            "referred out",
            "referred in",
            "review",
            "remaining",
            "remaining by reason",
        ],
    };
    let rows: Vec<[String; 11]> = report
        .rows
        .iter()
        .map(|r| {
            [
                r.unit_code.clone(),
                r.unit_name.clone(),
                r.eligible.to_string(),
                r.reached.to_string(),
                r.enrolled.to_string(),
                r.closed.to_string(),
                r.referred_out.to_string(),
                r.referred_in.to_string(),
                r.review.to_string(),
                r.remaining.to_string(),
                by_reason(r, lang),
            ]
        })
        .collect();
    crate::table::write(&mut &mut *out, &headers, &rows)?;
    if let Some(review) = report.review.as_ref().filter(|r| !r.is_empty()) {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            lang.pick(
                "Kết quả mâu thuẫn, cần xem lại:",
                "Contradictory outcomes, to review:"
            )
        )?;
        for p in review {
            writeln!(
                out,
                "  {} {} ({}): {}",
                p.personal_id, p.full_name, p.unit_code, p.flagged
            )?;
        }
    }
    if let Some(remaining) = &report.remaining {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            lang.pick("Người còn phải tiếp xúc:", "Still to reach:")
        )?;
        let headers = match lang {
            Lang::Vi => [
                "đơn vị",
                "hộ",
                "họ tên",
                "số định danh",
                "cần",
                "lý do",
                "số lần",
            ],
            Lang::En => [
                "unit",
                "household",
                "name",
                "personal ID",
                "needs",
                "reason",
                "visits",
            ],
        };
        let rows: Vec<[String; 7]> = remaining
            .iter()
            .map(|p| {
                [
                    p.worklist_unit.clone(),
                    p.household.clone().unwrap_or_else(|| "-".into()),
                    p.full_name.clone(),
                    p.personal_id.clone(),
                    needs_label(&p.needs, lang),
                    reason_label(&p.reason, lang),
                    p.visits.to_string(),
                ]
            })
            .collect();
        crate::table::write(&mut &mut *out, &headers, &rows)?;
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, report: &CoverageReport) -> anyhow::Result<()> {
    out.write_all("\u{feff}".as_bytes())?;
    // The people follow the rows with their own columns.
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    let reasons: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    let mut header = vec![
        "code",
        "name",
        "eligible",
        "reached",
        "enrolled",
        "closed",
        "deceased",
        "done_elsewhere",
        "referred_out",
        "referred_in",
        "review",
        "remaining",
    ];
    header.extend(reasons.iter().copied());
    w.write_record(&header)?;
    for r in &report.rows {
        let mut line = vec![
            r.unit_code.clone(),
            r.unit_name.clone(),
            r.eligible.to_string(),
            r.reached.to_string(),
            r.enrolled.to_string(),
            r.closed.to_string(),
            r.deceased.to_string(),
            r.done_elsewhere.to_string(),
            r.referred_out.to_string(),
            r.referred_in.to_string(),
            r.review.to_string(),
            r.remaining.to_string(),
        ];
        line.extend(reasons.iter().map(|k| {
            r.remaining_by_reason
                .get(*k)
                .copied()
                .unwrap_or(0)
                .to_string()
        }));
        w.write_record(&line)?;
    }
    if let Some(remaining) = &report.remaining {
        w.write_record([""; 1])?;
        w.write_record([
            "worklist_unit",
            "household",
            "full_name",
            "personal_id",
            "unit_code",
            "address_detail",
            "needs",
            "covered",
            "reason",
            "visits",
            "last_visit_at",
            "referred_from",
        ])?;
        for p in remaining {
            w.write_record([
                p.worklist_unit.clone(),
                p.household.clone().unwrap_or_default(),
                p.full_name.clone(),
                p.personal_id.clone(),
                p.unit_code.clone(),
                p.address_detail.clone().unwrap_or_default(),
                p.needs.join(";"),
                p.covered.join(";"),
                p.reason.clone(),
                p.visits.to_string(),
                p.last_visit_at.clone().unwrap_or_default(),
                p.referred_from.clone().unwrap_or_default(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}
