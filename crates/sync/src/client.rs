//! One HTTP exchange with an ingest node: post a batch, get its receipt.
//! Classifies failures into "retry later" and "will never work".

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;

use doorstep_wire::log::{
    CONSISTENCY_PATH, ConsistencyAnswer, DEVICE_RECORDS_PATH, DEVICES_PATH, DeviceRecordsAnswer,
    DevicesAnswer, ENTRIES_PATH, INCLUSION_PATH, InclusionAnswer, LogEntriesAnswer, SESSIONS_PATH,
    SessionsAnswer, TREE_HEAD_PATH, TreeHeadAnswer,
};
use doorstep_wire::register::{REGISTER_PATH, RegisterAnswer, RegisterRequest};
use doorstep_wire::{
    BATCHES_PATH, CLIENT_HEADER, CUSTODY_PATH, CustodyAnswer, CustodyQuery, HEALTH_PATH, Health,
    PROBLEM_JSON, Problem, Receipt,
};

/// Why a batch did not get a receipt.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No answer: refused or dropped connection, timeout, reset.
    #[error("cannot reach {server}: {detail}")]
    Network {
        server: String,
        /// The innermost cause ("Connection refused", "operation timed out").
        detail: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error body.
    #[error("{server} refused the request: {problem}")]
    Problem {
        server: String,
        /// The HTTP status of the answer (decides retrying, whatever the body says).
        status: u16,
        problem: Problem,
    },
    /// The TLS handshake failed on the server's certificate: not signed by
    /// a trusted CA, issued for another name, expired. Retrying cannot help.
    #[error(
        "the certificate of {server} is not trusted ({detail}): give the CA certificate that signed it with --ca-cert (or DOORSTEP_CA_CERT)"
    )]
    Untrusted {
        server: String,
        /// What rustls found wrong, e.g. "invalid peer certificate: UnknownIssuer".
        detail: String,
    },
    /// The server answered something that is not protocol v1.
    #[error(
        "{server} answered HTTP {status} with a body that is not a v1 receipt or problem: {detail}"
    )]
    Unexpected {
        server: String,
        status: u16,
        detail: String,
    },
}

impl SendError {
    /// When the server's TLS certificate was refused: rustls's reason.
    pub fn untrusted_detail(&self) -> Option<&str> {
        match self {
            SendError::Untrusted { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// Whether sending the same batch again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Network { .. } => true,
            SendError::Untrusted { .. } => false,
            SendError::Problem { problem, .. } => problem.is_retryable(),
            SendError::Unexpected { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
        }
    }
}

/// How the client checks the server's TLS certificate (`https://` URLs).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// A CA certificate (PEM; several may be concatenated). When given,
    /// the server's certificate must chain to it, and only to it: the
    /// built-in public roots are not trusted. When absent, the public
    /// roots (webpki-roots) are.
    pub ca_cert: Option<PathBuf>,
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("cannot read the CA certificate {path}: {source}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA certificate {path} is not valid PEM: {detail}")]
    BadCa { path: PathBuf, detail: String },
    #[error("{path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")")]
    NoCa { path: PathBuf },
    #[error("the CA certificate {path} cannot be used: {source}")]
    UnusableCa {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

impl ClientSetupError {
    /// A file the person running the command named (exit code 2), rather
    /// than a failure of this machine.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, ClientSetupError::Http(_))
    }
}

/// The certificates of a PEM file, at least one.
fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, ClientSetupError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|source| ClientSetupError::ReadCa {
        path: path.to_path_buf(),
        source,
    })?;
    let ders = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientSetupError::BadCa {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if ders.is_empty() {
        return Err(ClientSetupError::NoCa {
            path: path.to_path_buf(),
        });
    }
    ders.iter()
        .map(|der| {
            reqwest::Certificate::from_der(der).map_err(|source| ClientSetupError::UnusableCa {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}

/// Whether `err` (a failed request) was a TLS handshake that refused the
/// server's certificate, and rustls's words for why.
fn untrusted_certificate(err: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(e @ rustls::Error::InvalidCertificate(_)) = c.downcast_ref::<rustls::Error>() {
            return Some(e.to_string());
        }
        // The rustls error arrives wrapped in io::Errors (tokio-rustls,
        // then hyper-util), whose source() skips the wrapped error itself.
        cause = match c.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => c.source(),
            },
            None => c.source(),
        };
    }
    None
}

/// What a server holds of a blob (`HEAD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobHead {
    /// Held whole: nothing to send.
    Complete,
    /// Send from this offset.
    At(u64),
}

