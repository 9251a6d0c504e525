#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laptop's worklist: paged full and incremental downloads, resuming
//! after a crash, starting over when the assignments change mid-download,
//! encryption at rest, and the overlay of the laptop's own records.

use std::path::Path;

use chrono::{DateTime, Utc};
use doorstep_core::{Units, ValidationContext, validate};
use doorstep_store::{FieldStore, InitOptions, PreparedBody, StoreError};
use doorstep_wire::worklist::{
    Assignment, WorklistChange, WorklistCheckpoint, WorklistPage, WorklistPerson, WorklistRequest,
};
use serde_json::json;
use uuid::Uuid;

const PASSPHRASE: &str = "mật khẩu thử nghiệm";
const FAST_KDF: doorstep_crypto::KdfParams = doorstep_crypto::KdfParams {
    m_kib: 64,
    t: 1,
    p: 1,
};
const UNITS: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n725,Thành phố Thuận An,district,74\n25972,Phường Thuận Giao,commune,725\n25975,Phường An Phú,commune,725\n";

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

fn init(dir: &Path) -> FieldStore {
    FieldStore::init(
        dir,
        &InitOptions {
            device_name: "Tổ 3".into(),
            unit_code: "74".into(),
            units_csv: Some(("test".into(), UNITS.as_bytes().to_vec())),
            passphrase: PASSPHRASE.into(),
            kdf: FAST_KDF,
        },
        now(),
    )
    .unwrap()
}

fn reopen(dir: &Path) -> FieldStore {
    let mut store = FieldStore::open(dir).unwrap();
    store.unlock(PASSPHRASE, now()).unwrap();
    store
}

/// A person of the roster; `n` makes the ID, name and household.
fn person(n: u64, unit: &str) -> WorklistPerson {
    WorklistPerson {
        id: n,
        personal_id: format!("0741900{n:05}"),
        full_name: format!("Nguyễn Thị Thử Số {n}"),
        date_of_birth: "1990-03-08".into(),
        sex: "female".into(),
        unit_code: unit.into(),
        address_detail: Some(format!("Số {n} đường Lê Lợi")),
        household: Some(format!("HK-{:03}", n % 4)),
        needs: vec!["card".into(), "eid_registration".into()],
        covered: Vec::new(),
        worklist_unit: unit.into(),
        referred_from: None,
        status: "open".into(),
        reason: "not_visited".into(),
        visits: 0,
        last_visit_at: None,
    }
}

fn put(rev: u64, p: WorklistPerson) -> WorklistChange {
    WorklistChange::Put { rev, person: p }
}

fn page(
    full: bool,
    scope: &str,
    changes: Vec<WorklistChange>,
    cursor: u64,
    more: bool,
) -> WorklistPage {
    WorklistPage {
        protocol: 1,
        issuer: Uuid::from_u128(7),
        full,
        scope: scope.into(),
        assignment: Assignment {
            units: vec!["25972".into()],
            households: Vec::new(),
        },
        changes,
        cursor,
        more,
        devices: None,
    }
}

/// Requests and applies `pages` in turn, as the sync client does.
fn download(store: &mut FieldStore, pages: Vec<WorklistPage>) -> Vec<doorstep_store::PageApplied> {
    pages
        .into_iter()
        .map(|p| {
            let req = store.worklist_request(Some(2)).unwrap();
            store.apply_worklist_page(&req, &p, 100, now()).unwrap()
        })
        .collect()
}

fn ids(store: &FieldStore) -> Vec<u64> {
    let mut ids: Vec<u64> = store.worklist(None).unwrap().iter().map(|p| p.id).collect();
    ids.sort_unstable();
    ids
}

/// Five people over three pages of a first (full) download.
fn first_download(store: &mut FieldStore) {
    let applied = download(
        store,
        vec![
            page(
                true,
                "A",
                vec![put(1, person(1, "25972")), put(2, person(2, "25972"))],
                2,
                true,
            ),
            page(
                true,
                "A",
                vec![put(3, person(3, "25975")), put(4, person(4, "25972"))],
                4,
                true,
            ),
            page(true, "A", vec![put(5, person(5, "25972"))], 5, false),
        ],
    );
    assert!(applied[..2].iter().all(|a| !a.done && !a.restart));
    assert!(applied[2].done);
}

