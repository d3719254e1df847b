//! The one HTTP error type. Every failure, from any layer, leaves the
//! server as an RFC 9457 problem document; this is the only module that
//! turns errors into status codes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datacoop_wire::{FieldError, Problem};

use crate::domain::FieldErrors;
use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not the JSON shape the call takes.
    #[error("{0}")]
    Malformed(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("this token may not call this endpoint")]
    Forbidden,
    /// This caller may not, for the reason given.
    #[error("{0}")]
    Refused(String),
    /// It existed, and is gone for good.
    #[error("{0}")]
    Gone(String),
    #[error("no such resource")]
    NotFound,
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    #[error("the request body must be `application/json`")]
    UnsupportedMediaType,
    /// Well-formed but invalid, field by field.
    #[error("the request is invalid: {0}")]
    Validation(FieldErrors),
    #[error("the request took longer than the server allows")]
    Timeout,
    #[error("{0}")]
    Unavailable(&'static str),
    /// Over a rate limit; `Retry-After` tells when to try again.
    #[error("too many failed attempts from this address; retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// Anything else: logged with its chain, answered as a bare 500.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Refused(_) => StatusCode::FORBIDDEN,
            Self::Gone(_) => StatusCode::GONE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed-request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden | Self::Refused(_) => "forbidden",
            Self::Gone(_) => "gone",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Validation(_) => "validation",
            Self::Timeout => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::TooManyRequests { .. } => "too-many-requests",
            Self::Internal(_) => "internal",
        }
    }

    /// A field-level validation failure on one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let errors = match self {
            Self::Validation(errors) => errors
                .iter()
                .map(|invalid| FieldError {
                    field: invalid.field.clone(),
                    message: invalid.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let detail = match self {
            Self::Validation(_) => {
                "the request is well-formed but some fields are invalid; see `errors`".to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("urn:datacoop:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        Self::Validation(errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::Conflict("conflicts with an existing record".to_owned()),
            // The caller's token belonged to a member who has just left.
            StoreError::MemberGone => Self::Unauthorized,
            StoreError::OverLimit { what, limit } => Self::invalid(
                "",
                format!("refused: the co-op allows at most {limit} {what}"),
            ),
            // The database cannot be reached, so this process cannot tell
            // whether what it holds is current: no answer from memory.
            other if other.is_unavailable() => {
                tracing::warn!(error = format!("{other:#}"), "database unavailable");
                Self::Unavailable("the database is unavailable; try again shortly")
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::consent::EngineError> for ApiError {
    fn from(error: crate::consent::EngineError) -> Self {
        match error {
            crate::consent::EngineError::Store(error) => Self::from(error),
            other => Self::internal(other),
        }
    }
}

impl From<crate::app::AppError> for ApiError {
    fn from(error: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match error {
            AppError::Invalid(errors) => Self::Validation(errors),
            AppError::Conflict(message) => Self::Conflict(message.to_owned()),
            AppError::Store(error) => Self::from(error),
            AppError::Engine(error) => Self::from(error),
            AppError::Random(error) => Self::internal(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            // The whole chain, once; the client sees only "internal error".
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let mut response = (self.status(), Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if matches!(self, Self::Unauthorized) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::TooManyRequests { retry_after_secs } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let error = ApiError::internal(anyhow::anyhow!("relation \"members\" does not exist"));
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.detail, "internal error");
        assert_eq!(problem.problem_type, "urn:datacoop:problem:internal");
    }

    #[test]
    fn validation_lists_fields() {
        let problem = ApiError::invalid("registry", "unknown registry").problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.title, "Unprocessable Entity");
        assert_eq!(problem.errors.len(), 1);
        assert_eq!(problem.errors[0].field, "registry");
    }

    #[test]
    fn unique_violations_become_conflicts() {
        assert_eq!(
            ApiError::from(StoreError::Conflict).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(StoreError::UnsupportedUrl).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
