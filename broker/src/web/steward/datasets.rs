//! `/stewards/datasets`: the aggregate datasets, their licenses and each
//! license's latest build, and revoking a license (as `PATCH
//! /v1/licenses/{id}` does); `/stewards/deletion-receipts`: withdrawals
//! whose recipient is late confirming the deletion (as `GET
//! /v1/deletion-receipts?overdue=true` lists them).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use datacoop_wire::{DeliveryState, EventType, LicenseStatus};
use serde::Deserialize;

use super::{ConfirmPage, Listing, NavItem, PAGE_SIZE, layout, nav, page_of, position};
use crate::app::{deletion_receipts, licenses};
use crate::domain::ThirdPartyId;
use crate::domain::dataset::{Dataset, License};
use crate::http::AppState;
use crate::store::Seq;
use crate::web::i18n::{Lang, Tr};
use crate::web::page::{CsrfForm, Layout, PageError, done, render};
use crate::web::session::StewardPage;
use crate::web::words::Words;

const DATASETS: &str = "/stewards/datasets";
const RECEIPTS: &str = "/stewards/deletion-receipts";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(DATASETS, get(datasets))
        .route(
            "/stewards/licenses/{id}/revoke",
            get(confirm_revocation).post(revoke),
        )
        .route(RECEIPTS, get(overdue_receipts))
}

/// A figure with up to three decimals, as the page's language writes it.
fn decimal(tr: Tr, value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match tr.lang {
        Lang::En => text.to_owned(),
        Lang::De => text.replace('.', ","),
    }
}

/// The third parties' names, looked up once each.
#[derive(Debug, Default)]
struct Names(HashMap<String, String>);

impl Names {
    async fn of(&mut self, state: &AppState, id: &str) -> Result<String, PageError> {
        if let Some(name) = self.0.get(id) {
            return Ok(name.clone());
        }
        let name = match ThirdPartyId::parse(id) {
            Some(parsed) => state
                .store
                .third_party(&parsed)
                .await?
                .map_or_else(|| id.to_owned(), |found| found.name.as_str().to_owned()),
            None => id.to_owned(),
        };
        self.0.insert(id.to_owned(), name.clone());
        Ok(name)
    }
}

/// A dataset as its row shows it.
#[derive(Debug, Clone)]
struct DatasetRow {
    id: String,
    name: String,
    purpose: String,
    categories: String,
    k_min: String,
    noise: String,
    budget: String,
    created: String,
}

/// A license as its row shows it.
#[derive(Debug, Clone)]
struct LicenseRow {
    id: String,
    dataset: String,
    licensee: String,
    window: String,
    data_life: String,
    status: String,
    active: bool,
    latest: String,
    /// The revoke link's text.
    revoke: String,
}

#[derive(Debug, Default, Deserialize)]
struct DatasetsQuery {
    done: Option<String>,
    datasets_after: Option<String>,
    licenses_after: Option<String>,
}

#[derive(Template)]
#[template(path = "steward/datasets.html")]
struct DatasetsPage {
    l: Layout,
    nav: Vec<NavItem>,
    datasets: Vec<DatasetRow>,
    licenses: Vec<LicenseRow>,
    next_datasets: Option<String>,
    next_licenses: Option<String>,
}

fn dataset_row(state: &AppState, tr: Tr, dataset: &Dataset) -> DatasetRow {
    let vocabulary = &state.policies.vocabulary;
    let words = Words::new(tr, vocabulary);
    let categories: Vec<String> = dataset
        .spec
        .data_categories
        .iter()
        .map(|category| tr.term(vocabulary, category.as_str()))
        .collect();
    let spent = dataset.spent_micros as f64 / 1_000_000.0;
    DatasetRow {
        id: dataset.id.clone(),
        name: dataset.spec.name.clone(),
        purpose: tr.term(vocabulary, dataset.spec.purpose.as_str()),
        categories: words.join(&categories),
        k_min: tr.number(u64::from(dataset.spec.k_min)),
        noise: dataset.spec.epsilon.map_or_else(
            || tr.t("steward-datasets-no-noise"),
            |epsilon| {
                tr.ta(
                    "steward-datasets-epsilon",
                    &[("epsilon", &decimal(tr, epsilon))],
                )
            },
        ),
        budget: tr.ta(
            "steward-datasets-budget-spent",
            &[
                ("spent", &decimal(tr, spent)),
                ("budget", &decimal(tr, state.dp_budget)),
                (
                    "left",
                    &decimal(tr, crate::dataset::remaining(state.dp_budget, dataset)),
                ),
            ],
        ),
        created: tr.date(dataset.created_at),
    }
}

