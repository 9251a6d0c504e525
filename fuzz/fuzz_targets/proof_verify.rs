//! Audit log proofs and signed tree heads (`crates/core/src/merkle.rs`,
//! `crates/wire/src/log.rs`, `proto/sync-v1.md` section 14).
//!
//! Input: one mode byte, then
//!
//! - mode 0: JSON, read as every log message type (tree heads, receipts'
//!   `log`, proofs, entries); what reads writes back and reads again to
//!   the same value, and its signatures and proofs are checked against the
//!   log vectors (`proto/vectors/log/`) without panicking;
//! - mode 1: a real tree of 257 distinct leaves; a genuine inclusion or
//!   consistency proof verifies, and after arbitrary changes (sizes,
//!   index, leaf, proof hashes dropped, added, swapped or replaced by
//!   other nodes of the tree) a proof that still verifies against the
//!   tree's genuine root must be the genuine proof of what it claims;
//! - mode 2: a tree of any size up to 2^64 - 1 whose leaves are all equal
//!   (so every node is known without storing it): proofs of any index
//!   and sizes are generated reading only nodes inside the tree, verify,
//!   and fail with one hash too many or too few;
//! - mode 3: a tree head signed with the log vectors' key verifies, and
//!   fails after any one bit of it changes; arbitrary keys and signatures
//!   are refused without panicking;
//! - mode 4: the verifiers and proof generators on arbitrary numbers and
//!   hashes: they answer, never panic.

#![no_main]

use std::sync::LazyLock;

use doorstep_core::merkle::{
    self, Hash, MemoryTree, MissingNode, NodeSource, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, node_hash, nodes_completed_by, nodes_read_by, range_root,
    verify_consistency, verify_inclusion,
};
use doorstep_wire::log::{
    ConsistencyAnswer, InclusionAnswer, JournalHead, LogEntriesAnswer, LogEntry, ReceiptLog,
    SignedTreeHead, TreeHeadAnswer, tree_head_message,
};
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// Leaves of the real tree.
const N: u64 = 257;

static TREE: LazyLock<MemoryTree> = LazyLock::new(|| {
    let mut tree = MemoryTree::new();
    for i in 0..N {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    tree
});

/// The log vectors' signing key (seed `0x07` x 32).
static LOG_KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[7; 32]));

/// What the log vectors fix: the public key, entry 3's leaf, the roots at
/// sizes 3 and 5.
struct Vectors {
    public_key: [u8; 32],
    leaf_3: Hash,
    root_3: Hash,
    root_5: Hash,
}

