//! Worklists on PostgreSQL (`proto/worklist-v1.md`, ADR 0013): the same
//! roster, person events, derived state, moves, assignments, feed and
//! coverage report as the embedded store (`sqlite/worklist.rs`), for
//! central only, each step a few array (`unnest`) statements whatever the
//! number of people.
//!
//! # Revisions with several ingest nodes
//!
//! Every change of a roster row takes the next value of the
//! `worklist_counter` row, and every transaction that takes one holds the
//! log lock (`log_state … FOR UPDATE`) from its first statement until it
//! commits: a batch holds it anyway (`apply.rs`), a roster import takes it
//! first. So revisions are unique and handed out in commit order, and the
//! counter's committed value is the feed's head: a page reads the head and
//! the rows in one snapshot (REPEATABLE READ), so it sees every row at or
//! below the head, and whatever commits after the snapshot has a higher
//! revision — a page never skips a change. A sequence would not do: its
//! values are taken outside transactions, so a later transaction could
//! commit a lower revision after a page went past it. The lock also makes
//! a person's read, derive and write exact: nothing else changes their
//! roster row or events in between. Assignments take no revision (a change
//! of scope makes the next download a full one) and no log lock.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::roster::Resident;
use doorstep_core::units::Units;
use doorstep_core::worklist::{PersonEvent, Reason, derive};
use doorstep_wire::NodeRole;
use doorstep_wire::worklist::{
    Assignment, DEFAULT_WORKLIST_PAGE, MAX_WORKLIST_PAGE, StationDevice, WorklistChange,
    WorklistPage, WorklistPerson, WorklistRequest,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::apply::{NewRecords, Tx, run};
use super::{to_i64, to_u64};
use crate::error::CentralError;
use crate::worklist::{
    AssignError, AssignMode, AssignmentLine, CoverageDraft, CoverageReport, CoverageSource,
    Derived, Placement, ReviewOutcome, RosterImport, assignment_lines, in_scope, join, needs_of,
    person_event, placement, scope_of, split, units_in_scope,
};

/// The log lock (`apply.rs` takes the same row first): see the module
/// documentation.
const LOCK_LOG: &str = "SELECT 1 FROM log_state WHERE id = 1 FOR UPDATE";

/// Takes `n` revisions; answers the first (the others follow it).
async fn take_revs(tx: &Tx<'_>, n: usize) -> Result<i64, CentralError> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let rows = run(
        tx,
        "UPDATE worklist_counter SET rev = rev + $1 WHERE id = 1 RETURNING rev",
        &[&n],
    )
    .await?;
    let last: i64 = rows
        .first()
        .ok_or_else(|| CentralError::Inconsistent("the worklist counter has no row".into()))?
        .get(0);
    Ok(last - n + 1)
}

/// A roster row, as refresh and import compare it.
struct RosterRow {
    id: i64,
    personal_id: String,
    full_name: String,
    date_of_birth: String,
    sex: String,
    unit_code: String,
    address_detail: Option<String>,
    household: Option<String>,
    needs: String,
    in_extract: bool,
    derived: Derived,
}

const ROSTER_COLUMNS: &str = "person_id, personal_id, full_name, date_of_birth, sex, unit_code,
    address_detail, household, needs, in_extract, status, reason, closed_by, worklist_unit,
    referred_to, covered, visits, last_visit_at, flagged";

fn roster_row(r: &Row) -> RosterRow {
    RosterRow {
        id: r.get(0),
        personal_id: r.get(1),
        full_name: r.get(2),
        date_of_birth: r.get(3),
        sex: r.get(4),
        unit_code: r.get(5),
        address_detail: r.get(6),
        household: r.get(7),
        needs: r.get(8),
        in_extract: r.get(9),
        derived: Derived {
            status: r.get(10),
            reason: r.get(11),
            closed_by: r.get(12),
            worklist_unit: r.get(13),
            referred_to: r.get(14),
            covered: r.get(15),
            visits: r.get(16),
            last_visit_at: r.get(17),
            flagged: r.get(18),
        },
    }
}

async fn roster_rows(tx: &Tx<'_>, pids: &[&str]) -> Result<Vec<RosterRow>, CentralError> {
    let rows = run(
        tx,
        &format!("SELECT {ROSTER_COLUMNS} FROM roster WHERE personal_id = ANY($1)"),
        &[&pids],
    )
    .await?;
    Ok(rows.iter().map(roster_row).collect())
}

