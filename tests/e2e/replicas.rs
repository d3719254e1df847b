//! Several replicas on one PostgreSQL (issue 12): a change acknowledged by
//! any replica is obeyed by the very next decision on every other one, and
//! a replica that cannot tell whether it is current answers 503, never
//! from stale memory. Three real brokers, each on its own port; the third
//! reaches the database through a proxy the test can cut.

use std::time::Duration;

use datacoop_sdk::wire::{
    AccessRequest, Action, CreateDelegation, CreateMember, CreatePersona, CreateThirdParty,
    DecisionRequest, Effect, Proxy, Registry, RequesterClass, RequesterSelector, RuleAction,
    RuleBody, ThirdPartyStatus, UpdateMe, Verdict,
};
use datacoop_sdk::{Client, ThirdPartyClient};
use datacoop_tests::{Broker, BrokerOptions, TcpProxy, TestPostgres};
use reqwest::StatusCode;

use crate::client;

const ADMIN: &str = "dca_replicas_admin_token_0123456789abcdef";
const MEMBERS: usize = 8;
const ROUNDS: usize = 60;

/// A small deterministic generator (xorshift64*), seeded per run and
/// printed, so a failing sequence can be replayed with `REPLICAS_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Member(usize),
    Persona(usize),
}

#[derive(Debug)]
struct Member {
    id: String,
    token: String,
    active: bool,
    accepts: bool,
    /// Own rule for the one cell the test asks about: id and allow?
    rule: Option<(String, bool)>,
    delegation: Option<(String, Target)>,
}

/// What consent-semantics §4 says about the one cell (access, health,
/// research, an academic requester) in the co-op the test built.
#[derive(Debug, Default)]
struct Model {
    members: Vec<Member>,
    /// Persona ids and whether their rule allows.
    personas: Vec<(String, bool)>,
    requester_active: bool,
    coop_deny: Option<String>,
}

impl Model {
    /// §4: requester (step 1), member (step 2), co-op rules (step 3), then
    /// the governor's opinion, following the delegation while it is silent;
    /// a proxy that cannot act is skipped (no consent), a cycle or more than
    /// 16 hops denies.
    fn allows(&self, member: usize) -> bool {
        if !self.requester_active || !self.members[member].active || self.coop_deny.is_some() {
            return false;
        }
        let mut seen = vec![member];
        let mut governor = member;
        loop {
            let current = &self.members[governor];
            if let Some((_, allow)) = current.rule {
                return allow;
            }
            let Some((_, target)) = current.delegation else {
                return false;
            };
            match target {
                Target::Persona(persona) => return self.personas[persona].1,
                Target::Member(proxy) => {
                    let next = &self.members[proxy];
                    if !(next.active && next.accepts) || seen.contains(&proxy) || seen.len() > 16 {
                        return false;
                    }
                    seen.push(proxy);
                    governor = proxy;
                }
            }
        }
    }
}

fn rule(effect: Effect) -> RuleBody {
    RuleBody {
        effect,
        action: RuleAction::Access,
        requester: RequesterSelector::Class("academic".into()),
        data_categories: vec!["health".into()],
        purposes: vec!["research".into()],
        not_before: None,
        expires_at: None,
    }
}

fn options(url: &str) -> BrokerOptions {
    BrokerOptions::new(url)
        .env("DATACOOP_ADMIN_TOKEN", ADMIN)
        .env("DATACOOP_DATABASE_ACQUIRE_TIMEOUT_SECS", "2")
}

/// The URL of the same database through `proxy`.
fn through(url: &str, proxy: &TcpProxy) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.address().port())).unwrap();
    url.to_string()
}

fn upstream(url: &str) -> std::net::SocketAddr {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap_or("127.0.0.1");
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", url.port().unwrap_or(5432))
        .parse()
        .unwrap()
}