static VECTORS: LazyLock<Vectors> = LazyLock::new(|| {
    let head = |text: &str| {
        serde_json::from_str::<TreeHeadAnswer>(text)
            .expect("a tree head vector")
            .tree_head
    };
    Vectors {
        public_key: LOG_KEY.verifying_key().to_bytes(),
        leaf_3: leaf_hash(include_bytes!("../../proto/vectors/log/entry-3.json")),
        root_3: head(include_str!("../../proto/vectors/log/tree-head-3.json")).root_hash,
        root_5: head(include_str!("../../proto/vectors/log/tree-head-5.json")).root_hash,
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let u = &mut Unstructured::new(rest);
    let _ = match mode % 5 {
        0 => {
            wire_json(rest);
            Ok(())
        }
        1 => real_tree(u),
        2 => uniform_tree(u),
        3 => tree_head(u),
        _ => anything(u),
    };
});

// ---- mode 0: the wire types ----

/// `T` reads from `text` and, if so, writes back and reads again equal.
fn reads<T>(text: &[u8]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value: T = serde_json::from_slice(text).ok()?;
    let written = serde_json::to_vec(&value).expect("a decoded message serialises");
    let again: T = serde_json::from_slice(&written).unwrap_or_else(|e| {
        panic!(
            "a message written out does not read back ({e}): {}",
            String::from_utf8_lossy(&written)
        )
    });
    assert_eq!(
        again, value,
        "a message changed when written and read again"
    );
    Some(value)
}

fn wire_json(text: &[u8]) {
    let v = &*VECTORS;
    if let Some(head) = reads::<SignedTreeHead>(text) {
        check_head(&head, &v.public_key);
    }
    if let Some(answer) = reads::<TreeHeadAnswer>(text) {
        check_head(&answer.tree_head, &answer.public_key);
        check_head(&answer.tree_head, &v.public_key);
    }
    if let Some(log) = reads::<ReceiptLog>(text) {
        check_head(&log.tree_head, &log.public_key);
        let h = &log.tree_head;
        let _ = verify_inclusion(
            &v.leaf_3,
            log.index,
            h.tree_size,
            &log.inclusion,
            &h.root_hash,
        );
    }
    if let Some(p) = reads::<InclusionAnswer>(text) {
        let ok = verify_inclusion(&p.leaf_hash, p.index, p.tree_size, &p.path, &v.root_5);
        // The vectors' log of five: only entry 3's genuine proof verifies.
        if ok.is_ok() && p.tree_size == 5 {
            assert_eq!(p.index, 3);
            assert_eq!(p.leaf_hash, v.leaf_3);
        }
        let _ = verify_inclusion(&v.leaf_3, p.index, p.tree_size, &p.path, &v.root_3);
    }
    if let Some(p) = reads::<ConsistencyAnswer>(text) {
        let _ = verify_consistency(p.first, p.second, &v.root_3, &v.root_5, &p.path);
        let _ = verify_consistency(p.first, p.second, &v.root_5, &v.root_5, &p.path);
    }
    if let Ok(entries) = serde_json::from_slice::<LogEntriesAnswer>(text) {
        let mut tree = MemoryTree::new();
        for line in &entries.entries {
            let leaf = leaf_hash(line.entry.get().as_bytes());
            tree.push(leaf);
            entry_bytes_are_stable(line.entry.get().as_bytes());
        }
        let _ = tree.root();
    }
    entry_bytes_are_stable(text);
    let _ = reads::<JournalHead>(text);
}

/// A log entry that reads writes the same bytes every time.
fn entry_bytes_are_stable(text: &[u8]) {
    if let Some(entry) = reads::<LogEntry>(text) {
        let bytes = entry.to_bytes();
        let again: LogEntry = serde_json::from_slice(&bytes).expect("entry bytes read back");
        assert_eq!(again.to_bytes(), bytes, "entry bytes are not stable");
    }
}

fn check_head(head: &SignedTreeHead, key: &[u8; 32]) {
    assert_eq!(head.message().len(), 22 + 16 + 8 + 8 + 32);
    let _ = head.verify(key).map_err(|e| e.to_string());
}

// ---- mode 1: a real tree ----

/// A hash an attacker could get: a node of the real tree, a root, a
/// special value or arbitrary bytes.
fn some_hash(u: &mut Unstructured<'_>) -> Result<Hash> {
    Ok(match u.int_in_range(0u8..=4)? {
        0 => {
            let level = u.int_in_range(0u32..=8)?;
            let count = N >> level;
            let index = u.int_in_range(0..=count.saturating_sub(1))?;
            TREE.get(level, index).unwrap_or([0; 32])
        }
        1 => TREE.root_at(u.int_in_range(0..=N)?).unwrap_or([0; 32]),
        2 => empty_root(),
        3 => [0; 32],
        _ => u.arbitrary()?,
    })
}

/// A size or index near `around`, or anything.
fn some_number(u: &mut Unstructured<'_>, around: u64) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => around.wrapping_add(u64::from(u.int_in_range(0u8..=4)?)),
        1 => around.wrapping_sub(u64::from(u.int_in_range(0u8..=4)?)),
        2 => u.int_in_range(0..=N + 1)?,
        _ => u.arbitrary()?,
    })
}

/// One change to a proof.
fn change_proof(u: &mut Unstructured<'_>, proof: &mut Vec<Hash>) -> Result<()> {
    let len = proof.len();
    let at = |u: &mut Unstructured<'_>, n: usize| -> Result<usize> {
        u.int_in_range(0..=n.saturating_sub(1))
    };
    match u.int_in_range(0u8..=5)? {
        0 if len > 0 => {
            let i = at(u, len)?;
            proof.remove(i);
        }
        1 => {
            let i = u.int_in_range(0..=len)?;
            proof.insert(i, some_hash(u)?);
        }
        2 if len > 0 => {
            let i = at(u, len)?;
            proof[i] = some_hash(u)?;
        }
        3 if len > 1 => {
            let (i, j) = (at(u, len)?, at(u, len)?);
            proof.swap(i, j);
        }
        4 => proof.reverse(),
        _ => proof.truncate(at(u, len + 1)?),
    }
    Ok(())
}

