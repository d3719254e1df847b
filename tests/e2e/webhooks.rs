//! Withdrawals reaching the recipients (issue 10), through the real binary
//! and a real receiver: signed `consent.withdrawn` events, at least once
//! across failures, timeouts, `Retry-After`, 410, redirects, the delivery
//! horizon and kill -9; members cutting a third party off; deletion
//! receipts; and webhook URLs that point inside refused.

use std::time::Duration;

use datacoop_sdk::ThirdPartyClient;
use datacoop_sdk::webhook::{EventKind, Verifier};
use datacoop_sdk::wire::{
    AccessRequest, CreateMember, CreateThirdParty, DeliveryState, Effect, Reason, Registry,
    RequesterClass, RequesterSelector, RuleAction, RuleBody, Verdict,
};
use datacoop_sdk::{Client, Error};
use datacoop_tests::{Broker, BrokerOptions, Receiver, Reply, TestPostgres};
use serde_json::json;

use crate::{client, sqlite_url};

const ADMIN: &str = "dca_webhooks-admin-token-0123456789abcdef";
/// Long enough for a debug build on a busy machine.
const WITHIN: Duration = Duration::from_secs(20);

/// Academics may read health data for research.
fn health_for_research() -> RuleBody {
    RuleBody {
        effect: Effect::Allow,
        action: RuleAction::Access,
        requester: RequesterSelector::Class("academic".into()),
        data_categories: vec!["health".into()],
        purposes: vec!["research".into()],
        not_before: None,
        expires_at: None,
    }
}

fn options(database_url: &str) -> BrokerOptions {
    BrokerOptions::new(database_url)
        .env("DATACOOP_ADMIN_TOKEN", ADMIN)
        .env("DATACOOP_ALLOW_INSECURE_WEBHOOKS", "true")
        .env("DATACOOP_WEBHOOK_TIMEOUT_SECS", "1")
}

/// A member who lets academics read their heart data for research, and a
/// third party that read it and listens at `url`.
struct Reading {
    member: Client,
    member_token: String,
    rule: String,
    third_party: ThirdPartyClient,
    third_party_id: String,
    subject: String,
    secret: String,
}

