//! The member's own records: "Why?" (how a request would be decided),
//! the access log, connections, my data with its export, leaving the
//! co-op, and receipts from the verifiable log. Each calls what the
//! matching `/v1/me/…` endpoint calls.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::i18n::Tr;
use super::page::{CsrfForm, Layout, PageError, done, render};
use super::session::{MemberPage, SESSION_COOKIE, removal};
use crate::app;
use crate::consent::{Decider, DecisionInput};
use crate::domain::{ThirdPartyId, ThirdPartyStatus};
use crate::http::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/why", get(why))
        .route("/access", get(access))
        .route("/connections", get(connections))
        .route("/connections/{id}/end", post(end_connection))
        .route("/data", get(data))
        .route("/data/export", get(export))
        .route("/leave", get(confirm_leave).post(leave))
        .route("/receipts", get(receipts))
        .route("/receipts/verify", post(verify_receipts))
}

#[derive(Debug, Default, Deserialize)]
struct NoFields {}

#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error.status().as_u16() {
            503 => Self::Unavailable,
            401 => Self::SignIn { expired: true },
            404 => Self::NotFound,
            _ => {
                tracing::error!(%error, "a page's call failed");
                Self::Internal
            }
        }
    }
}

/// An option of a select or a checkbox.
#[derive(Debug, Clone)]
struct Choice {
    value: String,
    label: String,
    checked: bool,
}

/// The third parties a member may ask about, by name.
async fn third_parties(state: &AppState) -> Result<Vec<(String, String)>, PageError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.list_third_parties(after, 200).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        all.extend(
            page.into_iter()
                .filter(|(_, third_party)| third_party.status == ThirdPartyStatus::Active)
                .map(|(_, third_party)| {
                    (
                        third_party.id.to_string(),
                        third_party.name.as_str().to_owned(),
                    )
                }),
        );
        if all.len() >= 1000 {
            break;
        }
    }
    Ok(all)
}

#[derive(Debug, Default, Deserialize)]
struct WhyQuery {
    requester: Option<String>,
    #[serde(default)]
    categories: Vec<String>,
    purpose: Option<String>,
}

/// One category's answer, in words.
#[derive(Debug, Clone)]
struct Answer {
    category: String,
    allowed: bool,
    reason: String,
    decided_by: String,
    chain: Vec<String>,
}

#[derive(Template)]
#[template(path = "member/why.html")]
struct WhyPage {
    l: Layout,
    requesters: Vec<Choice>,
    categories: Vec<Choice>,
    purposes: Vec<Choice>,
    answers: Vec<Answer>,
    problem: Option<String>,
}

/// `GET /why`: the form, and with its fields the engine's decision for
/// each category, as `POST /v1/me/explain` answers it.
async fn why(
    State(state): State<AppState>,
    page: MemberPage,
    axum_extra::extract::Query(query): axum_extra::extract::Query<WhyQuery>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let vocabulary = &state.policies.vocabulary;
    let requester = query.requester.clone().unwrap_or_default();
    let purpose = query.purpose.clone().unwrap_or_default();
    let requesters = third_parties(&state)
        .await?
        .into_iter()
        .map(|(id, name)| Choice {
            checked: id == requester,
            value: id,
            label: name,
        })
        .collect();
    let terms = |terms: &[crate::domain::vocabulary::Term], picked: &dyn Fn(&str) -> bool| {
        terms
            .iter()
            .filter(|term| term.id.depth() <= 2)
            .map(|term| Choice {
                value: term.id.to_string(),
                label: tr.term(vocabulary, term.id.as_str()),
                checked: picked(term.id.as_str()),
            })
            .collect::<Vec<_>>()
    };
    let categories = terms(vocabulary.data_categories(), &|id| {
        query.categories.iter().any(|c| c == id)
    });
    let purposes = terms(vocabulary.purposes(), &|id| id == purpose);
    let mut answers = Vec::new();
    let mut problem = None;
    if query.requester.is_some() {
        match explain(&state, &page, &query).await {
            Ok(found) => answers = found,
            Err(message) => problem = Some(tr.t(message)),
        }
    }
    render(&WhyPage {
        l: Layout::signed_in(tr, &page.session, "why-title", "why", "/why"),
        requesters,
        categories,
        purposes,
        answers,
        problem,
    })
}

