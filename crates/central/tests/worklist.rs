#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The worklist feed (`proto/worklist-v1.md`) on both backends, through
//! `CentralStore`: full downloads in pages, incremental downloads of only
//! what changed, removals when people are reached, referred, or dropped
//! from the roster, a full download when the assignment changes. On
//! PostgreSQL also: records held before worklists existed count, a station
//! registered there gets its laptops, and with two ingest nodes, roster
//! imports and downloads all at once, an incremental copy ends equal to a
//! full download. On the embedded store: a station that keeps its
//! commune's copy, knows its laptops and sub-assigns them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use doorstep_central::sqlite::{AssignMode, RosterImport, SqliteCentral};
use doorstep_central::worklist::AssignError;
use doorstep_central::{CentralStore, PgCentral};
use doorstep_core::canonical::encode_record;
use doorstep_core::roster::parse_roster;
use doorstep_core::{Record, Units, ValidationContext, validate};
use doorstep_wire::NodeRole;
use doorstep_wire::register::RegisterRequest;
use doorstep_wire::worklist::{
    Assignment, WorklistChange, WorklistCheckpoint, WorklistPage, WorklistPerson, WorklistRequest,
};
use ed25519_dalek::SigningKey;
use serde_json::json;
use uuid::Uuid;

mod support;
use support::{batch, now, pg_runtime};

/// 30 people in province 74 and 10 in 79, every one needing a card;
/// households of three.
fn roster_csv(skip: &[usize], changed: &[usize]) -> String {
    let mut s =
        "personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs\n"
            .to_owned();
    for i in 0..40 {
        if skip.contains(&i) {
            continue;
        }
        let unit = if i < 30 { "74" } else { "79" };
        let detail = if changed.contains(&i) {
            "Tổ 9 (mới)"
        } else {
            "Tổ 3"
        };
        s.push_str(&format!(
            "{},Trần Thị Lan,2003-05-14,female,{unit},{detail},H{},card\n",
            pid(i),
            i / 3
        ));
    }
    s
}

fn pid(i: usize) -> String {
    let province = if i < 30 { "074" } else { "079" };
    format!("{province}303{i:06}")
}

async fn import(store: &dyn CentralStore, csv: &str) -> RosterImport {
    let units = store.units();
    let residents = parse_roster(csv.as_bytes(), &units, now().date_naive()).unwrap();
    store.import_roster(residents, now()).await.unwrap()
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// Registers a node of `role` for `unit` (under `station`).
async fn register(
    store: &dyn CentralStore,
    role: NodeRole,
    unit: &str,
    n: u8,
    station: Option<Uuid>,
) -> Uuid {
    let issued = store
        .issue_token(
            role,
            unit,
            "Tổ",
            station,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .await
        .unwrap();
    let node = Uuid::now_v7();
    let request = RegisterRequest {
        protocol: 1,
        token: issued.token,
        node_id: node,
        role,
        public_key: hex::encode(key(n).verifying_key().to_bytes()),
    };
    store.register(request, now()).await.unwrap();
    node
}

async fn assign(
    store: &dyn CentralStore,
    device: Uuid,
    mode: AssignMode,
    units: &[&str],
    households: &[&str],
) -> Result<Assignment, AssignError> {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    store
        .assign(device, mode, owned(units), owned(households), now())
        .await
}

/// A record about person `i`: an ID card application, or a visit outcome.
fn about(device: Uuid, seq: u64, i: usize, outcome: Option<serde_json::Value>) -> Vec<u8> {
    let unit = if i < 30 { "74" } else { "79" };
    let mut input = json!({
        "kind": "id_card_application",
        "citizen": {"personal_id": pid(i), "full_name": "Trần Thị Lan", "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": unit, "detail": "Tổ 3"}},
        "visit": {"place": "home", "unit_code": unit, "at": format!("2025-09-25T09:{:02}:00+07:00", seq % 60)},
        "officer_id": "CA-74-0012"
    });
    if let Some(o) = outcome {
        input["kind"] = json!("visit_outcome");
        input["outcome"] = o;
    }
    let units = Units::builtin_provinces();
    let body = validate(&input, &ValidationContext::new(&units, now())).unwrap();
    encode_record(&Record {
        record_id: Uuid::now_v7(),
        device_id: device,
        device_seq: seq,
        enrolled_at: now(),
        body,
    })
}

fn request(since: Option<&WorklistCheckpoint>, after: Option<u64>, limit: u32) -> WorklistRequest {
    WorklistRequest {
        protocol: 1,
        since: since.cloned(),
        after,
        limit: Some(limit),
    }
}

/// Every page of one download; the checkpoint it ends at.
async fn download(
    store: &dyn CentralStore,
    device: Uuid,
    since: Option<&WorklistCheckpoint>,
    limit: u32,
) -> (Vec<WorklistPage>, WorklistCheckpoint) {
    let mut pages = Vec::new();
    let mut after = None;
    for _ in 0..100 {
        let page = store
            .worklist_page(device, request(since, after, limit))
            .await
            .unwrap();
        after = Some(page.cursor);
        let done = !page.more;
        pages.push(page);
        if done {
            let last = pages.last().unwrap();
            let checkpoint = WorklistCheckpoint {
                rev: last.cursor,
                scope: last.scope.clone(),
            };
            return (pages, checkpoint);
        }
    }
    panic!("the download did not end");
}

fn puts(pages: &[WorklistPage]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| &p.changes)
        .filter_map(|c| match c {
            WorklistChange::Put { person, .. } => Some(person.personal_id.clone()),
            WorklistChange::Remove { .. } => None,
        })
        .collect()
}

