#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The conformance suite every `CentralStore` backend must pass: the same
//! calls, the same answers, whatever the database. SQLite (the embedded
//! default) runs it here; each further backend adds one `#[tokio::test]`
//! that builds its store and calls [`suite`].

use std::sync::Arc;

use doorstep_central::CentralStore;
use doorstep_central::PgCentral;
use doorstep_central::sqlite::SqliteCentral;
use doorstep_wire::Outcome;
use serde_json::json;
use uuid::Uuid;

mod support;
use support::{batch, now, pg_runtime, record, record_with};

fn outcomes(lines: &[doorstep_wire::RecordReceipt]) -> Vec<Outcome> {
    lines.iter().map(|l| l.outcome).collect()
}

/// The suite.
pub async fn suite(store: Arc<dyn CentralStore>) {
    let device = Uuid::now_v7();
    let (id1, r1) = record(device, 1, "Nguyễn Thị Lan");
    let (_, r2) = record(device, 2, "Trần Văn Bình");

    // Accepted, then the same batch again: duplicate, nothing new.
    let lines = store
        .apply(batch(device, &[&r1, &r2], None))
        .await
        .unwrap()
        .lines;
    assert_eq!(outcomes(&lines), [Outcome::Accepted, Outcome::Accepted]);
    assert_eq!(lines[0].record_id, Some(id1));
    assert_eq!(lines[1].device_seq, Some(2));
    let lines = store
        .apply(batch(device, &[&r1, &r2], None))
        .await
        .unwrap()
        .lines;
    assert_eq!(outcomes(&lines), [Outcome::Duplicate, Outcome::Duplicate]);

    // Same record ID, other content: conflict. Same sequence number, other
    // record: conflict. Both kept for the audit, neither changes what is held.
    let mut doc: serde_json::Value = serde_json::from_slice(&r1).unwrap();
    doc["body"]["citizen"]["full_name"] = json!("Nguyễn Thị Lam");
    let altered = doorstep_core::canonical::encode_record(
        &doorstep_core::canonical::decode_record(&{
            let mut out = Vec::new();
            doorstep_core::canonical::write_jcs(&doc, &mut out).unwrap();
            out
        })
        .unwrap(),
    );
    let (_, reused) = record(device, 2, "Lê Văn Cường");
    let lines = store
        .apply(batch(device, &[&altered, &reused], None))
        .await
        .unwrap()
        .lines;
    assert_eq!(outcomes(&lines), [Outcome::Conflict, Outcome::Conflict]);
    assert_eq!(lines[0].code.as_deref(), Some("conflict.record_id"));
    assert_eq!(lines[1].code.as_deref(), Some("conflict.device_seq"));
    assert!(
        lines[0]
            .reason_vi
            .as_deref()
            .unwrap()
            .contains("nội dung khác")
    );

    // Invalid: a wrong content hash; not stored, its number not counted.
    let (_, r3) = record(device, 3, "Phạm Thị Dung");
    let wrong = "00".repeat(32);
    let lines = store
        .apply(batch(device, &[&r3], Some(&[wrong.as_str()])))
        .await
        .unwrap()
        .lines;
    assert_eq!(outcomes(&lines), [Outcome::Invalid]);
    assert_eq!(lines[0].code.as_deref(), Some("record.hash_mismatch"));

    // A gap: 4 and 5 arrive before 3.
    let (_, r4) = record(device, 4, "Hoàng Văn Em");
    let (_, r5) = record(device, 5, "Vũ Thị Phương");
    store.apply(batch(device, &[&r4, &r5], None)).await.unwrap();
    let st = store.status().await.unwrap();
    let d = st.devices.iter().find(|d| d.device_id == device).unwrap();
    assert_eq!((d.contiguous_seq, d.max_seq), (2, 5));
    assert_eq!(d.gaps, [(3, 3)]);
    assert_eq!(d.name.as_deref(), Some("Tổ 1"));
    assert_eq!(d.records, 4);

    // The gap closes.
    let lines = store
        .apply(batch(device, &[&r3], None))
        .await
        .unwrap()
        .lines;
    assert_eq!(outcomes(&lines), [Outcome::Accepted]);
    let st = store.status().await.unwrap();
    let d = st.devices.iter().find(|d| d.device_id == device).unwrap();
    assert_eq!((d.contiguous_seq, d.max_seq), (5, 5));
    assert!(d.gaps.is_empty());

    // Totals.
    assert_eq!(st.records, 5);
    assert_eq!(st.by_kind, [("eid_activation".to_owned(), 5)]);
    assert_eq!(st.refused_conflict, 2);
    assert_eq!(st.refused_invalid, 1);
    assert_eq!(st.outcomes.accepted, 5);
    assert_eq!(st.outcomes.duplicate, 2);
    assert_eq!(st.outcomes.conflict, 2);
    assert_eq!(st.outcomes.invalid, 1);
    assert_eq!(st.sessions_total, 6, "one session per batch here");

    // Another device's record sent by this laptop: refused.
    let other = Uuid::now_v7();
    let (_, foreign) = record(other, 1, "Đỗ Văn Giang");
    let lines = store
        .apply(batch(device, &[&foreign], None))
        .await
        .unwrap()
        .lines;
    assert_eq!(lines[0].code.as_deref(), Some("record.foreign_device"));
    assert_eq!(store.status().await.unwrap().records, 5);

    log_suite(&*store, device).await;
    custody_suite(&*store, id1, &r1, &altered).await;
    registry_suite(&*store).await;
    concurrent_suite(&store).await;
    progress_suite(&*store).await;
}

