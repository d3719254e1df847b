//! The verifiable log's Merkle tree (RFC 9162 §2.1) against an independent
//! implementation, ct-merkle: for every tree of 1 to 1000 leaves, built by
//! appends through the two-pass API over a map standing in for the stored
//! hash table, the root, every inclusion proof and every consistency proof
//! equal ct-merkle's and verify with it; and mutated proofs are refused by
//! our `verify_*` (or, for a claimed size that the proof cannot tell
//! apart, answered as ct-merkle answers).

use std::collections::HashMap;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use datacoop_broker::audit::tree::{self, Hash, TreeError};
use sha2::Sha256;

const LARGEST: u64 = 1000;

/// Only the hashes `needs` lists, from `store`: what a fetch returns.
fn fetch(store: &HashMap<u64, Hash>, needs: &[u64]) -> HashMap<u64, Hash> {
    needs.iter().map(|index| (*index, store[index])).collect()
}

fn bytes(proof: &[Hash]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 * proof.len());
    for hash in proof {
        bytes.extend_from_slice(&hash.0);
    }
    bytes
}

fn reference_root(root: Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new(root.0.into(), size)
}

/// The proof with one bit flipped, chosen by `seed`.
fn flip_bit(proof: &[Hash], seed: u64) -> Vec<Hash> {
    let mut flipped = proof.to_vec();
    let position = (seed as usize) % flipped.len();
    let bit = (seed as usize / 7) % 256;
    flipped[position].0[bit / 8] ^= 1 << (bit % 8);
    flipped
}

fn without_last(proof: &[Hash]) -> Vec<Hash> {
    proof[..proof.len() - 1].to_vec()
}

fn with_extra(proof: &[Hash], extra: Hash) -> Vec<Hash> {
    let mut longer = proof.to_vec();
    longer.push(extra);
    longer
}

/// The directions (is the path's node a left child?) from leaf `index` up
/// to the root of a tree of `size` leaves: all an inclusion proof's
/// verification depends on besides the hashes (RFC 9162 §2.1.3.2).
fn path_shape(index: u64, size: u64) -> Vec<bool> {
    if size <= 1 {
        return Vec::new();
    }
    // The largest power of two below `size` (RFC 9162 §2.1.1's k).
    let split = 1 << (63 - (size - 1).leading_zeros());
    let (mut shape, left) = if index < split {
        (path_shape(index, split), true)
    } else {
        (path_shape(index - split, size - split), false)
    };
    shape.push(left);
    shape
}

struct Log {
    store: HashMap<u64, Hash>,
    reference: MemoryBackedTree<Sha256, Vec<u8>>,
    entries: Vec<Vec<u8>>,
    /// `roots[size]`, `roots[0]` being the empty tree's.
    roots: Vec<Hash>,
}

impl Log {
    fn new() -> Self {
        Self {
            store: HashMap::new(),
            reference: MemoryBackedTree::new(),
            entries: Vec::new(),
            roots: vec![tree::EMPTY_ROOT],
        }
    }

    fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Appends one entry through the two-pass API and checks the new root.
    fn append(&mut self) {
        let n = self.size();
        let entry = format!("entry {n}").into_bytes();
        let known = fetch(&self.store, &tree::append_needs(n).unwrap());
        for (index, hash) in tree::append(n, tree::leaf_hash(&entry), &known).unwrap() {
            assert!(
                self.store.insert(index, hash).is_none(),
                "stored hash {index} rewritten"
            );
        }
        self.reference.push(entry.clone());
        self.entries.push(entry);
        let size = n + 1;
        let root = tree::root(size, &fetch(&self.store, &tree::root_needs(size).unwrap())).unwrap();
        assert_eq!(
            &root.0[..],
            &self.reference.root().as_bytes()[..],
            "root of {size}"
        );
        self.roots.push(root);
    }

    fn leaf(&self, index: u64) -> Hash {
        tree::leaf_hash(&self.entries[index as usize])
    }

