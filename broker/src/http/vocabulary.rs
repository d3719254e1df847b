//! `GET /v1/vocabulary` (any token): the vocabulary in force.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use datacoop_wire::{Term, Vocabulary};

use super::AppState;
use super::auth::Principal;
use crate::domain::vocabulary::Term as DomainTerm;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/vocabulary", get(show))
}

/// The data categories, purposes and requester classes in force.
#[utoipa::path(
    get, path = "/v1/vocabulary", tag = "vocabulary", operation_id = "vocabulary",
    responses(
        (status = 200, description = "The vocabulary in force", body = Vocabulary),
        (status = 401, response = super::openapi::Unauthorized),
    ),
    security(("bearer" = []))
)]
async fn show(_: Principal, State(state): State<AppState>) -> Json<Vocabulary> {
    Json(state.vocabulary_document.as_ref().clone())
}

/// The wire form, built once at start.
pub(super) fn document(vocabulary: &crate::domain::Vocabulary) -> Vocabulary {
    let terms = |terms: &[DomainTerm]| {
        terms
            .iter()
            .map(|term| Term {
                id: term.id.to_string(),
                parent: term.id.parent().map(|parent| parent.to_string()),
                label: term.label.clone(),
                description: term.description.clone(),
                dpv: term.dpv.clone(),
            })
            .collect()
    };
    Vocabulary {
        data_categories: terms(vocabulary.data_categories()),
        purposes: terms(vocabulary.purposes()),
        requester_classes: vocabulary.requester_classes().to_vec(),
    }
}
