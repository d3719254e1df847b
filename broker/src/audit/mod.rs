//! The verifiable log (issue 9): every consent or membership change and
//! every third-party access as an entry of an append-only Merkle tree
//! (RFC 9162 §2.1), written in the transaction of the change it records
//! (`store::Change`).
//!
//! `entry`: what each entry says, in canonical JSON. `tree` is the Merkle
//! tree over the entries, in two passes so its stored hashes can be read
//! asynchronously; `note` signs and opens C2SP signed notes with Ed25519
//! keys, and reads and writes the checkpoints (tree heads) they carry.
//! `tree` and `note` are pure: no database, no HTTP.

pub mod entry;
pub mod note;
pub mod tree;
