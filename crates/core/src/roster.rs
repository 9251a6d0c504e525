//! The resident roster: who lives in a unit and what each person still
//! needs (an identity card, an e-ID registration, an e-ID activation),
//! read from a CSV file with the header
//! `personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs`
//! (columns in any order). Teams work through it; [`crate::worklist`]
//! derives who is left.
//!
//! Every line is checked and every problem reported (up to
//! [`MAX_ROSTER_ERRORS`], then a count of the rest), so one edit pass
//! fixes the file. The checks are those a record's citizen block gets
//! (`proto/canonical-v1.md`), since the laptop fills records from here.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use crate::personal_id::{self, PersonalIdProblem};
use crate::record::{RecordKind, Sex, string_enum};
use crate::text::{self, NameProblem};
use crate::units::Units;
use crate::validate::{MAX_TEXT_CHARS, parse_date};

string_enum!(
    /// Something a resident still needs done.
    Need {
        Card => "card",
        EidRegistration => "eid_registration",
        EidActivation => "eid_activation",
    }
);

impl Need {
    /// Vietnamese label for officers.
    pub fn label_vi(self) -> &'static str {
        match self {
            Need::Card => "cấp căn cước",
            Need::EidRegistration => "đăng ký định danh điện tử",
            Need::EidActivation => "kích hoạt định danh điện tử",
        }
    }

    /// English label.
    pub fn label_en(self) -> &'static str {
        match self {
            Need::Card => "identity card",
            Need::EidRegistration => "e-ID registration",
            Need::EidActivation => "e-ID activation",
        }
    }

    /// The need a record of `kind` meets, if any.
    pub fn covered_by(kind: RecordKind) -> Option<Need> {
        match kind {
            RecordKind::IdCardApplication => Some(Need::Card),
            RecordKind::EidRegistration => Some(Need::EidRegistration),
            RecordKind::EidActivation => Some(Need::EidActivation),
            RecordKind::DriverLicenseLink
            | RecordKind::InfoCorrection
            | RecordKind::VisitOutcome => None,
        }
    }
}

/// One person on the roster, cleaned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resident {
    pub personal_id: String,
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    /// Unit of the permanent address.
    pub unit_code: String,
    pub address_detail: Option<String>,
    pub household: Option<String>,
    /// In [`Need::ALL`] order, without duplicates; empty when nothing is
    /// left to do.
    pub needs: Vec<Need>,
}

/// The columns of a roster file, in the order writers use.
const COLUMNS: [&str; 8] = [
    "personal_id",
    "full_name",
    "date_of_birth",
    "sex",
    "unit_code",
    "address_detail",
    "household",
    "needs",
];

/// The header writers put first (readers accept the columns in any order).
pub fn roster_csv_header() -> &'static str {
    "personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs"
}

/// Most problems listed for one file; the rest are only counted, so a
/// wrong file does not produce a million lines.
pub const MAX_ROSTER_ERRORS: usize = 1_000;
/// Longest household code, in characters.
pub const MAX_HOUSEHOLD_CHARS: usize = 64;