/// One decision through `broker`: its status, and the verdict when 200.
async fn decide(
    http: &reqwest::Client,
    broker: &Broker,
    member: &str,
    requester: &str,
) -> (StatusCode, Option<Verdict>) {
    let response = http
        .post(format!("{}/v1/decisions", broker.base_url))
        .bearer_auth(ADMIN)
        .json(&DecisionRequest {
            member: member.to_owned(),
            requester: requester.to_owned(),
            action: Action::Access,
            data_categories: vec!["health".into()],
            purpose: "research".into(),
        })
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        return (status, None);
    }
    let decision: datacoop_sdk::wire::Decision = response.json().await.unwrap();
    (status, Some(decision.decision))
}

/// Makes one random change through `writer`, in the model too; says what.
async fn change(rng: &mut Rng, model: &mut Model, writer: &Broker, requester: &str) -> String {
    let admin = client(writer).with_token(ADMIN);
    let active: Vec<usize> = (0..MEMBERS).filter(|&m| model.members[m].active).collect();
    let member = active[rng.below(active.len())];
    let me = client(writer).with_token(&model.members[member].token);
    match rng.below(100) {
        0..=24 => match model.members[member].rule.take() {
            Some((id, _)) => {
                me.delete_my_rule(&id).await.unwrap();
                format!("member {member} deleted its rule")
            }
            None => {
                let allow = rng.chance(70);
                let created = me
                    .create_my_rule(&rule(if allow { Effect::Allow } else { Effect::Deny }))
                    .await
                    .unwrap();
                model.members[member].rule = Some((created.id, allow));
                format!("member {member} set its rule to allow={allow}")
            }
        },
        25..=54 => match model.members[member].delegation.take() {
            Some((id, _)) => {
                me.revoke_delegation(&id).await.unwrap();
                format!("member {member} revoked its delegation")
            }
            None => {
                // Only a member who accepts delegations, or a persona, may
                // be named (a 422 otherwise, tested elsewhere).
                let mut targets: Vec<Target> = (0..MEMBERS)
                    .filter(|&m| m != member && model.members[m].active && model.members[m].accepts)
                    .map(Target::Member)
                    .collect();
                targets.extend((0..model.personas.len()).map(Target::Persona));
                if targets.is_empty() {
                    return "nothing to delegate to".to_owned();
                }
                let target = targets[rng.below(targets.len())];
                let to = match target {
                    Target::Member(m) => Proxy::Member(model.members[m].id.clone()),
                    Target::Persona(p) => Proxy::Persona(model.personas[p].0.clone()),
                };
                let created = me
                    .delegate(&CreateDelegation {
                        to,
                        data_categories: None,
                        purposes: None,
                    })
                    .await
                    .unwrap();
                model.members[member].delegation = Some((created.id, target));
                format!("member {member} delegated to {target:?}")
            }
        },
        55..=74 => {
            let accepts = !model.members[member].accepts;
            me.update_me(&UpdateMe {
                display_name: None,
                registry: None,
                accepts_delegations: Some(accepts),
            })
            .await
            .unwrap();
            model.members[member].accepts = accepts;
            format!("member {member} set accepts_delegations={accepts}")
        }
        75..=79 if active.len() > 4 => {
            me.leave().await.unwrap();
            model.members[member].active = false;
            format!("member {member} left")
        }
        75..=84 => {
            let active = !model.requester_active;
            let status = if active {
                ThirdPartyStatus::Active
            } else {
                ThirdPartyStatus::Suspended
            };
            admin
                .set_third_party_status(requester, status)
                .await
                .unwrap();
            model.requester_active = active;
            format!("third party active={active}")
        }
        85..=92 => match model.coop_deny.take() {
            Some(id) => {
                admin.delete_coop_rule(&id).await.unwrap();
                "co-op rule deleted".to_owned()
            }
            None => {
                let created = admin.create_coop_rule(&rule(Effect::Deny)).await.unwrap();
                model.coop_deny = Some(created.id);
                "co-op rule created".to_owned()
            }
        },
        _ => {
            let allow = rng.chance(60);
            let persona = admin
                .create_persona(&CreatePersona {
                    name: format!("Persona {}", model.personas.len()),
                    description: "Made by the replicas test.".into(),
                    rules: vec![rule(if allow { Effect::Allow } else { Effect::Deny })],
                })
                .await
                .unwrap();
            model.personas.push((persona.id, allow));
            format!(
                "persona {} created, allow={allow}",
                model.personas.len() - 1
            )
        }
    }
}

