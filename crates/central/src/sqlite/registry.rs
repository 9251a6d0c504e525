//! Provisioning on SQLite: one-time enrollment tokens, registered node
//! keys, revocation (types and rules in [`crate::registry`]).

use chrono::{DateTime, Duration, Utc};
use doorstep_core::canonical::format_utc_millis;
use doorstep_wire::NodeRole;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::SqliteCentral;
use crate::error::CentralError;
use crate::registry::{
    IssuedToken, RegisteredNode, RegistryError, already_registered, check_token, new_token,
    parse_biometrics, parse_public_key, parse_role, role_str, token_hash,
};
use doorstep_core::record::BiometricPolicy;

fn node_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RegisteredNode> {
    let id: String = r.get(0)?;
    let station: Option<String> = r.get(5)?;
    Ok(RegisteredNode {
        node_id: Uuid::parse_str(&id).unwrap_or_default(),
        role: parse_role(&r.get::<_, String>(1)?),
        public_key: hex::encode(r.get::<_, Vec<u8>>(2)?),
        unit_code: r.get(3)?,
        name: r.get(4)?,
        station_id: station.and_then(|s| Uuid::parse_str(&s).ok()),
        registered_at: r.get(6)?,
        revoked_at: r.get(7)?,
        revoked_reason: r.get(8)?,
        biometrics: parse_biometrics(&r.get::<_, String>(9)?),
    })
}

const NODE_COLUMNS: &str = "k.node_id, k.role, k.public_key, k.unit_code, k.name, k.station_id, k.registered_at, k.revoked_at, k.revoked_reason, k.biometrics";

