#![forbid(unsafe_code)]
//! Doorstep's central ingest service as a library: the checks every
//! received record goes through, the storage trait with its embedded
//! SQLite backend and its PostgreSQL backend, and the HTTP router (`/v1/batches`, `/healthz`,
//! `/metrics`). The `doorstep central serve` command wires them together.

pub mod audit;
pub mod audit_watch;
pub mod blobs;
pub mod check;
mod dashboard;
pub mod error;
pub mod http;
pub mod metrics;
mod outcome;
pub mod postgres;
pub mod registry;
pub mod reports;
pub mod sealing;
pub mod signing;
pub mod sqlite;
pub mod store;
pub mod tls;
pub mod worklist;

pub use error::CentralError;
pub use http::{AppState, router};
pub use postgres::PgCentral;
pub use sqlite::SqliteCentral;
pub use store::{
    Applied, CentralStatus, CentralStore, DeviceStatus, IncomingBatch, SessionQuery, SessionSummary,
};