/// Every member's decision through every replica agrees with the model.
async fn check_all(
    http: &reqwest::Client,
    replicas: &[&Broker],
    model: &Model,
    requester: &str,
    context: &str,
) {
    for (index, replica) in replicas.iter().enumerate() {
        for member in 0..MEMBERS {
            let (status, verdict) =
                decide(http, replica, &model.members[member].id, requester).await;
            assert_eq!(status, StatusCode::OK, "replica {index}, {context}");
            let expected = if model.allows(member) {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            assert_eq!(
                verdict,
                Some(expected),
                "replica {index}, member {member}, after {context}; model: {model:#?}"
            );
        }
    }
}

#[tokio::test]
async fn three_replicas_obey_every_change_at_once_and_fail_closed() {
    let Some(database) = TestPostgres::create().await else {
        return;
    };
    let seed = std::env::var("REPLICAS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0 | 1);
    eprintln!("REPLICAS_SEED={seed}");
    let mut rng = Rng(seed);
    // Three replicas start at once on an empty database: the migrations
    // run once, under the advisory lock, and all three come up.
    let cut = TcpProxy::start(upstream(database.url())).await;
    let (first, second, third) = tokio::join!(
        Broker::start(options(database.url())),
        Broker::start(options(database.url())),
        Broker::start(options(&through(database.url(), &cut))),
    );
    let replicas = [&first, &second, &third];
    let http = reqwest::Client::new();
    let admin = client(&first).with_token(ADMIN);
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let mut model = Model {
        requester_active: true,
        ..Model::default()
    };
    for index in 0..MEMBERS {
        let created = client(replicas[index % 3])
            .with_token(ADMIN)
            .create_member(&CreateMember {
                display_name: None,
                registry: Registry::Public,
            })
            .await
            .unwrap();
        model.members.push(Member {
            id: created.id,
            token: created.token,
            active: true,
            accepts: false,
            rule: None,
            delegation: None,
        });
    }
    check_all(&http, &replicas, &model, &lab.id, "enrolment").await;
    for round in 0..ROUNDS {
        let writer = rng.below(3);
        let what = change(&mut rng, &mut model, replicas[writer], &lab.id).await;
        // No pause: the very next decision on every replica obeys it.
        check_all(
            &http,
            &replicas,
            &model,
            &lab.id,
            &format!("round {round}: {what} through replica {writer}"),
        )
        .await;
    }

    // Fail closed. Give one member an allow of its own and a connection,
    // so a stale answer would be an allow.
    let member = (0..MEMBERS)
        .find(|&m| model.members[m].active)
        .expect("an active member");
    let me = client(&first).with_token(&model.members[member].token);
    if let Some((id, _)) = model.members[member].rule.take() {
        me.delete_my_rule(&id).await.unwrap();
    }
    // Alone with its own rule: once it goes, the member's answer is deny.
    if let Some((id, _)) = model.members[member].delegation.take() {
        me.revoke_delegation(&id).await.unwrap();
    }
    let allow = me.create_my_rule(&rule(Effect::Allow)).await.unwrap();
    model.members[member].rule = Some((allow.id.clone(), true));
    if !model.requester_active {
        admin
            .set_third_party_status(&lab.id, ThirdPartyStatus::Active)
            .await
            .unwrap();
        model.requester_active = true;
    }
    if let Some(id) = model.coop_deny.take() {
        admin.delete_coop_rule(&id).await.unwrap();
    }
    let subject = me.connect(&lab.id).await.unwrap().subject;
    let reader =
        ThirdPartyClient::new(&third.base_url, &lab.client_id, &lab.client_secret).unwrap();
    let request = AccessRequest {
        subject,
        data_categories: vec!["health".into()],
        purpose: "research".into(),
    };
    assert_eq!(
        reader.access(&request).await.unwrap().decision,
        Verdict::Allow
    );
    check_all(&http, &replicas, &model, &lab.id, "the fail-closed set-up").await;

    // The third replica's way to the database (and so to the change feed)
    // is cut: decisions, access and readiness answer 503 there.
    cut.cut();
    let ready = http
        .get(format!("{}/readyz", third.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The member withdraws through another replica while it is cut.
    me.delete_my_rule(&allow.id).await.unwrap();
    model.members[member].rule = None;
    for _ in 0..3 {
        let (status, verdict) = decide(&http, &third, &model.members[member].id, &lab.id).await;
        assert_eq!(
            (status, verdict),
            (StatusCode::SERVICE_UNAVAILABLE, None),
            "a replica that cannot reach the database must not answer from memory"
        );
        let refused = reader.access(&request).await.unwrap_err();
        assert_eq!(refused.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    }
    // The other replicas obey the withdrawal at once.
    check_all(
        &http,
        &[&first, &second],
        &model,
        &lab.id,
        "a withdrawal while the third was cut",
    )
    .await;
    // Restored: the third applies what it missed before it answers.
    cut.restore();
    let mut ready = false;
    for _ in 0..100 {
        let response = http
            .get(format!("{}/readyz", third.base_url))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the third replica came back once the database did");
    check_all(
        &http,
        &replicas,
        &model,
        &lab.id,
        "the third replica's return",
    )
    .await;
    assert_eq!(
        reader.access(&request).await.unwrap().decision,
        Verdict::Deny
    );
    for replica in [first, second, third] {
        let (status, _) = replica.stop().await;
        assert!(status.success());
    }
}

/// The whole database stops: every replica answers 503 for decisions, and
/// `/readyz` says so, until it is back. A PostgreSQL server of the test's
/// own (the shared one is not stopped under other tests), started from the
/// same installation as `DATACOOP_TEST_POSTGRES_URL`'s.
#[tokio::test]
async fn replicas_answer_503_while_postgres_is_down() {
    if TestPostgres::server_url().is_none() {
        eprintln!("skipped: DATACOOP_TEST_POSTGRES_URL is not set");
        return;
    }
    let Some(mut server) = datacoop_tests::PrivatePostgres::start().await else {
        eprintln!("skipped: no PostgreSQL installation to start a server of our own from");
        return;
    };
    let url = server.url();
    let (first, second) = tokio::join!(Broker::start(options(&url)), Broker::start(options(&url)));
    let http = reqwest::Client::new();
    let admin: Client = client(&first).with_token(ADMIN);
    let lab = admin
        .create_third_party(&CreateThirdParty {
            name: "Lab".into(),
            class: RequesterClass::Academic,
            webhook_url: None,
        })
        .await
        .unwrap();
    let member = admin
        .create_member(&CreateMember {
            display_name: None,
            registry: Registry::Public,
        })
        .await
        .unwrap();
    client(&second)
        .with_token(&member.token)
        .create_my_rule(&rule(Effect::Allow))
        .await
        .unwrap();
    for replica in [&first, &second] {
        assert_eq!(
            decide(&http, replica, &member.id, &lab.id).await,
            (StatusCode::OK, Some(Verdict::Allow))
        );
    }
    server.stop().await;
    for replica in [&first, &second] {
        let (status, verdict) = decide(&http, replica, &member.id, &lab.id).await;
        assert_eq!((status, verdict), (StatusCode::SERVICE_UNAVAILABLE, None));
        let ready = http
            .get(format!("{}/readyz", replica.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    server.restart().await;
    for replica in [&first, &second] {
        let mut answered = None;
        for _ in 0..100 {
            let (status, verdict) = decide(&http, replica, &member.id, &lab.id).await;
            if status == StatusCode::OK {
                answered = verdict;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(answered, Some(Verdict::Allow));
    }
    for replica in [first, second] {
        let (status, _) = replica.stop().await;
        assert!(status.success());
    }
}
