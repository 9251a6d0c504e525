//! Laptops and stations as witnesses of the log they sync to: every tree
//! head they are shown must be signed by the key pinned at first contact
//! and be an extension (consistency proof) of the last head they checked;
//! every receipt's entry must be included (inclusion proof) in its head.
//! A log that fails is refused: the receipt is not applied, an alarm with
//! the evidence is stored, and the sync stops with an error.

use chrono::Utc;
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::merkle;
use doorstep_store::{LogAlarm, StoredLogHead};
use doorstep_wire::Receipt;
use doorstep_wire::log::{LogEntry, SignedTreeHead};
use uuid::Uuid;

use crate::backoff::RetryPolicy;
use crate::client::{Client, SendError};

/// Where a witness keeps the heads it checked and the alarms it raised.
pub trait Witness {
    type Error: std::error::Error + Send + Sync + 'static;
    /// The logs this node may be shown, once provisioned: central's, and
    /// the station's it syncs through (`None` before provisioning).
    fn expected_logs(&self) -> Result<Option<Vec<Uuid>>, Self::Error>;
    fn pinned(&self, log_id: Uuid) -> Result<Option<StoredLogHead>, Self::Error>;
    fn save(&mut self, head: &StoredLogHead) -> Result<(), Self::Error>;
    fn alarm(&mut self, alarm: &LogAlarm) -> Result<(), Self::Error>;
}

impl Witness for doorstep_store::FieldStore {
    type Error = doorstep_store::StoreError;
    fn expected_logs(&self) -> Result<Option<Vec<Uuid>>, Self::Error> {
        let identity = self.identity()?;
        Ok(identity.central_id.map(|central| {
            std::iter::once(central)
                .chain(identity.station_id)
                .collect()
        }))
    }
    fn pinned(&self, log_id: Uuid) -> Result<Option<StoredLogHead>, Self::Error> {
        self.log_head(log_id)
    }
    fn save(&mut self, head: &StoredLogHead) -> Result<(), Self::Error> {
        self.save_log_head(head)
    }
    fn alarm(&mut self, alarm: &LogAlarm) -> Result<(), Self::Error> {
        self.raise_log_alarm(alarm)
    }
}

impl Witness for &doorstep_central::SqliteCentral {
    type Error = doorstep_central::CentralError;
    fn expected_logs(&self) -> Result<Option<Vec<Uuid>>, Self::Error> {
        let identity = tokio::task::block_in_place(|| self.identity())?;
        Ok(identity.registered_with.map(|central| vec![central]))
    }
    fn pinned(&self, log_id: Uuid) -> Result<Option<StoredLogHead>, Self::Error> {
        tokio::task::block_in_place(|| self.upstream_head(log_id))
    }
    fn save(&mut self, head: &StoredLogHead) -> Result<(), Self::Error> {
        tokio::task::block_in_place(|| self.save_upstream_head(head))
    }
    fn alarm(&mut self, alarm: &LogAlarm) -> Result<(), Self::Error> {
        tokio::task::block_in_place(|| self.raise_log_alarm(alarm))
    }
}

/// Why a log could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError<E: std::error::Error + 'static> {
    /// The log broke its promises; the alarm (with evidence) is stored.
    #[error(
        "AUDIT ALARM: the log of {server} ({kind}): {detail}. Nothing from it is accepted; the evidence is kept (doorstep audit alarms)"
    )]
    Alarm {
        server: String,
        kind: String,
        detail: String,
    },
    /// A proof could not be fetched: try again later.
    #[error("cannot check the log of the server: {0}")]
    Fetch(#[source] Box<SendError>),
    #[error(transparent)]
    Store(E),
}

/// What the witness concluded about a head it was shown.
struct Check<'a, W: Witness> {
    witness: &'a mut W,
    client: &'a Client,
    /// Fetching a proof is retried like a batch: a server restarting
    /// between its answer and the proof must not end the sync.
    retry: &'a RetryPolicy,
}

