//! Provisioning on PostgreSQL: one-time enrollment tokens, registered
//! node keys, revocation (types and rules in [`crate::registry`]). A token
//! row is locked while it is used, so two nodes cannot spend it twice.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use doorstep_core::canonical::format_utc_millis;
use doorstep_wire::NodeRole;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::check::NodeGrant;
use crate::error::CentralError;
use crate::registry::{
    IssuedToken, RegisteredNode, RegistryError, already_registered, check_token, new_token,
    parse_biometrics, parse_public_key, parse_role, role_str, token_hash,
};
use doorstep_core::record::BiometricPolicy;

const NODE_COLUMNS: &str = "k.node_id, k.role, k.public_key, k.unit_code, k.name, k.station_id, k.registered_at, k.revoked_at, k.revoked_reason, k.biometrics";

fn node_from_row(r: &Row) -> RegisteredNode {
    RegisteredNode {
        node_id: r.get(0),
        role: parse_role(r.get(1)),
        public_key: hex::encode(r.get::<_, &[u8]>(2)),
        unit_code: r.get(3),
        name: r.get(4),
        station_id: r.get(5),
        registered_at: r.get(6),
        revoked_at: r.get(7),
        revoked_reason: r.get(8),
        biometrics: parse_biometrics(r.get(9)),
    }
}

fn pg(e: tokio_postgres::Error) -> RegistryError {
    RegistryError::Store(CentralError::pg(e))
}

#[allow(clippy::too_many_arguments)] // one per property of the token
pub(crate) async fn provision(
    client: &mut tokio_postgres::Client,
    role: NodeRole,
    unit_code: &str,
    name: &str,
    station_id: Option<Uuid>,
    biometrics: BiometricPolicy,
    valid_for: Duration,
    now: DateTime<Utc>,
) -> Result<IssuedToken, RegistryError> {
    let tx = client.transaction().await.map_err(pg)?;
    if let Some(station) = station_id {
        let active = tx
            .query_opt(
                "SELECT revoked_at IS NULL FROM node_keys WHERE node_id = $1 AND role = 'station'",
                &[&station],
            )
            .await
            .map_err(pg)?
            .map(|r| r.get::<_, bool>(0));
        if active != Some(true) {
            return Err(RegistryError::UnknownStation(station));
        }
    }
    let token = new_token()?;
    let expires_at = format_utc_millis(&(now + valid_for));
    tx.execute(
        "INSERT INTO enrollment_tokens (token_hash, role, unit_code, name, station_id, created_at, expires_at, biometrics)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &token_hash(&token),
            &role_str(role),
            &unit_code,
            &name,
            &station_id,
            &format_utc_millis(&now),
            &expires_at,
            &biometrics.spec(),
        ],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(IssuedToken {
        token,
        role,
        unit_code: unit_code.to_owned(),
        name: name.to_owned(),
        station_id,
        biometrics,
        expires_at,
    })
}

/// Registered nodes, oldest first (one node with `Some`).
pub(crate) async fn nodes<C: GenericClient>(
    client: &C,
    only: Option<Uuid>,
) -> Result<Vec<RegisteredNode>, CentralError> {
    let rows = client
        .query(
            &format!(
                "SELECT {NODE_COLUMNS} FROM node_keys k WHERE ($1::uuid IS NULL OR k.node_id = $1)
                 ORDER BY k.registered_at, k.node_id"
            ),
            &[&only],
        )
        .await
        .map_err(CentralError::pg)?;
    Ok(rows.iter().map(node_from_row).collect())
}

