//! Attachment files named by the records `field enroll` reads
//! (`proto/attachments-v1.md` section 12).
//!
//! An input attachment item `{"kind", "file"}` (optionally `media_type`)
//! names a file by a path relative to the input's directory. On the
//! validating thread each file is read (at most the core's largest
//! attachment), its type recognised from its first bytes, compared with a
//! `media_type` given, hashed, encrypted and sealed
//! ([`Protection::prepare_blob`]), and the item replaced by the reference
//! `{kind, media_type, sha256, size}` before the core rules run, so a record
//! is validated exactly as if the officer had typed the reference.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use doorstep_core::record::{AttachmentKind, MAX_ATTACHMENT_BYTES, MediaType};
use doorstep_core::violation::Violation;
use doorstep_core::{RecordBody, ValidationContext, validate};
use doorstep_store::field::PreparedBlob;
use doorstep_store::{Protection, StoreError};
use serde_json::{Map, Value, json};

/// Members an input attachment item naming a file may have.
const FILE_KEYS: &[&str] = &["kind", "file", "media_type"];
/// Members an input attachment item carrying its bytes may have.
const DATA_KEYS: &[&str] = &["kind", "data", "media_type"];

/// Where the bytes of attachment items come from.
#[derive(Debug, Clone, Copy)]
pub enum ItemSource<'a> {
    /// Items `{"file": "…"}`, paths relative to this directory (`field enroll`).
    Files(&'a Path),
    /// Items `{"data": "<base64>"}` (the local API, which never reads a
    /// file of the laptop's: an item naming one is refused).
    Inline,
}

impl ItemSource<'_> {
    /// The member that names the bytes.
    fn member(self) -> &'static str {
        match self {
            ItemSource::Files(_) => "file",
            ItemSource::Inline => "data",
        }
    }
}

/// The cheap test made on a line of NDJSON before it is parsed: only a
/// line that may name a file leaves the text fast path.
pub fn may_name_files(text: &str) -> bool {
    text.contains("\"file\"")
}

/// True when some item of the record's `attachments` names a file.
pub fn names_files(record: &Value) -> bool {
    file_items(record).next().is_some()
}

/// True when some item of the record's `attachments` names a file or
/// carries its bytes.
pub fn has_item_sources(record: &Value) -> bool {
    attachment_items(record).any(|(_, o)| o.contains_key("file") || o.contains_key("data"))
}

/// The attachment items naming a file, with their index in `attachments`.
fn file_items(record: &Value) -> impl Iterator<Item = (usize, &Map<String, Value>)> {
    attachment_items(record).filter(|(_, o)| o.contains_key("file"))
}

fn attachment_items(record: &Value) -> impl Iterator<Item = (usize, &Map<String, Value>)> {
    record
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, item)| item.as_object().map(|o| (i, o)))
}

/// Bytes the files a record names will take once read, as the file system
/// reports them now (files missing, or too large to be read, count 0): what
/// the enroll pipeline admits in memory before the record is validated.
pub fn file_bytes(record: &Value, base: &Path) -> u64 {
    file_items(record)
        .filter_map(|(_, item)| item.get("file")?.as_str())
        .filter_map(|file| std::fs::metadata(base.join(file)).ok())
        .map(|m| m.len())
        .filter(|len| *len <= MAX_ATTACHMENT_BYTES)
        .sum()
}

/// Why a record with files was not made ready for the store.
#[derive(Debug)]
pub enum Rejected {
    /// The record (or one of its files) breaks rules: the officer's to fix.
    Invalid(Vec<Violation>),
    /// Preparing a file's bytes failed (no randomness for the encryption):
    /// not the record's fault.
    Failed(StoreError),
}

/// A valid record and the prepared bytes of the files it named.
#[derive(Debug)]
pub struct WithFiles {
    pub body: RecordBody,
    pub blobs: Vec<PreparedBlob>,
    /// Plaintext bytes read from the files.
    pub bytes: u64,
}

/// One file item after reading: its reference members and bytes, or why not.
struct ItemRead {
    sniffed: Option<MediaType>,
    result: Result<(PreparedBlob, u64), Vec<Violation>>,
}

