//! A browser for the web pages' router tests: it keeps the session
//! cookie, reads the CSRF value of the last page, and posts forms from the
//! pages' origin, as Chromium does.

use axum::body::Body;
use axum::http::request::Builder;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{ADMIN, TestApp};

/// The origin of the pages in `TestApp` (the default public URL).
pub const ORIGIN: &str = "http://127.0.0.1:8080";

/// A browser: its session cookie, and the CSRF value of its last page.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub lang: &'static str,
}

#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: HeaderMap,
    pub html: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookie: None,
            csrf: None,
            lang: "en",
        }
    }

    pub async fn send(&mut self, request: Builder, body: Body) -> Page {
        let mut request = request.header(header::ACCEPT_LANGUAGE, self.lang);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, format!("__Host-datacoop-session={cookie}"));
        }
        let response = self
            .app
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for value in headers.get_all(header::SET_COOKIE) {
            if let Some(rest) = value
                .to_str()
                .unwrap()
                .strip_prefix("__Host-datacoop-session=")
            {
                let value = rest.split(';').next().unwrap();
                self.cookie = (!value.is_empty()).then(|| value.to_owned());
            }
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(csrf) = hidden(&html, "csrf") {
            self.csrf = Some(csrf);
        }
        Page {
            status,
            location: headers
                .get(header::LOCATION)
                .map(|value| value.to_str().unwrap().to_owned()),
            headers,
            html,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Request::builder().uri(path), Body::empty()).await
    }

    /// Posts a form with the CSRF value of the last page, from this site.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        if let Some(csrf) = &self.csrf {
            form.append_pair("csrf", csrf);
        }
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        self.post_raw(path, form.finish(), Some(ORIGIN)).await
    }

    pub async fn post_raw(&mut self, path: &str, body: String, origin: Option<&str>) -> Page {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        self.send(request, Body::from(body)).await
    }

    /// Uses a sign-in link's token as the link's page does.
    pub async fn use_link(&mut self, url: &str) -> Page {
        let token = url.split("token=").nth(1).unwrap().to_owned();
        let confirm = self.get(&format!("/sign-in/link?token={token}")).await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.html);
        self.post_raw("/sign-in/link", format!("token={token}"), Some(ORIGIN))
            .await
    }

    /// Signs in through a link from the API: a member's, or a steward's
    /// for `None`; the answer to the link's form.
    pub async fn sign_in(&mut self, member: Option<&str>) -> Page {
        let path = match member {
            Some(id) => format!("/v1/members/{id}/sign-in-links"),
            None => "/v1/stewards/sign-in-links".to_owned(),
        };
        let (status, link) = self.app.call(Method::POST, &path, Some(ADMIN), None).await;
        assert_eq!(status, StatusCode::CREATED, "{link}");
        self.use_link(link["url"].as_str().unwrap()).await
    }

    /// Signs in as a steward through a link from `POST
    /// /v1/stewards/sign-in-links`, and opens the stewards' overview.
    pub async fn steward(app: &'a TestApp) -> Self {
        let mut browser = Self::new(app);
        let (status, link) = app
            .call(
                Method::POST,
                "/v1/stewards/sign-in-links",
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{link}");
        let signed_in = browser.use_link(link["url"].as_str().unwrap()).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
        assert_eq!(signed_in.location.as_deref(), Some("/stewards"));
        assert!(browser.cookie.is_some());
        let overview = browser.get("/stewards").await;
        assert_eq!(overview.status, StatusCode::OK, "{}", overview.html);
        assert!(browser.csrf.is_some());
        browser
    }
}

/// The value of the first hidden input named `name`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}