/// The events of these people, by personal ID.
async fn events_of(
    tx: &Tx<'_>,
    pids: &[&str],
) -> Result<HashMap<String, Vec<PersonEvent>>, CentralError> {
    let mut out: HashMap<String, Vec<PersonEvent>> = HashMap::new();
    if pids.is_empty() {
        return Ok(out);
    }
    let rows = run(
        tx,
        "SELECT personal_id, record_id, device_id, device_seq, at, kind, result, unit_code
         FROM person_events WHERE personal_id = ANY($1)",
        &[&pids],
    )
    .await?;
    for r in rows {
        let event = person_event(
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
            r.get(7),
        );
        if let Some(event) = event {
            out.entry(r.get(0)).or_default().push(event);
        }
    }
    Ok(out)
}

/// Moves to remember: (revision, person, old unit, old household).
#[derive(Default)]
struct Moves {
    revs: Vec<i64>,
    ids: Vec<i64>,
    units: Vec<String>,
    households: Vec<Option<String>>,
}

impl Moves {
    /// Notes where the person was when the change at `rev` takes them off
    /// worklists they were on.
    fn note(&mut self, rev: i64, id: i64, before: &Placement, after: &Placement) {
        if before.left_for(after) {
            self.revs.push(rev);
            self.ids.push(id);
            self.units.push(before.worklist_unit.clone());
            self.households.push(before.household.clone());
        }
    }

    async fn write(&self, tx: &Tx<'_>) -> Result<(), CentralError> {
        if self.revs.is_empty() {
            return Ok(());
        }
        run(
            tx,
            "INSERT INTO worklist_moves (rev, person_id, old_unit, old_household)
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[])",
            &[&self.revs, &self.ids, &self.units, &self.households],
        )
        .await?;
        Ok(())
    }
}

/// New derived columns of roster rows, column by column.
#[derive(Default)]
struct DerivedColumns {
    ids: Vec<i64>,
    status: Vec<String>,
    reason: Vec<Option<String>>,
    closed_by: Vec<Option<String>>,
    worklist_unit: Vec<String>,
    referred_to: Vec<Option<String>>,
    covered: Vec<String>,
    visits: Vec<i64>,
    last_visit_at: Vec<Option<String>>,
    flagged: Vec<Option<String>>,
    revs: Vec<i64>,
}

impl DerivedColumns {
    fn push(&mut self, id: i64, d: Derived, rev: i64) {
        self.ids.push(id);
        self.status.push(d.status);
        self.reason.push(d.reason);
        self.closed_by.push(d.closed_by);
        self.worklist_unit.push(d.worklist_unit);
        self.referred_to.push(d.referred_to);
        self.covered.push(d.covered);
        self.visits.push(d.visits);
        self.last_visit_at.push(d.last_visit_at);
        self.flagged.push(d.flagged);
        self.revs.push(rev);
    }

    /// The columns as parameters $1..$11, in the order of
    /// [`DERIVED_UNNEST`].
    fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        [
            &self.ids,
            &self.status,
            &self.reason,
            &self.closed_by,
            &self.worklist_unit,
            &self.referred_to,
            &self.covered,
            &self.visits,
            &self.last_visit_at,
            &self.flagged,
            &self.revs,
        ]
    }

    async fn write(&self, tx: &Tx<'_>) -> Result<(), CentralError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        run(
            tx,
            &format!(
                "UPDATE roster r SET {DERIVED_SET}
                 FROM {DERIVED_UNNEST}
                 WHERE r.person_id = u.id"
            ),
            &self.params(),
        )
        .await?;
        Ok(())
    }
}

const DERIVED_UNNEST: &str = "unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::int8[], $9::text[], $10::text[], $11::int8[])
    AS u(id, status, reason, closed_by, worklist_unit, referred_to, covered, visits,
         last_visit_at, flagged, rev)";

const DERIVED_SET: &str = "status = u.status, reason = u.reason, closed_by = u.closed_by,
    worklist_unit = u.worklist_unit, referred_to = u.referred_to, covered = u.covered,
    visits = u.visits, last_visit_at = u.last_visit_at, flagged = u.flagged, rev = u.rev";