#[test]
fn a_full_download_over_several_pages_ends_at_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let first = store.worklist_request(Some(2)).unwrap();
    assert_eq!(
        first,
        WorklistRequest {
            protocol: 1,
            since: None,
            after: None,
            limit: Some(2)
        }
    );
    let p1 = page(
        true,
        "A",
        vec![put(1, person(1, "25972")), put(2, person(2, "25972"))],
        2,
        true,
    );
    let a = store.apply_worklist_page(&first, &p1, 300, now()).unwrap();
    assert_eq!((a.put, a.done, a.restart), (2, false, false));
    // The next page: same `since`, after the page's cursor.
    let next = store.worklist_request(Some(2)).unwrap();
    assert_eq!((next.since.clone(), next.after), (None, Some(2)));
    let pending = store.worklist_state().unwrap().pending.unwrap();
    assert!(pending.full && pending.pages == 1 && pending.bytes == 300);

    let p2 = page(true, "A", vec![put(3, person(3, "25975"))], 3, false);
    let a = store.apply_worklist_page(&next, &p2, 200, now()).unwrap();
    assert_eq!((a.put, a.done, a.dropped_at_end), (1, true, 0));
    let state = store.worklist_state().unwrap();
    assert_eq!(state.people, 3);
    assert_eq!(
        state.checkpoint,
        Some(WorklistCheckpoint {
            rev: 3,
            scope: "A".into()
        })
    );
    assert_eq!(state.pending, None);
    assert_eq!(state.issuer, Some(Uuid::from_u128(7)));
    assert_eq!(state.assignment.unwrap().units, vec!["25972".to_owned()]);
    let last = state.last_download.unwrap();
    assert_eq!(
        (last.full, last.pages, last.changes, last.bytes),
        (true, 2, 3, 500)
    );
    // The next download starts from the checkpoint.
    let again = store.worklist_request(None).unwrap();
    assert_eq!((again.since, again.after), (state.checkpoint, None));

    // Sorted by unit, household, name; the unit filter uses the plain column.
    let all = store.worklist(None).unwrap();
    let order: Vec<u64> = all.iter().map(|p| p.id).collect();
    assert_eq!(order, vec![1, 2, 3]);
    assert_eq!(all[0], person(1, "25972"));
    let only = store.worklist(Some("25975")).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].id, 3);
    assert_eq!(
        store
            .worklist_person(&person(2, "").personal_id)
            .unwrap()
            .unwrap()
            .id,
        2
    );
    assert_eq!(store.worklist_person("079000000000").unwrap(), None);
}

#[test]
fn a_cut_download_resumes_after_its_last_applied_page() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let req = store.worklist_request(Some(2)).unwrap();
    let p1 = page(
        true,
        "A",
        vec![put(1, person(1, "25972")), put(2, person(2, "25972"))],
        2,
        true,
    );
    store.apply_worklist_page(&req, &p1, 10, now()).unwrap();
    // The laptop goes off here.
    drop(store);
    let mut store = reopen(tmp.path());
    let resumed = store.worklist_request(Some(2)).unwrap();
    assert_eq!((resumed.since.clone(), resumed.after), (None, Some(2)));
    assert_eq!(ids(&store), vec![1, 2]);
    let p2 = page(true, "A", vec![put(3, person(3, "25972"))], 3, false);
    let a = store.apply_worklist_page(&resumed, &p2, 10, now()).unwrap();
    assert!(a.done);
    assert_eq!(
        a.dropped_at_end, 0,
        "the resumed download kept its first page"
    );
    assert_eq!(ids(&store), vec![1, 2, 3]);
    assert_eq!(
        store.worklist_state().unwrap().last_download.unwrap().pages,
        2
    );
}

