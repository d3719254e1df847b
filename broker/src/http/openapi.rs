//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the
//! handlers' annotations and the wire types, then made to state every
//! constraint the server enforces (`published`): the vocabulary in force
//! as enums, the domain's own limits as lengths, patterns and list sizes,
//! ids by their prefix, and the answers any call may get (408, 422 for an
//! unknown query parameter, 429). `.ci/schemathesis` holds the server to
//! this document in both directions: what it forbids is refused, what it
//! allows is accepted.

use std::sync::OnceLock;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use datacoop_wire::Problem;
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse};

use super::error::ApiError;
use super::pagination::MAX_LIMIT;
use super::personas::MAX_PERSONA_RULES;
use super::{AppState, service};
use crate::domain::rule::MAX_TERMS_PER_RULE;
use crate::domain::vocabulary::WILDCARD;
use crate::domain::{
    DelegationId, DisplayName, MemberId, PersonaDescription, PersonaId, PersonaName, RuleId,
    ThirdPartyId, ThirdPartyName, Vocabulary, WebhookUrl,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "datacoop",
        description = "Consent broker for data cooperatives. Every error is an RFC 9457 problem document (`application/problem+json`), except at `/oauth2/token`, which answers RFC 6749 errors.",
        license(name = "Apache-2.0")
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::vocabulary::show,
        super::members::create,
        super::members::list,
        super::sign_in::for_member,
        super::sign_in::for_steward,
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
        super::audit::checkpoint,
        super::audit::key,
        super::audit::inclusion,
        super::audit::consistency,
        super::audit::entry,
        super::audit::mine,
        super::service::disconnect,
        super::webhooks::set_webhook,
        super::webhooks::rotate_webhook_secret,
        super::webhooks::confirm_deletion,
        super::webhooks::deletion_receipts,
        super::webhooks::deliveries,
        super::webhooks::my_withdrawals,
        super::datasets::create_dataset,
        super::datasets::list_datasets,
        super::datasets::show_dataset,
        super::datasets::create_license,
        super::datasets::list_licenses,
        super::datasets::show_license,
        super::datasets::update_license,
        super::datasets::build,
        super::datasets::latest,
        super::datasets::my_builds,
        document,
    ),
    components(schemas(Problem), responses(Malformed, Unauthorized, Forbidden, NotFound, Conflict, Gone, TooLarge, WrongContentType, Invalid)),
    modifiers(&BearerAuth),
    tags(
        (name = "admin", description = "The co-op's stewards (admin token)"),
        (name = "member", description = "A member, with their own token"),
        (name = "vocabulary", description = "Any token"),
        (name = "operations", description = "Probes and metrics; no token"),
        (name = "third party", description = "A third party, with an OAuth2 access token"),
        (name = "audit", description = "The verifiable log: checkpoints, keys and proofs with no token; entries for the stewards and the members they are about"),
        (name = "datasets", description = "Aggregate datasets: the stewards define and license them; a licensee fetches its latest build"),
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
problem_response!(Conflict, "Conflicts with the resource's current state");
problem_response!(Gone, "It existed and is gone for good");
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
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")))]
async fn document(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    published(&state.policies.vocabulary)
        .map(Json)
        .map_err(ApiError::internal)
}

/// The document describes something that is not there: a handler's
/// annotation or a wire type changed without this module.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the generated OpenAPI document has no object at `{0}`")]
    Missing(String),
    #[error("the generated OpenAPI document does not serialize: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The OpenAPI document for a broker serving `vocabulary`.
pub fn published(vocabulary: &Vocabulary) -> Result<Value, DocumentError> {
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    add_components(&mut doc, vocabulary)?;
    constrain_requests(&mut doc)?;
    constrain_parameters(&mut doc)?;
    describe_token_endpoint(&mut doc)?;
    add_common_responses(&mut doc)?;
    Ok(doc)
}

// ---------------------------------------------------------------------------
// Patterns. They use the syntax Python's `re` (schemathesis) and Rust's
// `regex` (the tests below) read alike, which is ECMA-262's too except
// for characters beyond U+FFFF (`\UHHHHHHHH`): classes of `\xHH`,
// `\uHHHH` and `\UHHHHHHHH` escapes, and no `\s`, which each dialect
// reads differently.

/// `char::is_whitespace` (Unicode `White_Space`), what `str::trim` removes.
const WHITESPACE: &[(char, char)] = &[
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Characters refused anywhere in a request string.
const NUL: &[(char, char)] = &[('\0', '\0')];

/// The longest persona name and description, in characters after trimming
/// (`PersonaName`, `PersonaDescription`; the tests below hold them equal).
const PERSONA_NAME_MAX_CHARS: usize = 100;
const PERSONA_DESCRIPTION_MAX_CHARS: usize = 2000;

fn escape(c: char) -> String {
    let code = u32::from(c);
    if code < 0x100 {
        format!("\\x{code:02x}")
    } else if code < 0x1_0000 {
        format!("\\u{code:04x}")
    } else {
        format!("\\U{code:08x}")
    }
}

/// A character class of `ranges`, or of everything else when `negated`.
fn class(ranges: &[&[(char, char)]], negated: bool) -> String {
    let mut text = String::from(if negated { "[^" } else { "[" });
    for &(low, high) in ranges.iter().flat_map(|set| set.iter()) {
        text.push_str(&escape(low));
        if high != low {
            text.push('-');
            text.push_str(&escape(high));
        }
    }
    text.push(']');
    text
}

/// A string with none of `forbidden`.
fn without(forbidden: &[(char, char)]) -> String {
    format!("^{}*$", class(&[forbidden], true))
}

/// How the server reads one kind of human text (a name, a description),
/// learnt from its parser so that the published pattern cannot drift from
/// it: the characters it refuses between two letters, and whether it
/// takes `\r\n` as one line end where it refuses a lone `\r`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TextRule {
    refused: Ranges,
    crlf: bool,
}

impl TextRule {
    /// `accepts` is the parser; U+0000 is refused in any case (the JSON
    /// extractor refuses it in every string).
    fn learn(accepts: impl Fn(&str) -> bool) -> Self {
        let mut refused: Ranges = Vec::new();
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            if c != '\0' && accepts(&format!("a{c}a")) {
                continue;
            }
            match refused.last_mut() {
                Some((_, high)) if u32::from(*high) + 1 == u32::from(c) => *high = c,
                _ => refused.push((c, c)),
            }
        }
        let crlf = accepts("a\r\na") && !accepts("a\ra");
        Self { refused, crlf }
    }

    /// What `str::trim` leaves is 1 to `max` characters (a `\r\n` counting
    /// as one where it is one line end), none refused; any whitespace
    /// around it is accepted and dropped.
    ///
    /// Written for the tools that read it, not only for the letter of the
    /// rule: no counted repetition of a large class (automaton engines such
    /// as Rust's `regex`, under schemathesis's validator, refuse to compile
    /// it), and the refused ranges of a thousand code points or more
    /// (unassigned planes, private use) in a negative lookahead rather than
    /// in the classes (Hypothesis, which draws schemathesis's strings,
    /// expands every class range character by character). The length is a
    /// negative lookahead too: no text character `max` units past the start.
    fn pattern(&self, max: usize) -> String {
        let (large, small): (Ranges, Ranges) = self
            .refused
            .iter()
            .partition(|&&(low, high)| u32::from(high) - u32::from(low) >= LARGE_RANGE);
        let space = class(&[WHITESPACE], false);
        let text = class(&[WHITESPACE], true);
        let edge = class(&[WHITESPACE, &small], true);
        let allowed = class(&[&small], true);
        let (unit, inner) = if self.crlf {
            // A lone `\r` is refused and `\r\n` is one unit, counted once.
            (
                "(?:\\x0d\\x0a|\\x0d(?!\\x0a)|[^\\x0d])".to_owned(),
                format!("(?:{allowed}|\\x0d\\x0a)"),
            )
        } else {
            ("[\\s\\S]".to_owned(), allowed)
        };
        let none_large = if large.is_empty() {
            String::new()
        } else {
            format!("(?![\\s\\S]*{})", class(&[&large], false))
        };
        format!(
            "^{none_large}{space}*(?!{unit}{{{max}}}[\\s\\S]*{text}){edge}(?:{inner}*{edge})?{space}*$"
        )
    }
}

