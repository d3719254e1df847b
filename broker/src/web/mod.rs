//! The web pages: members' at `/`, stewards' at `/stewards`, served by
//! the same binary as the API, rendered on the server (askama templates in
//! `broker/templates/`), with no script. Each page handler reads its
//! session, calls the same use cases as the API (`crate::app`, the store,
//! the engine), and renders; what a rule or a chain means in words is
//! written by `words`, never decided there.

mod assets;
pub mod i18n;
mod member;
mod mine;
pub mod oidc;
mod page;
mod proxies;
mod session;
mod sign_in;
mod steward;
mod words;

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

pub use page::CONTENT_SECURITY_POLICY;

use crate::app::sign_in::SessionTimes;
use crate::http::AppState;

/// What the pages need to know of their deployment.
#[derive(Debug)]
pub struct Web {
    /// Where members and stewards reach the broker (links, redirects,
    /// the `Origin` forms must come from).
    pub public_url: url::Url,
    pub times: SessionTimes,
    /// The co-op's identity provider; without one, sign-in links only.
    pub oidc: Option<oidc::Oidc>,
}

impl Web {
    pub fn new(public_url: url::Url, times: SessionTimes, oidc: Option<oidc::Oidc>) -> Self {
        Self {
            public_url,
            times,
            oidc,
        }
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        self.times.idle
    }
}

impl Default for Web {
    fn default() -> Self {
        Self::new(
            default_public_url(std::net::SocketAddr::from(([127, 0, 0, 1], 8080))),
            SessionTimes::default(),
            None,
        )
    }
}

/// Whether a request no route answers should get the pages' "not found"
/// page rather than the API's problem: a browser's (it asks for HTML),
/// for a path outside the API's.
pub fn wants_page(headers: &http::HeaderMap, path: &str) -> bool {
    let html = headers
        .get(http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    html && !path.starts_with("/v1/") && !path.starts_with("/oauth2/")
}

/// The pages' "not found" page, in the visitor's language.
pub fn not_found_page(headers: &http::HeaderMap, here: &str) -> Response {
    let tr = i18n::Tr::new(i18n::Lang::negotiate(headers));
    page::finish(tr, here, page::PageError::NotFound.into_response())
}

/// `http://` and the address the broker listens on.
pub fn default_public_url(listening: std::net::SocketAddr) -> url::Url {
    let mut url = loopback_url();
    // Neither can fail on an `http` URL with a host.
    let _ = url.set_ip_host(listening.ip());
    let _ = url.set_port(Some(listening.port()));
    url
}

#[expect(clippy::expect_used, reason = "a constant URL")]
fn loopback_url() -> url::Url {
    url::Url::parse("http://127.0.0.1/").expect("a constant URL parses")
}

/// Every page, under the pages' middleware (security headers, error
/// pages in the visitor's language).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{name}", get(assets::serve))
        .route("/language/{code}", get(language))
        .merge(sign_in::router())
        .merge(member::router())
        .merge(proxies::router())
        .merge(mine::router())
        .merge(steward::router())
        .layer(axum::middleware::from_fn(page::middleware))
}

#[derive(Debug, serde::Deserialize)]
struct Next {
    next: Option<String>,
}

/// `GET /language/{code}?next=PATH`: remembers the language chosen with
/// the switcher and goes back to the page (a path of this site only).
async fn language(
    Path(code): Path<String>,
    Query(next): Query<Next>,
    jar: CookieJar,
) -> Result<Response, page::PageError> {
    let lang = i18n::Lang::parse(&code).ok_or(page::PageError::NotFound)?;
    let back = next
        .next
        .filter(|path| local_path(path))
        .unwrap_or_else(|| "/".to_owned());
    let mut cookie = session::host_cookie(i18n::LANG_COOKIE, lang.code().to_owned());
    cookie.set_max_age(time_of_year());
    Ok((jar.add(cookie), Redirect::to(&back)).into_response())
}

fn time_of_year() -> cookie::time::Duration {
    cookie::time::Duration::days(365)
}

/// A path on this site: one leading slash, not a scheme-relative `//`
/// or a backslash a browser would read as one.
fn local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert!(local_path("/consent?done=rule-added"));
        assert!(local_path("/"));
        assert!(!local_path("//evil.example/"));
        assert!(!local_path("/\\evil.example"));
        assert!(!local_path("https://evil.example/"));
        assert!(!local_path("/\r\nSet-Cookie: x"));
        assert!(!local_path(""));
    }
}
