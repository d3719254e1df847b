//! The verifiable log's cryptography (issue 9), pure: no database, no
//! HTTP. `tree` is the RFC 9162 Merkle tree over the log's entries, in two
//! passes so its stored hashes can be read asynchronously.

pub mod tree;