/// Campaign progress: what ingest counts (a correction takes the place of
/// what it corrects), campaign import and replace, and the report made
/// from them. Adds 4 records and 2 log entries.
async fn progress_suite(store: &dyn CentralStore) {
    use doorstep_central::reports::progress_report;
    use doorstep_core::RecordKind;
    use doorstep_core::campaign::{Metric, Target};
    use doorstep_core::progress::ProgressQuery;
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let device = Uuid::now_v7();
    let visit = |place: &str, reason: Option<&str>, on: &str| {
        let mut v =
            json!({"place": place, "unit_code": "79", "at": format!("{on}T09:30:00+07:00")});
        if let Some(r) = reason {
            v["reason"] = json!(r);
        }
        v
    };
    let (_, a) = record_with(
        device,
        1,
        "Võ Thị Hà",
        visit("home", None, "2025-10-01"),
        None,
    );
    let (_, b) = record_with(
        device,
        2,
        "Lý Văn Khoa",
        visit("hospital", Some("bedridden"), "2025-10-01"),
        None,
    );
    let (c_id, c) = record_with(
        device,
        3,
        "Đặng Thu Trang",
        visit("home", None, "2025-10-02"),
        None,
    );
    let (_, e) = record_with(
        device,
        4,
        "Đặng Thu Trang",
        visit("workplace", Some("worker"), "2025-10-03"),
        Some(c_id),
    );
    store
        .apply(batch(device, &[&a, &b, &c], None))
        .await
        .unwrap();
    let lines = store.apply(batch(device, &[&e], None)).await.unwrap().lines;
    assert_eq!(outcomes(&lines), [Outcome::Accepted]);
    // Sent again: a duplicate changes no count.
    store.apply(batch(device, &[&e], None)).await.unwrap();

    let counts = store
        .visit_counts(
            vec![RecordKind::EidActivation],
            day("2025-10-01"),
            day("2025-10-31"),
        )
        .await
        .unwrap();
    let mut seen: Vec<(String, String, String, Option<String>, u64)> = counts
        .iter()
        .map(|c| {
            (
                c.unit_code.clone(),
                c.day.to_string(),
                c.place.to_string(),
                c.reason.map(|r| r.to_string()),
                c.n,
            )
        })
        .collect();
    seen.sort();
    let row = |d: &str, p: &str, r: Option<&str>| {
        (
            "79".to_owned(),
            d.to_owned(),
            p.to_owned(),
            r.map(str::to_owned),
            1,
        )
    };
    assert_eq!(
        seen,
        [
            row("2025-10-01", "home", None),
            row("2025-10-01", "hospital", Some("bedridden")),
            row("2025-10-03", "workplace", Some("worker")),
        ],
        "the corrected record no longer counts"
    );
    // The suite's earlier records (visits of 2025-09-25 in 74) count too.
    let earlier = store
        .visit_counts(
            vec![RecordKind::EidActivation],
            day("2025-09-25"),
            day("2025-09-25"),
        )
        .await
        .unwrap();
    assert!(earlier.iter().all(|c| c.unit_code == "74") && !earlier.is_empty());
    assert!(
        store
            .visit_counts(
                vec![RecordKind::IdCardApplication],
                day("2025-01-01"),
                day("2025-12-31")
            )
            .await
            .unwrap()
            .is_empty()
    );

    let target = |unit: &str, n: u64| Target {
        campaign: "kich-hoat-q4".into(),
        unit_code: unit.into(),
        metric: Metric::EidActivation,
        target: n,
        start: day("2025-10-01"),
        deadline: day("2025-10-31"),
    };
    let imported = store
        .import_targets(vec![target("79", 2), target("74", 100)], now())
        .await
        .unwrap();
    assert_eq!((imported[0].targets, imported[0].replaced), (2, 0));
    let imported = store
        .import_targets(vec![target("79", 3)], now())
        .await
        .unwrap();
    assert_eq!((imported[0].targets, imported[0].replaced), (1, 2));
    assert_eq!(
        store.campaign_targets("kich-hoat-q4").await.unwrap(),
        [target("79", 3)]
    );
    assert!(store.campaign_targets("no-such").await.unwrap().is_empty());
    let campaigns = store.campaigns().await.unwrap();
    assert_eq!(campaigns.len(), 1);
    assert_eq!(campaigns[0].metrics, [Metric::EidActivation]);
    assert_eq!(
        (campaigns[0].targets, campaigns[0].deadline),
        (1, day("2025-10-31"))
    );

    let report = progress_report(
        store,
        "kich-hoat-q4",
        &ProgressQuery::default(),
        day("2025-10-05"),
    )
    .await
    .unwrap();
    let hcm = &report.units[0];
    assert_eq!(
        (hcm.code.as_str(), hcm.achieved, hcm.target),
        ("79", 3, Some(3))
    );
    assert_eq!(
        (hcm.done, hcm.reached_on, hcm.days_ahead),
        (true, Some(day("2025-10-03")), Some(28))
    );
    assert_eq!(hcm.by_place.get("hospital"), Some(&1));

    // The two conflicts of the suite await review, newest first.
    let (total, conflicts) = store.conflicts(1).await.unwrap();
    assert_eq!((total, conflicts.len()), (2, 1));
    assert!(conflicts[0].code.starts_with("conflict."));
    let audit = store.verify_log().await.unwrap();
    assert!(audit.is_clean(), "{:?}", audit.problems);
}

