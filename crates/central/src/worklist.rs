//! Worklists at central and at stations (`proto/worklist-v1.md`): the
//! errors people can cause when loading a roster or assigning devices,
//! the types the stores answer with, and what both backends share. The
//! storage lives in `sqlite/worklist.rs` (central and stations) and
//! `postgres/worklist.rs` (central); the rules in `doorstep_core::worklist`.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use doorstep_core::canonical::format_visit_time;
use doorstep_core::record::{OutcomeKind, RecordKind};
use doorstep_core::roster::Need;
use doorstep_core::units::Units;
use doorstep_core::worklist::{
    CoverageInput, CoverageRow, EventWhat, PersonEvent, PersonState, Reason, Status, coverage,
};
use doorstep_wire::worklist::Assignment;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::CentralError;

/// Why an assignment was refused.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error(
        "device {0} is not registered here: provision it first (doorstep central provision), or on a station wait until the station has synced with central"
    )]
    UnknownDevice(Uuid),

    #[error("device {0} was revoked: it receives no worklist")]
    Revoked(Uuid),

    #[error("unit `{0}` is not in this server's unit list")]
    UnknownUnit(String),

    #[error(
        "unit `{unit}` is outside what central assigned this station ({allowed}): a station sub-assigns within its own units"
    )]
    OutsideStation { unit: String, allowed: String },

    #[error(
        "unit `{unit}` is outside the unit device {device} was provisioned for ({device_unit}): its records there would be refused"
    )]
    OutsideDevice {
        unit: String,
        device: Uuid,
        device_unit: String,
    },

    #[error(
        "this station has not received its worklist from central yet: run `doorstep station serve` until it has synced, then assign"
    )]
    StationNotSynced,

    #[error("nothing to assign: give --units and/or --households")]
    Empty,

    #[error(transparent)]
    Store(#[from] CentralError),
}

impl AssignError {
    /// A mistake of the person assigning (exit code 2), not of the store.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, AssignError::Store(_))
    }

    /// The message in Vietnamese, for officers.
    pub fn message_vi(&self) -> String {
        match self {
            AssignError::UnknownDevice(d) => format!(
                "thiết bị {d} chưa được đăng ký ở đây: hãy cấp mã (doorstep central provision), hoặc trên trạm chờ trạm đồng bộ với trung tâm"
            ),
            AssignError::Revoked(d) => {
                format!("thiết bị {d} đã bị thu hồi: không nhận danh sách công việc")
            }
            AssignError::UnknownUnit(u) => {
                format!("đơn vị `{u}` không có trong danh sách đơn vị của máy chủ này")
            }
            AssignError::OutsideStation { unit, allowed } => format!(
                "đơn vị `{unit}` nằm ngoài phạm vi trung tâm giao cho trạm ({allowed}): trạm chỉ giao việc trong phạm vi của mình"
            ),
            AssignError::OutsideDevice {
                unit,
                device,
                device_unit,
            } => format!(
                "đơn vị `{unit}` nằm ngoài đơn vị {device_unit} mà thiết bị {device} được cấp: hồ sơ thiết bị làm ở đó sẽ bị từ chối"
            ),
            AssignError::StationNotSynced => "trạm chưa nhận danh sách công việc từ trung tâm: chạy `doorstep station serve` cho đến khi đồng bộ xong rồi giao việc".to_owned(),
            AssignError::Empty => "chưa có gì để giao: hãy nêu --units và/hoặc --households".to_owned(),
            AssignError::Store(e) => e.to_string(),
        }
    }
}

/// What a roster import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RosterImport {
    /// Residents in the file.
    pub residents: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// People of the file's units that the file no longer lists: they
    /// leave the worklists; their outcomes are kept.
    pub absent: u64,
    /// Units the file covers.
    pub units: Vec<String>,
}

/// A device's assignment as stored, by source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AssignmentLine {
    pub device_id: Uuid,
    pub units: Vec<String>,
    pub households: Vec<String>,
    /// `central` or `station`.
    pub source: String,
    /// People the assignment currently puts on the device's worklist.
    pub people: u64,
}

/// How `assign` changes a device's assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignMode {
    /// The assignment becomes exactly what is given.
    Replace,
    Add,
    Remove,
}

