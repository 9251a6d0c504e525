//! `doorstep gen`: synthetic records as NDJSON on standard output, and with
//! `--attachments DIR` synthetic biometric files for the ID card applications.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use doorstep_core::units::{UnitLevel, Units, legacy_province_name, legacy_provinces};
use doorstep_gen::attachments::{self, AttachmentSpec};
use doorstep_gen::{GenOptions, Generator, RecordKind};
use doorstep_store::FieldStore;
use serde_json::{Value, json};

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
    let seed = opts.seed;
    let generator = Generator::new(opts).map_err(|e| UserError(format!("cannot generate: {e}")))?;
    let files = match &args.attachments {
        Some(dir) => Some(AttachmentFiles::new(dir, &args)?),
        None => None,
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let records = generator.take(usize::try_from(args.count).unwrap_or(usize::MAX));
    for (index, mut record) in (0u64..).zip(records) {
        if let Some(files) = &files {
            // The files exist before the record that names them is printed.
            files.attach(seed, index, &mut record)?;
        }
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

/// Where and what `--attachments` writes.
struct AttachmentFiles {
    /// The directory as the user spelled it: record `file` paths start with it.
    dir: PathBuf,
    spec: AttachmentSpec,
}

impl AttachmentFiles {
    /// Checks the flags and creates the directory.
    fn new(dir: &Path, args: &GenArgs) -> Result<Self, UserError> {
        let mut spec = AttachmentSpec::parse(&args.biometrics)
            .map_err(|e| UserError(format!("--biometrics {}: {e}", args.biometrics)))?;
        spec.face_bytes = usize::try_from(args.face_bytes).unwrap_or(usize::MAX);
        spec.fingerprint_bytes = usize::try_from(args.fingerprint_bytes).unwrap_or(usize::MAX);
        if dir.to_str().is_none() {
            return Err(UserError(format!(
                "--attachments {}: the directory name must be valid UTF-8 (records name the files by it)",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            UserError(format!(
                "--attachments {}: cannot create the attachments directory: {e}",
                dir.display()
            ))
        })?;
        Ok(AttachmentFiles {
            dir: dir.to_path_buf(),
            spec,
        })
    }

    /// For an ID card application: writes its files and lists them in
    /// `attachments`. Other records are left as they are.
    fn attach(&self, seed: u64, index: u64, record: &mut Value) -> Result<(), UserError> {
        if record.get("kind").and_then(Value::as_str)
            != Some(RecordKind::IdCardApplication.as_str())
            || self.spec.is_empty()
        {
            return Ok(());
        }
        let mut list = Vec::with_capacity(self.spec.kinds().count());
        for file in attachments::generate(seed, index, &self.spec) {
            let path = self.dir.join(&file.file_name);
            write_file(&path, &file.bytes)
                .map_err(|e| UserError(format!("cannot write {}: {e}", path.display())))?;
            // `new` checked that the directory is UTF-8; the file name is ASCII.
            let name = path.to_str().unwrap_or_default();
            list.push(json!({"kind": file.kind.as_str(), "file": name}));
        }
        if let Value::Object(map) = record {
            map.insert("attachments".to_owned(), Value::Array(list));
        }
        Ok(())
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 16, std::fs::File::create(path)?);
    w.write_all(bytes)?;
    w.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?;
    Ok(())
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
