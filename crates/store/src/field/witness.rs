//! The laptop as a witness of the logs it syncs to (see [`crate::witness`]).

use uuid::Uuid;

use super::FieldStore;
use crate::error::StoreError;
use crate::witness::{LogAlarm, StoredLogHead, load_alarms, load_head, save_alarm, save_head};

impl FieldStore {
    /// The last verified head of `log_id`'s log, with its pinned key.
    pub fn log_head(&self, log_id: Uuid) -> Result<Option<StoredLogHead>, StoreError> {
        load_head(&self.conn, "log_heads", log_id).map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Keeps `head` as the last verified head of its log.
    pub fn save_log_head(&mut self, head: &StoredLogHead) -> Result<(), StoreError> {
        save_head(&self.conn, "log_heads", head).map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Records evidence that a log broke its promises.
    pub fn raise_log_alarm(&mut self, alarm: &LogAlarm) -> Result<(), StoreError> {
        save_alarm(&self.conn, alarm).map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Every alarm raised, oldest first.
    pub fn log_alarms(&self) -> Result<Vec<LogAlarm>, StoreError> {
        load_alarms(&self.conn).map_err(|e| StoreError::sqlite(&self.path, e))
    }
}

/// One record as `audit reconcile` compares it: sequence number, ID,
/// content hash and custody state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKey {
    pub device_seq: u64,
    pub record_id: Uuid,
    pub content_hash: doorstep_core::ContentHash,
    pub status: super::RecordStatus,
}

impl FieldStore {
    /// Up to `limit` records after `after_seq`, in sequence order, without
    /// their bytes.
    pub fn record_keys(&self, after_seq: u64, limit: u64) -> Result<Vec<RecordKey>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT device_seq, record_id, content_hash, status FROM records
                 WHERE device_seq > ?1 ORDER BY device_seq LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(
                [
                    i64::try_from(after_seq).unwrap_or(i64::MAX),
                    i64::try_from(limit).unwrap_or(i64::MAX),
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, hash, status) = row.map_err(err)?;
            out.push(RecordKey {
                device_seq: u64::try_from(seq).unwrap_or(0),
                record_id: super::parse_uuid(&id)?,
                content_hash: super::stored_hash(seq, &hash)?,
                status: super::RecordStatus::parse(&status).ok_or_else(|| {
                    StoreError::Inconsistent(format!(
                        "record #{seq} has an unknown status `{status}`"
                    ))
                })?,
            });
        }
        Ok(out)
    }
}