/// What is wrong with a roster file. Lines are 1-based, the header being
/// line 1.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RosterError {
    #[error("the roster file is not UTF-8 (line {line}): save it as CSV UTF-8")]
    NotUtf8 { line: usize },
    #[error("the roster file has no residents")]
    Empty,
    #[error(
        "line 1: the header lacks the column(s) {missing} (header: {})",
        roster_csv_header()
    )]
    MissingColumns { missing: String },
    #[error("line 1: unknown column `{column}` (allowed: {})", roster_csv_header())]
    UnknownColumn { column: String },
    #[error("line 1: column `{column}` appears twice")]
    DuplicateColumn { column: String },
    #[error("line {line}: {message}")]
    Csv { line: usize, message: String },
    #[error("line {line}: expected {expected} fields as in the header, found {found}")]
    FieldCount {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("line {line}, personal_id: `{found}` must be exactly 12 digits")]
    PersonalIdFormat { line: usize, found: String },
    #[error(
        "line {line}, personal_id: `{code}` (first 3 digits) is not one of the 63 province codes"
    )]
    PersonalIdProvince { line: usize, code: String },
    #[error(
        "line {line}, personal_id: 4th digit is {digit} but sex and birth century give {expected}"
    )]
    PersonalIdCenturySex {
        line: usize,
        digit: u8,
        expected: u8,
    },
    #[error(
        "line {line}, personal_id: digits 5–6 are {found} but the birth year ends in {expected}"
    )]
    PersonalIdYear {
        line: usize,
        found: String,
        expected: String,
    },
    #[error("line {line}, personal_id: {personal_id} is already on line {first_line}")]
    DuplicatePersonalId {
        line: usize,
        personal_id: String,
        first_line: usize,
    },
    #[error("line {line}, full_name: {}", name_problem_en(*.problem))]
    Name { line: usize, problem: NameProblem },
    #[error("line {line}, date_of_birth: `{found}` is not a date (YYYY-MM-DD)")]
    Date { line: usize, found: String },
    #[error("line {line}, date_of_birth: {date} is in the future")]
    BirthFuture { line: usize, date: NaiveDate },
    #[error("line {line}, date_of_birth: {date} is before 1900")]
    BirthTooEarly { line: usize, date: NaiveDate },
    #[error("line {line}, sex: `{found}` is not one of male | female")]
    Sex { line: usize, found: String },
    #[error("line {line}, unit_code: unit `{code}` is not in the loaded unit list")]
    UnknownUnit { line: usize, code: String },
    #[error("line {line}, address_detail: contains control characters")]
    DetailControl { line: usize },
    #[error("line {line}, address_detail: longer than {MAX_TEXT_CHARS} characters")]
    DetailTooLong { line: usize },
    #[error(
        "line {line}, household: `{found}` must be at most {MAX_HOUSEHOLD_CHARS} letters, digits, `-`, `_`, `.` or `/`"
    )]
    Household { line: usize, found: String },
    #[error(
        "line {line}, needs: `{found}` is not one of {} (separate several with `;`)",
        Need::allowed()
    )]
    Need { line: usize, found: String },
    #[error("… and {more} more problem(s) not listed")]
    TooMany { more: usize },
}

fn name_problem_en(p: NameProblem) -> String {
    match p {
        NameProblem::Empty => "the name is empty".into(),
        NameProblem::InvalidCharacter(c) => {
            format!("the name contains `{c}`, which is not a letter")
        }
        NameProblem::NoLetter => "the name has no letters".into(),
        NameProblem::TooLong => {
            format!(
                "the name is longer than {} characters",
                text::MAX_NAME_CHARS
            )
        }
    }
}

fn name_problem_vi(p: NameProblem) -> String {
    match p {
        NameProblem::Empty => "họ và tên đang để trống".into(),
        NameProblem::InvalidCharacter(c) => {
            format!("họ và tên chứa ký tự `{c}` không phải chữ cái")
        }
        NameProblem::NoLetter => "họ và tên không có chữ cái nào".into(),
        NameProblem::TooLong => format!("họ và tên dài quá {} ký tự", text::MAX_NAME_CHARS),
    }
}

impl RosterError {
    /// The 1-based line, header included; `None` for the whole file.
    pub fn line(&self) -> Option<usize> {
        use RosterError as E;
        match self {
            E::Empty | E::TooMany { .. } => None,
            E::MissingColumns { .. } | E::UnknownColumn { .. } | E::DuplicateColumn { .. } => {
                Some(1)
            }
            E::NotUtf8 { line }
            | E::Csv { line, .. }
            | E::FieldCount { line, .. }
            | E::PersonalIdFormat { line, .. }
            | E::PersonalIdProvince { line, .. }
            | E::PersonalIdCenturySex { line, .. }
            | E::PersonalIdYear { line, .. }
            | E::DuplicatePersonalId { line, .. }
            | E::Name { line, .. }
            | E::Date { line, .. }
            | E::BirthFuture { line, .. }
            | E::BirthTooEarly { line, .. }
            | E::Sex { line, .. }
            | E::UnknownUnit { line, .. }
            | E::DetailControl { line }
            | E::DetailTooLong { line }
            | E::Household { line, .. }
            | E::Need { line, .. } => Some(*line),
        }
    }

