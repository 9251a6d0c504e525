//! Attachments at central on PostgreSQL (`proto/attachments-v1.md`
//! sections 8 and 11), as [`crate::sqlite`]'s embedded store keeps them:
//! which blobs each held record names (`record_attachments`, written when
//! the record is accepted, see [`super::apply`]), which blobs are held
//! whole (`blobs`), the sealed objects they came in (`sealed_blobs`), and
//! so which records are complete. The bytes are in [`crate::blobs::PgBlobs`].

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use doorstep_core::canonical::format_utc_millis;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{to_i64, to_u64};
use crate::error::CentralError;
use crate::store::{BlobCompletion, BlobFacts};

/// The attachments of these held records not held whole yet: per record,
/// sorted by hash. Records with none missing are absent.
pub(super) const MISSING: &str = "SELECT ra.record_id, ra.sha256 FROM record_attachments ra
     WHERE ra.record_id = ANY($1)
       AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = ra.sha256)
     ORDER BY ra.record_id, ra.sha256";

/// Runs [`MISSING`] for `ids` (no round trip when there are none).
pub(super) async fn missing<C: GenericClient + Sync>(
    client: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<String>>, CentralError> {
    let mut out: HashMap<Uuid, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let statement = client
        .prepare_cached(MISSING)
        .await
        .map_err(CentralError::pg)?;
    for row in client
        .query(&statement, &[&ids])
        .await
        .map_err(CentralError::pg)?
    {
        out.entry(row.get(0)).or_default().push(row.get(1));
    }
    Ok(out)
}

/// Held whole (and its size), and the size held records give it.
pub(super) async fn facts<C: GenericClient + Sync>(
    client: &C,
    sha256: &str,
) -> Result<BlobFacts, CentralError> {
    let row = client
        .query_one(
            "SELECT (SELECT size FROM blobs WHERE sha256 = $1),
                    (SELECT size FROM record_attachments WHERE sha256 = $1 LIMIT 1)",
            &[&sha256],
        )
        .await
        .map_err(CentralError::pg)?;
    Ok(BlobFacts {
        held: row.get::<_, Option<i64>>(0).map(to_u64),
        named_size: row.get::<_, Option<i64>>(1).map(to_u64),
    })
}

/// Marks a blob held whole (its bytes are in `blob_data` already), notes
/// the sealed object it came in, and returns the held records now
/// complete, in (`device_id`, `device_seq`) order, with their content hash.
pub(super) async fn completed(
    client: &mut deadpool_postgres::Object,
    c: &BlobCompletion,
) -> Result<Vec<(Uuid, String)>, CentralError> {
    let tx = client.transaction().await.map_err(CentralError::pg)?;
    // The log lock, as a batch takes it: completions and batches then
    // happen one after the other, so a record is reported complete by
    // exactly one of them (two blobs of one record completing on two
    // nodes at once would each miss the other's row; a record accepted
    // while its last blob completes would be missed by both). Blob log
    // entries (section 10) will need this lock too.
    tx.query_one("SELECT 1 FROM log_state WHERE id = 1 FOR UPDATE", &[])
        .await
        .map_err(CentralError::pg)?;
    let at = format_utc_millis(&c.at);
    let (size, object_size) = (to_i64(c.size), to_i64(c.object_size));
    let blob: [&(dyn ToSql + Sync); 3] = [&c.sha256, &size, &at];
    let sealed: [&(dyn ToSql + Sync); 5] =
        [&c.sealed_sha256, &c.sha256, &object_size, &c.sender, &at];
    tokio::try_join!(
        tx.execute(
            "INSERT INTO blobs (sha256, size, stored_at) VALUES ($1, $2, $3)
             ON CONFLICT (sha256) DO NOTHING",
            &blob,
        ),
        tx.execute(
            "INSERT INTO sealed_blobs (sealed_sha256, sha256, size, sender_id, received_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sealed_sha256) DO NOTHING",
            &sealed,
        ),
    )
    .map_err(CentralError::pg)?;
    let rows = tx
        .query(
            "SELECT r.record_id, r.content_hash FROM record_attachments ra
             JOIN records r ON r.record_id = ra.record_id
             WHERE ra.sha256 = $1
               AND NOT EXISTS (SELECT 1 FROM record_attachments o
                               WHERE o.record_id = ra.record_id
                                 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = o.sha256))
             ORDER BY r.device_id, r.device_seq",
            &[&c.sha256],
        )
        .await
        .map_err(CentralError::pg)?;
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, Uuid>(0), hex::encode(r.get::<_, &[u8]>(1))))
        .collect())
}