/// Inclusive ranges of characters.
type Ranges = Vec<(char, char)>;

/// Refused ranges at least this long go to a lookahead (see `pattern`).
const LARGE_RANGE: u32 = 1000;

/// The rules of the names and descriptions the API takes, learnt once.
struct TextRules {
    display_name: TextRule,
    third_party_name: TextRule,
    persona_name: TextRule,
    persona_description: TextRule,
}

fn text_rules() -> &'static TextRules {
    static RULES: OnceLock<TextRules> = OnceLock::new();
    RULES.get_or_init(|| TextRules {
        display_name: TextRule::learn(|text| DisplayName::parse(text).is_ok()),
        third_party_name: TextRule::learn(|text| ThirdPartyName::parse(text).is_ok()),
        persona_name: TextRule::learn(|text| PersonaName::parse(text).is_ok()),
        persona_description: TextRule::learn(|text| PersonaDescription::parse(text).is_ok()),
    })
}

/// An id of one kind: its prefix and 32 lowercase hex digits.
fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}[0-9a-f]{{32}}$")
}

/// A cursor the server issued: unpadded base64url.
const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]+$";

/// Instants a request may carry: RFC 3339, years 1970 to 9999.
const INSTANT_PATTERN: &str = "^(?:19[7-9][0-9]|[2-9][0-9]{3})-";