pub(crate) async fn revoke(
    client: &mut tokio_postgres::Client,
    node_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RegisteredNode, RegistryError> {
    let tx = client.transaction().await.map_err(pg)?;
    let revoked = tx
        .query_opt(
            "SELECT revoked_at FROM node_keys WHERE node_id = $1 FOR UPDATE",
            &[&node_id],
        )
        .await
        .map_err(pg)?
        .map(|r| r.get::<_, Option<String>>(0));
    match revoked {
        None => return Err(RegistryError::UnknownNode(node_id)),
        Some(Some(at)) => return Err(RegistryError::AlreadyRevoked { node: node_id, at }),
        Some(None) => {}
    }
    tx.execute(
        "UPDATE node_keys SET revoked_at = $2, revoked_reason = $3 WHERE node_id = $1",
        &[&node_id, &format_utc_millis(&now), &reason],
    )
    .await
    .map_err(pg)?;
    let node = nodes(&tx, Some(node_id)).await?.pop();
    tx.commit().await.map_err(pg)?;
    node.ok_or(RegistryError::UnknownNode(node_id))
}

/// Registers `node_id` with `public_key` against a token, using the token
/// up in the same transaction.
pub(crate) async fn register(
    client: &mut tokio_postgres::Client,
    token: &str,
    node_id: Uuid,
    role: NodeRole,
    public_key: &str,
    now: DateTime<Utc>,
) -> Result<RegisteredNode, RegistryError> {
    let key = parse_public_key(public_key)?;
    let tx = client.transaction().await.map_err(pg)?;
    let hash = token_hash(token);
    let Some(found) = tx
        .query_opt(
            "SELECT role, unit_code, name, station_id, expires_at, used_at, biometrics
             FROM enrollment_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&hash],
        )
        .await
        .map_err(pg)?
    else {
        return Err(RegistryError::UnknownToken);
    };
    let token_role: String = found.get(0);
    let unit_code: String = found.get(1);
    let name: String = found.get(2);
    let station_id: Option<Uuid> = found.get(3);
    let expires_at: String = found.get(4);
    let used_at: Option<String> = found.get(5);
    let biometrics: String = found.get(6);
    if let Some(at) = used_at {
        // The same node presenting the same key again (its first answer was
        // lost): it is registered, say so again rather than lock it out.
        let same = tx
            .query_opt(
                &format!(
                    "SELECT {NODE_COLUMNS} FROM node_keys k JOIN enrollment_tokens t ON t.used_by = k.node_id
                     WHERE t.token_hash = $1 AND k.node_id = $2 AND k.public_key = $3"
                ),
                &[&hash, &node_id, &&key[..]],
            )
            .await
            .map_err(pg)?;
        return match same {
            Some(row) => Ok(node_from_row(&row)),
            None => Err(RegistryError::TokenUsed { at }),
        };
    }
    check_token(expires_at, &token_role, role, &now)?;
    let existing = tx
        .query_opt(
            "SELECT node_id FROM node_keys WHERE node_id = $1 OR public_key = $2 LIMIT 1",
            &[&node_id, &&key[..]],
        )
        .await
        .map_err(pg)?;
    if let Some(row) = existing {
        let other: Uuid = row.get(0);
        return Err(already_registered(other, node_id));
    }
    let at = format_utc_millis(&now);
    tx.execute(
        "INSERT INTO node_keys (node_id, role, public_key, unit_code, name, station_id, registered_at, biometrics)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &node_id,
            &role_str(role),
            &&key[..],
            &unit_code,
            &name,
            &station_id,
            &at,
            &biometrics,
        ],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        "UPDATE enrollment_tokens SET used_at = $2, used_by = $3 WHERE token_hash = $1",
        &[&hash, &at, &node_id],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(RegisteredNode {
        node_id,
        role,
        public_key: hex::encode(key),
        unit_code,
        name,
        station_id,
        biometrics: parse_biometrics(&biometrics),
        registered_at: at,
        revoked_at: None,
        revoked_reason: None,
    })
}

/// Grants of the registered nodes among `nodes`.
pub(crate) async fn grants<C: GenericClient>(
    client: &C,
    nodes: &[Uuid],
) -> Result<HashMap<Uuid, NodeGrant>, CentralError> {
    let rows = client
        .query(
            "SELECT node_id, role, public_key, unit_code, station_id, revoked_at IS NOT NULL, biometrics
             FROM node_keys WHERE node_id = ANY($1)",
            &[&nodes],
        )
        .await
        .map_err(CentralError::pg)?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let node: Uuid = r.get(0);
        let public_key = <[u8; 32]>::try_from(r.get::<_, &[u8]>(2)).map_err(|_| {
            CentralError::Inconsistent(format!("node {node} has a malformed public key"))
        })?;
        out.insert(
            node,
            NodeGrant {
                role: parse_role(r.get(1)),
                public_key,
                unit_code: r.get(3),
                station_id: r.get(4),
                revoked: r.get(5),
                biometrics: parse_biometrics(r.get(6)),
            },
        );
    }
    Ok(out)
}
