//! `doorstep field worklist` (who this laptop is to reach, with what was
//! done here since) and `doorstep field visit` (what came of a visit, as a
//! `visit_outcome` record stored like any other).

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use clap::Args;
use doorstep_core::RecordKind;
use doorstep_core::record::OutcomeKind;
use doorstep_core::roster::Need;
use doorstep_core::violation::Violation;
use doorstep_store::{EnrollOutcome, FieldStore, LocalVisit, RecordStatus};
use doorstep_wire::worklist::WorklistPerson;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::cli::DataDir;
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

#[derive(Debug, Args)]
pub struct WorklistArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Only the people to reach in this unit (and the units under it).
    #[arg(long, value_name = "CODE")]
    pub unit: Option<String>,
    /// Only this household (its household number).
    #[arg(long, value_name = "H")]
    pub household: Option<String>,
    /// Hide the people this laptop's own records already cover: an enrollment record for
    /// every need left, an `enrolled` outcome, or a latest outcome that settles the visit
    /// (anything but not_home and cannot_travel).
    #[arg(long)]
    pub remaining: bool,
    /// Print JSON (an array of people) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VisitArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// The person's personal ID number (12 digits); they must be on this laptop's worklist.
    #[arg(long, value_name = "PERSONAL_ID")]
    pub person: String,
    /// What came of the visit: enrolled, not_home, moved, living_elsewhere, deceased,
    /// refused, cannot_travel, done_elsewhere.
    #[arg(long, value_name = "OUTCOME", value_parser = outcome_kind)]
    pub outcome: OutcomeKind,
    /// A note for the next team (free text).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// living_elsewhere: the unit the person is referred to (required, not their permanent
    /// address unit); moved: the unit of the new address.
    #[arg(long, value_name = "CODE")]
    pub unit: Option<String>,
    /// The address within --unit.
    #[arg(long, value_name = "TEXT")]
    pub detail: Option<String>,
    /// enrolled: the enrollment record (its ID) this outcome stands for; by default this
    /// laptop's newest id_card_application, eid_registration or eid_activation for the person.
    #[arg(long, value_name = "RECORD_ID")]
    pub record: Option<Uuid>,
    /// Where the visit took place: home, hospital, workplace, boarding_house, mobile_point,
    /// station, other.
    #[arg(long, value_name = "PLACE", default_value = "home")]
    pub place: String,
    /// Why the team came to the person: bedridden, elderly, disabled, worker,
    /// temporary_resident, other.
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
    /// When the visit took place (RFC 3339, e.g. 2026-11-23T09:30:00+07:00); default now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The officer's ID.
    #[arg(long, value_name = "ID")]
    pub officer: String,
    /// Print JSON instead of the record ID.
    #[arg(long)]
    pub json: bool,
}

fn outcome_kind(s: &str) -> Result<OutcomeKind, String> {
    OutcomeKind::parse(s.trim()).ok_or_else(|| format!("choose one of {}", OutcomeKind::allowed()))
}

/// Kinds of record that meet a need, in the order `field visit` looks
/// for the enrollment an `enrolled` outcome stands for.
const ENROLLMENTS: [RecordKind; 3] = [
    RecordKind::IdCardApplication,
    RecordKind::EidRegistration,
    RecordKind::EidActivation,
];

