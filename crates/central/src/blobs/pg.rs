//! Blob bytes in central's PostgreSQL database (attachments-v1 section 11,
//! schema version 3, `migrations-pg/0003_blobs.sql`):
//!
//! - complete objects in `blob_data` (name, size) and `blob_chunks`
//!   (at most 1 MiB per row, numbered from 0), written in one transaction;
//! - partial uploads in `uploads` (declared length, offset, last append)
//!   and `upload_chunks` (one row per appended chunk, keyed by its
//!   offset). An append is one transaction that locks the upload's row
//!   (`SELECT … FOR UPDATE`), checks the offset, inserts the chunk and
//!   moves the offset; opening a new upload also takes a transaction-level
//!   advisory lock, so the open-upload count holds across ingest nodes.
//!
//! Times are kept to the microsecond (PostgreSQL's precision).

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::{
    BlobBytes, BlobError, MAX_SEALED_LEN, PartialUpload, UploadKey, check_append, check_name,
    to_micros,
};

/// Most bytes in one `blob_chunks` row.
const ROW_BYTES: usize = 1024 * 1024;

/// Advisory lock taken to open an upload ("dsupload" in ASCII).
const OPEN_LOCK: i64 = 0x6473_7570_6c6f_6164;

/// `updated_at` as RFC 3339 text in UTC, to the microsecond.
const UPDATED_AT: &str =
    r#"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#;

/// Blob bytes in PostgreSQL. The tables come with central's migrations
/// (`PgCentral::open_or_create` applies them).
#[derive(Clone)]
pub struct PgBlobs {
    pool: Pool,
}

impl std::fmt::Debug for PgBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBlobs").finish_non_exhaustive()
    }
}

impl PgBlobs {
    /// Blob bytes in the database `pool` connects to (already migrated).
    pub fn new(pool: Pool) -> PgBlobs {
        PgBlobs { pool }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, BlobError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(source) => BlobError::Db {
                what: "connecting".into(),
                source,
            },
            other => BlobError::Pool(other.to_string()),
        })
    }
}

