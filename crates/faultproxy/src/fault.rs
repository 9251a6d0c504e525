//! The faults the proxy injects, and how many of each it did.

use std::sync::atomic::{AtomicU64, Ordering};

/// One way a connection or request goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The connection is closed as soon as it is accepted.
    Refuse,
    /// The request is read whole, then the connection is closed: the
    /// upstream never sees it.
    DropRequest,
    /// Part of the request body arrives, then the connection is closed.
    ResetMidRequest,
    /// The upstream answers; the client gets half the body, then the
    /// connection is cut (the upstream applied the request).
    ResetMidResponse,
    /// The request reaches the upstream with half its body.
    TruncateRequest,
    /// The client gets half of the upstream's answer body, with a length
    /// that says it is whole (the upstream applied the request).
    TruncateResponse,
    /// The request waits (50 ms to 1 s by default) before it is forwarded.
    Delay,
    /// The request is forwarded twice; the client gets the second answer.
    Duplicate,
    /// 503 without forwarding.
    ErrorBefore,
    /// Forwarded, then 502 to the client (the upstream applied it).
    ErrorAfter,
}

impl Fault {
    pub const ALL: &'static [Fault] = &[
        Fault::Refuse,
        Fault::DropRequest,
        Fault::ResetMidRequest,
        Fault::ResetMidResponse,
        Fault::TruncateRequest,
        Fault::TruncateResponse,
        Fault::Delay,
        Fault::Duplicate,
        Fault::ErrorBefore,
        Fault::ErrorAfter,
    ];

    /// The faults drawn for each request: all but `Refuse` (first in
    /// [`Fault::ALL`]), which is drawn per connection.
    pub const PER_REQUEST: &'static [Fault] = Fault::ALL.split_at(1).1;

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Refuse => "refuse",
            Fault::DropRequest => "drop_request",
            Fault::ResetMidRequest => "reset_mid_request",
            Fault::ResetMidResponse => "reset_mid_response",
            Fault::TruncateRequest => "truncate_request",
            Fault::TruncateResponse => "truncate_response",
            Fault::Delay => "delay",
            Fault::Duplicate => "duplicate",
            Fault::ErrorBefore => "error_before",
            Fault::ErrorAfter => "error_after",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.as_str() == s)
    }

    fn index(self) -> usize {
        Fault::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// Counters, updated by the proxy's tasks.
#[derive(Debug, Default)]
pub struct FaultCounts {
    connections: AtomicU64,
    requests: AtomicU64,
    upstream_errors: AtomicU64,
    by_fault: [AtomicU64; 10],
}

/// The counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CountsSnapshot {
    pub connections: u64,
    pub requests: u64,
    /// Requests the upstream did not answer (it was down): not injected.
    pub upstream_errors: u64,
    /// Faults injected, by kind (`Fault::as_str`), in [`Fault::ALL`] order.
    pub faults: Vec<(String, u64)>,
}

impl CountsSnapshot {
    pub fn total_faults(&self) -> u64 {
        self.faults.iter().map(|(_, n)| n).sum()
    }

    pub fn of(&self, fault: Fault) -> u64 {
        self.faults
            .iter()
            .find(|(k, _)| k == fault.as_str())
            .map_or(0, |(_, n)| *n)
    }
}

impl FaultCounts {
    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, fault: Fault) {
        self.by_fault[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CountsSnapshot {
        CountsSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            upstream_errors: self.upstream_errors.load(Ordering::Relaxed),
            faults: Fault::ALL
                .iter()
                .map(|f| {
                    (
                        f.as_str().to_owned(),
                        self.by_fault[f.index()].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }
}