/// Recomputes the derived state of these people (those on the roster),
/// in the order given; each change takes a new revision. Under the log
/// lock.
async fn refresh(tx: &Tx<'_>, pids: &[&str]) -> Result<(), CentralError> {
    if pids.is_empty() {
        return Ok(());
    }
    let rows: HashMap<String, RosterRow> = roster_rows(tx, pids)
        .await?
        .into_iter()
        .map(|r| (r.personal_id.clone(), r))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let on_roster: Vec<&str> = pids
        .iter()
        .copied()
        .filter(|p| rows.contains_key(*p))
        .collect();
    let events = events_of(tx, &on_roster).await?;
    let mut changed = Vec::new();
    for pid in on_roster {
        let Some(row) = rows.get(pid) else { continue };
        let none = Vec::new();
        let state = derive(
            &row.unit_code,
            &needs_of(&row.needs),
            events.get(pid).unwrap_or(&none),
        );
        let new = Derived::of(&state);
        if new != row.derived {
            changed.push((row, new));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    let first = take_revs(tx, changed.len()).await?;
    let mut columns = DerivedColumns::default();
    let mut moves = Moves::default();
    for (rev, (row, new)) in (first..).zip(changed) {
        let household = row.household.as_deref();
        let old = &row.derived;
        let before = placement(row.in_extract, &old.status, &old.worklist_unit, household);
        let after = placement(row.in_extract, &new.status, &new.worklist_unit, household);
        moves.note(rev, row.id, &before, &after);
        columns.push(row.id, new, rev);
    }
    tokio::try_join!(columns.write(tx), moves.write(tx))?;
    Ok(())
}

/// At ingest, in the batch transaction (under the log lock): notes the
/// accepted records that name a person as their events, removes the events
/// of the records they correct, and refreshes everyone touched. As the
/// embedded store does record by record: a correction removes the event of
/// a record accepted before it (in an earlier batch, or earlier in these).
pub(super) async fn record_events<'a>(
    tx: &Tx<'_>,
    new: impl Iterator<Item = &'a NewRecords<'a>>,
) -> Result<(), CentralError> {
    let mut ids = Vec::new();
    let mut pids: Vec<&str> = Vec::new();
    let mut devices = Vec::new();
    let mut seqs = Vec::new();
    let mut ats: Vec<&str> = Vec::new();
    let mut kinds: Vec<&str> = Vec::new();
    let mut results: Vec<Option<&str>> = Vec::new();
    let mut units: Vec<Option<&str>> = Vec::new();
    let mut corrections: Vec<(usize, Uuid)> = Vec::new();
    for n in new {
        for (i, person) in n.people.iter().enumerate() {
            let (Some(person), Some(id), Some(device), Some(seq), Some(kind)) = (
                person,
                n.ids.get(i),
                n.devices.get(i),
                n.seqs.get(i),
                n.kinds.get(i),
            ) else {
                continue;
            };
            if let Some(old) = person.supersedes {
                corrections.push((ids.len(), old));
            }
            ids.push(*id);
            pids.push(person.personal_id.as_str());
            devices.push(*device);
            seqs.push(*seq);
            ats.push(person.at.as_str());
            kinds.push(*kind);
            results.push(person.result.map(|r| r.as_str()));
            units.push(person.unit_code.as_deref());
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    run(
        tx,
        "INSERT INTO person_events (record_id, personal_id, device_id, device_seq, at, kind, result, unit_code)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int8[], $5::text[], $6::text[],
                              $7::text[], $8::text[])
         ON CONFLICT (record_id) DO NOTHING",
        &[&ids, &pids, &devices, &seqs, &ats, &kinds, &results, &units],
    )
    .await?;
    // A correction of a record that comes later in these batches finds
    // nothing to remove, as it would have record by record.
    let position: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let replaced: Vec<Uuid> = corrections
        .iter()
        .filter(|(at, old)| position.get(old).is_none_or(|p| p < at))
        .map(|(_, old)| *old)
        .collect();
    let mut touched: Vec<String> = Vec::new();
    if !replaced.is_empty() {
        let rows = run(
            tx,
            "DELETE FROM person_events WHERE record_id = ANY($1) RETURNING personal_id",
            &[&replaced],
        )
        .await?;
        touched.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    touched.extend(pids.iter().map(|p| (*p).to_owned()));
    let mut seen = HashSet::new();
    let order: Vec<&str> = touched
        .iter()
        .map(String::as_str)
        .filter(|p| seen.insert(*p))
        .collect();
    refresh(tx, &order).await
}

/// Loads a roster extract in one transaction, under the log lock (see the
/// module documentation): the embedded store's rules, each step in bulk.
pub(super) async fn import_roster(
    client: &mut deadpool_postgres::Object,
    residents: &[Resident],
    now: DateTime<Utc>,
) -> Result<RosterImport, CentralError> {
    let at = format_utc_millis(&now);
    let mut report = RosterImport {
        residents: residents.len() as u64,
        ..RosterImport::default()
    };
    let file_units: BTreeSet<&str> = residents.iter().map(|r| r.unit_code.as_str()).collect();
    report.units = file_units.iter().map(|u| (*u).to_owned()).collect();
    // A personal ID listed twice: its last line counts (the parser
    // refuses such files anyway).
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, r) in residents.iter().enumerate() {
        last.insert(r.personal_id.as_str(), i);
    }
    let residents: Vec<&Resident> = residents
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(r.personal_id.as_str()) == Some(i))
        .map(|(_, r)| r)
        .collect();
    let listed: Vec<&str> = residents.iter().map(|r| r.personal_id.as_str()).collect();
    let units: Vec<&str> = file_units.iter().copied().collect();

    let tx = client.transaction().await.map_err(CentralError::pg)?;
    run(&tx, LOCK_LOG, &[]).await?;
    let existing: HashMap<String, RosterRow> = roster_rows(&tx, &listed)
        .await?
        .into_iter()
        .map(|r| (r.personal_id.clone(), r))
        .collect();
    let rows = run(
        &tx,
        "SELECT person_id, personal_id, status, household, worklist_unit FROM roster
         WHERE unit_code = ANY($1) AND in_extract ORDER BY unit_code, person_id",
        &[&units],
    )
    .await?;
    let listed_set: HashSet<&str> = listed.iter().copied().collect();
    let gone: Vec<(i64, Placement)> = rows
        .iter()
        .filter(|r| !listed_set.contains(r.get::<_, &str>(1)))
        .map(|r| {
            let status: &str = r.get(2);
            let household: Option<&str> = r.get(3);
            let unit: &str = r.get(4);
            (r.get(0), placement(true, status, unit, household))
        })
        .collect();

    /// What becomes of one listed resident.
    enum Line<'r> {
        Add(&'r Resident, String, String),
        Update(&'r Resident, &'r RosterRow, String, String),
    }
    let mut lines = Vec::new();
    for r in &residents {
        let needs = join(r.needs.iter().map(|n| n.as_str()));
        let dob = r.date_of_birth.format("%Y-%m-%d").to_string();
        match existing.get(&r.personal_id) {
            None => lines.push(Line::Add(r, needs, dob)),
            Some(old) => {
                let same = old.full_name == r.full_name
                    && old.date_of_birth == dob
                    && old.sex == r.sex.as_str()
                    && old.unit_code == r.unit_code
                    && old.address_detail == r.address_detail
                    && old.household == r.household
                    && old.needs == needs
                    && old.in_extract;
                if same {
                    report.unchanged += 1;
                } else {
                    lines.push(Line::Update(r, old, needs, dob));
                }
            }
        }
    }
    // Everyone added or changed is derived over their events.
    let derive_pids: Vec<&str> = lines
        .iter()
        .map(|l| match l {
            Line::Add(r, ..) | Line::Update(r, ..) => r.personal_id.as_str(),
        })
        .collect();
    let events = events_of(&tx, &derive_pids).await?;
    let none = Vec::new();
    let state_of = |r: &Resident| {
        Derived::of(&derive(
            &r.unit_code,
            &r.needs,
            events.get(&r.personal_id).unwrap_or(&none),
        ))
    };

    let changes = lines.len() + gone.len();
    let first = if changes == 0 {
        0
    } else {
        take_revs(&tx, changes).await?
    };
    let mut revs = first..;
    let mut added = NewRows::default();
    let mut updated = NewRows::default();
    let mut moves = Moves::default();
    for line in lines {
        let rev = revs.next().unwrap_or(i64::MAX);
        match line {
            Line::Add(r, needs, dob) => {
                added.push(None, r, needs, dob, state_of(r), rev);
                report.added += 1;
            }
            Line::Update(r, old, needs, dob) => {
                let before = placement(
                    old.in_extract,
                    &old.derived.status,
                    &old.derived.worklist_unit,
                    old.household.as_deref(),
                );
                let d = state_of(r);
                let after = placement(true, &d.status, &d.worklist_unit, r.household.as_deref());
                moves.note(rev, old.id, &before, &after);
                updated.push(Some(old.id), r, needs, dob, d, rev);
                report.updated += 1;
            }
        }
    }
    let mut gone_ids = Vec::new();
    let mut gone_revs = Vec::new();
    for (id, before) in &gone {
        let rev = revs.next().unwrap_or(i64::MAX);
        let after = Placement {
            visible: false,
            ..before.clone()
        };
        moves.note(rev, *id, before, &after);
        gone_ids.push(*id);
        gone_revs.push(rev);
        report.absent += 1;
    }
    let absent = async {
        if gone_ids.is_empty() {
            return Ok(());
        }
        run(
            &tx,
            "UPDATE roster r SET in_extract = FALSE, rev = g.rev, imported_at = $3
             FROM unnest($1::int8[], $2::int8[]) AS g(id, rev) WHERE r.person_id = g.id",
            &[&gone_ids, &gone_revs, &at],
        )
        .await
        .map(drop)
    };
    tokio::try_join!(
        added.insert(&tx, &at),
        updated.update(&tx, &at),
        absent,
        moves.write(&tx),
    )?;
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(report)
}

/// Roster rows to insert or update, column by column.
#[derive(Default)]
struct NewRows<'r> {
    ids: Vec<i64>,
    personal_ids: Vec<&'r str>,
    names: Vec<&'r str>,
    dobs: Vec<String>,
    sexes: Vec<&'static str>,
    units: Vec<&'r str>,
    details: Vec<Option<&'r str>>,
    households: Vec<Option<&'r str>>,
    needs: Vec<String>,
    derived: DerivedColumns,
}