pub fn list(args: WorklistArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    let unit = args
        .unit
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if let Some(u) = unit
        && !store.units().contains(u)
    {
        return Err(UserError(format!(
            "--unit {u}: {}",
            lang.pick(
                "không có trong danh mục đơn vị hành chính của máy này",
                "is not in this laptop's unit list"
            )
        ))
        .into());
    }
    crate::passphrase::unlock(&mut store, lang)?;
    // A commune is read through its plain column; a larger unit takes
    // every commune under it.
    let leaf = unit.is_some_and(|u| store.units().children(u).next().is_none());
    let mut people = store.worklist(unit.filter(|_| leaf))?;
    if let Some(u) = unit.filter(|_| !leaf) {
        people.retain(|p| store.units().is_within(&p.worklist_unit, u));
    }
    if let Some(h) = args.household.as_deref().map(str::trim) {
        people.retain(|p| p.household.as_deref() == Some(h));
    }
    let visits = store.local_visits()?;
    let none: Vec<LocalVisit> = Vec::new();
    let rows: Vec<(&WorklistPerson, &[LocalVisit], Vec<Need>, bool)> = people
        .iter()
        .map(|p| {
            let here = visits.get(&p.personal_id).unwrap_or(&none);
            let left = needs_left(p, here);
            let settled = settled_here(here);
            (p, here.as_slice(), left, settled)
        })
        .filter(|(_, _, left, settled)| !args.remaining || !(*settled || left.is_empty()))
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let items: Vec<Value> = rows
            .iter()
            .map(|(p, here, left, settled)| {
                let mut item = match json!(p) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                item.insert("needs_left".into(), json!(left));
                item.insert("done_here".into(), json!(here));
                item.insert("settled_here".into(), json!(settled));
                Value::Object(item)
            })
            .collect();
        serde_json::to_writer(&mut out, &items)?;
        writeln!(out)?;
        return Ok(Outcome::Ok);
    }
    let headers: [&str; 7] = match lang {
        Lang::Vi => [
            "ĐƠN VỊ",
            "HỘ",
            "HỌ VÀ TÊN",
            "SỐ ĐỊNH DANH",
            "CÒN CẦN",
            "TRUNG TÂM GHI NHẬN",
            "ĐÃ LÀM TẠI MÁY NÀY",
        ],
        Lang::En => [
            "UNIT",
            "HOUSEHOLD",
            "FULL NAME",
            "PERSONAL ID",
            "NEEDS",
            "CENTRAL SAYS",
            "DONE HERE",
        ],
    };
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|(p, here, left, _)| {
            [
                p.worklist_unit.clone(),
                p.household.clone().unwrap_or_default(),
                p.full_name.clone(),
                p.personal_id.clone(),
                left.iter()
                    .map(|n| lang.pick(n.label_vi(), n.label_en()))
                    .collect::<Vec<_>>()
                    .join(", "),
                central_text(p, lang),
                here.iter()
                    .map(|v| visit_text(v, lang))
                    .collect::<Vec<_>>()
                    .join("; "),
            ]
        })
        .collect();
    crate::table::write(&mut out, &headers, &table)?;
    if table.is_empty() {
        writeln!(
            out,
            "{}",
            lang.pick(
                "(danh sách trống: chạy `doorstep field sync` để tải danh sách được giao)",
                "(no one: run `doorstep field sync` to download the assigned worklist)"
            )
        )?;
    } else {
        writeln!(
            out,
            "{} {}",
            table.len(),
            lang.pick("người", if table.len() == 1 { "person" } else { "people" })
        )?;
    }
    Ok(Outcome::Ok)
}

/// The person's needs that neither central nor this laptop's records
/// (refused ones aside) meet yet.
pub(crate) fn needs_left(p: &WorklistPerson, here: &[LocalVisit]) -> Vec<Need> {
    let met_here: Vec<Need> = here
        .iter()
        .filter(|v| v.status != RecordStatus::Rejected)
        .filter_map(|v| RecordKind::parse(&v.kind).and_then(Need::covered_by))
        .collect();
    p.needs
        .iter()
        .filter_map(|n| Need::parse(n))
        .filter(|n| !p.covered.iter().any(|c| c == n.as_str()) && !met_here.contains(n))
        .collect()
}