/// The engine's answer for the asked request, in words; a message id
/// when the question is incomplete.
async fn explain(
    state: &AppState,
    page: &MemberPage,
    query: &WhyQuery,
) -> Result<Vec<Answer>, &'static str> {
    let tr = page.tr;
    let vocabulary = &state.policies.vocabulary;
    let requester = query
        .requester
        .as_deref()
        .and_then(ThirdPartyId::parse)
        .ok_or("why-error-requester")?;
    let categories: Vec<_> = query
        .categories
        .iter()
        .filter_map(|raw| vocabulary.category(raw))
        .collect();
    if categories.is_empty() {
        return Err("why-error-categories");
    }
    let purpose = query
        .purpose
        .as_deref()
        .and_then(|raw| vocabulary.purpose(raw))
        .ok_or("why-error-purpose")?;
    let input = DecisionInput {
        member: page.member.id.to_string(),
        requester: requester.to_string(),
        action: datacoop_wire::Action::Access,
        categories,
        purpose,
    };
    let outcome = state
        .engine
        .decide(&input, state.clock.now())
        .await
        .map_err(|error| {
            tracing::error!(%error, "a Why? question could not be decided");
            "error-internal-text"
        })?;
    let mut answers = Vec::new();
    for category in outcome.categories {
        let decided_by = match &category.decided_by {
            Decider::Member(id) if *id == page.member.id => tr.t("why-by-you"),
            Decider::Member(_) => tr.t("why-by-proxy"),
            Decider::Persona(_) => tr.t("why-by-persona"),
            Decider::Coop => tr.t("why-by-coop"),
        };
        answers.push(Answer {
            category: tr.term(vocabulary, category.category.as_str()),
            allowed: category.verdict == datacoop_wire::Verdict::Allow,
            reason: tr.t(&format!("reason-{}", reason_id(category.reason))),
            decided_by,
            chain: chain_names(state, page, &category.chain).await,
        });
    }
    Ok(answers)
}

/// The chain's members and personas by the names the member may see.
async fn chain_names(state: &AppState, page: &MemberPage, chain: &[String]) -> Vec<String> {
    let mut names = Vec::with_capacity(chain.len());
    for id in chain {
        let owner = if let Some(member) = crate::domain::MemberId::parse(id) {
            if member == page.member.id {
                names.push(page.tr.t("why-you"));
                continue;
            }
            crate::domain::rule::Owner::Member(member)
        } else if let Some(persona) = crate::domain::PersonaId::parse(id) {
            crate::domain::rule::Owner::Persona(persona)
        } else {
            names.push(id.clone());
            continue;
        };
        names.push(
            super::proxies::name_of(state, page.tr, &owner)
                .await
                .unwrap_or_else(|_| id.clone()),
        );
    }
    names
}

/// The wire name of a reason (`no_matching_rule`), as a message id part.
fn reason_id(reason: datacoop_wire::Reason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|value| value.as_str().map(|text| text.replace('_', "-")))
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
struct AccessQuery {
    third_party: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Clone)]
struct AccessRow {
    at: String,
    who: String,
    purpose: String,
    what: String,
    allowed: bool,
    build: bool,
    withdrawn: Vec<String>,
}

#[derive(Template)]
#[template(path = "member/access.html")]
struct AccessPage {
    l: Layout,
    rows: Vec<AccessRow>,
    third_parties: Vec<Choice>,
    from: String,
    to: String,
    older: Option<String>,
}

