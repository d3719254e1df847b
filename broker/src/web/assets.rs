//! The pages' one static asset, the style sheet: compiled into the binary
//! and served under a name carrying its hash, so it can be cached for a
//! year and a new binary's sheet is fetched at once. The pages carry no
//! script.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::page::PageError;

const STYLE: &str = include_str!("../../static/site.css");

/// A static file and the name it is served under.
#[derive(Debug)]
pub struct Asset {
    pub name: String,
    pub body: &'static str,
    pub content_type: &'static str,
}

impl Asset {
    fn hashed(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let hex: String = digest
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            name: format!("{stem}.{hex}.{extension}"),
            body,
            content_type,
        }
    }

    /// The path pages link to.
    pub fn path(&self) -> String {
        format!("/static/{}", self.name)
    }
}

/// The style sheet.
pub static STYLESHEET: LazyLock<Asset> =
    LazyLock::new(|| Asset::hashed("site", "css", STYLE, "text/css; charset=utf-8"));

/// `GET /static/{name}`: the asset of that name, cacheable for a year.
pub async fn serve(Path(name): Path<String>) -> Result<Response, PageError> {
    let sheet = &*STYLESHEET;
    if name != sheet.name {
        return Err(PageError::NotFound);
    }
    Ok((
        [
            (header::CONTENT_TYPE, sheet.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        sheet.body,
    )
        .into_response())
}