/// Whether this laptop's outcomes settle the person: an `enrolled`
/// outcome, or a latest outcome other than not_home and cannot_travel
/// (the rules central derives a person's state by).
pub(crate) fn settled_here(here: &[LocalVisit]) -> bool {
    let outcomes: Vec<(OutcomeKind, &LocalVisit)> = here
        .iter()
        .filter(|v| v.status != RecordStatus::Rejected)
        .filter_map(|v| {
            v.outcome
                .as_deref()
                .and_then(OutcomeKind::parse)
                .map(|o| (o, v))
        })
        .collect();
    if outcomes.iter().any(|(o, _)| *o == OutcomeKind::Enrolled) {
        return true;
    }
    let at = |v: &LocalVisit| DateTime::parse_from_rfc3339(&v.visit_at).ok();
    outcomes
        .iter()
        .max_by_key(|(_, v)| (at(v), v.device_seq))
        .is_some_and(|(o, _)| !matches!(o, OutcomeKind::NotHome | OutcomeKind::CannotTravel))
}

/// Central's word on the person: why still to reach, visits, referral.
fn central_text(p: &WorklistPerson, lang: Lang) -> String {
    let mut text = reason_label(&p.reason, lang).to_owned();
    if p.visits > 0 {
        text.push_str(&match lang {
            Lang::Vi => format!(", {} lần tiếp xúc", p.visits),
            Lang::En => format!(
                ", {} visit{}",
                p.visits,
                if p.visits == 1 { "" } else { "s" }
            ),
        });
    }
    if let Some(from) = &p.referred_from {
        text.push_str(&format!(
            ", {} {from}",
            lang.pick("chuyển từ đơn vị", "referred from unit")
        ));
    }
    text
}

fn reason_label(reason: &str, lang: Lang) -> &str {
    let (vi, en) = match reason {
        "not_visited" => ("chưa tiếp xúc", "not visited"),
        "not_home" => ("vắng nhà", "not at home"),
        "cannot_travel" => ("không thể di chuyển", "cannot travel"),
        "refused" => ("từ chối", "refused"),
        "moved" => ("đã chuyển đi", "moved away"),
        "partly_enrolled" => ("mới làm một phần", "partly enrolled"),
        "review" => (
            "cần xem xét (kết quả mâu thuẫn)",
            "to review (contradicting outcomes)",
        ),
        other => (other, other),
    };
    lang.pick(vi, en)
}

/// One record of this laptop about the person: what, when, where it stands.
fn visit_text(v: &LocalVisit, lang: Lang) -> String {
    let what = match v.outcome.as_deref().and_then(OutcomeKind::parse) {
        Some(o) => {
            let mut t = lang.pick(o.label_vi(), o.label_en()).to_owned();
            if let Some(unit) = &v.outcome_unit {
                t.push_str(&format!(" → {unit}"));
            }
            t
        }
        None => match RecordKind::parse(&v.kind) {
            Some(k) => lang.pick(k.label_vi(), k.as_str()).to_owned(),
            None => v.kind.clone(),
        },
    };
    // `2026-11-23T09:30:00+07:00` → `2026-11-23 09:30`.
    let when: String = v
        .visit_at
        .chars()
        .take(16)
        .collect::<String>()
        .replace('T', " ");
    let state = match (v.status, lang) {
        (RecordStatus::Pending, _) | (RecordStatus::Confirmed, _) => String::new(),
        (s, Lang::Vi) => format!(" ({})", s.label_vi()),
        (s, Lang::En) => format!(" ({})", s.as_str()),
    };
    format!("{what} {when}{state}")
}

