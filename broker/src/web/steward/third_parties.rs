//! `/stewards/third-parties`: the third parties, approving one,
//! suspending and reinstating, and a new client secret. A secret is shown
//! once, on the answer to the form that made it (never through a
//! redirect, never stored).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::form::{Choice, FormErrors};
use super::{ConfirmPage, Listing, NavItem, PAGE_SIZE, layout, nav, page_of, unprocessable};
use crate::app::AppError;
use crate::app::third_parties::{self, ThirdPartyError, ThirdPartyPatch};
use crate::domain::{FieldErrors, NewThirdParty, RequesterClass, ThirdPartyId, ThirdPartyStatus};
use crate::http::AppState;
use crate::web::i18n::Tr;
use crate::web::page::{CsrfForm, Layout, PageError, done, render};
use crate::web::session::StewardPage;

const PATH: &str = "/stewards/third-parties";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list).post(approve))
        .route("/stewards/third-parties/{id}/status", post(set_status))
        .route(
            "/stewards/third-parties/{id}/secret",
            get(confirm_rotation).post(rotate_secret),
        )
}

/// A third party as its row shows it.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    name: String,
    class: String,
    status: String,
    active: bool,
    client_id: String,
    webhook: Option<String>,
    approved: String,
    /// The suspend or reinstate button's text.
    toggle: String,
    /// The rotation link's text.
    rotate: String,
}

/// The approval form's fields, as the browser sends them.
#[derive(Debug, Clone, Default, Deserialize)]
struct ApproveForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    webhook_url: String,
}

#[derive(Template)]
#[template(path = "steward/third_parties.html")]
struct ListPage {
    l: Layout,
    nav: Vec<NavItem>,
    csrf: String,
    rows: Vec<Row>,
    next: Option<String>,
    form: ApproveForm,
    classes: Vec<Choice>,
    errors: FormErrors,
}

async fn list_page(
    state: &AppState,
    page: &StewardPage,
    listing: &Listing,
    form: ApproveForm,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let fetched = state
        .store
        .list_third_parties(listing.after(), PAGE_SIZE + 1)
        .await?;
    let (fetched, next) = page_of(PATH, fetched);
    let rows = fetched
        .into_iter()
        .map(|(_, third_party)| {
            let name = third_party.name.as_str().to_owned();
            let active = third_party.status == ThirdPartyStatus::Active;
            let toggle = if active {
                "steward-tp-suspend"
            } else {
                "steward-tp-reinstate"
            };
            Row {
                id: third_party.id.to_string(),
                class: tr.t(&format!("who-class-{}", third_party.class.as_str())),
                status: tr.t(&format!(
                    "steward-tp-status-{}",
                    third_party.status.as_str()
                )),
                active,
                client_id: third_party.client_id,
                webhook: third_party.webhook_url,
                approved: tr.date(third_party.created_at),
                toggle: tr.ta(toggle, &[("name", &name)]),
                rotate: tr.ta("steward-tp-rotate", &[("name", &name)]),
                name,
            }
        })
        .collect();
    let classes = state
        .policies
        .vocabulary
        .requester_classes()
        .iter()
        .map(|class| Choice {
            id: format!("approve-class-{}", class.as_str()),
            value: class.as_str().to_owned(),
            label: tr.t(&format!("who-class-{}", class.as_str())),
            checked: form.class == class.as_str(),
        })
        .collect();
    let invalid = !errors.is_empty();
    let response = render(&ListPage {
        l: layout(page, "steward-tp-title", PATH).with_notice(listing.done.as_deref()),
        nav: nav(tr, PATH),
        csrf: page.session.csrf.clone(),
        rows,
        next,
        form,
        classes,
        errors,
    })?;
    Ok(if invalid {
        unprocessable(response)
    } else {
        response
    })
}

/// `GET /stewards/third-parties`: the third parties, and the form to
/// approve one.
async fn list(
    State(state): State<AppState>,
    page: StewardPage,
    Query(listing): Query<Listing>,
) -> Result<Response, PageError> {
    list_page(
        &state,
        &page,
        &listing,
        ApproveForm::default(),
        FormErrors::none("approve"),
    )
    .await
}

/// The secret a page shows once.
#[derive(Template)]
#[template(path = "steward/secret.html")]
struct SecretPage {
    l: Layout,
    nav: Vec<NavItem>,
    intro: String,
    client_id: String,
    client_secret: String,
    webhook_secret: Option<String>,
    rotated: bool,
}

