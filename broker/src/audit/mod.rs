//! The verifiable log's cryptography (issue 9), pure: no database, no
//! HTTP. `tree` is the RFC 9162 Merkle tree over the log's entries, in two
//! passes so its stored hashes can be read asynchronously; `note` signs
//! and opens C2SP signed notes with Ed25519 keys, and reads and writes the
//! checkpoints (tree heads) they carry.

pub mod note;
pub mod tree;
