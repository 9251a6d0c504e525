//! A laptop registering with central: make its key if it has none, present
//! the one-time token, keep what central answered and pin central's log.

use doorstep_store::{FieldStore, Registration, StoreError, StoredLogHead};
use doorstep_wire::register::{RegisterAnswer, RegisterRequest};
use doorstep_wire::{NodeRole, PROTOCOL_VERSION};

use crate::client::{Client, SendError};

/// Why a laptop could not register.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("this laptop is already registered with central {central} (at {at})")]
    AlreadyRegistered { central: String, at: String },
    #[error(transparent)]
    Send(#[from] Box<SendError>),
    #[error("central's answer does not hold up: {0}")]
    BadAnswer(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registers the laptop of `store` with `client`'s central using `token`.
pub async fn register_laptop(
    store: &mut FieldStore,
    client: &Client,
    token: &str,
) -> Result<RegisterAnswer, ProvisionError> {
    let identity = store.identity()?;
    if let (Some(central), Some(at)) = (identity.central_id, identity.registered_at) {
        return Err(ProvisionError::AlreadyRegistered {
            central: central.to_string(),
            at,
        });
    }
    let public = store.ensure_device_key()?;
    let request = RegisterRequest {
        protocol: PROTOCOL_VERSION,
        token: token.to_owned(),
        node_id: store.device().device_id,
        role: NodeRole::Field,
        public_key: hex::encode(public),
    };
    let answer = client.register(&request).await.map_err(Box::new)?;
    let log_head = checked_answer(&answer, &request).map_err(ProvisionError::BadAnswer)?;
    let seal_key = match answer.seal_key.as_deref() {
        None => None,
        Some(text) => Some(doorstep_wire::sealed::fixed_hex::<32>(text).ok_or_else(|| {
            ProvisionError::BadAnswer(format!("seal_key `{text}` is not 64 lowercase hex digits"))
        })?),
    };
    // Central checks every record against this policy: the laptop checks
    // it first, with anything more its officer chose to require.
    let biometrics = match answer.biometrics.as_deref() {
        None => None,
        Some(spec) => Some(
            doorstep_core::record::BiometricPolicy::parse(spec)
                .map_err(|e| ProvisionError::BadAnswer(format!("biometrics `{spec}`: {e}")))?,
        ),
    };
    store.record_registration(&Registration {
        central_id: answer.central_id,
        server: client.server().to_owned(),
        registered_at: answer.registered_at.clone(),
        unit_code: answer.unit_code.clone(),
        station_id: answer.station_id,
        log_head,
        seal_key,
    })?;
    if let Some(policy) = biometrics {
        let kept = policy.union(store.biometrics());
        store.set_biometrics(kept)?;
    }
    Ok(answer)
}

/// Registers the station of `store` with `client`'s central using `token`.
pub async fn register_station(
    store: &doorstep_central::SqliteCentral,
    client: &Client,
    token: &str,
) -> Result<RegisterAnswer, StationProvisionError> {
    let identity = store.identity()?;
    if let (Some(central), Some(at)) = (identity.registered_with, identity.registered_at) {
        return Err(StationProvisionError::AlreadyRegistered {
            central: central.to_string(),
            at,
        });
    }
    let public = store.ensure_identity_key()?;
    let request = RegisterRequest {
        protocol: PROTOCOL_VERSION,
        token: token.to_owned(),
        node_id: doorstep_central::CentralStore::node_id(store),
        role: NodeRole::Station,
        public_key: hex::encode(public),
    };
    let answer = client.register(&request).await.map_err(Box::new)?;
    let log_head = checked_answer(&answer, &request).map_err(StationProvisionError::BadAnswer)?;
    store.record_node_registration(
        answer.central_id,
        client.server(),
        &answer.registered_at,
        &log_head,
    )?;
    Ok(answer)
}

/// Checks central's answer to `request`: the node and role asked for,
/// and a signed head of central's own log; returns the head to pin.
fn checked_answer(
    answer: &RegisterAnswer,
    request: &RegisterRequest,
) -> Result<StoredLogHead, String> {
    if answer.node_id != request.node_id || answer.role != request.role {
        return Err(format!(
            "registered {} as {}, asked for {} as {}",
            answer.node_id,
            answer.role.as_str(),
            request.node_id,
            request.role.as_str()
        ));
    }
    let head = &answer.log.tree_head;
    if head.log_id != answer.central_id {
        return Err(format!(
            "central {} sent the head of log {}",
            answer.central_id, head.log_id
        ));
    }
    head.verify(&answer.log.public_key)
        .map_err(|e| e.to_string())?;
    Ok(StoredLogHead {
        log_id: head.log_id,
        public_key: answer.log.public_key,
        tree_size: head.tree_size,
        timestamp: head.timestamp,
        root_hash: head.root_hash,
        signature: head.signature,
        checked_at: doorstep_core::canonical::format_utc_millis(&chrono::Utc::now()),
    })
}

/// Why a station could not register.
#[derive(Debug, thiserror::Error)]
pub enum StationProvisionError {
    #[error("this station is already registered with central {central} (at {at})")]
    AlreadyRegistered { central: String, at: String },
    #[error(transparent)]
    Send(#[from] Box<SendError>),
    #[error("central's answer does not hold up: {0}")]
    BadAnswer(String),
    #[error(transparent)]
    Store(#[from] doorstep_central::CentralError),
}