fn day(raw: Option<&str>) -> Option<NaiveDate> {
    raw.filter(|raw| !raw.is_empty())
        .and_then(|raw| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
}

fn within(at: DateTime<Utc>, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    let date = at.date_naive();
    from.is_none_or(|from| date >= from) && to.is_none_or(|to| date <= to)
}

/// `GET /access`: every access and dataset build about me, newest first,
/// filtered by third party and dates, with withdrawals and deletion
/// receipts; the same entries as `GET /v1/me/access-log`.
async fn access(
    State(state): State<AppState>,
    page: MemberPage,
    Query(query): Query<AccessQuery>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let vocabulary = &state.policies.vocabulary;
    let names: std::collections::HashMap<String, String> =
        third_parties(&state).await?.into_iter().collect();
    let request = crate::http::pagination::PageRequest {
        after: query
            .cursor
            .as_deref()
            .and_then(crate::http::pagination::decode_cursor),
        limit: 200,
    };
    let listed = crate::http::service::access_log_page(&state, &page.member.id, &request).await?;
    let wanted = query.third_party.clone().filter(|id| !id.is_empty());
    let (from, to) = (day(query.from.as_deref()), day(query.to.as_deref()));
    let rows = listed
        .items
        .into_iter()
        .filter(|entry| wanted.as_ref().is_none_or(|id| *id == entry.requester))
        .filter(|entry| within(entry.at, from, to))
        .map(|entry| AccessRow {
            at: tr.date_time(entry.at),
            who: names
                .get(&entry.requester)
                .cloned()
                .unwrap_or_else(|| entry.requester.clone()),
            purpose: tr.term(vocabulary, &entry.purpose),
            what: entry
                .categories
                .iter()
                .map(|category| tr.term(vocabulary, &category.category))
                .collect::<Vec<_>>()
                .join(", "),
            allowed: entry.decision == datacoop_wire::Verdict::Allow,
            build: entry.dataset_build.is_some(),
            withdrawn: entry
                .withdrawals
                .iter()
                .map(|withdrawal| match withdrawal.deletion_confirmed_at {
                    Some(at) => tr.ta1("access-deleted", "date", &tr.date_time(at)),
                    None => tr.ta1(
                        "access-withdrawn",
                        "date",
                        &tr.date_time(withdrawal.sent_at),
                    ),
                })
                .collect(),
        })
        .collect();
    let third_parties = names
        .iter()
        .map(|(id, name)| Choice {
            checked: wanted.as_deref() == Some(id.as_str()),
            value: id.clone(),
            label: name.clone(),
        })
        .collect();
    let older = listed.next_cursor.map(|cursor| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        url.append_pair("cursor", &cursor);
        if let Some(id) = &wanted {
            url.append_pair("third_party", id);
        }
        url.append_pair("from", query.from.as_deref().unwrap_or_default());
        url.append_pair("to", query.to.as_deref().unwrap_or_default());
        format!("/access?{}", url.finish())
    });
    render(&AccessPage {
        l: Layout::signed_in(tr, &page.session, "access-title", "access", "/access"),
        rows,
        third_parties,
        from: query.from.unwrap_or_default(),
        to: query.to.unwrap_or_default(),
        older,
    })
}

#[derive(Debug, Clone)]
struct ConnectionRow {
    id: String,
    name: String,
    subject: String,
}

#[derive(Template)]
#[template(path = "member/connections.html")]
struct ConnectionsPage {
    l: Layout,
    connections: Vec<ConnectionRow>,
}

/// `GET /connections`: the third parties I am connected to and the
/// pseudonym each knows me by.
async fn connections(
    State(state): State<AppState>,
    page: MemberPage,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let mut rows = Vec::new();
    for (third_party, subject) in state.store.connections_of(&page.member.id).await? {
        let name = match ThirdPartyId::parse(&third_party) {
            Some(id) => state
                .store
                .third_party(&id)
                .await?
                .map(|found| found.name.as_str().to_owned()),
            None => None,
        };
        rows.push(ConnectionRow {
            name: name.unwrap_or_else(|| third_party.clone()),
            id: third_party,
            subject,
        });
    }
    render(&ConnectionsPage {
        l: Layout::signed_in(
            page.tr,
            &page.session,
            "connections-title",
            "connections",
            "/connections",
        )
        .with_notice(done.done.as_deref()),
        connections: rows,
    })
}

/// `POST /connections/{id}/end`: cuts a third party off; everything it
/// received is withdrawn (as `DELETE /v1/me/connections/{id}`).
async fn end_connection(
    State(state): State<AppState>,
    page: MemberPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let third_party = ThirdPartyId::parse(&id).ok_or(PageError::NotFound)?;
    let ended = state
        .store
        .disconnect(&page.member.id, &third_party, state.clock.now())
        .await?;
    if !ended.value {
        return Err(PageError::NotFound);
    }
    tracing::info!(third_party = %third_party, "a member cut a third party off");
    Ok(done("/connections", "connection-ended"))
}

