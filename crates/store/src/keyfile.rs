//! Secret key files: 32 random bytes, created `0600` and never
//! overwritten, read back exactly.

use std::io::Write;
use std::path::Path;

use crate::StoreError;

/// Makes a new 32-byte secret and writes it to `path` (refuses to replace
/// an existing file).
pub fn create(path: &Path) -> Result<[u8; 32], StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(&seed).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(seed)
}

/// Reads a 32-byte secret written by [`create`].
pub fn load(path: &Path) -> Result<[u8; 32], StoreError> {
    let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        StoreError::Inconsistent(format!(
            "{} should hold 32 bytes, it holds {}",
            path.display(),
            bytes.len()
        ))
    })
}
