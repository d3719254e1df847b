//! Receipts: every write answers with the index of its entry in the
//! verifiable log, as the `Datacoop-Log-Index` header (and, where the
//! body is a JSON object, its `log_index` field), so that whoever made it
//! can later ask for its inclusion proof.

use axum::http::HeaderValue;
use axum::response::{IntoResponseParts, ResponseParts};

/// The header that carries a write's log index.
pub const LOG_INDEX_HEADER: &str = "datacoop-log-index";

/// The log index of a write, when it wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt(pub Option<u64>);

impl IntoResponseParts for Receipt {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(index) = self.0 {
            parts
                .headers_mut()
                .insert(LOG_INDEX_HEADER, HeaderValue::from(index));
        }
        Ok(parts)
    }
}

/// An empty answer with only the receipt (`204 No Content` writes).
impl axum::response::IntoResponse for Receipt {
    fn into_response(self) -> axum::response::Response {
        (self, ()).into_response()
    }
}
