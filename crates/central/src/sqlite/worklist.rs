//! Worklists in the embedded store (`proto/worklist-v1.md`): the roster,
//! what teams reported about each resident (`person_events`), the state
//! derived from it by `core::worklist::derive`, assignments, and the feed
//! of changes devices download, ordered by one revision counter.
//!
//! Roster rows are never deleted: a person who leaves every worklist
//! (reached, absent from a newer extract, removed by central on a station)
//! becomes invisible with a new revision, and `worklist_moves` remembers
//! where they were so an incremental download can tell a device to drop
//! them.

use std::collections::{BTreeSet, HashMap};

use doorstep_core::record::{OutcomeKind, RecordKind};
use doorstep_core::roster::Resident;
use doorstep_core::units::Units;
use doorstep_core::worklist::{PersonEvent, Reason, derive};
use doorstep_wire::NodeRole;
use doorstep_wire::worklist::{
    Assignment, DEFAULT_WORKLIST_PAGE, MAX_WORKLIST_PAGE, StationDevice, WorklistChange,
    WorklistPage, WorklistPerson, WorklistRequest,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use uuid::Uuid;

use crate::store::PersonFacts;
use crate::worklist::{
    AssignMode, CoverageDraft, CoverageReport, CoverageSource, Derived, Placement, ReviewOutcome,
    RosterImport, assignment_lines, in_scope, join, needs_of, person_event, placement, scope_of,
    split,
};

fn next_rev(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    tx.prepare_cached("UPDATE worklist_counter SET rev = rev + 1 WHERE id = 1 RETURNING rev")?
        .query_row([], |r| r.get(0))
}

pub(crate) fn current_rev(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT rev FROM worklist_counter WHERE id = 1", [], |r| {
        r.get(0)
    })
}