#[test]
fn incremental_pages_put_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    first_download(&mut store);
    let req = store.worklist_request(None).unwrap();
    assert_eq!(req.since.as_ref().map(|s| s.rev), Some(5));
    let mut changed = person(2, "25972");
    changed.reason = "not_home".into();
    changed.visits = 1;
    let p = page(
        false,
        "A",
        vec![
            put(6, changed.clone()),
            WorklistChange::Remove { rev: 7, id: 4 },
            // Someone this laptop never had: nothing to remove.
            WorklistChange::Remove { rev: 8, id: 99 },
            put(9, person(6, "25975")),
        ],
        9,
        false,
    );
    let a = store.apply_worklist_page(&req, &p, 10, now()).unwrap();
    assert_eq!(
        (a.put, a.removed, a.dropped_at_end, a.done),
        (2, 1, 0, true)
    );
    assert_eq!(ids(&store), vec![1, 2, 3, 5, 6]);
    let got = store
        .worklist_person(&changed.personal_id)
        .unwrap()
        .unwrap();
    assert_eq!((got.reason.as_str(), got.visits), ("not_home", 1));
    assert_eq!(store.worklist_state().unwrap().checkpoint.unwrap().rev, 9);
    assert!(!store.worklist_state().unwrap().last_download.unwrap().full);
}

#[test]
fn a_full_download_drops_the_people_it_did_not_send() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    first_download(&mut store);
    // The assignments changed: the server answers a full download.
    let applied = download(
        &mut store,
        vec![
            page(true, "B", vec![put(10, person(2, "25972"))], 10, true),
            page(true, "B", vec![put(11, person(7, "25972"))], 11, false),
        ],
    );
    assert_eq!(applied[1].dropped_at_end, 4);
    assert_eq!(ids(&store), vec![2, 7]);
    assert_eq!(
        store.worklist_state().unwrap().checkpoint.unwrap().scope,
        "B"
    );
    // An empty full download (nothing assigned any more) empties the list.
    let applied = download(&mut store, vec![page(true, "C", vec![], 11, false)]);
    assert_eq!(applied[0].dropped_at_end, 2);
    assert_eq!(store.worklist_state().unwrap().people, 0);
}

#[test]
fn a_scope_change_mid_download_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    first_download(&mut store);
    // A full download for scope B gets one page in...
    download(
        &mut store,
        vec![page(true, "B", vec![put(10, person(8, "25972"))], 10, true)],
    );
    // ...then the assignments change again: the resumed page says scope C.
    let req = store.worklist_request(None).unwrap();
    assert_eq!(req.after, Some(10));
    let a = store
        .apply_worklist_page(
            &req,
            &page(true, "C", vec![put(12, person(9, "25972"))], 12, true),
            1,
            now(),
        )
        .unwrap();
    assert!(a.restart && !a.done && a.put == 0);
    // Nothing of that page was written; what the partial download wrote
    // stays until the download that starts over ends.
    assert_eq!(ids(&store), vec![1, 2, 3, 4, 5, 8]);
    assert_eq!(store.worklist_state().unwrap().pending, None);
    let again = store.worklist_request(None).unwrap();
    assert_eq!(again.after, None);
    assert_eq!(
        again.since, None,
        "the partial full download left the checkpoint behind"
    );
    let applied = download(
        &mut store,
        vec![
            page(true, "C", vec![put(12, person(9, "25972"))], 12, true),
            page(true, "C", vec![put(13, person(1, "25972"))], 13, false),
        ],
    );
    assert!(applied[1].done);
    assert_eq!(ids(&store), vec![1, 9]);
}

#[test]
fn a_stale_or_out_of_protocol_page_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let req = store.worklist_request(None).unwrap();
    // An incremental answer to a first download.
    let bad = page(false, "A", vec![put(1, person(1, "25972"))], 1, false);
    assert!(matches!(
        store.apply_worklist_page(&req, &bad, 1, now()),
        Err(StoreError::WorklistPage(_))
    ));
    assert_eq!(store.worklist_state().unwrap().people, 0);
    // Another process applied a page meanwhile: this request is stale.
    store
        .apply_worklist_page(
            &req,
            &page(true, "A", vec![put(1, person(1, "25972"))], 1, true),
            1,
            now(),
        )
        .unwrap();
    let a = store
        .apply_worklist_page(
            &req,
            &page(true, "A", vec![put(2, person(2, "25972"))], 2, false),
            1,
            now(),
        )
        .unwrap();
    assert!(a.restart && a.put == 0);
    assert_eq!(ids(&store), vec![1]);
    assert_eq!(store.worklist_request(None).unwrap().after, Some(1));
}

