#![forbid(unsafe_code)]
//! Doorstep's sync client: pushes a laptop's outbox to central (or a
//! station) in batches, exactly once, through dropped connections, crashes
//! and retries (`proto/sync-v1.md`, "Client behaviour").
//!
//! Exactly once rests on two facts: the record ID is the receiver's
//! idempotency key (a resent record is answered `duplicate`), and a record
//! is marked acknowledged only in the transaction that stores the receipt
//! saying so. A crash anywhere leaves records pending, to be resent.

pub mod backoff;
pub mod bundle;
pub mod client;
pub mod forward;
pub mod provision;
pub mod push;
pub mod relay;
pub mod station_worklist;
pub mod upload;
pub mod witness;
pub mod worklist;

pub use backoff::RetryPolicy;
pub use client::{Client, ClientSetupError, ClientTls, SendError};
pub use forward::{ForwardReport, forward_all};
pub use push::{Progress, SYNC_PAGE_CACHE_KIB, SyncError, SyncOptions, SyncReport, sync_outbox};
pub use worklist::{PullError, PullReport, pull_worklist};
