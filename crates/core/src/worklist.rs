//! Who is left to reach: the state of one roster person derived from what
//! happened to them (accepted enrollment records and `visit_outcome`
//! records, as [`PersonEvent`]s), and coverage counts per unit.
//!
//! # Rules
//!
//! 1. **Covered needs.** A need is covered when an accepted record of the
//!    kind that meets it exists ([`Need::covered_by`]); an `enrolled`
//!    outcome covers every need. Only the person's own needs are listed.
//! 2. **Enrolled wins.** When every need is covered the person is
//!    `enrolled`, whatever other outcomes say. A person with no needs has
//!    nothing left to do and is `enrolled` too.
//! 3. **Final outcomes** are every result except `not_home`,
//!    `cannot_travel` (transient) and `enrolled` (rule 2). From one device
//!    a later outcome replaces an earlier one, so each device counts with
//!    its latest outcome only (order below).
//! 4. **Contradictions.** Two devices contradict each other when both
//!    latest outcomes are final and differ in result, or, for `moved` and
//!    `living_elsewhere`, in `unit_code`. A device whose latest outcome is
//!    `deceased` also contradicts any accepted record and any `enrolled`
//!    outcome, from any device. A contradiction sets `flagged` (a text
//!    naming the outcomes and devices), even when rule 2 makes the person
//!    `enrolled`; otherwise the person is `review` (reason `review`) in
//!    their home unit's worklist.
//! 5. **Effective outcome.** Otherwise the latest outcome decides, ordered
//!    by `at`, then `device_seq`, then `record_id`:
//!    - `deceased`, `done_elsewhere`: `closed`, `closed_by` that result;
//!    - `living_elsewhere` or `moved` naming another unit: `open`, reason
//!      `not_visited`, referred to that unit, whose worklist the person
//!      joins; naming the home unit: `open`, `not_visited`, no referral;
//!    - `moved` without a unit (and, defensively, `living_elsewhere`
//!      without one): `open`, reason `moved`;
//!    - `refused`, `cannot_travel`, `not_home`: `open` with that reason;
//!    - no outcome at all: `open`, reason `partly_enrolled` when some need
//!      is covered, else `not_visited`.
//! 6. `visits` counts every event; `last_visit_at` is the latest `at`.
//!
//! # Coverage
//!
//! One row per unit that is some person's home or worklist unit (within
//! `under` when given), by unit code, then a `total` row summing them.
//! Only eligible people (with needs) count. At the home unit: `eligible`,
//! `reached` (at least one event), `enrolled`, `closed` (with `deceased`
//! and `done_elsewhere`), `referred_out`. At the worklist unit: `review`
//! (flagged, including flagged enrolled people), `remaining` (`open` or
//! `review`) and `remaining_by_reason`, which lists every reason, zeros
//! included, and sums to `remaining`. At the unit referred to:
//! `referred_in`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::record::{OutcomeKind, RecordKind, string_enum};
use crate::roster::Need;
use crate::units::Units;

/// Something that happened to a roster person, from one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonEvent {
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    /// The visit time of the record.
    pub at: DateTime<FixedOffset>,
    pub what: EventWhat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventWhat {
    /// An accepted enrollment record for this personal ID.
    Record(RecordKind),
    /// A `visit_outcome` record.
    Outcome {
        result: OutcomeKind,
        unit_code: Option<String>,
    },
}

string_enum!(
    /// Where a person stands.
    Status {
        Open => "open",
        Review => "review",
        Enrolled => "enrolled",
        Closed => "closed",
    }
);

string_enum!(
    /// Why a person is still to reach.
    Reason {
        NotVisited => "not_visited",
        NotHome => "not_home",
        CannotTravel => "cannot_travel",
        Refused => "refused",
        Moved => "moved",
        PartlyEnrolled => "partly_enrolled",
        Review => "review",
    }
);

/// A person's derived state (module documentation: the rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonState {
    pub status: Status,
    /// Some iff the status is open or review.
    pub reason: Option<Reason>,
    /// `deceased` or `done_elsewhere` iff the status is closed.
    pub closed_by: Option<OutcomeKind>,
    /// The unit whose teams are to reach the person: home, or referred to.
    pub worklist_unit: String,
    /// The unit the person was referred to, when the effective outcome
    /// names another unit than home.
    pub referred_to: Option<String>,
    /// The person's needs that are met, in [`Need::ALL`] order.
    pub covered: Vec<Need>,
    pub visits: u32,
    pub last_visit_at: Option<DateTime<FixedOffset>>,
    /// Why the person needs review: the contradicting outcomes (English).
    pub flagged: Option<String>,
}

/// The order of outcomes: later replaces earlier.
fn order_key(e: &PersonEvent) -> (DateTime<FixedOffset>, u64, Uuid) {
    (e.at, e.device_seq, e.record_id)
}

/// Final outcomes are the ones two devices can disagree on.
fn is_final(result: OutcomeKind) -> bool {
    !matches!(
        result,
        OutcomeKind::NotHome | OutcomeKind::CannotTravel | OutcomeKind::Enrolled
    )
}

