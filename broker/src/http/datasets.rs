//! Aggregate datasets (issue 11): the stewards define datasets, license
//! them to third parties and build them; the licensee fetches the latest
//! build; a member sees every build that counted them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{
    CountedBuild, CreateDataset, CreateLicense, Dataset as WireDataset, License as WireLicense,
    LicenseStatus, Manifest, Page, Release, UpdateLicense,
};

use super::AppState;
use super::auth::{Admin, AuthMember, Principal};
use super::error::ApiError;
use super::extract::{Json, RawQuery};
use super::pagination::PageRequest;
use super::receipt::Receipt;
use crate::dataset::{BuildError, Builder};
use crate::domain::ThirdPartyStatus;
use crate::domain::dataset::{Dataset, DatasetSpec, License, LicenseSpec};
use crate::store::Change;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/datasets", post(create_dataset).get(list_datasets))
        .route("/v1/datasets/{id}", get(show_dataset))
        .route("/v1/licenses", post(create_license).get(list_licenses))
        .route("/v1/licenses/{id}", get(show_license).patch(update_license))
        .route("/v1/licenses/{id}/builds", post(build))
        .route("/v1/licenses/{id}/builds/latest", get(latest))
        .route("/v1/me/dataset-builds", get(my_builds))
}

pub fn builder(state: &AppState) -> Builder {
    Builder::new(
        std::sync::Arc::clone(&state.store),
        std::sync::Arc::clone(&state.engine),
        state.dp_budget,
    )
}

fn dataset_to_wire(state: &AppState, dataset: Dataset, log_index: Option<u64>) -> WireDataset {
    let remaining = crate::dataset::remaining(state.dp_budget, &dataset);
    let definition = dataset.spec.to_wire();
    WireDataset {
        id: dataset.id,
        name: definition.name,
        description: definition.description,
        purpose: definition.purpose,
        data_categories: definition.data_categories,
        dimensions: definition.dimensions,
        measures: definition.measures,
        k_min: dataset.spec.k_min,
        epsilon: dataset.spec.epsilon,
        epsilon_spent: dataset.spent_micros as f64 / 1_000_000.0,
        epsilon_remaining: remaining,
        created_at: dataset.created_at,
        log_index,
    }
}

