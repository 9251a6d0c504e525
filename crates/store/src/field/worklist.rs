//! The laptop's worklist: the residents central (or the commune station)
//! assigned it, down-synced as a paged, resumable feed of changes
//! (`doorstep_wire::worklist`). Each page is applied in one transaction
//! together with the download's progress, so a cut connection or a crash
//! resumes after the last applied page. People are stored encrypted.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{self, format_utc_millis, format_visit_time};
use doorstep_wire::worklist::{
    Assignment, MAX_WORKLIST_PAGE, WorklistChange, WorklistCheckpoint, WorklistPage,
    WorklistPerson, WorklistRequest,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{FieldStore, RecordStatus, protect};
use crate::error::StoreError;

/// What applying one page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PageApplied {
    /// People added or replaced.
    pub put: u64,
    /// People removed by the feed.
    pub removed: u64,
    /// People the full download ending with this page did not send.
    pub dropped_at_end: u64,
    /// The download is complete: the checkpoint moved.
    pub done: bool,
    /// Nothing of the page was applied: ask again from
    /// [`FieldStore::worklist_request`]. Either the assignments changed
    /// while the download was resumed (its partial state was dropped), or
    /// another process moved the download on meanwhile.
    pub restart: bool,
}

/// A download some of whose pages are applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingDownload {
    pub since: Option<WorklistCheckpoint>,
    /// The cursor of the last applied page.
    pub after: u64,
    pub full: bool,
    pub scope: String,
    pub started_at: Option<String>,
    pub pages: u64,
    pub changes: u64,
    pub bytes: u64,
}

/// Figures of the last complete download.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastDownload {
    pub at: String,
    pub full: bool,
    pub pages: u64,
    pub changes: u64,
    /// Response bytes of its pages.
    pub bytes: u64,
}

/// Where the worklist stands, for `field status` (no citizen data: works
/// on a locked store).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorklistState {
    pub people: u64,
    pub checkpoint: Option<WorklistCheckpoint>,
    /// The node that answered the last complete download.
    pub issuer: Option<Uuid>,
    pub assignment: Option<Assignment>,
    pub pending: Option<PendingDownload>,
    pub last_page_at: Option<String>,
    pub last_download: Option<LastDownload>,
}

/// A record this laptop holds about a person: what was done here, to show
/// beside the worklist before central knows of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalVisit {
    pub record_id: Uuid,
    pub device_seq: u64,
    pub kind: String,
    /// For a `visit_outcome`: its result (`not_home`, `enrolled`, …).
    pub outcome: Option<String>,
    /// For a `visit_outcome`: the unit it names (referral, new address).
    pub outcome_unit: Option<String>,
    /// The visit's local time, RFC 3339 with its offset.
    pub visit_at: String,
    pub enrolled_at: String,
    pub status: RecordStatus,
}

/// The `worklist_sync` row.
#[derive(Debug, Default)]
struct SyncRow {
    checkpoint: Option<WorklistCheckpoint>,
    issuer: Option<String>,
    assignment: Option<String>,
    generation: i64,
    pending: Option<PendingDownload>,
    pending_generation: i64,
    last_page_at: Option<String>,
    last: Option<LastDownload>,
}

/// A change, encrypted ahead of the transaction (the write lock is held
/// only for the writes).
enum Prepared {
    Put {
        id: i64,
        unit: String,
        key: [u8; 32],
        item: Vec<u8>,
        rev: i64,
    },
    Remove {
        id: i64,
    },
}

impl FieldStore {
    /// The next request of the download: resumes a download cut short
    /// (same `since`, `after` its last applied page), else starts one from
    /// the last complete checkpoint (`None` the first time: everything).
    pub fn worklist_request(&self, limit: Option<u32>) -> Result<WorklistRequest, StoreError> {
        let row = load(&self.conn).map_err(self.err())?;
        let (since, after) = expected(&row);
        Ok(WorklistRequest {
            protocol: doorstep_wire::PROTOCOL_VERSION,
            since,
            after,
            limit: limit.map(|l| l.clamp(1, MAX_WORKLIST_PAGE)),
        })
    }