/// `https`, or `http` to a loopback host; no user name or password.
const WEBHOOK_PATTERN: &str = "^(?:[Hh][Tt][Tt][Pp][Ss]://[^/?#@\\\\]+|[Hh][Tt][Tt][Pp]://(?:[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|127(?:\\.[0-9]{1,3}){3}|\\[::1\\])(?::[0-9]{1,5})?)(?:[/?#].*)?$";

// ---------------------------------------------------------------------------
// Navigation in the JSON document.

/// The JSON-pointer form of one key.
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn object<'a>(
    doc: &'a mut Value,
    pointer: &str,
) -> Result<&'a mut Map<String, Value>, DocumentError> {
    doc.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| DocumentError::Missing(pointer.to_owned()))
}

/// Adds (or replaces) every key of `keywords` in the object at `pointer`.
fn merge(doc: &mut Value, pointer: &str, keywords: Value) -> Result<(), DocumentError> {
    let target = object(doc, pointer)?;
    if let Value::Object(keywords) = keywords {
        target.extend(keywords);
    }
    Ok(())
}

fn property(schema: &str, name: &str) -> String {
    format!(
        "/components/schemas/{}/properties/{}",
        token(schema),
        token(name)
    )
}

fn operation(path: &str, method: &str) -> String {
    format!("/paths/{}/{method}", token(path))
}

fn json_body(path: &str, method: &str) -> String {
    format!(
        "{}/requestBody/content/application~1json/schema",
        operation(path, method)
    )
}

/// The schema of the parameter `name` of one operation.
fn parameter<'a>(
    doc: &'a mut Value,
    path: &str,
    method: &str,
    name: &str,
) -> Result<&'a mut Map<String, Value>, DocumentError> {
    let pointer = format!("{}/parameters", operation(path, method));
    doc.pointer_mut(&pointer)
        .and_then(Value::as_array_mut)
        .and_then(|parameters| {
            parameters
                .iter_mut()
                .find(|parameter| parameter.get("name").and_then(Value::as_str) == Some(name))
        })
        .and_then(|parameter| parameter.get_mut("schema"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| DocumentError::Missing(format!("{pointer} `{name}`")))
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

// ---------------------------------------------------------------------------
// The constraints.

/// Schemas of the vocabulary in force, and of values any request carries.
fn add_components(doc: &mut Value, vocabulary: &Vocabulary) -> Result<(), DocumentError> {
    let categories: Vec<String> = vocabulary
        .data_categories()
        .iter()
        .map(|term| term.id.to_string())
        .collect();
    let purposes: Vec<String> = vocabulary
        .purposes()
        .iter()
        .map(|term| term.id.to_string())
        .collect();
    let with_wildcard = |ids: &[String]| {
        let mut all = vec![WILDCARD.to_owned()];
        all.extend(ids.iter().cloned());
        all
    };
    let classes: Vec<&str> = vocabulary
        .requester_classes()
        .iter()
        .map(|class| class.as_str())
        .collect();
    let free_text = without(NUL);
    let schemas = object(doc, "/components/schemas")?;
    schemas.insert(
        "CategoryId".to_owned(),
        json!({
            "type": "string",
            "description": "A data category of the vocabulary in force (`GET /v1/vocabulary`).",
            "enum": categories,
        }),
    );
    schemas.insert(
        "CategorySelector".to_owned(),
        json!({
            "type": "string",
            "description": "A data category of the vocabulary in force, or `*` for all of them.",
            "enum": with_wildcard(&categories),
        }),
    );
    schemas.insert(
        "PurposeSelector".to_owned(),
        json!({
            "type": "string",
            "description": "A purpose of the vocabulary in force, or `*` for all of them.",
            "enum": with_wildcard(&purposes),
        }),
    );
    schemas.insert(
        "ClassInForce".to_owned(),
        json!({
            "type": "string",
            "description": "A requester class the vocabulary in force lists.",
            "enum": classes,
        }),
    );
    schemas.insert(
        "RuleRequester".to_owned(),
        json!({
            "description": "Which requesters a rule selects: `\"*\"`, `{\"class\": C}` or `{\"third_party\": ID}` (an existing third party).",
            "oneOf": [
                { "type": "string", "enum": [WILDCARD], "description": "every requester" },
                {
                    "type": "object",
                    "description": "every third party of this class",
                    "required": ["class"],
                    "properties": { "class": reference("ClassInForce") },
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "description": "one third party, by id",
                    "required": ["third_party"],
                    "properties": {
                        "third_party": { "type": "string", "pattern": id_pattern(ThirdPartyId::PREFIX) },
                    },
                    "additionalProperties": false,
                },
            ],
        }),
    );
    schemas.insert(
        "Instant".to_owned(),
        json!({
            "type": "string",
            "format": "date-time",
            "pattern": INSTANT_PATTERN,
            "description": "An RFC 3339 instant, years 1970 to 9999.",
        }),
    );
    schemas.insert(
        "JsonValue".to_owned(),
        json!({
            "description": "Any JSON value; no string in it (nor any key) holds U+0000.",
            "anyOf": [
                { "type": ["null", "boolean", "number"] },
                { "type": "string", "pattern": free_text },
                { "type": "array", "items": reference("JsonValue") },
                {
                    "type": "object",
                    "propertyNames": { "pattern": free_text },
                    "additionalProperties": reference("JsonValue"),
                },
            ],
        }),
    );
    // `Proxy` is an answer's shape too: ids are ids whichever way they go.
    schemas.insert(
        "Proxy".to_owned(),
        json!({
            "description": "Whom a delegation hands decisions to: `{\"member\": ID}` (a member who accepts delegations) or `{\"persona\": ID}`.",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["member"],
                    "properties": { "member": { "type": "string", "pattern": id_pattern(MemberId::PREFIX) } },
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "required": ["persona"],
                    "properties": { "persona": { "type": "string", "pattern": id_pattern(PersonaId::PREFIX) } },
                    "additionalProperties": false,
                },
            ],
        }),
    );
    // Every 422 names the fields at fault.
    schemas.insert(
        "ValidationProblem".to_owned(),
        json!({
            "allOf": [reference("Problem")],
            "required": ["errors"],
            "properties": { "errors": { "type": "array", "minItems": 1 } },
        }),
    );
    Ok(())
}

