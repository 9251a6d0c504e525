//! `doorstep central campaign import | list` and `doorstep report progress`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use doorstep_core::campaign::{Metric, parse_targets};
use doorstep_core::progress::{ProgressReport, UnitProgress};
use doorstep_sync::client::SendError;

use crate::central_store::{Central, runtime};
use crate::cli::{CampaignImportArgs, CampaignListArgs, ReportProgressArgs};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

/// Bad lines listed at most; the count says how many more.
const MAX_LISTED_ERRORS: usize = 50;

pub fn campaign_import(args: CampaignImportArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let file = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| {
        UserError(format!(
            "{file}: {} ({e})",
            lang.pick("không đọc được tệp", "cannot read the file")
        ))
    })?;
    let rt = runtime()?;
    let central = rt.block_on(Central::open(&args.dir))?;
    let units = central.store().units();
    let targets = parse_targets(&bytes, &units, MAX_LISTED_ERRORS).map_err(|errors| {
        let mut text = String::new();
        for e in &errors {
            let message = match lang {
                Lang::Vi => e.message_vi(),
                Lang::En => e.to_string(),
            };
            text.push_str(&format!("{file}: {message}\n"));
        }
        text.push_str(lang.pick(
            "Chưa nhập gì: hãy sửa các dòng trên rồi nhập lại cả tệp.",
            "Nothing was imported: fix the lines above and import the whole file again.",
        ));
        UserError(text)
    })?;
    let imported = rt.block_on(central.store().import_targets(targets, Utc::now()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&imported)?);
        return Ok(Outcome::Ok);
    }
    for c in &imported {
        match lang {
            Lang::Vi => println!(
                "Đã nhập chiến dịch {}: {} chỉ tiêu{}",
                c.campaign,
                c.targets,
                if c.replaced > 0 {
                    format!(" (thay {} chỉ tiêu cũ)", c.replaced)
                } else {
                    String::new()
                }
            ),
            Lang::En => println!(
                "Imported campaign {}: {} targets{}",
                c.campaign,
                c.targets,
                if c.replaced > 0 {
                    format!(" (replacing {} earlier ones)", c.replaced)
                } else {
                    String::new()
                }
            ),
        }
    }
    Ok(Outcome::Ok)
}

pub fn campaign_list(args: CampaignListArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let rt = runtime()?;
    let central = rt.block_on(Central::open(&args.dir))?;
    let campaigns = rt.block_on(central.store().campaigns())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&campaigns)?);
        return Ok(Outcome::Ok);
    }
    if campaigns.is_empty() {
        println!(
            "{}",
            lang.pick(
                "Chưa có chiến dịch nào: nhập bằng `doorstep central campaign import`.",
                "No campaigns yet: import one with `doorstep central campaign import`."
            )
        );
        return Ok(Outcome::Ok);
    }
    let rows: Vec<[String; 5]> = campaigns
        .iter()
        .map(|c| {
            [
                c.campaign.clone(),
                c.metrics
                    .iter()
                    .map(|m| metric_label(*m, lang))
                    .collect::<Vec<_>>()
                    .join(", "),
                c.start.to_string(),
                c.deadline.to_string(),
                c.targets.to_string(),
            ]
        })
        .collect();
    let headers = match lang {
        Lang::Vi => [
            "Chiến dịch",
            "Chỉ tiêu",
            "Bắt đầu",
            "Hạn muộn nhất",
            "Số dòng",
        ],
        Lang::En => ["Campaign", "Metrics", "Start", "Latest deadline", "Targets"],
    };
    crate::table::write(&mut std::io::stdout().lock(), &headers, &rows)?;
    Ok(Outcome::Ok)
}

