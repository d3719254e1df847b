//! The stewards' pages, at `/stewards`: third parties, personas, the
//! co-op's rules, members, datasets and their licenses, and overdue
//! deletion receipts. Every form calls the use case its API call calls
//! (`crate::app`); the handlers here read forms, and show what is stored
//! in the page's language.

mod datasets;
pub(super) mod form;
mod members;
mod rules;
mod third_parties;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::i18n::Tr;
use super::page::{Layout, PageError, render};
use super::session::StewardPage;
use crate::domain::rule::Owner;
use crate::http::AppState;
use crate::store::Seq;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stewards", get(dashboard))
        .merge(third_parties::router())
        .merge(rules::router())
        .merge(members::router())
        .merge(datasets::router())
}

/// How many rows a listing shows at once.
const PAGE_SIZE: u32 = 50;

/// A listing's query: where the page starts, and what was just done.
#[derive(Debug, Default, Deserialize)]
struct Listing {
    done: Option<String>,
    /// The position of the previous page's last row.
    after: Option<String>,
}

impl Listing {
    /// The position to list after; one that is not a position (negative,
    /// or not a number) is none: the first page.
    fn after(&self) -> Option<Seq> {
        position(self.after.as_deref())
    }
}

/// A page position from a query, if it is one.
fn position(raw: Option<&str>) -> Option<Seq> {
    raw.and_then(|raw| raw.parse::<Seq>().ok())
        .filter(|after| *after >= 0)
}

/// Cuts `rows` (fetched with `PAGE_SIZE + 1`) to a page, and gives the
/// next page's address when there is one.
fn page_of<T>(path: &str, mut rows: Vec<(Seq, T)>) -> (Vec<(Seq, T)>, Option<String>) {
    let size = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    let more = rows.len() > size;
    rows.truncate(size);
    let next = if more {
        rows.last().map(|(seq, _)| format!("{path}?after={seq}"))
    } else {
        None
    };
    (rows, next)
}

/// A link of the stewards' own navigation.
#[derive(Debug, Clone)]
struct NavItem {
    href: &'static str,
    label: String,
    current: bool,
}

/// The stewards' sections: path and message id.
const SECTIONS: [(&str, &str); 7] = [
    ("/stewards", "steward-nav-overview"),
    ("/stewards/third-parties", "steward-nav-third-parties"),
    ("/stewards/personas", "steward-nav-personas"),
    ("/stewards/coop-rules", "steward-nav-coop-rules"),
    ("/stewards/members", "steward-nav-members"),
    ("/stewards/datasets", "steward-nav-datasets"),
    (
        "/stewards/deletion-receipts",
        "steward-nav-deletion-receipts",
    ),
];

fn nav(tr: Tr, current: &str) -> Vec<NavItem> {
    SECTIONS
        .iter()
        .map(|(href, label)| NavItem {
            href,
            label: tr.t(label),
            current: *href == current,
        })
        .collect()
}

/// A steward page's layout, titled by message `title_id`, at `here`.
fn layout(page: &StewardPage, title_id: &str, here: &str) -> Layout {
    Layout::signed_in(page.tr, &page.session, title_id, "stewards", here)
}

/// The answer to a form with invalid fields: the page again, with them.
fn unprocessable(response: Response) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, response).into_response()
}

/// Asks before a change that cannot be undone: what it does, and the
/// button that does it.
#[derive(Template)]
#[template(path = "steward/confirm.html")]
struct ConfirmPage {
    l: Layout,
    nav: Vec<NavItem>,
    csrf: String,
    text: String,
    /// Where the button's form goes.
    action: String,
    button: String,
    /// Where "cancel" goes.
    back: &'static str,
}

/// A count as a fact: the number, or "more than `cap`" when `rows`
/// were fetched with `cap + 1` and all came back.
fn counted(tr: Tr, rows: usize, cap: u32) -> String {
    let cap = u64::from(cap);
    let rows = u64::try_from(rows).unwrap_or(u64::MAX);
    if rows > cap {
        tr.ta("steward-more-than", &[("count", &tr.number(cap))])
    } else {
        tr.number(rows)
    }
}

/// One section of the dashboard.
#[derive(Debug, Clone)]
struct Section {
    href: &'static str,
    title: String,
    text: String,
    /// What it holds, counted: label and figure.
    facts: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "steward/dashboard.html")]
struct Dashboard {
    l: Layout,
    nav: Vec<NavItem>,
    sections: Vec<Section>,
}

/// `GET /stewards`: what stewards look after, one section each, with
/// what it holds where counting is cheap.
async fn dashboard(
    State(state): State<AppState>,
    page: StewardPage,
    Query(listing): Query<Listing>,
) -> Result<Response, PageError> {
    const CAP: u32 = 200;
    let tr = page.tr;
    let third_parties = state.store.list_third_parties(None, CAP + 1).await?;
    let suspended = third_parties
        .iter()
        .filter(|(_, third_party)| third_party.status == crate::domain::ThirdPartyStatus::Suspended)
        .count();
    let personas = state.store.personas().await?.len();
    let coop_rules = state.store.rules_of(&Owner::Coop).await?.len();
    let datasets = state.store.list_datasets(None, CAP + 1).await?.len();
    let licenses = state.store.list_licenses(None, CAP + 1).await?.len();
    let overdue = crate::app::deletion_receipts::unconfirmed_before(
        state.store.as_ref(),
        crate::app::deletion_receipts::overdue_before(
            state.clock.now(),
            state.webhooks.deletion_grace,
        ),
        None,
        CAP + 1,
    )
    .await?
    .len();
    let fact = |id: &str, figure: String| (tr.t(id), figure);
    let section = |href: &'static str, key: &str, facts: Vec<(String, String)>| Section {
        href,
        title: tr.t(&format!("steward-nav-{key}")),
        text: tr.t(&format!("steward-dash-{key}")),
        facts,
    };
    let sections = vec![
        section(
            "/stewards/third-parties",
            "third-parties",
            vec![
                fact(
                    "steward-dash-third-parties-approved",
                    counted(tr, third_parties.len(), CAP),
                ),
                fact(
                    "steward-dash-third-parties-suspended",
                    counted(tr, suspended, CAP),
                ),
            ],
        ),
        section(
            "/stewards/personas",
            "personas",
            vec![fact(
                "steward-dash-personas-published",
                counted(tr, personas, u32::MAX),
            )],
        ),
        section(
            "/stewards/coop-rules",
            "coop-rules",
            vec![fact(
                "steward-dash-coop-rules-count",
                counted(tr, coop_rules, u32::MAX),
            )],
        ),
        section("/stewards/members", "members", Vec::new()),
        section(
            "/stewards/datasets",
            "datasets",
            vec![
                fact("steward-dash-datasets-count", counted(tr, datasets, CAP)),
                fact("steward-dash-licenses-count", counted(tr, licenses, CAP)),
            ],
        ),
        section(
            "/stewards/deletion-receipts",
            "deletion-receipts",
            vec![fact(
                "steward-dash-deletion-receipts-overdue",
                counted(tr, overdue, CAP),
            )],
        ),
    ];
    render(&Dashboard {
        l: layout(&page, "steward-title", "/stewards").with_notice(listing.done.as_deref()),
        nav: nav(tr, "/stewards"),
        sections,
    })
}