fn constrain_requests(doc: &mut Value) -> Result<(), DocumentError> {
    let rules = text_rules();
    let display_name = rules.display_name.pattern(DisplayName::MAX_CHARS);
    let free_text = without(NUL);
    let terms = |selector: &str| {
        json!({
            "minItems": 1,
            "maxItems": MAX_TERMS_PER_RULE,
            "items": reference(selector),
        })
    };

    merge(
        doc,
        &property("CreateMember", "display_name"),
        json!({ "pattern": display_name }),
    )?;
    merge(
        doc,
        &property("UpdateMe", "display_name"),
        json!({ "pattern": display_name }),
    )?;

    merge(
        doc,
        &property("CreateThirdParty", "name"),
        json!({ "pattern": rules.third_party_name.pattern(ThirdPartyName::MAX_CHARS) }),
    )?;
    *object(doc, &property("CreateThirdParty", "class"))? = reference_map("ClassInForce");
    for (schema, field) in [
        ("CreateThirdParty", "webhook_url"),
        ("UpdateThirdParty", "webhook_url"),
        ("SetWebhook", "url"),
    ] {
        merge(
            doc,
            &property(schema, field),
            json!({ "pattern": WEBHOOK_PATTERN, "maxLength": WebhookUrl::MAX_CHARS }),
        )?;
    }
    // A PATCH changes something: the status (never null), the endpoint, or both.
    *object(doc, &property("UpdateThirdParty", "status"))? = reference_map("ThirdPartyStatus");
    merge(
        doc,
        "/components/schemas/UpdateThirdParty",
        json!({ "minProperties": 1 }),
    )?;

    *object(doc, &property("RuleBody", "requester"))? = reference_map("RuleRequester");
    merge(
        doc,
        &property("RuleBody", "data_categories"),
        terms("CategorySelector"),
    )?;
    merge(
        doc,
        &property("RuleBody", "purposes"),
        terms("PurposeSelector"),
    )?;
    for instant in ["not_before", "expires_at"] {
        *object(doc, &property("RuleBody", instant))? = json_map(json!({
            "oneOf": [reference("Instant"), { "type": "null" }],
        }));
    }
    // The co-op's rules can only deny.
    let mut coop = object(doc, "/components/schemas/RuleBody")?.clone();
    coop.insert(
        "description".to_owned(),
        json!("A co-op rule as submitted: a rule body whose effect is `deny`."),
    );
    if let Some(Value::Object(properties)) = coop.get_mut("properties") {
        properties.insert(
            "effect".to_owned(),
            json!({ "type": "string", "enum": ["deny"] }),
        );
    }
    object(doc, "/components/schemas")?.insert("CoopRuleBody".to_owned(), Value::Object(coop));
    *object(doc, &json_body("/v1/coop/rules", "post"))? = reference_map("CoopRuleBody");

    merge(
        doc,
        &property("CreatePersona", "name"),
        json!({ "pattern": rules.persona_name.pattern(PERSONA_NAME_MAX_CHARS) }),
    )?;
    merge(
        doc,
        &property("CreatePersona", "description"),
        json!({ "pattern": rules.persona_description.pattern(PERSONA_DESCRIPTION_MAX_CHARS) }),
    )?;
    merge(
        doc,
        &property("CreatePersona", "rules"),
        json!({ "maxItems": MAX_PERSONA_RULES }),
    )?;

    merge(
        doc,
        &property("CreateDelegation", "data_categories"),
        terms("CategorySelector"),
    )?;
    merge(
        doc,
        &property("CreateDelegation", "purposes"),
        terms("PurposeSelector"),
    )?;

    merge(
        doc,
        &property("CreateConnection", "third_party"),
        json!({ "pattern": id_pattern(ThirdPartyId::PREFIX) }),
    )?;

    for schema in ["DecisionRequest", "ExplainRequest", "AccessRequest"] {
        merge(
            doc,
            &property(schema, "data_categories"),
            terms("CategorySelector"),
        )?;
        *object(doc, &property(schema, "purpose"))? = reference_map("PurposeSelector");
    }
    merge(
        doc,
        &property("DecisionRequest", "member"),
        json!({ "pattern": free_text }),
    )?;
    merge(
        doc,
        &property("DecisionRequest", "requester"),
        json!({ "pattern": free_text }),
    )?;
    merge(
        doc,
        &property("ExplainRequest", "requester"),
        json!({ "pattern": free_text }),
    )?;
    merge(
        doc,
        &property("AccessRequest", "subject"),
        json!({ "pattern": free_text }),
    )?;

    let data = object(doc, &json_body("/v1/me/data/{category}", "put"))?;
    *data = reference_map("JsonValue");
    merge(
        doc,
        &format!("{}/requestBody", operation("/v1/me/data/{category}", "put")),
        json!({ "description": format!("Any JSON value, at most {} bytes once serialized", service::MAX_VALUE_BYTES) }),
    )?;
    Ok(())
}