/// Reads the files `record` names (relative paths against `base`), replaces
/// each file item by its reference and validates the record with `ctx`.
///
/// Every file problem is listed (path `$.attachments[i].file`, or
/// `….media_type` for a type that differs from the file's), together with
/// the other rules the record breaks: an item whose file failed is
/// validated as a stand-in reference, and what the core says about that
/// stand-in is left out.
pub fn validate_with_files(
    mut record: Value,
    source: ItemSource<'_>,
    ctx: &ValidationContext<'_>,
    protection: &Protection,
) -> Result<WithFiles, Rejected> {
    let mut problems: Vec<Violation> = Vec::new();
    let mut failed: Vec<usize> = Vec::new();
    let mut blobs: Vec<PreparedBlob> = Vec::new();
    let mut bytes = 0u64;
    let Some(items) = record.get_mut("attachments").and_then(Value::as_array_mut) else {
        return plain(&record, ctx);
    };
    for (i, item) in items.iter_mut().enumerate() {
        let Some(obj) = item
            .as_object()
            .filter(|o| o.contains_key("file") || o.contains_key("data"))
        else {
            continue;
        };
        let path = format!("$.attachments[{i}]");
        let read = read_item(obj, &path, source, protection).map_err(Rejected::Failed)?;
        let given = obj.get("media_type").cloned();
        let media_type = match (&given, read.sniffed) {
            // A media type the file does not have was reported; the core
            // reports one it does not know (or not a string) as usual.
            (Some(g), _) if g.as_str().and_then(MediaType::parse).is_none() => g.clone(),
            (_, Some(sniffed)) => json!(sniffed.as_str()),
            (Some(g), None) => g.clone(),
            (None, None) => json!(stand_in_media_type(obj)),
        };
        let mut reference = Map::new();
        if let Some(kind) = obj.get("kind") {
            reference.insert("kind".to_owned(), kind.clone());
        }
        reference.insert("media_type".to_owned(), media_type);
        match read.result {
            Ok((blob, size)) => {
                reference.insert("sha256".to_owned(), json!(hex::encode(blob.sha256())));
                reference.insert("size".to_owned(), json!(size));
                bytes += size;
                blobs.push(blob);
            }
            Err(v) => {
                problems.extend(v);
                failed.push(i);
                // A well-formed stand-in, distinct per item, so the record's
                // other rules are still checked.
                reference.insert("sha256".to_owned(), json!(format!("{:064x}", i + 1)));
                reference.insert("size".to_owned(), json!(1));
            }
        }
        *item = Value::Object(reference);
    }
    let validated = validate(&record, ctx);
    if problems.is_empty() {
        return match validated {
            Ok(body) => Ok(WithFiles { body, blobs, bytes }),
            Err(v) => Err(Rejected::Invalid(v)),
        };
    }
    if let Err(others) = validated {
        problems.extend(others.into_iter().filter(|v| {
            !failed.iter().any(|i| {
                let item = format!("$.attachments[{i}]");
                v.path == item || v.path.starts_with(&format!("{item}."))
            })
        }));
    }
    Err(Rejected::Invalid(problems))
}

/// A record without file items: validated as it is.
fn plain(record: &Value, ctx: &ValidationContext<'_>) -> Result<WithFiles, Rejected> {
    validate(record, ctx)
        .map(|body| WithFiles {
            body,
            blobs: Vec::new(),
            bytes: 0,
        })
        .map_err(Rejected::Invalid)
}

/// A media type the stand-in for a failed item can carry without a
/// complaint of its own.
fn stand_in_media_type(item: &Map<String, Value>) -> &'static str {
    item.get("kind")
        .and_then(Value::as_str)
        .and_then(AttachmentKind::parse)
        .and_then(|k| k.media_types().first())
        .map_or("image/png", |m| m.as_str())
}

