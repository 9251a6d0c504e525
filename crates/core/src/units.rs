//! Administrative units (province → district → commune) loaded from data,
//! never from code: a CSV `code,name,level,parent_code`. The 63 legacy
//! province codes are built in because personal ID numbers are decoded with
//! them, whatever unit list is loaded.

use std::collections::HashMap;

use crate::text;

/// Built-in list of the 63 provinces in force until 30 June 2025
/// (`code,name`, 3-digit code as used in personal ID numbers).
const LEGACY_PROVINCES_CSV: &str = include_str!("../data/provinces_legacy_63.csv");

/// Level of an administrative unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitLevel {
    Province,
    District,
    Commune,
}

impl UnitLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitLevel::Province => "province",
            UnitLevel::District => "district",
            UnitLevel::Commune => "commune",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "province" => Some(UnitLevel::Province),
            "district" => Some(UnitLevel::District),
            "commune" => Some(UnitLevel::Commune),
            _ => None,
        }
    }
}

/// One administrative unit. Codes are strings: leading zeros matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub level: UnitLevel,
    pub parent_code: Option<String>,
}

/// What is wrong with a unit list, with the 1-based line of the CSV.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitsError {
    #[error(
        "line {line}: the unit file is not UTF-8 (byte {offset}); it may be in a legacy encoding (TCVN3, VNI, Windows-1258): convert it to UTF-8 first"
    )]
    NotUtf8 { line: usize, offset: usize },
    #[error("line 1: the header must be `code,name,level,parent_code`, found `{found}`")]
    Header { found: String },
    #[error("line {line}: expected 4 fields (code,name,level,parent_code), found {found}")]
    FieldCount { line: usize, found: usize },
    #[error("line {line}: unit code `{code}` must be 2 to 5 digits")]
    BadCode { line: usize, code: String },
    #[error("line {line}: the unit name is empty or has control characters")]
    BadName { line: usize },
    #[error("line {line}: level `{level}` is not one of province, district, commune")]
    BadLevel { line: usize, level: String },
    #[error("line {line}: unit code `{code}` appears twice (first on line {first})")]
    Duplicate {
        line: usize,
        code: String,
        first: usize,
    },
    #[error("line {line}: a province has no parent, but `{parent}` was given")]
    ProvinceWithParent { line: usize, parent: String },
    #[error("line {line}: a {level} needs a parent_code")]
    MissingParent { line: usize, level: &'static str },
    #[error("line {line}: parent `{parent}` is not defined on an earlier line")]
    UnknownParent { line: usize, parent: String },
    #[error("line {line}: a {level} cannot be under a {parent_level} (`{parent}`)")]
    ParentLevel {
        line: usize,
        level: &'static str,
        parent: String,
        parent_level: &'static str,
    },
    #[error("the unit file has no units")]
    Empty,
}

/// A loaded set of administrative units.
#[derive(Debug, Clone, Default)]
pub struct Units {
    units: Vec<Unit>,
    index: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
}

impl Units {
    /// The 63 legacy provinces as province-level units with their 2-digit
    /// GSO codes ("01" Hà Nội … "96" Cà Mau). Used when no file is loaded.
    pub fn builtin_provinces() -> Units {
        let mut units = Units::default();
        for (code3, name) in legacy_provinces() {
            let code = code3.strip_prefix('0').unwrap_or(code3);
            units.push(Unit {
                code: code.to_owned(),
                name: name.to_owned(),
                level: UnitLevel::Province,
                parent_code: None,
            });
        }
        units
    }