fn removes(pages: &[WorklistPage]) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|p| &p.changes)
        .filter_map(|c| match c {
            WorklistChange::Remove { id, .. } => Some(*id),
            WorklistChange::Put { .. } => None,
        })
        .collect()
}

fn id_of(pages: &[WorklistPage], personal_id: &str) -> u64 {
    pages
        .iter()
        .flat_map(|p| &p.changes)
        .find_map(|c| match c {
            WorklistChange::Put { person, .. } if person.personal_id == personal_id => {
                Some(person.id)
            }
            _ => None,
        })
        .unwrap()
}

/// Runs `scenario` on a fresh central in the embedded store.
fn on_sqlite<F>(scenario: fn(Arc<dyn CentralStore>) -> F)
where
    F: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    pg_runtime().block_on(async {
        let central = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
        scenario(Arc::new(central)).await;
    });
}

/// Runs `scenario` on a fresh central on PostgreSQL, if there is one.
fn on_postgres<F>(test: &str, scenario: fn(Arc<dyn CentralStore>) -> F)
where
    F: std::future::Future<Output = ()>,
{
    // The schema is made (blocking) before the runtime starts.
    let Some(db) = doorstep_tests::pg::PgSchema::create(test) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    pg_runtime().block_on(async {
        let central = PgCentral::open_or_create(&db.url, keys.path(), None, now())
            .await
            .unwrap();
        scenario(Arc::new(central)).await;
    });
}

#[test]
fn the_feed_sends_the_assignment_then_only_what_changed() {
    on_sqlite(feed_scenario);
}

#[test]
fn the_feed_sends_the_assignment_then_only_what_changed_on_postgres() {
    on_postgres(
        "the_feed_sends_the_assignment_then_only_what_changed_on_postgres",
        feed_scenario,
    );
}

