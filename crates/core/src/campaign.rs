//! Campaigns: targets per administrative unit for one kind of work, over a
//! start date and a deadline, read from a CSV file
//! `campaign,unit_code,metric,target,start,deadline`.
//!
//! A campaign's rows share one start date, so what a unit achieved is the
//! sum of what its children achieved; deadlines may differ per unit (a
//! commune commits to an earlier date than its province).

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::record::{RecordKind, string_enum};
use crate::units::Units;

string_enum!(
    /// What a campaign counts: confirmed records of one kind.
    Metric {
        IdCardIntake => "id_card_intake",
        EidRegistration => "eid_registration",
        EidActivation => "eid_activation",
        DriverLicenseLink => "driver_license_link",
    }
);

impl Metric {
    /// The record kind this metric counts.
    pub fn kind(self) -> RecordKind {
        match self {
            Metric::IdCardIntake => RecordKind::IdCardApplication,
            Metric::EidRegistration => RecordKind::EidRegistration,
            Metric::EidActivation => RecordKind::EidActivation,
            Metric::DriverLicenseLink => RecordKind::DriverLicenseLink,
        }
    }

    /// The metric that counts records of `kind`, if any does.
    pub fn of_kind(kind: RecordKind) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.kind() == kind)
    }

    /// Vietnamese label, as the news reports name the work.
    pub fn label_vi(self) -> &'static str {
        match self {
            Metric::IdCardIntake => "thu nhận hồ sơ căn cước",
            Metric::EidRegistration => "đăng ký định danh điện tử",
            Metric::EidActivation => "kích hoạt định danh điện tử",
            Metric::DriverLicenseLink => "tích hợp giấy phép lái xe",
        }
    }

    /// English label.
    pub fn label_en(self) -> &'static str {
        match self {
            Metric::IdCardIntake => "ID card applications taken",
            Metric::EidRegistration => "e-ID registrations",
            Metric::EidActivation => "e-ID activations",
            Metric::DriverLicenseLink => "driver licences linked",
        }
    }
}

/// One row of a campaign file: a target for one unit and metric.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub campaign: String,
    pub unit_code: String,
    pub metric: Metric,
    pub target: u64,
    pub start: NaiveDate,
    pub deadline: NaiveDate,
}

/// The header a campaign file starts with.
pub const CAMPAIGN_HEADER: &str = "campaign,unit_code,metric,target,start,deadline";

/// Longest campaign ID accepted: it appears in URLs and file names.
const MAX_CAMPAIGN_ID: usize = 64;

/// What is wrong with a campaign file, with its 1-based line.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CampaignError {
    #[error("the campaign file is not UTF-8 (line {line}): save it as CSV UTF-8")]
    NotUtf8 { line: usize },
    #[error("line 1: the header must be `{CAMPAIGN_HEADER}`, found `{found}`")]
    Header { found: String },
    #[error("line {line}: {message}")]
    Csv { line: usize, message: String },
    #[error("line {line}: expected 6 fields ({CAMPAIGN_HEADER}), found {found}")]
    FieldCount { line: usize, found: usize },
    #[error(
        "line {line}: campaign ID `{found}` must be 1 to {MAX_CAMPAIGN_ID} letters, digits, `-`, `_` or `.`"
    )]
    CampaignId { line: usize, found: String },
    #[error("line {line}: unit `{code}` is not in the loaded unit list")]
    UnknownUnit { line: usize, code: String },
    #[error("line {line}: metric `{found}` is not one of {allowed}")]
    Metric {
        line: usize,
        found: String,
        allowed: String,
    },
    #[error("line {line}: target `{found}` must be a whole number of at least 1")]
    Target { line: usize, found: String },
    #[error("line {line}: {field} `{found}` is not a date (YYYY-MM-DD)")]
    Date {
        line: usize,
        field: &'static str,
        found: String,
    },
    #[error("line {line}: the deadline {deadline} is before the start {start}")]
    DeadlineBeforeStart {
        line: usize,
        start: NaiveDate,
        deadline: NaiveDate,
    },
    #[error(
        "line {line}: campaign `{campaign}` starts on {found} here but on {first} at line {first_line}; a campaign has one start date"
    )]
    StartDiffers {
        line: usize,
        campaign: String,
        found: NaiveDate,
        first: NaiveDate,
        first_line: usize,
    },
    #[error(
        "line {line}: campaign `{campaign}` already has a {metric} target for unit {unit_code} at line {first_line}"
    )]
    Duplicate {
        line: usize,
        campaign: String,
        unit_code: String,
        metric: Metric,
        first_line: usize,
    },
    #[error("the campaign file has no rows")]
    Empty,
}