/// Batches arriving at once (a backend may apply them together): each
/// record accepted once whichever copy came first, every receipt's entry
/// included in its signed head, and the log only grew.
async fn concurrent_suite(store: &Arc<dyn CentralStore>) {
    // Each record twice, in batches of two, all sent at once.
    use doorstep_core::merkle;
    let before = store.tree_head().await.unwrap().tree_head;
    let held_before = store.status().await.unwrap().records;
    let device = Uuid::now_v7();
    let records: Vec<Vec<u8>> = (1..=8)
        .map(|seq| record(device, seq, "Đặng Thị Hoa").1)
        .collect();
    let mut tasks = Vec::new();
    for _copy in 0..2 {
        for pair in records.chunks(2) {
            let store = Arc::clone(store);
            let pair: Vec<Vec<u8>> = pair.to_vec();
            tasks.push(tokio::spawn(async move {
                let refs: Vec<&[u8]> = pair.iter().map(Vec::as_slice).collect();
                store.apply(batch(device, &refs, None)).await.unwrap()
            }));
        }
    }
    let mut applied = Vec::new();
    for t in tasks {
        applied.push(t.await.unwrap());
    }
    let mut counts = std::collections::HashMap::new();
    for a in &applied {
        for line in &a.lines {
            *counts.entry(line.outcome.as_str()).or_insert(0) += 1;
        }
        // The receipt's entry is in the log, under its signed head.
        let head = &a.log.tree_head;
        head.verify(&a.log.public_key).unwrap();
        let entry = store
            .log_entries(a.log.index, a.log.index + 1)
            .await
            .unwrap()
            .pop()
            .unwrap();
        merkle::verify_inclusion(
            &entry.leaf_hash,
            a.log.index,
            head.tree_size,
            &a.log.inclusion,
            &head.root_hash,
        )
        .unwrap();
    }
    assert_eq!(counts["accepted"], 8);
    assert_eq!(counts["duplicate"], 8);
    let mut indices: Vec<u64> = applied.iter().map(|a| a.log.index).collect();
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(indices.len(), 8, "one log entry per batch");
    let after = store.tree_head().await.unwrap().tree_head;
    assert_eq!(after.tree_size, before.tree_size + 8);
    let proof = store
        .consistency_proof(before.tree_size, after.tree_size)
        .await
        .unwrap();
    merkle::verify_consistency(
        before.tree_size,
        after.tree_size,
        &before.root_hash,
        &after.root_hash,
        &proof.path,
    )
    .unwrap();
    let st = store.status().await.unwrap();
    assert_eq!(st.records, held_before + 8);
    let d = st.devices.iter().find(|d| d.device_id == device).unwrap();
    assert_eq!((d.contiguous_seq, d.max_seq), (8, 8));
}