#[async_trait::async_trait]
impl BlobBytes for PgBlobs {
    async fn upload(&self, key: &UploadKey) -> Result<Option<PartialUpload>, BlobError> {
        key.check()?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    r#"SELECT length, "offset", {UPDATED_AT} FROM uploads
                       WHERE sha256 = $1 AND sealed_sha256 = $2"#
                ),
                &[&key.sha256, &key.sealed_sha256],
            )
            .await
            .map_err(db("reading an upload"))?;
        let Some(row) = row else { return Ok(None) };
        let updated_at: String = row.get(2);
        Ok(Some(PartialUpload {
            length: to_u64(row.get(0))?,
            offset: to_u64(row.get(1))?,
            updated_at: DateTime::parse_from_rfc3339(&updated_at)
                .map_err(|e| BlobError::Inconsistent(format!("updated_at {updated_at:?}: {e}")))?
                .with_timezone(&Utc),
        }))
    }

    async fn append(
        &self,
        key: &UploadKey,
        length: u64,
        offset: u64,
        chunk: &[u8],
        now: DateTime<Utc>,
    ) -> Result<u64, BlobError> {
        if length > MAX_SEALED_LEN {
            return Err(BlobError::TooLarge);
        }
        key.check()?;
        let keys: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&key.sha256, &key.sealed_sha256];
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(db("starting an append"))?;
        let lock_row = r#"SELECT length, "offset" FROM uploads
                          WHERE sha256 = $1 AND sealed_sha256 = $2 FOR UPDATE"#;
        let mut row = tx
            .query_opt(lock_row, &keys)
            .await
            .map_err(db("locking an upload"))?;
        let mut open_uploads = 0;
        if row.is_none() {
            // Opening: one at a time, so the count below stays true (and a
            // concurrent opening of this same upload is seen once it commits).
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&OPEN_LOCK])
                .await
                .map_err(db("locking the uploads"))?;
            row = tx
                .query_opt(lock_row, &keys)
                .await
                .map_err(db("locking an upload"))?;
            if row.is_none() {
                let n: i64 = tx
                    .query_one("SELECT count(*) FROM uploads", &[])
                    .await
                    .map_err(db("counting uploads"))?
                    .get(0);
                open_uploads = usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        let open = match row {
            Some(row) => Some((to_u64(row.get(0))?, to_u64(row.get(1))?)),
            None => None,
        };
        let end = check_append(open, length, offset, chunk.len(), || Ok(open_uploads))?;
        let at = pg_time(now);
        let (start, end_i) = (to_i64(offset), to_i64(end));
        if open.is_some() {
            tx.execute(
                r#"UPDATE uploads SET "offset" = $3, updated_at = $4::text::timestamptz
                   WHERE sha256 = $1 AND sealed_sha256 = $2"#,
                &[&key.sha256, &key.sealed_sha256, &end_i, &at],
            )
            .await
            .map_err(db("moving an upload's offset"))?;
        } else {
            tx.execute(
                r#"INSERT INTO uploads (sha256, sealed_sha256, length, "offset", updated_at)
                   VALUES ($1, $2, $3, $4, $5::text::timestamptz)"#,
                &[
                    &key.sha256,
                    &key.sealed_sha256,
                    &to_i64(length),
                    &end_i,
                    &at,
                ],
            )
            .await
            .map_err(db("opening an upload"))?;
        }
        // An empty chunk moves nothing (and must not take the offset's row).
        if !chunk.is_empty() {
            tx.execute(
                r#"INSERT INTO upload_chunks (sha256, sealed_sha256, "offset", data)
                   VALUES ($1, $2, $3, $4)"#,
                &[&key.sha256, &key.sealed_sha256, &start, &chunk],
            )
            .await
            .map_err(db("storing a chunk"))?;
        }
        tx.commit().await.map_err(db("committing a chunk"))?;
        Ok(end)
    }

    async fn read_upload(&self, key: &UploadKey) -> Result<Vec<u8>, BlobError> {
        key.check()?;
        let client = self.client().await?;
        let rows = client
            .query(
                r#"SELECT u."offset", c."offset", c.data
                   FROM uploads u LEFT JOIN upload_chunks c
                     ON c.sha256 = u.sha256 AND c.sealed_sha256 = u.sealed_sha256
                   WHERE u.sha256 = $1 AND u.sealed_sha256 = $2
                   ORDER BY c."offset""#,
                &[&key.sha256, &key.sealed_sha256],
            )
            .await
            .map_err(db("reading an upload"))?;
        let Some(first) = rows.first() else {
            return Err(BlobError::NoUpload);
        };
        let offset = to_u64(first.get(0))?;
        let mut bytes = Vec::with_capacity(usize::try_from(offset).unwrap_or(0));
        for row in &rows {
            let Some(at) = row.get::<_, Option<i64>>(1) else {
                continue;
            };
            let data: &[u8] = row.get(2);
            if usize::try_from(at).ok() != Some(bytes.len()) {
                return Err(BlobError::Inconsistent(format!(
                    "upload {}.{}: a chunk at {at}, expected at {}",
                    key.sha256,
                    key.sealed_sha256,
                    bytes.len()
                )));
            }
            bytes.extend_from_slice(data);
        }
        if u64::try_from(bytes.len()).ok() != Some(offset) {
            return Err(BlobError::Inconsistent(format!(
                "upload {}.{}: {} bytes in chunks, offset {offset}",
                key.sha256,
                key.sealed_sha256,
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    async fn discard_upload(&self, key: &UploadKey) -> Result<(), BlobError> {
        key.check()?;
        self.client()
            .await?
            .execute(
                "DELETE FROM uploads WHERE sha256 = $1 AND sealed_sha256 = $2",
                &[&key.sha256, &key.sealed_sha256],
            )
            .await
            .map_err(db("discarding an upload"))?;
        Ok(())
    }

    async fn expire_uploads(&self, before: DateTime<Utc>) -> Result<u64, BlobError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM uploads WHERE updated_at < $1::text::timestamptz",
                &[&pg_time(before)],
            )
            .await
            .map_err(db("expiring uploads"))
    }

    async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let size = u64::try_from(bytes.len())
            .ok()
            .filter(|n| *n <= MAX_SEALED_LEN)
            .ok_or(BlobError::TooLarge)?;
        check_name(name)?;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(db("starting to store a blob"))?;
        // A second store of the same name waits for the first to commit,
        // then inserts nothing.
        let new = tx
            .execute(
                "INSERT INTO blob_data (name, size) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &to_i64(size)],
            )
            .await
            .map_err(db("storing a blob"))?;
        if new == 1 {
            let insert = tx
                .prepare("INSERT INTO blob_chunks (name, n, data) VALUES ($1, $2, $3)")
                .await
                .map_err(db("storing a blob"))?;
            for (n, part) in bytes.chunks(ROW_BYTES).enumerate() {
                let n = i32::try_from(n).map_err(|_| BlobError::TooLarge)?;
                tx.execute(&insert, &[&name, &n, &part])
                    .await
                    .map_err(db("storing a blob"))?;
            }
        }
        tx.commit().await.map_err(db("committing a blob"))
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        check_name(name)?;
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT d.size, c.n, c.data
                 FROM blob_data d LEFT JOIN blob_chunks c ON c.name = d.name
                 WHERE d.name = $1 ORDER BY c.n",
                &[&name],
            )
            .await
            .map_err(db("reading a blob"))?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let size = to_u64(first.get(0))?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut next = 0i32;
        for row in &rows {
            let Some(n) = row.get::<_, Option<i32>>(1) else {
                continue;
            };
            if n != next {
                return Err(BlobError::Inconsistent(format!(
                    "blob {name}: chunk {n} where {next} was expected"
                )));
            }
            next = next.saturating_add(1);
            bytes.extend_from_slice(row.get::<_, &[u8]>(2));
        }
        if u64::try_from(bytes.len()).ok() != Some(size) {
            return Err(BlobError::Inconsistent(format!(
                "blob {name}: {} bytes in chunks, size {size}",
                bytes.len()
            )));
        }
        Ok(Some(bytes))
    }

    async fn size(&self, name: &str) -> Result<Option<u64>, BlobError> {
        check_name(name)?;
        let row = self
            .client()
            .await?
            .query_opt("SELECT size FROM blob_data WHERE name = $1", &[&name])
            .await
            .map_err(db("reading a blob's size"))?;
        row.map(|r| to_u64(r.get(0))).transpose()
    }

    async fn delete(&self, name: &str) -> Result<(), BlobError> {
        check_name(name)?;
        // Its chunks go with it (ON DELETE CASCADE).
        self.client()
            .await?
            .execute("DELETE FROM blob_data WHERE name = $1", &[&name])
            .await
            .map_err(db("deleting a blob"))?;
        Ok(())
    }

    async fn names(&self) -> Result<Vec<String>, BlobError> {
        let rows = self
            .client()
            .await?
            .query("SELECT name FROM blob_data", &[])
            .await
            .map_err(db("listing blobs"))?;
        let mut names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        names.sort_unstable();
        Ok(names)
    }
}

/// `t` as RFC 3339 text to the microsecond, bound as `$n::text::timestamptz`
/// (the driver is built without chrono support).
fn pg_time(t: DateTime<Utc>) -> String {
    to_micros(t).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> Result<u64, BlobError> {
    u64::try_from(v).map_err(|_| BlobError::Inconsistent(format!("a negative size or offset {v}")))
}

fn db(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> BlobError {
    move |source| BlobError::Db {
        what: what.into(),
        source,
    }
}
