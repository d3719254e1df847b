//! What every page shares: the layout's values, the error pages, the
//! security headers, and forms that carry the session's CSRF value.

use askama::Template;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;

use super::assets::STYLESHEET;
use super::i18n::{Lang, Tr};
use crate::app::AppError;
use crate::http::AppState;
use crate::store::StoreError;
use crate::store::web::WebSession;

/// The pages' Content-Security-Policy: nothing but this origin's style
/// sheet, no script at all, forms only to this origin, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the layout (`templates/base.html`) shows around a page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub tr: Tr,
    pub title: String,
    pub stylesheet: String,
    /// The signed-in session's CSRF value (its forms, sign-out).
    pub csrf: Option<String>,
    pub member: bool,
    pub steward: bool,
    /// This page's path and query, for the language switcher to return to.
    pub here: String,
    /// The section of the navigation this page belongs to.
    pub section: &'static str,
    /// A message about what was just done, shown once at the top.
    pub notice: Option<String>,
}

impl Layout {
    /// A page for someone not signed in.
    pub fn visitor(tr: Tr, title_id: &str, here: &str) -> Self {
        Self {
            title: tr.t(title_id),
            tr,
            stylesheet: STYLESHEET.path(),
            csrf: None,
            member: false,
            steward: false,
            here: here.to_owned(),
            section: "",
            notice: None,
        }
    }

    /// A page of a signed-in session.
    pub fn signed_in(
        tr: Tr,
        session: &WebSession,
        title_id: &str,
        section: &'static str,
        here: &str,
    ) -> Self {
        Self {
            csrf: Some(session.csrf.clone()),
            member: session.holder.member.is_some(),
            steward: session.holder.steward,
            section,
            ..Self::visitor(tr, title_id, here)
        }
    }

    /// The same layout with the notice `id` (from a `done=` query),
    /// if it is one of the known notices.
    pub fn with_notice(mut self, done: Option<&str>) -> Self {
        self.notice = done
            .filter(|done| {
                done.len() < 40 && done.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
            .map(|done| self.tr.t(&format!("done-{done}")));
        self
    }

    /// Whether this page belongs to `section` of the navigation.
    pub fn current(&self, section: impl AsRef<str>) -> bool {
        self.section == section.as_ref()
    }

    /// The members' navigation: section, path, message id.
    pub fn member_sections(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        &[
            ("home", "/", "nav-home"),
            ("consent", "/consent", "nav-consent"),
            ("proxies", "/proxies", "nav-proxies"),
            ("why", "/why", "nav-why"),
            ("access", "/access", "nav-access"),
            ("connections", "/connections", "nav-connections"),
            ("data", "/data", "nav-data"),
            ("receipts", "/receipts", "nav-receipts"),
        ]
    }

    /// The switcher's links: each other language, back to this page.
    pub fn languages(&self) -> Vec<(&'static str, &'static str, String)> {
        Lang::ALL
            .into_iter()
            .filter(|lang| *lang != self.tr.lang)
            .map(|lang| {
                let next: String =
                    url::form_urlencoded::byte_serialize(self.here.as_bytes()).collect();
                (
                    lang.code(),
                    lang.name(),
                    format!("/language/{}?next={next}", lang.code()),
                )
            })
            .collect()
    }
}

/// Renders a template as the page's answer.
pub fn render(template: &impl Template) -> Result<Response, PageError> {
    match template.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(error) => {
            tracing::error!(%error, "a page could not be rendered");
            Err(PageError::Internal)
        }
    }
}

/// After a form: back to `path` with a notice of what was done.
pub fn done(path: &str, notice: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}done={notice}")).into_response()
}

