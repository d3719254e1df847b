//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the
//! handlers' annotations and the wire types.

use axum::routing::get;
use axum::{Json, Router};
use datacoop_wire::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse};

use super::AppState;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "datacoop",
        description = "Consent broker for data cooperatives. Every error is an RFC 9457 problem document (`application/problem+json`).",
        license(name = "Apache-2.0")
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::vocabulary::show,
        super::members::create,
        super::members::list,
        super::third_parties::create,
        super::third_parties::list,
        super::third_parties::show,
        super::third_parties::update,
        super::me::show,
        super::me::update,
        super::me::leave,
        super::delegations::create,
        super::delegations::list,
        super::delegations::remove,
        super::delegations::delegators,
        super::rules::create_mine,
        super::rules::list_mine,
        super::rules::delete_mine,
        super::rules::create_coop,
        super::rules::list_coop,
        super::rules::delete_coop,
        super::personas::create,
        super::personas::list,
        super::oauth::token,
        super::service::put_data,
        super::service::my_data,
        super::service::connect,
        super::service::connections,
        super::service::access_log,
        super::service::export,
        super::service::access,
        super::third_parties::rotate_secret,
        super::decisions::decide,
        super::decisions::explain,
        document,
    ),
    components(schemas(Problem), responses(Malformed, Unauthorized, Forbidden, NotFound, TooLarge, WrongContentType, Invalid)),
    modifiers(&BearerAuth),
    tags(
        (name = "admin", description = "The co-op's stewards (admin token)"),
        (name = "member", description = "A member, with their own token"),
        (name = "vocabulary", description = "Any token"),
        (name = "operations", description = "Probes and metrics; no token"),
        (name = "third party", description = "A third party, with an OAuth2 access token"),
        (name = "oauth2", description = "Third parties obtain access tokens (RFC 6749 client credentials)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

macro_rules! problem_response {
    ($name:ident, $description:literal) => {
        #[derive(Debug, ToResponse)]
        #[response(description = $description, content_type = "application/problem+json")]
        #[expect(dead_code, reason = "only its OpenAPI description is used")]
        pub struct $name(Problem);
    };
}

problem_response!(Malformed, "The body is not JSON");
problem_response!(Unauthorized, "Missing or invalid bearer token");
problem_response!(Forbidden, "This token may not call this endpoint");
problem_response!(NotFound, "No such resource (or not yours)");
problem_response!(TooLarge, "The body is over the size limit");
problem_response!(WrongContentType, "The body is not `application/json`");
problem_response!(
    Invalid,
    "Well-formed but invalid; `errors` lists the fields"
);

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")))]
async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