fn outcome_of(e: &PersonEvent) -> Option<(OutcomeKind, Option<&str>)> {
    match &e.what {
        EventWhat::Outcome { result, unit_code } => Some((*result, unit_code.as_deref())),
        EventWhat::Record(_) => None,
    }
}

fn describe(e: &PersonEvent) -> String {
    match &e.what {
        EventWhat::Record(kind) => format!("{kind} record (device {})", e.device_id),
        EventWhat::Outcome {
            result,
            unit_code: Some(unit),
        } => format!("{result} {unit} (device {})", e.device_id),
        EventWhat::Outcome { result, .. } => format!("{result} (device {})", e.device_id),
    }
}

/// Whether two devices' final outcomes disagree (rule 4).
fn disagree(a: (OutcomeKind, Option<&str>), b: (OutcomeKind, Option<&str>)) -> bool {
    a.0 != b.0 || (matches!(a.0, OutcomeKind::Moved | OutcomeKind::LivingElsewhere) && a.1 != b.1)
}

/// The contradictions among `events` (rule 4), as one text.
fn contradictions(events: &[PersonEvent]) -> Option<String> {
    // Each device's latest outcome (devices in ID order: stable text).
    let mut latest: BTreeMap<Uuid, &PersonEvent> = BTreeMap::new();
    for e in events.iter().filter(|e| outcome_of(e).is_some()) {
        let slot = latest.entry(e.device_id).or_insert(e);
        if order_key(e) > order_key(slot) {
            *slot = e;
        }
    }
    let finals: Vec<(&PersonEvent, (OutcomeKind, Option<&str>))> = latest
        .values()
        .filter_map(|e| outcome_of(e).filter(|o| is_final(o.0)).map(|o| (*e, o)))
        .collect();
    let mut found: BTreeSet<String> = BTreeSet::new();
    for (i, (a, oa)) in finals.iter().enumerate() {
        for (b, ob) in &finals[i + 1..] {
            if disagree(*oa, *ob) {
                found.insert(format!("{} vs {}", describe(a), describe(b)));
            }
        }
    }
    for (dead, _) in finals.iter().filter(|(_, o)| o.0 == OutcomeKind::Deceased) {
        for e in events.iter().filter(|e| match &e.what {
            EventWhat::Record(_) => true,
            EventWhat::Outcome { result, .. } => *result == OutcomeKind::Enrolled,
        }) {
            found.insert(format!("{} vs {}", describe(dead), describe(e)));
        }
    }
    if found.is_empty() {
        None
    } else {
        Some(found.into_iter().collect::<Vec<_>>().join("; "))
    }
}

/// The state of a person with home unit `home_unit` and these `needs`,
/// after `events` (in any order).
pub fn derive(home_unit: &str, needs: &[Need], events: &[PersonEvent]) -> PersonState {
    let enrolled_outcome = events
        .iter()
        .any(|e| outcome_of(e).is_some_and(|o| o.0 == OutcomeKind::Enrolled));
    let covered: Vec<Need> = Need::ALL
        .iter()
        .copied()
        .filter(|n| needs.contains(n))
        .filter(|n| {
            enrolled_outcome
                || events.iter().any(|e| match e.what {
                    EventWhat::Record(kind) => Need::covered_by(kind) == Some(*n),
                    EventWhat::Outcome { .. } => false,
                })
        })
        .collect();
    let flagged = contradictions(events);
    let mut state = PersonState {
        status: Status::Open,
        reason: None,
        closed_by: None,
        worklist_unit: home_unit.to_owned(),
        referred_to: None,
        visits: u32::try_from(events.len()).unwrap_or(u32::MAX),
        last_visit_at: events.iter().map(|e| e.at).max(),
        covered,
        flagged,
    };
    if needs.iter().all(|n| state.covered.contains(n)) {
        state.status = Status::Enrolled;
        return state;
    }
    if state.flagged.is_some() {
        state.status = Status::Review;
        state.reason = Some(Reason::Review);
        return state;
    }
    let effective = events
        .iter()
        .filter_map(|e| outcome_of(e).map(|o| (order_key(e), o)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, o)| o);
    let (status, reason, closed_by) = match effective {
        None if state.covered.is_empty() => (Status::Open, Some(Reason::NotVisited), None),
        None => (Status::Open, Some(Reason::PartlyEnrolled), None),
        Some((r @ (OutcomeKind::Deceased | OutcomeKind::DoneElsewhere), _)) => {
            (Status::Closed, None, Some(r))
        }
        Some((OutcomeKind::LivingElsewhere | OutcomeKind::Moved, Some(unit))) => {
            if unit != home_unit {
                state.referred_to = Some(unit.to_owned());
                state.worklist_unit = unit.to_owned();
            }
            (Status::Open, Some(Reason::NotVisited), None)
        }
        Some((OutcomeKind::LivingElsewhere | OutcomeKind::Moved, None)) => {
            (Status::Open, Some(Reason::Moved), None)
        }
        Some((OutcomeKind::Refused, _)) => (Status::Open, Some(Reason::Refused), None),
        Some((OutcomeKind::CannotTravel, _)) => (Status::Open, Some(Reason::CannotTravel), None),
        Some((OutcomeKind::NotHome, _)) => (Status::Open, Some(Reason::NotHome), None),
        // Unreachable: an enrolled outcome covers every need (rule 2).
        Some((OutcomeKind::Enrolled, _)) => (Status::Enrolled, None, None),
    };
    state.status = status;
    state.reason = reason;
    state.closed_by = closed_by;
    state
}

