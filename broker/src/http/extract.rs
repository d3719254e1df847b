//! Extractors whose failures are problem documents like every other error
//! (STYLE rule 8).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;

mod strict;

pub use strict::NUL_MESSAGE;
use strict::Strict;

/// A JSON body: 415 unless the content type is JSON, 413 over the limit,
/// 400 when it is not JSON, 422 when it is JSON of the wrong shape (with
/// the path of the offending field), an array where an object belongs,
/// or a string holding NUL.
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
/// Only an object fills a struct, and no string may hold NUL (see
/// `strict`). When parsing fails the syntax is checked on its own:
/// serde_json reports some shape errors (a number where an enum belongs)
/// as syntax errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(Strict(&mut deserializer)) {
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

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        list: Vec<Inner>,
        #[serde(default)]
        choice: Option<Choice>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Choice {
        Plain,
        Named(String),
        Shaped { size: u8 },
    }

    fn error_of<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> (StatusCode, String, String) {
        let error = parse_json::<T>(body.as_bytes()).unwrap_err();
        let problem = error.problem();
        let (field, message) = problem
            .errors
            .first()
            .map(|e| (e.field.clone(), e.message.clone()))
            .unwrap_or_default();
        (error.status(), field, message)
    }

    #[test]
    fn well_formed_objects_still_parse() {
        let parsed = parse_json::<Outer>(
            br#"{"inner": {"name": "a"}, "list": [{"name": "b"}], "choice": {"shaped": {"size": 3}}}"#,
        )
        .unwrap();
        assert_eq!(parsed.list, vec![Inner { name: "b".into() }]);
        assert_eq!(parsed.choice, Some(Choice::Shaped { size: 3 }));
        for (body, choice) in [
            (r#""plain""#, Choice::Plain),
            (r#"{"named": "x"}"#, Choice::Named("x".into())),
        ] {
            let text = format!(r#"{{"inner": {{"name": "a"}}, "list": [], "choice": {body}}}"#);
            assert_eq!(
                parse_json::<Outer>(text.as_bytes()).unwrap().choice,
                Some(choice)
            );
        }
        // Arrays stay arrays, and any JSON value is still a value.
        let value = parse_json::<serde_json::Value>(br#"[1, {"a": ["b"]}, "c"]"#).unwrap();
        assert_eq!(value[1]["a"][0], "b");
    }

    #[test]
    fn arrays_never_stand_for_objects() {
        let cases = [
            (r#"["a", 1]"#, ""),
            (r#"{"inner": ["a"], "list": []}"#, "inner"),
            (
                r#"{"inner": {"name": "a"}, "list": [{"name": "b"}, ["c"]]}"#,
                "list[1]",
            ),
            (
                r#"{"inner": {"name": "a"}, "list": [], "choice": {"shaped": [3]}}"#,
                "choice.shaped",
            ),
        ];
        for (body, field) in cases {
            let (status, path, message) = error_of::<Outer>(body);
            assert_eq!(
                (status, path.as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, field),
                "{body}"
            );
            assert!(message.starts_with("invalid type: sequence"), "{message}");
        }
    }

    #[test]
    fn nul_is_refused_in_every_string_with_its_path() {
        let cases = [
            (
                r#"{"inner": {"name": "a\u0000b"}, "list": []}"#,
                "inner.name",
            ),
            (
                r#"{"inner": {"name": "a"}, "list": [{"name": "ok"}, {"name": "\u0000"}]}"#,
                "list[1].name",
            ),
            (
                r#"{"inner": {"name": "a"}, "list": [], "choice": {"named": "x\u0000"}}"#,
                "choice.named",
            ),
        ];
        for (body, field) in cases {
            let (status, path, message) = error_of::<Outer>(body);
            assert_eq!(
                (status, path.as_str(), message.as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, field, NUL_MESSAGE),
                "{body}"
            );
        }
        // Free-form values too: in a value, and in a key.
        let (status, path, message) =
            error_of::<serde_json::Value>(r#"{"a": [1, {"b": "\u0000"}]}"#);
        assert_eq!(
            (status, path.as_str(), message.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "a[1].b", NUL_MESSAGE)
        );
        let (status, _, message) = error_of::<serde_json::Value>(r#"{"a": {"\u0000": 1}}"#);
        assert_eq!(
            (status, message.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, NUL_MESSAGE)
        );
        // An escaped backslash followed by `u0000` is no NUL.
        let value = parse_json::<serde_json::Value>(br#"{"a": "\\u0000"}"#).unwrap();
        assert_eq!(value["a"], "\\u0000");
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