async fn license_row(
    state: &AppState,
    tr: Tr,
    license: License,
    dataset_names: &mut HashMap<String, String>,
    names: &mut Names,
) -> Result<LicenseRow, PageError> {
    let dataset = match dataset_names.get(&license.spec.dataset) {
        Some(name) => name.clone(),
        None => {
            let name = state
                .store
                .dataset(&license.spec.dataset)
                .await?
                .map_or_else(|| license.spec.dataset.clone(), |found| found.spec.name);
            dataset_names.insert(license.spec.dataset.clone(), name.clone());
            name
        }
    };
    let licensee = names.of(state, license.spec.licensee.as_str()).await?;
    let latest = match state.store.latest_build(&license.id).await? {
        None => tr.t("steward-licenses-no-build"),
        Some(build) => {
            let id = if build.published.is_some() {
                "steward-licenses-build-kept"
            } else {
                "steward-licenses-build-deleted"
            };
            tr.ta(
                id,
                &[
                    ("built", &tr.date_time(build.built_at)),
                    ("until", &tr.date(build.expires_at)),
                ],
            )
        }
    };
    let active = license.status == LicenseStatus::Active;
    let status = match license.revoked_at {
        Some(at) if !active => tr.ta("steward-licenses-revoked-on", &[("date", &tr.date(at))]),
        _ => tr.t(&format!(
            "steward-licenses-status-{}",
            license.status.as_str()
        )),
    };
    Ok(LicenseRow {
        revoke: tr.ta(
            "steward-licenses-revoke",
            &[("dataset", &dataset), ("licensee", &licensee)],
        ),
        id: license.id,
        dataset,
        licensee,
        window: tr.ta(
            "steward-licenses-window",
            &[
                ("from", &tr.date(license.spec.valid_from)),
                ("until", &tr.date(license.spec.valid_until)),
            ],
        ),
        data_life: tr.count(
            "steward-licenses-days",
            "days",
            u64::from(license.spec.data_life_days),
        ),
        status,
        active,
        latest,
    })
}

/// A next page's address, keeping the other list where it is.
fn next_page(key: &str, after: Seq, other: (&str, Option<Seq>)) -> String {
    match other {
        (name, Some(position)) => format!("{DATASETS}?{key}={after}&{name}={position}"),
        (_, None) => format!("{DATASETS}?{key}={after}"),
    }
}

/// `GET /stewards/datasets`: the datasets, and their licenses with each
/// one's latest build.
async fn datasets(
    State(state): State<AppState>,
    page: StewardPage,
    Query(query): Query<DatasetsQuery>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let datasets_after = position(query.datasets_after.as_deref());
    let licenses_after = position(query.licenses_after.as_deref());
    let fetched = state
        .store
        .list_datasets(datasets_after, PAGE_SIZE + 1)
        .await?;
    let (fetched, more) = page_of(DATASETS, fetched);
    let next_datasets = more
        .and(fetched.last())
        .map(|(seq, _)| next_page("datasets_after", *seq, ("licenses_after", licenses_after)));
    let mut dataset_names: HashMap<String, String> = fetched
        .iter()
        .map(|(_, dataset)| (dataset.id.clone(), dataset.spec.name.clone()))
        .collect();
    let datasets = fetched
        .iter()
        .map(|(_, dataset)| dataset_row(&state, tr, dataset))
        .collect();
    let fetched = state
        .store
        .list_licenses(licenses_after, PAGE_SIZE + 1)
        .await?;
    let (fetched, more) = page_of(DATASETS, fetched);
    let next_licenses = more
        .and(fetched.last())
        .map(|(seq, _)| next_page("licenses_after", *seq, ("datasets_after", datasets_after)));
    let mut names = Names::default();
    let mut licenses = Vec::new();
    for (_, license) in fetched {
        licenses.push(license_row(&state, tr, license, &mut dataset_names, &mut names).await?);
    }
    render(&DatasetsPage {
        l: layout(&page, "steward-datasets-title", DATASETS).with_notice(query.done.as_deref()),
        nav: nav(tr, DATASETS),
        datasets,
        licenses,
        next_datasets,
        next_licenses,
    })
}