fn reference_map(name: &str) -> Map<String, Value> {
    json_map(reference(name))
}

fn json_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Path ids by their prefix (a malformed id is a plain 404), the data
/// category of `PUT /v1/me/data/{category}`, and pagination.
fn constrain_parameters(doc: &mut Value) -> Result<(), DocumentError> {
    let ids = [
        ("/v1/third-parties/{id}", "get", ThirdPartyId::PREFIX),
        ("/v1/third-parties/{id}", "patch", ThirdPartyId::PREFIX),
        (
            "/v1/third-parties/{id}/secret",
            "post",
            ThirdPartyId::PREFIX,
        ),
        ("/v1/me/rules/{id}", "delete", RuleId::PREFIX),
        ("/v1/coop/rules/{id}", "delete", RuleId::PREFIX),
        ("/v1/me/delegations/{id}", "delete", DelegationId::PREFIX),
    ];
    for (path, method, prefix) in ids {
        parameter(doc, path, method, "id")?.insert("pattern".to_owned(), json!(id_pattern(prefix)));
    }
    parameter(
        doc,
        "/v1/me/connections/{third_party}",
        "delete",
        "third_party",
    )?
    .insert(
        "pattern".to_owned(),
        json!(id_pattern(ThirdPartyId::PREFIX)),
    );
    *parameter(doc, "/v1/me/data/{category}", "put", "category")? = reference_map("CategoryId");
    for path in [
        "/v1/members",
        "/v1/third-parties",
        "/v1/me/access-log",
        "/v1/me/delegators",
        "/v1/me/audit",
        "/v1/me/withdrawals",
        "/v1/deletion-receipts",
        "/v1/webhook-deliveries",
    ] {
        let limit = parameter(doc, path, "get", "limit")?;
        limit.insert("minimum".to_owned(), json!(1));
        limit.insert("maximum".to_owned(), json!(MAX_LIMIT));
        limit.insert(
            "default".to_owned(),
            json!(super::pagination::DEFAULT_LIMIT),
        );
        parameter(doc, path, "get", "cursor")?.insert("pattern".to_owned(), json!(CURSOR_PATTERN));
    }
    Ok(())
}