impl<'r> NewRows<'r> {
    fn push(
        &mut self,
        id: Option<i64>,
        r: &'r Resident,
        needs: String,
        dob: String,
        d: Derived,
        rev: i64,
    ) {
        let id = id.unwrap_or(0);
        self.ids.push(id);
        self.personal_ids.push(&r.personal_id);
        self.names.push(&r.full_name);
        self.dobs.push(dob);
        self.sexes.push(r.sex.as_str());
        self.units.push(&r.unit_code);
        self.details.push(r.address_detail.as_deref());
        self.households.push(r.household.as_deref());
        self.needs.push(needs);
        self.derived.push(id, d, rev);
    }

    fn params<'p>(&'p self, at: &'p String) -> Vec<&'p (dyn ToSql + Sync)> {
        let mut p: Vec<&(dyn ToSql + Sync)> = self.derived.params().to_vec();
        p.extend([
            &self.personal_ids as &(dyn ToSql + Sync),
            &self.names,
            &self.dobs,
            &self.sexes,
            &self.units,
            &self.details,
            &self.households,
            &self.needs,
            at,
        ]);
        p
    }

    /// New rows (their IDs are the database's).
    async fn insert(&self, tx: &Tx<'_>, at: &String) -> Result<(), CentralError> {
        if self.personal_ids.is_empty() {
            return Ok(());
        }
        run(
            tx,
            &format!(
                "INSERT INTO roster (personal_id, full_name, date_of_birth, sex, unit_code,
                     address_detail, household, needs, in_extract, imported_at, status, reason,
                     closed_by, worklist_unit, referred_to, covered, visits, last_visit_at, flagged, rev)
                 SELECT u.personal_id, u.full_name, u.dob, u.sex, u.unit_code, u.detail, u.household,
                        u.needs, TRUE, $20, u.status, u.reason, u.closed_by, u.worklist_unit,
                        u.referred_to, u.covered, u.visits, u.last_visit_at, u.flagged, u.rev
                 FROM {ROW_UNNEST}
                 ORDER BY u.n"
            ),
            &self.params(at),
        )
        .await?;
        Ok(())
    }

    /// Rows listed again, changed.
    async fn update(&self, tx: &Tx<'_>, at: &String) -> Result<(), CentralError> {
        if self.personal_ids.is_empty() {
            return Ok(());
        }
        run(
            tx,
            &format!(
                "UPDATE roster r SET {DERIVED_SET}, full_name = u.full_name, date_of_birth = u.dob,
                     sex = u.sex, unit_code = u.unit_code, address_detail = u.detail,
                     household = u.household, needs = u.needs, in_extract = TRUE, imported_at = $20
                 FROM {ROW_UNNEST}
                 WHERE r.person_id = u.id"
            ),
            &self.params(at),
        )
        .await?;
        Ok(())
    }
}

