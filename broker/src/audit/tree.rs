//! The log's Merkle tree (RFC 9162 §2.1): leaf and root hashes, inclusion
//! and consistency proofs, and their verification.
//!
//! The math is `tlog_tiles`' (Cloudflare's port of Go's `sumdb/tlog`). The
//! tree's hashes live in the caller's storage at `tlog_tiles`' *stored hash
//! indexes*: leaf `n`'s hash, then the hash of every subtree that leaf
//! completes, are written once, at consecutive indexes, when `n` is
//! appended, and never change. Reading them may be asynchronous, and
//! `tlog_tiles` reads synchronously, so every operation comes in two
//! passes that do no I/O: `*_needs` lists the stored hashes to fetch, then
//! the operation runs over what was fetched. Each pass runs `tlog_tiles`
//! with a reader of its own: one that records what is asked for and
//! answers with zeros, then one that answers from the fetched map (which
//! `tlog_tiles` asks for exactly the same indexes, since they depend on
//! the sizes only).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use tlog_tiles::HashReader;

/// A SHA-256 hash: a leaf, an interior node or a root.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The standard base64 (RFC 4648 §4) of the hash, as checkpoints and
    /// proofs carry it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses the standard, padded base64 of exactly 32 bytes; anything
    /// else (whitespace, URL-safe letters, stray bits) is refused.
    pub fn from_base64(text: &str) -> Result<Self, TreeError> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| TreeError::MalformedHash)?;
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| TreeError::MalformedHash)
    }

    fn to_tlog(self) -> tlog_tiles::Hash {
        tlog_tiles::Hash(self.0)
    }

    fn from_tlog(hash: tlog_tiles::Hash) -> Self {
        Self(hash.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hash(")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = Hash(tlog_tiles::EMPTY_HASH.0);

/// The largest tree these functions accept. A tree of `2^62` leaves
/// stores fewer than `2^63` hashes, so every stored hash index fits an SQL
/// `BIGINT` and `tlog_tiles`' index arithmetic cannot overflow (which
/// would panic).
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// A valid proof holds at most one hash per level of the tree, plus one
/// (a consistency proof's starting node): 63 in a tree of
/// [`MAX_TREE_SIZE`] leaves. Longer ones are refused before any hashing.
const MAX_PROOF_LEN: usize = 64;

/// Why a tree operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("tree size {size} is above the largest supported, {MAX_TREE_SIZE}")]
    SizeTooLarge { size: u64 },
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 1 <= first <= second, got first {first}, second {second}")]
    ConsistencyRange { first: u64, second: u64 },
    #[error("stored hash {index} is needed but was not fetched")]
    MissingHash { index: u64 },
    #[error("the proof does not verify")]
    InvalidProof,
    #[error("a hash must be the standard base64 encoding of 32 bytes")]
    MalformedHash,
    #[error("the Merkle tree library refused the operation")]
    Library(#[source] tlog_tiles::Error),
}

/// The hash of a log entry as a leaf: SHA-256(0x00 || entry) (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Hash::from_tlog(tlog_tiles::record_hash(entry))
}

/// The stored hashes that [`append`] reads to append leaf `n`.
pub fn append_needs(n: u64) -> Result<Vec<u64>, TreeError> {
    check_size(n.saturating_add(1))?;
    recorded(|reader| {
        tlog_tiles::stored_hashes_for_record_hash(n, tlog_tiles::Hash::default(), reader)
    })
}

/// Appends leaf number `n` (0-based), whose hash is `leaf`, to the tree of
/// size `n`: the stored hashes to insert, as `(index, hash)`: the leaf's
/// own, then one per subtree it completes. `known` holds (at least) the
/// hashes [`append_needs`] listed.
pub fn append(
    n: u64,
    leaf: Hash,
    known: &HashMap<u64, Hash>,
) -> Result<Vec<(u64, Hash)>, TreeError> {
    check_size(n.saturating_add(1))?;
    let hashes = from_known(known, |reader| {
        tlog_tiles::stored_hashes_for_record_hash(n, leaf.to_tlog(), reader)
    })?;
    let first = tlog_tiles::stored_hash_index(0, n);
    Ok((first..)
        .zip(hashes)
        .map(|(index, hash)| (index, Hash::from_tlog(hash)))
        .collect())
}

/// The stored hashes of the roots of the complete subtrees a tree of
/// `size` leaves splits into, largest first: of the hashes stored so far,
/// all that later appends read (they write the rest themselves).
pub fn peaks(size: u64) -> Result<Vec<u64>, TreeError> {
    check_size(size)?;
    let mut peaks = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        let width = 1u64 << level;
        if size & width != 0 {
            peaks.push(tlog_tiles::stored_hash_index(level, start >> level));
            start += width;
        }
    }
    Ok(peaks)
}

/// The stored hash index of leaf `n`: every hash stored for the leaves
/// before it has a smaller index, every later one a larger.
pub fn first_stored_index(n: u64) -> u64 {
    tlog_tiles::stored_hash_index(0, n)
}

/// The stored hashes that [`root`] reads.
pub fn root_needs(size: u64) -> Result<Vec<u64>, TreeError> {
    check_size(size)?;
    recorded(|reader| tlog_tiles::tree_hash(size, reader))
}

/// The root of the tree of `size` leaves ([`EMPTY_ROOT`] for none).
pub fn root(size: u64, known: &HashMap<u64, Hash>) -> Result<Hash, TreeError> {
    check_size(size)?;
    from_known(known, |reader| tlog_tiles::tree_hash(size, reader)).map(Hash::from_tlog)
}

/// The stored hashes that [`inclusion_proof`] reads.
pub fn inclusion_needs(index: u64, size: u64) -> Result<Vec<u64>, TreeError> {
    check_inclusion(index, size)?;
    recorded(|reader| tlog_tiles::prove_record(size, index, reader))
}

/// The proof that leaf `index` is in the tree of `size` leaves, from the
/// leaf's sibling up to the root's child (RFC 9162 §2.1.3.1).
pub fn inclusion_proof(
    index: u64,
    size: u64,
    known: &HashMap<u64, Hash>,
) -> Result<Vec<Hash>, TreeError> {
    check_inclusion(index, size)?;
    from_known(known, |reader| {
        tlog_tiles::prove_record(size, index, reader)
    })
    .map(from_tlog_proof)
}

/// The stored hashes that [`consistency_proof`] reads.
pub fn consistency_needs(first: u64, second: u64) -> Result<Vec<u64>, TreeError> {
    check_consistency(first, second)?;
    recorded(|reader| tlog_tiles::prove_tree(second, first, reader))
}

/// The proof that the tree of `first` leaves is a prefix of the tree of
/// `second` leaves (RFC 9162 §2.1.4.1); empty when they are the same size.
pub fn consistency_proof(
    first: u64,
    second: u64,
    known: &HashMap<u64, Hash>,
) -> Result<Vec<Hash>, TreeError> {
    check_consistency(first, second)?;
    from_known(known, |reader| {
        tlog_tiles::prove_tree(second, first, reader)
    })
    .map(from_tlog_proof)
}

/// Checks that `proof` shows the leaf `leaf` at `index` in the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: Hash,
    index: u64,
    size: u64,
    root: Hash,
    proof: &[Hash],
) -> Result<(), TreeError> {
    check_inclusion(index, size)?;
    if proof.len() > MAX_PROOF_LEN {
        return Err(TreeError::InvalidProof);
    }
    tlog_tiles::check_record(
        &to_tlog_proof(proof),
        size,
        root.to_tlog(),
        index,
        leaf.to_tlog(),
    )
    .map_err(verification_error)
}

