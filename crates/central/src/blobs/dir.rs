//! Blob bytes in a directory (attachments-v1 section 11, embedded):
//!
//! - complete objects at `<root>/blobs/ab/cd/<name>`, each written to a
//!   temporary file in its directory, fsynced, renamed, and the directory
//!   fsynced: a name is there whole or not at all;
//! - partial uploads at `<root>/uploads/<sha256>.<sealed_sha256>`: a
//!   16-byte header (magic, then the declared length as a big-endian
//!   `u64`) and the bytes received. The offset is the file's length less
//!   the header; `updated_at` is the file's modification time, set to the
//!   `now` of the last append. The first chunk is written like an object
//!   (temporary file, rename); later chunks are appended and fsynced before
//!   the new offset is reported, and a failed append is cut back to the old
//!   offset.
//!
//! Temporary files (`.<name>.<pid>.<n>.tmp`) left by a crash are never
//! read or listed; `expire_uploads` sweeps those in `uploads/`.
//!
//! The file I/O is blocking and runs on tokio's blocking threads. One lock
//! serialises the upload operations of a [`DirBlobs`] (so the open-upload
//! count and each upload's offset are checked and moved together); it is
//! held by the blocking task itself, so a caller that gives up waiting
//! cannot let a second append in while the first is still writing. One
//! process per root: two [`DirBlobs`] on the same root do not share it.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use super::{
    BlobBytes, BlobError, MAX_SEALED_LEN, PartialUpload, UploadKey, check_append, check_name,
    is_name, to_micros,
};

/// First bytes of a partial upload file.
const MAGIC: &[u8; 8] = b"dsupld1\n";
/// Magic and the declared length.
const HEADER: u64 = 16;