#[derive(Template)]
#[template(path = "member/data.html")]
struct DataPage {
    l: Layout,
    values: Vec<(String, String)>,
}

/// `GET /data`: what the co-op holds for me, the export, and leaving.
async fn data(State(state): State<AppState>, page: MemberPage) -> Result<Response, PageError> {
    let vocabulary = &state.policies.vocabulary;
    let values = state
        .store
        .data_of(&page.member.id)
        .await?
        .into_iter()
        .map(|(category, value)| (page.tr.term(vocabulary, &category), value))
        .collect();
    render(&DataPage {
        l: Layout::signed_in(page.tr, &page.session, "data-title", "data", "/data"),
        values,
    })
}

/// `GET /data/export`: the full JSON export, as a download.
async fn export(State(state): State<AppState>, page: MemberPage) -> Result<Response, PageError> {
    let mut response = crate::http::service::export_document(&state, page.member).await?;
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"datacoop-export.json\""),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "member/leave.html")]
struct LeavePage {
    l: Layout,
}

/// `GET /leave`: what leaving erases and what it keeps, and the button.
async fn confirm_leave(page: MemberPage) -> Result<Response, PageError> {
    render(&LeavePage {
        l: Layout::signed_in(page.tr, &page.session, "leave-title", "data", "/leave"),
    })
}

/// `POST /leave`: the member leaves (as `DELETE /v1/me`); every session
/// of theirs ends with it.
async fn leave(
    State(state): State<AppState>,
    page: MemberPage,
    jar: CookieJar,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    app::members::leave(
        state.store.as_ref(),
        &state.engine,
        &page.member.id,
        state.clock.now(),
    )
    .await?;
    Ok((
        jar.remove(removal(SESSION_COOKIE)),
        Redirect::to("/sign-in?left=1"),
    )
        .into_response())
}

#[derive(Debug, Clone)]
struct ReceiptRow {
    index: u64,
    kind: String,
    at: String,
}

#[derive(Template)]
#[template(path = "member/receipts.html")]
struct ReceiptsPage {
    l: Layout,
    entries: Vec<ReceiptRow>,
    verdict: Option<(bool, String)>,
}

async fn receipts_page(
    state: &AppState,
    page: &MemberPage,
    verdict: Option<(bool, String)>,
) -> Result<Response, PageError> {
    let tr: Tr = page.tr;
    let entries = app::audit::entries_about(state.store.as_ref(), &page.member.id, None, 200)
        .await?
        .into_iter()
        .rev()
        .map(|entry| ReceiptRow {
            index: entry.index,
            kind: tr
                .try_t(&format!("kind-{}", entry.kind.replace(['.', '_'], "-")))
                .unwrap_or(entry.kind),
            at: tr.date_time(entry.at),
        })
        .collect();
    render(&ReceiptsPage {
        l: Layout::signed_in(tr, &page.session, "receipts-title", "receipts", "/receipts"),
        entries,
        verdict,
    })
}

/// `GET /receipts`: the log's entries about me.
async fn receipts(State(state): State<AppState>, page: MemberPage) -> Result<Response, PageError> {
    receipts_page(&state, &page, None).await
}

/// `POST /receipts/verify`: checks my entries' inclusion in the signed
/// checkpoint.
async fn verify_receipts(
    State(state): State<AppState>,
    page: MemberPage,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let found =
        app::audit::check_receipts(state.store.as_ref(), &state.log, &page.member.id).await?;
    let verdict = if found.failed.is_empty() {
        (
            true,
            tr.ta(
                "receipts-verified",
                &[
                    ("included", &tr.number(found.included)),
                    ("size", &tr.number(found.size)),
                    ("newer", &tr.number(found.newer)),
                ],
            ),
        )
    } else {
        let failed: Vec<String> = found.failed.iter().map(u64::to_string).collect();
        (
            false,
            tr.ta1("receipts-failed", "entries", &failed.join(", ")),
        )
    };
    receipts_page(&state, &page, Some(verdict)).await
}
