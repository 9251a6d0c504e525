//! Vietnamese wording of the errors an officer is most likely to meet.
//! English comes from the error types themselves.

use doorstep_central::tls::{TlsError, TlsFile};
use doorstep_store::StoreError;
use doorstep_sync::{ClientSetupError, SendError};

use crate::lang::Lang;

/// The Vietnamese message for a store error, when there is one.
pub fn store_error_vi(err: &StoreError) -> Option<String> {
    Some(match err {
        StoreError::NotInitialized { path } => format!(
            "chưa có kho dữ liệu Doorstep trong {}: hãy chạy `doorstep field init` trước",
            path.display()
        ),
        StoreError::AlreadyInitialized { path } => format!(
            "đã có kho dữ liệu Doorstep tại {}; kho cũ được giữ nguyên",
            path.display()
        ),
        StoreError::Corrupt { path, source } => damaged(path, &source.to_string()),
        StoreError::Damaged { path, problems } => damaged(path, problems),
        StoreError::TooNew {
            path,
            found,
            supported,
        } => format!(
            "kho dữ liệu {} có phiên bản lược đồ {found}, mới hơn phiên bản doorstep này hỗ trợ ({supported}): \
             hãy nâng cấp doorstep; kho dữ liệu không bị thay đổi",
            path.display()
        ),
        StoreError::Busy { path, .. } => format!(
            "kho dữ liệu {} đang bị một tiến trình doorstep khác sử dụng quá lâu; hãy thử lại",
            path.display()
        ),
        StoreError::UnknownDeviceUnit { code } => {
            format!("đơn vị `{code}` của thiết bị không có trong danh mục đơn vị hành chính")
        }
        StoreError::Units(e) => format!("danh mục đơn vị hành chính không hợp lệ: {e}"),
        StoreError::Locked { path, what } => format!(
            "kho dữ liệu {} đang khóa: cần mật khẩu của cán bộ để {} (nhập khi được hỏi, hoặc đặt DOORSTEP_PASSPHRASE cho tập lệnh) [{what}]",
            path.display(),
            locked_vi(what)
        ),
        StoreError::WrongPassphrase { path } => format!(
            "mật khẩu không đúng cho kho dữ liệu {}: không có gì được đọc hay thay đổi",
            path.display()
        ),
        StoreError::Passphrase(doorstep_crypto::CryptoError::WeakPassphrase { min }) => {
            format!("mật khẩu quá ngắn: cần ít nhất {min} ký tự")
        }
        StoreError::WorklistUndecryptable { person_id, .. } => format!(
            "mục {person_id} của danh sách cần tiếp cận trong kho không giải mã được: hãy chạy `doorstep field check` và đồng bộ lại để tải lại danh sách"
        ),
        StoreError::WorklistPage(detail) => format!(
            "trang danh sách cần tiếp cận từ máy chủ không được áp dụng ({detail}); không có gì bị thay đổi, lần đồng bộ sau sẽ tải lại"
        ),
        _ => return None,
    })
}

/// What a locked store was asked to do, in Vietnamese.
fn locked_vi(what: &str) -> &'static str {
    match what {
        "enrolling" => "nhập hồ sơ",
        "listing records" => "xem danh sách hồ sơ",
        "sending records not yet sealed to central" => {
            "gửi hồ sơ chưa được niêm phong cho trung tâm"
        }
        "changing the passphrase" => "đổi mật khẩu",
        "saving the worklist" => "lưu danh sách cần tiếp cận",
        "reading the worklist" => "xem danh sách cần tiếp cận",
        _ => "thao tác này",
    }
}

fn damaged(path: &std::path::Path, detail: &str) -> String {
    let p = path.display();
    format!(
        "kho dữ liệu {p} bị hỏng ({detail}). Tệp KHÔNG bị thay đổi hay xóa vì có thể còn hồ sơ chưa đồng bộ. \
         Hãy sao lưu (cp {p} {p}.bak), rồi khôi phục bằng `sqlite3 {p} .recover | sqlite3 recovered.sqlite3` \
         và liên hệ bộ phận hỗ trợ; trong lúc đó hãy nhập hồ sơ mới vào một thư mục dữ liệu khác \
         [damaged store: file left unchanged]"
    )
}