/// Takes the next revision for `person_id` and, when the person left
/// worklists they were on, notes where they were.
fn bump(
    tx: &Transaction<'_>,
    person_id: i64,
    before: Option<&Placement>,
    after: &Placement,
) -> rusqlite::Result<i64> {
    let rev = next_rev(tx)?;
    if let Some(old) = before
        && old.left_for(after)
    {
        tx.prepare_cached(
            "INSERT INTO worklist_moves (rev, person_id, old_unit, old_household) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![rev, person_id, old.worklist_unit, old.household])?;
    }
    Ok(rev)
}

fn events_of(tx: &Connection, personal_id: &str) -> rusqlite::Result<Vec<PersonEvent>> {
    let mut stmt = tx.prepare_cached(
        "SELECT record_id, device_id, device_seq, at, kind, result, unit_code
         FROM person_events WHERE personal_id = ?1",
    )?;
    let rows = stmt.query_map([personal_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (record_id, device_id, seq, at, kind, result, unit_code) = row?;
        // Rows were written from checked records: anything unreadable is
        // skipped rather than failing every later batch of this person.
        let (Ok(record_id), Ok(device_id)) =
            (Uuid::parse_str(&record_id), Uuid::parse_str(&device_id))
        else {
            continue;
        };
        out.extend(person_event(
            record_id,
            device_id,
            seq,
            &at,
            &kind,
            result.as_deref(),
            unit_code,
        ));
    }
    Ok(out)
}

/// Recomputes a roster row's derived state from its events; a change takes
/// a new revision.
fn refresh(tx: &Transaction<'_>, personal_id: &str) -> rusqlite::Result<bool> {
    struct Current {
        id: i64,
        unit: String,
        needs: String,
        household: Option<String>,
        in_extract: bool,
        derived: Derived,
    }
    let row = tx
        .prepare_cached(
            "SELECT person_id, unit_code, needs, household, in_extract, status, reason, closed_by,
                    referred_to, worklist_unit, visits, last_visit_at, flagged, covered
             FROM roster WHERE personal_id = ?1",
        )?
        .query_row([personal_id], |r| {
            Ok(Current {
                id: r.get(0)?,
                unit: r.get(1)?,
                needs: r.get(2)?,
                household: r.get(3)?,
                in_extract: r.get(4)?,
                derived: Derived {
                    status: r.get(5)?,
                    reason: r.get(6)?,
                    closed_by: r.get(7)?,
                    referred_to: r.get(8)?,
                    worklist_unit: r.get(9)?,
                    visits: r.get(10)?,
                    last_visit_at: r.get(11)?,
                    flagged: r.get(12)?,
                    covered: r.get(13)?,
                },
            })
        })
        .optional()?;
    let Some(Current {
        id,
        unit,
        needs,
        household,
        in_extract,
        derived: old,
    }) = row
    else {
        return Ok(false);
    };
    let state = derive(&unit, &needs_of(&needs), &events_of(tx, personal_id)?);
    let new = Derived::of(&state);
    if new == old {
        return Ok(false);
    }
    let before = placement(
        in_extract,
        &old.status,
        &old.worklist_unit,
        household.as_deref(),
    );
    let after = placement(
        in_extract,
        &new.status,
        &new.worklist_unit,
        household.as_deref(),
    );
    let rev = bump(tx, id, Some(&before), &after)?;
    write_derived(tx, id, &new, rev)?;
    Ok(true)
}

fn write_derived(tx: &Transaction<'_>, id: i64, d: &Derived, rev: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE roster SET status = ?2, reason = ?3, closed_by = ?4, worklist_unit = ?5,
             referred_to = ?6, covered = ?7, visits = ?8, last_visit_at = ?9, flagged = ?10, rev = ?11
         WHERE person_id = ?1",
    )?
    .execute(params![
        id,
        d.status,
        d.reason,
        d.closed_by,
        d.worklist_unit,
        d.referred_to,
        d.covered,
        d.visits,
        d.last_visit_at,
        d.flagged,
        rev
    ])?;
    Ok(())
}

/// Notes an accepted record that names a person (inside the batch's
/// transaction) and refreshes that person's state.
pub(crate) fn record_event(
    tx: &Transaction<'_>,
    record_id: &str,
    device_id: &str,
    device_seq: i64,
    kind: RecordKind,
    person: &PersonFacts,
) -> rusqlite::Result<()> {
    // A station's copy of the roster is central's derived state: what its
    // laptops report is judged at central, and comes back down from there.
    let role: String = tx
        .prepare_cached("SELECT role FROM node WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    if role != NodeRole::Central.as_str() {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO person_events (record_id, personal_id, device_id, device_seq, at, kind, result, unit_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        record_id,
        person.personal_id,
        device_id,
        device_seq,
        person.at,
        kind.as_str(),
        person.result.map(OutcomeKind::as_str),
        person.unit_code,
    ])?;
    // A correction replaces what the record it corrects said.
    if let Some(old) = person.supersedes {
        let old_pid: Option<String> = tx
            .prepare_cached("DELETE FROM person_events WHERE record_id = ?1 RETURNING personal_id")?
            .query_row([old.to_string()], |r| r.get(0))
            .optional()?;
        if let Some(pid) = old_pid
            && pid != person.personal_id
        {
            refresh(tx, &pid)?;
        }
    }
    refresh(tx, &person.personal_id)?;
    Ok(())
}