impl<W: Witness> Check<'_, W> {
    fn raise(
        &mut self,
        log_id: Uuid,
        kind: &str,
        detail: String,
        seen: Option<&StoredLogHead>,
        shown: &SignedTreeHead,
    ) -> WitnessError<W::Error> {
        let evidence = serde_json::json!({
            "seen": seen.map(|h| serde_json::json!({
                "tree_size": h.tree_size,
                "timestamp": h.timestamp,
                "root_hash": hex::encode(h.root_hash),
                "signature": hex::encode(h.signature),
                "public_key": hex::encode(h.public_key),
            })),
            "shown": shown,
        });
        let alarm = LogAlarm {
            id: 0,
            at: format_utc_millis(&Utc::now()),
            log_id,
            server: self.client.server().to_owned(),
            kind: kind.to_owned(),
            detail: detail.clone(),
            evidence: evidence.to_string(),
        };
        tracing::error!(server = %self.client.server(), kind, %detail, "audit alarm: the log is not consistent");
        match self.witness.alarm(&alarm) {
            Ok(()) => WitnessError::Alarm {
                server: self.client.server().to_owned(),
                kind: kind.to_owned(),
                detail,
            },
            Err(e) => WitnessError::Store(e),
        }
    }

    /// Accepts `head` signed by `public_key` if the key is the pinned one,
    /// the signature holds and the log only grew since the last head
    /// checked; then keeps it as the last head checked.
    async fn accept(
        &mut self,
        public_key: [u8; 32],
        head: &SignedTreeHead,
    ) -> Result<(), WitnessError<W::Error>> {
        let log_id = head.log_id;
        let pinned = self.witness.pinned(log_id).map_err(WitnessError::Store)?;
        // A provisioned node knows whose logs it may be shown: another log
        // is another server, however it signs.
        if let Some(expected) = self.witness.expected_logs().map_err(WitnessError::Store)?
            && !expected.contains(&log_id)
        {
            let list = expected
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(self.raise(
                log_id,
                "unexpected_log",
                format!(
                    "this node is provisioned for the log(s) {list}, the server answered with log {log_id}: not the central (or station) it registered with"
                ),
                pinned.as_ref(),
                head,
            ));
        }
        if let Some(p) = &pinned
            && p.public_key != public_key
        {
            return Err(self.raise(
                log_id,
                "key_changed",
                format!(
                    "the log's key changed from {} to {}",
                    hex::encode(p.public_key),
                    hex::encode(public_key)
                ),
                pinned.as_ref(),
                head,
            ));
        }
        if let Err(e) = head.verify(&public_key) {
            return Err(self.raise(
                log_id,
                "bad_signature",
                format!("tree head of size {}: {e}", head.tree_size),
                pinned.as_ref(),
                head,
            ));
        }
        let newer = match &pinned {
            None => true,
            Some(p) if p.tree_size == head.tree_size => {
                if p.root_hash != head.root_hash {
                    return Err(self.raise(
                        log_id,
                        "fork",
                        format!(
                            "two different roots signed for size {}: the log was rewritten",
                            head.tree_size
                        ),
                        pinned.as_ref(),
                        head,
                    ));
                }
                false
            }
            Some(p) => {
                // Older to newer, whichever was seen first.
                let (small, small_root, big, big_root) = if p.tree_size < head.tree_size {
                    (p.tree_size, p.root_hash, head.tree_size, head.root_hash)
                } else {
                    (head.tree_size, head.root_hash, p.tree_size, p.root_hash)
                };
                if small > 0 {
                    let proof = match consistency(self.client, self.retry, small, big).await {
                        Ok(proof) => proof,
                        // The log cannot prove it extends a head it signed:
                        // it was cut back (a rollback), not merely unreachable.
                        Err(SendError::Problem { problem, .. })
                            if problem.code == "log.out_of_range" =>
                        {
                            return Err(self.raise(
                                log_id,
                                "not_an_extension",
                                format!(
                                    "the log cannot prove that its size {big} extends size {small} seen before: {}",
                                    problem.detail.unwrap_or(problem.title)
                                ),
                                pinned.as_ref(),
                                head,
                            ));
                        }
                        Err(e) => return Err(WitnessError::Fetch(Box::new(e))),
                    };
                    let verified = if proof.first != small || proof.second != big {
                        Err(format!(
                            "asked for sizes {small}..{big}, answered {}..{}",
                            proof.first, proof.second
                        ))
                    } else {
                        merkle::verify_consistency(small, big, &small_root, &big_root, &proof.path)
                            .map_err(|e| e.to_string())
                    };
                    if let Err(why) = verified {
                        return Err(self.raise(
                            log_id,
                            "not_an_extension",
                            format!(
                                "the log of size {big} is not an extension of the log of size {small} seen before ({why})"
                            ),
                            pinned.as_ref(),
                            head,
                        ));
                    }
                }
                p.tree_size < head.tree_size
            }
        };
        if newer {
            self.witness
                .save(&StoredLogHead {
                    log_id,
                    public_key,
                    tree_size: head.tree_size,
                    timestamp: head.timestamp,
                    root_hash: head.root_hash,
                    signature: head.signature,
                    checked_at: format_utc_millis(&Utc::now()),
                })
                .map_err(WitnessError::Store)?;
        }
        Ok(())
    }
}