/// Checks that `proof` shows the tree of `first` leaves with root
/// `first_root` to be a prefix of the tree of `second` leaves with root
/// `second_root` (RFC 9162 §2.1.4.2). Trees of the same size are
/// consistent when their roots are equal and the proof is empty.
pub fn verify_consistency(
    first: u64,
    first_root: Hash,
    second: u64,
    second_root: Hash,
    proof: &[Hash],
) -> Result<(), TreeError> {
    check_consistency(first, second)?;
    if proof.len() > MAX_PROOF_LEN {
        return Err(TreeError::InvalidProof);
    }
    tlog_tiles::check_tree(
        &to_tlog_proof(proof),
        second,
        second_root.to_tlog(),
        first,
        first_root.to_tlog(),
    )
    .map_err(verification_error)
}

/// The tree rebuilt from its leaves alone, one at a time, keeping only
/// the roots of its complete subtrees (O(log n) memory): how
/// `datacoop audit check-db` recomputes the whole log from its entries.
#[derive(Debug, Clone, Default)]
pub struct Rebuilt {
    size: u64,
    /// The roots of the complete subtrees, largest (leftmost) first.
    peaks: Vec<Hash>,
}

impl Rebuilt {
    /// Appends the next leaf.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        // Each trailing one bit of the size is a complete subtree of the
        // same height as `hash`, just left of it: merge them.
        while size & 1 == 1 {
            let Some(left) = self.peaks.pop() else {
                break;
            };
            hash = Hash::from_tlog(tlog_tiles::node_hash(left.to_tlog(), hash.to_tlog()));
            size >>= 1;
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// How many leaves were pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree of the leaves pushed (RFC 9162 §2.1.1): the
    /// peaks folded from the right.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return EMPTY_ROOT;
        };
        peaks.fold(*last, |right, left| {
            Hash::from_tlog(tlog_tiles::node_hash(left.to_tlog(), right.to_tlog()))
        })
    }
}