/// What a chunk's `PATCH` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobPatched {
    /// Stored; the upload now stands at this offset.
    At(u64),
    /// The server holds the blob whole.
    Complete(doorstep_wire::blobs::BlobAnswer),
}

/// An HTTP client bound to one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// The registered node this client signs requests as.
    identity: Option<(uuid::Uuid, std::sync::Arc<ed25519_dalek::SigningKey>)>,
}

impl Client {
    /// `server` is the base URL, e.g. `http://127.0.0.1:8750`; an
    /// `https://` server is checked against the public roots.
    pub fn new(server: &str, timeout: Duration) -> Result<Client, reqwest::Error> {
        let http = Self::builder(timeout).build()?;
        Ok(Client::from_parts(http, server))
    }

    /// Like [`Client::new`], checking an `https://` server's certificate
    /// as `tls` says.
    pub fn new_with(
        server: &str,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Client, ClientSetupError> {
        let mut builder = Self::builder(timeout);
        if let Some(path) = &tls.ca_cert {
            builder = builder.tls_built_in_root_certs(false);
            for cert in read_ca(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Client::from_parts(builder.build()?, server))
    }

    fn builder(timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("doorstep/", env!("CARGO_PKG_VERSION")))
    }

    fn from_parts(http: reqwest::Client, server: &str) -> Client {
        Client {
            http,
            base: server.trim_end_matches('/').to_owned(),
            identity: None,
        }
    }

    /// Signs every POST as `node` with `key` (a registered laptop or station).
    pub fn with_identity(
        mut self,
        node: uuid::Uuid,
        key: std::sync::Arc<ed25519_dalek::SigningKey>,
    ) -> Client {
        self.identity = Some((node, key));
        self
    }

    /// The signature headers for a POST of `body` to `path`, if this
    /// client has an identity.
    fn sign(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        self.sign_as("POST", req, path, body)
    }

    /// The signature headers for a request of `method` (sync 2.4).
    fn sign_as(
        &self,
        method: &str,
        req: reqwest::RequestBuilder,
        path: &str,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        use doorstep_wire::auth::{
            NODE_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIME_HEADER, request_message,
        };
        use ed25519_dalek::Signer;
        use sha2::Digest;
        let Some((node, key)) = &self.identity else {
            return req;
        };
        let mut nonce = [0u8; 16];
        if getrandom::fill(&mut nonce).is_err() {
            // No randomness: send unsigned; the server says why it refuses.
            return req;
        }
        let nonce = hex::encode(nonce);
        let time = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let body_hash: [u8; 32] = sha2::Sha256::digest(body).into();
        let signature = key.sign(&request_message(method, path, time, &nonce, &body_hash));
        req.header(NODE_HEADER, node.to_string())
            .header(TIME_HEADER, time.to_string())
            .header(NONCE_HEADER, nonce)
            .header(SIGNATURE_HEADER, hex::encode(signature.to_bytes()))
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`: is the server there, and who is it?
    pub async fn health(&self) -> Result<Health, SendError> {
        self.health_and_clock().await.map(|(health, _)| health)
    }

    /// `GET /healthz`, with the server's clock as its `Date` header gave it
    /// (whole seconds; `None` when the header is missing or malformed): how
    /// far the laptop's clock is off is what signed requests depend on.
    pub async fn health_and_clock(&self) -> Result<(Health, Option<DateTime<Utc>>), SendError> {
        let resp = self
            .http
            .get(format!("{}{HEALTH_PATH}", self.base))
            .send()
            .await
            .map_err(|source| self.network(source))?;
        let status = resp.status().as_u16();
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        let body = resp.bytes().await.map_err(|source| self.network(source))?;
        let health = serde_json::from_slice(&body).map_err(|e| SendError::Unexpected {
            server: self.base.clone(),
            status,
            detail: e.to_string(),
        })?;
        Ok((health, date))
    }

    /// Posts one encoded batch (`body`, zstd-compressed when `zstd`).
    /// Returns the receipt and its exact bytes.
    pub async fn post_batch(
        &self,
        body: Vec<u8>,
        zstd: bool,
    ) -> Result<(Receipt, Vec<u8>), SendError> {
        let req = self
            .http
            .post(format!("{}{BATCHES_PATH}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                CLIENT_HEADER,
                concat!("doorstep/", env!("CARGO_PKG_VERSION")),
            );
        let mut req = self.sign(req, BATCHES_PATH, &body).body(body);
        if zstd {
            req = req.header(reqwest::header::CONTENT_ENCODING, "zstd");
        }
        let resp = req.send().await.map_err(|source| self.network(source))?;
        let status = resp.status().as_u16();
        let is_problem = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(PROBLEM_JSON));
        let bytes = resp.bytes().await.map_err(|source| self.network(source))?;
        if status == 200 {
            return match serde_json::from_slice::<Receipt>(&bytes) {
                Ok(receipt) => Ok((receipt, bytes.to_vec())),
                Err(e) => Err(SendError::Unexpected {
                    server: self.base.clone(),
                    status,
                    detail: e.to_string(),
                }),
            };
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) if is_problem || problem.status == status => Err(SendError::Problem {
                server: self.base.clone(),
                status,
                problem,
            }),
            _ => Err(SendError::Unexpected {
                server: self.base.clone(),
                status,
                detail: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            }),
        }
    }

    /// `HEAD /v1/blobs/{sha256}`: how much of the object `sealed_sha256`
    /// the server holds.
    pub async fn blob_head(
        &self,
        sha256: &str,
        sealed_sha256: &str,
    ) -> Result<BlobHead, SendError> {
        use doorstep_wire::blobs::{
            BLOB_STATE_HEADER, SEALED_SHA256_HEADER, UPLOAD_OFFSET_HEADER, blob_path,
        };
        let path = blob_path(sha256);
        let req = self
            .http
            .head(format!("{}{path}", self.base))
            .header(SEALED_SHA256_HEADER, sealed_sha256);
        let resp = self
            .sign_as("HEAD", req, &path, &[])
            .send()
            .await
            .map_err(|source| self.network(source))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if status != 200 {
            // HEAD answers carry no body: the status says it all.
            return Err(SendError::Problem {
                server: self.base.clone(),
                status,
                problem: Problem::new(status, &format!("http.{status}"), "HEAD refused", None),
            });
        }
        Ok(match header(BLOB_STATE_HEADER).as_deref() {
            Some("complete") => BlobHead::Complete,
            _ => BlobHead::At(
                header(UPLOAD_OFFSET_HEADER)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            ),
        })
    }

    /// `PATCH /v1/blobs/{sha256}`: one chunk of the object at `offset`.
    pub async fn blob_patch(
        &self,
        sha256: &str,
        sealed_sha256: &str,
        offset: u64,
        length: u64,
        chunk: Vec<u8>,
    ) -> Result<BlobPatched, SendError> {
        use doorstep_wire::blobs::{
            BlobAnswer, OFFSET_CONTENT_TYPE, SEALED_SHA256_HEADER, UPLOAD_CHECKSUM_HEADER,
            UPLOAD_LENGTH_HEADER, UPLOAD_OFFSET_HEADER, blob_path,
        };
        use sha2::Digest;
        let path = blob_path(sha256);
        let checksum = data_encoding::BASE64.encode(&sha2::Sha256::digest(&chunk));
        let req = self
            .http
            .patch(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, OFFSET_CONTENT_TYPE)
            .header(SEALED_SHA256_HEADER, sealed_sha256)
            .header(UPLOAD_OFFSET_HEADER, offset.to_string())
            .header(UPLOAD_LENGTH_HEADER, length.to_string())
            .header(UPLOAD_CHECKSUM_HEADER, format!("sha256 {checksum}"));
        let resp = self
            .sign_as("PATCH", req, &path, &chunk)
            .body(chunk)
            .send()
            .await
            .map_err(|source| self.network(source))?;
        if resp.status().as_u16() == 204 {
            let next = resp
                .headers()
                .get(UPLOAD_OFFSET_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(offset);
            return Ok(BlobPatched::At(next));
        }
        let answer: BlobAnswer = self.answer(resp).await?;
        Ok(BlobPatched::Complete(answer))
    }

    /// `POST /v1/custody`: where the given records stand at this server.
    pub async fn custody(&self, query: &CustodyQuery) -> Result<CustodyAnswer, SendError> {
        self.post_json(CUSTODY_PATH, query).await
    }

    /// `POST /v1/register`: registers this node's key against a token.
    pub async fn register(&self, request: &RegisterRequest) -> Result<RegisterAnswer, SendError> {
        self.post_json(REGISTER_PATH, request).await
    }

    /// `POST /v1/worklist`: one page of this device's worklist, asked for
    /// zstd-compressed, and the size of the answer's body as it came over
    /// the wire (for the download's figures).
    pub async fn worklist(
        &self,
        request: &doorstep_wire::worklist::WorklistRequest,
    ) -> Result<(doorstep_wire::worklist::WorklistPage, u64), SendError> {
        let resp = self
            .post_signed(doorstep_wire::worklist::WORKLIST_PATH, request, true)
            .await?;
        let zstd = resp
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes() == b"zstd");
        if resp.status().as_u16() != 200 || !zstd {
            return self.answer_sized(resp).await;
        }
        let packed = resp.bytes().await.map_err(|source| self.network(source))?;
        let unexpected = |detail: String| SendError::Unexpected {
            server: self.base.clone(),
            status: 200,
            detail,
        };
        let json = unzstd_bounded(&packed, doorstep_wire::MAX_DECODED_BODY_BYTES)
            .map_err(|e| unexpected(format!("the compressed worklist page is damaged: {e}")))?;
        let page = serde_json::from_slice(&json).map_err(|e| unexpected(e.to_string()))?;
        Ok((page, packed.len() as u64))
    }

    /// `POST path` with a JSON body, answered with a JSON body of type `R`.
    async fn post_json<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, SendError> {
        let resp = self.post_signed(path, body, false).await?;
        self.answer_sized(resp).await.map(|(r, _)| r)
    }

    /// `POST path` with `body` as JSON, signed when the client has an
    /// identity; `zstd`: the answer may come compressed.
    async fn post_signed<T: serde::Serialize>(
        &self,
        path: &str,
        body: &T,
        zstd: bool,
    ) -> Result<reqwest::Response, SendError> {
        let body = serde_json::to_vec(body).map_err(|e| SendError::Unexpected {
            server: self.base.clone(),
            status: 0,
            detail: e.to_string(),
        })?;
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                CLIENT_HEADER,
                concat!("doorstep/", env!("CARGO_PKG_VERSION")),
            );
        if zstd {
            req = req.header(reqwest::header::ACCEPT_ENCODING, "zstd");
        }
        self.sign(req, path, &body)
            .body(body)
            .send()
            .await
            .map_err(|source| self.network(source))
    }

    /// A JSON answer of type `T`, or the problem the server answered.
    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, SendError> {
        self.answer_sized(resp).await.map(|(t, _)| t)
    }

    /// [`Client::answer`], with the size of the body read.
    async fn answer_sized<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<(T, u64), SendError> {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|source| self.network(source))?;
        if status == 200 {
            return serde_json::from_slice(&bytes)
                .map(|t| (t, bytes.len() as u64))
                .map_err(|e| SendError::Unexpected {
                    server: self.base.clone(),
                    status,
                    detail: e.to_string(),
                });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(SendError::Problem {
                server: self.base.clone(),
                status,
                problem,
            }),
            Err(_) => Err(SendError::Unexpected {
                server: self.base.clone(),
                status,
                detail: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            }),
        }
    }

    /// `GET path?query` answered with a JSON body of type `T`.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, SendError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .header(
                CLIENT_HEADER,
                concat!("doorstep/", env!("CARGO_PKG_VERSION")),
            )
            .send()
            .await
            .map_err(|source| self.network(source))?;
        self.answer(resp).await
    }

    /// `GET /v1/log/tree-head`: the log's newest signed head and its key.
    pub async fn tree_head(&self) -> Result<TreeHeadAnswer, SendError> {
        self.get_json(TREE_HEAD_PATH, &[]).await
    }

    /// `GET /v1/log/proof/consistency`.
    pub async fn consistency(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyAnswer, SendError> {
        self.get_json(
            CONSISTENCY_PATH,
            &[("first", first.to_string()), ("second", second.to_string())],
        )
        .await
    }

    /// `GET /v1/log/proof/inclusion`.
    pub async fn inclusion(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionAnswer, SendError> {
        self.get_json(
            INCLUSION_PATH,
            &[
                ("index", index.to_string()),
                ("tree_size", tree_size.to_string()),
            ],
        )
        .await
    }

    /// `GET /v1/log/entries` for `start..end` (the server may return fewer).
    pub async fn log_entries(&self, start: u64, end: u64) -> Result<LogEntriesAnswer, SendError> {
        self.get_json(
            ENTRIES_PATH,
            &[("start", start.to_string()), ("end", end.to_string())],
        )
        .await
    }

    /// `GET /v1/log/sessions`.
    pub async fn sessions(
        &self,
        device: Option<uuid::Uuid>,
        since: Option<&str>,
        limit: u64,
    ) -> Result<SessionsAnswer, SendError> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(d) = device {
            q.push(("device", d.to_string()));
        }
        if let Some(s) = since {
            q.push(("since", s.to_owned()));
        }
        self.get_json(SESSIONS_PATH, &q).await
    }

    /// `GET /v1/reports/progress` (`proto/reports-v1.md` section 4).
    pub async fn progress_report(
        &self,
        query: &[(&str, String)],
    ) -> Result<doorstep_core::progress::ProgressReport, SendError> {
        self.get_json("/v1/reports/progress", query).await
    }

    /// `GET /v1/reports/coverage`: who is left, per unit (aggregates).
    pub async fn coverage_report(
        &self,
        query: &[(&str, String)],
    ) -> Result<doorstep_central::sqlite::CoverageReport, SendError> {
        self.get_json("/v1/reports/coverage", query).await
    }

    /// `GET /v1/devices`.
    pub async fn devices(&self) -> Result<DevicesAnswer, SendError> {
        self.get_json(DEVICES_PATH, &[]).await
    }

    /// `GET /v1/devices/{id}/records` after `after_seq`.
    pub async fn device_records(
        &self,
        device: uuid::Uuid,
        after_seq: u64,
    ) -> Result<DeviceRecordsAnswer, SendError> {
        let path = DEVICE_RECORDS_PATH.replace("{device_id}", &device.to_string());
        self.get_json(&path, &[("after_seq", after_seq.to_string())])
            .await
    }

    fn network(&self, source: reqwest::Error) -> SendError {
        if let Some(detail) = untrusted_certificate(&source) {
            return SendError::Untrusted {
                server: self.base.clone(),
                detail,
            };
        }
        let mut detail = source.to_string();
        let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&source);
        while let Some(c) = cause {
            detail = c.to_string();
            cause = c.source();
        }
        if source.is_timeout() {
            detail = format!("timed out ({detail})");
        }
        SendError::Network {
            server: self.base.clone(),
            detail,
            source,
        }
    }
}

/// Decompresses a zstd body, refusing one that would grow beyond `limit`
/// bytes (a small answer must not expand into gigabytes).
fn unzstd_bounded(packed: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(packed)?
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(std::io::Error::other(format!(
            "it decompresses to more than {limit} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_compressed_answer_is_refused_beyond_its_limit() {
        let json = vec![b' '; 1_000_000];
        let packed = zstd::bulk::compress(&json, 3).unwrap();
        assert!(packed.len() < 1_000);
        assert_eq!(unzstd_bounded(&packed, 1_000_000).unwrap(), json);
        assert!(unzstd_bounded(&packed, 999_999).is_err());
        assert!(unzstd_bounded(b"not zstd", 1_000).is_err());
    }

    #[test]
    fn an_untrusted_certificate_is_not_retried() {
        let e = SendError::Untrusted {
            server: "https://central.example".into(),
            detail: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert!(!e.is_retryable());
        assert_eq!(
            e.untrusted_detail(),
            Some("invalid peer certificate: UnknownIssuer")
        );
        let text = e.to_string();
        assert!(
            text.contains("not trusted") && text.contains("--ca-cert"),
            "{text}"
        );
    }

    #[test]
    fn a_ca_file_that_cannot_be_used_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let tls = |path: PathBuf| ClientTls {
            ca_cert: Some(path),
        };
        let timeout = Duration::from_secs(1);
        let missing = dir.path().join("missing.pem");
        let e = Client::new_with("https://c", timeout, &tls(missing)).unwrap_err();
        assert!(matches!(e, ClientSetupError::ReadCa { .. }), "{e}");
        assert!(
            e.is_user_error() && e.to_string().contains("missing.pem"),
            "{e}"
        );

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "no certificate here\n").unwrap();
        let e = Client::new_with("https://c", timeout, &tls(junk)).unwrap_err();
        assert!(matches!(e, ClientSetupError::NoCa { .. }), "{e}");
        assert!(e.to_string().contains("junk.pem"), "{e}");

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Client::new_with("https://c", timeout, &tls(broken)).unwrap_err();
        assert!(matches!(e, ClientSetupError::BadCa { .. }), "{e}");

        // No CA configured: the client builds as before.
        Client::new_with("https://c", timeout, &ClientTls::default()).unwrap();
    }
}
