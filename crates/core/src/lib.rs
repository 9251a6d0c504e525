#![forbid(unsafe_code)]
//! Doorstep's domain core: enrollment records, validation ("correct,
//! complete, clean, live"), administrative units, the personal ID number,
//! Vietnamese text handling, the canonical encoding with its content
//! hash, the resident roster and who on it is left to reach. Pure
//! functions only: no I/O, no clocks, no async.

pub mod campaign;
pub mod canonical;
pub mod labels;
pub mod merkle;
pub mod personal_id;
pub mod progress;
pub mod recheck;
pub mod record;
pub mod roster;
pub mod text;
pub mod unit_search;
pub mod units;
pub mod validate;
pub mod violation;
pub mod worklist;

pub use canonical::{ContentHash, decode_record, encode_body, encode_record};
pub use recheck::{RecheckError, recheck};
pub use record::{Record, RecordBody, RecordKind};
pub use units::{Unit, UnitLevel, Units};
pub use validate::{ValidationContext, validate};
pub use violation::{Lang, Violation};
