#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The RFC 9162 Merkle tree module against an independent reference written
//! straight from the RFC's recursive definitions (MTH, PATH, PROOF/SUBPROOF),
//! the published Certificate Transparency test vectors, and properties over
//! random sizes with both a `MemoryTree` and a store fed by
//! `nodes_completed_by`.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use doorstep_core::merkle::{
    Hash, MemoryTree, MerkleError, MissingNode, NodeSource, ProofError, consistency_proof,
    empty_root, inclusion_proof, leaf_hash, node_hash, nodes_completed_by, range_root, root,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Reference: RFC 9162 §2.1 verbatim, over D = leaves[lo..hi]. Uses sha2
// directly; nothing from the module under test.
// ---------------------------------------------------------------------------

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Which way a proof hash is combined: a sibling on the left or the right,
/// or the consistency proof's starting subtree root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
    Seed,
}

struct Reference {
    leaves: Vec<Vec<u8>>,
    /// MTH is pure, so caching it by range only saves time (the n <= 300
    /// sweep would otherwise hash tens of millions of times in debug).
    memo: Mutex<HashMap<(usize, usize), Hash>>,
}

impl Reference {
    fn new(leaves: Vec<Vec<u8>>) -> Self {
        Reference {
            leaves,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// k: the largest power of two smaller than n (n > 1).
    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn leaf(&self, i: usize) -> Hash {
        sha256(&[&[0x00], &self.leaves[i]])
    }

    /// MTH(D[lo:hi]).
    fn mth(&self, lo: usize, hi: usize) -> Hash {
        let cached = self.memo.lock().unwrap().get(&(lo, hi)).copied();
        if let Some(h) = cached {
            return h;
        }
        let n = hi - lo;
        let h = match n {
            0 => sha256(&[]),
            1 => self.leaf(lo),
            _ => {
                let k = Self::k(n);
                sha256(&[&[0x01], &self.mth(lo, lo + k), &self.mth(lo + k, hi)])
            }
        };
        self.memo.lock().unwrap().insert((lo, hi), h);
        h
    }

    /// PATH(m, D[lo:hi]) with the side each hash sits on.
    fn path_sides(&self, m: usize, lo: usize, hi: usize) -> Vec<(Hash, Side)> {
        let n = hi - lo;
        assert!(m < n);
        if n == 1 {
            return Vec::new();
        }
        let k = Self::k(n);
        if m < k {
            let mut p = self.path_sides(m, lo, lo + k);
            p.push((self.mth(lo + k, hi), Side::Right));
            p
        } else {
            let mut p = self.path_sides(m - k, lo + k, hi);
            p.push((self.mth(lo, lo + k), Side::Left));
            p
        }
    }

    fn path(&self, m: usize, n: usize) -> Vec<Hash> {
        self.path_sides(m, 0, n)
            .into_iter()
            .map(|(h, _)| h)
            .collect()
    }

    fn path_shape(&self, m: usize, n: usize) -> Vec<Side> {
        self.path_sides(m, 0, n)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    /// SUBPROOF(m, D[lo:hi], b) with sides.
    fn subproof(&self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<(Hash, Side)> {
        let n = hi - lo;
        if m == n {
            return if b {
                Vec::new()
            } else {
                vec![(self.mth(lo, hi), Side::Seed)]
            };
        }
        let k = Self::k(n);
        if m <= k {
            let mut p = self.subproof(m, lo, lo + k, b);
            p.push((self.mth(lo + k, hi), Side::Right));
            p
        } else {
            let mut p = self.subproof(m - k, lo + k, hi, false);
            p.push((self.mth(lo, lo + k), Side::Left));
            p
        }
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    fn proof(&self, m: usize, n: usize) -> Vec<Hash> {
        self.subproof(m, 0, n, true)
            .into_iter()
            .map(|(h, _)| h)
            .collect()
    }

    fn proof_shape(&self, m: usize, n: usize) -> Vec<Side> {
        self.subproof(m, 0, n, true)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The eight leaves of certificate-transparency's merkle_tree_test.
fn ct_leaves() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![0x00],
        vec![0x10],
        vec![0x20, 0x21],
        vec![0x30, 0x31],
        vec![0x40, 0x41, 0x42, 0x43],
        vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        (0x60..=0x6f).collect(),
    ]
}

/// CT's leaves followed by distinct synthetic ones (distinct contents keep
/// "this wrong proof must fail" free of coincidences).
fn leaves(n: usize) -> Vec<Vec<u8>> {
    let mut v = ct_leaves();
    let mut i = 0u32;
    while v.len() < n {
        v.push(format!("doorstep leaf {i} {}", "x".repeat(i as usize % 7)).into_bytes());
        i += 1;
    }
    v.truncate(n);
    v
}

fn h(s: &str) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

fn flip(mut x: Hash, bit: usize) -> Hash {
    x[(bit / 8) % 32] ^= 1 << (bit % 8);
    x
}

/// Answers only nodes complete within `size`, so a proof that reaches past
/// its tree size fails instead of silently reading a larger tree.
struct Bounded<'a> {
    tree: &'a MemoryTree,
    size: u64,
}

impl NodeSource for Bounded<'_> {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        let complete = (index + 1)
            .checked_shl(level)
            .is_some_and(|end| end <= self.size);
        match self.tree.get(level, index) {
            Some(h) if complete => Ok(h),
            _ => Err(MissingNode { level, index }),
        }
    }
}

/// A store that keeps exactly the rows `nodes_completed_by` returns.
#[derive(Default)]
struct MapSource(HashMap<(u32, u64), Hash>);

impl NodeSource for &MapSource {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

impl MapSource {
    fn append(&mut self, index: u64, leaf: Hash) {
        let rows = nodes_completed_by(&mut &*self, index, leaf).unwrap();
        for (level, i, h) in rows {
            assert!(self.0.insert((level, i), h).is_none(), "row written twice");
        }
    }
}

fn tree_of(leaves: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for l in leaves {
        t.push(leaf_hash(l));
    }
    t
}

const N: usize = 300;

struct Sweep {
    r: Reference,
    tree: MemoryTree,
    roots: Vec<Hash>,
}

static SWEEP: LazyLock<Sweep> = LazyLock::new(|| {
    // Longer than N: the wrong-size checks ask the reference about the
    // shapes of larger trees.
    let r = Reference::new(leaves(3 * N));
    let tree = tree_of(&r.leaves[..N]);
    let roots = (0..=N).map(|n| r.mth(0, n)).collect();
    Sweep { r, tree, roots }
});

fn bounded(tree: &MemoryTree, size: usize) -> Bounded<'_> {
    Bounded {
        tree,
        size: size as u64,
    }
}

// ---------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------

#[test]
fn empty_root_is_sha256_of_nothing() {
    let want = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(empty_root(), want);
    assert_eq!(MemoryTree::new().root(), want);
    assert_eq!(root(&mut MemoryTree::new(), 0).unwrap(), want);
    assert_eq!(MemoryTree::new().root_at(0), Some(want));
    assert_eq!(MemoryTree::new().size(), 0);
}

#[test]
fn hashing_uses_the_rfc_prefixes() {
    assert_eq!(leaf_hash(b"abc"), sha256(&[&[0x00], b"abc"]));
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    assert_eq!(node_hash(&a, &b), sha256(&[&[0x01], &a, &b]));
    assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
}

/// Roots and proofs published with certificate-transparency's
/// merkle_tree_test (also transparency-dev/merkle's testonly vectors).
#[test]
fn certificate_transparency_vectors() {
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    .map(h);
    let leaves = ct_leaves();
    let reference = Reference::new(leaves.clone());
    let mut tree = MemoryTree::new();
    for (n, l) in leaves.iter().enumerate() {
        tree.push(leaf_hash(l));
        assert_eq!(tree.root(), roots[n], "size {}", n + 1);
        assert_eq!(
            reference.mth(0, n + 1),
            roots[n],
            "reference, size {}",
            n + 1
        );
    }
    let root_of = |n: u64| roots[n as usize - 1];

    let inclusion = [
        (
            0,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            vec![
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (index, size, want) in inclusion {
        let want: Vec<Hash> = want.into_iter().map(h).collect();
        assert_eq!(inclusion_proof(&mut &tree, index, size).unwrap(), want);
        let leaf = leaf_hash(&leaves[index as usize]);
        verify_inclusion(&leaf, index, size, &want, &root_of(size)).unwrap();
    }

    let consistency = [
        (
            2,
            8,
            vec![
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            vec![
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            vec![
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (first, second, want) in consistency {
        let want: Vec<Hash> = want.into_iter().map(h).collect();
        assert_eq!(consistency_proof(&mut &tree, first, second).unwrap(), want);
        verify_consistency(first, second, &root_of(first), &root_of(second), &want).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Every size up to 300 against the reference
// ---------------------------------------------------------------------------

#[test]
fn roots_match_reference_for_every_size() {
    let s = &*SWEEP;
    assert_eq!(s.tree.size(), N as u64);
    assert_eq!(s.tree.root(), s.roots[N]);
    for n in 0..=N {
        assert_eq!(
            root(&mut bounded(&s.tree, n), n as u64).unwrap(),
            s.roots[n]
        );
        assert_eq!(s.tree.root_at(n as u64), Some(s.roots[n]));
        // A tree grown to exactly n agrees with the prefix of a larger one.
        if n % 37 == 0 {
            assert_eq!(tree_of(&s.r.leaves[..n]).root(), s.roots[n]);
        }
    }
    assert_eq!(s.tree.root_at(N as u64 + 1), None);
}

#[test]
fn inclusion_proofs_match_reference_and_verify() {
    let s = &*SWEEP;
    for n in 1..=N {
        for i in 0..n {
            let got = inclusion_proof(&mut bounded(&s.tree, n), i as u64, n as u64).unwrap();
            assert_eq!(got, s.r.path(i, n), "PATH({i}, D[{n}])");
            verify_inclusion(&s.r.leaf(i), i as u64, n as u64, &got, &s.roots[n]).unwrap();
        }
    }
}

#[test]
fn consistency_proofs_match_reference_and_verify() {
    let s = &*SWEEP;
    for n in 1..=N {
        for m in 1..=n {
            let got = consistency_proof(&mut bounded(&s.tree, n), m as u64, n as u64).unwrap();
            assert_eq!(got, s.r.proof(m, n), "PROOF({m}, D[{n}])");
            verify_consistency(m as u64, n as u64, &s.roots[m], &s.roots[n], &got).unwrap();
        }
    }
}

#[test]
fn range_root_matches_reference_for_any_range() {
    let s = &*SWEEP;
    for start in 0..64 {
        for end in start + 1..=70 {
            let got = range_root(&mut bounded(&s.tree, end), start as u64, end as u64).unwrap();
            assert_eq!(got, s.r.mth(start, end), "MTH(D[{start}:{end}])");
        }
    }
    // RFC-shaped ranges far into the tree.
    for (start, end) in [(256, 300), (128, 300), (192, 257), (288, 299)] {
        let got = range_root(&mut bounded(&s.tree, end), start as u64, end as u64).unwrap();
        assert_eq!(got, s.r.mth(start, end));
    }
    assert_eq!(range_root(&mut &s.tree, 7, 7).unwrap(), empty_root());
    assert!(matches!(
        range_root(&mut &s.tree, 8, 7),
        Err(MerkleError::BadSizes {
            first: 8,
            second: 7
        })
    ));
}

// ---------------------------------------------------------------------------
// Negative checks
// ---------------------------------------------------------------------------

/// Sizes for the (slower) negative sweep: every small tree, then the
/// sizes around powers of two where proof shapes change, and the largest.
fn negative_sizes() -> impl Iterator<Item = usize> {
    let spread = [63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 299, N];
    (1..=48).chain(spread)
}

#[test]
fn tampered_inclusion_proofs_fail() {
    let s = &*SWEEP;
    let r = &s.r;
    for n in negative_sizes() {
        let (nu, root_n) = (n as u64, s.roots[n]);
        for i in 0..n {
            let iu = i as u64;
            let leaf = r.leaf(i);
            let proof = r.path(i, n);
            verify_inclusion(&leaf, iu, nu, &proof, &root_n).unwrap();

            for j in 0..proof.len() {
                let mut bad = proof.clone();
                bad[j] = flip(bad[j], j * 37 + i);
                assert_eq!(
                    verify_inclusion(&leaf, iu, nu, &bad, &root_n),
                    Err(ProofError::RootMismatch),
                    "flipped proof[{j}] for leaf {i} of {n}"
                );
            }

            for wrong in [iu + 1, iu.wrapping_sub(1), iu ^ 1, iu ^ 2, iu ^ 4, iu + 64] {
                if wrong == iu || wrong == u64::MAX {
                    continue;
                }
                assert!(
                    verify_inclusion(&leaf, wrong, nu, &proof, &root_n).is_err(),
                    "leaf {i} of {n} claimed at index {wrong}"
                );
            }

            for wrong in [nu - 1, nu + 1, nu + 2, nu * 2, nu / 2, nu + 100] {
                let w = wrong as usize;
                if wrong == nu {
                    continue;
                }
                if wrong <= iu {
                    assert_eq!(
                        verify_inclusion(&leaf, iu, wrong, &proof, &root_n),
                        Err(ProofError::IndexOutOfRange {
                            index: iu,
                            size: wrong
                        })
                    );
                    continue;
                }
                // Against the real tree's root: the claimed size changes the
                // computation unless the sibling sides happen to coincide.
                let same_shape = r.path_shape(i, w) == r.path_shape(i, n);
                assert_eq!(
                    verify_inclusion(&leaf, iu, wrong, &proof, &root_n).is_ok(),
                    same_shape,
                    "leaf {i} of {n} claimed in size {wrong}"
                );
                // Against the claimed tree's own root: only its own path works.
                if w <= N {
                    assert_eq!(
                        verify_inclusion(&leaf, iu, wrong, &proof, &s.roots[w]).is_ok(),
                        r.path(i, w) == proof,
                        "leaf {i} of {n} against the root of {wrong}"
                    );
                }
            }

            if let Some((_, short)) = proof.split_last() {
                assert_eq!(
                    verify_inclusion(&leaf, iu, nu, short, &root_n),
                    Err(ProofError::WrongLength {
                        expected: proof.len(),
                        got: short.len()
                    })
                );
            }
            let mut long = proof.clone();
            long.push(leaf);
            assert_eq!(
                verify_inclusion(&leaf, iu, nu, &long, &root_n),
                Err(ProofError::WrongLength {
                    expected: proof.len(),
                    got: long.len()
                })
            );

            assert_eq!(
                verify_inclusion(&leaf, iu, nu, &proof, &flip(root_n, i)),
                Err(ProofError::RootMismatch)
            );
            assert_eq!(
                verify_inclusion(&leaf, iu, nu, &proof, &s.roots[n - 1]),
                Err(ProofError::RootMismatch)
            );
            assert_eq!(
                verify_inclusion(&r.leaf((i + 1) % N), iu, nu, &proof, &root_n),
                Err(ProofError::RootMismatch)
            );
        }
        assert_eq!(
            verify_inclusion(&r.leaf(0), nu, nu, &[], &root_n),
            Err(ProofError::IndexOutOfRange {
                index: nu,
                size: nu
            })
        );
    }
}

#[test]
fn tampered_consistency_proofs_fail() {
    let s = &*SWEEP;
    let r = &s.r;
    for n in negative_sizes() {
        let nu = n as u64;
        for m in 1..n {
            let mu = m as u64;
            let (rm, rn) = (s.roots[m], s.roots[n]);
            let proof = r.proof(m, n);
            verify_consistency(mu, nu, &rm, &rn, &proof).unwrap();

            for j in 0..proof.len() {
                let mut bad = proof.clone();
                bad[j] = flip(bad[j], j * 41 + m);
                assert_eq!(
                    verify_consistency(mu, nu, &rm, &rn, &bad),
                    Err(ProofError::RootMismatch),
                    "flipped proof[{j}] for {m} -> {n}"
                );
            }

            let claims = [(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1), (m / 2, n)];
            for (m2, n2) in claims {
                if (m2, n2) == (m, n) || m2 == 0 || m2 > n2 {
                    continue;
                }
                let (mu2, nu2) = (m2 as u64, n2 as u64);
                // The real roots under claimed sizes: passes only when the
                // claimed sizes combine the hashes the same way.
                assert_eq!(
                    verify_consistency(mu2, nu2, &rm, &rn, &proof).is_ok(),
                    r.proof_shape(m2, n2) == r.proof_shape(m, n),
                    "{m} -> {n} proof claimed as {m2} -> {n2}"
                );
                // The claimed sizes' own roots: only their own proof works.
                if n2 <= N {
                    assert_eq!(
                        verify_consistency(mu2, nu2, &s.roots[m2], &s.roots[n2], &proof).is_ok(),
                        r.proof(m2, n2) == proof,
                        "{m} -> {n} proof against the roots of {m2} -> {n2}"
                    );
                }
            }

            let (_, short) = proof.split_last().unwrap();
            assert_eq!(
                verify_consistency(mu, nu, &rm, &rn, short),
                Err(ProofError::WrongLength {
                    expected: proof.len(),
                    got: short.len()
                })
            );
            let mut long = proof.clone();
            long.push(rm);
            assert_eq!(
                verify_consistency(mu, nu, &rm, &rn, &long),
                Err(ProofError::WrongLength {
                    expected: proof.len(),
                    got: long.len()
                })
            );
            assert_eq!(
                verify_consistency(mu, nu, &rm, &rn, &[]),
                Err(ProofError::WrongLength {
                    expected: proof.len(),
                    got: 0
                })
            );

            assert_eq!(
                verify_consistency(mu, nu, &flip(rm, m), &rn, &proof),
                Err(ProofError::RootMismatch)
            );
            assert_eq!(
                verify_consistency(mu, nu, &rm, &flip(rn, n), &proof),
                Err(ProofError::RootMismatch)
            );
            assert_eq!(
                verify_consistency(mu, nu, &rn, &rm, &proof),
                Err(ProofError::RootMismatch)
            );
        }

        // first == second: nothing to prove beyond equal roots.
        let rn = s.roots[n];
        verify_consistency(nu, nu, &rn, &rn, &[]).unwrap();
        assert_eq!(
            verify_consistency(nu, nu, &rn, &s.roots[n - 1], &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(nu, nu, &rn, &rn, &[rn]),
            Err(ProofError::WrongLength {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            verify_consistency(0, nu, &empty_root(), &rn, &[]),
            Err(ProofError::BadSizes {
                first: 0,
                second: nu
            })
        );
        assert_eq!(
            verify_consistency(nu + 1, nu, &rn, &rn, &[]),
            Err(ProofError::BadSizes {
                first: nu + 1,
                second: nu
            })
        );
    }
}

#[test]
fn generators_refuse_bad_arguments() {
    let s = &*SWEEP;
    let mut src = &s.tree;
    assert!(matches!(
        inclusion_proof(&mut src, 5, 5),
        Err(MerkleError::IndexOutOfRange { index: 5, size: 5 })
    ));
    assert!(matches!(
        inclusion_proof(&mut src, 0, 0),
        Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
    ));
    assert!(matches!(
        consistency_proof(&mut src, 0, 5),
        Err(MerkleError::BadSizes {
            first: 0,
            second: 5
        })
    ));
    assert!(matches!(
        consistency_proof(&mut src, 6, 5),
        Err(MerkleError::BadSizes {
            first: 6,
            second: 5
        })
    ));
    assert!(matches!(
        consistency_proof(&mut src, 0, 0),
        Err(MerkleError::BadSizes {
            first: 0,
            second: 0
        })
    ));
    assert_eq!(
        consistency_proof(&mut src, 5, 5).unwrap(),
        Vec::<Hash>::new()
    );
    assert_eq!(inclusion_proof(&mut src, 0, 1).unwrap(), Vec::<Hash>::new());
    // Messages a person can read.
    let e = inclusion_proof(&mut src, 9, 3).unwrap_err();
    assert_eq!(e.to_string(), "leaf index 9 is not below tree size 3");
    assert!(!ProofError::RootMismatch.to_string().is_empty());
}

#[test]
fn source_errors_propagate() {
    let s = &*SWEEP;
    let tree = tree_of(&s.r.leaves[..10]);
    let mut src = &tree;
    assert!(matches!(
        inclusion_proof(&mut src, 3, 20),
        Err(MerkleError::Source(MissingNode { .. }))
    ));
    assert!(matches!(
        consistency_proof(&mut src, 3, 20),
        Err(MerkleError::Source(_))
    ));
    assert!(matches!(root(&mut src, 11), Err(MerkleError::Source(_))));
    assert_eq!(tree.get(0, 10), None);
    assert_eq!(tree.get(4, 0), None);
    assert_eq!(tree.get(3, 0), Some(s.tree.get(3, 0).unwrap()));
    let empty = MapSource::default();
    assert!(matches!(
        nodes_completed_by(&mut &empty, 1, [0; 32]),
        Err(MerkleError::Source(MissingNode { level: 0, index: 0 }))
    ));
}

// ---------------------------------------------------------------------------
// nodes_completed_by and larger random trees
// ---------------------------------------------------------------------------

const BIG: u64 = 5000;

struct Big {
    tree: MemoryTree,
    map: MapSource,
    leaves: Vec<Hash>,
}

static BIG_TREES: LazyLock<Big> = LazyLock::new(|| {
    let leaves: Vec<Hash> = (0..BIG).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut tree = MemoryTree::new();
    let mut map = MapSource::default();
    for (i, l) in leaves.iter().enumerate() {
        tree.push(*l);
        map.append(i as u64, *l);
    }
    Big { tree, map, leaves }
});

#[test]
fn nodes_completed_by_stores_exactly_the_memory_tree() {
    let big = &*BIG_TREES;
    let mut count = 0;
    for level in 0..=13u32 {
        for index in 0..=(BIG >> level) {
            let want = big.tree.get(level, index);
            assert_eq!(big.map.0.get(&(level, index)).copied(), want);
            count += usize::from(want.is_some());
        }
    }
    assert_eq!(count, big.map.0.len());
    assert_eq!(count as u64, 2 * BIG - u64::from(BIG.count_ones()));

    // Rows come leaf first, one level up each, parents of the new leaf.
    let mut map = MapSource::default();
    for (i, l) in big.leaves[..16].iter().enumerate() {
        let rows = nodes_completed_by(&mut &map, i as u64, *l).unwrap();
        assert_eq!(rows[0], (0, i as u64, *l));
        assert_eq!(rows.len(), (i as u64).trailing_ones() as usize + 1);
        for (k, (level, index, _)) in rows.iter().enumerate() {
            assert_eq!((*level, *index), (k as u32, (i as u64) >> k));
        }
        for (level, index, h) in rows {
            map.0.insert((level, index), h);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_sizes_prove_and_verify(size in 1..=BIG, a in any::<u64>(), b in any::<u64>()) {
        let big = &*BIG_TREES;
        let index = a % size;
        let first = 1 + b % size;
        let leaf = big.leaves[index as usize];

        let root_n = big.tree.root_at(size).unwrap();
        let root_m = big.tree.root_at(first).unwrap();
        prop_assert_eq!(root(&mut &big.map, size).unwrap(), root_n);
        prop_assert_eq!(root(&mut &big.tree, size).unwrap(), root_n);

        let path = inclusion_proof(&mut &big.tree, index, size).unwrap();
        prop_assert_eq!(&inclusion_proof(&mut &big.map, index, size).unwrap(), &path);
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &path, &root_n), Ok(()));
        prop_assert!(path.len() <= 13);

        let proof = consistency_proof(&mut &big.tree, first, size).unwrap();
        prop_assert_eq!(&consistency_proof(&mut &big.map, first, size).unwrap(), &proof);
        prop_assert_eq!(verify_consistency(first, size, &root_m, &root_n, &proof), Ok(()));
        if first < size {
            let mut bad = proof.clone();
            let j = (a as usize) % bad.len();
            bad[j] = flip(bad[j], b as usize);
            prop_assert_eq!(
                verify_consistency(first, size, &root_m, &root_n, &bad),
                Err(ProofError::RootMismatch)
            );
        }
    }
}

#[test]
fn random_sizes_match_a_tree_grown_to_that_size() {
    // Fresh trees of exactly the size, so MemoryTree::root() is checked on
    // its own rather than as a prefix of the big tree.
    let big = &*BIG_TREES;
    for size in [1, 2, 3, 5, 8, 13, 100, 1023, 1024, 1025, 2049, 4097, BIG] {
        let mut t = MemoryTree::new();
        for l in &big.leaves[..size as usize] {
            t.push(*l);
        }
        assert_eq!(t.size(), size);
        assert_eq!(Some(t.root()), big.tree.root_at(size));
        assert_eq!(root(&mut &big.map, size).unwrap(), t.root());
    }
}

#[test]
fn planned_reads_are_enough_to_answer_from_a_node_map() {
    use doorstep_core::merkle::{self, NodeMap, nodes_read_by};
    let mut tree = MemoryTree::new();
    for i in 0u32..77 {
        tree.push(merkle::leaf_hash(&i.to_be_bytes()));
    }
    let fetch = |reads: Vec<(u32, u64)>| {
        NodeMap(
            reads
                .into_iter()
                .map(|(l, i)| ((l, i), tree.get(l, i).unwrap()))
                .collect(),
        )
    };
    for (index, size) in [(0, 1), (5, 77), (76, 77), (31, 64), (40, 41)] {
        let reads = nodes_read_by(|s| merkle::inclusion_proof(s, index, size));
        let mut map = fetch(reads);
        assert_eq!(
            merkle::inclusion_proof(&mut map, index, size).unwrap(),
            merkle::inclusion_proof(&mut &tree, index, size).unwrap()
        );
    }
    for (first, second) in [(1, 77), (3, 77), (64, 77), (76, 77), (8, 8)] {
        let reads = nodes_read_by(|s| merkle::consistency_proof(s, first, second));
        let mut map = fetch(reads);
        assert_eq!(
            merkle::consistency_proof(&mut map, first, second).unwrap(),
            merkle::consistency_proof(&mut &tree, first, second).unwrap()
        );
    }
    let reads = nodes_read_by(|s| merkle::root(s, 77));
    assert_eq!(reads.len(), 4, "77 = 64 + 8 + 4 + 1: {reads:?}");
    assert_eq!(merkle::root(&mut fetch(reads), 77).unwrap(), tree.root());
    // Appending leaf 77 (odd: completes a parent) reads its left siblings.
    let reads = nodes_read_by(|s| merkle::nodes_completed_by(s, 77, [1; 32]));
    assert_eq!(reads, [(0, 76)]);
}