/// Define an aggregate dataset: what it reads, how rows are grouped and
/// what each row measures. Every bad field is named in one 422.
#[utoipa::path(
    post, path = "/v1/datasets", tag = "datasets",
    request_body = CreateDataset,
    responses(
        (status = 201, description = "The dataset", body = WireDataset, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn create_dataset(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateDataset>,
) -> Result<(StatusCode, Receipt, JsonResponse<WireDataset>), ApiError> {
    let spec = DatasetSpec::parse(body, &state.policies.vocabulary)?;
    let dataset = Dataset {
        id: format!("dst_{}", uuid::Uuid::new_v4().simple()),
        spec,
        spent_micros: 0,
        created_at: state.clock.now(),
    };
    let committed = state
        .store
        .apply(Change::CreateDataset {
            dataset: dataset.clone(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Receipt(committed.log_index),
        JsonResponse(dataset_to_wire(&state, dataset, committed.log_index)),
    ))
}

/// List datasets in creation order.
#[utoipa::path(
    get, path = "/v1/datasets", tag = "datasets",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of datasets", body = Page<WireDataset>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn list_datasets(
    _: Admin,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Page<WireDataset>>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let rows = state
        .store
        .list_datasets(page.after, page.fetch_limit())
        .await?;
    let (datasets, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Page {
        items: datasets
            .into_iter()
            .map(|dataset| dataset_to_wire(&state, dataset, None))
            .collect(),
        next_cursor,
    }))
}

/// One dataset, with its privacy budget spent and remaining.
#[utoipa::path(
    get, path = "/v1/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The dataset", body = WireDataset),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn show_dataset(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<JsonResponse<WireDataset>, ApiError> {
    let dataset = state.store.dataset(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(JsonResponse(dataset_to_wire(&state, dataset, None)))
}

/// License a dataset to an active third party for a window; each build's
/// rows live `data_life_days`.
#[utoipa::path(
    post, path = "/v1/licenses", tag = "datasets",
    request_body = CreateLicense,
    responses(
        (status = 201, description = "The license", body = WireLicense, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn create_license(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateLicense>,
) -> Result<(StatusCode, Receipt, JsonResponse<WireLicense>), ApiError> {
    let now = state.clock.now();
    let parsed = LicenseSpec::parse(&body, now);
    let mut errors = match &parsed {
        Ok(_) => crate::domain::FieldErrors::new(),
        Err(errors) => errors.clone(),
    };
    if state.store.dataset(&body.dataset).await?.is_none() {
        errors.push("dataset", "no such dataset");
    }
    let licensee = match crate::domain::ThirdPartyId::parse(&body.licensee) {
        Some(id) => state.store.third_party(&id).await?,
        None => None,
    };
    match licensee {
        Some(third_party) if third_party.status == ThirdPartyStatus::Active => {}
        Some(_) => errors.push("licensee", "the third party is suspended"),
        None if parsed.is_ok() => errors.push("licensee", "no such third party"),
        None => {}
    }
    let spec = match parsed {
        Ok(spec) if errors.is_empty() => spec,
        _ => return Err(ApiError::Validation(errors)),
    };
    let license = License {
        id: format!("lic_{}", uuid::Uuid::new_v4().simple()),
        spec,
        status: LicenseStatus::Active,
        created_at: now,
        revoked_at: None,
    };
    let committed = state
        .store
        .apply(Change::CreateLicense {
            license: license.clone(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Receipt(committed.log_index),
        JsonResponse(license.to_wire(committed.log_index)),
    ))
}

/// List licenses in creation order.
#[utoipa::path(
    get, path = "/v1/licenses", tag = "datasets",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of licenses", body = Page<WireLicense>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn list_licenses(
    _: Admin,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Page<WireLicense>>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let rows = state
        .store
        .list_licenses(page.after, page.fetch_limit())
        .await?;
    let (licenses, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Page {
        items: licenses
            .into_iter()
            .map(|license| license.to_wire(None))
            .collect(),
        next_cursor,
    }))
}

/// One license.
#[utoipa::path(
    get, path = "/v1/licenses/{id}", tag = "datasets",
    params(("id" = String, Path, description = "License id")),
    responses(
        (status = 200, description = "The license", body = WireLicense),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn show_license(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<JsonResponse<WireLicense>, ApiError> {
    let license = state.store.license(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(JsonResponse(license.to_wire(None)))
}

/// Revoke a license: the licensee is told (`license.revoked`) and can
/// fetch nothing more. A revoked license stays revoked (409 to make it
/// active again); `active` on an active license changes nothing.
#[utoipa::path(
    patch, path = "/v1/licenses/{id}", tag = "datasets",
    params(("id" = String, Path, description = "License id")),
    request_body = UpdateLicense,
    responses(
        (status = 200, description = "The license after the change", body = WireLicense, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn update_license(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateLicense>,
) -> Result<(Receipt, JsonResponse<WireLicense>), ApiError> {
    let license =
        crate::app::licenses::set_status(state.store.as_ref(), &id, body.status, state.clock.now())
            .await?
            .ok_or(ApiError::NotFound)?;
    Ok((
        Receipt(license.log_index),
        JsonResponse(license.value.to_wire(license.log_index)),
    ))
}

/// Build the license's dataset now: the cohort is every member whose
/// consent (action `aggregate`, the licensee, the dataset's purpose)
/// allows every category it reads. Small cells are suppressed with their
/// complements; with `epsilon`, the budget is spent first (409 when it
/// would be exceeded) and the figures are noised. The answer is what the
/// licensee will receive.
#[utoipa::path(
    post, path = "/v1/licenses/{id}/builds", tag = "datasets",
    params(("id" = String, Path, description = "License id")),
    responses(
        (status = 201, description = "The release", body = Release, headers(("Datacoop-Log-Index" = u64, description = "The index of the build's entry in the verifiable log"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
    ),
    security(("bearer" = []))
)]
async fn build(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Receipt, JsonResponse<Release>), ApiError> {
    // The build runs in a task of its own: a caller who hangs up does not
    // stop it between spending the budget and recording the build.
    let builder = builder(&state);
    let now = state.clock.now();
    let release = tokio::spawn(async move { builder.build(&id, now, &|_| {}).await })
        .await
        .map_err(ApiError::internal)?
        .map_err(build_error)?;
    Ok((
        StatusCode::CREATED,
        Receipt(Some(release.manifest.log_index)),
        JsonResponse(release),
    ))
}

fn build_error(error: BuildError) -> ApiError {
    match error {
        BuildError::NoLicense => ApiError::NotFound,
        BuildError::NoDataset
        | BuildError::Revoked
        | BuildError::OutsideWindow { .. }
        | BuildError::LicenseeInactive
        | BuildError::CohortTooSmall { .. }
        | BuildError::Unprotectable(_)
        | BuildError::OverBudget { .. } => ApiError::Conflict(error.to_string()),
        BuildError::Store(error) => error.into(),
        other => ApiError::internal(other),
    }
}

/// The license's latest build, for its licensee (and the stewards): 403
/// for any other third party, and outside the license's window or after
/// its revocation; 410 once the build's data life has passed (its rows
/// are deleted then).
#[utoipa::path(
    get, path = "/v1/licenses/{id}/builds/latest", tag = "datasets",
    params(("id" = String, Path, description = "License id")),
    responses(
        (status = 200, description = "The latest release", body = Release),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 410, response = super::openapi::Gone),
    ),
    security(("bearer" = []))
)]
async fn latest(
    principal: Principal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<JsonResponse<Release>, ApiError> {
    let license = state.store.license(&id).await?;
    let now = state.clock.now();
    match (&principal, &license) {
        (Principal::Admin, None) => return Err(ApiError::NotFound),
        (Principal::Admin, Some(_)) => {}
        (Principal::ThirdParty(third_party), Some(license))
            if third_party.id == license.spec.licensee =>
        {
            crate::dataset::check_in_force(license, now)
                .map_err(|error| ApiError::Refused(error.to_string()))?;
        }
        // Another third party learns nothing, not even whether the
        // license exists.
        (Principal::ThirdParty(_), _) | (Principal::Member(_), _) => {
            return Err(ApiError::Forbidden);
        }
    }
    let build = state
        .store
        .latest_build(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if build.expires_at <= now || build.published.is_none() {
        // Past its data life: the rows go now, if no sweep took them yet.
        state.store.apply(Change::DatasetChores { now }).await?;
        return Err(ApiError::Gone(format!(
            "the build's data life ended at {}; its rows are deleted",
            build.expires_at.to_rfc3339()
        )));
    }
    let mut manifest: Manifest =
        serde_json::from_str(&build.manifest).map_err(ApiError::internal)?;
    manifest.log_index = build.log_index.unwrap_or_default();
    let rows = serde_json::from_str(build.published.as_deref().unwrap_or("[]"))
        .map_err(ApiError::internal)?;
    Ok(JsonResponse(Release { rows, manifest }))
}

/// Every build that counted the calling member: the dataset, the
/// licensee, the purpose and when; never the figures. Newest first.
#[utoipa::path(
    get, path = "/v1/me/dataset-builds", tag = "member",
    responses(
        (status = 200, description = "Builds that counted the member", body = Page<CountedBuild>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn my_builds(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<JsonResponse<Page<CountedBuild>>, ApiError> {
    Ok(JsonResponse(Page {
        items: counted_builds(&state, &member.id).await?,
        next_cursor: None,
    }))
}

/// The builds that counted `member`, as the member sees them.
pub async fn counted_builds(
    state: &AppState,
    member: &crate::domain::MemberId,
) -> Result<Vec<CountedBuild>, ApiError> {
    Ok(state
        .store
        .builds_of(member)
        .await?
        .into_iter()
        .map(|counted| {
            let definition = serde_json::from_str::<CreateDataset>(&counted.definition).ok();
            CountedBuild {
                build_id: counted.build,
                dataset: counted.dataset,
                dataset_name: counted.dataset_name,
                licensee: counted.licensee,
                purpose: definition
                    .as_ref()
                    .map(|definition| definition.purpose.clone())
                    .unwrap_or_default(),
                data_categories: definition
                    .map(|definition| definition.data_categories)
                    .unwrap_or_default(),
                built_at: counted.built_at,
                log_index: counted.log_index.unwrap_or_default(),
            }
        })
        .collect())
}