/// [`NewRows::params`] as rows: the derived columns, then the resident's.
const ROW_UNNEST: &str = "unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::int8[], $9::text[], $10::text[], $11::int8[], $12::text[],
        $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
    WITH ORDINALITY
    AS u(id, status, reason, closed_by, worklist_unit, referred_to, covered, visits,
         last_visit_at, flagged, rev, personal_id, full_name, dob, sex, unit_code, detail,
         household, needs, n)";

/// A device's assignment: every source together.
async fn assignment_of<C: GenericClient + Sync>(
    client: &C,
    device: Uuid,
) -> Result<Assignment, CentralError> {
    let rows = client
        .query(
            "SELECT DISTINCT kind, value FROM assignments WHERE device_id = $1 ORDER BY kind, value",
            &[&device],
        )
        .await
        .map_err(CentralError::pg)?;
    let mut out = Assignment::default();
    for r in rows {
        let (kind, value): (&str, String) = (r.get(0), r.get(1));
        if kind == "unit" {
            out.units.push(value);
        } else {
            out.households.push(value);
        }
    }
    Ok(out)
}

/// Changes what `device` is assigned, after the embedded store's checks.
/// The device's key row is locked (`FOR SHARE`) while it is assigned, so
/// a revocation is either seen or comes after.
pub(super) async fn assign(
    client: &mut deadpool_postgres::Object,
    units_list: &Units,
    device: Uuid,
    mode: AssignMode,
    units: &[String],
    households: &[String],
    now: DateTime<Utc>,
) -> Result<Assignment, AssignError> {
    if units.is_empty() && households.is_empty() && mode != AssignMode::Replace {
        return Err(AssignError::Empty);
    }
    if let Some(u) = units.iter().find(|u| !units_list.contains(u)) {
        return Err(AssignError::UnknownUnit(u.clone()));
    }
    let pg = |e| AssignError::Store(CentralError::pg(e));
    let tx = client.transaction().await.map_err(pg)?;
    let grant = tx
        .query_opt(
            "SELECT unit_code, revoked_at IS NOT NULL FROM node_keys WHERE node_id = $1 FOR SHARE",
            &[&device],
        )
        .await
        .map_err(pg)?;
    let device_unit: String = match grant {
        None => return Err(AssignError::UnknownDevice(device)),
        Some(g) if g.get::<_, bool>(1) => return Err(AssignError::Revoked(device)),
        Some(g) => g.get(0),
    };
    if mode != AssignMode::Remove
        && let Some(u) = units
            .iter()
            .find(|u| !units_list.is_within(u, &device_unit))
    {
        return Err(AssignError::OutsideDevice {
            unit: u.clone(),
            device,
            device_unit,
        });
    }
    if mode == AssignMode::Replace {
        tx.execute(
            "DELETE FROM assignments WHERE device_id = $1 AND source = 'central'",
            &[&device],
        )
        .await
        .map_err(pg)?;
    }
    let (kinds, values): (Vec<&str>, Vec<&str>) = units
        .iter()
        .map(|u| ("unit", u.as_str()))
        .chain(households.iter().map(|h| ("household", h.as_str())))
        .unzip();
    if mode == AssignMode::Remove {
        tx.execute(
            "DELETE FROM assignments a USING unnest($2::text[], $3::text[]) AS w(kind, value)
             WHERE a.device_id = $1 AND a.source = 'central' AND a.kind = w.kind AND a.value = w.value",
            &[&device, &kinds, &values],
        )
        .await
        .map_err(pg)?;
    } else {
        tx.execute(
            "INSERT INTO assignments (device_id, kind, value, source, assigned_at)
             SELECT $1, w.kind, w.value, 'central', $4 FROM unnest($2::text[], $3::text[]) AS w(kind, value)
             ON CONFLICT DO NOTHING",
            &[&device, &kinds, &values, &format_utc_millis(&now)],
        )
        .await
        .map_err(pg)?;
    }
    let out = assignment_of(&tx, device).await?;
    tx.commit().await.map_err(pg)?;
    Ok(out)
}