fn real_tree(u: &mut Unstructured<'_>) -> Result<()> {
    let tree = &*TREE;
    if u.arbitrary::<bool>()? {
        let size = u.int_in_range(1..=N)?;
        let index = u.int_in_range(0..=size - 1)?;
        let genuine = inclusion_proof(&mut &*tree, index, size).expect("a proof in the tree");
        let root = tree.root_at(size).expect("a root in the tree");
        let leaf = tree.get(0, index).expect("a leaf");
        assert_eq!(
            verify_inclusion(&leaf, index, size, &genuine, &root),
            Ok(())
        );
        let (mut leaf, mut index, mut size, mut proof) = (leaf, index, size, genuine);
        for _ in 0..u.int_in_range(0u8..=4)? {
            match u.int_in_range(0u8..=3)? {
                0 => index = some_number(u, index)?,
                1 => size = some_number(u, size)?,
                2 => leaf = some_hash(u)?,
                _ => change_proof(u, &mut proof)?,
            }
        }
        let root = if u.ratio(1u8, 8)? {
            some_hash(u)?
        } else {
            tree.root_at(size).unwrap_or([0; 32])
        };
        let verified = verify_inclusion(&leaf, index, size, &proof, &root).is_ok();
        if verified && (1..=N).contains(&size) && tree.root_at(size) == Some(root) {
            assert!(index < size);
            assert_eq!(
                tree.get(0, index),
                Some(leaf),
                "another leaf proved included"
            );
            let expected = inclusion_proof(&mut &*tree, index, size).expect("a proof");
            assert_eq!(proof, expected, "a changed inclusion proof verified");
        }
    } else {
        let second = u.int_in_range(1..=N)?;
        let first = u.int_in_range(1..=second)?;
        let genuine = consistency_proof(&mut &*tree, first, second).expect("a proof");
        let (r1, r2) = (tree.root_at(first), tree.root_at(second));
        let (r1, r2) = (r1.expect("a root"), r2.expect("a root"));
        assert_eq!(
            verify_consistency(first, second, &r1, &r2, &genuine),
            Ok(())
        );
        let (mut first, mut second, mut proof) = (first, second, genuine);
        for _ in 0..u.int_in_range(0u8..=4)? {
            match u.int_in_range(0u8..=2)? {
                0 => first = some_number(u, first)?,
                1 => second = some_number(u, second)?,
                _ => change_proof(u, &mut proof)?,
            }
        }
        let genuine_root = |size: u64| tree.root_at(size).unwrap_or([0; 32]);
        let (r1, r2) = match u.int_in_range(0u8..=7)? {
            0 => (some_hash(u)?, genuine_root(second)),
            1 => (genuine_root(first), some_hash(u)?),
            _ => (genuine_root(first), genuine_root(second)),
        };
        let verified = verify_consistency(first, second, &r1, &r2, &proof).is_ok();
        if verified
            && (1..=N).contains(&first)
            && (first..=N).contains(&second)
            && tree.root_at(first) == Some(r1)
            && tree.root_at(second) == Some(r2)
        {
            let expected = consistency_proof(&mut &*tree, first, second).expect("a proof");
            assert_eq!(proof, expected, "a changed consistency proof verified");
        }
    }
    Ok(())
}

// ---- mode 2: any size ----

/// A tree of `size` equal leaves: the node at level `l` is the same for
/// every index, so a tree of 2^64 - 1 leaves costs 64 hashes. Reading a
/// node that is not complete within `size` is an error: proofs must
/// never read one.
struct Uniform {
    levels: [Hash; 64],
    size: u64,
}

static LEVELS: LazyLock<[Hash; 64]> = LazyLock::new(|| {
    let mut levels = [[0u8; 32]; 64];
    levels[0] = leaf_hash(b"doorstep fuzz");
    for l in 1..64 {
        levels[l] = node_hash(&levels[l - 1], &levels[l - 1]);
    }
    levels
});

impl NodeSource for Uniform {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        let missing = MissingNode { level, index };
        let end = index
            .checked_add(1)
            .and_then(|i| i.checked_mul(1u64.checked_shl(level)?))
            .ok_or(missing)?;
        if end > self.size || level >= 64 {
            return Err(missing);
        }
        Ok(self.levels[level as usize])
    }
}

fn big_size(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => {
            let p = 1u64 << u.int_in_range(0u32..=63)?;
            p.wrapping_add(u64::from(u.int_in_range(0u8..=2)?))
                .wrapping_sub(1)
                .max(1)
        }
        1 => u64::MAX - u64::from(u.int_in_range(0u8..=3)?),
        _ => u.arbitrary::<u64>()?.max(1),
    })
}

