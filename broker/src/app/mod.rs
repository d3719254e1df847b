//! The use cases: what a call does, between the HTTP edge (which parses
//! the request into domain types and shapes the answer) and the engine and
//! the store. A handler parses, calls one function here, and converts the
//! result to the wire; nothing here knows JSON shapes or status codes.

pub mod access;
pub mod audit;
pub mod delegations;
pub mod deletion_receipts;
pub mod export;
pub mod licenses;
pub mod members;
pub mod rules;
pub mod sign_in;
pub mod third_parties;

use crate::consent::{CedarError, EngineError};
use crate::domain::FieldErrors;
use crate::store::StoreError;

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is well-formed but breaks a rule of the co-op, field
    /// by field; nothing changed.
    #[error("the request is invalid")]
    Invalid(FieldErrors),
    /// It would contradict what is stored; nothing changed.
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Random(#[from] crate::credentials::RandomError),
}

impl AppError {
    fn compile(error: CedarError) -> Self {
        Self::Engine(EngineError::Cedar(error))
    }
}