async fn reading(broker: &Broker, url: &str) -> Reading {
    let admin = client(broker).with_token(ADMIN);
    let created = admin
        .create_third_party(&CreateThirdParty {
            name: "Heart lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let third_party =
        ThirdPartyClient::new(&broker.base_url, &created.client_id, &created.client_secret)
            .unwrap();
    let endpoint = third_party.set_webhook(url).await.unwrap();
    assert!(endpoint.secret.starts_with("whsec_"), "{}", endpoint.secret);
    let enrolled = admin
        .create_member(&CreateMember {
            display_name: None,
            registry: Registry::Anonymous,
        })
        .await
        .unwrap();
    let member = client(broker).with_token(&enrolled.token);
    member
        .put_data("health.heart", &json!({"resting_bpm": 58}))
        .await
        .unwrap();
    let rule = member.create_my_rule(&health_for_research()).await.unwrap();
    let subject = member.connect(&created.id).await.unwrap().subject;
    let read = third_party
        .access(&AccessRequest {
            subject: subject.clone(),
            data_categories: vec!["health".into()],
            purpose: "research.academic".into(),
        })
        .await
        .unwrap();
    assert_eq!(read.decision, Verdict::Allow);
    Reading {
        member,
        member_token: enrolled.token,
        rule: rule.id,
        third_party,
        third_party_id: created.id,
        subject,
        secret: endpoint.secret,
    }
}

async fn signed_withdrawal_delivered_and_confirmed(database_url: &str) {
    let receiver = Receiver::start().await;
    let broker = Broker::start(options(database_url)).await;
    let admin = client(&broker).with_token(ADMIN);
    let reading = reading(&broker, &receiver.url("hook")).await;

    // A refused change commits nothing, and announces nothing.
    let missing = reading
        .member
        .delete_my_rule("rul_00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(reqwest::StatusCode::NOT_FOUND));
    // The member withdraws: the third party hears of it.
    reading.member.delete_my_rule(&reading.rule).await.unwrap();
    let arrivals = receiver.wait_for("hook", 1, WITHIN).await;
    let arrival = &arrivals[0];
    let event = Verifier::new(&reading.secret)
        .unwrap()
        .verify_and_parse_now(&arrival.headers, &arrival.body)
        .expect("signed with the endpoint's secret");
    assert!(event.id.starts_with("evt_"), "{}", event.id);
    assert_eq!(arrival.headers["content-type"], "application/json");
    let EventKind::ConsentWithdrawn(data) = event.kind else {
        panic!("not a withdrawal: {:?}", arrival.json());
    };
    assert_eq!(data.subject, reading.subject, "the pairwise subject");
    assert_eq!(data.categories, ["health"]);
    assert_eq!(data.purpose, "research.academic");
    let body = arrival.json();
    assert_eq!(body["type"], "consent.withdrawn");
    assert!(!body.to_string().contains("mbr_"), "no member id: {body}");
    // The withdrawal is in the verifiable log, about the member.
    let entry: serde_json::Value =
        serde_json::from_slice(&admin.audit_entry(data.log_index).await.unwrap()).unwrap();
    assert_eq!(entry["type"], "consent.withdrawn", "{entry}");
    assert_eq!(entry["event"], event.id.as_str());
    // A wrong secret does not verify.
    assert!(
        Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap()
            .verify_now(&arrival.headers, &arrival.body)
            .is_err()
    );

    // Delivered; awaiting the receipt, not overdue yet.
    let delivered = wait_for_state(&admin, DeliveryState::Delivered, 1).await;
    assert_eq!(delivered[0].event_id, event.id);
    assert_eq!(delivered[0].attempts, 1);
    let awaiting: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/deletion-receipts", broker.base_url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        awaiting["items"][0]["event_id"],
        event.id.as_str(),
        "{awaiting}"
    );
    let overdue = admin.overdue_deletion_receipts(None, None).await.unwrap();
    assert!(overdue.items.is_empty(), "{overdue:?}");

    // Only the recipient may confirm; twice answers the same receipt.
    let stranger = other_third_party(&broker).await;
    let refused = stranger.confirm_deletion(&event.id).await.unwrap_err();
    assert_eq!(refused.status(), Some(reqwest::StatusCode::NOT_FOUND));
    let receipt = reading
        .third_party
        .confirm_deletion(&event.id)
        .await
        .unwrap();
    assert!(receipt.log_index.is_some());
    let again = reading
        .third_party
        .confirm_deletion(&event.id)
        .await
        .unwrap();
    assert_eq!(again.confirmed_at, receipt.confirmed_at);
    assert_eq!(again.log_index, None, "nothing new to log");
    let unknown = reading
        .third_party
        .confirm_deletion("evt_00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(reqwest::StatusCode::NOT_FOUND));

    // The member sees who was told, when, and the receipt; so does the export.
    let mine = reading.member.my_withdrawals(None, None).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    let withdrawal = &mine.items[0];
    assert_eq!(withdrawal.third_party, reading.third_party_id);
    assert_eq!(withdrawal.state, DeliveryState::Delivered);
    assert!(withdrawal.delivered_at.is_some());
    assert_eq!(withdrawal.deletion_confirmed_at, Some(receipt.confirmed_at));
    let export = reading.member.export().await.unwrap();
    assert_eq!(export.withdrawals, mine.items);
    // The access log shows, on the read that gave the data, the
    // withdrawal that reached it; the export's log too.
    let log = reading.member.access_log(None, None).await.unwrap();
    let read = log
        .items
        .iter()
        .find(|entry| entry.decision == Verdict::Allow)
        .expect("the read");
    assert_eq!(read.withdrawals, mine.items, "{log:?}");
    assert_eq!(export.access_log, log.items);
    let receipt_entry: serde_json::Value =
        serde_json::from_slice(&admin.audit_entry(receipt.log_index.unwrap()).await.unwrap())
            .unwrap();
    assert_eq!(receipt_entry["type"], "deletion.confirmed");

    // The metrics count the attempt, and the outbox is empty.
    let metrics = metrics_showing(&broker, "datacoop_webhook_outbox_depth 0").await;
    assert!(
        metrics.contains("datacoop_webhook_attempts_total{outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("datacoop_webhook_oldest_pending_seconds 0"),
        "{metrics}"
    );
    broker.stop().await;
}

/// `GET /metrics` once it shows `line` (gauges are refreshed each second).
async fn metrics_showing(broker: &Broker, line: &str) -> String {
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let metrics = reqwest::get(format!("{}/metrics", broker.base_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|shown| shown == line) {
            return metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no `{line}` in {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_withdrawal_is_signed_delivered_and_its_deletion_confirmed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    signed_withdrawal_delivered_and_confirmed(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn a_withdrawal_is_signed_delivered_and_its_deletion_confirmed_on_postgres() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    signed_withdrawal_delivered_and_confirmed(database.url()).await;
}

async fn other_third_party(broker: &Broker) -> ThirdPartyClient {
    let created = client(broker)
        .with_token(ADMIN)
        .create_third_party(&CreateThirdParty {
            name: "Someone else".into(),
            class: RequesterClass::Commercial,
            webhook_url: None,
        })
        .await
        .unwrap();
    ThirdPartyClient::new(&broker.base_url, &created.client_id, &created.client_secret).unwrap()
}

/// Waits until `count` events are in `state`.
async fn wait_for_state(
    admin: &Client,
    state: DeliveryState,
    count: usize,
) -> Vec<datacoop_sdk::wire::Delivery> {
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let page = admin
            .webhook_deliveries(Some(state), None, None)
            .await
            .unwrap();
        if page.items.len() >= count {
            return page.items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{count} events {state:?}: {page:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn failures_timeouts_and_retry_after_are_tried_again_until_delivered() {
    let receiver = Receiver::start().await;
    receiver.script(
        "hook",
        [
            Reply::Status(500),
            Reply::Slow(Duration::from_secs(3)),
            Reply::RetryAfter(429, 3),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(options(&sqlite_url(&dir))).await;
    let admin = client(&broker).with_token(ADMIN);
    let reading = reading(&broker, &receiver.url("hook")).await;
    reading.member.delete_my_rule(&reading.rule).await.unwrap();
    let arrivals = receiver.wait_for("hook", 4, Duration::from_secs(40)).await;
    let id = arrivals[0].id();
    assert!(
        arrivals.iter().all(|arrival| arrival.id() == id),
        "one event"
    );
    // Backoff: the first retry waits half a second or more; after the 429,
    // at least its three seconds.
    assert!(arrivals[1].at - arrivals[0].at >= Duration::from_millis(500));
    assert!(
        arrivals[3].at - arrivals[2].at >= Duration::from_secs(3),
        "Retry-After honoured: {:?}",
        arrivals[3].at - arrivals[2].at
    );
    let delivered = wait_for_state(&admin, DeliveryState::Delivered, 1).await;
    assert_eq!(delivered[0].attempts, 4);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.arrivals("hook").len(),
        4,
        "delivered once, then quiet"
    );
    broker.stop().await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_redirects_are_not_followed() {
    let receiver = Receiver::start().await;
    receiver.script("gone", [Reply::Status(410)]);
    receiver.script(
        "moved",
        std::iter::repeat_n(Reply::Redirect("elsewhere".into()), 100),
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(options(&sqlite_url(&dir))).await;
    let admin = client(&broker).with_token(ADMIN);
    let gone = reading(&broker, &receiver.url("gone")).await;
    let moved = reading(&broker, &receiver.url("moved")).await;
    gone.member.delete_my_rule(&gone.rule).await.unwrap();
    moved.member.delete_my_rule(&moved.rule).await.unwrap();
    receiver.wait_for("gone", 1, WITHIN).await;
    receiver.wait_for("moved", 2, WITHIN).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // 410: nothing more is sent there.
    assert_eq!(receiver.arrivals("gone").len(), 1);
    assert!(
        receiver.arrivals("elsewhere").is_empty(),
        "a redirect followed"
    );
    let pending = admin
        .webhook_deliveries(Some(DeliveryState::Pending), None, None)
        .await
        .unwrap()
        .items;
    let errors: Vec<&str> = pending
        .iter()
        .filter_map(|delivery| delivery.last_error.as_deref())
        .collect();
    assert!(
        errors.iter().any(|error| error.contains("410")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|error| error.contains("307") && error.contains("redirects are not followed")),
        "{errors:?}"
    );
    // A new endpoint gets what waited, at once.
    let endpoint = gone
        .third_party
        .set_webhook(&receiver.url("new"))
        .await
        .unwrap();
    let arrivals = receiver.wait_for("new", 1, WITHIN).await;
    Verifier::new(&endpoint.secret)
        .unwrap()
        .verify_now(&arrivals[0].headers, &arrivals[0].body)
        .expect("signed with the new secret");
    broker.stop().await;
}

#[tokio::test]
async fn an_event_past_the_horizon_is_given_up_and_listed_as_failed() {
    let receiver = Receiver::start().await;
    receiver.script("down", std::iter::repeat_n(Reply::Status(503), 100));
    let dir = tempfile::tempdir().unwrap();
    let broker =
        Broker::start(options(&sqlite_url(&dir)).env("DATACOOP_WEBHOOK_HORIZON_SECS", "3")).await;
    let admin = client(&broker).with_token(ADMIN);
    let reading = reading(&broker, &receiver.url("down")).await;
    reading.member.delete_my_rule(&reading.rule).await.unwrap();
    let failed = wait_for_state(&admin, DeliveryState::Failed, 1).await;
    let error = failed[0].last_error.as_deref().unwrap_or_default();
    assert!(error.starts_with("given up after"), "{error}");
    assert!(error.contains("503"), "{error}");
    assert!(failed[0].failed_at.is_some());
    let attempts = receiver.arrivals("down").len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.arrivals("down").len(),
        attempts,
        "nothing after giving up"
    );
    metrics_showing(&broker, "datacoop_webhook_failures_total 1").await;
    broker.stop().await;
}

#[tokio::test]
async fn a_member_cuts_a_third_party_off_and_may_reconnect_with_a_new_subject() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(options(&sqlite_url(&dir))).await;
    let reading = reading(&broker, &receiver.url("hook")).await;
    let log_index = reading
        .member
        .disconnect(&reading.third_party_id)
        .await
        .unwrap();
    assert!(log_index.is_some(), "a receipt");
    let arrivals = receiver.wait_for("hook", 1, WITHIN).await;
    let event = Verifier::new(&reading.secret)
        .unwrap()
        .verify_and_parse_now(&arrivals[0].headers, &arrivals[0].body)
        .unwrap();
    let EventKind::ConsentWithdrawn(data) = event.kind else {
        panic!("not a withdrawal");
    };
    assert_eq!(data.subject, reading.subject);
    assert_eq!(data.categories, ["health"]);
    // The old subject now reads like nobody's: consent is still there,
    // but the subject is ended.
    let read = reading
        .third_party
        .access(&AccessRequest {
            subject: reading.subject.clone(),
            data_categories: vec!["health".into()],
            purpose: "research.academic".into(),
        })
        .await
        .unwrap();
    assert_eq!(read.decision, Verdict::Deny);
    assert_eq!(read.categories[0].reason, Reason::NoConsent);
    assert!(read.data.is_empty());
    let again = reading
        .member
        .disconnect(&reading.third_party_id)
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(reqwest::StatusCode::NOT_FOUND));
    // Reconnecting gives a new subject, which reads again.
    let subject = reading
        .member
        .connect(&reading.third_party_id)
        .await
        .unwrap()
        .subject;
    assert_ne!(subject, reading.subject);
    let read = reading
        .third_party
        .access(&AccessRequest {
            subject,
            data_categories: vec!["health".into()],
            purpose: "research.academic".into(),
        })
        .await
        .unwrap();
    assert_eq!(read.decision, Verdict::Allow);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.arrivals("hook").len(), 1, "one withdrawal");
    broker.stop().await;
}

async fn delivered_after_kill_9(database_url: &str) {
    // Nothing listens where the endpoint points until the broker is dead.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let url = format!("http://{address}/hook");
    let broker = Broker::start(options(database_url)).await;
    let reading = reading(&broker, &url).await;
    reading.member.delete_my_rule(&reading.rule).await.unwrap();
    // Committed and acknowledged; killed before the receiver exists.
    broker.kill().await;
    let receiver = Receiver::start_on(address).await;
    let broker = Broker::start(options(database_url)).await;
    let arrivals = receiver.wait_for("hook", 1, WITHIN).await;
    Verifier::new(&reading.secret)
        .unwrap()
        .verify_now(&arrivals[0].headers, &arrivals[0].body)
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.arrivals("hook").len(), 1, "one change, one event");
    broker.stop().await;
}

#[tokio::test]
async fn an_event_committed_before_kill_9_is_delivered_after_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    delivered_after_kill_9(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn an_event_committed_before_kill_9_is_delivered_after_restart_on_postgres() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    delivered_after_kill_9(database.url()).await;
}

fn invalid_field(error: &Error) -> String {
    assert_eq!(
        error.status(),
        Some(reqwest::StatusCode::UNPROCESSABLE_ENTITY),
        "{error:?}"
    );
    error.problem().unwrap().errors[0].field.clone()
}

#[tokio::test]
async fn webhooks_never_point_inside() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let strict = BrokerOptions::new(&url).env("DATACOOP_ADMIN_TOKEN", ADMIN);
    let broker = Broker::start(strict.clone()).await;
    let third_party = other_third_party(&broker).await;
    for refused in [
        receiver.url("hook"),
        "https://127.0.0.1/hook".to_owned(),
        "https://localhost:8443/hook".to_owned(),
        "https://10.1.2.3/hook".to_owned(),
        "https://192.168.0.10/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[fe80::1]/hook".to_owned(),
        "https://[::ffff:10.0.0.1]/hook".to_owned(),
        "http://example.org/hook".to_owned(),
    ] {
        let error = third_party.set_webhook(&refused).await.unwrap_err();
        assert_eq!(invalid_field(&error), "url", "{refused}");
    }
    let admin = client(&broker).with_token(ADMIN);
    let error = admin
        .create_third_party(&CreateThirdParty {
            name: "Inside".into(),
            class: RequesterClass::Academic,
            webhook_url: Some("https://172.16.0.1/hook".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&error), "webhook_url");
    broker.stop().await;

    // Set while loopback was allowed; the broker restarted without it:
    // the connection's own resolution refuses it, and nothing arrives.
    let broker = Broker::start(options(&url)).await;
    let reading = reading(
        &broker,
        &receiver.url("hook").replace("127.0.0.1", "localhost"),
    )
    .await;
    broker.stop().await;
    let broker = Broker::start(strict).await;
    client(&broker)
        .with_token(&reading.member_token)
        .delete_my_rule(&reading.rule)
        .await
        .unwrap();
    let admin = client(&broker).with_token(ADMIN);
    let deadline = std::time::Instant::now() + WITHIN;
    let error = loop {
        let pending = admin
            .webhook_deliveries(Some(DeliveryState::Pending), None, None)
            .await
            .unwrap()
            .items;
        if let Some(error) = pending
            .first()
            .and_then(|delivery| delivery.last_error.clone())
        {
            break error;
        }
        assert!(std::time::Instant::now() < deadline, "never tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.starts_with("refused"), "{error}");
    assert!(receiver.arrivals("hook").is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn an_unconfirmed_deletion_is_overdue_after_the_grace_period() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let broker =
        Broker::start(options(&sqlite_url(&dir)).env("DATACOOP_DELETION_GRACE_SECS", "1")).await;
    let admin = client(&broker).with_token(ADMIN);
    let reading = reading(&broker, &receiver.url("hook")).await;
    reading.member.delete_my_rule(&reading.rule).await.unwrap();
    let id = receiver.wait_for("hook", 1, WITHIN).await[0].id();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let overdue = admin.overdue_deletion_receipts(None, None).await.unwrap();
    assert_eq!(overdue.items.len(), 1, "{overdue:?}");
    assert_eq!(overdue.items[0].event_id, id);
    assert_eq!(
        overdue.items[0].member,
        reading.member.me().await.unwrap().id
    );
    reading.third_party.confirm_deletion(&id).await.unwrap();
    let overdue = admin.overdue_deletion_receipts(None, None).await.unwrap();
    assert!(overdue.items.is_empty(), "confirmed: {overdue:?}");
    broker.stop().await;
}

/// Two replicas on one PostgreSQL database both run the workers: a hub's
/// change reaching 20 delegators is worked through and sent once, each
/// event to the receiver exactly once (no failures, so no retries).
#[tokio::test]
async fn two_replicas_on_postgres_send_each_event_once() {
    use datacoop_sdk::wire::{CreateDelegation, Proxy, UpdateMe};

    let Some(database) = TestPostgres::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let first = Broker::start(options(database.url())).await;
    let second = Broker::start(options(database.url())).await;
    let admin = client(&first).with_token(ADMIN);
    let created = admin
        .create_third_party(&CreateThirdParty {
            name: "Heart lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let lab =
        ThirdPartyClient::new(&first.base_url, &created.client_id, &created.client_secret).unwrap();
    lab.set_webhook(&receiver.url("hook")).await.unwrap();
    let enrol = || async {
        let enrolled = admin
            .create_member(&CreateMember {
                display_name: None,
                registry: Registry::Anonymous,
            })
            .await
            .unwrap();
        let member = client(&first).with_token(&enrolled.token);
        (enrolled.id, enrolled.token, member)
    };
    let (hub_id, hub_token, hub) = enrol().await;
    hub.update_me(&UpdateMe {
        display_name: None,
        registry: None,
        accepts_delegations: Some(true),
    })
    .await
    .unwrap();
    let rule = hub.create_my_rule(&health_for_research()).await.unwrap();
    for _ in 0..20 {
        let (_, _, member) = enrol().await;
        member
            .delegate(&CreateDelegation {
                to: Proxy::Member(hub_id.clone()),
                data_categories: None,
                purposes: None,
            })
            .await
            .unwrap();
        let subject = member.connect(&created.id).await.unwrap().subject;
        let read = lab
            .access(&AccessRequest {
                subject,
                data_categories: vec!["health".into()],
                purpose: "research.academic".into(),
            })
            .await
            .unwrap();
        assert_eq!(read.decision, Verdict::Allow);
    }
    // The hub changes its mind through the other replica.
    client(&second)
        .with_token(&hub_token)
        .delete_my_rule(&rule.id)
        .await
        .unwrap();
    receiver.wait_for("hook", 20, WITHIN).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let arrivals = receiver.arrivals("hook");
    let mut ids: Vec<String> = arrivals.iter().map(datacoop_tests::Arrival::id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "twenty events");
    assert_eq!(arrivals.len(), 20, "each sent once");
    first.stop().await;
    second.stop().await;
}