/// Checks one item's members, reads its file (or decodes its bytes),
/// recognises its type and prepares its bytes. `Err` only when preparing
/// fails.
fn read_item(
    item: &Map<String, Value>,
    path: &str,
    source: ItemSource<'_>,
    protection: &Protection,
) -> Result<ItemRead, StoreError> {
    let member = source.member();
    let other = if member == "file" { "data" } else { "file" };
    let refused = |problems: Vec<Violation>| {
        Ok(ItemRead {
            sniffed: None,
            result: Err(problems),
        })
    };
    if item.contains_key(other) && !item.contains_key(member) {
        let (en, vi) = match source {
            ItemSource::Files(_) => (
                "attachment bytes are given by `file` here, not `data`",
                "ở đây tệp đính kèm được chỉ bằng `file`, không phải `data`",
            ),
            ItemSource::Inline => (
                "the local API never reads a file of the laptop's: send the bytes as `data` (base64)",
                "API cục bộ không đọc tệp trên máy: hãy gửi nội dung ảnh trong `data` (base64)",
            ),
        };
        return refused(vec![Violation::new(
            format!("{path}.{other}"),
            "attachment.source",
            en,
            vi,
        )]);
    }
    let allowed = match source {
        ItemSource::Files(_) => FILE_KEYS,
        ItemSource::Inline => DATA_KEYS,
    };
    let mut problems = Vec::new();
    for key in item.keys().filter(|k| !allowed.contains(&k.as_str())) {
        problems.push(Violation::new(
            format!("{path}.{key}"),
            "field.unknown",
            format!(
                "unknown field `{key}` in an item carrying its bytes (allowed: {})",
                allowed.join(", ")
            ),
            format!(
                "trường `{key}` không hợp lệ khi đính kèm (cho phép: {})",
                allowed.join(", ")
            ),
        ));
    }
    let source_path = format!("{path}.{member}");
    let text = match item.get(member) {
        Some(Value::String(s)) => s.as_str(),
        Some(found) => {
            let (en, vi) = type_names(found);
            let (what_en, what_vi) = match source {
                ItemSource::Files(_) => ("the file's path", "đường dẫn tệp"),
                ItemSource::Inline => ("the bytes in base64", "nội dung dạng base64"),
            };
            problems.push(Violation::new(
                source_path,
                "type.string",
                format!("must be a string ({what_en}), found {en}"),
                format!("phải là chuỗi ký tự ({what_vi}), nhận được {vi}"),
            ));
            return refused(problems);
        }
        None => "",
    };
    let (bytes, file) = match source {
        ItemSource::Files(base) => {
            let resolved = base.join(text);
            match read_file(&resolved) {
                Ok(bytes) => (bytes, text.to_owned()),
                Err(problem) => {
                    problems.push(problem.violation(&source_path, text, &resolved));
                    return refused(problems);
                }
            }
        }
        ItemSource::Inline => match decode_data(text) {
            Ok(bytes) => (bytes, format!("{path}.data")),
            Err(problem) => {
                problems.push(problem.violation(&source_path));
                return refused(problems);
            }
        },
    };
    let file_path = source_path;
    let Some(sniffed) = MediaType::sniff(&bytes) else {
        problems.push(Violation::new(
            file_path,
            "attachment.file_type_unknown",
            format!(
                "`{file}` is not a JPEG, PNG, JPEG 2000, WSQ or PDF file (its first bytes are none of theirs)"
            ),
            format!(
                "tệp `{file}` không phải ảnh JPEG, PNG, JPEG 2000, WSQ hay tệp PDF (các byte đầu không khớp định dạng nào)"
            ),
        ));
        return Ok(ItemRead {
            sniffed: None,
            result: Err(problems),
        });
    };
    if let Some(given) = item
        .get("media_type")
        .and_then(Value::as_str)
        .and_then(MediaType::parse)
        .filter(|given| *given != sniffed)
    {
        problems.push(Violation::new(
            format!("{path}.media_type"),
            "attachment.media_type_mismatch",
            format!("`{file}` is {sniffed} by its content, not {given}"),
            format!("tệp `{file}` có định dạng {sniffed} theo nội dung, không phải {given}"),
        ));
    }
    if !problems.is_empty() {
        return Ok(ItemRead {
            sniffed: Some(sniffed),
            result: Err(problems),
        });
    }
    let size = bytes.len() as u64;
    let blob = protection.prepare_blob(&bytes, sniffed)?;
    Ok(ItemRead {
        sniffed: Some(sniffed),
        result: Ok((blob, size)),
    })
}