async fn feed_scenario(store: Arc<dyn CentralStore>) {
    let central = &*store;
    let laptop = register(central, NodeRole::Field, "74", 1, None).await;
    let other = register(central, NodeRole::Field, "79", 2, None).await;
    let imported = import(central, &roster_csv(&[], &[])).await;
    assert_eq!((imported.residents, imported.added), (40, 40));
    assign(central, laptop, AssignMode::Replace, &["74"], &[])
        .await
        .unwrap();
    assign(central, other, AssignMode::Replace, &["79"], &[])
        .await
        .unwrap();

    // Full, in pages of 7: exactly the 30 people of 74, each once.
    let (pages, checkpoint) = download(central, laptop, None, 7).await;
    assert!(pages.len() >= 5 && pages.iter().all(|p| p.full));
    let mut sent = puts(&pages);
    assert_eq!(sent.len(), 30);
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 30);
    assert!(sent.iter().all(|p| p.starts_with("074")));
    let (first_other, other_checkpoint) = download(central, other, None, 100).await;
    assert_eq!(puts(&first_other).len(), 10);

    // Nothing changed: nothing sent.
    let (idle, checkpoint) = download(central, laptop, Some(&checkpoint), 100).await;
    assert!(!idle[0].full);
    assert!(puts(&idle).is_empty() && removes(&idle).is_empty());

    // Person 0 enrolled (leaves), person 1 not home (stays, updated),
    // person 2 living elsewhere in 79 (leaves 74's list, joins 79's).
    let records = [
        about(laptop, 1, 0, None),
        about(laptop, 2, 1, Some(json!({"result": "not_home"}))),
        about(
            laptop,
            3,
            2,
            Some(json!({"result": "living_elsewhere", "unit_code": "79"})),
        ),
    ];
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let applied = central.apply(batch(laptop, &refs, None)).await.unwrap();
    let accepted = applied
        .lines
        .iter()
        .filter(|l| l.outcome == doorstep_wire::Outcome::Accepted)
        .count();
    assert_eq!(accepted, 3, "{applied:?}");
    let (changes, checkpoint) = download(central, laptop, Some(&checkpoint), 100).await;
    assert_eq!(puts(&changes), vec![pid(1)]);
    let put = changes[0]
        .changes
        .iter()
        .find_map(|c| match c {
            WorklistChange::Put { person, .. } => Some(person.clone()),
            WorklistChange::Remove { .. } => None,
        })
        .unwrap();
    assert_eq!((put.reason.as_str(), put.visits), ("not_home", 1));
    let gone = removes(&changes);
    assert_eq!(gone.len(), 2, "{changes:?}");
    assert!(gone.contains(&id_of(&pages, &pid(0))) && gone.contains(&id_of(&pages, &pid(2))));
    let (to_other, _) = download(central, other, Some(&other_checkpoint), 100).await;
    let referred: Vec<_> = to_other
        .iter()
        .flat_map(|p| &p.changes)
        .filter_map(|c| match c {
            WorklistChange::Put { person, .. } => Some(person.clone()),
            WorklistChange::Remove { .. } => None,
        })
        .collect();
    assert_eq!(referred.len(), 1);
    assert_eq!(referred[0].personal_id, pid(2));
    assert_eq!(referred[0].worklist_unit, "79");
    assert_eq!(referred[0].referred_from.as_deref(), Some("74"));

    // A newer extract: person 3 no longer listed, persons 4 and 5 changed.
    let again = import(central, &roster_csv(&[3], &[4, 5])).await;
    assert_eq!((again.absent, again.updated), (1, 2), "{again:?}");
    let (changes, checkpoint) = download(central, laptop, Some(&checkpoint), 100).await;
    assert_eq!(puts(&changes), vec![pid(4), pid(5)]);
    assert_eq!(removes(&changes), vec![id_of(&pages, &pid(3))]);
    // Listed again: back on the list, with the outcomes kept.
    let back = import(central, &roster_csv(&[], &[4, 5])).await;
    assert_eq!((back.updated, back.absent), (1, 0));
    let (changes, checkpoint) = download(central, laptop, Some(&checkpoint), 100).await;
    assert_eq!(puts(&changes), vec![pid(3)]);

    // Another assignment: a full download of the new scope. Province 79 is
    // not the laptop's to reach; one of its households may be.
    let e = assign(central, laptop, AssignMode::Add, &["79"], &[])
        .await
        .unwrap_err();
    assert!(matches!(e, AssignError::OutsideDevice { .. }), "{e}");
    assign(central, laptop, AssignMode::Add, &[], &["H10"])
        .await
        .unwrap();
    let (full, _) = download(central, laptop, Some(&checkpoint), 100).await;
    assert!(full[0].full);
    // 74 without person 0 (enrolled) and person 2 (referred to 79), and
    // household H10 (people 30 to 32, in 79).
    assert_eq!(puts(&full).len(), 28 + 3);

    // What each device is assigned, and how many people that is now.
    let lines = central.assignments().await.unwrap();
    let mine = lines.iter().find(|l| l.device_id == laptop).unwrap();
    assert_eq!(mine.units, ["74"]);
    assert_eq!(mine.households, ["H10"]);
    assert_eq!((mine.source.as_str(), mine.people), ("central", 28 + 3));
    let counts = central.roster_counts().await.unwrap();
    assert_eq!((counts["people"], counts["remaining"]), (40, 39));
    assert!(counts["rev"] >= 40);
    // Removing a household; nothing to remove is a mistake.
    let after = assign(central, laptop, AssignMode::Remove, &[], &["H10"])
        .await
        .unwrap();
    assert_eq!(
        (after.units.as_slice(), after.households.len()),
        (&["74".to_owned()][..], 0)
    );
    let e = assign(central, laptop, AssignMode::Add, &[], &[])
        .await
        .unwrap_err();
    assert!(matches!(e, AssignError::Empty), "{e}");

    // The coverage report counts what the scenario did.
    let report = central.coverage(Some("74".into()), true).await.unwrap();
    let row = report.rows.iter().find(|r| r.unit_code == "74").unwrap();
    assert_eq!((row.eligible, row.reached, row.enrolled), (30, 3, 1));
    assert_eq!((row.referred_out, row.remaining), (1, 28));
    let remaining = report.remaining.unwrap();
    assert_eq!(remaining.len(), 28);
    assert!(
        remaining
            .iter()
            .any(|p| p.personal_id == pid(1) && p.reason == "not_home")
    );

    // A revoked device cannot be assigned.
    central.revoke_node(other, "lost", now()).await.unwrap();
    let e = assign(central, other, AssignMode::Replace, &["79"], &[])
        .await
        .unwrap_err();
    assert!(matches!(e, AssignError::Revoked(_)), "{e}");
    let e = assign(central, Uuid::now_v7(), AssignMode::Replace, &["79"], &[])
        .await
        .unwrap_err();
    assert!(matches!(e, AssignError::UnknownDevice(_)), "{e}");
    let e = assign(central, laptop, AssignMode::Replace, &["99"], &[])
        .await
        .unwrap_err();
    assert!(matches!(e, AssignError::UnknownUnit(_)), "{e}");
}