fn uniform_tree(u: &mut Unstructured<'_>) -> Result<()> {
    let size = big_size(u)?;
    let mut src = Uniform {
        levels: *LEVELS,
        size,
    };
    let root = merkle::root(&mut src, size).expect("the root reads only nodes of the tree");
    let leaf = LEVELS[0];
    let index = match u.int_in_range(0u8..=2)? {
        0 => size - 1,
        1 => u.int_in_range(0..=size.min(64) - 1)?,
        _ => u.int_in_range(0..=size - 1)?,
    };
    let proof = inclusion_proof(&mut src, index, size)
        .unwrap_or_else(|e| panic!("inclusion proof of {index} in {size}: {e}"));
    assert!(proof.len() <= 64);
    assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
    let mut longer = proof.clone();
    longer.push(leaf);
    assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
    if let Some((_, shorter)) = proof.split_last() {
        assert!(verify_inclusion(&leaf, index, size, shorter, &root).is_err());
    }
    for (level, i) in nodes_read_by(|plan| inclusion_proof(plan, index, size)) {
        assert!(
            src.node(level, i).is_ok(),
            "the plan reads outside the tree"
        );
    }

    let first = match u.int_in_range(0u8..=2)? {
        0 => size,
        1 => u.int_in_range(1..=size.min(64))?,
        _ => u.int_in_range(1..=size)?,
    };
    let first_root = merkle::root(&mut src, first).expect("a root");
    let proof = consistency_proof(&mut src, first, size)
        .unwrap_or_else(|e| panic!("consistency proof {first} to {size}: {e}"));
    assert!(proof.len() <= 65);
    assert_eq!(
        verify_consistency(first, size, &first_root, &root, &proof),
        Ok(())
    );
    let mut longer = proof.clone();
    longer.push(leaf);
    assert!(verify_consistency(first, size, &first_root, &root, &longer).is_err());
    if let Some((_, shorter)) = proof.split_last() {
        assert!(verify_consistency(first, size, &first_root, &root, shorter).is_err());
    }
    // Appending the next leaf reads only complete nodes and completes one
    // node per trailing one bit of the index.
    if size < u64::MAX {
        let completed = nodes_completed_by(&mut src, size, leaf).expect("left siblings exist");
        assert_eq!(completed.len(), size.trailing_ones() as usize + 1);
    }
    Ok(())
}

// ---- mode 3: signed tree heads ----

fn tree_head(u: &mut Unstructured<'_>) -> Result<()> {
    let v = &*VECTORS;
    let mut head = SignedTreeHead {
        log_id: Uuid::from_bytes(u.arbitrary()?),
        tree_size: u.arbitrary()?,
        timestamp: u.arbitrary()?,
        root_hash: u.arbitrary()?,
        signature: [0; 64],
    };
    let message = tree_head_message(
        &head.log_id,
        head.tree_size,
        head.timestamp,
        &head.root_hash,
    );
    assert_eq!(message, head.message());
    head.signature = LOG_KEY.sign(&message).to_bytes();
    assert_eq!(head.verify(&v.public_key), Ok(()));
    let json = serde_json::to_string(&head).expect("serialises");
    let back: SignedTreeHead = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, head);

    // Any one bit changed: refused.
    let mut bad = head.clone();
    let bit = u.int_in_range(0u32..=7)?;
    match u.int_in_range(0u8..=4)? {
        0 => {
            let mut b = *bad.log_id.as_bytes();
            b[u.int_in_range(0..=15)?] ^= 1 << bit;
            bad.log_id = Uuid::from_bytes(b);
        }
        1 => bad.tree_size ^= 1 << u.int_in_range(0u32..=63)?,
        2 => bad.timestamp ^= 1 << u.int_in_range(0u32..=63)?,
        3 => bad.root_hash[u.int_in_range(0..=31)?] ^= 1 << bit,
        _ => bad.signature[u.int_in_range(0..=63)?] ^= 1 << bit,
    }
    assert!(
        bad.verify(&v.public_key).is_err(),
        "a changed tree head verified"
    );
    let mut key = v.public_key;
    key[u.int_in_range(0..=31)?] ^= 1 << bit;
    assert!(
        head.verify(&key).is_err(),
        "another key verified the tree head"
    );

    // Arbitrary keys and signatures.
    let key: [u8; 32] = u.arbitrary()?;
    let mut other = head.clone();
    other.signature = u.arbitrary()?;
    let _ = other.verify(&key);
    let _ = head.verify(&key);
    Ok(())
}

// ---- mode 4: arbitrary numbers ----

fn anything(u: &mut Unstructured<'_>) -> Result<()> {
    let a: u64 = u.arbitrary()?;
    let b: u64 = u.arbitrary()?;
    let count = u.int_in_range(0usize..=70)?;
    let mut proof = Vec::with_capacity(count);
    for _ in 0..count {
        proof.push(some_hash(u)?);
    }
    let (h1, h2) = (some_hash(u)?, some_hash(u)?);
    let _ = verify_inclusion(&h1, a, b, &proof, &h2);
    let _ = verify_consistency(a, b, &h1, &h2, &proof);
    let tree = &*TREE;
    let _ = inclusion_proof(&mut &*tree, a, b);
    let _ = consistency_proof(&mut &*tree, a, b);
    let _ = range_root(&mut &*tree, a, b);
    let _ = nodes_completed_by(&mut &*tree, a, h1);
    let (small_a, small_b) = (a % (N + 2), b % (N + 2));
    let _ = inclusion_proof(&mut &*tree, small_a, small_b);
    let _ = consistency_proof(&mut &*tree, small_a, small_b);
    let _ = nodes_read_by(|plan| inclusion_proof(plan, a, b));
    let _ = nodes_read_by(|plan| consistency_proof(plan, a, b));
    Ok(())
}