/// One person still to reach, for the next day's planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RemainingPerson {
    pub worklist_unit: String,
    pub household: Option<String>,
    pub personal_id: String,
    pub full_name: String,
    pub unit_code: String,
    pub address_detail: Option<String>,
    pub needs: Vec<String>,
    pub covered: Vec<String>,
    pub reason: String,
    pub visits: u32,
    pub last_visit_at: Option<String>,
    pub referred_from: Option<String>,
}

/// A person whose teams reported contradictory outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReviewPerson {
    pub unit_code: String,
    pub personal_id: String,
    pub full_name: String,
    pub status: String,
    pub flagged: String,
    pub outcomes: Vec<ReviewOutcome>,
}

/// One reported outcome of a person under review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReviewOutcome {
    pub record_id: String,
    pub device_id: String,
    pub at: String,
    pub kind: String,
    pub result: Option<String>,
    pub unit_code: Option<String>,
}

/// The coverage report's data (`GET /v1/reports/coverage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CoverageReport {
    pub rows: Vec<CoverageRow>,
    /// The people, only when read from the store itself (they name
    /// citizens; the HTTP report carries aggregates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<Vec<ReviewPerson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<Vec<RemainingPerson>>,
}

// What follows is shared by the backends (`sqlite/worklist.rs`,
// `postgres/worklist.rs`): how a roster row's columns are written and
// read, where a row stands on worklists, and the reports made of rows.

pub(crate) fn join(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(";")
}

pub(crate) fn split(s: &str) -> Vec<String> {
    s.split(';')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn needs_of(s: &str) -> Vec<Need> {
    split(s).iter().filter_map(|n| Need::parse(n)).collect()
}

/// The derived columns of a roster row, compared to decide whether a
/// change is worth a new revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Derived {
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) closed_by: Option<String>,
    pub(crate) worklist_unit: String,
    pub(crate) referred_to: Option<String>,
    pub(crate) covered: String,
    pub(crate) visits: i64,
    pub(crate) last_visit_at: Option<String>,
    pub(crate) flagged: Option<String>,
}

impl Derived {
    pub(crate) fn of(state: &PersonState) -> Derived {
        Derived {
            status: state.status.as_str().to_owned(),
            reason: state.reason.map(|r| r.as_str().to_owned()),
            closed_by: state.closed_by.map(|c| c.as_str().to_owned()),
            worklist_unit: state.worklist_unit.clone(),
            referred_to: state.referred_to.clone(),
            covered: join(state.covered.iter().map(|n| n.as_str())),
            visits: i64::from(state.visits),
            last_visit_at: state.last_visit_at.as_ref().map(format_visit_time),
            flagged: state.flagged.clone(),
        }
    }

    /// The state these columns hold (the time of the last visit is not
    /// needed by the coverage counts).
    pub(crate) fn state(&self) -> PersonState {
        PersonState {
            status: Status::parse(&self.status).unwrap_or(Status::Open),
            reason: self.reason.as_deref().and_then(Reason::parse),
            closed_by: self.closed_by.as_deref().and_then(OutcomeKind::parse),
            worklist_unit: self.worklist_unit.clone(),
            referred_to: self.referred_to.clone(),
            covered: needs_of(&self.covered),
            visits: u32::try_from(self.visits).unwrap_or(u32::MAX),
            last_visit_at: None,
            flagged: self.flagged.clone(),
        }
    }
}

/// Where a row stands on worklists: visible people are on the worklist of
/// whoever is assigned their worklist unit or household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) visible: bool,
    pub(crate) worklist_unit: String,
    pub(crate) household: Option<String>,
}

impl Placement {
    /// Whether going from `self` to `after` takes the person off worklists
    /// they were on: a move to remember.
    pub(crate) fn left_for(&self, after: &Placement) -> bool {
        self.visible
            && (!after.visible
                || self.worklist_unit != after.worklist_unit
                || self.household != after.household)
    }
}

pub(crate) fn placement(
    in_extract: bool,
    status: &str,
    worklist_unit: &str,
    household: Option<&str>,
) -> Placement {
    Placement {
        visible: in_extract
            && (status == Status::Open.as_str() || status == Status::Review.as_str()),
        worklist_unit: worklist_unit.to_owned(),
        household: household.map(str::to_owned),
    }
}

