#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Provisioning: one-time, expiring tokens register one node's key each;
//! reused, expired, unknown or mismatched tokens are refused with a reason;
//! revoked nodes stay listed.

use chrono::Duration;
use doorstep_central::CentralStore;
use doorstep_central::registry::{RegistryError, normalise_token};
use doorstep_central::sqlite::SqliteCentral;
use doorstep_wire::NodeRole;
use doorstep_wire::register::RegisterRequest;
use ed25519_dalek::SigningKey;
use uuid::Uuid;

mod support;
use support::now;

fn key(n: u8) -> String {
    hex::encode(SigningKey::from_bytes(&[n; 32]).verifying_key().to_bytes())
}

fn store() -> (tempfile::TempDir, SqliteCentral) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
    (dir, s)
}

#[test]
fn a_token_registers_one_key_once() {
    let (_dir, central) = store();
    let issued = central
        .provision(
            NodeRole::Field,
            "74",
            "Tổ 1",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(24),
            now(),
        )
        .unwrap();
    assert_eq!(
        normalise_token(&issued.token).len(),
        32,
        "160 bits in base32"
    );
    let node = Uuid::now_v7();
    // Case, spaces and dashes do not matter.
    let typed = issued.token.to_lowercase().replace('-', " ");
    let reg = central
        .register_node(&typed, node, NodeRole::Field, &key(1), now())
        .unwrap();
    assert_eq!((reg.node_id, reg.unit_code.as_str()), (node, "74"));
    // The same node with the same key again (its first answer was lost):
    // answered as registered, not locked out.
    let retry = central
        .register_node(&issued.token, node, NodeRole::Field, &key(1), now())
        .unwrap();
    assert_eq!(retry, reg);
    let again = central.register_node(
        &issued.token,
        Uuid::now_v7(),
        NodeRole::Field,
        &key(2),
        now(),
    );
    assert!(
        matches!(again, Err(RegistryError::TokenUsed { .. })),
        "{again:?}"
    );
    assert_eq!(again.unwrap_err().code(), "token.used");
    assert_eq!(central.registered_nodes().unwrap().len(), 1);
}

#[test]
fn expired_unknown_and_mismatched_tokens_are_refused() {
    let (_dir, central) = store();
    let t = central
        .provision(
            NodeRole::Field,
            "74",
            "Tổ 1",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let late = now() + Duration::hours(2);
    let e = central
        .register_node(&t.token, Uuid::now_v7(), NodeRole::Field, &key(1), late)
        .unwrap_err();
    assert!(matches!(e, RegistryError::TokenExpired { .. }), "{e}");
    let e = central
        .register_node("AAAA-BBBB", Uuid::now_v7(), NodeRole::Field, &key(1), now())
        .unwrap_err();
    assert_eq!(e.code(), "token.unknown");
    let e = central
        .register_node(&t.token, Uuid::now_v7(), NodeRole::Station, &key(1), now())
        .unwrap_err();
    assert_eq!(e.code(), "token.wrong_role");
    let e = central
        .register_node(&t.token, Uuid::now_v7(), NodeRole::Field, "abcd", now())
        .unwrap_err();
    assert_eq!(e.code(), "key.invalid");
    // None of the refusals used the token up.
    central
        .register_node(&t.token, Uuid::now_v7(), NodeRole::Field, &key(1), now())
        .unwrap();
}

#[test]
fn a_key_or_node_registers_once_and_units_and_stations_must_exist() {
    let (_dir, central) = store();
    let e = central
        .provision(
            NodeRole::Field,
            "99",
            "x",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "unit.unknown");
    let e = central
        .provision(
            NodeRole::Field,
            "74",
            "x",
            Some(Uuid::now_v7()),
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "station.unknown");
    let station = Uuid::now_v7();
    let t = central
        .provision(
            NodeRole::Station,
            "74",
            "Trạm Thuận Giao",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap();
    central
        .register_node(&t.token, station, NodeRole::Station, &key(9), now())
        .unwrap();
    let t1 = central
        .provision(
            NodeRole::Field,
            "74",
            "Tổ 1",
            Some(station),
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let t2 = central
        .provision(
            NodeRole::Field,
            "74",
            "Tổ 2",
            Some(station),
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let laptop = Uuid::now_v7();
    let reg = central
        .register_node(&t1.token, laptop, NodeRole::Field, &key(1), now())
        .unwrap();
    assert_eq!(reg.station_id, Some(station));
    let e = central
        .register_node(&t2.token, Uuid::now_v7(), NodeRole::Field, &key(1), now())
        .unwrap_err();
    assert_eq!(e.code(), "key.in_use");
    let e = central
        .register_node(&t2.token, laptop, NodeRole::Field, &key(2), now())
        .unwrap_err();
    assert_eq!(e.code(), "node.exists");
}

#[test]
fn revoked_nodes_stay_listed_and_cannot_be_revoked_twice() {
    let (_dir, central) = store();
    let t = central
        .provision(
            NodeRole::Field,
            "74",
            "Tổ 1",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let node = Uuid::now_v7();
    central
        .register_node(&t.token, node, NodeRole::Field, &key(1), now())
        .unwrap();
    let revoked = central.revoke(node, "stolen", now()).unwrap();
    assert_eq!(revoked.revoked_reason.as_deref(), Some("stolen"));
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        central.revoke(node, "again", now()).unwrap_err().code(),
        "node.revoked"
    );
    assert_eq!(
        central
            .revoke(Uuid::now_v7(), "x", now())
            .unwrap_err()
            .code(),
        "node.unknown"
    );
    assert_eq!(central.registered_nodes().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn registration_through_the_store_trait_answers_the_log_head() {
    let (_dir, central) = store();
    let t = central
        .provision(
            NodeRole::Field,
            "74",
            "Tổ 1",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            now(),
        )
        .unwrap();
    let answer = central
        .register(
            RegisterRequest {
                protocol: 1,
                token: t.token,
                node_id: Uuid::now_v7(),
                role: NodeRole::Field,
                public_key: key(3),
            },
            now(),
        )
        .await
        .unwrap();
    assert_eq!(answer.central_id, central.node_id());
    answer.log.tree_head.verify(&answer.log.public_key).unwrap();
}