impl CampaignError {
    /// Vietnamese wording of the same problem, for officers.
    pub fn message_vi(&self) -> String {
        match self {
            CampaignError::NotUtf8 { line } => {
                format!("tệp chiến dịch không phải UTF-8 (dòng {line}): hãy lưu dạng CSV UTF-8")
            }
            CampaignError::Header { found } => {
                format!("dòng 1: tiêu đề phải là `{CAMPAIGN_HEADER}`, tệp có `{found}`")
            }
            CampaignError::Csv { line, message } => format!("dòng {line}: {message}"),
            CampaignError::FieldCount { line, found } => {
                format!("dòng {line}: cần 6 cột ({CAMPAIGN_HEADER}), có {found}")
            }
            CampaignError::CampaignId { line, found } => format!(
                "dòng {line}: mã chiến dịch `{found}` phải gồm 1–{MAX_CAMPAIGN_ID} chữ cái, chữ số, `-`, `_` hoặc `.`"
            ),
            CampaignError::UnknownUnit { line, code } => {
                format!("dòng {line}: đơn vị `{code}` không có trong danh mục đơn vị hành chính")
            }
            CampaignError::Metric {
                line,
                found,
                allowed,
            } => format!("dòng {line}: chỉ tiêu `{found}` không thuộc {allowed}"),
            CampaignError::Target { line, found } => {
                format!("dòng {line}: chỉ tiêu `{found}` phải là số nguyên từ 1 trở lên")
            }
            CampaignError::Date { line, field, found } => {
                format!("dòng {line}: {field} `{found}` không phải ngày (YYYY-MM-DD)")
            }
            CampaignError::DeadlineBeforeStart {
                line,
                start,
                deadline,
            } => format!("dòng {line}: hạn {deadline} trước ngày bắt đầu {start}"),
            CampaignError::StartDiffers {
                line,
                campaign,
                found,
                first,
                first_line,
            } => format!(
                "dòng {line}: chiến dịch `{campaign}` bắt đầu {found} ở đây nhưng {first} ở dòng {first_line}; mỗi chiến dịch có một ngày bắt đầu"
            ),
            CampaignError::Duplicate {
                line,
                campaign,
                unit_code,
                metric,
                first_line,
            } => format!(
                "dòng {line}: chiến dịch `{campaign}` đã có chỉ tiêu {metric} cho đơn vị {unit_code} ở dòng {first_line}"
            ),
            CampaignError::Empty => "tệp chiến dịch không có dòng nào".into(),
        }
    }
}