pub fn visit(args: VisitArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    let personal_id = args.person.trim().to_owned();
    if personal_id.is_empty() {
        return Err(UserError(format!(
            "--person: {}",
            lang.pick("cần số định danh cá nhân", "needs a personal ID number")
        ))
        .into());
    }
    crate::passphrase::unlock(&mut store, lang)?;
    let Some(person) = store.worklist_person(&personal_id)? else {
        return Err(UserError(format!(
            "--person {personal_id}: {}",
            lang.pick(
                "không có trong danh sách cần tiếp cận của máy này; hãy chạy `doorstep field sync` để tải danh sách mới nhất",
                "not on this laptop's worklist; run `doorstep field sync` to download the latest one"
            )
        ))
        .into());
    };
    let record_id = match (args.outcome, args.record) {
        (OutcomeKind::Enrolled, None) => Some(own_enrollment(&store, &personal_id, lang)?),
        (_, given) => given,
    };
    let value = visit_record(&args.input(), &person, record_id);
    let units = store.units_shared();
    let mut results = crate::serve::enroll_values(&mut store, &units, vec![value])?;
    let result = results.pop().unwrap_or_else(|| {
        Err(vec![Violation::new(
            "$",
            "internal",
            "internal error: no outcome for the record",
            "lỗi nội bộ: không có kết quả cho hồ sơ",
        )])
    });
    let (record_id, device_seq, already) = match result {
        Ok(EnrollOutcome::Stored {
            record_id,
            device_seq,
            ..
        }) => (record_id, device_seq, false),
        Ok(EnrollOutcome::AlreadyStored {
            record_id,
            device_seq,
        }) => (record_id, device_seq, true),
        Ok(EnrollOutcome::Refused(v)) => return refused(&[v], args.json, lang),
        Err(vs) => return refused(&vs, args.json, lang),
    };
    if args.json {
        println!(
            "{}",
            json!({
                "status": if already { "already_stored" } else { "stored" },
                "record_id": record_id, "device_seq": device_seq,
                "person_id": person.id, "personal_id": person.personal_id,
                "outcome": args.outcome,
            })
        );
    } else {
        println!("{record_id}");
        let name = &person.full_name;
        let label = lang.pick(args.outcome.label_vi(), args.outcome.label_en());
        eprintln!(
            "{}",
            match (lang, already) {
                (Lang::Vi, false) => format!("đã lưu kết quả tiếp xúc {name}: {label}"),
                (Lang::Vi, true) => {
                    format!("kết quả tiếp xúc {name} ({label}) đã được lưu trước đó, không lưu lại")
                }
                (Lang::En, false) => format!("stored the visit outcome of {name}: {label}"),
                (Lang::En, true) => {
                    format!(
                        "the visit outcome of {name} ({label}) was stored before; not stored again"
                    )
                }
            }
        );
    }
    Ok(Outcome::Ok)
}

/// The newest enrollment record this laptop holds for the person (not
/// refused by central): what an `enrolled` outcome stands for.
fn own_enrollment(store: &FieldStore, personal_id: &str, lang: Lang) -> anyhow::Result<Uuid> {
    newest_enrollment(store, personal_id)?.ok_or_else(|| {
        UserError(format!(
            "--outcome enrolled: {}",
            lang.pick(
                &format!(
                    "máy này chưa có hồ sơ thu nhận nào (cấp căn cước, đăng ký hay kích hoạt định danh điện tử) của {personal_id}: hãy nhập hồ sơ trước (`doorstep field enroll`), hoặc chỉ rõ hồ sơ bằng --record"
                ),
                &format!(
                    "this laptop holds no enrollment record (id_card_application, eid_registration, eid_activation) for {personal_id}: enroll it first (`doorstep field enroll`), or name the record with --record"
                ),
            )
        ))
        .into()
    })
}

/// The newest enrollment record (card, e-ID registration or activation)
/// this laptop holds for the person, not refused by central.
pub(crate) fn newest_enrollment(
    store: &FieldStore,
    personal_id: &str,
) -> Result<Option<Uuid>, doorstep_store::StoreError> {
    let visits = store.local_visits()?;
    Ok(visits.get(personal_id).and_then(|vs| {
        vs.iter()
            .filter(|v| v.status != RecordStatus::Rejected)
            .filter(|v| RecordKind::parse(&v.kind).is_some_and(|k| ENROLLMENTS.contains(&k)))
            .max_by_key(|v| v.device_seq)
            .map(|v| v.record_id)
    }))
}

/// What a visit outcome says besides the person (from the flags of
/// `field visit` or the body of `POST /api/visits`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct VisitInput<'a> {
    pub outcome: OutcomeKind,
    pub officer: &'a str,
    pub place: &'a str,
    pub reason: Option<&'a str>,
    pub unit: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub note: Option<&'a str>,
    pub at: Option<&'a str>,
}