/// Blob bytes in a directory.
#[derive(Debug)]
pub struct DirBlobs {
    paths: Arc<Paths>,
    /// Serialises upload operations (see the module documentation).
    uploads_lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct Paths {
    blobs: PathBuf,
    uploads: PathBuf,
}

impl DirBlobs {
    /// Opens the blob storage under `root`, creating `blobs/` and
    /// `uploads/` (mode 0700 on unix) if needed.
    pub fn open(root: &Path) -> Result<DirBlobs, BlobError> {
        let paths = Paths {
            blobs: root.join("blobs"),
            uploads: root.join("uploads"),
        };
        create_private_dir(&paths.blobs)?;
        create_private_dir(&paths.uploads)?;
        Ok(DirBlobs {
            paths: Arc::new(paths),
            uploads_lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Runs `op` on a blocking thread holding the upload lock.
    async fn with_uploads<T, F>(&self, op: F) -> Result<T, BlobError>
    where
        T: Send + 'static,
        F: FnOnce(&Paths) -> Result<T, BlobError> + Send + 'static,
    {
        let guard = Arc::clone(&self.uploads_lock).lock_owned().await;
        let paths = Arc::clone(&self.paths);
        blocking(move || {
            let _held = guard;
            op(&paths)
        })
        .await
    }

    /// Runs `op` on a blocking thread (complete objects need no lock: they
    /// appear by rename).
    async fn with_paths<T, F>(&self, op: F) -> Result<T, BlobError>
    where
        T: Send + 'static,
        F: FnOnce(&Paths) -> Result<T, BlobError> + Send + 'static,
    {
        let paths = Arc::clone(&self.paths);
        blocking(move || op(&paths)).await
    }
}

#[async_trait::async_trait]
impl BlobBytes for DirBlobs {
    async fn upload(&self, key: &UploadKey) -> Result<Option<PartialUpload>, BlobError> {
        key.check()?;
        let key = key.clone();
        self.with_uploads(move |paths| {
            Ok(
                open_upload(&paths.upload(&key), false)?.map(|open| PartialUpload {
                    offset: open.offset,
                    length: open.length,
                    updated_at: DateTime::<Utc>::from(open.modified),
                }),
            )
        })
        .await
    }

    async fn append(
        &self,
        key: &UploadKey,
        length: u64,
        offset: u64,
        chunk: &[u8],
        now: DateTime<Utc>,
    ) -> Result<u64, BlobError> {
        if length > MAX_SEALED_LEN {
            return Err(BlobError::TooLarge);
        }
        key.check()?;
        let key = key.clone();
        let chunk = chunk.to_vec();
        let mtime = SystemTime::from(to_micros(now));
        self.with_uploads(move |paths| {
            let path = paths.upload(&key);
            let open = open_upload(&path, true)?;
            let end = check_append(
                open.as_ref().map(|o| (o.length, o.offset)),
                length,
                offset,
                chunk.len(),
                || paths.count_uploads(),
            )?;
            match open {
                Some(open) => append_to(open.file, &path, open.offset, &chunk, mtime)?,
                None => {
                    let mut header = [0u8; HEADER as usize];
                    header[..8].copy_from_slice(MAGIC);
                    header[8..].copy_from_slice(&length.to_be_bytes());
                    write_atomically(&paths.uploads, &path, &[&header, &chunk], Some(mtime))?;
                }
            }
            Ok(end)
        })
        .await
    }

    async fn read_upload(&self, key: &UploadKey) -> Result<Vec<u8>, BlobError> {
        key.check()?;
        let key = key.clone();
        self.with_uploads(move |paths| {
            let path = paths.upload(&key);
            let Some(mut open) = open_upload(&path, false)? else {
                return Err(BlobError::NoUpload);
            };
            let mut bytes = Vec::with_capacity(usize::try_from(open.offset).unwrap_or(0));
            open.file
                .read_to_end(&mut bytes)
                .map_err(io_error("reading", &path))?;
            Ok(bytes)
        })
        .await
    }

    async fn discard_upload(&self, key: &UploadKey) -> Result<(), BlobError> {
        key.check()?;
        let key = key.clone();
        self.with_uploads(move |paths| remove(&paths.uploads, &paths.upload(&key)))
            .await
    }

    async fn expire_uploads(&self, before: DateTime<Utc>) -> Result<u64, BlobError> {
        let before = to_micros(before);
        self.with_uploads(move |paths| paths.expire(before)).await
    }

    async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), BlobError> {
        if !u64::try_from(bytes.len()).is_ok_and(|n| n <= MAX_SEALED_LEN) {
            return Err(BlobError::TooLarge);
        }
        let (path, dir) = self.paths.blob(name)?;
        let bytes = bytes.to_vec();
        self.with_paths(move |paths| {
            match fs::metadata(&path) {
                // Held (a file appears only whole): nothing to do.
                Ok(meta) if meta.is_file() && u64::try_from(bytes.len()) == Ok(meta.len()) => {
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("reading", &path)(e)),
            }
            if let Some(parent) = dir.parent() {
                ensure_dir(&paths.blobs, parent)?;
            }
            ensure_dir(&paths.blobs, &dir)?;
            write_atomically(&dir, &path, &[&bytes], None)
        })
        .await
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let (path, _) = self.paths.blob(name)?;
        self.with_paths(move |_| match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading", &path)(e)),
        })
        .await
    }

    async fn size(&self, name: &str) -> Result<Option<u64>, BlobError> {
        let (path, _) = self.paths.blob(name)?;
        self.with_paths(move |_| match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading", &path)(e)),
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), BlobError> {
        let (path, dir) = self.paths.blob(name)?;
        self.with_paths(move |_| remove(&dir, &path)).await
    }

    async fn names(&self) -> Result<Vec<String>, BlobError> {
        self.with_paths(|paths| paths.names()).await
    }
}

impl Paths {
    fn upload(&self, key: &UploadKey) -> PathBuf {
        self.uploads
            .join(format!("{}.{}", key.sha256, key.sealed_sha256))
    }

    /// The file of object `name` and its directory.
    fn blob(&self, name: &str) -> Result<(PathBuf, PathBuf), BlobError> {
        check_name(name)?;
        match (name.get(0..2), name.get(2..4)) {
            (Some(a), Some(b)) => {
                let dir = self.blobs.join(a).join(b);
                Ok((dir.join(name), dir))
            }
            _ => Err(BlobError::BadName(name.to_owned())),
        }
    }

    /// Partial uploads open (temporary and stray files not counted).
    fn count_uploads(&self) -> Result<usize, BlobError> {
        let mut n = 0;
        for entry in read_dir(&self.uploads)? {
            if entry.file_name().to_str().is_some_and(is_upload_name) {
                n += 1;
            }
        }
        Ok(n)
    }

    fn expire(&self, before: DateTime<Utc>) -> Result<u64, BlobError> {
        let mut expired = 0;
        let mut removed = false;
        for entry in read_dir(&self.uploads)? {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let upload = is_upload_name(name);
            if !upload && !is_temp_name(name) {
                continue;
            }
            let path = entry.path();
            let modified = match entry.metadata().and_then(|m| m.modified()) {
                Ok(t) => DateTime::<Utc>::from(t),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("reading", &path)(e)),
            };
            if modified < before {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error("removing", &path)(e)),
                }
                removed = true;
                if upload {
                    expired += 1;
                }
            }
        }
        if removed {
            sync_dir(&self.uploads)?;
        }
        Ok(expired)
    }

