#![forbid(unsafe_code)]
//! Doorstep's laptop store: one SQLite file (bundled SQLite, WAL, full
//! fsync) per data directory, with numbered migrations, the device's
//! gap-free sequence, every record's canonical bytes and custody state,
//! and the outbox.

pub mod error;
pub mod field;
pub mod keyfile;
pub mod migrate;
pub mod sqlite;
pub mod witness;

pub use error::StoreError;
pub use field::{
    Ack, AckCounts, DeviceInfo, EnrollOutcome, FieldStore, InitOptions, JournalCheck, JournalEntry,
    JournalHead, JournalProblem, ListFilter, OutboxItem, PreparedBody, ReceiptToStore,
    RecordStatus, RecordSummary, StatusReport, SyncEvent, SyncEventKind, SyncLogEntry,
    record_digest,
};
pub use field::{
    DeviceIdentity, Protection, PurgeReport, RecordKey, Registration, SealFacts, UnlockReport,
};
pub use field::{LastDownload, LocalVisit, PageApplied, PendingDownload, WorklistState};
pub use witness::{LogAlarm, StoredLogHead};
