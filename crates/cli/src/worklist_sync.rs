//! The worklist part of `doorstep field sync`: the download that follows
//! the push, and how it is reported (one line of text, or a `worklist`
//! object in the JSON). A download that fails never undoes or hides the
//! push before it.

use doorstep_store::FieldStore;
use doorstep_sync::worklist::{SKIP_LOCKED, SKIP_NO_WORKLISTS, SKIP_NOT_REGISTERED};
use doorstep_sync::{Client, PullError, PullReport, RetryPolicy, pull_worklist};
use serde_json::{Value, json};

use crate::lang::{Lang, Pick};

/// Why the download was not tried after a push that stopped on an error.
pub const PUSH_STOPPED: &str = "sync stopped by an error";

/// What the download after a push came to.
#[derive(Debug)]
pub enum Pulled {
    Done(PullReport),
    /// Not tried: the push stopped on an error, or the store's key could
    /// not be opened (why).
    NotTried(String),
    Failed(PullError),
}

impl Pulled {
    /// The server refused this laptop as revoked: the command fails
    /// whatever the push did.
    pub fn revoked(&self) -> bool {
        matches!(self, Pulled::Failed(e) if e.is_revoked())
    }
}

/// Opens the store's key for the download (people are stored encrypted)
/// when the laptop is registered; why it could not, if so. Asked before
/// the push, so the officer types the passphrase at the start.
pub fn unlock_for_pull(store: &mut FieldStore, lang: Lang) -> Option<String> {
    match store.signer() {
        Ok(Some(_)) if !store.is_unlocked() => crate::passphrase::unlock(store, lang)
            .err()
            .map(|e| format!("{e:#}")),
        _ => None,
    }
}

/// Downloads the worklist after a push that went through.
pub fn pull(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    store: &mut FieldStore,
    retry: &RetryPolicy,
    locked: Option<String>,
) -> Pulled {
    if let Some(why) = locked {
        return Pulled::NotTried(why);
    }
    match rt.block_on(pull_worklist(client, store, None, retry)) {
        Ok(report) => Pulled::Done(report),
        Err(e) => Pulled::Failed(e),
    }
}

/// The `worklist` object of `field sync --json`.
pub fn json(pulled: &Pulled) -> Value {
    match pulled {
        Pulled::Done(r) => json!(r),
        Pulled::NotTried(why) => json!({"skipped": why}),
        Pulled::Failed(e) => json!({"error": e.to_string(), "revoked": e.is_revoked()}),
    }
}

/// The line `field sync` prints about the worklist.
pub fn print(pulled: &Pulled, lang: Lang) {
    let l = |vi, en| lang.pick(vi, en);
    let head = l("danh sách cần tiếp cận", "worklist");
    match pulled {
        Pulled::Done(r) => match &r.skipped {
            // A laptop that is not registered has no worklist to speak of.
            Some(why) if why == SKIP_NOT_REGISTERED => {}
            Some(why) => println!(
                "{head}: {} ({})",
                l("không tải", "not downloaded"),
                skip_text(why, lang)
            ),
            None => println!(
                "{head}: {} {} (+{}, −{}), {} {}",
                r.people,
                l("người", if r.people == 1 { "person" } else { "people" }),
                r.put,
                r.removed + r.dropped,
                r.bytes,
                l("byte", "bytes")
            ),
        },
        Pulled::NotTried(why) => {
            println!(
                "{head}: {} ({})",
                l("không tải", "not downloaded"),
                skip_text(why, lang)
            );
        }
        Pulled::Failed(e) => {
            println!("{head}: {}: {e}", l("không tải được", "not downloaded"));
            if e.is_revoked() {
                println!(
                    "  {}",
                    l(
                        "máy trạm này đã bị thu hồi: không nhận danh sách nào nữa; liên hệ cán bộ phụ trách",
                        "this laptop was revoked: it receives no worklist; contact the officer in charge"
                    )
                );
            } else {
                println!(
                    "  {}",
                    l(
                        "lần đồng bộ sau sẽ tải tiếp từ trang đã nhận cuối cùng",
                        "the next sync resumes after the last page received"
                    )
                );
            }
        }
    }
}

/// Why nothing was downloaded, in the officer's language.
fn skip_text(why: &str, lang: Lang) -> String {
    let vi = match why {
        w if w == SKIP_LOCKED => "kho dữ liệu đang khóa: danh sách được lưu mã hóa, cần mật khẩu",
        w if w == SKIP_NO_WORKLISTS => "máy chủ không quản lý danh sách cần tiếp cận",
        w if w == SKIP_NOT_REGISTERED => "máy này chưa đăng ký với trung tâm",
        w if w == PUSH_STOPPED => "đồng bộ đã dừng vì lỗi",
        other => other,
    };
    lang.pick(vi, why).to_owned()
}