/// A stored event as [`derive`](doorstep_core::worklist::derive) takes it;
/// `None` for anything unreadable (rows were written from checked records:
/// such a row is skipped rather than failing every later batch of the
/// person).
pub(crate) fn person_event(
    record_id: Uuid,
    device_id: Uuid,
    device_seq: i64,
    at: &str,
    kind: &str,
    result: Option<&str>,
    unit_code: Option<String>,
) -> Option<PersonEvent> {
    let at = DateTime::<FixedOffset>::parse_from_rfc3339(at).ok()?;
    let what = match (RecordKind::parse(kind), result.and_then(OutcomeKind::parse)) {
        (Some(RecordKind::VisitOutcome), Some(result)) => EventWhat::Outcome { result, unit_code },
        (Some(kind), _) if kind != RecordKind::VisitOutcome => EventWhat::Record(kind),
        _ => return None,
    };
    Some(PersonEvent {
        record_id,
        device_id,
        device_seq: u64::try_from(device_seq).unwrap_or(0),
        at,
        what,
    })
}

/// Whether a person at `unit` (of `household`) is on a worklist assigned `a`.
pub(crate) fn in_scope(units: &Units, a: &Assignment, unit: &str, household: Option<&str>) -> bool {
    a.units.iter().any(|u| units.is_within(unit, u))
        || household.is_some_and(|h| a.households.iter().any(|x| x == h))
}

/// Every unit code [`in_scope`] takes for `a`'s units: the units
/// themselves and every unit of the list within one of them (for a
/// database to filter by).
pub(crate) fn units_in_scope(units: &Units, a: &Assignment) -> Vec<String> {
    let mut out: BTreeSet<String> = a.units.iter().cloned().collect();
    if !a.units.is_empty() {
        out.extend(
            units
                .iter()
                .filter(|u| a.units.iter().any(|x| units.is_within(&u.code, x)))
                .map(|u| u.code.clone()),
        );
    }
    out.into_iter().collect()
}