/// Custody answers: held with this content, refused with this content,
/// never seen.
async fn custody_suite(store: &dyn CentralStore, id: Uuid, held: &[u8], altered: &[u8]) {
    use doorstep_wire::{CustodyKey, CustodyState};
    let hash = |bytes: &[u8]| doorstep_core::ContentHash::of(bytes).to_hex();
    let unknown = Uuid::now_v7();
    let lines = store
        .custody(vec![
            CustodyKey {
                record_id: id,
                content_hash: hash(held),
            },
            CustodyKey {
                record_id: id,
                content_hash: hash(altered),
            },
            CustodyKey {
                record_id: unknown,
                content_hash: "00".repeat(32),
            },
        ])
        .await
        .unwrap();
    let states: Vec<CustodyState> = lines.iter().map(|l| l.state).collect();
    assert_eq!(
        states,
        [
            CustodyState::Confirmed,
            CustodyState::Rejected,
            CustodyState::Unknown
        ]
    );
    assert_eq!(lines[1].code.as_deref(), Some("conflict.record_id"));
    assert_eq!(lines[2].record_id, unknown);
}

/// Provisioning: tokens are single-use and expire, registration is
/// idempotent for the same node and key, grants and revocation.
async fn registry_suite(store: &dyn CentralStore) {
    use doorstep_central::registry::RegistryError;
    use doorstep_wire::NodeRole;
    use doorstep_wire::register::RegisterRequest;

    let day = chrono::Duration::hours(24);
    let key = |seed: u8| {
        hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .to_bytes(),
        )
    };
    let request =
        |token: &str, node_id: Uuid, role: NodeRole, public_key: String| RegisterRequest {
            protocol: 1,
            token: token.to_owned(),
            node_id,
            role,
            public_key,
        };
    assert!(matches!(
        store
            .issue_token(
                NodeRole::Field,
                "99",
                "Tổ lạ",
                None,
                doorstep_core::record::BiometricPolicy::NONE,
                day,
                now()
            )
            .await,
        Err(RegistryError::UnknownUnit(_))
    ));
    let station_token = store
        .issue_token(
            NodeRole::Station,
            "74",
            "CA Thuận Giao",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            day,
            now(),
        )
        .await
        .unwrap();
    let station = Uuid::now_v7();
    let answer = store
        .register(
            request(&station_token.token, station, NodeRole::Station, key(1)),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(answer.central_id, store.node_id());
    assert!(
        answer.seal_key.is_none(),
        "stations never get the sealing key"
    );
    let token = store
        .issue_token(
            NodeRole::Field,
            "74",
            "Tổ 3",
            Some(station),
            doorstep_core::record::BiometricPolicy::NONE,
            day,
            now(),
        )
        .await
        .unwrap();
    // Typed by hand: lower case, spaces.
    let typed = token.token.to_lowercase().replace('-', " ");
    let laptop = Uuid::now_v7();
    let answer = store
        .register(request(&typed, laptop, NodeRole::Field, key(2)), now())
        .await
        .unwrap();
    assert_eq!(
        (answer.node_id, answer.unit_code.as_str(), answer.station_id),
        (laptop, "74", Some(station))
    );
    assert_eq!(answer.name, "Tổ 3");
    assert!(answer.seal_key.is_some(), "laptops seal to central");
    answer.log.tree_head.verify(&answer.log.public_key).unwrap();
    // The same node and key again (its answer was lost): registered.
    let again = store
        .register(
            request(&token.token, laptop, NodeRole::Field, key(2)),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(again.registered_at, answer.registered_at);
    // Anyone else with the same token: used.
    assert!(matches!(
        store
            .register(
                request(&token.token, Uuid::now_v7(), NodeRole::Field, key(3)),
                now()
            )
            .await,
        Err(RegistryError::TokenUsed { .. })
    ));
    // Expired, wrong role, key in use, unknown.
    let short = store
        .issue_token(
            NodeRole::Field,
            "74",
            "Tổ 4",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            chrono::Duration::hours(1),
            now(),
        )
        .await
        .unwrap();
    let later = now() + chrono::Duration::hours(2);
    assert!(matches!(
        store
            .register(
                request(&short.token, Uuid::now_v7(), NodeRole::Field, key(4)),
                later
            )
            .await,
        Err(RegistryError::TokenExpired { .. })
    ));
    let other = store
        .issue_token(
            NodeRole::Field,
            "74",
            "Tổ 5",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            day,
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .register(
                request(&other.token, Uuid::now_v7(), NodeRole::Station, key(5)),
                now()
            )
            .await,
        Err(RegistryError::WrongRole { .. })
    ));
    assert!(matches!(
        store
            .register(request(&other.token, Uuid::now_v7(), NodeRole::Field, key(2)), now())
            .await,
        Err(RegistryError::KeyInUse(id)) if id == laptop
    ));
    assert!(matches!(
        store
            .register(
                request("AAAA-BBBB", Uuid::now_v7(), NodeRole::Field, key(6)),
                now()
            )
            .await,
        Err(RegistryError::UnknownToken)
    ));

    // Grants: what central knows of the nodes asked about.
    let stranger = Uuid::now_v7();
    let grants = store.grants(vec![laptop, station, stranger]).await.unwrap();
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[&laptop].unit_code, "74");
    assert_eq!(grants[&laptop].station_id, Some(station));
    assert_eq!(grants[&station].role, NodeRole::Station);
    assert!(!grants[&laptop].revoked);
    let nodes = store.list_nodes().await.unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.node_id).collect::<Vec<_>>(),
        [station, laptop]
    );

    // Revocation, once.
    let revoked = store
        .revoke_node(laptop, "máy bị mất", now())
        .await
        .unwrap();
    assert_eq!(revoked.revoked_reason.as_deref(), Some("máy bị mất"));
    assert!(revoked.revoked_at.is_some());
    assert!(matches!(
        store.revoke_node(laptop, "again", now()).await,
        Err(RegistryError::AlreadyRevoked { .. })
    ));
    assert!(matches!(
        store.revoke_node(stranger, "who", now()).await,
        Err(RegistryError::UnknownNode(_))
    ));
    assert!(store.grants(vec![laptop]).await.unwrap()[&laptop].revoked);
    // A revoked station cannot take new laptops.
    store.revoke_node(station, "đóng", now()).await.unwrap();
    assert!(matches!(
        store
            .issue_token(
                NodeRole::Field,
                "74",
                "Tổ 6",
                Some(station),
                doorstep_core::record::BiometricPolicy::NONE,
                day,
                now()
            )
            .await,
        Err(RegistryError::UnknownStation(_))
    ));
}