    /// Parses a unit list. Every parent must appear before its children
    /// (the reference files are in tree order). Names are NFC-normalised.
    pub fn from_csv(bytes: &[u8]) -> Result<Units, UnitsError> {
        let text = std::str::from_utf8(bytes).map_err(|e| UnitsError::NotUtf8 {
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            offset: e.valid_up_to(),
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.lines().enumerate();
        let header = lines
            .next()
            .map(|(_, l)| l.trim_end_matches('\r'))
            .unwrap_or("");
        if header != "code,name,level,parent_code" {
            return Err(UnitsError::Header {
                found: header.chars().take(80).collect(),
            });
        }
        let mut units = Units::default();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (i, raw) in lines {
            let line = i + 1;
            let raw = raw.trim_end_matches('\r');
            if raw.trim().is_empty() {
                continue;
            }
            let unit = parse_row(raw, line)?;
            if let Some(&first) = first_line.get(&unit.code) {
                return Err(UnitsError::Duplicate {
                    line,
                    code: unit.code,
                    first,
                });
            }
            check_parent(&units, &unit, line)?;
            first_line.insert(unit.code.clone(), line);
            units.push(unit);
        }
        if units.is_empty() {
            return Err(UnitsError::Empty);
        }
        Ok(units)
    }

    fn push(&mut self, unit: Unit) {
        let idx = self.units.len();
        if let Some(parent) = &unit.parent_code {
            self.children.entry(parent.clone()).or_default().push(idx);
        }
        self.index.insert(unit.code.clone(), idx);
        self.units.push(unit);
    }

    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.index.get(code).map(|&i| &self.units[i])
    }

    pub fn contains(&self, code: &str) -> bool {
        self.index.contains_key(code)
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Units in file order (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = &Unit> {
        self.units.iter()
    }

    /// Direct children of `code`, in file order.
    pub fn children(&self, code: &str) -> impl Iterator<Item = &Unit> {
        self.children
            .get(code)
            .into_iter()
            .flatten()
            .map(|&i| &self.units[i])
    }

    /// The units under `code` that have no children of their own (usually
    /// communes), in file order; `code` itself when it has no children.
    pub fn leaves_under(&self, code: &str) -> Vec<&Unit> {
        let mut out = Vec::new();
        let mut stack = vec![code.to_owned()];
        while let Some(c) = stack.pop() {
            match self.children.get(&c) {
                Some(kids) if !kids.is_empty() => {
                    for &k in kids.iter().rev() {
                        stack.push(self.units[k].code.clone());
                    }
                }
                _ => {
                    if let Some(u) = self.get(&c) {
                        out.push(u);
                    }
                }
            }
        }
        out
    }

    /// The province-level ancestor of `code` (itself if it is a province).
    /// Whether `code` is `scope` or a unit under it (bounded walk up the
    /// parents: a malformed list cannot loop).
    pub fn is_within(&self, code: &str, scope: &str) -> bool {
        let mut current = code;
        for _ in 0..8 {
            if current == scope {
                return true;
            }
            match self.get(current).and_then(|u| u.parent_code.as_deref()) {
                Some(parent) => current = parent,
                None => return false,
            }
        }
        false
    }

    pub fn province_of(&self, code: &str) -> Option<&Unit> {
        let mut unit = self.get(code)?;
        for _ in 0..8 {
            match &unit.parent_code {
                None => return Some(unit),
                Some(p) => unit = self.get(p)?,
            }
        }
        None
    }
}

fn parse_row(raw: &str, line: usize) -> Result<Unit, UnitsError> {
    // Unit names never contain commas in the reference data; quoted fields
    // are still accepted for names that might. The plain split is the
    // common, fast case (the list is parsed at every store open).
    let fields: Vec<std::borrow::Cow<'_, str>> = if raw.contains('"') {
        split_csv_row(raw)
            .into_iter()
            .map(std::borrow::Cow::Owned)
            .collect()
    } else {
        raw.split(',').map(std::borrow::Cow::Borrowed).collect()
    };
    if fields.len() != 4 {
        return Err(UnitsError::FieldCount {
            line,
            found: fields.len(),
        });
    }
    let code = fields[0].trim().to_owned();
    if !(2..=5).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UnitsError::BadCode { line, code });
    }
    let name = text::clean(&fields[1]);
    if name.is_empty() || text::has_control(&name) {
        return Err(UnitsError::BadName { line });
    }
    let level_raw = fields[2].trim();
    let level = UnitLevel::parse(level_raw).ok_or_else(|| UnitsError::BadLevel {
        line,
        level: level_raw.to_owned(),
    })?;
    let parent = fields[3].trim();
    let parent_code = (!parent.is_empty()).then(|| parent.to_owned());
    Ok(Unit {
        code,
        name,
        level,
        parent_code,
    })
}

fn check_parent(units: &Units, unit: &Unit, line: usize) -> Result<(), UnitsError> {
    match (&unit.parent_code, unit.level) {
        (Some(p), UnitLevel::Province) => Err(UnitsError::ProvinceWithParent {
            line,
            parent: p.clone(),
        }),
        (None, UnitLevel::Province) => Ok(()),
        (None, level) => Err(UnitsError::MissingParent {
            line,
            level: level.as_str(),
        }),
        (Some(p), level) => {
            let parent = units.get(p).ok_or_else(|| UnitsError::UnknownParent {
                line,
                parent: p.clone(),
            })?;
            if parent.level >= level {
                return Err(UnitsError::ParentLevel {
                    line,
                    level: level.as_str(),
                    parent: p.clone(),
                    parent_level: parent.level.as_str(),
                });
            }
            Ok(())
        }
    }
}

