//! Checking a canonical record received from another node: the bytes hash
//! to the claimed content hash, they are exactly the canonical encoding of
//! the record they decode to, and the body passes the same validation rules
//! the laptop applied (re-validating the body yields the very same body).
//! Central and stations run this on every record they receive.

use serde_json::Value;

use crate::canonical::{CanonicalError, ContentHash, decode_record};
use crate::record::Record;
use crate::validate::{ValidationContext, validate};
use crate::violation::Violation;

/// Why a received record is refused.
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    #[error("the record's bytes hash to {actual}, not to the content hash {claimed} sent with it")]
    HashMismatch {
        claimed: ContentHash,
        actual: ContentHash,
    },
    #[error("not a canonical record: {0}")]
    NotCanonical(#[source] CanonicalError),
    #[error("the record breaks {} validation rule(s)", .0.len())]
    Invalid(Vec<Violation>),
    #[error("validating the body changes it: the laptop stored an uncleaned body")]
    NotClean,
}

impl RecheckError {
    /// Stable code for receipts (see `proto/sync-v1.md`).
    pub fn code(&self) -> &'static str {
        match self {
            RecheckError::HashMismatch { .. } => "record.hash_mismatch",
            RecheckError::NotCanonical(_) => "record.not_canonical",
            RecheckError::Invalid(_) => "record.invalid",
            RecheckError::NotClean => "record.not_clean",
        }
    }

    /// Vietnamese explanation for officers.
    pub fn message_vi(&self) -> String {
        match self {
            RecheckError::HashMismatch { .. } => {
                "dữ liệu hồ sơ không khớp mã băm nội dung (hồ sơ bị thay đổi trên đường truyền hoặc trong kho)".into()
            }
            RecheckError::NotCanonical(_) => "hồ sơ không đúng dạng chuẩn".into(),
            RecheckError::Invalid(v) => format!("hồ sơ vi phạm {} quy tắc kiểm tra", v.len()),
            RecheckError::NotClean => "nội dung hồ sơ chưa được chuẩn hoá".into(),
        }
    }

    /// The rule violations, when the body itself is invalid.
    pub fn violations(&self) -> &[Violation] {
        match self {
            RecheckError::Invalid(v) => v,
            _ => &[],
        }
    }
}

/// Checks one received record. `claimed` is the content hash sent beside
/// the bytes.
///
/// The clock of the rules ("not in the future") is the later of the
/// receiver's `ctx.now` and the record's own `enrolled_at`: a receiver never
/// refuses, because its clock is behind the laptop's, a record the laptop
/// rightly accepted, and a record that passes once passes whenever it is
/// checked again.
pub fn recheck(
    bytes: &[u8],
    claimed: &ContentHash,
    ctx: &ValidationContext<'_>,
) -> Result<Record, RecheckError> {
    let actual = ContentHash::of(bytes);
    if actual != *claimed {
        return Err(RecheckError::HashMismatch {
            claimed: *claimed,
            actual,
        });
    }
    let record = decode_record(bytes).map_err(RecheckError::NotCanonical)?;
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| RecheckError::NotCanonical(CanonicalError::Shape(e)))?;
    let body = doc.get("body").unwrap_or(&Value::Null);
    let ctx = ValidationContext {
        now: ctx.now.max(record.enrolled_at),
        ..*ctx
    };
    let cleaned = validate(body, &ctx).map_err(RecheckError::Invalid)?;
    if cleaned != record.body {
        return Err(RecheckError::NotClean);
    }
    Ok(record)
}
