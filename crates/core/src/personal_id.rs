//! The 12-digit personal identification number (số định danh cá nhân):
//! `PPP C YY RRRRRR` — province of birth registration (one of the 63 legacy
//! codes), century/sex digit, last two digits of the birth year, random.
//! There is no checksum.

use chrono::{Datelike, NaiveDate};

use crate::record::Sex;
use crate::units::legacy_province_name;

/// What is wrong with a personal ID number, checked against the stated
/// date of birth and sex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonalIdProblem {
    /// Not exactly 12 ASCII digits.
    Format,
    /// The first three digits are not one of the 63 legacy province codes.
    UnknownProvince(String),
    /// The 4th digit does not match sex and birth century.
    CenturySex { digit: u8, expected: u8 },
    /// Digits 5–6 are not the birth year's last two digits.
    Year { found: String, expected: String },
}

/// Checks only the shape and the province code.
pub fn check_format(id: &str) -> Result<(), PersonalIdProblem> {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PersonalIdProblem::Format);
    }
    let province = &id[..3];
    if legacy_province_name(province).is_none() {
        return Err(PersonalIdProblem::UnknownProvince(province.to_owned()));
    }
    Ok(())
}

/// The century/sex digit for a birth year and sex: 0/1 for 1900–1999,
/// 2/3 for 2000–2099, … (even male, odd female). `None` before 1900 or
/// after 2399, where no digit exists.
pub fn century_sex_digit(birth_year: i32, sex: Sex) -> Option<u8> {
    if !(1900..=2399).contains(&birth_year) {
        return None;
    }
    let century = u8::try_from((birth_year - 1900) / 100).ok()?;
    Some(century * 2 + u8::from(sex == Sex::Female))
}

/// Checks the number against the date of birth and sex. Returns every
/// problem found (a number can have a wrong sex digit and a wrong year).
pub fn check_consistency(id: &str, birth: NaiveDate, sex: Sex) -> Vec<PersonalIdProblem> {
    let mut problems = Vec::new();
    if let Err(p) = check_format(id) {
        problems.push(p);
        if !matches!(problems[0], PersonalIdProblem::UnknownProvince(_)) {
            return problems;
        }
    }
    let digit = id.as_bytes()[3] - b'0';
    if let Some(expected) = century_sex_digit(birth.year(), sex)
        && digit != expected
    {
        problems.push(PersonalIdProblem::CenturySex { digit, expected });
    }
    let expected_yy = format!("{:02}", birth.year().rem_euclid(100));
    if id[4..6] != expected_yy {
        problems.push(PersonalIdProblem::Year {
            found: id[4..6].to_owned(),
            expected: expected_yy,
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn consistent_number_passes() {
        assert!(check_consistency("074303001234", d(2003, 5, 14), Sex::Female).is_empty());
        assert!(check_consistency("001085012345", d(1985, 1, 1), Sex::Male).is_empty());
    }

    #[test]
    fn format_and_province() {
        assert_eq!(check_format("07430300123"), Err(PersonalIdProblem::Format));
        assert_eq!(check_format("07430300123a"), Err(PersonalIdProblem::Format));
        assert_eq!(
            check_format("003303001234"),
            Err(PersonalIdProblem::UnknownProvince("003".into()))
        );
    }

    #[test]
    fn century_sex_digit_rule() {
        assert_eq!(century_sex_digit(1999, Sex::Male), Some(0));
        assert_eq!(century_sex_digit(1950, Sex::Female), Some(1));
        assert_eq!(century_sex_digit(2000, Sex::Male), Some(2));
        assert_eq!(century_sex_digit(2003, Sex::Female), Some(3));
        assert_eq!(century_sex_digit(1899, Sex::Female), None);
        let p = check_consistency("074203001234", d(2003, 5, 14), Sex::Female);
        assert_eq!(
            p,
            vec![PersonalIdProblem::CenturySex {
                digit: 2,
                expected: 3
            }]
        );
    }

    #[test]
    fn year_digits_must_match() {
        let p = check_consistency("074304001234", d(2003, 5, 14), Sex::Female);
        assert_eq!(
            p,
            vec![PersonalIdProblem::Year {
                found: "04".into(),
                expected: "03".into()
            }]
        );
    }
}