/// A page holding a secret: never kept by any cache.
fn secret_page(page: &SecretPage) -> Result<Response, PageError> {
    let mut response = render(page)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn page_error(error: ThirdPartyError) -> PageError {
    match error {
        ThirdPartyError::App(error) => error.into(),
        ThirdPartyError::Secret(error) => {
            tracing::error!(%error, "a third party's secret could not be made");
            PageError::Internal
        }
    }
}

/// `POST /stewards/third-parties`: approves a third party as `POST
/// /v1/third-parties` does, and shows its client secret once.
async fn approve(
    State(state): State<AppState>,
    page: StewardPage,
    CsrfForm(form): CsrfForm<ApproveForm>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let class = RequesterClass::parse(&form.class);
    let webhook_url = Some(form.webhook_url.trim())
        .filter(|url| !url.is_empty())
        .map(str::to_owned);
    let body = datacoop_wire::CreateThirdParty {
        name: form.name.clone(),
        // Only read when the class is known (otherwise the form is
        // refused below).
        class: class.unwrap_or(RequesterClass::Nonprofit),
        webhook_url,
    };
    let mut errors = match NewThirdParty::parse(body, state.webhooks.allow_insecure) {
        Ok(new) if class.is_some() => {
            let approved = third_parties::approve(
                state.store.as_ref(),
                &state.policies.vocabulary,
                new,
                state.webhooks.allow_insecure,
                state.clock.now(),
            )
            .await;
            match approved {
                Ok(approved) => {
                    let approved = approved.value;
                    let name = approved.third_party.name.as_str().to_owned();
                    return secret_page(&SecretPage {
                        l: layout(&page, "steward-secret-title", PATH),
                        nav: nav(tr, PATH),
                        intro: tr.ta("steward-secret-approved", &[("name", &name)]),
                        client_id: approved.third_party.client_id,
                        client_secret: approved.client_secret.expose_secret().to_owned(),
                        webhook_secret: approved.webhook_secret,
                        rotated: false,
                    });
                }
                Err(ThirdPartyError::App(AppError::Invalid(errors))) => errors,
                Err(error) => return Err(page_error(error)),
            }
        }
        Ok(_) => FieldErrors::new(),
        Err(errors) => errors,
    };
    if class.is_none() {
        errors.push("class", "choose a requester class");
    }
    let errors = FormErrors::new(tr, "approve", &errors);
    list_page(&state, &page, &Listing::default(), form, errors).await
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
}

/// `POST /stewards/third-parties/{id}/status`: suspends or reinstates a
/// third party, as `PATCH /v1/third-parties/{id}` does.
async fn set_status(
    State(state): State<AppState>,
    _page: StewardPage,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<Response, PageError> {
    let id = ThirdPartyId::parse(&id).ok_or(PageError::NotFound)?;
    let (status, notice) = match form.status.as_str() {
        "active" => (ThirdPartyStatus::Active, "third-party-reinstated"),
        "suspended" => (ThirdPartyStatus::Suspended, "third-party-suspended"),
        _ => return Err(PageError::BadRequest("error-bad-request-text")),
    };
    let patch = ThirdPartyPatch {
        status: Some(status),
        webhook: None,
    };
    third_parties::update(state.store.as_ref(), &id, patch, state.clock.now())
        .await
        .map_err(page_error)?
        .ok_or(PageError::NotFound)?;
    Ok(done(PATH, notice))
}

/// `GET /stewards/third-parties/{id}/secret`: what a new client secret
/// does, and the button that makes one.
async fn confirm_rotation(
    State(state): State<AppState>,
    page: StewardPage,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let tr: Tr = page.tr;
    let id = ThirdPartyId::parse(&id).ok_or(PageError::NotFound)?;
    let third_party = state
        .store
        .third_party(&id)
        .await?
        .ok_or(PageError::NotFound)?;
    let name = third_party.name.as_str();
    render(&ConfirmPage {
        l: layout(&page, "steward-rotate-title", PATH),
        nav: nav(tr, PATH),
        csrf: page.session.csrf.clone(),
        text: tr.ta("steward-rotate-text", &[("name", name)]),
        action: format!("{PATH}/{id}/secret"),
        button: tr.ta("steward-tp-rotate", &[("name", name)]),
        back: PATH,
    })
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// `POST /stewards/third-parties/{id}/secret`: a new client secret, as
/// `POST /v1/third-parties/{id}/secret` makes it, shown once.
async fn rotate_secret(
    State(state): State<AppState>,
    page: StewardPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let id = ThirdPartyId::parse(&id).ok_or(PageError::NotFound)?;
    let rotated = third_parties::rotate_secret(state.store.as_ref(), &id, state.clock.now())
        .await
        .map_err(page_error)?
        .ok_or(PageError::NotFound)?
        .value;
    let name = rotated.third_party.name.as_str().to_owned();
    secret_page(&SecretPage {
        l: layout(&page, "steward-secret-title", PATH),
        nav: nav(tr, PATH),
        intro: tr.ta("steward-secret-rotated", &[("name", &name)]),
        client_id: rotated.third_party.client_id,
        client_secret: rotated.client_secret.expose_secret().to_owned(),
        webhook_secret: None,
        rotated: true,
    })
}
