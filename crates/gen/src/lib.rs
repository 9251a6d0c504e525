#![forbid(unsafe_code)]
//! Deterministic, realistic synthetic enrollment records for Doorstep.
//!
//! The [`Generator`] produces an infinite stream of `serde_json::Value` objects, each one
//! describing a door-to-door visit by a police team: a chip ID card application, an e-ID
//! (VNeID) registration or activation, a driver licence link, or an information
//! correction request. The library performs no I/O; the CLI prints the records as NDJSON.
//!
//! # Record shape
//!
//! Every record has `kind`, `citizen` (`personal_id`, `full_name`, `date_of_birth`, `sex`,
//! optional `phone`, `permanent_address`, optional `current_address`), `visit` (`place`,
//! optional `reason`, `unit_code`, `at`) and `officer_id`. Depending on the kind it also
//! carries `eid_level`, `under_14_request: true` (rare child ID card applications, at the
//! top level of the record), `driver_license: {"number"}` or
//! `correction: {"fields", "note"}`. Personal ID numbers (`PPP C YY RRRRRR`) are always
//! consistent with the date of birth and sex; all strings are NFC.
//!
//! # Determinism
//!
//! All randomness comes from a single sequential `ChaCha8Rng` stream seeded with
//! [`GenOptions::seed`]. The same options therefore give the same sequence of records on
//! every machine, and the first `n` records of a run are a prefix of any longer run with
//! the same options.
//!
//! ```
//! use chrono::NaiveDate;
//! use doorstep_gen::{GenOptions, Generator};
//!
//! let opts = GenOptions {
//!     seed: 42,
//!     kind: None,
//!     units: vec!["25972".to_owned()],
//!     home_province: "074".to_owned(),
//!     all_provinces: vec!["001".to_owned(), "074".to_owned(), "079".to_owned()],
//!     visit_from: NaiveDate::from_ymd_opt(2023, 7, 25).unwrap(),
//!     visit_to: NaiveDate::from_ymd_opt(2023, 9, 25).unwrap(),
//! };
//! let records: Vec<_> = Generator::new(opts).unwrap().take(3).collect();
//! assert_eq!(records.len(), 3);
//! assert!(records[0]["citizen"]["personal_id"].is_string());
//! ```

pub mod attachments;
mod tables;

use std::fmt;

use chrono::{Datelike, Days, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use unicode_normalization::{UnicodeNormalization, is_nfc};

use tables::{AgeTable, Place, Reason};

/// Earliest visit date accepted by [`Generator::new`]: leaves room for citizens aged
/// 14+ born in or after 1900.
const MIN_VISIT_DATE: (i32, u32, u32) = (1920, 1, 1);
/// Latest visit date accepted by [`Generator::new`]: keeps every birth year within the
/// range covered by the century digits 0–3 of the personal ID number (1900–2099).
const MAX_VISIT_DATE: (i32, u32, u32) = (2099, 12, 31);
/// Number of officers in the pool drawn at construction.
const OFFICER_POOL_SIZE: usize = 24;

/// Options controlling the generated stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenOptions {
    /// Seed of the random stream; the same options always give the same records.
    pub seed: u64,
    /// Restrict to one record kind; None = realistic mix.
    pub kind: Option<RecordKind>,
    /// Unit codes where visits happen and addresses lie (commune codes, e.g. "25972"); at
    /// least one.
    pub units: Vec<String>,
    /// 3-digit legacy province code of the area (e.g. "074" for Bình Dương): most
    /// citizens' ID numbers start with it.
    pub home_province: String,
    /// All 63 legacy 3-digit province codes (e.g. "001","002","004",...): the rest of the
    /// ID numbers are spread over them (migrant workers etc.).
    pub all_provinces: Vec<String>,
    /// First day of the visit window (inclusive local date, Vietnam time +07:00).
    /// Default used by the CLI: 2023-07-25.
    pub visit_from: NaiveDate,
    /// Last day of the visit window (inclusive local date, Vietnam time +07:00).
    /// Default used by the CLI: 2023-09-25.
    pub visit_to: NaiveDate,
}

/// The kind of enrollment record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Application for a chip ID card (CCCD).
    IdCardApplication,
    /// Registration of an e-ID (VNeID) account.
    EidRegistration,
    /// Activation of an e-ID (VNeID) account.
    EidActivation,
    /// Linking a driver licence to the e-ID account.
    DriverLicenseLink,
    /// Request to correct information in the national population database.
    InfoCorrection,
}

