//! RFC 9162 (Certificate Transparency v2) Merkle trees: leaf and node
//! hashing, inclusion and consistency proofs generated from stored perfect
//! subtree hashes, and the RFC's verification algorithms.
//!
//! Storage model: a log keeps, for every level, the roots of its complete
//! ("perfect") power-of-two subtrees. Any tree root or proof is composed
//! from those in O(log n) reads, so nothing has to be recomputed from the
//! leaves and nothing stored ever changes when the log grows.

use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// SHA-256(0x00 || entry)
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right)
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where proofs read stored hashes from: `node(level, index)` is the root of the
/// perfect subtree over leaves [index << level, (index + 1) << level) (level 0 = leaf hashes).
/// Callers only ever ask for nodes that are complete within the tree size in question.
pub trait NodeSource {
    type Error: std::error::Error + Send + Sync + 'static;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof or root could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum MerkleError<E: std::error::Error + 'static> {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("cannot prove consistency from size {first} to size {second}")]
    BadSizes { first: u64, second: u64 },
    #[error("reading a stored tree node failed")]
    Source(#[source] E),
}

/// The largest power of two strictly below `n`, for `n >= 2` (the RFC's `k`).
fn split(n: u64) -> u64 {
    // `n - 1 >= 1` for every caller; `unwrap_or` only keeps this panic-free.
    1u64 << n.saturating_sub(1).checked_ilog2().unwrap_or(0)
}

/// MTH(D[start:end]) for `start < end`.
fn range_root_inner<S: NodeSource>(src: &mut S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let len = end - start;
    if len.is_power_of_two() && start & (len - 1) == 0 {
        let level = len.trailing_zeros();
        return src.node(level, start >> level);
    }
    // Not one stored node: split where the RFC splits. For ranges starting
    // at a multiple of a power of two >= len (every range the proofs use),
    // the left half is perfect and only the right half recurses.
    let mid = start + split(len);
    let left = range_root_inner(src, start, mid)?;
    let right = range_root_inner(src, mid, end)?;
    Ok(node_hash(&left, &right))
}

/// MTH(D[start:end]) for any 0 <= start < end, composed from stored perfect nodes
/// (O(log n) reads when the range is RFC-shaped; correct for any range).
/// `start == end` gives [`empty_root`], `start > end` is [`MerkleError::BadSizes`].
pub fn range_root<S: NodeSource>(
    src: &mut S,
    start: u64,
    end: u64,
) -> Result<Hash, MerkleError<S::Error>> {
    match start.cmp(&end) {
        std::cmp::Ordering::Less => range_root_inner(src, start, end).map_err(MerkleError::Source),
        std::cmp::Ordering::Equal => Ok(empty_root()),
        std::cmp::Ordering::Greater => Err(MerkleError::BadSizes {
            first: start,
            second: end,
        }),
    }
}

/// Root of the first `size` leaves (empty_root() for 0).
pub fn root<S: NodeSource>(src: &mut S, size: u64) -> Result<Hash, MerkleError<S::Error>> {
    range_root(src, 0, size)
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]), leaf-to-root order.
pub fn inclusion_proof<S: NodeSource>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError<S::Error>> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    // The recursion walked top-down; the RFC lists the deepest sibling first.
    let mut path = Vec::with_capacity(inclusion_len(index, size));
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let mid = lo + split(hi - lo);
        if index < mid {
            path.push(range_root(src, mid, hi)?);
            hi = mid;
        } else {
            path.push(range_root(src, lo, mid)?);
            lo = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1 PROOF(m, D[n]); 0 < first <= second (first == second gives an empty proof).
pub fn consistency_proof<S: NodeSource>(
    src: &mut S,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, MerkleError<S::Error>> {
    if first == 0 || first > second {
        return Err(MerkleError::BadSizes { first, second });
    }
    // SUBPROOF(m, D[lo:hi], b) unrolled; `first` stays absolute, so the
    // RFC's `m` is `first - lo`. Invariant: lo < first <= hi.
    let mut proof = Vec::with_capacity(consistency_len(first, second));
    let (mut lo, mut hi) = (0u64, second);
    let mut whole_first_tree = true;
    while first != hi {
        let mid = lo + split(hi - lo);
        if first <= mid {
            proof.push(range_root(src, mid, hi)?);
            hi = mid;
        } else {
            proof.push(range_root(src, lo, mid)?);
            lo = mid;
            whole_first_tree = false;
        }
    }
    // SUBPROOF(m, D[m], false) = {MTH(D[m])}: the verifier does not know this
    // subtree's root unless it is the whole first tree.
    if !whole_first_tree {
        proof.push(range_root(src, lo, hi)?);
    }
    proof.reverse();
    Ok(proof)
}

/// (level, node index, hash) of a perfect node, as [`nodes_completed_by`] returns them.
pub type CompletedNode = (u32, u64, Hash);

/// The perfect nodes completed by appending the leaf with hash `leaf` at position `index`
/// (the tree had `index` leaves before): (level, node index, hash), level 0 (the leaf itself) first.
/// Reads left siblings from `src`. A store that saves these rows can answer every later `node()` call.
pub fn nodes_completed_by<S: NodeSource>(
    src: &mut S,
    index: u64,
    leaf: Hash,
) -> Result<Vec<CompletedNode>, MerkleError<S::Error>> {
    let mut out = Vec::with_capacity(index.trailing_ones() as usize + 1);
    let (mut level, mut i, mut hash) = (0u32, index, leaf);
    out.push((level, i, hash));
    // A right child (odd index) completes its parent.
    while i & 1 == 1 {
        let left = src.node(level, i - 1).map_err(MerkleError::Source)?;
        hash = node_hash(&left, &hash);
        level += 1;
        i >>= 1;
        out.push((level, i, hash));
    }
    Ok(out)
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("no consistency proof exists from size {first} to size {second}")]
    BadSizes { first: u64, second: u64 },
    #[error("the proof has {got} hashes, but these sizes need {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// PATH length: the levels where the leaf's path and the last leaf's path
/// have split (`inner`), plus one left sibling per set bit above them.
fn inclusion_len(index: u64, size: u64) -> usize {
    let inner = u64::BITS - (index ^ size.saturating_sub(1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// PROOF length for 0 < first < second: the path of leaf `first - 1`,
/// minus the levels inside the perfect subtree that ends at `first`, plus
/// that subtree's root unless it is the whole first tree.
fn consistency_len(first: u64, second: u64) -> usize {
    let last = first.saturating_sub(1);
    let inner = u64::BITS - (last ^ second.saturating_sub(1)).leading_zeros();
    let border = last.checked_shr(inner).unwrap_or(0).count_ones();
    let shift = first.trailing_zeros();
    let seed = u32::from(!first.is_power_of_two());
    (seed + inner.saturating_sub(shift) + border) as usize
}

/// RFC 9162 §2.1.3.2 verification algorithm.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    let wrong_length = ProofError::WrongLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(wrong_length);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            // On the right edge, skip levels where this subtree has no sibling.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(wrong_length);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2 verification algorithm (first == second: proof must be empty and roots equal).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::BadSizes { first, second });
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if first_root != second_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let expected = consistency_len(first, second);
    let wrong_length = ProofError::WrongLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    // The RFC prepends first_root when the first tree is a perfect subtree
    // of the second; otherwise the proof starts with the subtree root.
    let (seed, rest) = if first.is_power_of_two() {
        (*first_root, proof)
    } else {
        match proof.split_first() {
            Some((seed, rest)) => (*seed, rest),
            None => return Err(wrong_length),
        }
    };
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if snode == 0 {
            return Err(wrong_length);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(wrong_length);
    }
    if fr != *first_root || sr != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A node asked of a [`MemoryTree`] that it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tree node at level {level}, index {index} is not stored")]
pub struct MissingNode {
    pub level: u32,
    pub index: u64,
}

/// All perfect nodes in memory (levels[l][i]); push() appends a leaf hash and completes parents.
/// Used by verifiers that rebuild a whole log and by tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash; one node hash per completed parent (one per leaf amortised).
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(hash);
            // An even length means the new node is a right child: its parent is complete.
            let len = row.len();
            if len % 2 == 1 {
                return;
            }
            let Some(left) = row.get(len - 2) else {
                return;
            };
            hash = node_hash(left, &hash);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).unwrap_or_else(empty_root)
    }

    /// Root of the first `size` leaves, None if size > self.size().
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size > self.size() {
            return None;
        }
        root(&mut &*self, size).ok()
    }

    /// Stored perfect node, if complete.
    pub fn get(&self, level: u32, index: u64) -> Option<Hash> {
        let row = self.levels.get(usize::try_from(level).ok()?)?;
        row.get(usize::try_from(index).ok()?).copied()
    }
}

impl NodeSource for &MemoryTree {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.get(level, index).ok_or(MissingNode { level, index })
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.get(level, index).ok_or(MissingNode { level, index })
    }
}

