//! Vietnamese wording of the errors an officer is most likely to meet.
//! English comes from the error types themselves.

use doorstep_store::StoreError;

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
        _ => return None,
    })
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
