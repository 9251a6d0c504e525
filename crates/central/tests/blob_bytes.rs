//! The byte storage of attachment blobs: one conformance run over both
//! backends, the directory always, PostgreSQL when
//! `DOORSTEP_TEST_DATABASE_URL` names a server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use doorstep_central::PgCentral;
use doorstep_central::blobs::{
    BlobBytes, BlobError, DirBlobs, MAX_CHUNK, MAX_OPEN_UPLOADS, MAX_SEALED_LEN, PgBlobs,
    SEAL_OVERHEAD, UploadKey,
};
use sha2::{Digest, Sha256};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `len` bytes that differ with `seed` and along the object.
fn object(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(131).wrapping_add(usize::from(seed) * 7) % 251) as u8)
        .collect()
}

/// A plaintext and a stand-in for its sealed object (121 bytes longer),
/// with their upload key.
fn sealed(seed: u8, len: usize) -> (UploadKey, Vec<u8>) {
    let plain = object(seed, len);
    let mut sealed = object(seed.wrapping_add(100), SEAL_OVERHEAD as usize);
    sealed.extend_from_slice(&plain);
    (
        UploadKey::new(&hash(&plain), &hash(&sealed)).unwrap(),
        sealed,
    )
}

/// What every backend must do. `a` and `b` are two handles on the same
/// storage (a reopened directory, another connection pool).
async fn conform(a: Arc<dyn BlobBytes>, b: Arc<dyn BlobBytes>) {
    let t0 = t("2026-11-22T03:00:00.123456Z");
    let t1 = t("2026-11-22T03:05:00Z");
    assert!(a.names().await.unwrap().is_empty());

    // A resumable upload, chunk by chunk, seen through both handles.
    let (key, bytes) = sealed(1, 3 * MAX_CHUNK + 5000);
    let length = bytes.len() as u64;
    assert_eq!(a.upload(&key).await.unwrap(), None);
    let mut chunks = bytes.chunks(MAX_CHUNK);
    let first = chunks.next().unwrap();
    assert_eq!(
        a.append(&key, length, 0, first, t0).await.unwrap(),
        first.len() as u64
    );
    let up = b.upload(&key).await.unwrap().unwrap();
    assert_eq!(
        (up.offset, up.length, up.updated_at),
        (first.len() as u64, length, t0)
    );
    let mut offset = up.offset;
    for (i, c) in chunks.enumerate() {
        let store = if i % 2 == 0 { &b } else { &a };
        offset = store.append(&key, length, offset, c, t1).await.unwrap();
    }
    assert_eq!(offset, length);
    let up = a.upload(&key).await.unwrap().unwrap();
    assert_eq!((up.offset, up.updated_at), (length, t1));
    assert_eq!(b.read_upload(&key).await.unwrap(), bytes);

    // Refusals, in the documented order, and nothing stored by them.
    let (k2, b2) = sealed(2, 1000);
    let l2 = b2.len() as u64;
    let e = a.append(&k2, l2, 5, &b2[..10], t0).await.unwrap_err();
    assert!(
        matches!(e, BlobError::OffsetMismatch { expected: 0 }),
        "{e}"
    );
    let e = a.append(&k2, 5, 0, &b2[..10], t0).await.unwrap_err();
    assert!(matches!(e, BlobError::BeyondLength), "{e}");
    let e = a
        .append(&k2, MAX_SEALED_LEN + 1, 7, &b2, t0)
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::TooLarge), "{e}");
    assert_eq!(a.upload(&k2).await.unwrap(), None);
    assert!(matches!(a.read_upload(&k2).await, Err(BlobError::NoUpload)));
    assert_eq!(a.append(&k2, l2, 0, &b2[..100], t0).await.unwrap(), 100);
    for (len, off, chunk, want) in [
        (l2 + 1, 100, &b2[100..200], "LengthMismatch"),
        (l2 + 1, 0, &b2[..10], "LengthMismatch"),
        (l2, 0, &b2[..10], "OffsetMismatch"),
        (l2, 101, &b2[101..200], "OffsetMismatch"),
        (l2, 100, &bytes[..1100], "BeyondLength"),
        (MAX_SEALED_LEN + 1, 100, &b2[100..200], "TooLarge"),
    ] {
        let e = b.append(&k2, len, off, chunk, t1).await.unwrap_err();
        assert!(e.is_user_error(), "{e}");
        match (want, &e) {
            ("LengthMismatch", BlobError::LengthMismatch { length }) => assert_eq!(*length, l2),
            ("OffsetMismatch", BlobError::OffsetMismatch { expected }) => {
                assert_eq!(*expected, 100);
            }
            ("BeyondLength", BlobError::BeyondLength) | ("TooLarge", BlobError::TooLarge) => {}
            _ => panic!("{want} expected, got {e:?}"),
        }
    }
    let up = a.upload(&k2).await.unwrap().unwrap();
    assert_eq!((up.offset, up.length, up.updated_at), (100, l2, t0));
    assert_eq!(a.read_upload(&k2).await.unwrap(), &b2[..100]);

    // Two senders of the same chunk: one is appended, the other told where
    // the upload now is.
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let (a, k2, chunk) = (Arc::clone(&a), k2.clone(), b2[100..300].to_vec());
            tokio::spawn(async move { a.append(&k2, l2, 100, &chunk, t1).await })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(n) => {
                assert_eq!(n, 300);
                won += 1;
            }
            Err(BlobError::OffsetMismatch { expected: 300 }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(a.read_upload(&k2).await.unwrap(), &b2[..300]);

    // Discarding, twice.
    a.discard_upload(&k2).await.unwrap();
    b.discard_upload(&k2).await.unwrap();
    assert_eq!(a.upload(&k2).await.unwrap(), None);
    assert!(matches!(b.read_upload(&k2).await, Err(BlobError::NoUpload)));

    // Expiry by the time of the last chunk.
    let (k3, b3) = sealed(3, 10);
    let (k4, b4) = sealed(4, 10);
    a.append(&k3, b3.len() as u64, 0, &b3[..5], t("2026-11-01T00:00:00Z"))
        .await
        .unwrap();
    a.append(&k4, b4.len() as u64, 0, &b4[..5], t("2026-11-01T00:00:00Z"))
        .await
        .unwrap();
    a.append(
        &k4,
        b4.len() as u64,
        5,
        &b4[5..9],
        t("2026-11-20T00:00:00Z"),
    )
    .await
    .unwrap();
    // `key` (complete, last touched at t1) and k4 stay.
    assert_eq!(
        b.expire_uploads(t("2026-11-10T00:00:00Z")).await.unwrap(),
        1
    );
    assert_eq!(a.upload(&k3).await.unwrap(), None);
    assert_eq!(a.upload(&k4).await.unwrap().unwrap().offset, 9);
    assert_eq!(a.upload(&key).await.unwrap().unwrap().offset, length);
    assert_eq!(
        a.expire_uploads(t("2026-11-21T00:00:00Z")).await.unwrap(),
        1
    );
    assert_eq!(
        a.expire_uploads(t("2026-11-23T00:00:00Z")).await.unwrap(),
        1
    );
    assert_eq!(a.upload(&key).await.unwrap(), None);

    // At most MAX_OPEN_UPLOADS open, even when openings race (through one
    // handle: two directory handles on one root do not share its lock,
    // the directory being one process's).
    let keys: Vec<(UploadKey, Vec<u8>)> = (0..MAX_OPEN_UPLOADS + 6)
        .map(|i| sealed(10 + i as u8, 20))
        .collect();
    for (k, bytes) in &keys[..MAX_OPEN_UPLOADS - 4] {
        a.append(k, bytes.len() as u64, 0, &bytes[..1], t0)
            .await
            .unwrap();
    }
    let racers: Vec<_> = keys[MAX_OPEN_UPLOADS - 4..]
        .iter()
        .map(|(k, bytes)| {
            let (a, k, bytes) = (Arc::clone(&a), k.clone(), bytes.clone());
            tokio::spawn(async move { a.append(&k, bytes.len() as u64, 0, &bytes[..1], t0).await })
        })
        .collect();
    let mut opened = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(1) => opened += 1,
            Err(BlobError::TooManyUploads) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(opened, 4);
    let mut held = 0;
    for (k, _) in &keys {
        if b.upload(k).await.unwrap().is_some() {
            held += 1;
        }
    }
    assert_eq!(held, MAX_OPEN_UPLOADS);
    let (k_last, b_last) = sealed(200, 20);
    let e = b
        .append(&k_last, b_last.len() as u64, 0, &b_last[..1], t0)
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::TooManyUploads), "{e}");
    assert!(e.is_user_error());
    assert_eq!(a.upload(&k_last).await.unwrap(), None);
    // An open one still takes chunks; a discarded one makes room.
    let (k0, b0) = &keys[0];
    assert_eq!(
        a.append(k0, b0.len() as u64, 1, &b0[1..2], t0)
            .await
            .unwrap(),
        2
    );
    a.discard_upload(k0).await.unwrap();
    b.append(&k_last, b_last.len() as u64, 0, &b_last[..1], t0)
        .await
        .unwrap();
    let all = t("2027-01-01T00:00:00Z");
    assert_eq!(
        a.expire_uploads(all).await.unwrap(),
        MAX_OPEN_UPLOADS as u64
    );
    for (k, _) in &keys {
        assert_eq!(b.upload(k).await.unwrap(), None);
    }

    // Complete objects.
    let small = object(50, 1000);
    let big = object(51, 2 * 1024 * 1024 + 12_345); // several PostgreSQL rows
    let largest = object(52, MAX_SEALED_LEN as usize);
    let (n_small, n_big, n_largest, n_empty) =
        (hash(&small), hash(&big), hash(&largest), hash(b""));
    assert_eq!(a.get(&n_small).await.unwrap(), None);
    assert_eq!(a.size(&n_small).await.unwrap(), None);
    a.put(&n_small, &small).await.unwrap();
    a.put(&n_small, &small).await.unwrap();
    b.put(&n_small, &small).await.unwrap();
    b.put(&n_big, &big).await.unwrap();
    a.put(&n_largest, &largest).await.unwrap();
    a.put(&n_empty, b"").await.unwrap();
    let e = a
        .put(&hash(b"x"), &vec![7; MAX_SEALED_LEN as usize + 1])
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::TooLarge), "{e}");
    assert_eq!(b.get(&n_small).await.unwrap().unwrap(), small);
    assert_eq!(a.get(&n_big).await.unwrap().unwrap(), big);
    assert_eq!(b.get(&n_largest).await.unwrap().unwrap(), largest);
    assert_eq!(b.get(&n_empty).await.unwrap().unwrap(), b"");
    assert_eq!(b.size(&n_big).await.unwrap(), Some(big.len() as u64));
    assert_eq!(b.size(&n_empty).await.unwrap(), Some(0));
    let mut names = vec![n_small.clone(), n_big.clone(), n_largest, n_empty];
    names.sort();
    assert_eq!(a.names().await.unwrap(), names);
    // Concurrent stores of one object: one copy.
    let puts: Vec<_> = (0..4)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let (name, bytes) = (hash(&object(60, 3000)), object(60, 3000));
            tokio::spawn(async move { store.put(&name, &bytes).await })
        })
        .collect();
    for p in puts {
        p.await.unwrap().unwrap();
    }
    assert_eq!(
        a.get(&hash(&object(60, 3000))).await.unwrap().unwrap(),
        object(60, 3000)
    );
    a.delete(&n_big).await.unwrap();
    b.delete(&n_big).await.unwrap();
    assert_eq!(a.get(&n_big).await.unwrap(), None);
    assert_eq!(b.size(&n_big).await.unwrap(), None);
    assert_eq!(a.names().await.unwrap().len(), 4);

    // Names that are not 64 lower-case hex digits, paths above all.
    for bad in [
        "../x".to_owned(),
        format!("../{}", &n_small[3..]),
        n_small.to_uppercase(),
        n_small[1..].to_owned(),
        format!("{n_small}/"),
        String::new(),
    ] {
        for e in [
            a.put(&bad, b"x").await.unwrap_err(),
            a.get(&bad).await.unwrap_err(),
            a.size(&bad).await.unwrap_err(),
            a.delete(&bad).await.unwrap_err(),
            UploadKey::new(&bad, &n_small).unwrap_err(),
            UploadKey::new(&n_small, &bad).unwrap_err(),
        ] {
            assert!(matches!(e, BlobError::BadName(_)), "{e}");
            assert!(e.is_user_error());
        }
        let k = UploadKey {
            sha256: bad.clone(),
            sealed_sha256: n_small.clone(),
        };
        let e = a.append(&k, 10, 0, b"x", t0).await.unwrap_err();
        assert!(matches!(e, BlobError::BadName(_)), "{e}");
    }
    assert_eq!(a.names().await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let a = DirBlobs::open(dir.path()).unwrap();
    let b = DirBlobs::open(dir.path()).unwrap();
    conform(Arc::new(a), Arc::new(b)).await;
    // Everything complete is still there after a reopen.
    let reopened = DirBlobs::open(dir.path()).unwrap();
    assert_eq!(reopened.names().await.unwrap().len(), 4);
    for name in reopened.names().await.unwrap() {
        let bytes = reopened.get(&name).await.unwrap().unwrap();
        assert_eq!(hash(&bytes), name);
    }
    let uploads = std::fs::read_dir(dir.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0);
}