/// The stored nodes an operation will read, found by running it against
/// a source that answers every read with a placeholder. Which nodes a root
/// or proof reads depends only on sizes and indices, never on hash values,
/// so a store that reads over a network can fetch them all in one round
/// trip and run the operation again on a [`NodeMap`].
pub fn nodes_read_by<T, E, F>(op: F) -> Vec<(u32, u64)>
where
    E: std::error::Error + 'static,
    F: FnOnce(&mut NodePlan) -> Result<T, MerkleError<E>>,
{
    let mut plan = NodePlan::default();
    // The outcome does not matter: only which reads were made.
    let _ = op(&mut plan);
    plan.into_reads()
}

/// A [`NodeSource`] that records reads (see [`nodes_read_by`]).
#[derive(Debug, Default)]
pub struct NodePlan {
    reads: Vec<(u32, u64)>,
}

impl NodePlan {
    /// The nodes read, each once, in (level, index) order.
    pub fn into_reads(mut self) -> Vec<(u32, u64)> {
        self.reads.sort_unstable();
        self.reads.dedup();
        self.reads
    }
}

impl NodeSource for NodePlan {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.reads.push((level, index));
        Ok([0; 32])
    }
}

/// Stored nodes fetched ahead, by (level, index).
#[derive(Debug, Default, Clone)]
pub struct NodeMap(pub std::collections::HashMap<(u32, u64), Hash>);

impl NodeSource for NodeMap {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}
