#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Records held before campaign progress existed are counted by the
//! migration that adds it, from their canonical bytes: the same counts as
//! ingest makes. Each backend is taken back to the schema before, with its
//! records kept, and opened again.

use chrono::NaiveDate;
use doorstep_central::sqlite::SqliteCentral;
use doorstep_central::{CentralStore, PgCentral};
use doorstep_core::RecordKind;
use doorstep_core::progress::VisitCount;
use serde_json::json;
use uuid::Uuid;

mod support;
use support::{batch, now, pg_runtime, record_with};

async fn fill(store: &dyn CentralStore) {
    let device = Uuid::now_v7();
    let visit = |unit: &str, place: &str, reason: Option<&str>, on: &str| {
        let mut v =
            json!({"place": place, "unit_code": unit, "at": format!("{on}T08:15:00+07:00")});
        if let Some(r) = reason {
            v["reason"] = json!(r);
        }
        v
    };
    let records = [
        record_with(
            device,
            1,
            "Hồ Văn Nam",
            visit("74", "home", None, "2025-07-02"),
            None,
        )
        .1,
        record_with(
            device,
            2,
            "Mai Thị Ngọc",
            visit("74", "home", None, "2025-07-02"),
            None,
        )
        .1,
        record_with(
            device,
            3,
            "Tô Văn Phúc",
            visit("79", "hospital", Some("bedridden"), "2025-07-03"),
            None,
        )
        .1,
    ];
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    store.apply(batch(device, &refs, None)).await.unwrap();
}

async fn counts(store: &dyn CentralStore) -> Vec<VisitCount> {
    let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let mut c = store
        .visit_counts(
            vec![RecordKind::EidActivation],
            day("2025-01-01"),
            day("2025-12-31"),
        )
        .await
        .unwrap();
    c.sort_by(|a, b| (&a.unit_code, a.day).cmp(&(&b.unit_code, b.day)));
    c
}

#[tokio::test]
async fn sqlite_migration_counts_the_records_already_held() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
    fill(&store).await;
    let before = counts(&store).await;
    assert_eq!(before.iter().map(|c| c.n).sum::<u64>(), 3);
    drop(store);
    let conn = rusqlite::Connection::open(SqliteCentral::db_path(dir.path())).unwrap();
    // Back to schema 7: what migrations 8 and later add is removed.
    conn.execute_batch(
        "DROP TABLE visit_counts; DROP TABLE campaign_targets;
         ALTER TABLE records DROP COLUMN visit_unit; ALTER TABLE records DROP COLUMN visit_day;
         ALTER TABLE records DROP COLUMN visit_place; ALTER TABLE records DROP COLUMN visit_reason;
         ALTER TABLE records DROP COLUMN superseded_by;
         ALTER TABLE records DROP COLUMN upstream_missing; DROP TABLE sealed_blobs;
         ALTER TABLE enrollment_tokens DROP COLUMN biometrics;
         ALTER TABLE node_keys DROP COLUMN biometrics;
         DROP TABLE roster; DROP TABLE person_events; DROP TABLE worklist_moves;
         DROP TABLE assignments; DROP TABLE worklist_counter; DROP TABLE station_devices;
         DROP TABLE worklist_upstream;
         PRAGMA user_version = 7;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteCentral::open(dir.path()).unwrap();
    assert_eq!(counts(&store).await, before);
}

#[test]
fn postgres_migration_counts_the_records_already_held() {
    let Some(db) = doorstep_tests::pg::PgSchema::create("progress_migration") else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    pg_runtime().block_on(async {
        let store = PgCentral::open_or_create(&db.url, keys.path(), None, now())
            .await
            .unwrap();
        fill(&store).await;
        let before = counts(&store).await;
        assert_eq!(before.iter().map(|c| c.n).sum::<u64>(), 3);
        drop(store);
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(
                "DROP TABLE visit_counts; DROP TABLE campaign_targets;
                 ALTER TABLE records DROP COLUMN visit_unit, DROP COLUMN visit_day,
                     DROP COLUMN visit_place, DROP COLUMN visit_reason, DROP COLUMN superseded_by;
                 UPDATE doorstep_schema SET version = 1;",
            )
            .await
            .unwrap();
        let store = PgCentral::open(&db.url, keys.path()).await.unwrap();
        assert_eq!(counts(&store).await, before);
    });
}