    fn check_inclusion(&self, index: u64, mutate: bool) {
        let size = self.size();
        let known = fetch(&self.store, &tree::inclusion_needs(index, size).unwrap());
        let proof = tree::inclusion_proof(index, size, &known).unwrap();
        let proof_bytes = bytes(&proof);
        assert_eq!(
            proof_bytes,
            self.reference.prove_inclusion(index as usize).as_bytes(),
            "inclusion of {index} in {size}"
        );
        let reference_proof = InclusionProof::<Sha256>::try_from_bytes(proof_bytes).unwrap();
        let entry = &self.entries[index as usize];
        let root = self.roots[size as usize];
        reference_root(root, size)
            .verify_inclusion(entry, index, &reference_proof)
            .unwrap();
        let leaf = self.leaf(index);
        tree::verify_inclusion(leaf, index, size, root, &proof).unwrap();
        if !mutate {
            return;
        }

        let refused = |leaf: Hash, index: u64, size: u64, proof: &[Hash]| {
            matches!(
                tree::verify_inclusion(leaf, index, size, root, proof),
                Err(TreeError::InvalidProof | TreeError::IndexOutOfRange { .. })
            )
        };
        let seed = index * 31 + size;
        if !proof.is_empty() {
            assert!(
                refused(leaf, index, size, &flip_bit(&proof, seed)),
                "{index} of {size}: bit"
            );
            assert!(
                refused(leaf, index, size, &without_last(&proof)),
                "{index} of {size}: drop"
            );
        }
        assert!(
            refused(leaf, index, size, &with_extra(&proof, root)),
            "{index} of {size}: extra"
        );
        let mut wrong_leaf = leaf;
        wrong_leaf.0[(seed % 32) as usize] ^= 1;
        assert!(
            refused(wrong_leaf, index, size, &proof),
            "{index} of {size}: leaf"
        );
        if size > 1 {
            let other = if index + 1 < size {
                index + 1
            } else {
                index - 1
            };
            assert!(
                refused(leaf, other, size, &proof),
                "{index} of {size}: index {other}"
            );
        }
        // A claimed size is bound only through the path's shape: a proof
        // verifies under any size giving the leaf the same path.
        for claimed in [size - 1, size + 1, 2 * size + 1] {
            if claimed == 0 {
                continue;
            }
            let ours = tree::verify_inclusion(leaf, index, claimed, root, &proof).is_ok();
            let same_shape =
                index < claimed && path_shape(index, claimed) == path_shape(index, size);
            assert_eq!(ours, same_shape, "{index} of {size} claimed as {claimed}");
            let theirs = reference_root(root, claimed)
                .verify_inclusion(entry, index, &reference_proof)
                .is_ok();
            assert_eq!(
                ours, theirs,
                "{index} of {size} claimed as {claimed}: ct-merkle"
            );
        }
    }

    fn check_consistency(&self, first: u64, mutate: bool) {
        let second = self.size();
        let known = fetch(
            &self.store,
            &tree::consistency_needs(first, second).unwrap(),
        );
        let proof = tree::consistency_proof(first, second, &known).unwrap();
        let proof_bytes = bytes(&proof);
        assert_eq!(
            proof_bytes,
            self.reference
                .prove_consistency((second - first) as usize)
                .as_bytes(),
            "consistency of {first} with {second}"
        );
        let reference_proof = ConsistencyProof::<Sha256>::try_from_bytes(proof_bytes).unwrap();
        let (first_root, second_root) = (self.roots[first as usize], self.roots[second as usize]);
        reference_root(second_root, second)
            .verify_consistency(&reference_root(first_root, first), &reference_proof)
            .unwrap();
        tree::verify_consistency(first, first_root, second, second_root, &proof).unwrap();
        if !mutate {
            return;
        }

        let refused = |first: u64, first_root: Hash, second: u64, proof: &[Hash]| {
            matches!(
                tree::verify_consistency(first, first_root, second, second_root, proof),
                Err(TreeError::InvalidProof | TreeError::ConsistencyRange { .. })
            )
        };
        let seed = first * 31 + second;
        if !proof.is_empty() {
            assert!(
                refused(first, first_root, second, &flip_bit(&proof, seed)),
                "{first}-{second}: bit"
            );
            assert!(
                refused(first, first_root, second, &without_last(&proof)),
                "{first}-{second}: drop"
            );
        }
        assert!(
            refused(first, first_root, second, &with_extra(&proof, second_root)),
            "{first}-{second}: extra"
        );
        let other_root = self.roots[(first - 1) as usize];
        assert!(
            refused(first, other_root, second, &proof),
            "{first}-{second}: first root"
        );
        // Other claimed sizes: refused, or answered as ct-merkle answers.
        let claims = [
            (first - 1, second),
            (first + 1, second),
            (first, second - 1),
            (first, second + 1),
        ];
        for (claimed_first, claimed_second) in claims {
            let ours = tree::verify_consistency(
                claimed_first,
                first_root,
                claimed_second,
                second_root,
                &proof,
            );
            let theirs = claimed_first >= 1
                && claimed_first <= claimed_second
                && reference_root(second_root, claimed_second)
                    .verify_consistency(
                        &reference_root(first_root, claimed_first),
                        &reference_proof,
                    )
                    .is_ok();
            assert_eq!(
                ours.is_ok(),
                theirs,
                "{first}-{second} claimed as {claimed_first}-{claimed_second}"
            );
        }
    }
}

