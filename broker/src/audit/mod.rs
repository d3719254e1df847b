//! The verifiable log (issue 9): every consent or membership change as an
//! entry of an append-only Merkle tree (RFC 9162 §2.1), written in the
//! transaction of the change it records (`store::Change`).
//!
//! `entry`: what each entry says, in canonical JSON.

pub mod entry;