    fn names(&self) -> Result<Vec<String>, BlobError> {
        let mut names = Vec::new();
        for a in subdirs(&self.blobs)? {
            for b in subdirs(&a.1)? {
                let prefix = format!("{}{}", a.0, b.0);
                for entry in read_dir(&b.1)? {
                    let file_name = entry.file_name();
                    let Some(name) = file_name.to_str() else {
                        continue;
                    };
                    if is_name(name)
                        && name.starts_with(&prefix)
                        && entry.file_type().is_ok_and(|t| t.is_file())
                    {
                        names.push(name.to_owned());
                    }
                }
            }
        }
        names.sort_unstable();
        Ok(names)
    }
}

/// An open partial upload file, its header read (the file is positioned
/// at the first byte of the upload).
struct OpenUpload {
    file: File,
    length: u64,
    offset: u64,
    modified: SystemTime,
}

fn open_upload(path: &Path, write: bool) -> Result<Option<OpenUpload>, BlobError> {
    let mut file = match OpenOptions::new().read(true).write(write).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("opening", path)(e)),
    };
    let meta = file.metadata().map_err(io_error("reading", path))?;
    let modified = meta.modified().map_err(io_error("reading", path))?;
    let mut magic = [0u8; 8];
    let mut length = [0u8; 8];
    let bad = || BlobError::Inconsistent(format!("{} is not a partial upload", path.display()));
    match file
        .read_exact(&mut magic)
        .and_then(|()| file.read_exact(&mut length))
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(bad()),
        Err(e) => return Err(io_error("reading", path)(e)),
    }
    let length = u64::from_be_bytes(length);
    let offset = meta.len().saturating_sub(HEADER);
    if &magic != MAGIC || offset > length {
        return Err(bad());
    }
    Ok(Some(OpenUpload {
        file,
        length,
        offset,
        modified,
    }))
}

/// Appends `chunk` at `old` (the upload's offset) and makes it durable; on
/// failure the file is cut back to `old` (or, failing that, removed): never
/// half a chunk.
fn append_to(
    mut file: File,
    path: &Path,
    old: u64,
    chunk: &[u8],
    mtime: SystemTime,
) -> Result<(), BlobError> {
    let at = HEADER + old;
    let mut write = || -> io::Result<()> {
        file.seek(SeekFrom::Start(at))?;
        file.write_all(chunk)?;
        file.set_modified(mtime)?;
        file.sync_all()
    };
    if let Err(source) = write() {
        if file.set_len(at).and_then(|()| file.sync_all()).is_err() {
            // The offset cannot be trusted: forget the upload (the sender
            // starts again from 0).
            let _ = fs::remove_file(path);
        }
        return Err(BlobError::Io {
            what: format!("appending to {}", path.display()),
            source,
        });
    }
    Ok(())
}