#[test]
fn postgres_backend_conforms() {
    if std::env::var_os(doorstep_tests::pg::ENV).is_none() {
        use std::io::Write;
        // Straight to the terminal: the harness swallows a passing test's prints.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: PostgreSQL blob tests (DOORSTEP_TEST_DATABASE_URL is not set)"
        );
        return;
    }
    // The schema is made (blocking) before the runtime starts.
    let Some(db) = doorstep_tests::pg::PgSchema::create("postgres_blob_bytes") else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        // Central's own opening applies the migrations, 0003_blobs among them.
        let central =
            PgCentral::open_or_create(&db.url, keys.path(), None, t("2026-11-22T03:00:00Z"))
                .await
                .unwrap();
        drop(central);
        let a = PgBlobs::new(pool(&db.url));
        let b = PgBlobs::new(pool(&db.url));
        conform(Arc::new(a), Arc::new(b)).await;
    });
    // 0003_blobs (or later) applied.
    assert!(db.count("SELECT version::int8 FROM doorstep_schema") >= 3);
    assert_eq!(db.count("SELECT count(*) FROM blob_data"), 4);
    assert_eq!(
        db.count("SELECT count(*) FROM blob_chunks WHERE length(data) > 1024 * 1024"),
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM uploads"), 0);
    assert_eq!(db.count("SELECT count(*) FROM upload_chunks"), 0);
    // The metadata tables are there for the attachment records.
    for table in ["record_attachments", "blobs", "sealed_blobs"] {
        assert_eq!(db.count(&format!("SELECT count(*) FROM {table}")), 0);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn pool(url: &str) -> Pool {
    let manager = Manager::from_config(
        url.parse().unwrap(),
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager).max_size(4).build().unwrap()
}