/// Why a file could not be taken.
#[derive(Debug)]
enum FileProblem {
    Unreadable(std::io::Error),
    NotAFile,
    Empty,
    TooLarge(u64),
}

impl FileProblem {
    fn violation(&self, path: &str, file: &str, resolved: &Path) -> Violation {
        let shown = resolved.display();
        match self {
            FileProblem::Unreadable(e) => {
                let (en, vi) = match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        ("no such file".to_owned(), "không có tệp này".to_owned())
                    }
                    std::io::ErrorKind::PermissionDenied => (
                        "permission denied".to_owned(),
                        "không có quyền đọc tệp".to_owned(),
                    ),
                    _ => (e.to_string(), e.to_string()),
                };
                Violation::new(
                    path,
                    "attachment.file_unreadable",
                    format!("cannot read the attachment file `{file}` ({shown}): {en}"),
                    format!("không đọc được tệp đính kèm `{file}` ({shown}): {vi}"),
                )
            }
            FileProblem::NotAFile => Violation::new(
                path,
                "attachment.file_unreadable",
                format!("cannot read the attachment file `{file}` ({shown}): not a regular file"),
                format!("không đọc được tệp đính kèm `{file}` ({shown}): đây không phải là tệp"),
            ),
            FileProblem::Empty => Violation::new(
                path,
                "attachment.size",
                format!("the attachment file `{file}` ({shown}) is empty"),
                format!("tệp đính kèm `{file}` ({shown}) rỗng"),
            ),
            FileProblem::TooLarge(n) => Violation::new(
                path,
                "attachment.size",
                format!(
                    "the attachment file `{file}` is {n} bytes: at most {MAX_ATTACHMENT_BYTES} (4 MiB)"
                ),
                format!(
                    "tệp đính kèm `{file}` có {n} byte: tối đa {MAX_ATTACHMENT_BYTES} byte (4 MiB)"
                ),
            ),
        }
    }
}

/// Why inline attachment bytes could not be taken.
#[derive(Debug)]
enum DataProblem {
    NotBase64(String),
    Empty,
    TooLarge(u64),
}

impl DataProblem {
    fn violation(&self, path: &str) -> Violation {
        match self {
            DataProblem::NotBase64(e) => Violation::new(
                path,
                "attachment.data_invalid",
                format!("the attachment's bytes are not valid base64: {e}"),
                format!("nội dung tệp đính kèm không phải base64 hợp lệ: {e}"),
            ),
            DataProblem::Empty => Violation::new(
                path,
                "attachment.size",
                "the attachment is empty",
                "tệp đính kèm rỗng",
            ),
            DataProblem::TooLarge(n) => Violation::new(
                path,
                "attachment.size",
                format!("the attachment is {n} bytes: at most {MAX_ATTACHMENT_BYTES} (4 MiB)"),
                format!("tệp đính kèm có {n} byte: tối đa {MAX_ATTACHMENT_BYTES} byte (4 MiB)"),
            ),
        }
    }
}

/// Inline bytes: standard base64 (a `data:` URL's prefix is accepted, as
/// a browser's file reader gives it); too large is refused from the
/// text's length, before decoding.
fn decode_data(text: &str) -> Result<Vec<u8>, DataProblem> {
    let b64 = match text.strip_prefix("data:") {
        Some(url) => url.split_once(',').map_or(url, |(_, data)| data),
        None => text,
    };
    let b64 = b64.trim();
    let decoded_len = (b64.len() as u64 / 4).saturating_mul(3);
    if decoded_len > MAX_ATTACHMENT_BYTES + 3 {
        return Err(DataProblem::TooLarge(decoded_len));
    }
    let bytes = data_encoding::BASE64
        .decode(b64.as_bytes())
        .map_err(|e| DataProblem::NotBase64(e.to_string()))?;
    match bytes.len() as u64 {
        0 => Err(DataProblem::Empty),
        n if n > MAX_ATTACHMENT_BYTES => Err(DataProblem::TooLarge(n)),
        _ => Ok(bytes),
    }
}