/// `POST /oauth2/token` takes a form (RFC 6749 §4.4.2) and answers RFC
/// 6749 errors: its own answers carry `Cache-Control: no-store`, and a
/// busy or rate-limited endpoint says when to come back.
fn describe_token_endpoint(doc: &mut Value) -> Result<(), DocumentError> {
    let free_text = without(NUL);
    let token = operation("/oauth2/token", "post");
    merge(
        doc,
        &format!("{token}/requestBody/content/application~1x-www-form-urlencoded"),
        json!({
            "schema": {
                "type": "object",
                "description": "HTTP Basic (RFC 6749 §2.3.1) may carry `client_id` and `client_secret` instead.",
                "required": ["grant_type", "client_id", "client_secret"],
                "properties": {
                    "grant_type": { "type": "string", "enum": ["client_credentials"] },
                    "client_id": { "type": "string", "pattern": free_text },
                    "client_secret": { "type": "string", "pattern": free_text },
                },
                // RFC 6749 §3.2: unrecognized parameters are ignored, but
                // none may be repeated.
                "additionalProperties": { "type": "string" },
            }
        }),
    )?;
    merge(
        doc,
        &format!("{token}/requestBody"),
        json!({ "required": true }),
    )?;
    let oauth_error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": reference("OAuthError") } },
        })
    };
    let responses = object(doc, &format!("{token}/responses"))?;
    // The handler's own annotation describes these when it lists them.
    for (status, description) in [
        ("413", "`invalid_request`: the body is over the size limit"),
        (
            "429",
            "`temporarily_unavailable`: too many requests from this address or for this client",
        ),
        (
            "503",
            "`temporarily_unavailable`: too many secrets being verified at once",
        ),
    ] {
        responses
            .entry(status)
            .or_insert_with(|| oauth_error(description));
    }
    for (status, answer) in responses.iter_mut() {
        let Some(answer) = answer.as_object_mut() else {
            continue;
        };
        let mut headers = json_map(json!({
            "Cache-Control": {
                "description": "`no-store` (RFC 6749 §5.1)",
                "required": true,
                "schema": { "type": "string", "enum": ["no-store"] },
            }
        }));
        match status.as_str() {
            "401" => {
                headers.insert(
                    "WWW-Authenticate".to_owned(),
                    json!({ "required": true, "schema": { "type": "string" } }),
                );
            }
            "429" | "503" => headers.extend(json_map(retry_after_header())),
            _ => {}
        }
        answer.insert("headers".to_owned(), Value::Object(headers));
    }
    Ok(())
}

fn retry_after_header() -> Value {
    json!({
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "required": true,
            "schema": { "type": "integer", "minimum": 0 },
        }
    })
}