/// Every device's assignment, with how many people it covers now.
pub(super) async fn assignments(
    client: &deadpool_postgres::Object,
    units: &Units,
) -> Result<Vec<AssignmentLine>, CentralError> {
    let (items, visible) = tokio::try_join!(
        client.query(
            "SELECT device_id, source, kind, value FROM assignments
             ORDER BY device_id, source, kind, value",
            &[],
        ),
        client.query(
            "SELECT worklist_unit, household FROM roster
             WHERE in_extract AND status IN ('open', 'review')",
            &[],
        ),
    )
    .map_err(CentralError::pg)?;
    let items = items
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)));
    let visible: Vec<(String, Option<String>)> =
        visible.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(assignment_lines(items, &visible, units))
}

const FEED_COLUMNS: &str = "r.person_id, r.personal_id, r.full_name, r.date_of_birth, r.sex,
    r.unit_code, r.address_detail, r.household, r.in_extract, r.status, r.reason, r.needs,
    r.worklist_unit, r.referred_to, r.covered, r.visits, r.last_visit_at, r.rev";

/// The rows of a feed page, above `$1` up to the head `$2`, that may
/// become a change for a device whose scope is units `$3` (every unit
/// within its assigned ones) and households `$4`: visible ones in scope,
/// and, when a download has a floor `$5`, those with a move since it out
/// of a place in scope (`was_here`). The rules are checked again on each
/// row as the embedded store checks them.
const FEED_ROWS: &str = "SELECT {FEED_COLUMNS}, w.was_here
    FROM roster r
    CROSS JOIN LATERAL (
        SELECT $5::int8 IS NOT NULL AND EXISTS (
            SELECT 1 FROM worklist_moves m
            WHERE m.person_id = r.person_id AND m.rev > $5
              AND (m.old_unit = ANY($3) OR m.old_household = ANY($4)))
    ) AS w(was_here)
    WHERE r.rev > $1 AND r.rev <= $2
      AND ((r.in_extract AND r.status IN ('open', 'review')
            AND (r.worklist_unit = ANY($3) OR r.household = ANY($4)))
           OR w.was_here)
    ORDER BY r.rev
    LIMIT $6";