/// A file's bytes; one over the largest attachment is refused from its
/// size, before it is read, and never read past the limit.
fn read_file(path: &Path) -> Result<Vec<u8>, FileProblem> {
    let file = File::open(path).map_err(FileProblem::Unreadable)?;
    let meta = file.metadata().map_err(FileProblem::Unreadable)?;
    if !meta.is_file() {
        return Err(FileProblem::NotAFile);
    }
    if meta.len() > MAX_ATTACHMENT_BYTES {
        return Err(FileProblem::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_ATTACHMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(FileProblem::Unreadable)?;
    // The file may have changed since its size was read.
    match bytes.len() as u64 {
        0 => Err(FileProblem::Empty),
        n if n > MAX_ATTACHMENT_BYTES => Err(FileProblem::TooLarge(n)),
        _ => Ok(bytes),
    }
}

/// The directory relative attachment paths are read from: `--files-dir`,
/// else the input file's directory, else (standard input) the current
/// directory; made absolute so messages say where a file was looked for.
pub fn base_dir(files_dir: Option<&Path>, input: Option<&Path>) -> PathBuf {
    let base = match (files_dir, input) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(file)) if file.as_os_str() != "-" => file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        (None, _) => PathBuf::from("."),
    };
    if base.is_absolute() {
        return base;
    }
    match std::env::current_dir() {
        Ok(cwd) if base.as_os_str() == "." => cwd,
        Ok(cwd) => cwd.join(base),
        Err(_) => base,
    }
}