/// Parses a campaign file against the loaded units. Every problem is
/// reported (up to `max_errors`), not only the first, so one edit pass
/// fixes the file.
pub fn parse_targets(
    bytes: &[u8],
    units: &Units,
    max_errors: usize,
) -> Result<Vec<Target>, Vec<CampaignError>> {
    let text =
        crate::text::csv_text(bytes).map_err(|line| vec![CampaignError::NotUtf8 { line }])?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = reader.records();
    match rows.next() {
        Some(Ok(header)) if header.iter().collect::<Vec<_>>().join(",") == CAMPAIGN_HEADER => {}
        Some(Ok(header)) => {
            return Err(vec![CampaignError::Header {
                found: header
                    .iter()
                    .collect::<Vec<_>>()
                    .join(",")
                    .chars()
                    .take(80)
                    .collect(),
            }]);
        }
        Some(Err(e)) => return Err(vec![csv_error(&e, 1)]),
        None => return Err(vec![CampaignError::Empty]),
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut starts: HashMap<String, (NaiveDate, usize)> = HashMap::new();
    let mut seen: HashMap<(String, String, Metric), usize> = HashMap::new();
    for row in rows {
        if errors.len() >= max_errors {
            break;
        }
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                errors.push(csv_error(&e, 0));
                continue;
            }
        };
        let line = row
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        if row.iter().all(str::is_empty) {
            continue;
        }
        match parse_row(&row, line, units) {
            Ok(t) => {
                if let Some(&(first, first_line)) = starts.get(&t.campaign)
                    && first != t.start
                {
                    errors.push(CampaignError::StartDiffers {
                        line,
                        campaign: t.campaign.clone(),
                        found: t.start,
                        first,
                        first_line,
                    });
                    continue;
                }
                starts.entry(t.campaign.clone()).or_insert((t.start, line));
                let key = (t.campaign.clone(), t.unit_code.clone(), t.metric);
                if let Some(&first_line) = seen.get(&key) {
                    errors.push(CampaignError::Duplicate {
                        line,
                        campaign: t.campaign,
                        unit_code: t.unit_code,
                        metric: t.metric,
                        first_line,
                    });
                    continue;
                }
                seen.insert(key, line);
                out.push(t);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if out.is_empty() {
        return Err(vec![CampaignError::Empty]);
    }
    Ok(out)
}

fn csv_error(e: &csv::Error, fallback_line: usize) -> CampaignError {
    let line = e
        .position()
        .map_or(fallback_line, |p| usize::try_from(p.line()).unwrap_or(0));
    CampaignError::Csv {
        line,
        message: e.to_string(),
    }
}

fn parse_row(row: &csv::StringRecord, line: usize, units: &Units) -> Result<Target, CampaignError> {
    if row.len() != 6 {
        return Err(CampaignError::FieldCount {
            line,
            found: row.len(),
        });
    }
    let field = |i: usize| row.get(i).unwrap_or("");
    let campaign = field(0);
    if !is_campaign_id(campaign) {
        return Err(CampaignError::CampaignId {
            line,
            found: campaign.chars().take(80).collect(),
        });
    }
    let unit_code = field(1);
    if !units.contains(unit_code) {
        return Err(CampaignError::UnknownUnit {
            line,
            code: unit_code.chars().take(20).collect(),
        });
    }
    let metric = Metric::parse(field(2)).ok_or_else(|| CampaignError::Metric {
        line,
        found: field(2).chars().take(40).collect(),
        allowed: Metric::allowed(),
    })?;
    let target = field(3)
        .parse::<u64>()
        .ok()
        .filter(|&t| t >= 1 && t <= i64::MAX as u64)
        .ok_or_else(|| CampaignError::Target {
            line,
            found: field(3).chars().take(40).collect(),
        })?;
    let date = |i: usize, name: &'static str| {
        NaiveDate::parse_from_str(field(i), "%Y-%m-%d").map_err(|_| CampaignError::Date {
            line,
            field: name,
            found: field(i).chars().take(40).collect(),
        })
    };
    let start = date(4, "start")?;
    let deadline = date(5, "deadline")?;
    if deadline < start {
        return Err(CampaignError::DeadlineBeforeStart {
            line,
            start,
            deadline,
        });
    }
    Ok(Target {
        campaign: campaign.to_owned(),
        unit_code: unit_code.to_owned(),
        metric,
        target,
        start,
        deadline,
    })
}

/// Whether `s` may name a campaign: it travels in URLs and file names.
pub fn is_campaign_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CAMPAIGN_ID
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units() -> Units {
        Units::from_csv(
            "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n718,Thành phố Thủ Dầu Một,district,74\n25747,Phường Hiệp Thành,commune,718\n"
                .as_bytes(),
        )
        .unwrap_or_default()
    }

    #[test]
    fn parses_rows_with_bom_and_quotes() {
        let csv = "\u{feff}campaign,unit_code,metric,target,start,deadline\r\nbd-60,74,eid_activation,1225365,2023-07-01,2023-11-04\r\n\"bd-60\",\"25747\",eid_activation,\"12000\",2023-07-01,2023-10-01\r\n";
        let rows = parse_targets(csv.as_bytes(), &units(), 10).unwrap_or_default();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].target, 1_225_365);
        assert_eq!(rows[1].unit_code, "25747");
        assert_eq!(rows[1].metric, Metric::EidActivation);
    }

    #[test]
    fn reports_every_bad_line_with_its_number() {
        let csv = "campaign,unit_code,metric,target,start,deadline\n\
                   bd,99,eid_activation,10,2023-07-01,2023-09-01\n\
                   bd,74,eid_activate,10,2023-07-01,2023-09-01\n\
                   bd,74,eid_activation,0,2023-07-01,2023-09-01\n\
                   bd,74,eid_activation,10,2023-07-01,2023-06-01\n\
                   bd,74,eid_activation,10,2023-07-01,2023-09-31\n\
                   bd,74,eid_activation,10,2023-07-01,2023-09-01\n\
                   bd,74,eid_activation,11,2023-07-01,2023-09-01\n\
                   bd,718,eid_activation,11,2023-07-02,2023-09-01\n\
                   b d,74,eid_activation,11,2023-07-01,2023-09-01\n\
                   bd,74,eid_activation,11\n";
        let errors = parse_targets(csv.as_bytes(), &units(), 100)
            .err()
            .unwrap_or_default();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 9, "{lines:#?}");
        assert!(lines[0].starts_with("line 2: unit `99`"), "{}", lines[0]);
        assert!(
            lines[1].starts_with("line 3: metric `eid_activate`"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("line 4: target `0`"), "{}", lines[2]);
        assert!(lines[3].starts_with("line 5: the deadline"), "{}", lines[3]);
        assert!(
            lines[4].starts_with("line 6: deadline `2023-09-31`"),
            "{}",
            lines[4]
        );
        assert!(
            lines[5].starts_with("line 8: campaign `bd` already has"),
            "{}",
            lines[5]
        );
        assert!(
            lines[6].contains("line 9: campaign `bd` starts on 2023-07-02"),
            "{}",
            lines[6]
        );
        assert!(
            lines[7].starts_with("line 10: campaign ID `b d`"),
            "{}",
            lines[7]
        );
        assert!(
            lines[8].starts_with("line 11: expected 6 fields"),
            "{}",
            lines[8]
        );
        assert!(errors[0].message_vi().starts_with("dòng 2:"));
    }

    #[test]
    fn refuses_a_wrong_header_and_an_empty_file() {
        let errors = parse_targets(b"unit,target\n74,1\n", &units(), 10)
            .err()
            .unwrap_or_default();
        assert!(matches!(errors.as_slice(), [CampaignError::Header { .. }]));
        let errors = parse_targets(format!("{CAMPAIGN_HEADER}\n").as_bytes(), &units(), 10)
            .err()
            .unwrap_or_default();
        assert_eq!(errors, vec![CampaignError::Empty]);
        let errors = parse_targets(b"campaign,\xff\n", &units(), 10)
            .err()
            .unwrap_or_default();
        assert_eq!(errors, vec![CampaignError::NotUtf8 { line: 1 }]);
    }

    #[test]
    fn metric_maps_to_its_record_kind() {
        for &m in Metric::ALL {
            assert_eq!(Metric::of_kind(m.kind()), Some(m));
        }
        assert_eq!(Metric::of_kind(RecordKind::InfoCorrection), None);
    }
}