/// Writes `parts` to `target` in `dir` whole or not at all: a temporary
/// file, fsync, rename, fsync of the directory.
fn write_atomically(
    dir: &Path,
    target: &Path,
    parts: &[&[u8]],
    mtime: Option<SystemTime>,
) -> Result<(), BlobError> {
    let stem = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("blob");
    let (temp, file) = create_temp(dir, stem)?;
    let write = move |mut file: File| -> io::Result<()> {
        for part in parts {
            file.write_all(part)?;
        }
        if let Some(t) = mtime {
            file.set_modified(t)?;
        }
        file.sync_all()
    };
    let done = write(file)
        .and_then(|()| fs::rename(&temp, target))
        .and_then(|()| sync_dir_io(dir));
    if let Err(source) = done {
        let _ = fs::remove_file(&temp);
        return Err(BlobError::Io {
            what: format!("writing {}", target.display()),
            source,
        });
    }
    Ok(())
}

/// A new temporary file in `dir` (`.<stem>.<pid>.<n>.tmp`, mode 0600).
fn create_temp(dir: &Path, stem: &str) -> Result<(PathBuf, File), BlobError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{stem}.{}.{n}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            // A leftover of an earlier process with the same id.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_error("creating", &path)(e)),
        }
    }
    Err(BlobError::Io {
        what: format!("creating a temporary file in {}", dir.display()),
        source: last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    })
}

/// Removes `path` (absent is fine) and makes that durable.
fn remove(dir: &Path, path: &Path) -> Result<(), BlobError> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("removing", path)(e)),
    }
}

fn is_upload_name(name: &str) -> bool {
    name.split_once('.')
        .is_some_and(|(a, b)| is_name(a) && is_name(b))
}

fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, BlobError> {
    fs::read_dir(dir)
        .and_then(Iterator::collect)
        .map_err(io_error("listing", dir))
}

/// The two-hex-digit subdirectories of `dir`: (digits, path).
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, BlobError> {
    let mut out = Vec::new();
    for entry in read_dir(dir)? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 2
            && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            out.push((name.to_owned(), entry.path()));
        }
    }
    Ok(out)
}

fn create_private_dir(dir: &Path) -> Result<(), BlobError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(io_error("creating", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error("setting the permissions of", dir))?;
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(io_error("creating", dir))?;
    Ok(())
}