/// The consistency proof between two sizes, retried while the server only
/// cannot be reached. (A free function: the witness store, not `Sync`,
/// must not be borrowed across the wait.)
async fn consistency(
    client: &Client,
    policy: &RetryPolicy,
    small: u64,
    big: u64,
) -> Result<doorstep_wire::log::ConsistencyAnswer, SendError> {
    let mut retry = 0;
    loop {
        match client.consistency(small, big).await {
            Err(e) if e.is_retryable() && retry < policy.retries => {
                retry += 1;
                let delay = policy.delay(retry);
                tracing::info!(retry, ?delay, error = %e, "log proof not fetched; retrying");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// Checks the server's current tree head against what `witness` saw
/// before (at the start of a sync, before anything is sent).
pub async fn check_current_head<W: Witness>(
    witness: &mut W,
    client: &Client,
    retry: &RetryPolicy,
) -> Result<SignedTreeHead, WitnessError<W::Error>> {
    let answer = client
        .tree_head()
        .await
        .map_err(|e| WitnessError::Fetch(Box::new(e)))?;
    Check {
        witness,
        client,
        retry,
    }
    .accept(answer.public_key, &answer.tree_head)
    .await?;
    Ok(answer.tree_head)
}

/// Checks a receipt's log part: the entry rebuilt from what was sent and
/// answered is included in the receipt's signed head, and that head is
/// consistent with the last one checked.
pub async fn check_receipt<W: Witness>(
    witness: &mut W,
    client: &Client,
    receipt: &Receipt,
    entry: &LogEntry,
    retry: &RetryPolicy,
) -> Result<(), WitnessError<W::Error>> {
    let mut check = Check {
        witness,
        client,
        retry,
    };
    let Some(log) = &receipt.log else {
        // A server without a log: acceptable only if it never had one.
        let pinned = check
            .witness
            .pinned(receipt.issuer.node_id)
            .map_err(WitnessError::Store)?;
        return match pinned {
            None => Ok(()),
            Some(p) => {
                let shown = SignedTreeHead {
                    log_id: p.log_id,
                    tree_size: 0,
                    timestamp: 0,
                    root_hash: [0; 32],
                    signature: [0; 64],
                };
                Err(check.raise(
                    p.log_id,
                    "no_log",
                    "the receipt has no log proof, though this server's log was checked before"
                        .into(),
                    Some(&p),
                    &shown,
                ))
            }
        };
    };
    let head = &log.tree_head;
    if head.log_id != receipt.issuer.node_id {
        return Err(check.raise(
            head.log_id,
            "wrong_log",
            format!(
                "the receipt from {} carries a tree head of log {}",
                receipt.issuer.node_id, head.log_id
            ),
            None,
            head,
        ));
    }
    check.accept(log.public_key, head).await?;
    let leaf = merkle::leaf_hash(&entry.to_bytes());
    if let Err(e) = merkle::verify_inclusion(
        &leaf,
        log.index,
        head.tree_size,
        &log.inclusion,
        &head.root_hash,
    ) {
        let pinned = check.witness.pinned(head.log_id).ok().flatten();
        return Err(check.raise(
            head.log_id,
            "not_included",
            format!(
                "batch {} is not in the log as entry {} of {} ({e}): the log does not say what the receipt says",
                receipt.batch_id, log.index, head.tree_size
            ),
            pinned.as_ref(),
            head,
        ));
    }
    Ok(())
}
