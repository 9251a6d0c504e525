#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A laptop syncing a record with a 300 KB photo to a real central over
//! loopback: the record is held `incomplete` until the photo is uploaded,
//! then confirmed. Through a proxy that cuts the connection in the middle
//! of the upload, the laptop resumes from the offset central holds: the
//! bytes sent again are at most one chunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use doorstep_central::{AppState, SqliteCentral, router};
use doorstep_core::record::MediaType;
use doorstep_core::{Units, ValidationContext, validate};
use doorstep_store::{FieldStore, InitOptions, PreparedBody, RecordStatus};
use doorstep_sync::backoff::RetryPolicy;
use doorstep_sync::upload::CHUNK;
use doorstep_sync::{Client, SyncOptions, sync_outbox};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const UNITS: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n";
const PHOTO: usize = 300 * 1024;

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn photo() -> Vec<u8> {
    let mut out = b"\xff\xd8\xff\xe0".to_vec();
    let mut x: u32 = 17;
    while out.len() < PHOTO {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        out.push((x >> 16) as u8);
    }
    out
}

/// A trial laptop holding one card application with `face`.
fn laptop(dir: &std::path::Path, face: &[u8]) -> FieldStore {
    let mut store = FieldStore::init(
        dir,
        &InitOptions {
            device_name: "Tổ 3".into(),
            unit_code: "74".into(),
            units_csv: Some(("test".into(), UNITS.as_bytes().to_vec())),
            passphrase: "mật khẩu thử nghiệm".into(),
            kdf: doorstep_crypto::KdfParams {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        },
        now(),
    )
    .unwrap();
    let units = Units::from_csv(UNITS.as_bytes()).unwrap();
    let input = json!({
        "kind": "id_card_application",
        "citizen": {"personal_id": "074303001234", "full_name": "Nguyễn Thị Lan", "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "74", "at": "2023-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012",
        "attachments": [{"kind": "face", "media_type": "image/jpeg",
                         "sha256": hex::encode(Sha256::digest(face)), "size": face.len()}]
    });
    let body = validate(&input, &ValidationContext::new(&units, now())).unwrap();
    let blob = store
        .protection("test")
        .unwrap()
        .prepare_blob(face, MediaType::Jpeg)
        .unwrap();
    store
        .enroll(&[PreparedBody::new(body).with_blobs(vec![blob])], now())
        .unwrap();
    store
}

/// Central on a loopback port, open to unregistered laptops.
async fn central(dir: &std::path::Path) -> std::net::SocketAddr {
    let store = Arc::new(SqliteCentral::open_or_create(dir, None, now()).unwrap());
    let mut state = AppState::new(store);
    state.require_registration = false;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    addr
}

/// A loopback proxy to `upstream` that cuts the connection carrying the
/// client's byte number `cut_at` (counted over all connections), once.
async fn cutting_proxy(upstream: std::net::SocketAddr, cut_at: u64) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let sent = Arc::clone(&sent);
            let cut = Arc::clone(&cut);
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let before = sent.fetch_add(n as u64, Ordering::SeqCst);
                        if before + n as u64 >= cut_at && !cut.swap(true, Ordering::SeqCst) {
                            // Cut here: the rest of this request never arrives.
                            return;
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::select! {
                    () = up => {},
                    () = down => {},
                }
            });
        }
    });
    addr
}

