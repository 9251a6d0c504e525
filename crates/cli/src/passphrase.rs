//! The officer's passphrase: from `DOORSTEP_PASSPHRASE` (scripts, tests)
//! or asked on the terminal without echo. Asked only by commands that read
//! or write citizen data, and only once per command.

use std::io::IsTerminal;

use chrono::Utc;
use doorstep_store::FieldStore;
use zeroize::Zeroizing;

use crate::UserError;
use crate::lang::{Lang, Pick};

/// Environment variable scripts and tests put the passphrase in.
pub const ENV: &str = "DOORSTEP_PASSPHRASE";

/// The passphrase from the environment, or typed on the terminal; a new
/// one (`confirm`) is asked twice.
pub fn read(lang: Lang, confirm: bool) -> Result<Zeroizing<String>, UserError> {
    if let Ok(value) = std::env::var(ENV) {
        return Ok(Zeroizing::new(value));
    }
    if !std::io::stdin().is_terminal() {
        return Err(UserError(lang.pick(
            "cần mật khẩu của cán bộ để mở dữ liệu công dân: không có màn hình dòng lệnh để hỏi, hãy đặt DOORSTEP_PASSPHRASE",
            "the officer's passphrase is needed to open citizen data: there is no terminal to ask on, so set DOORSTEP_PASSPHRASE",
        ).to_owned()));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| {
                UserError(format!(
                    "{}: {e}",
                    lang.pick("không đọc được mật khẩu", "cannot read the passphrase")
                ))
            })
    };
    let first = ask(lang.pick(
        if confirm {
            "Đặt mật khẩu mới (ít nhất 8 ký tự): "
        } else {
            "Mật khẩu: "
        },
        if confirm {
            "New passphrase (at least 8 characters): "
        } else {
            "Passphrase: "
        },
    ))?;
    if confirm {
        let again = ask(lang.pick("Nhập lại mật khẩu: ", "Passphrase again: "))?;
        if *first != *again {
            return Err(UserError(
                lang.pick(
                    "hai lần nhập mật khẩu không khớp",
                    "the two passphrases differ",
                )
                .to_owned(),
            ));
        }
    }
    Ok(first)
}

/// Opens the store's key (asking for the passphrase). A store made before
/// encryption at rest takes a new passphrase now, asked twice, and its
/// records are encrypted.
pub fn unlock(store: &mut FieldStore, lang: Lang) -> anyhow::Result<()> {
    if store.is_unlocked() {
        return Ok(());
    }
    let first_time = !store.has_passphrase()?;
    let passphrase = read(lang, first_time)?;
    let report = store.unlock(&passphrase, Utc::now())?;
    if report.passphrase_set || report.encrypted > 0 {
        eprintln!(
            "{}",
            lang.pick(
                &format!(
                    "đã đặt mật khẩu cho kho dữ liệu; đã mã hóa {} hồ sơ cũ",
                    report.encrypted
                ),
                &format!(
                    "the store now has a passphrase; {} older records were encrypted",
                    report.encrypted
                ),
            )
        );
    }
    Ok(())
}

/// Opens the store's key only if some record waiting to be sent is not
/// sealed to central yet (sync and export need its plaintext then).
pub fn unlock_if_needed(store: &mut FieldStore, lang: Lang) -> anyhow::Result<()> {
    if store.needs_unlock_to_send()? {
        unlock(store, lang)?;
    }
    Ok(())
}