/// Every stored byte of the store (database and write-ahead log).
fn file_bytes(dir: &Path) -> Vec<u8> {
    let db = FieldStore::db_path(dir);
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", db.display())) {
        bytes.extend(wal);
    }
    bytes
}

#[test]
fn people_are_stored_encrypted_and_a_locked_store_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    first_download(&mut store);
    drop(store);
    let bytes = file_bytes(tmp.path());
    let has = |needle: &str| memchr::memmem::find(&bytes, needle.as_bytes()).is_some();
    for n in 1..=5 {
        let p = person(n, "25972");
        assert!(!has(&p.personal_id), "a personal ID is readable");
        assert!(!has(&p.full_name), "a name is readable");
        assert!(
            !has(p.address_detail.as_deref().unwrap()),
            "an address is readable"
        );
    }
    assert!(has("25972"), "unit codes stay readable (not personal data)");

    let mut store = FieldStore::open(tmp.path()).unwrap();
    // Where the download stands needs no passphrase.
    assert_eq!(store.worklist_state().unwrap().people, 5);
    let req = store.worklist_request(None).unwrap();
    assert!(matches!(
        store.apply_worklist_page(&req, &page(false, "A", vec![], 6, false), 1, now()),
        Err(StoreError::Locked { .. })
    ));
    assert!(matches!(
        store.worklist(None),
        Err(StoreError::Locked { .. })
    ));
    assert!(matches!(
        store.worklist_person("074190000001"),
        Err(StoreError::Locked { .. })
    ));
    assert!(matches!(
        store.local_visits(),
        Err(StoreError::Locked { .. })
    ));
    store.unlock(PASSPHRASE, now()).unwrap();
    assert_eq!(store.worklist(None).unwrap().len(), 5);
}

#[test]
fn an_entry_moved_to_another_row_does_not_decrypt() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    first_download(&mut store);
    drop(store);
    {
        let conn = rusqlite::Connection::open(FieldStore::db_path(tmp.path())).unwrap();
        conn.execute(
            "UPDATE worklist SET item = (SELECT item FROM worklist WHERE person_id = 1) WHERE person_id = 2",
            [],
        )
        .unwrap();
    }
    let store = reopen(tmp.path());
    assert!(matches!(
        store.worklist(None),
        Err(StoreError::WorklistUndecryptable { person_id: 2, .. })
    ));
}

/// A valid record of `kind` about Trần Thị Mai (personal ID 074190001357).
fn record(kind: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({
        "kind": kind,
        "citizen": {
            "personal_id": "074190001357", "full_name": "Trần Thị Mai",
            "date_of_birth": "1990-03-08", "sex": "female", "phone": "0912345678",
            "permanent_address": {"unit_code": "25972", "detail": "Tổ 5, khu phố 1"}
        },
        "visit": {"place": "home", "unit_code": "25972", "at": "2026-11-21T09:00:00+07:00"},
        "officer_id": "CA-74-0012"
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn local_visits_say_what_was_done_here_for_each_person() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let units = Units::from_csv(UNITS.as_bytes()).unwrap();
    let ctx = ValidationContext::new(&units, now());
    let bodies: Vec<PreparedBody> = [
        record(
            "visit_outcome",
            json!({"outcome": {"result": "not_home", "note": "đi làm"}}),
        ),
        record("eid_registration", json!({"eid_level": 2})),
    ]
    .iter()
    .map(|v| PreparedBody::new(validate(v, &ctx).unwrap()))
    .collect();
    store.enroll(&bodies, now()).unwrap();
    let visits = store.local_visits().unwrap();
    let mai = &visits["074190001357"];
    assert_eq!(mai.len(), 2);
    assert_eq!(mai[0].kind, "visit_outcome");
    assert_eq!(mai[0].outcome.as_deref(), Some("not_home"));
    assert_eq!(mai[0].visit_at, "2026-11-21T09:00:00+07:00");
    assert_eq!(mai[1].kind, "eid_registration");
    assert_eq!(mai[1].outcome, None);
    assert_eq!(mai[1].status, doorstep_store::RecordStatus::Pending);
    assert!(mai[0].device_seq < mai[1].device_seq);
}