/// Every proof is compared with ct-merkle's and verified, but mutated
/// proofs are checked for a sample: one position in eight, and the first
/// two and the last of every tree. Mutating every proof took 96 s of CPU
/// in a debug build, against 47 s for this sample, most of it in
/// ct-merkle's generic code, which is compiled unoptimised with the tests.
fn mutate(position: u64, size: u64) -> bool {
    position <= 1 || position == size - 1 || (position + size).is_multiple_of(8)
}

/// Every tree of `sizes` leaves: its root, every inclusion proof and every
/// consistency proof (from every smaller non-empty tree). The work grows
/// with the square of the size, so the range is split in two tests of
/// about the same cost, which run in parallel.
fn check_trees(sizes: std::ops::RangeInclusive<u64>) {
    let mut log = Log::new();
    while log.size() + 1 < *sizes.start() {
        log.append();
    }
    for size in sizes {
        log.append();
        assert_eq!(log.size(), size);
        for index in 0..size {
            log.check_inclusion(index, mutate(index, size));
        }
        for first in 1..=size {
            log.check_consistency(first, mutate(first, size));
        }
    }
}

#[test]
fn rfc9162_trees_of_1_to_707_leaves_match_ct_merkle() {
    check_trees(1..=707);
}

#[test]
fn rfc9162_trees_of_708_to_1000_leaves_match_ct_merkle() {
    check_trees(708..=LARGEST);
}

#[test]
fn rfc9162_appends_store_each_hash_once() {
    let mut log = Log::new();
    for _ in 0..LARGEST {
        log.append();
    }
    // n leaves and the n - popcount(n) subtrees they complete.
    assert_eq!(
        log.store.len() as u64,
        2 * LARGEST - u64::from(LARGEST.count_ones())
    );
}

/// `check-db`'s streaming rebuild gives ct-merkle's root at every size.
#[test]
fn rfc9162_rebuilt_from_leaves_alone_matches_ct_merkle() {
    let mut reference = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    let mut rebuilt = tree::Rebuilt::default();
    assert_eq!(rebuilt.root(), tree::EMPTY_ROOT);
    for n in 0..LARGEST {
        let entry = format!("entry {n}").into_bytes();
        rebuilt.push(tree::leaf_hash(&entry));
        reference.push(entry);
        assert_eq!(rebuilt.size(), n + 1);
        assert_eq!(
            &rebuilt.root().0[..],
            &reference.root().as_bytes()[..],
            "root of {}",
            n + 1
        );
    }
}

/// A bulk load appends holding only the peaks (`tree::peaks`): one hash
/// per set bit of the size, and every root still ct-merkle's.
#[test]
fn rfc9162_appends_from_the_peaks_alone_match_ct_merkle() {
    let mut reference = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    let mut known = HashMap::new();
    let mut stored = HashMap::new();
    for n in 0..LARGEST {
        let entry = format!("entry {n}").into_bytes();
        let new = tree::append(n, tree::leaf_hash(&entry), &known).unwrap();
        stored.extend(new.iter().copied());
        known.extend(new);
        let peaks: Vec<u64> = tree::peaks(n + 1).unwrap();
        known.retain(|index, _| peaks.contains(index));
        assert_eq!(known.len(), peaks.len());
        assert_eq!(peaks.len() as u32, (n + 1).count_ones());
        reference.push(entry);
        let root = tree::root(n + 1, &fetch(&stored, &tree::root_needs(n + 1).unwrap())).unwrap();
        assert_eq!(&root.0[..], &reference.root().as_bytes()[..]);
    }
}