/// Why a page is not shown. The answer carries only the kind of failure;
/// the pages' middleware renders it in the visitor's language.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    /// A sign-in link used, expired or unknown.
    #[error("gone")]
    Gone,
    /// Signed in, but these pages are not the session's.
    #[error("forbidden")]
    Forbidden,
    /// Not signed in (or the session ended): to the sign-in page.
    #[error("sign-in needed")]
    SignIn { expired: bool },
    /// A form without its session's CSRF value, or from another site.
    #[error("the form is not this session's")]
    Csrf,
    /// A request no form of ours sends; the message id says why.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// It contradicts what is stored; the message id says how.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("too many requests")]
    TooMany { retry_after_secs: u64 },
    #[error("unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Gone => StatusCode::GONE,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message ids of the error page's heading and text.
    fn message(&self) -> (&'static str, &'static str) {
        match self {
            Self::NotFound => ("error-not-found", "error-not-found-text"),
            Self::Gone => ("error-link-gone", "error-link-gone-text"),
            Self::Forbidden => ("error-forbidden", "error-forbidden-text"),
            Self::SignIn { .. } => ("sign-in-title", "sign-in-title"),
            Self::Csrf => ("error-csrf", "error-csrf-text"),
            Self::BadRequest(id) => ("error-bad-request", id),
            Self::Conflict(id) => ("error-conflict", id),
            Self::TooMany { .. } => ("error-too-many", "error-too-many-text"),
            Self::Unavailable => ("error-unavailable", "error-unavailable-text"),
            Self::Internal => ("error-internal", "error-internal-text"),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let Self::SignIn { expired } = self {
            let to = if expired {
                "/sign-in?ended=1"
            } else {
                "/sign-in"
            };
            return Redirect::to(to).into_response();
        }
        let mut response = self.status().into_response();
        if let Self::TooMany { retry_after_secs } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::MemberGone => Self::SignIn { expired: true },
            error if error.is_unavailable() => Self::Unavailable,
            error => {
                tracing::error!(%error, "a page's database call failed");
                Self::Internal
            }
        }
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Store(error) => error.into(),
            AppError::Conflict(_) => Self::Conflict("error-conflict-text"),
            AppError::Invalid(_) => Self::BadRequest("error-bad-request-text"),
            AppError::Engine(error) => {
                tracing::error!(%error, "a page's consent engine call failed");
                Self::Internal
            }
            AppError::Random(error) => {
                tracing::error!(%error, "a page could not draw a random value");
                Self::Internal
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    text: String,
}

/// Around every page: renders error answers in the visitor's language and
/// sets the security headers (CSP, no sniffing, no framing, no caching of
/// pages, no referrer leaving the site: `same-origin`, as `no-referrer`
/// makes browsers send `Origin: null` on the pages' own forms).
pub async fn middleware(request: Request, next: Next) -> Response {
    let tr = Tr::new(Lang::negotiate(request.headers()));
    let here = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let response = next.run(request).await;
    finish(tr, &here, response)
}

/// A page's answer as sent: an error rendered in `tr`'s language (for
/// the page at `here`), and the security headers. A page that set its own
/// Content-Security-Policy keeps it.
pub fn finish(tr: Tr, here: &str, mut response: Response) -> Response {
    if let Some(failure) = response.extensions_mut().remove::<PageError>() {
        let (title, text) = failure.message();
        let page = ErrorPage {
            l: Layout::visitor(tr, title, here),
            text: tr.t(text),
        };
        if let Ok(html) = page.render() {
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            response = (status, Html(html)).into_response();
            response.headers_mut().extend(headers);
        }
    }
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    for (name, value) in [
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
    ] {
        headers.insert(name, value);
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A form body of a signed-in page, accepted only when it carries the
/// session's CSRF value and, when the browser says where it comes from,
/// comes from this site. The session extractor (`session::Signed` and the
/// page extractors) must come first in the handler's arguments.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        same_site(request.headers(), state)?;
        let session = request
            .extensions()
            .get::<WebSession>()
            .cloned()
            .ok_or(PageError::SignIn { expired: false })?;
        let body = axum::body::to_bytes(request.into_body(), 256 * 1024)
            .await
            .map_err(|_| PageError::BadRequest("error-bad-request-text"))?;
        let field: CsrfField = serde_html_form::from_bytes(&body)
            .map_err(|_| PageError::BadRequest("error-bad-request-text"))?;
        let expected = session.csrf.as_bytes();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            field.csrf.as_bytes(),
            expected,
        )) {
            return Err(PageError::Csrf);
        }
        serde_html_form::from_bytes(&body)
            .map(Self)
            .map_err(|_| PageError::BadRequest("error-bad-request-text"))
    }
}

/// Refuses a form another site made the browser send: its `Origin` (or,
/// without one, `Sec-Fetch-Site`) must be this site's.
pub fn same_site(headers: &HeaderMap, state: &AppState) -> Result<(), PageError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = state.web.public_url.origin().ascii_serialization();
        if origin.as_bytes() != ours.as_bytes() {
            return Err(PageError::Csrf);
        }
        return Ok(());
    }
    match headers.get("sec-fetch-site").map(HeaderValue::as_bytes) {
        Some(b"cross-site" | b"same-site") => Err(PageError::Csrf),
        _ => Ok(()),
    }
}