#[test]
fn a_person_changed_during_a_full_download_is_removed_in_it() {
    on_sqlite(changed_during_download);
}

#[test]
fn a_person_changed_during_a_full_download_is_removed_in_it_on_postgres() {
    on_postgres(
        "a_person_changed_during_a_full_download_is_removed_in_it_on_postgres",
        changed_during_download,
    );
}

async fn changed_during_download(store: Arc<dyn CentralStore>) {
    let central = &*store;
    let laptop = register(central, NodeRole::Field, "74", 1, None).await;
    import(central, &roster_csv(&[], &[])).await;
    assign(central, laptop, AssignMode::Replace, &["74"], &[])
        .await
        .unwrap();
    let first = central
        .worklist_page(laptop, request(None, None, 10))
        .await
        .unwrap();
    assert!(first.more);
    let sent = puts(std::slice::from_ref(&first));
    // One of the people already sent is enrolled before the next page.
    let i = (0..30).find(|i| sent.contains(&pid(*i))).unwrap();
    let rec = about(laptop, 1, i, None);
    central.apply(batch(laptop, &[&rec], None)).await.unwrap();
    let mut after = Some(first.cursor);
    let mut rest = Vec::new();
    while let Some(a) = after {
        let page = central
            .worklist_page(laptop, request(None, Some(a), 10))
            .await
            .unwrap();
        after = page.more.then_some(page.cursor);
        rest.push(page);
    }
    let id = id_of(std::slice::from_ref(&first), &pid(i));
    assert_eq!(removes(&rest), vec![id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_station_keeps_its_communes_copy_and_serves_its_laptops() {
    let dir = tempfile::tempdir().unwrap();
    let central = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
    let station_dir = tempfile::tempdir().unwrap();
    let station =
        SqliteCentral::open_or_create_as(station_dir.path(), NodeRole::Station, None, now())
            .unwrap();
    let station_id = register(&central, NodeRole::Station, "74", 9, None).await;
    let laptop = register(&central, NodeRole::Field, "74", 1, Some(station_id)).await;
    import(&central, &roster_csv(&[], &[])).await;

    // Before its first download the station knows no laptop.
    let e = station
        .assign(laptop, AssignMode::Replace, &["74".into()], &[], now())
        .unwrap_err();
    assert!(matches!(e, AssignError::UnknownDevice(_)), "{e}");
    assert_eq!(station.station_device_key(laptop).await.unwrap(), None);

    // The station's download: its registered unit, and its laptops.
    let pull = |station: &SqliteCentral| {
        let station = station.clone();
        let central = central.clone();
        async move {
            let mut applied = Vec::new();
            for _ in 0..100 {
                let req = station.worklist_upstream_request(Some(4)).unwrap();
                let page = central
                    .worklist_page(station_id, req.clone())
                    .await
                    .unwrap();
                let a = station.apply_worklist_upstream(&req, &page, now()).unwrap();
                let done = a.done;
                applied.push(a);
                if done {
                    return applied;
                }
            }
            panic!("the station's download did not end");
        }
    };
    let first = pull(&station).await;
    assert_eq!(first.iter().map(|a| a.put).sum::<u64>(), 30);
    assert_eq!(first[0].devices, 1);
    let (key, revoked) = station.station_device_key(laptop).await.unwrap().unwrap();
    assert_eq!(key, key_of(1));
    assert!(!revoked);

    // It sub-assigns within its unit only.
    let e = station
        .assign(laptop, AssignMode::Replace, &["79".into()], &[], now())
        .unwrap_err();
    assert!(matches!(e, AssignError::OutsideStation { .. }), "{e}");
    station
        .assign(
            laptop,
            AssignMode::Replace,
            &[],
            &["H0".into(), "H1".into()],
            now(),
        )
        .unwrap();
    let (pages, checkpoint) = download(&station, laptop, None, 100).await;
    assert_eq!(puts(&pages).len(), 6);

    // Central hears person 0 was enrolled: the station, then the laptop, drop them.
    let other = register(&central, NodeRole::Field, "74", 2, None).await;
    let rec = about(other, 1, 0, None);
    central.apply(batch(other, &[&rec], None)).await.unwrap();
    let second = pull(&station).await;
    assert_eq!(second.iter().map(|a| a.removed).sum::<u64>(), 1);
    let (changes, _) = download(&station, laptop, Some(&checkpoint), 100).await;
    assert!(puts(&changes).is_empty());
    assert_eq!(removes(&changes), vec![id_of(&pages, &pid(0))]);

    // Revoked at central: the station learns it at its next download.
    central.revoke(laptop, "lost", now()).unwrap();
    pull(&station).await;
    assert!(station.station_device_key(laptop).await.unwrap().unwrap().1);
}

fn key_of(n: u8) -> [u8; 32] {
    key(n).verifying_key().to_bytes()
}

#[test]
fn a_station_gets_its_laptops_with_its_first_page() {
    on_sqlite(station_download);
}

#[test]
fn a_station_gets_its_laptops_with_its_first_page_on_postgres() {
    on_postgres(
        "a_station_gets_its_laptops_with_its_first_page_on_postgres",
        station_download,
    );
}

/// What central sends a station: its registered unit (it has no
/// assignment), and with the first page of a download the laptops
/// registered under it, their keys and assignments.
async fn station_download(store: Arc<dyn CentralStore>) {
    let central = &*store;
    let station = register(central, NodeRole::Station, "74", 9, None).await;
    let laptop = register(central, NodeRole::Field, "74", 1, Some(station)).await;
    let elsewhere = register(central, NodeRole::Field, "74", 2, None).await;
    import(central, &roster_csv(&[], &[])).await;
    assign(central, laptop, AssignMode::Replace, &[], &["H0", "H1"])
        .await
        .unwrap();
    assign(central, elsewhere, AssignMode::Replace, &["74"], &[])
        .await
        .unwrap();
    let first = central
        .worklist_page(station, request(None, None, 4))
        .await
        .unwrap();
    assert_eq!(first.assignment.units, ["74"]);
    let devices = first.devices.as_ref().unwrap();
    assert_eq!(devices.len(), 1, "only the laptops under it: {devices:?}");
    assert_eq!(devices[0].device_id, laptop);
    assert_eq!(devices[0].public_key, hex::encode(key_of(1)));
    assert_eq!(devices[0].assignment.households, ["H0", "H1"]);
    assert!(!devices[0].revoked);
    let next = central
        .worklist_page(station, request(None, Some(first.cursor), 4))
        .await
        .unwrap();
    assert!(next.devices.is_none());
    let (pages, _) = download(central, station, None, 4).await;
    assert_eq!(puts(&pages).len(), 30);
}

#[test]
fn records_held_before_worklists_count_on_postgres() {
    let Some(db) =
        doorstep_tests::pg::PgSchema::create("records_held_before_worklists_count_on_postgres")
    else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    pg_runtime().block_on(async {
        let store = PgCentral::open_or_create(&db.url, keys.path(), None, now())
            .await
            .unwrap();
        let device = Uuid::now_v7();
        let records = [
            about(device, 1, 0, None),
            about(device, 2, 1, Some(json!({"result": "not_home"}))),
            about(
                device,
                3,
                2,
                Some(json!({"result": "living_elsewhere", "unit_code": "79"})),
            ),
        ];
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        store.apply(batch(device, &refs, None)).await.unwrap();
        drop(store);
        // Back to schema 4: what version 5 adds is removed.
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(
                "DROP TABLE roster, person_events, worklist_moves, assignments, worklist_counter;
                 UPDATE doorstep_schema SET version = 4;",
            )
            .await
            .unwrap();
        let store = PgCentral::open(&db.url, keys.path()).await.unwrap();
        import(&store, &roster_csv(&[], &[])).await;
        let report = store.coverage(Some("74".into()), false).await.unwrap();
        let row = report.rows.iter().find(|r| r.unit_code == "74").unwrap();
        assert_eq!((row.reached, row.enrolled, row.referred_out), (3, 1, 1));
        assert_eq!(row.remaining_by_reason["not_home"], 1);
    });
}

/// A device's copy of its worklist, kept as a laptop keeps it
/// (`proto/worklist-v1.md` 5.4).
#[derive(Debug, Default)]
struct DeviceCopy {
    people: BTreeMap<u64, WorklistPerson>,
    checkpoint: Option<WorklistCheckpoint>,
}

impl DeviceCopy {
    async fn sync(&mut self, store: &dyn CentralStore, device: Uuid, limit: u32) {
        let mut after = None;
        let mut sent = BTreeSet::new();
        for _ in 0..1000 {
            let req = request(self.checkpoint.as_ref(), after, limit);
            let page = store.worklist_page(device, req).await.unwrap();
            for c in &page.changes {
                match c {
                    WorklistChange::Put { person, .. } => {
                        sent.insert(person.id);
                        self.people.insert(person.id, person.clone());
                    }
                    WorklistChange::Remove { id, .. } => {
                        self.people.remove(id);
                    }
                }
            }
            if !page.more {
                if page.full {
                    self.people.retain(|id, _| sent.contains(id));
                }
                self.checkpoint = Some(WorklistCheckpoint {
                    rev: page.cursor,
                    scope: page.scope.clone(),
                });
                return;
            }
            after = Some(page.cursor);
        }
        panic!("the download did not end");
    }
}

/// Two ingest nodes on one database take batches about the roster's people
/// while a roster is imported again and again and a laptop downloads its
/// worklist in small pages the whole time: no page may skip a change, so
/// the laptop's incremental copy ends equal to a full download.
#[test]
fn an_incremental_copy_keeps_up_with_two_ingest_nodes_on_postgres() {
    let Some(db) = doorstep_tests::pg::PgSchema::create(
        "an_incremental_copy_keeps_up_with_two_ingest_nodes_on_postgres",
    ) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    pg_runtime().block_on(async {
        let a = Arc::new(
            PgCentral::open_or_create(&db.url, keys.path(), None, now())
                .await
                .unwrap(),
        );
        let b = Arc::new(PgCentral::open(&db.url, keys.path()).await.unwrap());
        let laptop = register(&*a, NodeRole::Field, "74", 1, None).await;
        import(&*a, &roster_csv(&[], &[])).await;
        assign(&*a, laptop, AssignMode::Replace, &["74"], &[])
            .await
            .unwrap();
        let mut copy = DeviceCopy::default();
        copy.sync(&*b, laptop, 4).await;
        assert_eq!(copy.people.len(), 30);

        let outcomes = [
            Some(json!({"result": "not_home"})),
            Some(json!({"result": "living_elsewhere", "unit_code": "79"})),
            Some(json!({"result": "refused"})),
            Some(json!({"result": "cannot_travel"})),
            Some(json!({"result": "moved"})),
            None,
        ];
        let finished = Arc::new(AtomicUsize::new(0));
        let mut sent: Vec<(Uuid, Vec<u8>)> = Vec::new();
        let mut writers = Vec::new();
        for (salt, node) in [(1usize, Arc::clone(&a)), (2, Arc::clone(&b))] {
            let device = Uuid::now_v7();
            let records: Vec<Vec<u8>> = (1..=30u64)
                .map(|seq| {
                    let n = usize::try_from(seq).unwrap();
                    let i = (n * 7 + salt * 5) % 30;
                    about(
                        device,
                        seq,
                        i,
                        outcomes[(n + salt) % outcomes.len()].clone(),
                    )
                })
                .collect();
            sent.extend(records.iter().map(|r| (device, r.clone())));
            let finished = Arc::clone(&finished);
            writers.push(tokio::spawn(async move {
                for rec in records {
                    let applied = node.apply(batch(device, &[&rec], None)).await.unwrap();
                    assert_eq!(applied.lines[0].outcome, doorstep_wire::Outcome::Accepted);
                }
                finished.fetch_add(1, Ordering::SeqCst);
            }));
        }
        // Extracts that drop and change people, each followed by the whole
        // roster again, until the batches are in: the last import (the whole
        // roster) races the last batches.
        let importer = Arc::clone(&a);
        writers.push(tokio::spawn(async move {
            let variants: [(&[usize], &[usize]); 3] =
                [(&[3, 7], &[4]), (&[], &[4, 5]), (&[10, 11, 12], &[])];
            for n in 0.. {
                let (skip, changed) = variants[n % variants.len()];
                import(&*importer, &roster_csv(skip, changed)).await;
                import(&*importer, &roster_csv(&[], &[])).await;
                if finished.load(Ordering::SeqCst) == 2 {
                    break;
                }
            }
        }));
        let mut rounds = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            copy.sync(&*b, laptop, 4).await;
            rounds += 1;
        }
        for w in writers {
            w.await.unwrap();
        }
        copy.sync(&*a, laptop, 4).await;
        let mut fresh = DeviceCopy::default();
        fresh.sync(&*a, laptop, 100).await;
        assert_eq!(copy.people, fresh.people, "after {rounds} rounds");
        assert!(fresh.people.len() < 30, "people left the worklist");

        // And each person's state is what their events make it, however
        // the batches and imports interleaved: the embedded store, given
        // the last extract and every record one after the other, agrees.
        let dir = tempfile::tempdir().unwrap();
        let reference = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
        let its_laptop = register(&reference, NodeRole::Field, "74", 1, None).await;
        import(&reference, &roster_csv(&[], &[])).await;
        assign(&reference, its_laptop, AssignMode::Replace, &["74"], &[])
            .await
            .unwrap();
        for (device, rec) in &sent {
            reference.apply(batch(*device, &[rec], None)).await.unwrap();
        }
        let mut expected = DeviceCopy::default();
        expected.sync(&reference, its_laptop, 100).await;
        let by_personal_id = |copy: &DeviceCopy| -> BTreeMap<String, WorklistPerson> {
            copy.people
                .values()
                .map(|p| (p.personal_id.clone(), WorklistPerson { id: 0, ..p.clone() }))
                .collect()
        };
        assert_eq!(by_personal_id(&fresh), by_personal_id(&expected));
    });
    // Every revision taken is some row's, the newest the counter's.
    assert_eq!(
        db.count("SELECT max(rev) FROM roster"),
        db.count("SELECT rev FROM worklist_counter")
    );
    assert_eq!(
        db.count("SELECT count(*) FROM person_events"),
        60,
        "every record noted once"
    );
}