impl RecordKind {
    /// Every kind, in canonical order.
    pub const ALL: [RecordKind; 5] = [
        RecordKind::IdCardApplication,
        RecordKind::EidRegistration,
        RecordKind::EidActivation,
        RecordKind::DriverLicenseLink,
        RecordKind::InfoCorrection,
    ];

    /// The wire name used in the `kind` field, e.g. `"id_card_application"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::IdCardApplication => "id_card_application",
            RecordKind::EidRegistration => "eid_registration",
            RecordKind::EidActivation => "eid_activation",
            RecordKind::DriverLicenseLink => "driver_license_link",
            RecordKind::InfoCorrection => "info_correction",
        }
    }

    /// Parses a wire name (as returned by [`RecordKind::as_str`]). ASCII case is ignored
    /// and `-` is accepted in place of `_` (so `id-card-application` works on a command
    /// line). Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        RecordKind::ALL.into_iter().find(|k| {
            let name = k.as_str();
            name.len() == s.len()
                && name.bytes().zip(s.bytes()).all(|(a, b)| {
                    let b = if b == b'-' {
                        b'_'
                    } else {
                        b.to_ascii_lowercase()
                    };
                    a == b
                })
        })
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Invalid [`GenOptions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenError {
    /// `units` is empty or contains an empty code.
    NoUnits,
    /// `all_provinces` is empty, or `home_province` or an entry of `all_provinces` is not
    /// a 3-digit code.
    NoProvinces,
    /// `visit_from` is after `visit_to`, or the window is not within
    /// 1920-01-01 ..= 2099-12-31 (the range where realistic birth dates with a valid
    /// personal-ID century digit exist).
    BadWindow,
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GenError::NoUnits => "at least one non-empty unit code is required",
            GenError::NoProvinces => {
                "a 3-digit home province and at least one 3-digit province code are required"
            }
            GenError::BadWindow => {
                "visit window is invalid: visit_from must not be after visit_to, and both must lie within 1920-01-01..=2099-12-31"
            }
        })
    }
}

impl std::error::Error for GenError {}

/// Infinite, deterministic stream of synthetic enrollment records.
///
/// Use [`Generator::next_record`] or the [`Iterator`] implementation (which never
/// returns `None`; combine it with `take`).
#[derive(Clone, Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    opts: GenOptions,
    /// Two-digit province part of officer IDs and driver licence numbers, e.g. "74".
    province2: String,
    officers: Vec<String>,
    /// Number of days in the visit window minus one.
    window_days: u32,
}

fn is_province_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Generator {
    /// Validates the options and prepares a generator. The officer pool is drawn here,
    /// as the first values of the random stream.
    pub fn new(opts: GenOptions) -> Result<Self, GenError> {
        if opts.units.is_empty() || opts.units.iter().any(|u| u.is_empty()) {
            return Err(GenError::NoUnits);
        }
        if opts.all_provinces.is_empty()
            || !is_province_code(&opts.home_province)
            || !opts.all_provinces.iter().all(|p| is_province_code(p))
        {
            return Err(GenError::NoProvinces);
        }
        let (min_y, min_m, min_d) = MIN_VISIT_DATE;
        let (max_y, max_m, max_d) = MAX_VISIT_DATE;
        let (Some(min), Some(max)) = (
            NaiveDate::from_ymd_opt(min_y, min_m, min_d),
            NaiveDate::from_ymd_opt(max_y, max_m, max_d),
        ) else {
            return Err(GenError::BadWindow);
        };
        if opts.visit_from > opts.visit_to || opts.visit_from < min || opts.visit_to > max {
            return Err(GenError::BadWindow);
        }
        let window_days = u32::try_from((opts.visit_to - opts.visit_from).num_days())
            .map_err(|_| GenError::BadWindow)?;

        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let province2 = opts.home_province.get(1..).unwrap_or("00").to_owned();
        let mut numbers: Vec<u32> = Vec::with_capacity(OFFICER_POOL_SIZE);
        while numbers.len() < OFFICER_POOL_SIZE {
            let n = rng.random_range(1..2000u32);
            if !numbers.contains(&n) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        let officers = numbers
            .into_iter()
            .map(|n| format!("CA-{province2}-{n:04}"))
            .collect();

        Ok(Generator {
            rng,
            opts,
            province2,
            officers,
            window_days,
        })
    }

    /// The options this generator was built with.
    pub fn options(&self) -> &GenOptions {
        &self.opts
    }

    /// Produces the next record of the stream.
    pub fn next_record(&mut self) -> Value {
        // 1. Kind.
        let kind = match self.opts.kind {
            Some(k) => k,
            None => pick_or(
                &mut self.rng,
                tables::KIND_MIX,
                RecordKind::IdCardApplication,
            ),
        };
        let under_14 = kind == RecordKind::IdCardApplication && self.chance(10);

        // 2. Place and reason of the visit.
        let place = if under_14 {
            if self.chance(700) {
                Place::Home
            } else {
                Place::MobilePoint
            }
        } else {
            pick(&mut self.rng, tables::PLACE_MIX)
        };
        let reason = self.reason_for(place, under_14);

        // 3. Date and time of the visit.
        let day = self.rng.random_range(0..=self.window_days);
        let visit_date = self
            .opts
            .visit_from
            .checked_add_days(Days::new(u64::from(day)))
            .unwrap_or(self.opts.visit_from);
        let (hour_lo, hour_hi) = match place {
            Place::BoardingHouse if self.chance(600) => (17, 21),
            Place::Workplace => (7, 17),
            _ => (7, 21),
        };
        let hour = self.rng.random_range(hour_lo..hour_hi);
        let minute = self.rng.random_range(0..60u32);

        // 4. Who: sex, age, date of birth.
        let female = self.rng.random_bool(0.5);
        let ages: AgeTable = if under_14 {
            tables::AGE_CHILD
        } else {
            match reason {
                Some(Reason::Elderly) => tables::AGE_ELDERLY,
                Some(Reason::Bedridden) => tables::AGE_BEDRIDDEN,
                Some(Reason::Disabled) if kind != RecordKind::DriverLicenseLink => {
                    tables::AGE_DISABLED
                }
                Some(Reason::Worker | Reason::TemporaryResident) => tables::AGE_WORKING,
                _ if kind == RecordKind::DriverLicenseLink => tables::AGE_ADULT,
                _ => tables::AGE_GENERAL,
            }
        };
        let (lo, hi) = pick(&mut self.rng, ages);
        let age = self.rng.random_range(lo..=hi);
        // Never born before 1900 (the window is validated so that this keeps age >= 18).
        let max_age = u32::try_from(visit_date.year() - 1901).unwrap_or(0);
        let age = age.min(max_age);
        let dob = self.birth_date(visit_date, age);

        // 5. Identity.
        let personal_id = self.personal_id(dob, female);
        let full_name = self.full_name(female);
        let phone = match kind {
            RecordKind::EidRegistration | RecordKind::EidActivation => Some(self.phone()),
            _ if self.chance(800) => Some(self.phone()),
            _ => None,
        };

        // 6. Addresses and visit unit.
        let visit_unit = self.unit().to_owned();
        let current_unit = if self.chance(900) {
            visit_unit.clone()
        } else {
            self.unit().to_owned()
        };
        let (permanent, current) = if place == Place::BoardingHouse {
            let perm_unit = if self.chance(650) {
                self.other_unit(&current_unit)
            } else {
                current_unit.clone()
            };
            let perm = address(perm_unit, self.address_detail());
            let cur = address(current_unit, self.boarding_detail());
            (perm, Some(cur))
        } else {
            let roll = self.rng.random_range(0..1000u32);
            if roll < 200 {
                // Same as permanent: omitted.
                (address(current_unit, self.address_detail()), None)
            } else if roll < 650 {
                // Same as permanent, written out.
                let detail = self.address_detail();
                let perm = address(current_unit.clone(), detail.clone());
                (perm, Some(address(current_unit, detail)))
            } else {
                // Lives elsewhere than the registered permanent address.
                let perm_unit = if self.chance(500) {
                    current_unit.clone()
                } else {
                    self.unit().to_owned()
                };
                let perm = address(perm_unit, self.address_detail());
                (perm, Some(address(current_unit, self.address_detail())))
            }
        };

        // 7. Officer and kind-specific parts.
        let officer = self.officer();
        let eid_level: Option<u8> = match kind {
            RecordKind::EidRegistration => Some(if self.chance(850) { 2 } else { 1 }),
            RecordKind::EidActivation if self.chance(700) => {
                Some(if self.chance(900) { 2 } else { 1 })
            }
            RecordKind::IdCardApplication if !under_14 && self.chance(300) => Some(2),
            _ => None,
        };
        let driver_license = (kind == RecordKind::DriverLicenseLink).then(|| {
            let hi = self.rng.random_range(0..100_000u32);
            let lo = self.rng.random_range(0..100_000u32);
            format!("{}{hi:05}{lo:05}", self.province2)
        });
        let correction = (kind == RecordKind::InfoCorrection).then(|| self.correction());

        // 8. Assemble.
        let mut citizen = Map::new();
        citizen.insert("personal_id".into(), Value::String(personal_id));
        citizen.insert("full_name".into(), Value::String(full_name));
        citizen.insert("date_of_birth".into(), Value::String(dob.to_string()));
        citizen.insert(
            "sex".into(),
            Value::from(if female { "female" } else { "male" }),
        );
        if let Some(phone) = phone {
            citizen.insert("phone".into(), Value::String(phone));
        }
        citizen.insert("permanent_address".into(), permanent);
        if let Some(current) = current {
            citizen.insert("current_address".into(), current);
        }

        let mut visit = Map::new();
        visit.insert("place".into(), Value::from(place.as_str()));
        if let Some(reason) = reason {
            visit.insert("reason".into(), Value::from(reason.as_str()));
        }
        visit.insert("unit_code".into(), Value::String(visit_unit));
        visit.insert(
            "at".into(),
            Value::String(format!("{visit_date}T{hour:02}:{minute:02}:00+07:00")),
        );

        let mut record = Map::new();
        record.insert("kind".into(), Value::from(kind.as_str()));
        record.insert("citizen".into(), Value::Object(citizen));
        record.insert("visit".into(), Value::Object(visit));
        record.insert("officer_id".into(), Value::String(officer));
        if let Some(level) = eid_level {
            record.insert("eid_level".into(), Value::from(level));
        }
        if under_14 {
            record.insert("under_14_request".into(), Value::Bool(true));
        }
        if let Some(number) = driver_license {
            let mut dl = Map::new();
            dl.insert("number".into(), Value::String(number));
            record.insert("driver_license".into(), Value::Object(dl));
        }
        if let Some(correction) = correction {
            record.insert("correction".into(), correction);
        }
        Value::Object(record)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u32) -> bool {
        self.rng.random_range(0..1000u32) < per_mille
    }

    fn reason_for(&mut self, place: Place, under_14: bool) -> Option<Reason> {
        match place {
            Place::Hospital => Some(pick(&mut self.rng, tables::HOSPITAL_REASONS)),
            Place::Home if under_14 => self.chance(50).then_some(Reason::Disabled),
            Place::Home => self
                .chance(100)
                .then(|| pick(&mut self.rng, tables::HOME_REASONS)),
            Place::Workplace => Some(Reason::Worker),
            Place::BoardingHouse => Some(Reason::TemporaryResident),
            Place::MobilePoint | Place::Station | Place::Other if under_14 => None,
            Place::MobilePoint | Place::Station | Place::Other => self
                .chance(50)
                .then(|| pick(&mut self.rng, tables::MISC_REASONS)),
        }
    }

    /// A birth date such that the age on `visit` is exactly `age` years.
    fn birth_date(&mut self, visit: NaiveDate, age: u32) -> NaiveDate {
        let offset = self.rng.random_range(0..365u64);
        let year = visit.year() - i32::try_from(age).unwrap_or(0);
        // Last birthday: same month/day `age` years earlier (29 Feb falls back to 28 Feb).
        let anniversary = NaiveDate::from_ymd_opt(year, visit.month(), visit.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, visit.month(), 28));
        anniversary
            .and_then(|a| a.checked_sub_days(Days::new(offset)))
            .unwrap_or(visit)
    }

    /// `PPP C YY RRRRRR`.
    fn personal_id(&mut self, dob: NaiveDate, female: bool) -> String {
        let province = if self.chance(750) {
            self.opts.home_province.as_str()
        } else {
            choose_string(&mut self.rng, &self.opts.all_provinces)
        };
        let year = dob.year();
        let century = (year / 100 - 19) * 2 + i32::from(female);
        let yy = year.rem_euclid(100);
        let serial = self.rng.random_range(0..1_000_000u32);
        format!("{province}{century}{yy:02}{serial:06}")
    }

    fn full_name(&mut self, female: bool) -> String {
        let family = pick(&mut self.rng, tables::FAMILY_NAMES);
        let (middles, given_names) = if female {
            (tables::FEMALE_MIDDLE, tables::FEMALE_GIVEN)
        } else {
            (tables::MALE_MIDDLE, tables::MALE_GIVEN)
        };
        let first_middle = pick(&mut self.rng, middles);
        let second_middle = if self.chance(120) {
            let m = pick(&mut self.rng, middles);
            (m != first_middle).then_some(m)
        } else {
            None
        };
        let mut given = choose(&mut self.rng, given_names);
        if given == first_middle || Some(given) == second_middle {
            given = choose(&mut self.rng, given_names);
        }
        let mut name = String::with_capacity(40);
        name.push_str(family);
        name.push(' ');
        name.push_str(first_middle);
        if let Some(m) = second_middle {
            name.push(' ');
            name.push_str(m);
        }
        name.push(' ');
        name.push_str(given);
        if is_nfc(&name) {
            name
        } else {
            name.nfc().collect()
        }
    }

    fn phone(&mut self) -> String {
        let prefix = pick(&mut self.rng, tables::PHONE_PREFIXES);
        let rest = self.rng.random_range(0..10_000_000u32);
        format!("{prefix}{rest:07}")
    }

    fn unit(&mut self) -> &str {
        choose_string(&mut self.rng, &self.opts.units)
    }

    /// A unit different from `not` when the list allows it.
    fn other_unit(&mut self, not: &str) -> String {
        let units = &self.opts.units;
        if units.iter().all(|u| u == not) {
            return choose_string(&mut self.rng, units).to_owned();
        }
        // Bounded retries keep the stream deterministic; fall back to the first other unit.
        for _ in 0..8 {
            let i = index(&mut self.rng, units.len());
            if units[i] != not {
                return units[i].clone();
            }
        }
        units
            .iter()
            .find(|u| u.as_str() != not)
            .map_or_else(|| not.to_owned(), String::clone)
    }

    fn address_detail(&mut self) -> String {
        let rng = &mut self.rng;
        match rng.random_range(0..6u32) {
            0 | 1 => {
                let n = rng.random_range(1..400u32);
                let street = choose(rng, tables::STREETS);
                format!("Số {n}, đường {street}")
            }
            2 => {
                let n = rng.random_range(1..120u32);
                let m = rng.random_range(1..40u32);
                let street = choose(rng, tables::STREETS);
                format!("Số {n}/{m}, đường {street}")
            }
            3 => {
                let to = rng.random_range(1..30u32);
                let kp = rng.random_range(1..12u32);
                format!("Tổ {to}, khu phố {kp}")
            }
            4 => {
                let hamlet = choose(rng, tables::HAMLETS);
                if rng.random_bool(0.4) {
                    let suffix = choose(rng, tables::HAMLET_SUFFIXES);
                    format!("Ấp {hamlet} {suffix}")
                } else {
                    format!("Ấp {hamlet}")
                }
            }
            _ => {
                let xom = rng.random_range(1..15u32);
                let hamlet = choose(rng, tables::HAMLETS);
                format!("Xóm {xom}, thôn {hamlet}")
            }
        }
    }

    fn boarding_detail(&mut self) -> String {
        let rng = &mut self.rng;
        let room = rng.random_range(1..40u32);
        let kind = choose(rng, tables::BOARDING_KINDS);
        let name = choose(rng, tables::BOARDING_NAMES);
        format!("Phòng {room}, {kind} {name}")
    }

    fn officer(&mut self) -> String {
        choose_string(&mut self.rng, &self.officers).to_owned()
    }

    fn correction(&mut self) -> Value {
        let n = tables::CORRECTION_FIELDS.len();
        let first = index(&mut self.rng, n);
        let mut fields = vec![Value::from(tables::CORRECTION_FIELDS[first])];
        if self.chance(250) {
            let second = (first + 1 + index(&mut self.rng, n - 1)) % n;
            fields.push(Value::from(tables::CORRECTION_FIELDS[second]));
        }
        let notes = tables::CORRECTION_NOTES.get(first).copied().unwrap_or(&[]);
        let note = if notes.is_empty() {
            "Đề nghị điều chỉnh thông tin"
        } else {
            choose(&mut self.rng, notes)
        };
        let mut correction = Map::new();
        correction.insert("fields".into(), Value::Array(fields));
        correction.insert("note".into(), Value::from(note));
        Value::Object(correction)
    }
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        Some(self.next_record())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl std::iter::FusedIterator for Generator {}

fn address(unit_code: String, detail: String) -> Value {
    let mut m = Map::new();
    m.insert("unit_code".into(), Value::String(unit_code));
    m.insert("detail".into(), Value::String(detail));
    Value::Object(m)
}

/// Uniform index in `0..len`; `len` must be non-zero (callers only pass non-empty
/// lengths). Sampled as `u32` so the stream does not depend on the platform's `usize`.
fn index(rng: &mut ChaCha8Rng, len: usize) -> usize {
    let len = u32::try_from(len).unwrap_or(u32::MAX).max(1);
    rng.random_range(0..len) as usize
}

fn choose<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    let i = index(rng, items.len());
    items.get(i).copied().unwrap_or_default()
}

fn choose_string<'a>(rng: &mut ChaCha8Rng, items: &'a [String]) -> &'a str {
    let i = index(rng, items.len());
    items.get(i).map_or("", String::as_str)
}

/// Weighted choice from a `(value, weight)` table (all tables are non-empty constants
/// with positive weights, checked by unit tests).
fn pick<T: Copy + Default>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    pick_or(rng, table, T::default())
}

/// Weighted choice; `fallback` is only returned for an empty table.
fn pick_or<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)], fallback: T) -> T {
    let total: u32 = table.iter().map(|&(_, w)| w).sum();
    let mut r = rng.random_range(0..total.max(1));
    let mut last = fallback;
    for &(value, weight) in table {
        if r < weight {
            return value;
        }
        r -= weight;
        last = value;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_table_strings() -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        v.extend(tables::FAMILY_NAMES.iter().map(|&(s, _)| s));
        v.extend(tables::MALE_MIDDLE.iter().map(|&(s, _)| s));
        v.extend(tables::FEMALE_MIDDLE.iter().map(|&(s, _)| s));
        v.extend(tables::MALE_GIVEN);
        v.extend(tables::FEMALE_GIVEN);
        v.extend(tables::PHONE_PREFIXES.iter().map(|&(s, _)| s));
        v.extend(tables::STREETS);
        v.extend(tables::HAMLETS);
        v.extend(tables::HAMLET_SUFFIXES);
        v.extend(tables::BOARDING_NAMES);
        v.extend(tables::BOARDING_KINDS);
        v.extend(tables::CORRECTION_FIELDS);
        for notes in tables::CORRECTION_NOTES {
            v.extend(notes.iter());
        }
        v
    }

    #[test]
    fn tables_are_nfc_and_single_spaced() {
        for s in all_table_strings() {
            assert_eq!(s, s.nfc().collect::<String>(), "not NFC: {s:?}");
            assert!(!s.contains("  ") && s.trim() == s && !s.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn tables_are_non_empty_with_weights() {
        assert!(tables::KIND_MIX.iter().all(|&(_, w)| w > 0));
        assert!(tables::PLACE_MIX.iter().all(|&(_, w)| w > 0));
        assert!(tables::MALE_GIVEN.len() >= 30);
        assert!(tables::FEMALE_GIVEN.len() >= 30);
        assert_eq!(
            tables::CORRECTION_FIELDS.len(),
            tables::CORRECTION_NOTES.len()
        );
        assert!(tables::CORRECTION_NOTES.iter().all(|n| !n.is_empty()));
        for table in [
            tables::AGE_GENERAL,
            tables::AGE_WORKING,
            tables::AGE_ADULT,
            tables::AGE_ELDERLY,
            tables::AGE_BEDRIDDEN,
            tables::AGE_DISABLED,
            tables::AGE_CHILD,
        ] {
            assert!(!table.is_empty());
            assert!(table.iter().all(|&((lo, hi), w)| lo <= hi && w > 0));
        }
        for p in tables::PHONE_PREFIXES {
            assert_eq!(p.0.len(), 3);
        }
    }

    #[test]
    fn family_name_weights_sum_to_1000() {
        let total: u32 = tables::FAMILY_NAMES.iter().map(|&(_, w)| w).sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn birth_date_gives_exact_age() {
        let mut g = Generator::new(GenOptions {
            seed: 1,
            kind: None,
            units: vec!["1".into()],
            home_province: "074".into(),
            all_provinces: vec!["074".into()],
            visit_from: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            visit_to: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        })
        .unwrap();
        for visit in [
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            NaiveDate::from_ymd_opt(2023, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
        ] {
            for age in [0u32, 1, 13, 14, 17, 18, 64, 65, 95] {
                for _ in 0..200 {
                    let dob = g.birth_date(visit, age);
                    let mut a = visit.year() - dob.year();
                    if (visit.month(), visit.day()) < (dob.month(), dob.day()) {
                        a -= 1;
                    }
                    assert_eq!(a, age as i32, "visit {visit} dob {dob}");
                }
            }
        }
    }
}