/// One person, for [`coverage`].
#[derive(Debug, Clone, Copy)]
pub struct CoverageInput<'a> {
    pub home_unit: &'a str,
    /// The person has needs.
    pub eligible: bool,
    pub state: &'a PersonState,
}

/// Coverage of one unit (module documentation: what each count means).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageRow {
    pub unit_code: String,
    pub unit_name: String,
    pub eligible: u64,
    pub reached: u64,
    pub enrolled: u64,
    pub closed: u64,
    pub deceased: u64,
    pub done_elsewhere: u64,
    pub referred_out: u64,
    pub referred_in: u64,
    pub review: u64,
    pub remaining: u64,
    pub remaining_by_reason: BTreeMap<String, u64>,
}

/// The `unit_code` of the row that sums the others.
pub const TOTAL_ROW: &str = "total";

impl CoverageRow {
    fn new(unit_code: &str, unit_name: &str) -> CoverageRow {
        CoverageRow {
            unit_code: unit_code.to_owned(),
            unit_name: unit_name.to_owned(),
            eligible: 0,
            reached: 0,
            enrolled: 0,
            closed: 0,
            deceased: 0,
            done_elsewhere: 0,
            referred_out: 0,
            referred_in: 0,
            review: 0,
            remaining: 0,
            // Every reason, so columns are the same in every report.
            remaining_by_reason: Reason::ALL.iter().map(|r| (r.to_string(), 0)).collect(),
        }
    }

    fn add(&mut self, other: &CoverageRow) {
        self.eligible += other.eligible;
        self.reached += other.reached;
        self.enrolled += other.enrolled;
        self.closed += other.closed;
        self.deceased += other.deceased;
        self.done_elsewhere += other.done_elsewhere;
        self.referred_out += other.referred_out;
        self.referred_in += other.referred_in;
        self.review += other.review;
        self.remaining += other.remaining;
        for (reason, n) in &other.remaining_by_reason {
            *self.remaining_by_reason.entry(reason.clone()).or_insert(0) += n;
        }
    }
}

/// The rows being counted, made on first use; `None` for a unit outside
/// `under`.
struct Rows<'u> {
    rows: BTreeMap<String, CoverageRow>,
    units: &'u Units,
    under: Option<&'u str>,
}

impl Rows<'_> {
    fn get(&mut self, code: &str) -> Option<&mut CoverageRow> {
        if self
            .under
            .is_some_and(|scope| !self.units.is_within(code, scope))
        {
            return None;
        }
        let units = self.units;
        Some(self.rows.entry(code.to_owned()).or_insert_with(|| {
            let name = units.get(code).map_or(code, |u| u.name.as_str());
            CoverageRow::new(code, name)
        }))
    }
}

/// Coverage rows per unit, then the total (module documentation).
pub fn coverage<'a>(
    people: impl IntoIterator<Item = CoverageInput<'a>>,
    units: &Units,
    under: Option<&str>,
) -> Vec<CoverageRow> {
    let mut rows = Rows {
        rows: BTreeMap::new(),
        units,
        under,
    };
    for p in people {
        let s = p.state;
        // Rows exist for every unit a person belongs to, counted or not.
        rows.get(p.home_unit);
        rows.get(&s.worklist_unit);
        if !p.eligible {
            continue;
        }
        if let Some(home) = rows.get(p.home_unit) {
            home.eligible += 1;
            home.reached += u64::from(s.visits > 0);
            match s.status {
                Status::Enrolled => home.enrolled += 1,
                Status::Closed => {
                    home.closed += 1;
                    match s.closed_by {
                        Some(OutcomeKind::Deceased) => home.deceased += 1,
                        Some(OutcomeKind::DoneElsewhere) => home.done_elsewhere += 1,
                        _ => {}
                    }
                }
                Status::Open | Status::Review => {}
            }
            if s.referred_to.as_deref().is_some_and(|r| r != p.home_unit) {
                home.referred_out += 1;
            }
        }
        if let Some(to) = s.referred_to.as_deref().filter(|r| *r != p.home_unit)
            && let Some(r) = rows.get(to)
        {
            r.referred_in += 1;
        }
        if let Some(w) = rows.get(&s.worklist_unit) {
            w.review += u64::from(s.flagged.is_some());
            if matches!(s.status, Status::Open | Status::Review) {
                w.remaining += 1;
                let reason = s.reason.unwrap_or(Reason::Review).to_string();
                *w.remaining_by_reason.entry(reason).or_insert(0) += 1;
            }
        }
    }
    let mut total = CoverageRow::new(TOTAL_ROW, "Tổng cộng");
    let mut out: Vec<CoverageRow> = rows.rows.into_values().collect();
    for r in &out {
        total.add(r);
    }
    out.push(total);
    out
}