fn options() -> SyncOptions {
    SyncOptions {
        retry: RetryPolicy {
            retries: 5,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
        },
        ..SyncOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_is_confirmed_once_its_photo_is_uploaded() {
    let tmp = tempfile::tempdir().unwrap();
    let face = photo();
    let mut store = laptop(&tmp.path().join("laptop"), &face);
    let addr = central(&tmp.path().join("central")).await;
    let client = Client::new(&format!("http://{addr}"), Duration::from_secs(10)).unwrap();
    let report = sync_outbox(&mut store, &client, &options(), &mut ())
        .await
        .unwrap();
    assert_eq!(report.error, None);
    assert_eq!(report.blobs_uploaded, 1);
    assert_eq!(report.blob_bytes_sent, face.len() as u64);
    assert_eq!(report.incomplete_after, 0);
    let listed = store.list(&Default::default()).unwrap();
    assert_eq!(listed[0].status, RecordStatus::Confirmed);
    let sha = hex::encode(Sha256::digest(&face));
    let held = tmp
        .path()
        .join("central/blobs")
        .join(&sha[..2])
        .join(&sha[2..4])
        .join(&sha);
    assert_eq!(std::fs::read(held).unwrap(), face);

    // A second sync sends nothing again.
    let again = sync_outbox(&mut store, &client, &options(), &mut ())
        .await
        .unwrap();
    assert_eq!((again.blobs_uploaded, again.blob_bytes_sent), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_from_the_offset_central_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let face = photo();
    let mut store = laptop(&tmp.path().join("laptop"), &face);
    let addr = central(&tmp.path().join("central")).await;
    // The batch and its requests come first (a few KB); cut inside the
    // second chunk of the photo.
    let proxy = cutting_proxy(addr, (CHUNK + 20_000) as u64 + 8_000).await;
    let client = Client::new(&format!("http://{proxy}"), Duration::from_secs(10)).unwrap();
    let report = sync_outbox(&mut store, &client, &options(), &mut ())
        .await
        .unwrap();
    assert_eq!(report.error, None, "{report:?}");
    assert_eq!(report.blobs_uploaded, 1);
    let resent = report.blob_bytes_sent - face.len() as u64;
    assert!(
        resent > 0,
        "the connection was not cut during the upload: {report:?}"
    );
    assert!(
        resent <= CHUNK as u64,
        "re-sent {resent} bytes, more than one chunk"
    );
    let listed = store.list(&Default::default()).unwrap();
    assert_eq!(listed[0].status, RecordStatus::Confirmed);
}

/// A station on a loopback port, open to unregistered laptops.
async fn station(dir: &std::path::Path) -> (Arc<SqliteCentral>, std::net::SocketAddr) {
    let store = Arc::new(
        SqliteCentral::open_or_create_as(dir, doorstep_wire::NodeRole::Station, None, now())
            .unwrap(),
    );
    let mut state = AppState::new(Arc::clone(&store));
    state.role = doorstep_wire::NodeRole::Station;
    state.require_registration = false;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    (store, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_relays_the_photo_and_confirms_only_then() {
    let tmp = tempfile::tempdir().unwrap();
    let face = photo();
    let mut store = laptop(&tmp.path().join("laptop"), &face);
    let central_addr = central(&tmp.path().join("central")).await;
    let (station_store, station_addr) = station(&tmp.path().join("station")).await;
    let to_station =
        Client::new(&format!("http://{station_addr}"), Duration::from_secs(10)).unwrap();
    let to_central =
        Client::new(&format!("http://{central_addr}"), Duration::from_secs(10)).unwrap();

    // Laptop → station: the record is held there, the photo with it.
    let report = sync_outbox(&mut store, &to_station, &options(), &mut ())
        .await
        .unwrap();
    assert_eq!(report.error, None, "{report:?}");
    assert_eq!(report.held, 1, "{report:?}");
    assert_eq!(report.blobs_uploaded, 1, "{report:?}");

    // Station → central: the record first (central lacks the photo), then
    // the photo, then custody says confirmed.
    let forwarded =
        doorstep_sync::forward::forward_all(&station_store, &to_central, None, &options())
            .await
            .unwrap();
    assert_eq!(forwarded.error, None, "{forwarded:?}");
    assert_eq!(forwarded.records, 1, "{forwarded:?}");
    assert_eq!(forwarded.blobs_relayed, 1, "{forwarded:?}");
    assert_eq!(
        forwarded.blob_bytes_sent,
        face.len() as u64,
        "{forwarded:?}"
    );
    assert_eq!(forwarded.incomplete, 0, "{forwarded:?}");
    assert_eq!(forwarded.backlog, 0, "{forwarded:?}");
    let sha = hex::encode(Sha256::digest(&face));
    let held = tmp
        .path()
        .join("central/blobs")
        .join(&sha[..2])
        .join(&sha[2..4])
        .join(&sha);
    assert_eq!(std::fs::read(held).unwrap(), face);
    // The station's copy is gone once central holds it.
    let station_copy = tmp
        .path()
        .join("station/blobs")
        .join(&sha[..2])
        .join(&sha[2..4])
        .join(&sha);
    assert!(!station_copy.exists());

    // The laptop learns it through the station; nothing is sent again.
    let report = sync_outbox(&mut store, &to_station, &options(), &mut ())
        .await
        .unwrap();
    assert_eq!(report.error, None, "{report:?}");
    assert_eq!((report.blobs_uploaded, report.blob_bytes_sent), (0, 0));
    let listed = store.list(&Default::default()).unwrap();
    assert_eq!(listed[0].status, RecordStatus::Confirmed);
    // A second round at the station has nothing left to do.
    let again = doorstep_sync::forward::forward_all(&station_store, &to_central, None, &options())
        .await
        .unwrap();
    assert_eq!((again.records, again.blobs_relayed), (0, 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_waits_for_a_photo_it_does_not_hold_yet() {
    let tmp = tempfile::tempdir().unwrap();
    let face = photo();
    let mut store = laptop(&tmp.path().join("laptop"), &face);
    let central_addr = central(&tmp.path().join("central")).await;
    let (station_store, station_addr) = station(&tmp.path().join("station")).await;
    let to_station =
        Client::new(&format!("http://{station_addr}"), Duration::from_secs(10)).unwrap();
    let to_central =
        Client::new(&format!("http://{central_addr}"), Duration::from_secs(10)).unwrap();

    // The photo never reaches the station (the laptop sends records only).
    let records_only = SyncOptions {
        blobs: false,
        ..options()
    };
    let report = sync_outbox(&mut store, &to_station, &records_only, &mut ())
        .await
        .unwrap();
    assert_eq!((report.held, report.blobs_uploaded), (1, 0), "{report:?}");
    let forwarded =
        doorstep_sync::forward::forward_all(&station_store, &to_central, None, &options())
            .await
            .unwrap();
    assert_eq!(
        (forwarded.records, forwarded.incomplete),
        (1, 1),
        "{forwarded:?}"
    );
    // Not forwarded again while it waits.
    let again = doorstep_sync::forward::forward_all(&station_store, &to_central, None, &options())
        .await
        .unwrap();
    assert_eq!((again.records, again.incomplete), (0, 1), "{again:?}");

    // The laptop is told `incomplete` (central's list), uploads to the
    // station, and the next round completes it.
    let report = sync_outbox(&mut store, &to_station, &options(), &mut ())
        .await
        .unwrap();
    assert_eq!(report.blobs_uploaded, 1, "{report:?}");
    let done = doorstep_sync::forward::forward_all(&station_store, &to_central, None, &options())
        .await
        .unwrap();
    assert_eq!((done.blobs_relayed, done.incomplete), (1, 0), "{done:?}");
    sync_outbox(&mut store, &to_station, &options(), &mut ())
        .await
        .unwrap();
    let listed = store.list(&Default::default()).unwrap();
    assert_eq!(listed[0].status, RecordStatus::Confirmed);
}