impl SqliteCentral {
    /// Issues a one-time token for a laptop or station of `unit_code`,
    /// valid for `valid_for`.
    #[allow(clippy::too_many_arguments)] // one per property of the token
    pub fn provision(
        &self,
        role: NodeRole,
        unit_code: &str,
        name: &str,
        station_id: Option<Uuid>,
        biometrics: BiometricPolicy,
        valid_for: Duration,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, RegistryError> {
        if !self.units.contains(unit_code) {
            return Err(RegistryError::UnknownUnit(unit_code.to_owned()));
        }
        let mut conn = self.lock()?;
        let err = |e| RegistryError::Store(CentralError::sqlite(&self.path, e));
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if let Some(station) = station_id {
            let active: Option<Option<String>> = tx
                .query_row(
                    "SELECT revoked_at FROM node_keys WHERE node_id = ?1 AND role = 'station'",
                    [station.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            if !matches!(active, Some(None)) {
                return Err(RegistryError::UnknownStation(station));
            }
        }
        let token = new_token()?;
        let expires_at = format_utc_millis(&(now + valid_for));
        tx.execute(
            "INSERT INTO enrollment_tokens (token_hash, role, unit_code, name, station_id, created_at, expires_at, biometrics)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                token_hash(&token),
                role_str(role),
                unit_code,
                name,
                station_id.map(|s| s.to_string()),
                format_utc_millis(&now),
                expires_at,
                biometrics.spec()
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
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

    /// Registers `node_id` with `public_key` against a token: the token is
    /// used up in the same transaction.
    pub fn register_node(
        &self,
        token: &str,
        node_id: Uuid,
        role: NodeRole,
        public_key: &str,
        now: DateTime<Utc>,
    ) -> Result<RegisteredNode, RegistryError> {
        let mut conn = self.lock()?;
        register_in(&mut conn, &self.path, token, node_id, role, public_key, now)
    }

    /// Every registered node, oldest first.
    pub fn registered_nodes(&self) -> Result<Vec<RegisteredNode>, RegistryError> {
        let conn = self.lock()?;
        let err = |e| RegistryError::Store(CentralError::sqlite(&self.path, e));
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {NODE_COLUMNS} FROM node_keys k ORDER BY k.registered_at, k.node_id"
            ))
            .map_err(err)?;
        let rows = stmt.query_map([], node_from_row).map_err(err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
    }

    /// One registered node.
    pub fn registered_node(&self, node_id: Uuid) -> Result<Option<RegisteredNode>, RegistryError> {
        let conn = self.lock()?;
        conn.prepare_cached(&format!(
            "SELECT {NODE_COLUMNS} FROM node_keys k WHERE k.node_id = ?1"
        ))
        .and_then(|mut s| s.query_row([node_id.to_string()], node_from_row).optional())
        .map_err(|e| RegistryError::Store(CentralError::sqlite(&self.path, e)))
    }

    /// Revokes a node: from now on nothing it sends is accepted.
    pub fn revoke(
        &self,
        node_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RegisteredNode, RegistryError> {
        {
            let conn = self.lock()?;
            let err = |e| RegistryError::Store(CentralError::sqlite(&self.path, e));
            let revoked: Option<Option<String>> = conn
                .query_row(
                    "SELECT revoked_at FROM node_keys WHERE node_id = ?1",
                    [node_id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            match revoked {
                None => return Err(RegistryError::UnknownNode(node_id)),
                Some(Some(at)) => return Err(RegistryError::AlreadyRevoked { node: node_id, at }),
                Some(None) => {}
            }
            conn.execute(
                "UPDATE node_keys SET revoked_at = ?2, revoked_reason = ?3 WHERE node_id = ?1",
                params![node_id.to_string(), format_utc_millis(&now), reason],
            )
            .map_err(err)?;
        }
        self.registered_node(node_id)?
            .ok_or(RegistryError::UnknownNode(node_id))
    }
}

/// A token's row: role, unit, name, station, expiry, use.
type TokenRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
);

/// [`SqliteCentral::register_node`] on a connection.
pub(crate) fn register_in(
    conn: &mut rusqlite::Connection,
    path: &std::path::Path,
    token: &str,
    node_id: Uuid,
    role: NodeRole,
    public_key: &str,
    now: DateTime<Utc>,
) -> Result<RegisteredNode, RegistryError> {
    let key = parse_public_key(public_key)?;
    let err = |e| RegistryError::Store(CentralError::sqlite(path, e));
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let hash = token_hash(token);
    let found: Option<TokenRow> = tx
        .query_row(
            "SELECT role, unit_code, name, station_id, expires_at, used_at, biometrics
                 FROM enrollment_tokens WHERE token_hash = ?1",
            [&hash],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()
        .map_err(err)?;
    let Some((token_role, unit_code, name, station_id, expires_at, used_at, biometrics)) = found
    else {
        return Err(RegistryError::UnknownToken);
    };
    if let Some(at) = used_at {
        // The same node presenting the same key again (its first answer was
        // lost): it is registered, say so again rather than lock it out.
        let same: Option<RegisteredNode> = tx
            .query_row(
                &format!(
                    "SELECT {NODE_COLUMNS} FROM node_keys k JOIN enrollment_tokens t ON t.used_by = k.node_id
                     WHERE t.token_hash = ?1 AND k.node_id = ?2 AND k.public_key = ?3"
                ),
                params![hash, node_id.to_string(), &key[..]],
                node_from_row,
            )
            .optional()
            .map_err(err)?;
        return match same {
            Some(node) => Ok(node),
            None => Err(RegistryError::TokenUsed { at }),
        };
    }
    check_token(expires_at, &token_role, role, &now)?;
    let existing: Option<String> = tx
        .query_row(
            "SELECT node_id FROM node_keys WHERE node_id = ?1 OR public_key = ?2",
            params![node_id.to_string(), &key[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    if let Some(other) = existing {
        let other = Uuid::parse_str(&other).unwrap_or_default();
        return Err(already_registered(other, node_id));
    }
    let at = format_utc_millis(&now);
    tx.execute(
            "INSERT INTO node_keys (node_id, role, public_key, unit_code, name, station_id, registered_at, biometrics)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![node_id.to_string(), role_str(role), &key[..], unit_code, name, station_id, at, biometrics],
        )
        .map_err(err)?;
    tx.execute(
        "UPDATE enrollment_tokens SET used_at = ?2, used_by = ?3 WHERE token_hash = ?1",
        params![hash, at, node_id.to_string()],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(RegisteredNode {
        node_id,
        role,
        public_key: hex::encode(key),
        unit_code,
        name,
        station_id: station_id.and_then(|s| Uuid::parse_str(&s).ok()),
        biometrics: parse_biometrics(&biometrics),
        registered_at: at,
        revoked_at: None,
        revoked_reason: None,
    })
}

/// A node's row: role, key, unit, station, revocation.
type GrantRow = (
    String,
    Vec<u8>,
    String,
    Option<String>,
    Option<String>,
    String,
);

/// Grants of the registered nodes among `nodes`.
pub(crate) fn grants_in(
    conn: &rusqlite::Connection,
    path: &std::path::Path,
    nodes: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, crate::check::NodeGrant>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT role, public_key, unit_code, station_id, revoked_at, biometrics FROM node_keys WHERE node_id = ?1",
        )
        .map_err(err)?;
    let mut out = std::collections::HashMap::new();
    for node in nodes {
        let row: Option<GrantRow> = stmt
            .query_row([node.to_string()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()
            .map_err(err)?;
        let Some((role, key, unit_code, station, revoked, biometrics)) = row else {
            continue;
        };
        let public_key = <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
            CentralError::Inconsistent(format!("node {node} has a malformed public key"))
        })?;
        out.insert(
            *node,
            crate::check::NodeGrant {
                role: parse_role(&role),
                public_key,
                unit_code,
                station_id: station.and_then(|s| Uuid::parse_str(&s).ok()),
                revoked: revoked.is_some(),
                biometrics: parse_biometrics(&biometrics),
            },
        );
    }
    Ok(out)
}