struct FeedRow {
    placement: Placement,
    person: WorklistPerson,
    rev: i64,
    was_here: bool,
}

fn feed_row(r: &Row) -> FeedRow {
    let person_id: i64 = r.get(0);
    let in_extract: bool = r.get(8);
    let status: String = r.get(9);
    let worklist_unit: String = r.get(12);
    let household: Option<String> = r.get(7);
    let unit_code: String = r.get(5);
    let referred_to: Option<String> = r.get(13);
    let reason: Option<String> = r.get(10);
    FeedRow {
        placement: placement(in_extract, &status, &worklist_unit, household.as_deref()),
        person: WorklistPerson {
            id: to_u64(person_id),
            personal_id: r.get(1),
            full_name: r.get(2),
            date_of_birth: r.get(3),
            sex: r.get(4),
            referred_from: referred_to.as_ref().map(|_| unit_code.clone()),
            unit_code,
            address_detail: r.get(6),
            household,
            needs: split(r.get(11)),
            covered: split(r.get(14)),
            worklist_unit,
            status,
            reason: reason.unwrap_or_else(|| Reason::NotVisited.as_str().to_owned()),
            visits: u32::try_from(r.get::<_, i64>(15)).unwrap_or(u32::MAX),
            last_visit_at: r.get(16),
        },
        rev: r.get(17),
        was_here: r.get(18),
    }
}

/// One page of `device`'s feed (its own assignment; for a station without
/// one, its registered unit, and with the first page its laptops), read in
/// one snapshot with the feed's head.
pub(super) async fn page(
    client: &mut deadpool_postgres::Object,
    units: &Units,
    issuer: Uuid,
    device: Uuid,
    req: &WorklistRequest,
) -> Result<WorklistPage, CentralError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(CentralError::pg)?;
    let head = run(&tx, "SELECT rev FROM worklist_counter WHERE id = 1", &[])
        .await?
        .first()
        .map_or(0, |r| r.get::<_, i64>(0));
    let mut a = assignment_of(&tx, device).await?;
    let grants = super::registry::grants(&*tx, &[device]).await?;
    let station = grants
        .get(&device)
        .filter(|g| g.role == NodeRole::Station)
        .map(|g| g.unit_code.clone());
    if let Some(unit) = &station
        && a.units.is_empty()
        && a.households.is_empty()
    {
        a.units.push(unit.clone());
    }
    let scope = scope_of(issuer, &a);
    let since = req
        .since
        .as_ref()
        .filter(|s| s.scope == scope)
        .map(|s| s.rev);
    let full = since.is_none();
    let limit = req
        .limit
        .unwrap_or(DEFAULT_WORKLIST_PAGE)
        .clamp(1, MAX_WORKLIST_PAGE) as usize;
    let start = req.after.unwrap_or(0).max(since.unwrap_or(0));
    // Who may hold a person: in an incremental download, anyone who had
    // them at the checkpoint; in a full one, only from a page of this
    // download (the end of a full download drops everyone else).
    let floor = if full { req.after } else { since }.map(to_i64);
    let scope_units = units_in_scope(units, &a);
    let mut scope_households = a.households.clone();
    scope_households.sort();
    scope_households.dedup();
    let chunk = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let sql = FEED_ROWS.replace("{FEED_COLUMNS}", FEED_COLUMNS);
    let mut changes = Vec::new();
    let mut cursor = start;
    let mut more = false;
    let mut from = to_i64(start);
    'pages: loop {
        let rows = run(
            &tx,
            &sql,
            &[
                &from,
                &head,
                &scope_units,
                &scope_households,
                &floor,
                &chunk,
            ],
        )
        .await?;
        for r in &rows {
            if changes.len() >= limit {
                more = true;
                break 'pages;
            }
            let row = feed_row(r);
            cursor = to_u64(row.rev);
            from = row.rev;
            let p = &row.placement;
            if p.visible && in_scope(units, &a, &p.worklist_unit, p.household.as_deref()) {
                changes.push(WorklistChange::Put {
                    rev: cursor,
                    person: row.person,
                });
            } else if floor.is_some() && row.was_here {
                changes.push(WorklistChange::Remove {
                    rev: cursor,
                    id: row.person.id,
                });
            }
        }
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) < chunk {
            break;
        }
    }
    if !more {
        cursor = to_u64(head).max(cursor);
    }
    let devices = match (&station, req.after) {
        (Some(_), None) => Some(station_devices(&tx, device).await?),
        _ => None,
    };
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(WorklistPage {
        protocol: doorstep_wire::PROTOCOL_VERSION,
        issuer,
        full,
        scope,
        assignment: a,
        changes,
        cursor,
        more,
        devices,
    })
}