    /// The column the problem is in, when it is in one.
    pub fn column(&self) -> Option<&'static str> {
        use RosterError as E;
        match self {
            E::PersonalIdFormat { .. }
            | E::PersonalIdProvince { .. }
            | E::PersonalIdCenturySex { .. }
            | E::PersonalIdYear { .. }
            | E::DuplicatePersonalId { .. } => Some("personal_id"),
            E::Name { .. } => Some("full_name"),
            E::Date { .. } | E::BirthFuture { .. } | E::BirthTooEarly { .. } => {
                Some("date_of_birth")
            }
            E::Sex { .. } => Some("sex"),
            E::UnknownUnit { .. } => Some("unit_code"),
            E::DetailControl { .. } | E::DetailTooLong { .. } => Some("address_detail"),
            E::Household { .. } => Some("household"),
            E::Need { .. } => Some("needs"),
            E::NotUtf8 { .. }
            | E::Empty
            | E::MissingColumns { .. }
            | E::UnknownColumn { .. }
            | E::DuplicateColumn { .. }
            | E::Csv { .. }
            | E::FieldCount { .. }
            | E::TooMany { .. } => None,
        }
    }

    /// Vietnamese wording of the same problem, for officers.
    pub fn message_vi(&self) -> String {
        use RosterError as E;
        let header = roster_csv_header();
        match self {
            E::NotUtf8 { line } => {
                format!(
                    "tệp danh sách cư dân không phải UTF-8 (dòng {line}): hãy lưu dạng CSV UTF-8"
                )
            }
            E::Empty => "tệp danh sách cư dân không có người nào".into(),
            E::MissingColumns { missing } => {
                format!("dòng 1: tiêu đề thiếu cột {missing} (tiêu đề: {header})")
            }
            E::UnknownColumn { column } => {
                format!("dòng 1: cột `{column}` không hợp lệ (cho phép: {header})")
            }
            E::DuplicateColumn { column } => format!("dòng 1: cột `{column}` xuất hiện hai lần"),
            E::Csv { line, message } => format!("dòng {line}: {message}"),
            E::FieldCount {
                line,
                expected,
                found,
            } => format!("dòng {line}: cần {expected} cột như tiêu đề, có {found}"),
            E::PersonalIdFormat { line, found } => format!(
                "dòng {line}, personal_id: `{found}` — số định danh cá nhân phải gồm đúng 12 chữ số"
            ),
            E::PersonalIdProvince { line, code } => format!(
                "dòng {line}, personal_id: `{code}` (3 chữ số đầu) không phải mã tỉnh hợp lệ trong 63 mã tỉnh"
            ),
            E::PersonalIdCenturySex {
                line,
                digit,
                expected,
            } => format!(
                "dòng {line}, personal_id: chữ số thứ 4 là {digit} nhưng giới tính và thế kỷ sinh ứng với {expected}"
            ),
            E::PersonalIdYear {
                line,
                found,
                expected,
            } => format!(
                "dòng {line}, personal_id: chữ số thứ 5–6 là {found} nhưng năm sinh kết thúc bằng {expected}"
            ),
            E::DuplicatePersonalId {
                line,
                personal_id,
                first_line,
            } => format!("dòng {line}, personal_id: số {personal_id} đã có ở dòng {first_line}"),
            E::Name { line, problem } => {
                format!("dòng {line}, full_name: {}", name_problem_vi(*problem))
            }
            E::Date { line, found } => {
                format!("dòng {line}, date_of_birth: `{found}` không phải ngày hợp lệ (YYYY-MM-DD)")
            }
            E::BirthFuture { line, date } => {
                format!("dòng {line}, date_of_birth: ngày sinh {date} ở tương lai")
            }
            E::BirthTooEarly { line, date } => {
                format!("dòng {line}, date_of_birth: ngày sinh {date} trước năm 1900")
            }
            E::Sex { line, found } => format!(
                "dòng {line}, sex: giá trị `{found}` không hợp lệ; chọn một trong: male | female"
            ),
            E::UnknownUnit { line, code } => format!(
                "dòng {line}, unit_code: mã đơn vị hành chính `{code}` không có trong danh mục đã nạp"
            ),
            E::DetailControl { line } => {
                format!("dòng {line}, address_detail: chứa ký tự điều khiển không hợp lệ")
            }
            E::DetailTooLong { line } => {
                format!("dòng {line}, address_detail: dài quá {MAX_TEXT_CHARS} ký tự")
            }
            E::Household { line, found } => format!(
                "dòng {line}, household: `{found}` phải gồm tối đa {MAX_HOUSEHOLD_CHARS} chữ cái, chữ số, `-`, `_`, `.` hoặc `/`"
            ),
            E::Need { line, found } => format!(
                "dòng {line}, needs: `{found}` không thuộc {} (nhiều giá trị cách nhau bằng `;`)",
                Need::allowed()
            ),
            E::TooMany { more } => format!("… và {more} lỗi khác không liệt kê"),
        }
    }
}