/// What any call may be answered besides its own outcomes: 408 past the
/// request timeout, 422 for a query parameter it does not take, and 429
/// when rate limited. A missing token's 401 says `WWW-Authenticate`.
fn add_common_responses(doc: &mut Value) -> Result<(), DocumentError> {
    let problem = |description: &str, schema: &str| {
        json!({
            "description": description,
            "content": { "application/problem+json": { "schema": reference(schema) } },
        })
    };
    let mut limited = problem(
        "Too many requests; try again after `Retry-After` seconds",
        "Problem",
    );
    if let Some(answer) = limited.as_object_mut() {
        answer.insert("headers".to_owned(), retry_after_header());
    }
    let mut unauthorized = problem("Missing or invalid bearer token", "Problem");
    if let Some(answer) = unauthorized.as_object_mut() {
        answer.insert(
            "headers".to_owned(),
            json!({ "WWW-Authenticate": { "required": true, "schema": { "type": "string", "enum": ["Bearer"] } } }),
        );
    }
    let responses = object(doc, "/components/responses")?;
    responses.insert(
        "Timeout".to_owned(),
        problem("The request took longer than the server allows", "Problem"),
    );
    responses.insert("TooManyRequests".to_owned(), limited);
    responses.insert(
        "Unavailable".to_owned(),
        problem(
            "The database cannot be reached (or no connection came free in time), so this replica cannot tell whether what it holds is current; nothing changed; try again",
            "Problem",
        ),
    );
    responses.insert("Unauthorized".to_owned(), unauthorized);
    responses.insert(
        "Invalid".to_owned(),
        problem(
            "Well-formed but invalid; `errors` lists the fields",
            "ValidationProblem",
        ),
    );

    let response_ref = |name: &str| json!({ "$ref": format!("#/components/responses/{name}") });
    let paths = object(doc, "/paths")?;
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, operation) in item.iter_mut() {
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            let bearer = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|security| !security.is_empty());
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                return Err(DocumentError::Missing(format!(
                    "/paths/{}/…/responses",
                    token(path)
                )));
            };
            responses
                .entry("408")
                .or_insert_with(|| response_ref("Timeout"));
            responses
                .entry("422")
                .or_insert_with(|| response_ref("Invalid"));
            if !matches!(path.as_str(), "/healthz" | "/metrics" | "/openapi.json") {
                responses
                    .entry("503")
                    .or_insert_with(|| response_ref("Unavailable"));
            }
            if bearer {
                responses
                    .entry("429")
                    .or_insert_with(|| response_ref("TooManyRequests"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use fancy_regex::Regex;

    use super::*;
    use crate::http::pagination::PageRequest;
    use crate::policy::DEFAULT_VOCABULARY;

    fn document() -> Value {
        published(&Vocabulary::from_json(DEFAULT_VOCABULARY).unwrap()).unwrap()
    }

    fn pattern(doc: &Value, pointer: &str) -> Regex {
        let text = doc
            .pointer(pointer)
            .and_then(|schema| schema.get("pattern"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no pattern at {pointer}"));
        Regex::new(text).unwrap()
    }

    fn matches(regex: &Regex, text: &str) -> bool {
        regex.is_match(text).unwrap()
    }

    /// Every character worth trying: the first planes' worth of the BMP
    /// (controls, spaces, punctuation, the bidi and zero-width marks),
    /// the specials, and a stride through the rest, astral planes included.
    fn characters() -> impl Iterator<Item = char> {
        (0..0x3100u32)
            .chain((0x3100..0x11_0000).step_by(97))
            .chain(0xfe00..0x1_0000)
            .chain(0xe0000..0xe0200)
            .chain([0x3_0000, 0x4_0000, 0xf_0000, 0x10_fffd, 0x10_ffff])
            .filter_map(char::from_u32)
    }

    /// The published pattern accepts exactly what the parser accepts (and
    /// the JSON extractor, which refuses U+0000 in every string).
    fn agrees<E>(
        doc: &Value,
        pointer: &str,
        max: usize,
        parse: impl Fn(&str) -> Result<E, crate::domain::validation::TextError>,
    ) {
        let regex = pattern(doc, pointer);
        let mut samples: Vec<String> = Vec::new();
        for c in characters() {
            samples.extend([
                c.to_string(),
                format!("a{c}"),
                format!("{c}a"),
                format!("a{c}a"),
            ]);
        }
        let word = |n: usize| "é".repeat(n);
        samples.extend([
            String::new(),
            "a\r\na".to_owned(),
            "a\ra".to_owned(),
            "a\r\r\na".to_owned(),
            "\r\na\r\n".to_owned(),
            format!("{}\r\n{}", word(max / 2), word(max - max / 2 - 1)),
            format!("{}\r\n{}", word(max / 2), word(max - max / 2)),
            word(max),
            word(max + 1),
            format!(" \t{} \u{3000}", word(max)),
            format!(" {} ", word(max + 1)),
            format!("{} {}", word(max / 2), word(max - max / 2 - 1)),
            format!("{} {}", word(max / 2), word(max - max / 2)),
        ]);
        for sample in samples {
            assert_eq!(
                matches(&regex, &sample),
                parse(&sample).is_ok() && !sample.contains('\0'),
                "{pointer} and the parser disagree on {sample:?}"
            );
        }
    }

    #[test]
    fn name_patterns_are_the_parsers_rules() {
        let doc = document();
        agrees(
            &doc,
            &property("CreateMember", "display_name"),
            DisplayName::MAX_CHARS,
            DisplayName::parse,
        );
        agrees(
            &doc,
            &property("UpdateMe", "display_name"),
            DisplayName::MAX_CHARS,
            DisplayName::parse,
        );
        agrees(
            &doc,
            &property("CreateThirdParty", "name"),
            ThirdPartyName::MAX_CHARS,
            ThirdPartyName::parse,
        );
        agrees(
            &doc,
            &property("CreatePersona", "name"),
            PERSONA_NAME_MAX_CHARS,
            PersonaName::parse,
        );
        agrees(
            &doc,
            &property("CreatePersona", "description"),
            PERSONA_DESCRIPTION_MAX_CHARS,
            PersonaDescription::parse,
        );
    }

    #[test]
    fn ids_cursors_and_instants_match_their_patterns() {
        let doc = document();
        let id = |path: &str, method: &str| {
            let mut doc = doc.clone();
            let schema = Value::Object(parameter(&mut doc, path, method, "id").unwrap().clone());
            Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
        };
        assert!(
            id("/v1/third-parties/{id}", "get")
                .is_match(ThirdPartyId::generate().as_str())
                .unwrap()
        );
        assert!(
            !id("/v1/third-parties/{id}", "get")
                .is_match(MemberId::generate().as_str())
                .unwrap()
        );
        assert!(
            id("/v1/me/rules/{id}", "delete")
                .is_match(RuleId::generate().as_str())
                .unwrap()
        );
        assert!(
            id("/v1/me/delegations/{id}", "delete")
                .is_match(DelegationId::generate().as_str())
                .unwrap()
        );
        let proxy = &doc["components"]["schemas"]["Proxy"]["oneOf"];
        let member = Regex::new(
            proxy[0]["properties"]["member"]["pattern"]
                .as_str()
                .unwrap(),
        );
        assert!(
            member
                .unwrap()
                .is_match(MemberId::generate().as_str())
                .unwrap()
        );
        let persona = Regex::new(
            proxy[1]["properties"]["persona"]["pattern"]
                .as_str()
                .unwrap(),
        );
        assert!(
            persona
                .unwrap()
                .is_match(PersonaId::generate().as_str())
                .unwrap()
        );

        let page = PageRequest {
            after: None,
            limit: 1,
        };
        let (_, cursor) = page.finish(vec![(41, ()), (42, ())]);
        assert!(
            Regex::new(CURSOR_PATTERN)
                .unwrap()
                .is_match(&cursor.unwrap())
                .unwrap()
        );

        let instant = Regex::new(INSTANT_PATTERN).unwrap();
        for (text, allowed) in [
            ("1970-01-01T00:00:00Z", true),
            ("9999-12-31T23:59:59Z", true),
            ("2026-05-01T12:00:00+02:00", true),
            ("1969-12-31T23:59:59Z", false),
            ("0001-01-01T00:00:00Z", false),
            ("+99999-01-01T00:00:00Z", false),
        ] {
            assert_eq!(matches(&instant, text), allowed, "{text}");
        }
    }

    #[test]
    fn the_webhook_pattern_states_the_scheme_rule() {
        let regex = Regex::new(WEBHOOK_PATTERN).unwrap();
        for url in [
            "https://heart.example.org/hook",
            "HTTPS://Example.org:8443/a?b=c#d",
            "http://localhost/hook",
            "http://127.0.0.1:8080/hook",
            "http://[::1]:9000/",
        ] {
            assert!(WebhookUrl::parse(url, true).is_ok(), "{url}");
            assert!(matches(&regex, url), "{url}");
        }
        for url in [
            "http://example.org/hook",
            "https://user:secret@example.org/",
            "ftp://example.org/",
            "example.org",
            "",
        ] {
            assert!(WebhookUrl::parse(url, true).is_err(), "{url}");
            assert!(!matches(&regex, url), "{url}");
        }
    }

    #[test]
    fn limits_are_the_servers() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for (schema, field) in [
            ("RuleBody", "data_categories"),
            ("RuleBody", "purposes"),
            ("CreateDelegation", "data_categories"),
            ("DecisionRequest", "data_categories"),
            ("AccessRequest", "data_categories"),
        ] {
            let list = &schemas[schema]["properties"][field];
            assert_eq!(list["minItems"], 1, "{schema}.{field}");
            assert_eq!(list["maxItems"], MAX_TERMS_PER_RULE, "{schema}.{field}");
        }
        assert_eq!(
            schemas["CreatePersona"]["properties"]["rules"]["maxItems"],
            MAX_PERSONA_RULES
        );
        assert_eq!(
            schemas["CoopRuleBody"]["properties"]["effect"]["enum"],
            json!(["deny"])
        );
        let categories = schemas["CategorySelector"]["enum"].as_array().unwrap();
        assert!(categories.contains(&json!("*")));
        assert!(categories.contains(&json!("health.heart")));
        assert!(
            !schemas["CategoryId"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("*"))
        );
        let mut doc = doc.clone();
        let limit = parameter(&mut doc, "/v1/members", "get", "limit").unwrap();
        assert_eq!(limit["minimum"], 1);
        assert_eq!(limit["maximum"], MAX_LIMIT);
    }

    #[test]
    fn the_token_endpoint_answers_as_rfc_6749_says() {
        let doc = document();
        let token = &doc["paths"]["/oauth2/token"]["post"];
        let form = &token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        assert_eq!(
            form["properties"]["grant_type"]["enum"],
            json!(["client_credentials"])
        );
        for status in ["200", "400", "401", "413", "429", "503"] {
            let headers = &token["responses"][status]["headers"];
            assert_eq!(headers["Cache-Control"]["required"], true, "{status}");
        }
        for status in ["429", "503"] {
            let headers = &token["responses"][status]["headers"];
            assert_eq!(headers["Retry-After"]["required"], true, "{status}");
        }
        assert!(
            token["responses"]["401"]["headers"]
                .get("WWW-Authenticate")
                .is_some()
        );
    }

    #[test]
    fn every_operation_has_its_own_id_and_the_common_answers() {
        let doc = document();
        let mut ids = HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{method} {path}: `{id}` twice");
                for status in ["408", "422"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} lacks {status}"
                    );
                }
                if operation.get("security").is_some() {
                    assert!(operation["responses"].get("429").is_some());
                }
            }
        }
    }
}
