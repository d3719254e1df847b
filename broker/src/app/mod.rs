//! The use cases: what a call does, between the HTTP edge (which parses
//! the request and shapes the answer) and the engine and the store. A
//! handler parses, calls one function here, and converts the result to
//! the wire; nothing here knows JSON shapes or status codes.

pub mod access;
pub mod export;
pub mod members;

use crate::consent::EngineError;
use crate::store::StoreError;

/// Why a use case failed: the store or the engine.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}