/// Collects problems up to [`MAX_ROSTER_ERRORS`], counting the rest.
#[derive(Debug, Default)]
struct Problems {
    list: Vec<RosterError>,
    more: usize,
}

impl Problems {
    fn push(&mut self, e: RosterError) {
        if self.list.len() < MAX_ROSTER_ERRORS {
            self.list.push(e);
        } else {
            self.more += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn finish(mut self) -> Vec<RosterError> {
        if self.more > 0 {
            self.list.push(RosterError::TooMany { more: self.more });
        }
        self.list
    }
}

/// Parses a roster file against the loaded units; `today` (the date in
/// Vietnam) bounds dates of birth. Every problem is reported.
pub fn parse_roster(
    bytes: &[u8],
    units: &Units,
    today: NaiveDate,
) -> Result<Vec<Resident>, Vec<RosterError>> {
    let text = crate::text::csv_text(bytes).map_err(|line| vec![RosterError::NotUtf8 { line }])?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = reader.records();
    let columns = match rows.next() {
        Some(Ok(header)) => header_columns(&header)?,
        Some(Err(e)) => return Err(vec![csv_error(&e, 1)]),
        None => return Err(vec![RosterError::Empty]),
    };
    let mut out = Vec::new();
    let mut problems = Problems::default();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(csv_error(&e, 0));
                continue;
            }
        };
        let line = row
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if row.len() != COLUMNS.len() {
            problems.push(RosterError::FieldCount {
                line,
                expected: COLUMNS.len(),
                found: row.len(),
            });
            continue;
        }
        let field = |c: usize| row.get(columns[c]).unwrap_or("");
        let before = problems.list.len() + problems.more;
        let resident = parse_row(field, line, units, today, &mut problems);
        if let Some(id) = personal_id_key(field(0)) {
            if let Some(&first) = first_line.get(id) {
                problems.push(RosterError::DuplicatePersonalId {
                    line,
                    personal_id: id.to_owned(),
                    first_line: first,
                });
                continue;
            }
            first_line.insert(id.to_owned(), line);
        }
        if let Some(r) = resident.filter(|_| problems.list.len() + problems.more == before) {
            out.push(r);
        }
    }
    if !problems.is_empty() {
        return Err(problems.finish());
    }
    if out.is_empty() {
        return Err(vec![RosterError::Empty]);
    }
    Ok(out)
}

