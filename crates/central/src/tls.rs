//! HTTPS for central and stations: the certificate chain and private key
//! (PEM files) made into a rustls server configuration.
//!
//! TLS gives the laptops confidentiality and a way to know they talk to
//! the real server; who may send what is still decided by the signed
//! requests and records (ADR 0008). The crypto provider is `ring`, the
//! one the sync client already uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Which of the two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Certificate,
    PrivateKey,
}

impl std::fmt::Display for TlsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsFile::Certificate => "the certificate",
            TlsFile::PrivateKey => "the private key",
        })
    }
}

/// Why the certificate or key cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {file} {path}: {source}")]
    Read {
        file: TlsFile,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate { path: PathBuf },
    #[error(
        "{path} holds no PEM private key (\"-----BEGIN PRIVATE KEY-----\", RSA or EC PRIVATE KEY)"
    )]
    NoKey { path: PathBuf },
    #[error("{file} {path} is not valid PEM: {detail}")]
    BadPem {
        file: TlsFile,
        path: PathBuf,
        detail: String,
    },
    #[error("the certificate {cert} and the key {key} cannot be used together: {detail}")]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
}

impl TlsError {
    /// The file at fault (`None` when the pair does not fit together).
    pub fn file(&self) -> Option<TlsFile> {
        match self {
            TlsError::Read { file, .. } | TlsError::BadPem { file, .. } => Some(*file),
            TlsError::NoCertificate { .. } => Some(TlsFile::Certificate),
            TlsError::NoKey { .. } => Some(TlsFile::PrivateKey),
            TlsError::Rejected { .. } => None,
        }
    }
}

/// The files an HTTPS listener is made from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server's certificate, then any intermediates (PEM).
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1, PEM).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads and checks both files; the configuration offers HTTP/2 and
    /// HTTP/1.1 (ALPN), TLS 1.3 and 1.2.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let certs = read_certificates(&self.cert)?;
        let key = read_private_key(&self.key)?;
        let rejected = |e: rustls::Error| TlsError::Rejected {
            cert: self.cert.clone(),
            key: self.key.clone(),
            detail: e.to_string(),
        };
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(rejected)?
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .map_err(rejected)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        file,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate of a PEM file, in order (at least one).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(TlsFile::Certificate, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            file: TlsFile::Certificate,
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(TlsFile::PrivateKey, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        other => TlsError::BadPem {
            file: TlsFile::PrivateKey,
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn files(dir: &Path, cert: &[u8], key: &[u8]) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("key.pem"),
        };
        let e = f.server_config().unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(e.to_string().contains("nope.pem"), "{e}");
    }

    #[test]
    fn files_without_pem_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path(), b"not a certificate", b"not a key");
        let e = f.server_config().unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        assert!(e.to_string().contains("cert.pem"), "{e}");

        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let f = files(dir.path(), broken, b"");
        let e = f.server_config().unwrap_err();
        assert!(matches!(e, TlsError::BadPem { .. }), "{e}");
        assert!(e.to_string().contains("cert.pem"), "{e}");
    }

    #[test]
    fn a_certificate_file_is_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        // Any well-formed PEM certificate section (the bytes need not parse
        // as X.509 to reach the key check).
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let f = files(dir.path(), cert, cert);
        let e = f.server_config().unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        assert!(e.to_string().contains("key.pem"), "{e}");
    }
}
