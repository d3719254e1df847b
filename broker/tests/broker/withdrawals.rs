//! What leads the withdrawal worker to announce a withdrawal, besides a
//! proxy's change (`delegation::randomized`): a call logged after the
//! change's recheck ran, a rule expiring or a deny starting, a co-op
//! rule; and what does not (a third party's suspension). Leases: two
//! workers never hold one event at once. Both databases.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::TimeDelta;
use datacoop_broker::clock::Clock;
use datacoop_broker::domain::{MemberId, ThirdPartyId};
use datacoop_broker::store::{AccessRecord, CategoryVerdict, EventFilter, EventRecord};
use datacoop_broker::webhook::Withdrawer;
use datacoop_wire::{Action, Reason, Verdict};
use serde_json::json;

use crate::support::{ADMIN, TestApp};

/// A member, a third party with a subject for them, and the worker.
struct Coop {
    member: MemberId,
    token: String,
    third_party: ThirdPartyId,
    worker: Withdrawer,
}

async fn coop(app: &TestApp) -> Coop {
    let enrolled = app.enrol(None, "anonymous").await;
    let member = MemberId::from_trusted(enrolled["id"].as_str().unwrap().to_owned());
    let third_party = ThirdPartyId::from_trusted(app.third_party("academic").await);
    app.store
        .connect(
            &member,
            &third_party,
            &format!("sub_{}", member.as_str()),
            app.clock.now(),
        )
        .await
        .unwrap();
    Coop {
        member,
        token: enrolled["token"].as_str().unwrap().to_owned(),
        third_party,
        worker: Withdrawer::new(
            Arc::clone(&app.store),
            Arc::clone(&app.engine),
            app.clock.clone(),
        ),
    }
}

impl Coop {
    /// The third party read `category` for research (logged as allowed).
    async fn read(&self, app: &TestApp, category: &str) {
        app.store
            .log_access(&AccessRecord {
                member: self.member.clone(),
                third_party: self.third_party.clone(),
                purpose: "research.academic".into(),
                action: Action::Access,
                decision: Verdict::Allow,
                categories: vec![CategoryVerdict {
                    category: category.into(),
                    verdict: Verdict::Allow,
                    reason: Reason::Allowed,
                }],
                at: app.clock.now(),
            })
            .await
            .unwrap();
    }

    async fn events(&self, app: &TestApp) -> Vec<EventRecord> {
        self.worker.run_until_idle().await.unwrap();
        app.store
            .events(&EventFilter::Member(self.member.clone()), None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, event)| event)
            .collect()
    }
}

fn allow_health(extra: serde_json::Value) -> serde_json::Value {
    let mut rule = json!({"effect": "allow", "action": "access", "requester": {"class": "academic"},
                          "data_categories": ["health"], "purposes": ["research"]});
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        rule.extend(extra.clone());
    }
    rule
}

/// A call decided before a withdrawal but logged after the withdrawal's
/// recheck ran is decided once more, after it committed: withdrawn.
async fn a_call_logged_after_the_recheck_is_still_withdrawn(app: TestApp) {
    let coop = coop(&app).await;
    let rule = app.rule(&coop.token, allow_health(json!({}))).await;
    let path = format!("/v1/me/rules/{}", rule["id"].as_str().unwrap());
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&coop.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(coop.events(&app).await.is_empty(), "nothing received yet");
    coop.read(&app, "health").await;
    let events = coop.events(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].categories, ["health"]);
    assert!(coop.events(&app).await.len() == 1, "announced once");
}