/// The fingerprint of what `issuer` sends a device assigned `a`: a change
/// of either makes the next download a full one.
pub(crate) fn scope_of(issuer: Uuid, a: &Assignment) -> String {
    let mut units = a.units.clone();
    units.sort();
    units.dedup();
    let mut households = a.households.clone();
    households.sort();
    households.dedup();
    let mut h = Sha256::new();
    h.update(b"doorstep-worklist-scope-v1\n");
    h.update(issuer.as_bytes());
    for u in &units {
        h.update(b"\nu:");
        h.update(u.as_bytes());
    }
    for x in &households {
        h.update(b"\nh:");
        h.update(x.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Every device's assignment line from its stored items `(device, source,
/// kind, value)` sorted by device and source, with how many of the
/// `visible` people (worklist unit, household) each covers.
pub(crate) fn assignment_lines(
    items: impl IntoIterator<Item = (Uuid, String, String, String)>,
    visible: &[(String, Option<String>)],
    units: &Units,
) -> Vec<AssignmentLine> {
    let mut out: Vec<AssignmentLine> = Vec::new();
    for (device_id, source, kind, value) in items {
        if out
            .last()
            .is_none_or(|l| l.device_id != device_id || l.source != source)
        {
            out.push(AssignmentLine {
                device_id,
                source,
                ..AssignmentLine::default()
            });
        }
        if let Some(line) = out.last_mut() {
            if kind == "unit" {
                line.units.push(value);
            } else {
                line.households.push(value);
            }
        }
    }
    for line in &mut out {
        let a = Assignment {
            units: line.units.clone(),
            households: line.households.clone(),
        };
        line.people = visible
            .iter()
            .filter(|(unit, household)| in_scope(units, &a, unit, household.as_deref()))
            .count() as u64;
    }
    out
}

/// One roster row still in the extract, as the coverage report reads it.
pub(crate) struct CoverageSource {
    pub(crate) home: String,
    pub(crate) needs: String,
    pub(crate) derived: Derived,
    pub(crate) personal_id: String,
    pub(crate) full_name: String,
    pub(crate) household: Option<String>,
    pub(crate) detail: Option<String>,
}

/// The rows of a coverage report made of `sources`; with people, the
/// personal IDs whose reported outcomes the review list needs (see
/// [`coverage_people`]).
pub(crate) struct CoverageDraft {
    rows: Vec<CoverageRow>,
    people: Vec<(CoverageSource, PersonState)>,
    under: Option<String>,
}

impl CoverageDraft {
    pub(crate) fn new(sources: Vec<CoverageSource>, units: &Units, under: Option<&str>) -> Self {
        let people: Vec<(CoverageSource, PersonState)> = sources
            .into_iter()
            .map(|s| {
                let state = s.derived.state();
                (s, state)
            })
            .collect();
        let rows = coverage(
            people.iter().map(|(s, state)| CoverageInput {
                home_unit: &s.home,
                eligible: !s.needs.is_empty(),
                state,
            }),
            units,
            under,
        );
        CoverageDraft {
            rows,
            people,
            under: under.map(str::to_owned),
        }
    }

    fn within(&self, units: &Units, code: &str) -> bool {
        self.under
            .as_deref()
            .is_none_or(|u| units.is_within(code, u))
    }

    /// The flagged people of the report's units, whose outcomes the review
    /// list shows.
    pub(crate) fn flagged(&self, units: &Units) -> Vec<String> {
        self.people
            .iter()
            .filter(|(s, state)| {
                state.flagged.is_some()
                    && (self.within(units, &s.home) || self.within(units, &state.worklist_unit))
            })
            .map(|(s, _)| s.personal_id.clone())
            .collect()
    }

    /// The aggregates only.
    pub(crate) fn rows_only(self) -> CoverageReport {
        CoverageReport {
            rows: self.rows,
            review: None,
            remaining: None,
        }
    }

    /// With who is flagged (and what each team reported, from `outcomes`
    /// by personal ID) and who is left.
    pub(crate) fn with_people(
        self,
        units: &Units,
        outcomes: &mut HashMap<String, Vec<ReviewOutcome>>,
    ) -> CoverageReport {
        let flagged: HashSet<String> = self.flagged(units).into_iter().collect();
        let mut review = Vec::new();
        for (s, state) in self
            .people
            .iter()
            .filter(|(s, _)| flagged.contains(&s.personal_id))
        {
            review.push(ReviewPerson {
                unit_code: s.home.clone(),
                personal_id: s.personal_id.clone(),
                full_name: s.full_name.clone(),
                status: state.status.as_str().to_owned(),
                flagged: state.flagged.clone().unwrap_or_default(),
                outcomes: outcomes.remove(&s.personal_id).unwrap_or_default(),
            });
        }
        review.sort_by(|a, b| (&a.unit_code, &a.personal_id).cmp(&(&b.unit_code, &b.personal_id)));
        let mut remaining: Vec<RemainingPerson> = self
            .people
            .iter()
            .filter(|(_, state)| {
                matches!(state.status, Status::Open | Status::Review)
                    && self.within(units, &state.worklist_unit)
            })
            .map(|(s, state)| RemainingPerson {
                worklist_unit: state.worklist_unit.clone(),
                household: s.household.clone(),
                personal_id: s.personal_id.clone(),
                full_name: s.full_name.clone(),
                unit_code: s.home.clone(),
                address_detail: s.detail.clone(),
                needs: split(&s.needs),
                covered: split(&s.derived.covered),
                reason: state.reason.map_or_else(
                    || Reason::NotVisited.as_str().to_owned(),
                    |x| x.as_str().to_owned(),
                ),
                visits: state.visits,
                last_visit_at: s.derived.last_visit_at.clone(),
                referred_from: state.referred_to.as_ref().map(|_| s.home.clone()),
            })
            .collect();
        remaining.sort_by(|a, b| {
            (&a.worklist_unit, &a.household, &a.full_name, &a.personal_id).cmp(&(
                &b.worklist_unit,
                &b.household,
                &b.full_name,
                &b.personal_id,
            ))
        });
        CoverageReport {
            rows: self.rows,
            review: Some(review),
            remaining: Some(remaining),
        }
    }
}