/// Loads a roster extract: new residents are added, changed ones updated,
/// people of the file's units it no longer lists leave the worklists.
/// Outcomes are kept whatever the file says: they live in `person_events`.
pub(crate) fn import_roster(
    tx: &Transaction<'_>,
    residents: &[Resident],
    at: &str,
) -> rusqlite::Result<RosterImport> {
    let mut report = RosterImport {
        residents: residents.len() as u64,
        ..RosterImport::default()
    };
    let units: BTreeSet<&str> = residents.iter().map(|r| r.unit_code.as_str()).collect();
    report.units = units.iter().map(|u| (*u).to_owned()).collect();
    let mut listed = std::collections::HashSet::with_capacity(residents.len());
    for r in residents {
        listed.insert(r.personal_id.as_str());
        let needs = join(r.needs.iter().map(|n| n.as_str()));
        let dob = r.date_of_birth.format("%Y-%m-%d").to_string();
        type Existing = (
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            bool,
            String,
            String,
        );
        let existing: Option<Existing> = tx
            .prepare_cached(
                "SELECT person_id, full_name, date_of_birth, sex, unit_code, address_detail, household,
                        needs, in_extract, status, worklist_unit
                 FROM roster WHERE personal_id = ?1",
            )?
            .query_row([&r.personal_id], |row| {
                Ok((
                    row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?,
                    row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?,
                ))
            })
            .optional()?;
        match existing {
            None => {
                let state = derive(&r.unit_code, &r.needs, &events_of(tx, &r.personal_id)?);
                let d = Derived::of(&state);
                let rev = next_rev(tx)?;
                tx.prepare_cached(
                    "INSERT INTO roster (personal_id, full_name, date_of_birth, sex, unit_code, address_detail,
                         household, needs, in_extract, imported_at, status, reason, closed_by, worklist_unit,
                         referred_to, covered, visits, last_visit_at, flagged, rev)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                )?
                .execute(params![
                    r.personal_id, r.full_name, dob, r.sex.as_str(), r.unit_code, r.address_detail,
                    r.household, needs, at, d.status, d.reason, d.closed_by, d.worklist_unit,
                    d.referred_to, d.covered, d.visits, d.last_visit_at, d.flagged, rev
                ])?;
                report.added += 1;
            }
            Some((
                id,
                name,
                old_dob,
                sex,
                unit,
                detail,
                household,
                old_needs,
                in_extract,
                status,
                wl_unit,
            )) => {
                let same = name == r.full_name
                    && old_dob == dob
                    && sex == r.sex.as_str()
                    && unit == r.unit_code
                    && detail == r.address_detail
                    && household == r.household
                    && old_needs == needs
                    && in_extract;
                if same {
                    report.unchanged += 1;
                    continue;
                }
                let before = placement(in_extract, &status, &wl_unit, household.as_deref());
                tx.prepare_cached(
                    "UPDATE roster SET full_name = ?2, date_of_birth = ?3, sex = ?4, unit_code = ?5,
                         address_detail = ?6, household = ?7, needs = ?8, in_extract = 1, imported_at = ?9
                     WHERE person_id = ?1",
                )?
                .execute(params![id, r.full_name, dob, r.sex.as_str(), r.unit_code, r.address_detail, r.household, needs, at])?;
                let state = derive(&r.unit_code, &r.needs, &events_of(tx, &r.personal_id)?);
                let d = Derived::of(&state);
                let after = placement(true, &d.status, &d.worklist_unit, r.household.as_deref());
                let rev = bump(tx, id, Some(&before), &after)?;
                write_derived(tx, id, &d, rev)?;
                report.updated += 1;
            }
        }
    }
    // People of these units the extract no longer lists.
    for unit in &units {
        let gone: Vec<(i64, String, String, Option<String>, String)> = tx
            .prepare_cached(
                "SELECT person_id, personal_id, status, household, worklist_unit FROM roster
                 WHERE unit_code = ?1 AND in_extract = 1",
            )?
            .query_map([unit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (id, pid, status, household, wl_unit) in gone {
            if listed.contains(pid.as_str()) {
                continue;
            }
            let before = placement(true, &status, &wl_unit, household.as_deref());
            let after = placement(false, &status, &wl_unit, household.as_deref());
            let rev = bump(tx, id, Some(&before), &after)?;
            tx.prepare_cached(
                "UPDATE roster SET in_extract = 0, rev = ?2, imported_at = ?3 WHERE person_id = ?1",
            )?
            .execute(params![id, rev, at])?;
            report.absent += 1;
        }
    }
    Ok(report)
}

/// A device's assignment: every source together.
pub(crate) fn assignment_of(conn: &Connection, device: Uuid) -> rusqlite::Result<Assignment> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT kind, value FROM assignments WHERE device_id = ?1 ORDER BY kind, value",
    )?;
    let rows = stmt.query_map([device.to_string()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Assignment::default();
    for row in rows {
        let (kind, value) = row?;
        if kind == "unit" {
            out.units.push(value);
        } else {
            out.households.push(value);
        }
    }
    Ok(out)
}

/// Changes what `device` is assigned (from `source`).
pub(crate) fn assign(
    tx: &Transaction<'_>,
    device: Uuid,
    source: &str,
    mode: AssignMode,
    units: &[String],
    households: &[String],
    at: &str,
) -> rusqlite::Result<()> {
    let id = device.to_string();
    if mode == AssignMode::Replace {
        tx.execute(
            "DELETE FROM assignments WHERE device_id = ?1 AND source = ?2",
            params![id, source],
        )?;
    }
    let items = units
        .iter()
        .map(|u| ("unit", u))
        .chain(households.iter().map(|h| ("household", h)));
    for (kind, value) in items {
        if mode == AssignMode::Remove {
            tx.execute(
                "DELETE FROM assignments WHERE device_id = ?1 AND source = ?2 AND kind = ?3 AND value = ?4",
                params![id, source, kind, value],
            )?;
        } else {
            tx.execute(
                "INSERT OR IGNORE INTO assignments (device_id, kind, value, source, assigned_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, kind, value, source, at],
            )?;
        }
    }
    Ok(())
}

/// Every device's assignment, with how many people it covers now.
pub(crate) fn assignments(
    conn: &Connection,
    units: &Units,
) -> rusqlite::Result<Vec<crate::worklist::AssignmentLine>> {
    let mut stmt = conn.prepare(
        "SELECT device_id, source, kind, value FROM assignments ORDER BY device_id, source, kind, value",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (device, source, kind, value) = row?;
        let Ok(device_id) = Uuid::parse_str(&device) else {
            continue;
        };
        items.push((device_id, source, kind, value));
    }
    Ok(assignment_lines(items, &visible_people(conn)?, units))
}

fn visible_people(conn: &Connection) -> rusqlite::Result<Vec<(String, Option<String>)>> {
    let mut stmt = conn.prepare(
        "SELECT worklist_unit, household FROM roster WHERE in_extract = 1 AND status IN ('open', 'review')",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

struct FeedRow {
    person_id: i64,
    placement: Placement,
    person: WorklistPerson,
    rev: i64,
}

fn feed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FeedRow> {
    let person_id: i64 = r.get(0)?;
    let in_extract: bool = r.get(8)?;
    let status: String = r.get(9)?;
    let worklist_unit: String = r.get(12)?;
    let household: Option<String> = r.get(7)?;
    let unit_code: String = r.get(5)?;
    let referred_to: Option<String> = r.get(13)?;
    let reason: Option<String> = r.get(10)?;
    Ok(FeedRow {
        person_id,
        placement: placement(in_extract, &status, &worklist_unit, household.as_deref()),
        person: WorklistPerson {
            id: u64::try_from(person_id).unwrap_or(0),
            personal_id: r.get(1)?,
            full_name: r.get(2)?,
            date_of_birth: r.get(3)?,
            sex: r.get(4)?,
            referred_from: referred_to.as_ref().map(|_| unit_code.clone()),
            unit_code,
            address_detail: r.get(6)?,
            household,
            needs: split(&r.get::<_, String>(11)?),
            covered: split(&r.get::<_, String>(14)?),
            worklist_unit,
            status,
            reason: reason.unwrap_or_else(|| Reason::NotVisited.as_str().to_owned()),
            visits: u32::try_from(r.get::<_, i64>(15)?).unwrap_or(u32::MAX),
            last_visit_at: r.get(16)?,
        },
        rev: r.get(17)?,
    })
}

const FEED_COLUMNS: &str =
    "person_id, personal_id, full_name, date_of_birth, sex, unit_code, address_detail,
    household, in_extract, status, reason, needs, worklist_unit, referred_to, covered, visits,
    last_visit_at, rev";

/// One page of the feed for a device assigned `a`.
pub(crate) fn page(
    conn: &Connection,
    units: &Units,
    issuer: Uuid,
    a: &Assignment,
    req: &WorklistRequest,
) -> rusqlite::Result<WorklistPage> {
    let scope = scope_of(issuer, a);
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
    let head = current_rev(conn)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FEED_COLUMNS} FROM roster WHERE rev > ?1 AND rev <= ?2 ORDER BY rev"
    ))?;
    let mut moves = conn.prepare_cached(
        "SELECT old_unit, old_household FROM worklist_moves WHERE person_id = ?1 AND rev > ?2",
    )?;
    let mut rows = stmt.query(params![i64::try_from(start).unwrap_or(i64::MAX), head])?;
    let mut changes = Vec::new();
    let mut cursor = start;
    let mut more = false;
    while let Some(r) = rows.next()? {
        if changes.len() >= limit {
            more = true;
            break;
        }
        let row = feed_row(r)?;
        cursor = u64::try_from(row.rev).unwrap_or(0);
        let p = &row.placement;
        if p.visible && in_scope(units, a, &p.worklist_unit, p.household.as_deref()) {
            changes.push(WorklistChange::Put {
                rev: cursor,
                person: row.person,
            });
            continue;
        }
        // Who may hold the person: in an incremental download, anyone who
        // had them at the checkpoint; in a full one, only from a page of
        // this download (the end of a full download drops everyone else).
        let floor = if full { req.after } else { since };
        let Some(floor) = floor else {
            continue;
        };
        let was_here = moves
            .query_map(
                params![row.person_id, i64::try_from(floor).unwrap_or(i64::MAX)],
                |m| Ok((m.get::<_, String>(0)?, m.get::<_, Option<String>>(1)?)),
            )?
            .filter_map(Result::ok)
            .any(|(unit, household)| in_scope(units, a, &unit, household.as_deref()));
        if was_here {
            changes.push(WorklistChange::Remove {
                rev: cursor,
                id: row.person.id,
            });
        }
    }
    if !more {
        cursor = u64::try_from(head).unwrap_or(0).max(cursor);
    }
    Ok(WorklistPage {
        protocol: doorstep_wire::PROTOCOL_VERSION,
        issuer,
        full,
        scope,
        assignment: a.clone(),
        changes,
        cursor,
        more,
        devices: None,
    })
}