/// For each of [`COLUMNS`], its index in the file.
fn header_columns(header: &csv::StringRecord) -> Result<[usize; 8], Vec<RosterError>> {
    let mut at: [Option<usize>; 8] = [None; 8];
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        match COLUMNS.iter().position(|c| *c == name) {
            Some(c) if at[c].is_some() => errors.push(RosterError::DuplicateColumn {
                column: name.to_owned(),
            }),
            Some(c) => at[c] = Some(i),
            None => errors.push(RosterError::UnknownColumn {
                column: name.chars().take(40).collect(),
            }),
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .zip(at)
        .filter(|(_, i)| i.is_none())
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        errors.push(RosterError::MissingColumns {
            missing: missing.join(", "),
        });
    }
    let mut out = [0usize; 8];
    for (slot, i) in out.iter_mut().zip(at) {
        match i {
            Some(i) => *slot = i,
            None => return Err(errors),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn csv_error(e: &csv::Error, fallback_line: usize) -> RosterError {
    let line = e
        .position()
        .map_or(fallback_line, |p| usize::try_from(p.line()).unwrap_or(0));
    RosterError::Csv {
        line,
        message: e.to_string(),
    }
}

/// The personal ID as duplicates are found: trimmed, when well-formed.
fn personal_id_key(raw: &str) -> Option<&str> {
    let id = raw.trim();
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Checks one line's fields (by index into [`COLUMNS`]); `None` when any
/// is wrong (every problem pushed).
fn parse_row<'r>(
    field: impl Fn(usize) -> &'r str,
    line: usize,
    units: &Units,
    today: NaiveDate,
    problems: &mut Problems,
) -> Option<Resident> {
    let personal_id = field(0).trim();
    let full_name = text::clean(field(1));
    let name_ok = match text::check_name(&full_name) {
        Ok(()) => true,
        Err(problem) => {
            problems.push(RosterError::Name { line, problem });
            false
        }
    };
    let dob = birth_date(field(2), line, today, problems);
    let sex = Sex::parse(field(3).trim());
    if sex.is_none() {
        problems.push(RosterError::Sex {
            line,
            found: short(field(3)),
        });
    }
    let id_ok = check_personal_id(personal_id, dob, sex, line, problems);
    let unit_code = field(4).trim();
    let unit_ok = units.contains(unit_code);
    if !unit_ok {
        problems.push(RosterError::UnknownUnit {
            line,
            code: short(unit_code),
        });
    }
    let detail = address_detail(field(5), line, problems);
    let household = household(field(6), line, problems);
    let needs = needs(field(7), line, problems);
    if !(name_ok && id_ok && unit_ok) {
        return None;
    }
    Some(Resident {
        personal_id: personal_id.to_owned(),
        full_name,
        date_of_birth: dob?,
        sex: sex?,
        unit_code: unit_code.to_owned(),
        address_detail: detail.ok()?,
        household: household.ok()?,
        needs: needs.ok()?,
    })
}

fn birth_date(
    raw: &str,
    line: usize,
    today: NaiveDate,
    problems: &mut Problems,
) -> Option<NaiveDate> {
    let Some(date) = parse_date(raw.trim()) else {
        problems.push(RosterError::Date {
            line,
            found: short(raw),
        });
        return None;
    };
    if date > today {
        problems.push(RosterError::BirthFuture { line, date });
        return None;
    }
    // Records refuse these too: a roster line must make a valid record.
    if date.year() < 1900 {
        problems.push(RosterError::BirthTooEarly { line, date });
        return None;
    }
    Some(date)
}

/// Format always; consistency with birth date and sex when both are valid.
fn check_personal_id(
    id: &str,
    dob: Option<NaiveDate>,
    sex: Option<Sex>,
    line: usize,
    problems: &mut Problems,
) -> bool {
    let found = match (dob, sex) {
        (Some(dob), Some(sex)) => personal_id::check_consistency(id, dob, sex),
        _ => personal_id::check_format(id).err().into_iter().collect(),
    };
    let ok = found.is_empty();
    for p in found {
        problems.push(match p {
            PersonalIdProblem::Format => RosterError::PersonalIdFormat {
                line,
                found: short(id),
            },
            PersonalIdProblem::UnknownProvince(code) => {
                RosterError::PersonalIdProvince { line, code }
            }
            PersonalIdProblem::CenturySex { digit, expected } => {
                RosterError::PersonalIdCenturySex {
                    line,
                    digit,
                    expected,
                }
            }
            PersonalIdProblem::Year { found, expected } => RosterError::PersonalIdYear {
                line,
                found,
                expected,
            },
        });
    }
    ok
}

fn address_detail(raw: &str, line: usize, problems: &mut Problems) -> Result<Option<String>, ()> {
    let cleaned = text::clean(raw);
    if cleaned.is_empty() {
        return Ok(None);
    }
    if text::has_control(&cleaned) {
        problems.push(RosterError::DetailControl { line });
        return Err(());
    }
    if cleaned.chars().count() > MAX_TEXT_CHARS {
        problems.push(RosterError::DetailTooLong { line });
        return Err(());
    }
    Ok(Some(cleaned))
}

/// ASCII only: household codes travel in assignments and file names.
fn household(raw: &str, line: usize, problems: &mut Problems) -> Result<Option<String>, ()> {
    let code = raw.trim();
    if code.is_empty() {
        return Ok(None);
    }
    let ok = code.len() <= MAX_HOUSEHOLD_CHARS
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
    if !ok {
        problems.push(RosterError::Household {
            line,
            found: short(code),
        });
        return Err(());
    }
    Ok(Some(code.to_owned()))
}

/// `;`-separated need names (blank items ignored), sorted and deduplicated.
fn needs(raw: &str, line: usize, problems: &mut Problems) -> Result<Vec<Need>, ()> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in raw.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        match Need::parse(item) {
            Some(n) => out.push(n),
            None => {
                problems.push(RosterError::Need {
                    line,
                    found: short(item),
                });
                ok = false;
            }
        }
    }
    out.sort();
    out.dedup();
    if ok { Ok(out) } else { Err(()) }
}