impl VisitArgs {
    fn input(&self) -> VisitInput<'_> {
        VisitInput {
            outcome: self.outcome,
            officer: &self.officer,
            place: &self.place,
            reason: self.reason.as_deref(),
            unit: self.unit.as_deref(),
            detail: self.detail.as_deref(),
            note: self.note.as_deref(),
            at: self.at.as_deref(),
        }
    }
}

/// The `visit_outcome` record, its citizen taken from the worklist entry.
pub(crate) fn visit_record(
    input: &VisitInput<'_>,
    person: &WorklistPerson,
    record_id: Option<Uuid>,
) -> Value {
    let mut address = Map::new();
    address.insert("unit_code".into(), json!(person.unit_code));
    if let Some(detail) = &person.address_detail {
        address.insert("detail".into(), json!(detail));
    }
    let at = input.at.map_or_else(now_in_vietnam, str::to_owned);
    let mut visit = json!({"place": input.place, "unit_code": person.worklist_unit, "at": at});
    if let Some(reason) = input.reason {
        visit["reason"] = json!(reason);
    }
    let mut outcome = Map::new();
    outcome.insert("result".into(), json!(input.outcome));
    let record_id = record_id.map(|r| r.to_string());
    let optional = [
        ("unit_code", input.unit),
        ("detail", input.detail),
        ("note", input.note),
        ("record_id", record_id.as_deref()),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            outcome.insert(key.into(), json!(v));
        }
    }
    json!({
        "kind": RecordKind::VisitOutcome,
        "citizen": {
            "personal_id": person.personal_id,
            "full_name": person.full_name,
            "date_of_birth": person.date_of_birth,
            "sex": person.sex,
            "permanent_address": address,
        },
        "visit": visit,
        "officer_id": input.officer,
        "outcome": outcome,
    })
}

/// Now, as the officer's clock reads it in Vietnam (UTC+7), whole seconds.
pub(crate) fn now_in_vietnam() -> String {
    match FixedOffset::east_opt(7 * 3600) {
        Some(vn) => Utc::now()
            .with_timezone(&vn)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        None => Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// The record broke rules: each with the flag to fix, exit 2.
fn refused(violations: &[Violation], as_json: bool, lang: Lang) -> anyhow::Result<Outcome> {
    if as_json {
        println!("{}", json!({"status": "invalid", "violations": violations}));
        return Ok(Outcome::InvalidInput);
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{}",
        lang.pick(
            "kết quả tiếp xúc không hợp lệ, không lưu:",
            "the visit outcome is invalid and was not stored:"
        )
    )?;
    for v in violations {
        writeln!(
            err,
            "  {}: {} [{}]",
            flag_of(&v.path, lang),
            v.message_in(lang),
            v.code
        )?;
    }
    Ok(Outcome::InvalidInput)
}

/// Where to fix a rule a built record broke: the flag that gave the
/// value, or the worklist entry it came from.
fn flag_of(path: &str, lang: Lang) -> String {
    let flags: HashMap<&str, &str> = [
        ("$.outcome.result", "--outcome"),
        ("$.outcome.unit_code", "--unit"),
        ("$.outcome.detail", "--detail"),
        ("$.outcome.note", "--note"),
        ("$.outcome.record_id", "--record"),
        ("$.visit.place", "--place"),
        ("$.visit.reason", "--reason"),
        ("$.visit.at", "--at"),
        ("$.officer_id", "--officer"),
    ]
    .into_iter()
    .collect();
    match flags.get(path) {
        Some(flag) => format!("{flag} ({path})"),
        None if path.starts_with("$.citizen") || path.starts_with("$.visit.unit_code") => format!(
            "{path} ({})",
            lang.pick("từ danh sách cần tiếp cận", "from the worklist entry")
        ),
        None => path.to_owned(),
    }
}
