#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The worklist feed in the embedded store (`proto/worklist-v1.md`): full
//! downloads in pages, incremental downloads of only what changed,
//! removals when people are reached, referred, or dropped from the roster,
//! a full download when the assignment changes, and a station that keeps
//! its commune's copy, knows its laptops and sub-assigns them.

use chrono::Duration;
use doorstep_central::CentralStore;
use doorstep_central::sqlite::{AssignMode, SqliteCentral};
use doorstep_central::worklist::AssignError;
use doorstep_core::canonical::encode_record;
use doorstep_core::roster::parse_roster;
use doorstep_core::{Record, Units, ValidationContext, validate};
use doorstep_wire::NodeRole;
use doorstep_wire::worklist::{WorklistChange, WorklistCheckpoint, WorklistPage, WorklistRequest};
use ed25519_dalek::SigningKey;
use serde_json::json;
use uuid::Uuid;

mod support;
use support::{batch, now};

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

fn import(store: &SqliteCentral, csv: &str) -> doorstep_central::sqlite::RosterImport {
    let units = store.units();
    let residents = parse_roster(csv.as_bytes(), &units, now().date_naive()).unwrap();
    store.import_roster(&residents, now()).unwrap()
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// Registers a node of `role` for `unit` (under `station`).
fn register(
    store: &SqliteCentral,
    role: NodeRole,
    unit: &str,
    n: u8,
    station: Option<Uuid>,
) -> Uuid {
    let issued = store
        .provision(
            role,
            unit,
            "Tổ",
            station,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let node = Uuid::now_v7();
    let public = hex::encode(key(n).verifying_key().to_bytes());
    store
        .register_node(&issued.token, node, role, &public, now())
        .unwrap();
    node
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
    store: &SqliteCentral,
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

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_sends_the_assignment_then_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let central = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
    let laptop = register(&central, NodeRole::Field, "74", 1, None);
    let other = register(&central, NodeRole::Field, "79", 2, None);
    let imported = import(&central, &roster_csv(&[], &[]));
    assert_eq!((imported.residents, imported.added), (40, 40));
    central
        .assign(laptop, AssignMode::Replace, &["74".into()], &[], now())
        .unwrap();
    central
        .assign(other, AssignMode::Replace, &["79".into()], &[], now())
        .unwrap();

    // Full, in pages of 7: exactly the 30 people of 74, each once.
    let (pages, checkpoint) = download(&central, laptop, None, 7).await;
    assert!(pages.len() >= 5 && pages.iter().all(|p| p.full));
    let mut sent = puts(&pages);
    assert_eq!(sent.len(), 30);
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 30);
    assert!(sent.iter().all(|p| p.starts_with("074")));
    let (first_other, other_checkpoint) = download(&central, other, None, 100).await;
    assert_eq!(puts(&first_other).len(), 10);

    // Nothing changed: nothing sent.
    let (idle, checkpoint) = download(&central, laptop, Some(&checkpoint), 100).await;
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
    let (changes, checkpoint) = download(&central, laptop, Some(&checkpoint), 100).await;
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
    let (to_other, _) = download(&central, other, Some(&other_checkpoint), 100).await;
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
    let again = import(&central, &roster_csv(&[3], &[4, 5]));
    assert_eq!((again.absent, again.updated), (1, 2), "{again:?}");
    let (changes, checkpoint) = download(&central, laptop, Some(&checkpoint), 100).await;
    assert_eq!(puts(&changes), vec![pid(4), pid(5)]);
    assert_eq!(removes(&changes), vec![id_of(&pages, &pid(3))]);
    // Listed again: back on the list, with the outcomes kept.
    let back = import(&central, &roster_csv(&[], &[4, 5]));
    assert_eq!((back.updated, back.absent), (1, 0));
    let (changes, checkpoint) = download(&central, laptop, Some(&checkpoint), 100).await;
    assert_eq!(puts(&changes), vec![pid(3)]);

    // Another assignment: a full download of the new scope. Province 79 is
    // not the laptop's to reach; one of its households may be.
    let e = central
        .assign(laptop, AssignMode::Add, &["79".into()], &[], now())
        .unwrap_err();
    assert!(matches!(e, AssignError::OutsideDevice { .. }), "{e}");
    central
        .assign(laptop, AssignMode::Add, &[], &["H10".into()], now())
        .unwrap();
    let (full, _) = download(&central, laptop, Some(&checkpoint), 100).await;
    assert!(full[0].full);
    // 74 without person 0 (enrolled) and person 2 (referred to 79), and
    // household H10 (people 30 to 32, in 79).
    assert_eq!(puts(&full).len(), 28 + 3);

    // A revoked device cannot be assigned.
    central.revoke(other, "lost", now()).unwrap();
    let e = central
        .assign(other, AssignMode::Replace, &["79".into()], &[], now())
        .unwrap_err();
    assert!(matches!(e, AssignError::Revoked(_)), "{e}");
    let e = central
        .assign(
            Uuid::now_v7(),
            AssignMode::Replace,
            &["79".into()],
            &[],
            now(),
        )
        .unwrap_err();
    assert!(matches!(e, AssignError::UnknownDevice(_)), "{e}");
    let e = central
        .assign(laptop, AssignMode::Replace, &["99".into()], &[], now())
        .unwrap_err();
    assert!(matches!(e, AssignError::UnknownUnit(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_changed_during_a_full_download_is_removed_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let central = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
    let laptop = register(&central, NodeRole::Field, "74", 1, None);
    import(&central, &roster_csv(&[], &[]));
    central
        .assign(laptop, AssignMode::Replace, &["74".into()], &[], now())
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
    let station_id = register(&central, NodeRole::Station, "74", 9, None);
    let laptop = register(&central, NodeRole::Field, "74", 1, Some(station_id));
    import(&central, &roster_csv(&[], &[]));

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
    let other = register(&central, NodeRole::Field, "74", 2, None);
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