/// Splits one CSV row (RFC 4180 quoting, no embedded newlines).
fn split_csv_row(row: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => in_quotes = false,
            ('"', false) if cur.is_empty() => in_quotes = true,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// The 63 legacy provinces as (3-digit code, short name), in code order.
pub fn legacy_provinces() -> impl Iterator<Item = (&'static str, &'static str)> {
    LEGACY_PROVINCES_CSV
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
}

/// Name of the legacy province whose 3-digit code begins personal ID
/// numbers, e.g. `"074"` → `"Bình Dương"`. A table lookup: this runs for
/// every record validated.
pub fn legacy_province_name(code3: &str) -> Option<&'static str> {
    static TABLE: std::sync::LazyLock<Vec<Option<&'static str>>> = std::sync::LazyLock::new(|| {
        let mut table = vec![None; 1000];
        for (code, name) in legacy_provinces() {
            if let Ok(i) = code.parse::<usize>()
                && let Some(slot) = table.get_mut(i)
            {
                *slot = Some(name);
            }
        }
        table
    });
    if code3.len() != 3 || !code3.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code3
        .parse::<usize>()
        .ok()
        .and_then(|i| TABLE.get(i).copied().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_63_legacy_provinces() {
        assert_eq!(legacy_provinces().count(), 63);
        assert_eq!(legacy_province_name("074"), Some("Bình Dương"));
        assert_eq!(legacy_province_name("003"), None, "codes are sparse");
        let units = Units::builtin_provinces();
        assert_eq!(units.len(), 63);
        assert_eq!(units.get("74").map(|u| u.name.as_str()), Some("Bình Dương"));
    }

    const SMALL: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n725,Thành phố Thuận An,district,74\n25972,Phường Thuận Giao,commune,725\n25975,Phường  An Phú,commune,725\n";

    #[test]
    fn within_walks_up_the_parents() {
        let units = Units::from_csv(SMALL.as_bytes()).unwrap();
        assert!(units.is_within("25972", "74"));
        assert!(units.is_within("25972", "725"));
        assert!(units.is_within("725", "725"));
        assert!(
            !units.is_within("74", "725"),
            "a province is not within its district"
        );
        assert!(!units.is_within("25972", "25975"), "siblings");
        assert!(!units.is_within("99999", "74"), "unknown unit");
    }

    #[test]
    fn parses_tree_and_finds_leaves() {
        let units = Units::from_csv(SMALL.as_bytes()).unwrap();
        assert_eq!(units.len(), 4);
        let leaves: Vec<_> = units
            .leaves_under("74")
            .iter()
            .map(|u| u.code.clone())
            .collect();
        assert_eq!(leaves, ["25972", "25975"]);
        assert_eq!(units.get("25975").unwrap().name, "Phường An Phú");
        assert_eq!(units.province_of("25972").unwrap().code, "74");
        assert_eq!(units.children("725").count(), 2);
    }

    #[test]
    fn refuses_bad_files_with_line_numbers() {
        let err = |s: &str| Units::from_csv(s.as_bytes()).unwrap_err();
        assert!(matches!(err("id,name\n"), UnitsError::Header { .. }));
        assert!(matches!(
            err("code,name,level,parent_code\n74,X,state,\n"),
            UnitsError::BadLevel { line: 2, .. }
        ));
        assert!(matches!(
            err("code,name,level,parent_code\n74,X,province,\n74,Y,province,\n"),
            UnitsError::Duplicate {
                line: 3,
                first: 2,
                ..
            }
        ));
        assert!(matches!(
            err("code,name,level,parent_code\n725,X,district,74\n"),
            UnitsError::UnknownParent { line: 2, .. }
        ));
        assert!(matches!(
            err(
                "code,name,level,parent_code\n74,X,province,\n25972,Y,commune,74\n725,Z,district,25972\n"
            ),
            UnitsError::ParentLevel { line: 4, .. }
        ));
        assert!(matches!(
            err("code,name,level,parent_code\n7a,X,province,\n"),
            UnitsError::BadCode { line: 2, .. }
        ));
        assert_eq!(err("code,name,level,parent_code\n"), UnitsError::Empty);
        assert!(matches!(
            Units::from_csv(b"code,name,level,parent_code\n74,T\xeanh,province,\n").unwrap_err(),
            UnitsError::NotUtf8 { line: 2, .. }
        ));
    }

    #[test]
    fn accepts_bom_and_crlf() {
        let text = format!("\u{feff}{}", SMALL.replace('\n', "\r\n"));
        assert_eq!(Units::from_csv(text.as_bytes()).unwrap().len(), 4);
    }
}