/// A rule that expires, and a deny that starts later, withdraw what they
/// reach when their instant passes, with no change to trigger it.
async fn rules_reaching_their_instants_withdraw(app: TestApp) {
    let coop = coop(&app).await;
    let now = app.clock.now();
    let until = (now + TimeDelta::hours(1)).to_rfc3339();
    app.rule(&coop.token, allow_health(json!({"expires_at": until})))
        .await;
    coop.read(&app, "health.heart").await;
    assert!(coop.events(&app).await.is_empty(), "allowed still");
    app.clock.advance(TimeDelta::hours(2));
    let events = coop.events(&app).await;
    assert_eq!(events.len(), 1, "the expiry withdrew: {events:?}");

    let other = self::coop(&app).await;
    app.rule(&other.token, allow_health(json!({}))).await;
    let from = (app.clock.now() + TimeDelta::days(1)).to_rfc3339();
    app.rule(
        &other.token,
        json!({"effect": "deny", "action": "*", "requester": "*", "data_categories": ["health.heart"],
               "purposes": ["*"], "not_before": from}),
    )
    .await;
    other.read(&app, "health.heart").await;
    other.read(&app, "health.sleep").await;
    assert!(
        other.events(&app).await.is_empty(),
        "the deny has not started"
    );
    app.clock.advance(TimeDelta::days(2));
    let events = other.events(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].categories,
        ["health.heart"],
        "only what the deny reaches"
    );
}

/// A co-op rule reaches every member's recipients; a suspension is the
/// stewards' act on the third party, not a member's withdrawal.
async fn coop_rules_withdraw_and_suspensions_do_not(app: TestApp) {
    let first = coop(&app).await;
    let second = coop(&app).await;
    for coop in [&first, &second] {
        app.rule(&coop.token, allow_health(json!({}))).await;
        coop.read(&app, "health.sleep").await;
    }
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/third-parties/{}", first.third_party),
            Some(ADMIN),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.rule(
        ADMIN,
        json!({"effect": "deny", "action": "*", "requester": "*",
                           "data_categories": ["location"], "purposes": ["*"]}),
    )
    .await;
    assert!(
        first.events(&app).await.is_empty(),
        "suspended, not withdrawn"
    );
    assert!(
        second.events(&app).await.is_empty(),
        "the co-op rule reaches no read"
    );
    app.rule(
        ADMIN,
        json!({"effect": "deny", "action": "*", "requester": {"class": "academic"},
                           "data_categories": ["health.sleep"], "purposes": ["research"]}),
    )
    .await;
    assert_eq!(second.events(&app).await.len(), 1);
    assert!(
        first.events(&app).await.is_empty(),
        "suspended: decided later"
    );
}

/// Two workers (replicas on PostgreSQL; one process holds an SQLite
/// file) leasing due events at once never get the same one.
async fn two_workers_never_hold_one_event_at_once(app: TestApp) {
    let other_store = match app.database.as_ref() {
        crate::support::Database::Sqlite(_) => Arc::clone(&app.store),
        crate::support::Database::Postgres(_) => Arc::clone(&app.replica().await.store),
    };
    let coop = coop(&app).await;
    let categories = ["health", "location", "financial", "household", "mobility"];
    for category in categories {
        coop.read(&app, category).await;
    }
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/me/connections/{}", coop.third_party),
            Some(&coop.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let events = coop.events(&app).await;
    assert_eq!(events.len(), 1, "one purpose: one event");
    assert_eq!(events[0].categories.len(), categories.len());
    // More events: each member leaving withdraws what was read.
    let mut members = Vec::new();
    for _ in 0..30 {
        let other = self::coop(&app).await;
        other.read(&app, "health").await;
        members.push(other);
    }
    for other in &members {
        let (status, _) = app
            .call(Method::DELETE, "/v1/me", Some(&other.token), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    // Events are stamped by the store's clock, the system's.
    let now = datacoop_broker::clock::SystemClock.now();
    let lease = now + TimeDelta::minutes(1);
    let (left, right) = tokio::join!(
        app.store.claim_events(now, lease, 20),
        other_store.claim_events(now, lease, 20)
    );
    let (left, right) = (left.unwrap(), right.unwrap());
    assert_eq!(left.len() + right.len(), 31, "every due event, once");
    let mut ids: Vec<_> = left
        .iter()
        .chain(&right)
        .map(|event| event.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 31, "no event held twice");
    let later = app.store.claim_events(now, lease, 100).await.unwrap();
    assert!(later.is_empty(), "leased events are not due: {later:?}");
}

on_both_databases!(
    a_call_logged_after_the_recheck_is_still_withdrawn,
    rules_reaching_their_instants_withdraw,
    coop_rules_withdraw_and_suspensions_do_not,
    two_workers_never_hold_one_event_at_once,
);