/// Creates `dir` (one level, under `root`) if missing, durably.
fn ensure_dir(root: &Path, dir: &Path) -> Result<(), BlobError> {
    let mut builder = DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Ok(()) => sync_dir(dir.parent().unwrap_or(root)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error("creating", dir)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    sync_dir_io(dir).map_err(io_error("syncing", dir))
}

/// fsync of a directory, so a rename or removal in it survives a crash
/// (unix; elsewhere a no-op).
fn sync_dir_io(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn io_error(what: &str, path: &Path) -> impl FnOnce(io::Error) -> BlobError {
    let what = format!("{what} {}", path.display());
    move |source| BlobError::Io { what, source }
}

/// Runs blocking file I/O off the async threads.
async fn blocking<T, F>(op: F) -> Result<T, BlobError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
{
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| BlobError::Io {
            what: "a blob storage task".into(),
            source: io::Error::other(e),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn hex64(seed: u8) -> String {
        format!("{seed:02x}").repeat(32)
    }

    fn key(seed: u8) -> UploadKey {
        UploadKey::new(&hex64(seed), &hex64(seed.wrapping_add(1))).unwrap()
    }

    /// Bytes that differ from chunk to chunk.
    fn object(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn upload_file(root: &Path, key: &UploadKey) -> PathBuf {
        root.join("uploads")
            .join(format!("{}.{}", key.sha256, key.sealed_sha256))
    }

    /// Every file under `dir`, with its bytes.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push((e.path(), fs::read(e.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn appends_in_chunks_and_resumes_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(1);
        let bytes = object(3 * super::super::MAX_CHUNK + 1000);
        let length = bytes.len() as u64;
        let mut chunks = bytes.chunks(super::super::MAX_CHUNK);
        {
            let store = DirBlobs::open(dir.path()).unwrap();
            assert_eq!(store.upload(&k).await.unwrap(), None);
            let mut offset = 0;
            for c in chunks.by_ref().take(2) {
                let now = t("2026-11-22T03:00:00.123456789Z");
                offset = store.append(&k, length, offset, c, now).await.unwrap();
            }
            assert_eq!(offset, 2 * super::super::MAX_CHUNK as u64);
        }
        let store = DirBlobs::open(dir.path()).unwrap();
        let up = store.upload(&k).await.unwrap().unwrap();
        assert_eq!(up.length, length);
        assert_eq!(up.offset, 2 * super::super::MAX_CHUNK as u64);
        assert_eq!(up.updated_at, t("2026-11-22T03:00:00.123456Z"));
        let mut offset = up.offset;
        for c in chunks {
            offset = store
                .append(&k, length, offset, c, t("2026-11-22T04:00:00Z"))
                .await
                .unwrap();
        }
        assert_eq!(offset, length);
        assert_eq!(store.read_upload(&k).await.unwrap(), bytes);
        let up = store.upload(&k).await.unwrap().unwrap();
        assert_eq!(
            (up.offset, up.updated_at),
            (length, t("2026-11-22T04:00:00Z"))
        );
        store.discard_upload(&k).await.unwrap();
        store.discard_upload(&k).await.unwrap();
        assert_eq!(store.upload(&k).await.unwrap(), None);
        assert!(matches!(
            store.read_upload(&k).await,
            Err(BlobError::NoUpload)
        ));
        assert!(!upload_file(dir.path(), &k).exists());
    }

    #[tokio::test]
    async fn refusals_store_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirBlobs::open(dir.path()).unwrap();
        let now = t("2026-11-22T03:00:00Z");
        let k = key(2);
        // Nothing open: only offset 0 is accepted, and no file appears.
        let absent = [
            store.append(&k, 10, 3, b"abc", now).await,
            store.append(&k, 2, 0, b"abc", now).await,
            store.append(&k, MAX_SEALED_LEN + 1, 0, b"abc", now).await,
        ];
        assert!(matches!(
            absent[0],
            Err(BlobError::OffsetMismatch { expected: 0 })
        ));
        assert!(matches!(absent[1], Err(BlobError::BeyondLength)));
        assert!(matches!(absent[2], Err(BlobError::TooLarge)));
        assert!(snapshot(dir.path()).is_empty());

        assert_eq!(store.append(&k, 10, 0, b"abcd", now).await.unwrap(), 4);
        let before = snapshot(dir.path());
        let later = t("2026-11-23T03:00:00Z");
        let refused = [
            store.append(&k, 11, 4, b"ef", later).await,
            store.append(&k, 10, 2, b"ef", later).await,
            store.append(&k, 10, 6, b"ef", later).await,
            store.append(&k, 10, 4, b"efghijk", later).await,
            store.append(&k, MAX_SEALED_LEN + 1, 4, b"ef", later).await,
        ];
        assert!(matches!(
            refused[0],
            Err(BlobError::LengthMismatch { length: 10 })
        ));
        assert!(matches!(
            refused[1],
            Err(BlobError::OffsetMismatch { expected: 4 })
        ));
        assert!(matches!(
            refused[2],
            Err(BlobError::OffsetMismatch { expected: 4 })
        ));
        assert!(matches!(refused[3], Err(BlobError::BeyondLength)));
        assert!(matches!(refused[4], Err(BlobError::TooLarge)));
        assert!(
            refused
                .iter()
                .all(|r| r.as_ref().is_err_and(BlobError::is_user_error))
        );
        assert_eq!(snapshot(dir.path()), before);
        let up = store.upload(&k).await.unwrap().unwrap();
        assert_eq!((up.offset, up.length, up.updated_at), (4, 10, now));
        assert_eq!(store.read_upload(&k).await.unwrap(), b"abcd");
    }

    #[tokio::test]
    async fn too_many_uploads_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirBlobs::open(dir.path()).unwrap();
        let now = t("2026-11-22T03:00:00Z");
        let keys: Vec<UploadKey> = (0..=super::super::MAX_OPEN_UPLOADS as u8)
            .map(|i| UploadKey::new(&hex64(i), &hex64(200)).unwrap())
            .collect();
        let (last, open) = keys.split_last().unwrap();
        for k in open {
            store.append(k, 5, 0, b"a", now).await.unwrap();
        }
        // Temporary leftovers are not uploads.
        fs::write(dir.path().join("uploads/.x.1.2.tmp"), b"junk").unwrap();
        assert!(matches!(
            store.append(last, 5, 0, b"a", now).await,
            Err(BlobError::TooManyUploads)
        ));
        assert!(!upload_file(dir.path(), last).exists());
        // Open ones still take chunks.
        assert_eq!(store.append(&open[0], 5, 1, b"b", now).await.unwrap(), 2);
        store.discard_upload(&open[1]).await.unwrap();
        assert_eq!(store.append(last, 5, 0, b"a", now).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn put_is_idempotent_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let name = hex64(0xab);
        let other = hex64(0x01);
        let bytes = object(100_000);
        {
            let store = DirBlobs::open(dir.path()).unwrap();
            assert_eq!(store.get(&name).await.unwrap(), None);
            assert_eq!(store.size(&name).await.unwrap(), None);
            store.put(&name, &bytes).await.unwrap();
            store.put(&name, &bytes).await.unwrap();
            store.put(&other, b"").await.unwrap();
        }
        let path = dir.path().join("blobs/ab/ab").join(&name);
        assert_eq!(fs::read(&path).unwrap(), bytes);
        let store = DirBlobs::open(dir.path()).unwrap();
        assert_eq!(store.get(&name).await.unwrap(), Some(bytes.clone()));
        assert_eq!(store.size(&name).await.unwrap(), Some(100_000));
        assert_eq!(store.get(&other).await.unwrap(), Some(Vec::new()));
        // A crash's leftovers are neither listed nor read.
        fs::write(dir.path().join("blobs/ab/ab/.x.7.7.tmp"), b"junk").unwrap();
        fs::write(
            dir.path().join("blobs/ab/ab").join(hex64(0xcd)),
            b"misplaced",
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("blobs/zz/ab")).unwrap();
        assert_eq!(store.names().await.unwrap(), [other.clone(), name.clone()]);
        // No temporary file of ours is left behind.
        let temps = snapshot(dir.path())
            .into_iter()
            .filter(|(p, _)| p.to_str().unwrap().ends_with(".tmp"))
            .count();
        assert_eq!(temps, 1);
        // A file of the wrong size (not written by us) is replaced.
        fs::write(&path, b"short").unwrap();
        store.put(&name, &bytes).await.unwrap();
        assert_eq!(store.get(&name).await.unwrap(), Some(bytes));
        store.delete(&name).await.unwrap();
        store.delete(&name).await.unwrap();
        store.delete(&hex64(0x77)).await.unwrap();
        assert_eq!(store.get(&name).await.unwrap(), None);
        assert_eq!(store.names().await.unwrap(), [other]);
        assert!(matches!(
            store
                .put(&name, &vec![0; MAX_SEALED_LEN as usize + 1])
                .await,
            Err(BlobError::TooLarge)
        ));
    }

    #[tokio::test]
    async fn expires_untouched_uploads_and_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirBlobs::open(dir.path()).unwrap();
        let (old, new) = (key(3), key(5));
        store
            .append(&old, 9, 0, b"abc", t("2026-11-01T00:00:00Z"))
            .await
            .unwrap();
        store
            .append(&new, 9, 0, b"abc", t("2026-11-01T00:00:00Z"))
            .await
            .unwrap();
        store
            .append(&new, 9, 3, b"def", t("2026-11-20T00:00:00Z"))
            .await
            .unwrap();
        let leftover = dir.path().join("uploads/.y.1.1.tmp");
        fs::write(&leftover, b"junk").unwrap();
        let cutoff = t("2026-11-15T00:00:00Z");
        let recent = File::options().write(true).open(&leftover).unwrap();
        recent
            .set_modified(SystemTime::from(t("2026-11-16T00:00:00Z")))
            .unwrap();
        assert_eq!(store.expire_uploads(cutoff).await.unwrap(), 1);
        assert!(leftover.exists(), "a recent temporary file is kept");
        recent
            .set_modified(SystemTime::from(t("2026-11-01T00:00:00Z")))
            .unwrap();
        assert_eq!(store.expire_uploads(cutoff).await.unwrap(), 0);
        assert!(!leftover.exists());
        assert_eq!(store.upload(&old).await.unwrap(), None);
        assert_eq!(store.upload(&new).await.unwrap().unwrap().offset, 6);
        assert_eq!(
            store
                .expire_uploads(t("2026-12-01T00:00:00Z"))
                .await
                .unwrap(),
            1
        );
        assert!(snapshot(&dir.path().join("uploads")).is_empty());
    }

    #[tokio::test]
    async fn bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let store = DirBlobs::open(&root).unwrap();
        let traversal = format!("../../{}", &hex64(1)[6..]);
        assert_eq!(traversal.len(), 64);
        for bad in [
            "../x".to_owned(),
            traversal.clone(),
            hex64(0xab).to_uppercase(),
            hex64(1)[1..].to_owned(),
            format!("{}0", hex64(1)),
            String::new(),
        ] {
            assert!(matches!(
                store.put(&bad, b"x").await,
                Err(BlobError::BadName(_))
            ));
            assert!(matches!(store.get(&bad).await, Err(BlobError::BadName(_))));
            assert!(matches!(store.size(&bad).await, Err(BlobError::BadName(_))));
            assert!(matches!(
                store.delete(&bad).await,
                Err(BlobError::BadName(_))
            ));
            assert!(matches!(
                UploadKey::new(&bad, &hex64(1)),
                Err(BlobError::BadName(_))
            ));
            assert!(matches!(
                UploadKey::new(&hex64(1), &bad),
                Err(BlobError::BadName(_))
            ));
            // A key built by hand is checked too.
            let k = UploadKey {
                sha256: hex64(1),
                sealed_sha256: bad.clone(),
            };
            let now = t("2026-11-22T03:00:00Z");
            assert!(matches!(
                store.append(&k, 5, 0, b"x", now).await,
                Err(BlobError::BadName(_))
            ));
            assert!(matches!(store.upload(&k).await, Err(BlobError::BadName(_))));
            assert!(matches!(
                store.read_upload(&k).await,
                Err(BlobError::BadName(_))
            ));
            assert!(matches!(
                store.discard_upload(&k).await,
                Err(BlobError::BadName(_))
            ));
        }
        assert!(snapshot(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        DirBlobs::open(dir.path()).unwrap();
        for sub in ["blobs", "uploads"] {
            let mode = fs::metadata(dir.path().join(sub))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{sub}");
        }
    }

    #[tokio::test]
    async fn a_corrupt_upload_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirBlobs::open(dir.path()).unwrap();
        let k = key(9);
        fs::write(upload_file(dir.path(), &k), b"short").unwrap();
        assert!(matches!(
            store.upload(&k).await,
            Err(BlobError::Inconsistent(_))
        ));
        store.discard_upload(&k).await.unwrap();
        assert_eq!(store.upload(&k).await.unwrap(), None);
    }
}