fn check_size(size: u64) -> Result<(), TreeError> {
    if size > MAX_TREE_SIZE {
        return Err(TreeError::SizeTooLarge { size });
    }
    Ok(())
}

fn check_inclusion(index: u64, size: u64) -> Result<(), TreeError> {
    check_size(size)?;
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    Ok(())
}

fn check_consistency(first: u64, second: u64) -> Result<(), TreeError> {
    check_size(second)?;
    if first == 0 || first > second {
        return Err(TreeError::ConsistencyRange { first, second });
    }
    Ok(())
}

fn verification_error(error: tlog_tiles::Error) -> TreeError {
    match error {
        tlog_tiles::Error::InvalidProof => TreeError::InvalidProof,
        other => TreeError::Library(other),
    }
}

fn to_tlog_proof(proof: &[Hash]) -> Vec<tlog_tiles::Hash> {
    proof.iter().map(|hash| hash.to_tlog()).collect()
}

fn from_tlog_proof(proof: Vec<tlog_tiles::Hash>) -> Vec<Hash> {
    proof.into_iter().map(Hash::from_tlog).collect()
}

/// The first pass: the indexes `operation` reads, in the order it reads them.
fn recorded<T>(
    operation: impl FnOnce(&Recorder) -> Result<T, tlog_tiles::Error>,
) -> Result<Vec<u64>, TreeError> {
    let recorder = Recorder::default();
    operation(&recorder).map_err(TreeError::Library)?;
    Ok(recorder.indexes.into_inner())
}

/// The second pass: `operation` over the fetched hashes.
fn from_known<T>(
    known: &HashMap<u64, Hash>,
    operation: impl FnOnce(&Known<'_>) -> Result<T, tlog_tiles::Error>,
) -> Result<T, TreeError> {
    let reader = Known {
        hashes: known,
        missing: Cell::new(None),
    };
    operation(&reader).map_err(|error| match reader.missing.get() {
        Some(index) => TreeError::MissingHash { index },
        None => TreeError::Library(error),
    })
}

/// Records the indexes asked for and answers with zero hashes.
#[derive(Debug, Default)]
struct Recorder {
    indexes: RefCell<Vec<u64>>,
}

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        self.indexes.borrow_mut().extend_from_slice(indexes);
        Ok(vec![tlog_tiles::Hash::default(); indexes.len()])
    }
}

/// Answers from the fetched hashes. `tlog_tiles` panics when a reader
/// returns fewer hashes than asked for, so a missing one is an error,
/// remembered to name it.
#[derive(Debug)]
struct Known<'a> {
    hashes: &'a HashMap<u64, Hash>,
    missing: Cell<Option<u64>>,
}

impl HashReader for Known<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|index| match self.hashes.get(index) {
                Some(hash) => Ok(hash.to_tlog()),
                None => {
                    self.missing.set(Some(*index));
                    Err(tlog_tiles::Error::IndexesNotInTree)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of RFC 6962's reference tests (transparency-dev/merkle
    /// `testonly/reference_test.go`), in hex.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hash(hex: &str) -> Hash {
        Hash(bytes(hex).try_into().unwrap())
    }

    /// Concatenated hex hashes, as the reference tests write proofs.
    fn proof(hex: &str) -> Vec<Hash> {
        let hex: String = hex.split_whitespace().collect();
        (0..hex.len())
            .step_by(64)
            .map(|i| hash(&hex[i..i + 64]))
            .collect()
    }

    /// Only the hashes `needs` lists, taken from `store`: what a fetch returns.
    fn fetch(store: &HashMap<u64, Hash>, needs: &[u64]) -> HashMap<u64, Hash> {
        needs.iter().map(|index| (*index, store[index])).collect()
    }

