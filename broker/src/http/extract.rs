//! Extractors whose failures are problem documents like every other error
//! (STYLE rule 8).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body: 415 unless the content type is JSON, 413 over the limit,
/// 400 when it is not JSON, 422 when it is JSON of the wrong shape (with
/// the path of the offending field).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::Malformed("the request body could not be read".to_owned())
                }
            })?;
        parse_json(&bytes).map(Json)
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes `bytes`, telling syntax errors (400) from shape errors (422).
///
/// When parsing fails the syntax is checked on its own: serde_json reports
/// some shape errors (a number where an enum belongs) as syntax errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => {
            // Trailing characters after the value are a syntax error.
            deserializer.end().map_err(|error| malformed(&error))?;
            Ok(value)
        }
        Err(error) => {
            // Only on failure: was it the syntax or the shape?
            if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                return Err(malformed(&syntax));
            }
            let path = error.path().to_string();
            let field = if path == "." { String::new() } else { path };
            Err(ApiError::invalid(
                &field,
                strip_position(&error.into_inner().to_string()),
            ))
        }
    }
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::Malformed(format!("the request body is not valid JSON: {error}"))
}

/// serde_json appends " at line L column C"; for shape errors the field
/// path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message.get(..index).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

/// The raw query string as pairs; handlers validate what they read, so a
/// bad value is a 422 that names its parameter.
#[derive(Debug, Clone, Default)]
pub struct RawQuery(pub Vec<(String, String)>);

impl RawQuery {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// 422 for any parameter not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<&Self, ApiError> {
        match self
            .0
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        {
            Some((key, _)) => Err(ApiError::invalid(key, "unknown query parameter")),
            None => Ok(self),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(Self(
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialization is under test")]
    struct Body {
        name: String,
        count: Option<u8>,
    }

    fn field_of(error: ApiError) -> (StatusCode, String) {
        let status = error.status();
        let problem = error.problem();
        (
            status,
            problem
                .errors
                .first()
                .map(|e| e.field.clone())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn syntax_errors_are_400() {
        for body in ["{", "not json", "{\"name\": \"a\"} trailing", ""] {
            let error = parse_json::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{body}");
        }
    }

    #[test]
    fn shape_errors_are_422_with_the_field() {
        let (status, field) =
            field_of(parse_json::<Body>(br#"{"name": "a", "count": 300}"#).unwrap_err());
        assert_eq!(
            (status, field.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "count")
        );
        let (status, _) = field_of(parse_json::<Body>(br#"{"count": 1}"#).unwrap_err());
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let error = parse_json::<Body>(br#"{"name": "a", "colour": 1}"#).unwrap_err();
        assert!(
            error.problem().errors[0]
                .message
                .contains("unknown field `colour`")
        );
        let (status, _) = field_of(parse_json::<Body>(b"[]").unwrap_err());
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn json_content_types() {
        let value = |text: &'static str| header::HeaderValue::from_static(text);
        assert!(is_json(Some(&value("application/json"))));
        assert!(is_json(Some(&value("application/json; charset=utf-8"))));
        assert!(is_json(Some(&value("application/merge-patch+json"))));
        assert!(!is_json(Some(&value("text/plain"))));
        assert!(!is_json(None));
    }
}