    /// Applies the page the server answered `request` with, in one
    /// transaction with the download's progress. The last page of a full
    /// download also removes everyone it did not send, and every last page
    /// moves the checkpoint. `bytes` is the size of the response, for the
    /// download's figures. Needs the store unlocked (people are stored
    /// encrypted).
    pub fn apply_worklist_page(
        &mut self,
        request: &WorklistRequest,
        page: &WorklistPage,
        bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<PageApplied, StoreError> {
        let protection = self.protection("saving the worklist")?;
        let mut prepared = Vec::with_capacity(page.changes.len());
        for change in &page.changes {
            prepared.push(match change {
                WorklistChange::Put { rev, person } => {
                    let json = serde_json::to_vec(person).map_err(|e| {
                        StoreError::Inconsistent(format!("cannot encode a worklist entry: {e}"))
                    })?;
                    Prepared::Put {
                        id: to_sql(person.id),
                        unit: person.worklist_unit.clone(),
                        key: protection.worklist_person_key(&person.personal_id),
                        item: protection.encrypt_worklist_item(person.id, &json)?,
                        rev: to_sql(*rev),
                    }
                }
                WorklistChange::Remove { id, .. } => Prepared::Remove { id: to_sql(*id) },
            });
        }
        let at = format_utc_millis(&now);
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let row = load(&tx).map_err(err)?;
        if (request.since.clone(), request.after) != expected(&row) {
            // Another process (`field serve`'s background sync beside a
            // `field sync`) applied a page meanwhile: this one is stale.
            return Ok(PageApplied {
                restart: true,
                ..PageApplied::default()
            });
        }
        let generation = match &row.pending {
            Some(p) if p.scope != page.scope || p.full != page.full => {
                // The assignments changed under a resumed download: its
                // cursor means nothing now. People it wrote stay until
                // the download that starts over ends; after a partial full
                // download they no longer match the checkpoint, so the
                // next one is full too.
                tx.execute(
                    &format!(
                        "UPDATE worklist_sync SET {CLEAR_PENDING}{} WHERE id = 1",
                        if p.full {
                            ", checkpoint_rev = NULL, checkpoint_scope = NULL"
                        } else {
                            ""
                        }
                    ),
                    [],
                )
                .map_err(err)?;
                tx.commit().map_err(err)?;
                return Ok(PageApplied {
                    restart: true,
                    ..PageApplied::default()
                });
            }
            Some(_) => row.pending_generation,
            None if page.full => {
                // A generation no row has yet: at the end, rows of any
                // other generation are the people this download did not send.
                let highest: Option<i64> = tx
                    .query_row("SELECT MAX(generation) FROM worklist", [], |r| r.get(0))
                    .map_err(err)?;
                row.generation.max(highest.unwrap_or(0)).saturating_add(1)
            }
            None => {
                match &request.since {
                    Some(since) if since.scope == page.scope => {}
                    Some(_) => {
                        return Err(StoreError::WorklistPage(
                            "an incremental page for other assignments than the checkpoint's"
                                .into(),
                        ));
                    }
                    None => {
                        return Err(StoreError::WorklistPage(
                            "an incremental page answering a first download".into(),
                        ));
                    }
                }
                row.generation
            }
        };
        let mut applied = PageApplied::default();
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO worklist (person_id, worklist_unit, person_key, item, rev, generation)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (person_id) DO UPDATE SET worklist_unit = excluded.worklist_unit,
                         person_key = excluded.person_key, item = excluded.item, rev = excluded.rev,
                         generation = excluded.generation",
                )
                .map_err(err)?;
            let mut remove = tx
                .prepare_cached("DELETE FROM worklist WHERE person_id = ?1")
                .map_err(err)?;
            for change in &prepared {
                match change {
                    Prepared::Put {
                        id,
                        unit,
                        key,
                        item,
                        rev,
                    } => {
                        put.execute(params![id, unit, &key[..], item, rev, generation])
                            .map_err(err)?;
                        applied.put += 1;
                    }
                    Prepared::Remove { id } => {
                        applied.removed += remove.execute([id]).map_err(err)? as u64;
                    }
                }
            }
        }
        let changes = page.changes.len() as u64;
        let (pages, total_changes, total_bytes) = match &row.pending {
            Some(p) => (
                p.pages.saturating_add(1),
                p.changes.saturating_add(changes),
                p.bytes.saturating_add(bytes),
            ),
            None => (1, changes, bytes),
        };
        if page.more {
            let started = row
                .pending
                .as_ref()
                .and_then(|p| p.started_at.clone())
                .unwrap_or_else(|| at.clone());
            tx.execute(
                "UPDATE worklist_sync SET pending = 1, pending_since_rev = ?1, pending_since_scope = ?2,
                     pending_after = ?3, pending_full = ?4, pending_scope = ?5, pending_generation = ?6,
                     pending_started_at = ?7, pending_pages = ?8, pending_changes = ?9,
                     pending_bytes = ?10, last_page_at = ?11
                 WHERE id = 1",
                params![
                    request.since.as_ref().map(|s| to_sql(s.rev)),
                    request.since.as_ref().map(|s| s.scope.as_str()),
                    to_sql(page.cursor),
                    page.full,
                    page.scope,
                    generation,
                    started,
                    to_sql(pages),
                    to_sql(total_changes),
                    to_sql(total_bytes),
                    at,
                ],
            )
            .map_err(err)?;
        } else {
            if page.full {
                applied.dropped_at_end = tx
                    .execute("DELETE FROM worklist WHERE generation <> ?1", [generation])
                    .map_err(err)? as u64;
            }
            let assignment = serde_json::to_string(&page.assignment).map_err(|e| {
                StoreError::Inconsistent(format!("cannot encode an assignment: {e}"))
            })?;
            tx.execute(
                &format!(
                    "UPDATE worklist_sync SET {CLEAR_PENDING}, checkpoint_rev = ?1, checkpoint_scope = ?2,
                         issuer = ?3, assignment = ?4, generation = ?5, last_page_at = ?6,
                         last_complete_at = ?6, last_full = ?7, last_pages = ?8, last_changes = ?9,
                         last_bytes = ?10
                     WHERE id = 1"
                ),
                params![
                    to_sql(page.cursor),
                    page.scope,
                    page.issuer.to_string(),
                    assignment,
                    generation,
                    at,
                    page.full,
                    to_sql(pages),
                    to_sql(total_changes),
                    to_sql(total_bytes),
                ],
            )
            .map_err(err)?;
            applied.done = true;
        }
        tx.commit().map_err(err)?;
        Ok(applied)
    }

    /// The worklist, decrypted, sorted by unit, household and name; only
    /// the people of `unit` when given. Needs the store unlocked.
    pub fn worklist(&self, unit: Option<&str>) -> Result<Vec<WorklistPerson>, StoreError> {
        let protection = self.protection("reading the worklist")?;
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare("SELECT person_id, item FROM worklist WHERE ?1 IS NULL OR worklist_unit = ?1")
            .map_err(&err)?;
        let rows = stmt
            .query_map([unit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(&err)?;
        let mut people = Vec::new();
        for row in rows {
            let (id, item) = row.map_err(&err)?;
            people.push(open_item(&protection, from_sql(id), &item)?);
        }
        people.sort_by(|a, b| {
            (
                &a.worklist_unit,
                a.household.is_none(),
                &a.household,
                &a.full_name,
                a.id,
            )
                .cmp(&(
                    &b.worklist_unit,
                    b.household.is_none(),
                    &b.household,
                    &b.full_name,
                    b.id,
                ))
        });
        Ok(people)
    }

    /// The worklist entry of a personal ID, found through its keyed index.
    /// Needs the store unlocked.
    pub fn worklist_person(&self, personal_id: &str) -> Result<Option<WorklistPerson>, StoreError> {
        let protection = self.protection("reading the worklist")?;
        let key = protection.worklist_person_key(personal_id);
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT person_id, item FROM worklist WHERE person_key = ?1 ORDER BY person_id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([&key[..]], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(&err)?;
        for row in rows {
            let (id, item) = row.map_err(&err)?;
            let person = open_item(&protection, from_sql(id), &item)?;
            if person.personal_id == personal_id {
                return Ok(Some(person));
            }
        }
        Ok(None)
    }

    /// Where the worklist download stands, and how many people it holds.
    pub fn worklist_state(&self) -> Result<WorklistState, StoreError> {
        let err = self.err();
        let row = load(&self.conn).map_err(&err)?;
        let people: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM worklist", [], |r| r.get(0))
            .map_err(&err)?;
        let issuer = row.issuer.as_deref().map(super::parse_uuid).transpose()?;
        let assignment = row
            .assignment
            .as_deref()
            .map(|a| {
                serde_json::from_str::<Assignment>(a).map_err(|e| {
                    StoreError::Inconsistent(format!("the stored worklist assignment: {e}"))
                })
            })
            .transpose()?;
        Ok(WorklistState {
            people: u64::try_from(people).unwrap_or(0),
            checkpoint: row.checkpoint,
            issuer,
            assignment,
            pending: row.pending,
            last_page_at: row.last_page_at,
            last_download: row.last,
        })
    }

    /// What this laptop's own records say was done for each person (by
    /// personal ID), oldest first: to show today's work beside the
    /// worklist before central knows of it. Records whose citizen data was
    /// purged, and records corrected by a later one, are left out. Needs
    /// the store unlocked.
    pub fn local_visits(&self) -> Result<HashMap<String, Vec<LocalVisit>>, StoreError> {
        // Asked even with no record to read: the answer is keyed by
        // personal IDs, which a locked store never gives out.
        self.protection("reading the worklist")?;
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.device_seq, r.content_hash, r.canonical, r.protected, r.status
                 FROM records r
                 WHERE r.purged_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM records s WHERE s.supersedes = r.record_id)
                 ORDER BY r.device_seq",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(&err)?;
        let mut out: HashMap<String, Vec<LocalVisit>> = HashMap::new();
        for row in rows {
            let (seq, hash, bytes, protected, status) = row.map_err(&err)?;
            let hash = super::stored_hash(seq, &hash)?;
            let Some(bytes) = self.citizen_bytes(
                seq,
                &hash,
                protect::Stored::of(protected, false),
                bytes,
                "reading the worklist",
            )?
            else {
                continue;
            };
            let record = canonical::decode_record(&bytes)
                .map_err(|source| StoreError::BadRecord { seq, source })?;
            let body = &record.body;
            let outcome = body.outcome.as_ref();
            out.entry(body.citizen.personal_id.clone())
                .or_default()
                .push(LocalVisit {
                    record_id: record.record_id,
                    device_seq: record.device_seq,
                    kind: body.kind.as_str().to_owned(),
                    outcome: outcome.map(|o| o.result.as_str().to_owned()),
                    outcome_unit: outcome.and_then(|o| o.unit_code.clone()),
                    visit_at: format_visit_time(&body.visit.at),
                    enrolled_at: format_utc_millis(&record.enrolled_at),
                    status: RecordStatus::parse(&status).ok_or_else(|| {
                        StoreError::Inconsistent(format!("unknown status `{status}`"))
                    })?,
                });
        }
        Ok(out)
    }
}

/// Every `pending_*` column back to "no download under way".
const CLEAR_PENDING: &str = "pending = 0, pending_since_rev = NULL, pending_since_scope = NULL, \
     pending_after = NULL, pending_full = NULL, pending_scope = NULL, pending_generation = NULL, \
     pending_started_at = NULL, pending_pages = 0, pending_changes = 0, pending_bytes = 0";

/// The `since` and `after` the next request carries, as the store stands.
fn expected(row: &SyncRow) -> (Option<WorklistCheckpoint>, Option<u64>) {
    match &row.pending {
        Some(p) => (p.since.clone(), Some(p.after)),
        None => (row.checkpoint.clone(), None),
    }
}

fn load(conn: &Connection) -> rusqlite::Result<SyncRow> {
    conn.query_row(
        "SELECT checkpoint_rev, checkpoint_scope, issuer, assignment, generation, pending,
                pending_since_rev, pending_since_scope, pending_after, pending_full, pending_scope,
                pending_generation, pending_started_at, pending_pages, pending_changes, pending_bytes,
                last_page_at, last_complete_at, last_full, last_pages, last_changes, last_bytes
         FROM worklist_sync WHERE id = 1",
        [],
        |r| {
            let checkpoint = |rev: Option<i64>, scope: Option<String>| {
                rev.zip(scope).map(|(rev, scope)| WorklistCheckpoint {
                    rev: from_sql(rev),
                    scope,
                })
            };
            let pending = if r.get::<_, bool>(5)? {
                Some(PendingDownload {
                    since: checkpoint(r.get(6)?, r.get(7)?),
                    after: from_sql(r.get::<_, Option<i64>>(8)?.unwrap_or(0)),
                    full: r.get::<_, Option<bool>>(9)?.unwrap_or(false),
                    scope: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                    started_at: r.get(12)?,
                    pages: from_sql(r.get(13)?),
                    changes: from_sql(r.get(14)?),
                    bytes: from_sql(r.get(15)?),
                })
            } else {
                None
            };
            let last = r
                .get::<_, Option<String>>(17)?
                .map(|at| -> rusqlite::Result<LastDownload> {
                    Ok(LastDownload {
                        at,
                        full: r.get::<_, Option<bool>>(18)?.unwrap_or(false),
                        pages: from_sql(r.get::<_, Option<i64>>(19)?.unwrap_or(0)),
                        changes: from_sql(r.get::<_, Option<i64>>(20)?.unwrap_or(0)),
                        bytes: from_sql(r.get::<_, Option<i64>>(21)?.unwrap_or(0)),
                    })
                })
                .transpose()?;
            Ok(SyncRow {
                checkpoint: checkpoint(r.get(0)?, r.get(1)?),
                issuer: r.get(2)?,
                assignment: r.get(3)?,
                generation: r.get(4)?,
                pending,
                pending_generation: r.get::<_, Option<i64>>(11)?.unwrap_or(0),
                last_page_at: r.get(16)?,
                last,
            })
        },
    )
    .optional()
    .map(Option::unwrap_or_default)
}

/// A stored worklist entry, decrypted and decoded.
fn open_item(
    protection: &protect::Protection,
    id: u64,
    stored: &[u8],
) -> Result<WorklistPerson, StoreError> {
    let json = protection.decrypt_worklist_item(id, stored)?;
    serde_json::from_slice(&json)
        .map_err(|e| StoreError::Inconsistent(format!("worklist entry {id} is not a person: {e}")))
}

/// Central's IDs, revisions and cursors are unsigned 64-bit; SQLite's
/// integers are signed. Stored bit for bit: they are only compared for
/// equality and handed back, never ordered in SQL.
fn to_sql(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

fn from_sql(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}