pub fn progress(args: ReportProgressArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let server = crate::sync_cmd::check_server_url(&args.server, lang)?;
    if let Some(d) = &args.as_of
        && NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
    {
        return Err(UserError(format!(
            "--as-of `{d}`: {}",
            lang.pick("cần ngày dạng YYYY-MM-DD", "expected a date YYYY-MM-DD")
        ))
        .into());
    }
    let mut query = vec![("campaign", args.campaign.clone())];
    for (key, value) in [
        ("unit", &args.unit),
        ("level", &args.level),
        ("metric", &args.metric),
        ("as_of", &args.as_of),
    ] {
        if let Some(v) = value {
            query.push((key, v.clone()));
        }
    }
    let client = crate::sync_cmd::client(&server, Duration::from_secs(60), &args.tls, lang)?;
    let report = runtime()?
        .block_on(client.progress_report(&query))
        .map_err(|e| report_error(&server, e))?;
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

/// A report the server refused: what it refuses in the query (400, 404)
/// is the user's to fix (exit 2); anything else is not.
pub fn report_error(server: &str, e: SendError) -> anyhow::Error {
    match e {
        SendError::Problem {
            status: 400 | 404,
            problem,
            ..
        } => UserError(format!(
            "{server}: {}",
            problem.detail.unwrap_or(problem.title)
        ))
        .into(),
        e => e.into(),
    }
}

/// Where a report goes: the `--output` file, or standard output.
pub fn output(path: Option<&std::path::Path>) -> Result<Box<dyn Write>, UserError> {
    Ok(match path {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| UserError(format!("{}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    })
}

fn metric_label(m: Metric, lang: Lang) -> &'static str {
    lang.pick(m.label_vi(), m.label_en())
}

/// 1455967 → "1.455.967" (vi) or "1,455,967" (en).
fn thousands(n: u64, lang: Lang) -> String {
    let sep = lang.pick(".", ",");
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// 11882 → "118,82%" (vi) or "118.82%" (en).
fn percent(x100: u64, lang: Lang) -> String {
    format!(
        "{}{}{:02}%",
        thousands(x100 / 100, lang),
        lang.pick(",", "."),
        x100 % 100
    )
}

fn schedule(u: &UnitProgress, lang: Lang) -> String {
    match (u.days_ahead, u.days_left) {
        (Some(d), _) if d >= 0 => match lang {
            Lang::Vi => format!("trước hạn {d} ngày"),
            Lang::En => format!("{d} days ahead"),
        },
        (Some(d), _) => match lang {
            Lang::Vi => format!("chậm {} ngày", -d),
            Lang::En => format!("{} days late", -d),
        },
        (None, Some(d)) if d >= 0 => match lang {
            Lang::Vi => format!("còn {d} ngày"),
            Lang::En => format!("{d} days left"),
        },
        (None, Some(d)) => match lang {
            Lang::Vi => format!("quá hạn {} ngày", -d),
            Lang::En => format!("{} days overdue", -d),
        },
        (None, None) => "-".into(),
    }
}

fn level_word(level: &str, lang: Lang) -> &str {
    match (level, lang) {
        ("province", Lang::Vi) => "tỉnh",
        ("district", Lang::Vi) => "huyện",
        ("commune", Lang::Vi) => "xã",
        ("province", Lang::En) => "provinces",
        ("district", Lang::En) => "districts",
        ("commune", Lang::En) => "communes",
        (other, _) => other,
    }
}

fn units_done(u: &UnitProgress, lang: Lang) -> String {
    if u.units_done.is_empty() {
        return "-".into();
    }
    u.units_done
        .iter()
        .map(|l| format!("{}/{} {}", l.done, l.total, level_word(&l.level, lang)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn place_label(place: &str, lang: Lang) -> &str {
    match (place, lang) {
        ("home", Lang::Vi) => "tại nhà",
        ("hospital", Lang::Vi) => "bệnh viện",
        ("workplace", Lang::Vi) => "nơi làm việc",
        ("boarding_house", Lang::Vi) => "nhà trọ",
        ("mobile_point", Lang::Vi) => "điểm lưu động",
        ("station", Lang::Vi) => "trụ sở công an",
        ("bedridden", Lang::Vi) => "nằm liệt giường",
        ("elderly", Lang::Vi) => "người cao tuổi",
        ("disabled", Lang::Vi) => "khuyết tật",
        ("worker", Lang::Vi) => "công nhân",
        ("temporary_resident", Lang::Vi) => "tạm trú",
        ("other", Lang::Vi) => "khác",
        ("boarding_house", Lang::En) => "boarding house",
        ("mobile_point", Lang::En) => "mobile point",
        ("station", Lang::En) => "police station",
        ("temporary_resident", Lang::En) => "temporary resident",
        (other, _) => other,
    }
}

/// Largest first, as the news lists where the work was done.
fn breakdown(counts: &std::collections::BTreeMap<String, u64>, lang: Lang) -> String {
    let mut counts: Vec<(&String, &u64)> = counts.iter().collect();
    counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    counts
        .into_iter()
        .map(|(k, n)| format!("{} {}", place_label(k, lang), thousands(*n, lang)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn write_table(out: &mut dyn Write, report: &ProgressReport, lang: Lang) -> anyhow::Result<()> {
    for &metric in &report.metrics {
        let rows: Vec<&UnitProgress> = report.units.iter().filter(|u| u.metric == metric).collect();
        match lang {
            Lang::Vi => writeln!(
                out,
                "Chiến dịch {} — {} — tính đến {} (bắt đầu {})",
                report.campaign,
                metric.label_vi(),
                report.as_of,
                report.start
            )?,
            Lang::En => writeln!(
                out,
                "Campaign {} — {} — as of {} (started {})",
                report.campaign,
                metric.label_en(),
                report.as_of,
                report.start
            )?,
        }
        if rows.is_empty() {
            writeln!(out, "{}", lang.pick("Không có đơn vị nào.", "No units."))?;
            continue;
        }
        let cells: Vec<[String; 10]> = rows
            .iter()
            .map(|u| {
                [
                    match (u.rank, u.rank_of) {
                        (Some(r), Some(of)) => format!("{r}/{of}"),
                        _ => "-".into(),
                    },
                    u.code.clone(),
                    u.name.clone(),
                    thousands(u.achieved, lang),
                    u.target.map_or("-".into(), |t| thousands(t, lang)),
                    u.percent_x100.map_or("-".into(), |p| percent(p, lang)),
                    if u.done { "✓".into() } else { "-".into() },
                    u.reached_on.map_or("-".into(), |d| d.to_string()),
                    schedule(u, lang),
                    units_done(u, lang),
                ]
            })
            .collect();
        let headers = match lang {
            Lang::Vi => [
                "Hạng",
                "Mã",
                "Đơn vị",
                "Đạt",
                "Chỉ tiêu",
                "Tỷ lệ",
                "Xong",
                "Ngày đạt",
                "Tiến độ",
                "Đơn vị xong",
            ],
            Lang::En => [
                "Rank",
                "Code",
                "Unit",
                "Achieved",
                "Target",
                "Percent",
                "Done",
                "Reached",
                "Schedule",
                "Units done",
            ],
        };
        crate::table::write(&mut &mut *out, &headers, &cells)?;
        if let Some(scope) = rows.iter().find(|u| Some(&u.code) == report.scope.as_ref()) {
            if !scope.by_place.is_empty() {
                writeln!(
                    out,
                    "{}: {}",
                    lang.pick("Nơi thực hiện", "Where"),
                    breakdown(&scope.by_place, lang)
                )?;
            }
            if !scope.by_reason.is_empty() {
                writeln!(
                    out,
                    "{}: {}",
                    lang.pick("Lý do đến tận nơi", "Why visited"),
                    breakdown(&scope.by_reason, lang)
                )?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// CSV for Excel: UTF-8 with a byte order mark (without it Excel reads
/// Vietnamese as mojibake), stable English column names for scripts.
fn write_csv(out: &mut dyn Write, report: &ProgressReport) -> anyhow::Result<()> {
    out.write_all("\u{feff}".as_bytes())?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "campaign",
        "metric",
        "as_of",
        "rank",
        "rank_of",
        "code",
        "name",
        "level",
        "parent_code",
        "achieved",
        "target",
        "target_source",
        "percent",
        "done",
        "reached_on",
        "deadline",
        "days_ahead",
        "days_left",
        "units_done",
        "by_place",
        "by_reason",
    ])?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    let pairs = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    for u in &report.units {
        w.write_record([
            report.campaign.clone(),
            u.metric.as_str().to_owned(),
            report.as_of.to_string(),
            opt(u.rank.map(|r| r.to_string())),
            opt(u.rank_of.map(|r| r.to_string())),
            u.code.clone(),
            u.name.clone(),
            u.level.clone(),
            opt(u.parent_code.clone()),
            u.achieved.to_string(),
            opt(u.target.map(|t| t.to_string())),
            opt(u.target_source.map(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })),
            opt(u
                .percent_x100
                .map(|p| format!("{}.{:02}", p / 100, p % 100))),
            u.done.to_string(),
            opt(u.reached_on.map(|d| d.to_string())),
            opt(u.deadline.map(|d| d.to_string())),
            opt(u.days_ahead.map(|d| d.to_string())),
            opt(u.days_left.map(|d| d.to_string())),
            u.units_done
                .iter()
                .map(|l| format!("{} {}/{}", l.level, l.done, l.total))
                .collect::<Vec<_>>()
                .join("; "),
            pairs(&u.by_place),
            pairs(&u.by_reason),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_as_each_language_writes_them() {
        assert_eq!(thousands(1_455_967, Lang::Vi), "1.455.967");
        assert_eq!(thousands(1_455_967, Lang::En), "1,455,967");
        assert_eq!(thousands(967, Lang::En), "967");
        assert_eq!(thousands(0, Lang::Vi), "0");
        assert_eq!(percent(11_882, Lang::Vi), "118,82%");
        assert_eq!(percent(11_882, Lang::En), "118.82%");
        assert_eq!(percent(5, Lang::En), "0.05%");
        assert_eq!(percent(123_456, Lang::En), "1,234.56%");
    }
}
