//! Finding a unit by what an officer types: words of its name or of its
//! parents' names, without accents or case ("phu cuong thu dau mot"
//! finds "Phường Phú Cường, Thành phố Thủ Dầu Một"), or its code.

use crate::text::fold_key;
use crate::units::{Unit, UnitLevel, Units};

/// A unit found, with its full name ("Phường Phú Cường, Thành phố Thủ Dầu
/// Một, Tỉnh Bình Dương").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitMatch<'a> {
    pub unit: &'a Unit,
    pub path: String,
}

/// The unit's name followed by its parents', innermost first.
pub fn unit_path(units: &Units, code: &str) -> Option<String> {
    let mut unit = units.get(code)?;
    let mut names = vec![unit.name.as_str()];
    // Bounded: a malformed list cannot loop.
    for _ in 0..8 {
        match unit.parent_code.as_deref().and_then(|p| units.get(p)) {
            Some(parent) => {
                names.push(parent.name.as_str());
                unit = parent;
            }
            None => break,
        }
    }
    Some(names.join(", "))
}

/// The units with their full names, folded for searching once (a list has
/// about 11,000 units; typing searches it at every key).
#[derive(Debug, Clone, Default)]
pub struct UnitIndex {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    code: String,
    path: String,
    folded_path: String,
    folded_name: String,
}

impl UnitIndex {
    pub fn new(units: &Units) -> UnitIndex {
        let entries = units
            .iter()
            .map(|unit| {
                let path = unit_path(units, &unit.code).unwrap_or_else(|| unit.name.clone());
                Entry {
                    code: unit.code.clone(),
                    folded_path: fold_key(&path),
                    folded_name: fold_key(&unit.name),
                    path,
                }
            })
            .collect();
        UnitIndex { entries }
    }

    /// Units matching every word of `query` (accent- and case-insensitive,
    /// against the full path) or whose code starts with it. Ordered: units
    /// within `home` first, communes before districts before provinces, a
    /// name starting with the query first, then by path. An empty query
    /// lists the communes within `home`.
    pub fn search<'a>(
        &self,
        units: &'a Units,
        query: &str,
        home: Option<&str>,
        limit: usize,
    ) -> Vec<UnitMatch<'a>> {
        let key = fold_key(query);
        let words: Vec<&str> = key.split(' ').filter(|w| !w.is_empty()).collect();
        let within = |u: &Unit| home.is_some_and(|h| units.is_within(&u.code, h));
        let mut found: Vec<(bool, u8, bool, &str, &Unit)> = Vec::new();
        for entry in &self.entries {
            let Some(unit) = units.get(&entry.code) else {
                continue;
            };
            let matches = if words.is_empty() {
                within(unit) && unit.level == UnitLevel::Commune
            } else if words.len() == 1 && unit.code.starts_with(words[0]) {
                true
            } else {
                words.iter().all(|w| entry.folded_path.contains(w))
            };
            if !matches {
                continue;
            }
            let level = match unit.level {
                UnitLevel::Commune => 0,
                UnitLevel::District => 1,
                UnitLevel::Province => 2,
            };
            let starts = !key.is_empty() && name_starts_with(&entry.folded_name, &key);
            found.push((!within(unit), level, !starts, &entry.path, unit));
        }
        found.sort_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
        found
            .into_iter()
            .take(limit)
            .map(|(_, _, _, path, unit)| UnitMatch {
                unit,
                path: path.to_owned(),
            })
            .collect()
    }
}

/// [`UnitIndex::search`] without keeping the index (one search).
pub fn search_units<'a>(
    units: &'a Units,
    query: &str,
    home: Option<&str>,
    limit: usize,
) -> Vec<UnitMatch<'a>> {
    UnitIndex::new(units).search(units, query, home, limit)
}

/// Whether the folded name without its kind word ("phuong", "xa", "thanh
/// pho"…) or the whole name starts with the folded query.
fn name_starts_with(folded: &str, folded_query: &str) -> bool {
    if folded.starts_with(folded_query) {
        return true;
    }
    const KINDS: &[&str] = &[
        "phuong ",
        "xa ",
        "thi tran ",
        "quan ",
        "huyen ",
        "thi xa ",
        "thanh pho ",
        "tinh ",
    ];
    KINDS
        .iter()
        .filter_map(|k| folded.strip_prefix(k))
        .any(|rest| rest.starts_with(folded_query))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CSV: &str = "code,name,level,parent_code
74,Tỉnh Bình Dương,province,
718,Thành phố Thủ Dầu Một,district,74
25747,Phường Phú Cường,commune,718
25750,Phường Phú Hòa,commune,718
721,Thị xã Bến Cát,district,74
25813,Phường Mỹ Phước,commune,721
79,Thành phố Hồ Chí Minh,province,
760,Quận 1,district,79
26734,Phường Bến Nghé,commune,760
";

    fn units() -> Units {
        Units::from_csv(CSV.as_bytes()).unwrap()
    }

    fn codes(found: &[UnitMatch<'_>]) -> Vec<String> {
        found.iter().map(|m| m.unit.code.clone()).collect()
    }

    #[test]
    fn words_without_accents_find_the_unit() {
        let u = units();
        assert_eq!(codes(&search_units(&u, "phu cuong", None, 10)), ["25747"]);
        assert_eq!(codes(&search_units(&u, "PHÚ CƯỜNG", None, 10)), ["25747"]);
        // Words of a parent narrow the search.
        assert_eq!(
            codes(&search_units(&u, "phu thu dau mot", None, 10)),
            ["25747", "25750"]
        );
        assert!(search_units(&u, "phu cuong ben cat", None, 10).is_empty());
    }

    #[test]
    fn d_with_stroke_is_d() {
        let u = units();
        assert_eq!(codes(&search_units(&u, "thu dau", None, 10))[0], "25747");
        assert_eq!(
            codes(&search_units(&u, "Thủ Dầu Một", None, 10)),
            codes(&search_units(&u, "thu dau mot", None, 10))
        );
    }

    #[test]
    fn home_units_come_first_and_communes_before_districts() {
        let u = units();
        let found = codes(&search_units(&u, "ben", Some("79"), 10));
        assert_eq!(found, ["26734", "25813", "721"]);
        let found = codes(&search_units(&u, "ben", Some("74"), 10));
        assert_eq!(found, ["25813", "721", "26734"]);
    }

    #[test]
    fn empty_query_lists_home_communes_and_codes_match_by_prefix() {
        let u = units();
        assert_eq!(
            codes(&search_units(&u, "", Some("718"), 10)),
            ["25747", "25750"]
        );
        assert!(search_units(&u, "", None, 10).is_empty());
        assert_eq!(codes(&search_units(&u, "2581", None, 10)), ["25813"]);
        assert_eq!(search_units(&u, "phu", None, 1).len(), 1);
    }

    #[test]
    fn path_names_parents() {
        let u = units();
        assert_eq!(
            unit_path(&u, "25747").unwrap(),
            "Phường Phú Cường, Thành phố Thủ Dầu Một, Tỉnh Bình Dương"
        );
        assert_eq!(unit_path(&u, "74").unwrap(), "Tỉnh Bình Dương");
        assert!(unit_path(&u, "1").is_none());
    }
}