    /// The stored hashes of a tree of `leaves`, appended one by one.
    fn store_of(leaves: &[Vec<u8>]) -> HashMap<u64, Hash> {
        let mut store = HashMap::new();
        for (n, entry) in (0u64..).zip(leaves) {
            let known = fetch(&store, &append_needs(n).unwrap());
            for (index, hash) in append(n, leaf_hash(entry), &known).unwrap() {
                assert!(
                    store.insert(index, hash).is_none(),
                    "stored hashes never change"
                );
            }
        }
        store
    }

    fn reference_store() -> HashMap<u64, Hash> {
        store_of(&LEAVES.map(bytes))
    }

    fn root_of(store: &HashMap<u64, Hash>, size: u64) -> Hash {
        root(size, &fetch(store, &root_needs(size).unwrap())).unwrap()
    }

    #[test]
    fn rfc9162_2_1_1_the_empty_root_and_the_empty_leaf() {
        assert_eq!(
            EMPTY_ROOT,
            hash("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(root(0, &HashMap::new()).unwrap(), EMPTY_ROOT);
        assert!(root_needs(0).unwrap().is_empty());
        assert_eq!(
            leaf_hash(b""),
            hash("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
    }

    #[test]
    fn rfc9162_2_1_1_roots_of_the_reference_trees() {
        let store = reference_store();
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (size, expected) in (1u64..).zip(roots) {
            assert_eq!(root_of(&store, size), hash(expected), "size {size}");
        }
    }

    #[test]
    fn rfc9162_2_1_3_reference_inclusion_proofs() {
        let store = reference_store();
        let cases = [
            (0, 1, ""),
            (
                0,
                2,
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            ),
            (
                1,
                2,
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            ),
            (
                2,
                3,
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            ),
            (
                1,
                5,
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d
                 5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e
                 bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ),
            (
                0,
                8,
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7
                 5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e
                 6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ),
            (
                5,
                8,
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b
                 ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0
                 d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ),
        ];
        for (index, size, expected) in cases {
            let known = fetch(&store, &inclusion_needs(index, size).unwrap());
            let got = inclusion_proof(index, size, &known).unwrap();
            assert_eq!(got, proof(expected), "leaf {index} of {size}");
            let leaf = leaf_hash(&bytes(LEAVES[index as usize]));
            verify_inclusion(leaf, index, size, root_of(&store, size), &got).unwrap();
        }
    }

    #[test]
    fn rfc9162_2_1_4_reference_consistency_proofs() {
        let store = reference_store();
        let cases = [
            (1, 1, ""),
            (
                1,
                8,
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7
                 5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e
                 6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ),
            (
                2,
                5,
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e
                 bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ),
            (
                6,
                8,
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a
                 ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0
                 d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ),
        ];
        for (first, second, expected) in cases {
            let known = fetch(&store, &consistency_needs(first, second).unwrap());
            let got = consistency_proof(first, second, &known).unwrap();
            assert_eq!(got, proof(expected), "{first} to {second}");
            let (first_root, second_root) = (root_of(&store, first), root_of(&store, second));
            verify_consistency(first, first_root, second, second_root, &got).unwrap();
        }
    }

    #[test]
    fn rfc9162_2_1_4_a_tree_is_consistent_with_itself_only_with_its_own_root() {
        let store = reference_store();
        for size in 1..=8 {
            assert!(consistency_needs(size, size).unwrap().is_empty());
            assert!(
                consistency_proof(size, size, &HashMap::new())
                    .unwrap()
                    .is_empty()
            );
            let root = root_of(&store, size);
            verify_consistency(size, root, size, root, &[]).unwrap();
            let other = root_of(&store, size % 8 + 1);
            assert!(matches!(
                verify_consistency(size, root, size, other, &[]),
                Err(TreeError::InvalidProof)
            ));
            assert!(matches!(
                verify_consistency(size, root, size, root, &[root]),
                Err(TreeError::InvalidProof)
            ));
        }
    }

    #[test]
    fn appending_writes_the_leaf_then_each_subtree_it_completes() {
        let store = reference_store();
        // Leaf 3 completes the subtrees [2, 4) and [0, 4).
        let known = fetch(&store, &append_needs(3).unwrap());
        let rows = append(3, leaf_hash(&bytes(LEAVES[3])), &known).unwrap();
        let indexes: Vec<u64> = rows.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [4, 5, 6]);
        assert_eq!(rows[2].1, root_of(&store, 4));
        assert!(append_needs(0).unwrap().is_empty());
        assert_eq!(
            append(0, leaf_hash(b""), &HashMap::new()).unwrap(),
            [(0, leaf_hash(b""))]
        );
        // Every stored hash of eight leaves, each written once: 8 + 4 + 2 + 1.
        assert_eq!(store.len(), 15);
    }

    #[test]
    fn a_hash_that_was_not_fetched_is_an_error_never_a_panic() {
        let store = reference_store();
        let needs = inclusion_needs(5, 8).unwrap();
        assert_eq!(needs.len(), 3);
        for missing in &needs {
            let mut known = fetch(&store, &needs);
            known.remove(missing);
            assert!(matches!(
                inclusion_proof(5, 8, &known),
                Err(TreeError::MissingHash { index }) if index == *missing
            ));
        }
        assert!(matches!(
            root(7, &HashMap::new()),
            Err(TreeError::MissingHash { .. })
        ));
        assert!(matches!(
            consistency_proof(3, 7, &HashMap::new()),
            Err(TreeError::MissingHash { .. })
        ));
        assert!(matches!(
            append(7, leaf_hash(b"x"), &HashMap::new()),
            Err(TreeError::MissingHash { .. })
        ));
    }

    #[test]
    fn out_of_range_parameters_are_errors_never_panics() {
        let known = HashMap::new();
        let some = leaf_hash(b"");
        for (index, size) in [(0, 0), (8, 8), (9, 8), (u64::MAX, u64::MAX), (u64::MAX, 3)] {
            assert!(inclusion_needs(index, size).is_err(), "{index} of {size}");
            assert!(inclusion_proof(index, size, &known).is_err());
            assert!(verify_inclusion(some, index, size, some, &[]).is_err());
        }
        for (first, second) in [(0, 0), (0, 5), (6, 5), (u64::MAX, 1), (1, u64::MAX)] {
            assert!(
                consistency_needs(first, second).is_err(),
                "{first} to {second}"
            );
            assert!(consistency_proof(first, second, &known).is_err());
            assert!(verify_consistency(first, some, second, some, &[]).is_err());
        }
        let too_large = MAX_TREE_SIZE + 1;
        assert!(matches!(
            root_needs(too_large),
            Err(TreeError::SizeTooLarge { .. })
        ));
        assert!(matches!(
            root(u64::MAX, &known),
            Err(TreeError::SizeTooLarge { .. })
        ));
        assert!(matches!(
            append_needs(MAX_TREE_SIZE),
            Err(TreeError::SizeTooLarge { .. })
        ));
        assert!(matches!(
            append_needs(u64::MAX),
            Err(TreeError::SizeTooLarge { .. })
        ));
        assert!(append(u64::MAX, some, &known).is_err());
        assert!(matches!(
            inclusion_needs(0, too_large),
            Err(TreeError::SizeTooLarge { .. })
        ));
        // The largest tree is accepted: its indexes fit an SQL BIGINT.
        let needs = inclusion_needs(MAX_TREE_SIZE - 1, MAX_TREE_SIZE).unwrap();
        assert_eq!(needs.len(), 62);
        assert!(needs.iter().all(|index| i64::try_from(*index).is_ok()));
        assert!(append_needs(MAX_TREE_SIZE - 1).unwrap().len() == 62);
        assert!(consistency_needs(MAX_TREE_SIZE - 1, MAX_TREE_SIZE).is_ok());
        assert!(matches!(
            verify_inclusion(some, 0, MAX_TREE_SIZE, some, &[some; 62]),
            Err(TreeError::InvalidProof)
        ));
    }

    #[test]
    fn overlong_proofs_are_refused() {
        let store = reference_store();
        let (root, leaf) = (root_of(&store, 8), leaf_hash(b""));
        let long = vec![leaf; MAX_PROOF_LEN + 1];
        assert!(matches!(
            verify_inclusion(leaf, 0, 8, root, &long),
            Err(TreeError::InvalidProof)
        ));
        assert!(matches!(
            verify_consistency(3, root, 8, root, &long),
            Err(TreeError::InvalidProof)
        ));
    }

    #[test]
    fn hashes_read_and_write_strict_standard_base64() {
        let root = hash("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
        let text = root.to_base64();
        assert_eq!(text, "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=");
        assert_eq!(Hash::from_base64(&text).unwrap(), root);
        let refused = [
            "",
            "Xcnaeac",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=",
            " XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQygA",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQygAAA==",
        ];
        for text in refused {
            assert!(
                matches!(Hash::from_base64(text), Err(TreeError::MalformedHash)),
                "{text:?}"
            );
        }
        assert_eq!(
            format!("{EMPTY_ROOT:?}"),
            "Hash(e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855)"
        );
    }
}