/// The laptops registered under `station`, with their keys and what
/// central assigned them: sent to the station with its first page.
pub(crate) fn station_devices(
    conn: &Connection,
    station: Uuid,
) -> rusqlite::Result<Vec<StationDevice>> {
    let mut stmt = conn.prepare(
        "SELECT node_id, public_key, unit_code, name, revoked_at IS NOT NULL FROM node_keys
         WHERE station_id = ?1 ORDER BY node_id",
    )?;
    let rows: Vec<(String, Vec<u8>, String, String, bool)> = stmt
        .query_map([station.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, key, unit_code, name, revoked) in rows {
        let Ok(device_id) = Uuid::parse_str(&id) else {
            continue;
        };
        out.push(StationDevice {
            device_id,
            public_key: hex::encode(key),
            unit_code,
            name,
            revoked,
            assignment: assignment_of(conn, device_id)?,
        });
    }
    Ok(out)
}

/// A station: the next request of its own download from central.
pub(crate) fn upstream_request(
    conn: &Connection,
    limit: Option<u32>,
) -> rusqlite::Result<WorklistRequest> {
    let (since_rev, since_scope, after): (Option<i64>, Option<String>, Option<i64>) = conn
        .query_row(
            "SELECT since_rev, since_scope, pending_after FROM worklist_upstream WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
    Ok(WorklistRequest {
        protocol: doorstep_wire::PROTOCOL_VERSION,
        since: since_rev.zip(since_scope).map(|(rev, scope)| {
            doorstep_wire::worklist::WorklistCheckpoint {
                rev: u64::try_from(rev).unwrap_or(0),
                scope,
            }
        }),
        after: after.and_then(|a| u64::try_from(a).ok()),
        limit,
    })
}

/// What applying one page of central's feed at a station did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpstreamApplied {
    pub put: u64,
    pub removed: u64,
    /// People a finished full download did not send.
    pub dropped: u64,
    pub devices: u64,
    /// The download is complete.
    pub done: bool,
    /// Central's answer no longer matches the download in progress: start again.
    pub restart: bool,
}

/// A station applies one page of central's feed, in one transaction with
/// the download's progress: people it keeps for its laptops, its
/// laptops' keys and central's assignments.
pub(crate) fn apply_upstream(
    tx: &Transaction<'_>,
    req: &WorklistRequest,
    page: &WorklistPage,
    at: &str,
) -> rusqlite::Result<UpstreamApplied> {
    let mut out = UpstreamApplied::default();
    let (pending_scope, mut generation): (Option<String>, i64) = tx.query_row(
        "SELECT pending_scope, generation FROM worklist_upstream WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if req.after.is_some() && pending_scope.as_deref() != Some(page.scope.as_str()) {
        tx.execute(
            "UPDATE worklist_upstream SET pending_after = NULL, pending_full = NULL, pending_scope = NULL WHERE id = 1",
            [],
        )?;
        out.restart = true;
        return Ok(out);
    }
    if req.after.is_none() && page.full {
        generation += 1;
    }
    for change in &page.changes {
        match change {
            WorklistChange::Put { person, .. } => {
                put_person(tx, person, generation, at)?;
                out.put += 1;
            }
            WorklistChange::Remove { id, .. } => {
                if hide(tx, i64::try_from(*id).unwrap_or(-1))? {
                    out.removed += 1;
                }
            }
        }
    }
    if let Some(devices) = &page.devices {
        for d in devices {
            let Ok(key) = hex::decode(&d.public_key) else {
                continue;
            };
            tx.execute(
                "INSERT INTO station_devices (device_id, public_key, unit_code, name, revoked, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (device_id) DO UPDATE SET public_key = excluded.public_key,
                     unit_code = excluded.unit_code, name = excluded.name, revoked = excluded.revoked,
                     updated_at = excluded.updated_at",
                params![d.device_id.to_string(), key, d.unit_code, d.name, d.revoked, at],
            )?;
            assign(
                tx,
                d.device_id,
                "central",
                AssignMode::Replace,
                &d.assignment.units,
                &d.assignment.households,
                at,
            )?;
            out.devices += 1;
        }
    }
    if page.more {
        tx.execute(
            "UPDATE worklist_upstream SET pending_after = ?1, pending_full = ?2, pending_scope = ?3,
                 generation = ?4, updated_at = ?5 WHERE id = 1",
            params![i64::try_from(page.cursor).unwrap_or(i64::MAX), page.full, page.scope, generation, at],
        )?;
        return Ok(out);
    }
    let pending_full: Option<bool> = tx.query_row(
        "SELECT pending_full FROM worklist_upstream WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    let full = if req.after.is_some() {
        pending_full.unwrap_or(page.full)
    } else {
        page.full
    };
    if full {
        let stale: Vec<i64> = tx
            .prepare("SELECT person_id FROM roster WHERE generation != ?1 AND in_extract = 1")?
            .query_map([generation], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in stale {
            if hide(tx, id)? {
                out.dropped += 1;
            }
        }
    }
    let assignment = serde_json::to_string(&page.assignment).unwrap_or_default();
    tx.execute(
        "UPDATE worklist_upstream SET since_rev = ?1, since_scope = ?2, pending_after = NULL,
             pending_full = NULL, pending_scope = NULL, generation = ?3, assignment = ?4, updated_at = ?5
         WHERE id = 1",
        params![i64::try_from(page.cursor).unwrap_or(i64::MAX), page.scope, generation, assignment, at],
    )?;
    out.done = true;
    Ok(out)
}

/// What central assigned this station, once it has downloaded its worklist.
pub(crate) fn upstream_assignment(conn: &Connection) -> rusqlite::Result<Option<Assignment>> {
    let json: Option<String> = conn.query_row(
        "SELECT assignment FROM worklist_upstream WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

fn put_person(
    tx: &Transaction<'_>,
    p: &WorklistPerson,
    generation: i64,
    at: &str,
) -> rusqlite::Result<()> {
    let id = i64::try_from(p.id).unwrap_or(-1);
    let old: Option<(bool, String, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT in_extract, status, worklist_unit, household FROM roster WHERE person_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let before = old
        .as_ref()
        .map(|(inx, status, unit, household)| placement(*inx, status, unit, household.as_deref()));
    let after = placement(true, &p.status, &p.worklist_unit, p.household.as_deref());
    let rev = bump(tx, id, before.as_ref(), &after)?;
    let referred_to = p.referred_from.as_ref().map(|_| p.worklist_unit.clone());
    // A personal ID that moved to another central ID (re-imported): the
    // newer row wins.
    tx.prepare_cached("DELETE FROM roster WHERE personal_id = ?1 AND person_id != ?2")?
        .execute(params![p.personal_id, id])?;
    tx.prepare_cached(
        "INSERT INTO roster (person_id, personal_id, full_name, date_of_birth, sex, unit_code, address_detail,
             household, needs, in_extract, imported_at, status, reason, worklist_unit, referred_to, covered,
             visits, last_visit_at, rev, generation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (person_id) DO UPDATE SET personal_id = excluded.personal_id,
             full_name = excluded.full_name, date_of_birth = excluded.date_of_birth, sex = excluded.sex,
             unit_code = excluded.unit_code, address_detail = excluded.address_detail,
             household = excluded.household, needs = excluded.needs, in_extract = 1,
             imported_at = excluded.imported_at, status = excluded.status, reason = excluded.reason,
             worklist_unit = excluded.worklist_unit, referred_to = excluded.referred_to,
             covered = excluded.covered, visits = excluded.visits, last_visit_at = excluded.last_visit_at,
             rev = excluded.rev, generation = excluded.generation",
    )?
    .execute(params![
        id,
        p.personal_id,
        p.full_name,
        p.date_of_birth,
        p.sex,
        p.unit_code,
        p.address_detail,
        p.household,
        join(&p.needs),
        at,
        p.status,
        p.reason,
        p.worklist_unit,
        referred_to,
        join(&p.covered),
        p.visits,
        p.last_visit_at,
        rev,
        generation
    ])?;
    Ok(())
}

/// Takes a person off every worklist (a station: central removed them).
fn hide(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<bool> {
    let old: Option<(String, String, Option<String>)> = tx
        .prepare_cached("SELECT status, worklist_unit, household FROM roster WHERE person_id = ?1 AND in_extract = 1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((status, unit, household)) = old else {
        return Ok(false);
    };
    let before = placement(true, &status, &unit, household.as_deref());
    let after = placement(false, &status, &unit, household.as_deref());
    let rev = bump(tx, id, Some(&before), &after)?;
    tx.prepare_cached("UPDATE roster SET in_extract = 0, rev = ?2 WHERE person_id = ?1")?
        .execute(params![id, rev])?;
    Ok(true)
}

/// Coverage per unit under `under` (every unit when `None`) and, when
/// `with_people`, who is flagged for review and who is left.
pub(crate) fn coverage_report(
    conn: &Connection,
    units: &Units,
    under: Option<&str>,
    with_people: bool,
) -> rusqlite::Result<CoverageReport> {
    let mut stmt = conn.prepare(
        "SELECT unit_code, needs, status, reason, closed_by, worklist_unit, referred_to, covered, visits,
                flagged, personal_id, full_name, household, address_detail, last_visit_at
         FROM roster WHERE in_extract = 1",
    )?;
    let sources: Vec<CoverageSource> = stmt
        .query_map([], |r| {
            Ok(CoverageSource {
                home: r.get(0)?,
                needs: r.get(1)?,
                derived: Derived {
                    status: r.get(2)?,
                    reason: r.get(3)?,
                    closed_by: r.get(4)?,
                    worklist_unit: r.get(5)?,
                    referred_to: r.get(6)?,
                    covered: r.get(7)?,
                    visits: r.get(8)?,
                    last_visit_at: r.get(14)?,
                    flagged: r.get(9)?,
                },
                personal_id: r.get(10)?,
                full_name: r.get(11)?,
                household: r.get(12)?,
                detail: r.get(13)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let draft = CoverageDraft::new(sources, units, under);
    if !with_people {
        return Ok(draft.rows_only());
    }
    let mut outcomes = HashMap::new();
    for pid in draft.flagged(units) {
        let list = review_outcomes(conn, &pid)?;
        outcomes.insert(pid, list);
    }
    Ok(draft.with_people(units, &mut outcomes))
}

fn review_outcomes(conn: &Connection, personal_id: &str) -> rusqlite::Result<Vec<ReviewOutcome>> {
    let mut stmt = conn.prepare_cached(
        "SELECT record_id, device_id, at, kind, result, unit_code FROM person_events
         WHERE personal_id = ?1 ORDER BY at, record_id",
    )?;
    stmt.query_map([personal_id], |r| {
        Ok(ReviewOutcome {
            record_id: r.get(0)?,
            device_id: r.get(1)?,
            at: r.get(2)?,
            kind: r.get(3)?,
            result: r.get(4)?,
            unit_code: r.get(5)?,
        })
    })?
    .collect()
}

/// Roster size and the feed's head, for `central status`.
pub(crate) fn roster_counts(conn: &Connection) -> rusqlite::Result<HashMap<&'static str, u64>> {
    let (people, visible, review, rev): (i64, i64, i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(in_extract = 1 AND status IN ('open', 'review')), 0),
                coalesce(sum(in_extract = 1 AND flagged IS NOT NULL), 0),
                (SELECT rev FROM worklist_counter WHERE id = 1)
         FROM roster",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(HashMap::from([
        ("people", n(people)),
        ("remaining", n(visible)),
        ("review", n(review)),
        ("rev", n(rev)),
    ]))
}