/// The laptops registered under `station`, with their keys and what
/// central assigned them: sent to the station with its first page.
async fn station_devices(tx: &Tx<'_>, station: Uuid) -> Result<Vec<StationDevice>, CentralError> {
    let params: [&(dyn ToSql + Sync); 1] = [&station];
    let (keys, items) = tokio::try_join!(
        run(
            tx,
            "SELECT node_id, public_key, unit_code, name, revoked_at IS NOT NULL FROM node_keys
             WHERE station_id = $1 ORDER BY node_id",
            &params,
        ),
        run(
            tx,
            "SELECT DISTINCT a.device_id, a.kind, a.value FROM assignments a
             JOIN node_keys k ON k.node_id = a.device_id
             WHERE k.station_id = $1 ORDER BY a.device_id, a.kind, a.value",
            &params,
        ),
    )?;
    let mut assigned: HashMap<Uuid, Assignment> = HashMap::new();
    for r in &items {
        let a = assigned.entry(r.get(0)).or_default();
        let (kind, value): (&str, String) = (r.get(1), r.get(2));
        if kind == "unit" {
            a.units.push(value);
        } else {
            a.households.push(value);
        }
    }
    Ok(keys
        .iter()
        .map(|r| {
            let device_id: Uuid = r.get(0);
            StationDevice {
                device_id,
                public_key: hex::encode(r.get::<_, &[u8]>(1)),
                unit_code: r.get(2),
                name: r.get(3),
                revoked: r.get(4),
                assignment: assigned.remove(&device_id).unwrap_or_default(),
            }
        })
        .collect())
}

/// Coverage per unit under `under` (every unit when `None`) and, when
/// `with_people`, who is flagged for review and who is left.
pub(super) async fn coverage(
    client: &deadpool_postgres::Object,
    units: &Units,
    under: Option<&str>,
    with_people: bool,
) -> Result<CoverageReport, CentralError> {
    let rows = client
        .query(
            "SELECT unit_code, needs, status, reason, closed_by, worklist_unit, referred_to,
                    covered, visits, flagged, personal_id, full_name, household, address_detail,
                    last_visit_at
             FROM roster WHERE in_extract",
            &[],
        )
        .await
        .map_err(CentralError::pg)?;
    let sources = rows
        .iter()
        .map(|r| CoverageSource {
            home: r.get(0),
            needs: r.get(1),
            derived: Derived {
                status: r.get(2),
                reason: r.get(3),
                closed_by: r.get(4),
                worklist_unit: r.get(5),
                referred_to: r.get(6),
                covered: r.get(7),
                visits: r.get(8),
                last_visit_at: r.get(14),
                flagged: r.get(9),
            },
            personal_id: r.get(10),
            full_name: r.get(11),
            household: r.get(12),
            detail: r.get(13),
        })
        .collect();
    drop(rows);
    let draft = CoverageDraft::new(sources, units, under);
    if !with_people {
        return Ok(draft.rows_only());
    }
    let flagged = draft.flagged(units);
    let mut outcomes: HashMap<String, Vec<ReviewOutcome>> = HashMap::new();
    if !flagged.is_empty() {
        let rows = client
            .query(
                "SELECT personal_id, record_id, device_id, at, kind, result, unit_code
                 FROM person_events WHERE personal_id = ANY($1) ORDER BY at, record_id::text",
                &[&flagged],
            )
            .await
            .map_err(CentralError::pg)?;
        for r in rows {
            outcomes.entry(r.get(0)).or_default().push(ReviewOutcome {
                record_id: r.get::<_, Uuid>(1).to_string(),
                device_id: r.get::<_, Uuid>(2).to_string(),
                at: r.get(3),
                kind: r.get(4),
                result: r.get(5),
                unit_code: r.get(6),
            });
        }
    }
    Ok(draft.with_people(units, &mut outcomes))
}

/// Roster size, people remaining, people flagged and the feed's head.
pub(super) async fn roster_counts(
    client: &deadpool_postgres::Object,
) -> Result<HashMap<&'static str, u64>, CentralError> {
    let row = client
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE in_extract AND status IN ('open', 'review')),
                    count(*) FILTER (WHERE in_extract AND flagged IS NOT NULL),
                    (SELECT rev FROM worklist_counter WHERE id = 1)
             FROM roster",
            &[],
        )
        .await
        .map_err(CentralError::pg)?;
    let n = |i: usize| to_u64(row.get::<_, Option<i64>>(i).unwrap_or(0));
    Ok(HashMap::from([
        ("people", n(0)),
        ("remaining", n(1)),
        ("review", n(2)),
        ("rev", n(3)),
    ]))
}
