//! `doorstep gen`: synthetic records as NDJSON on standard output.

use std::io::{BufWriter, Write};

use chrono::NaiveDate;
use doorstep_core::units::{UnitLevel, Units, legacy_province_name, legacy_provinces};
use doorstep_gen::{GenOptions, Generator, RecordKind};
use doorstep_store::FieldStore;

use crate::cli::GenArgs;
use crate::{Outcome, UserError};

/// Bình Dương: the province of the source articles.
const DEFAULT_UNIT: &str = "74";

pub fn run(args: GenArgs) -> anyhow::Result<Outcome> {
    let (units, store_unit) = match (&args.units, &args.data_dir) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|e| {
                UserError(format!("cannot read the unit list {}: {e}", path.display()))
            })?;
            let units = Units::from_csv(&bytes)
                .map_err(|e| UserError(format!("invalid unit list {}: {e}", path.display())))?;
            (units, None)
        }
        (None, Some(dir)) => {
            let store = FieldStore::open(dir)?;
            (
                store.units().clone(),
                Some(store.device().unit_code.clone()),
            )
        }
        (None, None) => (Units::builtin_provinces(), None),
    };
    let unit = args
        .unit
        .clone()
        .or(store_unit)
        .unwrap_or_else(|| DEFAULT_UNIT.to_owned());
    if !units.contains(&unit) {
        return Err(UserError(format!(
            "--unit {unit}: not in the unit list ({} units loaded; pass --units FILE or --data-dir DIR)",
            units.len()
        ))
        .into());
    }
    let kind = match &args.kind {
        None => None,
        Some(k) => Some(RecordKind::parse(k).ok_or_else(|| {
            UserError(format!(
                "--kind {k}: not a record kind (id_card_application, eid_registration, eid_activation, driver_license_link, info_correction)"
            ))
        })?),
    };
    let date = |flag: &str, s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| UserError(format!("{flag} {s}: not a date (YYYY-MM-DD)")))
    };
    let opts = GenOptions {
        kind,
        visit_from: date("--visit-from", &args.visit_from)?,
        visit_to: date("--visit-to", &args.visit_to)?,
        ..options_for(&units, &unit, args.seed)
    };
    let generator = Generator::new(opts).map_err(|e| UserError(format!("cannot generate: {e}")))?;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    for record in generator.take(usize::try_from(args.count).unwrap_or(usize::MAX)) {
        match serde_json::to_writer(&mut out, &record)
            .and_then(|()| out.write_all(b"\n").map_err(serde_json::Error::io))
        {
            Ok(()) => {}
            // A closed pipe (`doorstep gen | head`) is not an error.
            Err(e) if e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) => {
                return Ok(Outcome::Ok);
            }
            Err(e) => return Err(e.into()),
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Ok),
        other => other.map(|()| Outcome::Ok).map_err(Into::into),
    }
}

/// Generator options for visits in the lowest units under `unit` (communes
/// when the list has them), citizens mostly from its province.
pub fn options_for(units: &Units, unit: &str, seed: u64) -> GenOptions {
    let leaves: Vec<String> = units
        .leaves_under(unit)
        .into_iter()
        .filter(|u| u.level == UnitLevel::Commune || units.children(&u.code).next().is_none())
        .map(|u| u.code.clone())
        .collect();
    let province = units
        .province_of(unit)
        .map(|p| format!("0{}", p.code))
        .filter(|code3| legacy_province_name(code3).is_some())
        .unwrap_or_else(|| "001".to_owned());
    GenOptions {
        seed,
        kind: None,
        units: leaves,
        home_province: province,
        all_provinces: legacy_provinces().map(|(c, _)| c.to_owned()).collect(),
        visit_from: NaiveDate::from_ymd_opt(2023, 7, 25).unwrap_or_default(),
        visit_to: NaiveDate::from_ymd_opt(2023, 9, 25).unwrap_or_default(),
    }
}
