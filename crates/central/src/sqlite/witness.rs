//! A station as a witness of its upstream's log (see
//! [`doorstep_store::witness`]).

use doorstep_store::witness::{load_alarms, load_head, save_alarm, save_head};
use doorstep_store::{LogAlarm, StoredLogHead};
use uuid::Uuid;

use super::SqliteCentral;
use crate::error::CentralError;

impl SqliteCentral {
    /// The last verified head of the upstream log `log_id`.
    pub fn upstream_head(&self, log_id: Uuid) -> Result<Option<StoredLogHead>, CentralError> {
        let conn = self.lock()?;
        load_head(&conn, "upstream_heads", log_id).map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Keeps `head` as the last verified head of the upstream log.
    pub fn save_upstream_head(&self, head: &StoredLogHead) -> Result<(), CentralError> {
        let conn = self.lock()?;
        save_head(&conn, "upstream_heads", head).map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Records evidence that the upstream log broke its promises.
    pub fn raise_log_alarm(&self, alarm: &LogAlarm) -> Result<(), CentralError> {
        let conn = self.lock()?;
        save_alarm(&conn, alarm).map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Every alarm raised about the upstream log, oldest first.
    pub fn log_alarms(&self) -> Result<Vec<LogAlarm>, CentralError> {
        let conn = self.lock()?;
        load_alarms(&conn).map_err(|e| CentralError::sqlite(&self.path, e))
    }
}
