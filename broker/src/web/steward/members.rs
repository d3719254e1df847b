//! `/stewards/members`: the members, page by page (an anonymous member
//! by id only, never by name), and a sign-in link for one, shown once.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Listing, NavItem, PAGE_SIZE, layout, nav, page_of};
use crate::app::sign_in;
use crate::domain::{Member, MemberId, Registry};
use crate::http::AppState;
use crate::web::i18n::Tr;
use crate::web::page::{CsrfForm, Layout, PageError, render};
use crate::web::session::StewardPage;

const PATH: &str = "/stewards/members";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list))
        .route("/stewards/members/{id}/sign-in-link", post(sign_in_link))
}

/// A member as their row shows them.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    /// The public name, or "Anonymous member".
    name: String,
    registry: String,
    joined: String,
    /// The sign-in link button's text.
    link: String,
}

/// How a member is named on these pages: their name when they are in the
/// public registry, else by id.
fn shown_name(tr: Tr, member: &Member) -> (String, String) {
    match member.public_name() {
        Some(name) => (
            name.as_str().to_owned(),
            tr.ta("steward-members-link", &[("name", name.as_str())]),
        ),
        None => (
            tr.t("steward-members-anonymous"),
            tr.ta(
                "steward-members-link-anonymous",
                &[("id", member.id.as_str())],
            ),
        ),
    }
}

#[derive(Template)]
#[template(path = "steward/members.html")]
struct ListPage {
    l: Layout,
    nav: Vec<NavItem>,
    csrf: String,
    rows: Vec<Row>,
    next: Option<String>,
    first: bool,
}

/// `GET /stewards/members`: the members in enrolment order, a page at a
/// time.
async fn list(
    State(state): State<AppState>,
    page: StewardPage,
    Query(listing): Query<Listing>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let fetched = state
        .store
        .list_members(listing.after(), PAGE_SIZE + 1)
        .await?;
    let (fetched, next) = page_of(PATH, fetched);
    let rows = fetched
        .into_iter()
        .map(|(_, member)| {
            let (name, link) = shown_name(tr, &member);
            Row {
                id: member.id.to_string(),
                name,
                registry: tr.t(match member.registry {
                    Registry::Public => "steward-members-public",
                    Registry::Anonymous => "steward-members-anonymous-registry",
                }),
                joined: tr.date(member.created_at),
                link,
            }
        })
        .collect();
    render(&ListPage {
        l: layout(&page, "steward-members-title", PATH).with_notice(listing.done.as_deref()),
        nav: nav(tr, PATH),
        csrf: page.session.csrf.clone(),
        rows,
        next,
        first: listing.after().is_none(),
    })
}

#[derive(Template)]
#[template(path = "steward/sign_in_link.html")]
struct LinkPage {
    l: Layout,
    nav: Vec<NavItem>,
    intro: String,
    url: String,
    until: String,
    /// With an identity provider, the link connects the member's account.
    enrol: bool,
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// `POST /stewards/members/{id}/sign-in-link`: a link that signs the
/// member in once, within 15 minutes, as `POST
/// /v1/members/{id}/sign-in-links` makes it; shown this once.
async fn sign_in_link(
    State(state): State<AppState>,
    page: StewardPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let id = MemberId::parse(&id).ok_or(PageError::NotFound)?;
    let member = state.store.member(&id).await?.ok_or(PageError::NotFound)?;
    let (url, expires_at) = sign_in::issue_link(
        state.store.as_ref(),
        &state.web.public_url,
        Some(member.id.clone()),
        state.clock.now(),
    )
    .await?;
    let who = match member.public_name() {
        Some(name) => name.as_str().to_owned(),
        None => tr.ta("steward-members-member-id", &[("id", member.id.as_str())]),
    };
    render(&LinkPage {
        l: layout(&page, "steward-link-title", PATH),
        nav: nav(tr, PATH),
        intro: tr.ta("steward-link-intro", &[("who", &who)]),
        url: url.to_string(),
        until: tr.date_time(expires_at),
        enrol: state.web.oidc.is_some(),
    })
}