/// The one-line message for a server whose TLS certificate was refused.
pub fn untrusted(server: &str, detail: &str, lang: Lang) -> String {
    match lang {
        Lang::Vi => format!(
            "chứng chỉ TLS của máy chủ {server} không được tin cậy ({detail}): hãy chỉ định \
             chứng chỉ CA đã ký nó bằng --ca-cert (hoặc DOORSTEP_CA_CERT)"
        ),
        Lang::En => format!(
            "the certificate of {server} is not trusted ({detail}): give the CA certificate \
             that signed it with --ca-cert (or DOORSTEP_CA_CERT)"
        ),
    }
}

/// A refused server certificate anywhere in an error's chain.
pub fn find_untrusted(err: &anyhow::Error) -> Option<(&str, &str)> {
    err.chain().find_map(|c| {
        let send = c
            .downcast_ref::<SendError>()
            .or_else(|| c.downcast_ref::<Box<SendError>>().map(AsRef::as_ref))?;
        match send {
            SendError::Untrusted { server, detail } => Some((server.as_str(), detail.as_str())),
            _ => None,
        }
    })
}

/// A CA certificate file that cannot be used (`--ca-cert`).
pub fn client_setup(err: &ClientSetupError, lang: Lang) -> String {
    let text = match (lang, err) {
        (Lang::Vi, ClientSetupError::ReadCa { path, source }) => {
            format!("không đọc được chứng chỉ CA {}: {source}", path.display())
        }
        (Lang::Vi, ClientSetupError::BadCa { path, detail }) => {
            format!(
                "chứng chỉ CA {} không phải PEM hợp lệ: {detail}",
                path.display()
            )
        }
        (Lang::Vi, ClientSetupError::NoCa { path }) => format!(
            "{} không chứa chứng chỉ PEM nào (\"-----BEGIN CERTIFICATE-----\")",
            path.display()
        ),
        (Lang::Vi, ClientSetupError::UnusableCa { path, source }) => {
            format!("không dùng được chứng chỉ CA {}: {source}", path.display())
        }
        (_, other) => other.to_string(),
    };
    format!("--ca-cert: {text}")
}

/// A certificate or key a server cannot use, starting with the flag that
/// named the file (`--tls-cert`, `--tls-key`).
pub fn server_tls(err: &TlsError, lang: Lang) -> String {
    let flag = match err.file() {
        Some(TlsFile::Certificate) => "--tls-cert",
        Some(TlsFile::PrivateKey) => "--tls-key",
        None => "--tls-cert/--tls-key",
    };
    let text = match (lang, err) {
        (Lang::En, e) => e.to_string(),
        (Lang::Vi, TlsError::Read { file, path, source }) => format!(
            "không đọc được {} {}: {source}",
            vi_file(*file),
            path.display()
        ),
        (Lang::Vi, TlsError::NoCertificate { path }) => format!(
            "{} không chứa chứng chỉ PEM nào (\"-----BEGIN CERTIFICATE-----\")",
            path.display()
        ),
        (Lang::Vi, TlsError::NoKey { path }) => format!(
            "{} không chứa khóa riêng PEM nào (\"-----BEGIN PRIVATE KEY-----\")",
            path.display()
        ),
        (Lang::Vi, TlsError::BadPem { file, path, detail }) => format!(
            "{} {} không phải PEM hợp lệ: {detail}",
            vi_file(*file),
            path.display()
        ),
        (Lang::Vi, TlsError::Rejected { cert, key, detail }) => format!(
            "không dùng được chứng chỉ {} với khóa {}: {detail}",
            cert.display(),
            key.display()
        ),
    };
    format!("{flag}: {text}")
}

fn vi_file(file: TlsFile) -> &'static str {
    match file {
        TlsFile::Certificate => "chứng chỉ",
        TlsFile::PrivateKey => "khóa riêng",
    }
}