/// The audit log: one entry per applied batch, signed heads, proofs that
/// verify, entries that hash to their leaves, sessions and held records.
async fn log_suite(store: &dyn CentralStore, device: Uuid) {
    use doorstep_core::merkle;
    use doorstep_wire::log::LogEntry;

    let first = store.tree_head().await.unwrap();
    first.tree_head.verify(&first.public_key).unwrap();
    assert_eq!(
        first.tree_head.tree_size, 7,
        "one entry per batch applied above"
    );
    assert_eq!(first.tree_head.log_id, store.node_id());

    // A new batch: its receipt's entry is included in its signed head.
    let (_, r6) = record(device, 6, "Phan Văn Hùng");
    let incoming = batch(device, &[&r6], None);
    let (batch_id, session_id, sender, journal, received_at) = (
        incoming.batch_id,
        incoming.session_id,
        incoming.sender.clone(),
        incoming.journal,
        doorstep_core::canonical::format_utc_millis(&incoming.received_at),
    );
    let applied = store.apply(incoming).await.unwrap();
    let log = &applied.log;
    assert_eq!(log.index, 7);
    assert_eq!(log.tree_head.tree_size, 8);
    assert_eq!(log.public_key, first.public_key);
    log.tree_head.verify(&log.public_key).unwrap();
    let entry = LogEntry::new(
        batch_id,
        session_id,
        &sender,
        journal,
        &received_at,
        &applied.lines,
    );
    let leaf = merkle::leaf_hash(&entry.to_bytes());
    merkle::verify_inclusion(
        &leaf,
        log.index,
        8,
        &log.inclusion,
        &log.tree_head.root_hash,
    )
    .unwrap();

    // The new head extends the old one.
    let proof = store.consistency_proof(7, 8).await.unwrap();
    merkle::verify_consistency(
        7,
        8,
        &first.tree_head.root_hash,
        &log.tree_head.root_hash,
        &proof.path,
    )
    .unwrap();
    assert!(
        store.consistency_proof(3, 9).await.is_err(),
        "beyond the log"
    );

    // Stored entries hash to their leaves; every inclusion proof verifies.
    let entries = store.log_entries(0, 100).await.unwrap();
    assert_eq!(entries.len(), 8);
    for e in &entries {
        assert_eq!(merkle::leaf_hash(e.entry.get().as_bytes()), e.leaf_hash);
        let p = store.inclusion_proof(e.index, 8).await.unwrap();
        assert_eq!(p.leaf_hash, e.leaf_hash);
        merkle::verify_inclusion(&e.leaf_hash, e.index, 8, &p.path, &log.tree_head.root_hash)
            .unwrap();
    }
    assert_eq!(entries[7].entry.get().as_bytes(), entry.to_bytes());
    assert!(store.inclusion_proof(8, 8).await.is_err());

    // The journal head the laptop sent is kept with the device.
    let st = store.status().await.unwrap();
    let d = st.devices.iter().find(|d| d.device_id == device).unwrap();
    assert_eq!(d.journal.map(|j| j.seq), Some(7));

    // Sessions of the device, newest first; what is held from it.
    let sessions = store
        .sessions(doorstep_central::SessionQuery {
            node_id: Some(device),
            since: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(sessions.len(), 8);
    assert!(sessions.iter().all(|s| s.node_id == device));
    let held = store.device_records(device, 0, 100).await.unwrap();
    assert_eq!(
        held.records
            .iter()
            .map(|r| r.device_seq)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let after = store.device_records(device, 4, 1).await.unwrap();
    assert_eq!(after.records.len(), 1);
    assert_eq!(after.records[0].device_seq, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
    suite(Arc::new(store)).await;
    // And it survives a reopen with the same answers.
    let reopened = SqliteCentral::open(dir.path()).unwrap();
    assert_eq!(reopened.status().await.unwrap().records, 18);
    assert_eq!(reopened.tree_head().await.unwrap().tree_head.tree_size, 19);
    assert_eq!(reopened.integrity_check().unwrap(), ["ok"]);
    let report = doorstep_central::sqlite::audit::verify(dir.path(), &mut |_, _, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn postgres_backend_conforms() {
    // The schema is made (blocking) before the runtime starts.
    let Some(db) = doorstep_tests::pg::PgSchema::create("postgres_backend_conforms") else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    pg_runtime().block_on(async {
        let store = PgCentral::open_or_create(&db.url, keys.path(), None, now())
            .await
            .unwrap();
        suite(Arc::new(store)).await;
        // Reopened (another ingest node would do the same): same central,
        // same answers, and the whole log checks out.
        let reopened = PgCentral::open(&db.url, keys.path()).await.unwrap();
        assert_eq!(reopened.status().await.unwrap().records, 18);
        assert_eq!(reopened.tree_head().await.unwrap().tree_head.tree_size, 19);
        let report = doorstep_central::postgres::audit::verify(&db.url, &mut |_, _, _| {})
            .await
            .unwrap();
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!((report.entries, report.records), (19, 18));
    });
}