fn type_names(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", "null"),
        Value::Bool(_) => ("a boolean", "giá trị đúng/sai"),
        Value::Number(_) => ("a number", "một số"),
        Value::String(_) => ("a string", "một chuỗi"),
        Value::Array(_) => ("an array", "một danh sách"),
        Value::Object(_) => ("an object", "một đối tượng"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn only_lines_that_may_name_files_are_parsed() {
        assert!(may_name_files(
            r#"{"attachments":[{"kind":"face","file":"a.jpg"}]}"#
        ));
        assert!(!may_name_files(
            r#"{"kind":"eid_activation","note":"a file"}"#
        ));
        // A false positive only costs a parse: the tree is checked.
        assert!(may_name_files(r#"{"kind":"eid_activation","note":"file"}"#));
        assert!(!names_files(
            &json!({"kind": "eid_activation", "note": "file"})
        ));
        let with = json!({"attachments": [{"kind": "face", "media_type": "image/png",
                                           "sha256": "00", "size": 1},
                                          {"kind": "face", "file": "a.jpg"}]});
        assert!(names_files(&with));
        let without = json!({"attachments": [{"kind": "face", "sha256": "00"}], "file": "x"});
        assert!(!names_files(&without));
        assert!(!names_files(&json!({"attachments": "file"})));
    }

    #[test]
    fn files_are_read_whole_and_refused_when_empty_or_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.jpg");
        std::fs::write(&small, b"\xff\xd8\xff\xe0rest").unwrap();
        assert_eq!(read_file(&small).unwrap(), b"\xff\xd8\xff\xe0rest");
        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(read_file(&empty), Err(FileProblem::Empty)));
        let big = dir.path().join("big.jpg");
        let f = File::create(&big).unwrap();
        f.set_len(MAX_ATTACHMENT_BYTES + 1).unwrap();
        assert!(matches!(
            read_file(&big),
            Err(FileProblem::TooLarge(n)) if n == MAX_ATTACHMENT_BYTES + 1
        ));
        let exact = dir.path().join("exact.jpg");
        File::create(&exact)
            .unwrap()
            .set_len(MAX_ATTACHMENT_BYTES)
            .unwrap();
        assert_eq!(
            read_file(&exact).unwrap().len() as u64,
            MAX_ATTACHMENT_BYTES
        );
        assert!(matches!(
            read_file(&dir.path().join("missing.jpg")),
            Err(FileProblem::Unreadable(e)) if e.kind() == std::io::ErrorKind::NotFound
        ));
        assert!(matches!(read_file(dir.path()), Err(FileProblem::NotAFile)));
        // What the pipeline admits: sizes of the files that will be read.
        let record = json!({"attachments": [
            {"kind": "face", "file": "small.jpg"}, {"kind": "document", "file": "big.jpg"},
            {"kind": "document", "file": "missing.jpg"}, {"kind": "document", "file": 7}]});
        assert_eq!(file_bytes(&record, dir.path()), 8);
    }

    /// A store to prepare blobs with, and its units.
    fn store(dir: &Path) -> doorstep_store::FieldStore {
        doorstep_store::FieldStore::init(
            dir,
            &doorstep_store::InitOptions {
                device_name: "Tổ 3".into(),
                unit_code: "74".into(),
                units_csv: None,
                passphrase: "mật khẩu thử nghiệm".into(),
                kdf: doorstep_crypto::KdfParams {
                    m_kib: 64,
                    t: 1,
                    p: 1,
                },
            },
            chrono::Utc::now(),
        )
        .unwrap()
    }

    fn record(attachments: Value) -> Value {
        json!({
            "kind": "id_card_application",
            "citizen": {"personal_id": "074303001234", "full_name": "Nguyễn Thị Lan",
                        "date_of_birth": "2003-05-14", "sex": "female",
                        "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
            "visit": {"place": "home", "unit_code": "74", "at": "2023-09-25T09:30:00+07:00"},
            "officer_id": "CA-74-0012",
            "attachments": attachments,
        })
    }

    /// (path, code) of each violation.
    type Codes = Vec<(String, &'static str)>;

    /// (path, code) of each violation, or the attachments' media types and
    /// the number of blobs of a valid record.
    fn run(
        dir: &Path,
        record: Value,
        policy: doorstep_core::record::BiometricPolicy,
    ) -> Result<(Vec<String>, usize), Codes> {
        let at = dir.join("store");
        let mut store = if at.exists() {
            let mut s = doorstep_store::FieldStore::open(&at).unwrap();
            s.unlock("mật khẩu thử nghiệm", chrono::Utc::now()).unwrap();
            s
        } else {
            store(&at)
        };
        store.set_biometrics(policy).unwrap();
        let ctx = ValidationContext::new(store.units(), chrono::Utc::now())
            .with_biometrics(store.biometrics());
        let protection = store.protection("test").unwrap();
        match validate_with_files(record, ItemSource::Files(dir), &ctx, &protection) {
            Ok(with) => Ok((
                with.body
                    .attachments
                    .iter()
                    .map(|a| a.media_type.as_str().to_owned())
                    .collect(),
                with.blobs.len(),
            )),
            Err(Rejected::Invalid(v)) => Err(v.into_iter().map(|v| (v.path, v.code)).collect()),
            Err(Rejected::Failed(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn inline_bytes_are_taken_and_files_refused_through_the_api() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir.path().join("store"));
        let ctx = ValidationContext::new(store.units(), chrono::Utc::now());
        let protection = store.protection("test").unwrap();
        let check = |attachments: Value| match validate_with_files(
            record(attachments),
            ItemSource::Inline,
            &ctx,
            &protection,
        ) {
            Ok(with) => Ok((with.body.attachments[0].size, with.blobs.len())),
            Err(Rejected::Invalid(v)) => {
                Err(v.into_iter().map(|v| (v.path, v.code)).collect::<Codes>())
            }
            Err(Rejected::Failed(e)) => panic!("{e}"),
        };
        let b64 = data_encoding::BASE64.encode(JPEG);
        assert_eq!(
            check(json!([{"kind": "face", "data": b64}])),
            Ok((JPEG.len() as u64, 1))
        );
        // As a browser's file reader gives it.
        let url = format!("data:image/jpeg;base64,{b64}");
        assert_eq!(
            check(json!([{"kind": "face", "data": url}])),
            Ok((JPEG.len() as u64, 1))
        );
        let path = || "$.attachments[0].data".to_owned();
        assert_eq!(
            check(json!([{"kind": "face", "data": "not base64!"}])),
            Err(vec![(path(), "attachment.data_invalid")])
        );
        assert_eq!(
            check(json!([{"kind": "face", "data": ""}])),
            Err(vec![(path(), "attachment.size")])
        );
        assert_eq!(
            check(json!([{"kind": "face", "data": data_encoding::BASE64.encode(b"plain text")}])),
            Err(vec![(path(), "attachment.file_type_unknown")])
        );
        // The local API never reads the laptop's files.
        assert_eq!(
            check(json!([{"kind": "face", "file": "/etc/passwd"}])),
            Err(vec![(
                "$.attachments[0].file".to_owned(),
                "attachment.source"
            )])
        );
    }

    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF face photo";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n a png image";
    const WSQ: &[u8] = b"\xff\xa0\xff\xa8 a fingerprint";

    #[test]
    fn file_items_become_references_before_validation() {
        use doorstep_core::record::{BiometricPolicy, Finger};
        use sha2::{Digest, Sha256};

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir(dir.join("att")).unwrap();
        std::fs::write(dir.join("att/face.jpg"), JPEG).unwrap();
        std::fs::write(dir.join("att/face-really.png.jpg"), PNG).unwrap();
        std::fs::write(dir.join("att/ri.wsq"), WSQ).unwrap();
        std::fs::write(dir.join("att/noise.bin"), b"not an image").unwrap();
        let policy = BiometricPolicy::new(true, &[Finger::RightIndex]);

        // Files read, typed from their bytes; a reference item passes as is.
        let ri = hex::encode(Sha256::digest(WSQ));
        let ok = run(
            dir,
            record(json!([
                {"kind": "face", "file": "att/face.jpg"},
                {"kind": "fingerprint_right_index", "media_type": "image/x-wsq",
                 "sha256": ri, "size": WSQ.len()},
                {"kind": "document", "file": "att/face-really.png.jpg", "media_type": "image/png"},
            ])),
            policy,
        );
        assert_eq!(
            ok,
            Ok((
                vec![
                    "image/png".into(),
                    "image/jpeg".into(),
                    "image/x-wsq".into()
                ],
                2
            ))
        );

        // The policy's finger is missing: the core's requirement rule.
        assert_eq!(
            run(
                dir,
                record(json!([{"kind": "face", "file": "att/face.jpg"}])),
                policy
            ),
            Err(vec![(
                "$.attachments".into(),
                "attachment.fingerprint_required"
            )])
        );

        // Every file problem at once, with the record's other rules, and
        // nothing said about the stand-ins.
        let mut bad = record(json!([
            {"kind": "face", "file": "att/missing.jpg"},
            {"kind": "fingerprint_right_index", "file": "att/noise.bin"},
            {"kind": "document", "file": "att/face-really.png.jpg", "media_type": "image/jpeg"},
            {"kind": "document", "file": "att/ri.wsq", "sha256": "00"},
            {"kind": "document", "file": "att"},
        ]));
        bad["citizen"]["personal_id"] = json!("074304001234");
        let got = run(dir, bad, policy).unwrap_err();
        assert_eq!(
            got,
            vec![
                ("$.attachments[0].file".into(), "attachment.file_unreadable"),
                (
                    "$.attachments[1].file".into(),
                    "attachment.file_type_unknown"
                ),
                (
                    "$.attachments[2].media_type".into(),
                    "attachment.media_type_mismatch"
                ),
                ("$.attachments[3].sha256".into(), "field.unknown"),
                ("$.attachments[4].file".into(), "attachment.file_unreadable"),
                ("$.citizen.personal_id".into(), "personal_id.year_mismatch"),
            ]
        );

        // A media type the core does not know is the core's to report.
        let got = run(
            dir,
            record(json!([{"kind": "face", "file": "att/face.jpg", "media_type": "image/gif"}])),
            BiometricPolicy::NONE,
        )
        .unwrap_err();
        assert_eq!(
            got,
            vec![("$.attachments[0].media_type".into(), "value.not_allowed")]
        );
    }

    #[test]
    fn relative_paths_start_from_the_input_or_the_flag() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(base_dir(None, None), cwd);
        assert_eq!(base_dir(None, Some(Path::new("-"))), cwd);
        assert_eq!(base_dir(None, Some(Path::new("records.ndjson"))), cwd);
        assert_eq!(
            base_dir(None, Some(Path::new("in/records.ndjson"))),
            cwd.join("in")
        );
        assert_eq!(
            base_dir(None, Some(Path::new("/data/in/records.ndjson"))),
            Path::new("/data/in")
        );
        assert_eq!(
            base_dir(Some(Path::new("/media")), Some(Path::new("/data/r.ndjson"))),
            Path::new("/media")
        );
        assert_eq!(base_dir(Some(Path::new("m")), None), cwd.join("m"));
    }
}