/// `GET /stewards/licenses/{id}/revoke`: what revoking does, and the
/// button that does it.
async fn confirm_revocation(
    State(state): State<AppState>,
    page: StewardPage,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let license = state.store.license(&id).await?.ok_or(PageError::NotFound)?;
    let row = license_row(
        &state,
        tr,
        license,
        &mut HashMap::new(),
        &mut Names::default(),
    )
    .await?;
    if !row.active {
        return Ok(done(DATASETS, "license-revoked"));
    }
    render(&ConfirmPage {
        l: layout(&page, "steward-revoke-title", DATASETS),
        nav: nav(tr, DATASETS),
        csrf: page.session.csrf.clone(),
        text: tr.ta(
            "steward-revoke-text",
            &[("dataset", &row.dataset), ("licensee", &row.licensee)],
        ),
        action: format!("/stewards/licenses/{}/revoke", row.id),
        button: row.revoke,
        back: DATASETS,
    })
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// `POST /stewards/licenses/{id}/revoke`: revokes the license; the
/// licensee is told and can fetch nothing more.
async fn revoke(
    State(state): State<AppState>,
    _page: StewardPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    licenses::set_status(
        state.store.as_ref(),
        &id,
        LicenseStatus::Revoked,
        state.clock.now(),
    )
    .await?
    .ok_or(PageError::NotFound)?;
    Ok(done(DATASETS, "license-revoked"))
}

/// A withdrawal late to be confirmed, as its row shows it.
#[derive(Debug, Clone)]
struct ReceiptRow {
    event: String,
    kind: String,
    third_party: String,
    member: String,
    purpose: String,
    categories: String,
    sent: String,
    delivery: String,
    attempts: String,
}

#[derive(Template)]
#[template(path = "steward/deletion_receipts.html")]
struct ReceiptsPage {
    l: Layout,
    nav: Vec<NavItem>,
    grace: String,
    rows: Vec<ReceiptRow>,
    next: Option<String>,
    first: bool,
}

/// The grace period in whole days, or hours when shorter than two days.
fn grace(tr: Tr, grace: std::time::Duration) -> String {
    let hours = grace.as_secs() / 3600;
    if hours >= 48 {
        tr.count("steward-receipts-grace-days", "days", hours / 24)
    } else {
        tr.count("steward-receipts-grace-hours", "hours", hours)
    }
}

/// `GET /stewards/deletion-receipts`: withdrawals sent longer ago than
/// the grace period whose deletion the recipient has not confirmed,
/// oldest first.
async fn overdue_receipts(
    State(state): State<AppState>,
    page: StewardPage,
    Query(listing): Query<Listing>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let vocabulary = &state.policies.vocabulary;
    let words = Words::new(tr, vocabulary);
    let before =
        deletion_receipts::overdue_before(state.clock.now(), state.webhooks.deletion_grace);
    let fetched = deletion_receipts::unconfirmed_before(
        state.store.as_ref(),
        before,
        listing.after(),
        PAGE_SIZE + 1,
    )
    .await?;
    let (fetched, next) = page_of(RECEIPTS, fetched);
    let mut names = Names::default();
    let mut rows = Vec::new();
    for (_, event) in fetched {
        let categories: Vec<String> = event
            .categories
            .iter()
            .map(|category| tr.term(vocabulary, category))
            .collect();
        let delivery = match event.state {
            DeliveryState::Pending => "steward-receipts-pending",
            DeliveryState::Delivered => "steward-receipts-delivered",
            DeliveryState::Failed => "steward-receipts-failed",
        };
        // A license's event is about no member, purpose or category.
        let or_none = |text: String| {
            if text.is_empty() {
                tr.t("steward-receipts-not-applicable")
            } else {
                text
            }
        };
        rows.push(ReceiptRow {
            event: event.id.to_string(),
            kind: tr.t(match event.kind {
                EventType::ConsentWithdrawn => "steward-receipts-consent-withdrawn",
                EventType::LicenseRevoked => "steward-receipts-license-revoked",
                EventType::LicenseExpired => "steward-receipts-license-expired",
            }),
            third_party: names.of(&state, event.third_party.as_str()).await?,
            member: or_none(event.member.to_string()),
            purpose: or_none(if event.purpose.is_empty() {
                String::new()
            } else {
                tr.term(vocabulary, &event.purpose)
            }),
            categories: or_none(words.join(&categories)),
            sent: tr.date_time(event.created_at),
            delivery: tr.t(delivery),
            attempts: tr.number(u64::from(event.attempts)),
        });
    }
    render(&ReceiptsPage {
        l: layout(&page, "steward-receipts-title", RECEIPTS).with_notice(listing.done.as_deref()),
        nav: nav(tr, RECEIPTS),
        grace: grace(tr, state.webhooks.deletion_grace),
        rows,
        next,
        first: listing.after().is_none(),
    })
}
