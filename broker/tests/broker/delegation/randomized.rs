//! Randomized co-ops: members with random rules, delegations to members
//! and personas, opt-outs, departures and revocations, built through the
//! API; every decision is compared with a model of consent-semantics
//! §2-§4 written from the spec. Runs on SQLite and PostgreSQL.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::ADMIN;
use crate::support::TestApp;

const CATEGORIES: &[&str] = &[
    "*",
    "health",
    "health.heart",
    "location",
    "location.precise",
];
const PURPOSES: &[&str] = &["*", "research", "research.academic", "marketing"];
const MEMBERS: usize = 120;
const MAX_DEPTH: usize = 16;

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn covers(x: &str, y: &str) -> bool {
    x == "*" || x == y || y.starts_with(&format!("{x}."))
}

fn overlaps(x: &str, y: &str) -> bool {
    covers(x, y) || covers(y, x)
}

fn depth(x: &str) -> usize {
    if x == "*" { 0 } else { x.split('.').count() }
}

#[derive(Clone, Debug)]
struct Rule {
    id: String,
    allow: bool,
    category: &'static str,
    purpose: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
enum Proxy {
    Member(usize),
    Persona(usize),
}

#[derive(Clone, Debug)]
struct Delegation {
    id: String,
    proxy: Proxy,
    category: &'static str,
    purpose: &'static str,
}

#[derive(Debug, Default)]
struct Member {
    id: String,
    token: String,
    accepts: bool,
    left: bool,
    rules: Vec<Rule>,
    /// Oldest first.
    delegations: Vec<Delegation>,
}

struct Model {
    members: Vec<Member>,
    personas: Vec<(String, Vec<Rule>)>,
    coop: Vec<Rule>,
}

/// §2: an owner's opinion on (category, purpose) for any requester/action.
fn opinion(rules: &[Rule], category: &str, purpose: &str) -> Option<(bool, Vec<String>)> {
    let matching: Vec<&Rule> = rules
        .iter()
        .filter(|rule| {
            if rule.allow {
                covers(rule.category, category) && covers(rule.purpose, purpose)
            } else {
                overlaps(rule.category, category) && overlaps(rule.purpose, purpose)
            }
        })
        .collect();
    if matching.is_empty() {
        return None;
    }
    let mut ids: Vec<String> = matching.iter().map(|rule| rule.id.clone()).collect();
    ids.sort();
    Some((matching.iter().all(|rule| rule.allow), ids))
}

impl Model {
    fn id_of(&self, proxy: &Proxy) -> String {
        match proxy {
            Proxy::Member(index) => self.members[*index].id.clone(),
            Proxy::Persona(index) => self.personas[*index].0.clone(),
        }
    }

    fn active(&self, proxy: &Proxy) -> bool {
        match proxy {
            Proxy::Member(index) => self.members[*index].accepts && !self.members[*index].left,
            Proxy::Persona(_) => true,
        }
    }

    /// §4 for one category: (decision, reason, decided_by, chain).
    fn decide(
        &self,
        member: usize,
        category: &str,
        purpose: &str,
    ) -> (String, String, Value, Vec<String>) {
        let m = &self.members[member];
        let chain = vec![m.id.clone()];
        if m.left {
            return (
                "deny".into(),
                "member_inactive".into(),
                json!({"coop": true}),
                chain,
            );
        }
        if opinion(&self.coop, category, purpose).is_some_and(|(allow, _)| !allow)
            || overlaps(purpose, "commercial.sell_data")
        {
            return (
                "deny".into(),
                "coop_policy".into(),
                json!({"coop": true}),
                chain,
            );
        }
        let mut chain = chain;
        let mut governor = Proxy::Member(member);
        loop {
            let (rules, delegations): (&[Rule], &[Delegation]) = match &governor {
                Proxy::Member(index) => (
                    &self.members[*index].rules,
                    &self.members[*index].delegations,
                ),
                Proxy::Persona(index) => (&self.personas[*index].1, &[]),
            };
            let decided_by = match &governor {
                Proxy::Member(_) => json!({"member": self.id_of(&governor)}),
                Proxy::Persona(_) => json!({"persona": self.id_of(&governor)}),
            };
            if let Some((allow, _)) = opinion(rules, category, purpose) {
                let (decision, reason) = if allow {
                    ("allow", "allowed")
                } else {
                    ("deny", "denied_by_rule")
                };
                return (decision.into(), reason.into(), decided_by, chain);
            }
            // §3: deepest covering category, then purpose, then newest.
            let applicable = delegations
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    covers(d.category, category)
                        && covers(d.purpose, purpose)
                        && self.active(&d.proxy)
                })
                .max_by_key(|(index, d)| (depth(d.category), depth(d.purpose), *index));
            let Some((_, delegation)) = applicable else {
                return ("deny".into(), "no_consent".into(), decided_by, chain);
            };
            let next = self.id_of(&delegation.proxy);
            let cycle = chain.contains(&next);
            chain.push(next);
            if cycle {
                return ("deny".into(), "delegation_cycle".into(), decided_by, chain);
            }
            if chain.len() - 1 > MAX_DEPTH {
                return (
                    "deny".into(),
                    "delegation_too_deep".into(),
                    decided_by,
                    chain,
                );
            }
            governor = delegation.proxy.clone();
        }
    }
}

async fn add_rule(app: &TestApp, token: &str, rng: &mut Rng, coop: bool) -> Rule {
    let allow = !coop && rng.chance(60);
    // The co-op's rule is narrow, so most cells reach the members.
    let (category, purpose) = if coop {
        ("location.precise", "marketing")
    } else {
        (rng.pick(CATEGORIES), rng.pick(PURPOSES))
    };
    let body = json!({"effect": if allow { "allow" } else { "deny" }, "action": "*", "requester": "*",
                      "data_categories": [category], "purposes": [purpose]});
    let created = app.rule(token, body).await;
    Rule {
        id: created["id"].as_str().unwrap().to_owned(),
        allow,
        category,
        purpose,
    }
}

async fn build(app: &TestApp, rng: &mut Rng) -> Model {
    let mut model = Model {
        members: Vec::new(),
        personas: Vec::new(),
        coop: Vec::new(),
    };
    for index in 0..2 {
        let rule = json!({"effect": "allow", "action": "*", "requester": "*", "data_categories": [CATEGORIES[index + 1]], "purposes": ["research"]});
        let (status, persona) = app
            .call(
                Method::POST,
                "/v1/personas",
                Some(ADMIN),
                Some(json!({"name": format!("P{index}"), "description": "d", "rules": [rule]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let rules = vec![Rule {
            id: persona["rules"][0]["id"].as_str().unwrap().to_owned(),
            allow: true,
            category: CATEGORIES[index + 1],
            purpose: "research",
        }];
        model
            .personas
            .push((persona["id"].as_str().unwrap().to_owned(), rules));
    }
    model.coop.push(add_rule(app, ADMIN, rng, true).await);
    for _ in 0..MEMBERS {
        let created = app.enrol(None, "public").await;
        let mut member = Member {
            id: created["id"].as_str().unwrap().to_owned(),
            token: created["token"].as_str().unwrap().to_owned(),
            accepts: rng.chance(70),
            ..Member::default()
        };
        if member.accepts {
            app.call(
                Method::PATCH,
                "/v1/me",
                Some(&member.token),
                Some(json!({"accepts_delegations": true})),
            )
            .await;
        }
        // A fifth decide for themselves; most of the rest delegate.
        if rng.chance(20) {
            for _ in 0..=rng.below(2) {
                let rule = add_rule(app, &member.token, rng, false).await;
                member.rules.push(rule);
            }
        }
        model.members.push(member);
    }
    for index in 0..MEMBERS {
        let count = if rng.chance(80) { 1 + rng.below(2) } else { 0 };
        for _ in 0..count {
            let proxy = if rng.chance(10) {
                Proxy::Persona(rng.below(2))
            } else {
                Proxy::Member(rng.below(MEMBERS))
            };
            // Broad scopes half the time, so chains form.
            let category = if rng.chance(50) {
                "*"
            } else {
                rng.pick(CATEGORIES)
            };
            let purpose = if rng.chance(50) {
                "*"
            } else {
                rng.pick(PURPOSES)
            };
            let to = match &proxy {
                Proxy::Member(target) => json!({"member": model.members[*target].id}),
                Proxy::Persona(target) => json!({"persona": model.personas[*target].0}),
            };
            let body = json!({"to": to, "data_categories": [category], "purposes": [purpose]});
            let (status, created) = app
                .call(
                    Method::POST,
                    "/v1/me/delegations",
                    Some(&model.members[index].token),
                    Some(body),
                )
                .await;
            // Refusals the model predicts: self, a member who does not accept, a repeated scope.
            let refused = match &proxy {
                Proxy::Member(target) => *target == index || !model.members[*target].accepts,
                Proxy::Persona(_) => false,
            } || model.members[index]
                .delegations
                .iter()
                .any(|d| d.category == category && d.purpose == purpose);
            if refused {
                assert!(
                    status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT,
                    "{created}"
                );
                continue;
            }
            assert_eq!(status, StatusCode::CREATED, "{created}");
            model.members[index].delegations.push(Delegation {
                id: created["id"].as_str().unwrap().to_owned(),
                proxy,
                category,
                purpose,
            });
        }
    }
    model
}

/// Decides `rounds` random cells; returns how many were decided through
/// a chain of two hops or more, so the caller can tell the walk was tested.
async fn check(
    app: &TestApp,
    model: &Model,
    rng: &mut Rng,
    third_party: &str,
    rounds: usize,
) -> usize {
    let mut long_chains = 0;
    for _ in 0..rounds {
        let member = rng.below(MEMBERS);
        let category = rng.pick(&CATEGORIES[1..]);
        let purpose = rng.pick(&PURPOSES[1..]);
        let got = app
            .decide(
                &model.members[member].id,
                third_party,
                "access",
                &[category],
                purpose,
            )
            .await;
        let (decision, reason, decided_by, chain) = model.decide(member, category, purpose);
        let got = &got["categories"][0];
        let context = format!("member {member}, {category}/{purpose}: {got}");
        assert_eq!(got["decision"], decision.as_str(), "{context}");
        assert_eq!(got["reason"], reason.as_str(), "{context}");
        assert_eq!(got["decided_by"], decided_by, "{context}");
        assert_eq!(got["chain"], json!(chain), "{context}");
        if chain.len() >= 3 {
            long_chains += 1;
        }
    }
    long_chains
}

/// Builds a random co-op for `seed`, checks decisions before and after
/// churn against the model, and returns how many of each round went
/// through chains of two hops or more.
async fn randomized_coop(app: TestApp, seed: u64) -> (usize, usize) {
    let mut rng = Rng(seed);
    let third_party = app.third_party("academic").await;
    let mut model = build(&app, &mut rng).await;
    let before = check(&app, &model, &mut rng, &third_party, 150).await;
    // Churn: opt-outs, revocations, departures, then check again.
    for _ in 0..25 {
        let index = rng.below(MEMBERS);
        match rng.below(3) {
            0 if !model.members[index].left => {
                let accepts = !model.members[index].accepts;
                let token = model.members[index].token.clone();
                app.call(
                    Method::PATCH,
                    "/v1/me",
                    Some(&token),
                    Some(json!({"accepts_delegations": accepts})),
                )
                .await;
                model.members[index].accepts = accepts;
            }
            1 if !model.members[index].delegations.is_empty() => {
                let which = rng.below(model.members[index].delegations.len());
                let delegation = model.members[index].delegations.remove(which);
                let path = format!("/v1/me/delegations/{}", delegation.id);
                let (status, _) = app
                    .call(
                        Method::DELETE,
                        &path,
                        Some(&model.members[index].token),
                        None,
                    )
                    .await;
                assert_eq!(status, StatusCode::NO_CONTENT);
            }
            2 if !model.members[index].left && rng.chance(30) => {
                let (status, _) = app
                    .call(
                        Method::DELETE,
                        "/v1/me",
                        Some(&model.members[index].token),
                        None,
                    )
                    .await;
                assert_eq!(status, StatusCode::NO_CONTENT);
                let member = &mut model.members[index];
                member.left = true;
                member.rules.clear();
                member.delegations.clear();
            }
            _ => {}
        }
    }
    let after = check(&app, &model, &mut rng, &third_party, 150).await;
    (before, after)
}

#[tokio::test]
async fn randomized_coops_decide_like_the_model_on_sqlite() {
    for seed in [0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d] {
        let (before, after) = randomized_coop(TestApp::sqlite().await, seed).await;
        // These seeds make co-ops whose decisions walk real chains.
        assert!(
            before > 5 && after > 0,
            "chains of two hops or more: {before} before churn, {after} after"
        );
    }
}

#[tokio::test]
async fn randomized_coops_decide_like_the_model_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    randomized_coop(app, 0x9e37_79b9_7f4a_7c15).await;
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 3, ..proptest::test_runner::Config::default() })]

    /// Any seed: a co-op of its own, compared with the model.
    #[test]
    fn any_randomized_coop_decides_like_the_model(seed in 1u64..) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // The model comparisons inside are the property.
        runtime.block_on(async { randomized_coop(TestApp::sqlite().await, seed).await });
    }
}

/// Withdrawals (issue 10): a random co-op's members are read by a third
/// party for every cell the model allows; then proxies change (rules
/// added and deleted, delegations revoked, opt-outs, departures) and,
/// after each change, the withdrawal worker must announce exactly the
/// recipients whose decision the model turns from allow to deny: none
/// missed, none extra, none twice.
async fn changes_withdraw_exactly_what_turned_to_deny(app: TestApp, seed: u64) {
    use std::collections::BTreeSet;

    use datacoop_broker::domain::{MemberId, ThirdPartyId};
    use datacoop_broker::store::{AccessRecord, CategoryVerdict, EventFilter};
    use datacoop_broker::webhook::Withdrawer;
    use datacoop_wire::{Action, Reason, Verdict};

    type Cell = (usize, &'static str, &'static str);
    let mut rng = Rng(seed);
    let third_party = app.third_party("academic").await;
    let tp = ThirdPartyId::from_trusted(third_party.clone());
    let mut model = build(&app, &mut rng).await;
    let cells: Vec<(&'static str, &'static str)> = CATEGORIES[1..]
        .iter()
        .flat_map(|category| {
            PURPOSES[1..]
                .iter()
                .map(move |purpose| (*category, *purpose))
        })
        .collect();
    let allowed = |model: &Model| -> BTreeSet<Cell> {
        (0..MEMBERS)
            .flat_map(|member| cells.iter().map(move |(c, p)| (member, *c, *p)))
            .filter(|(member, category, purpose)| {
                model.decide(*member, category, purpose).0 == "allow"
            })
            .collect()
    };
    // The third party reads every allowed cell (as `POST /v1/access` logs it).
    let received = allowed(&model);
    let now = datacoop_broker::clock::Clock::now(app.clock.as_ref());
    for (member, category, purpose) in &received {
        let id = MemberId::from_trusted(model.members[*member].id.clone());
        app.store
            .connect(&id, &tp, &format!("sub_{member}"), now)
            .await
            .unwrap();
        app.store
            .log_access(&AccessRecord {
                member: id,
                third_party: tp.clone(),
                purpose: (*purpose).to_owned(),
                action: Action::Access,
                decision: Verdict::Allow,
                categories: vec![CategoryVerdict {
                    category: (*category).to_owned(),
                    verdict: Verdict::Allow,
                    reason: Reason::Allowed,
                }],
                at: now,
            })
            .await
            .unwrap();
    }
    assert!(
        received.len() > 50,
        "too few recipients: {}",
        received.len()
    );
    let worker = Withdrawer::new(
        std::sync::Arc::clone(&app.store),
        std::sync::Arc::clone(&app.engine),
        app.clock.clone(),
    );
    let first = worker.run_until_idle().await.unwrap();
    assert_eq!(first.withdrawals, 0, "nothing changed yet: {first:?}");

    let index_of: std::collections::HashMap<String, usize> = model
        .members
        .iter()
        .enumerate()
        .map(|(index, member)| (member.id.clone(), index))
        .collect();
    let mut seen_events = 0;
    let mut active = received.clone();
    let mut withdrawn_total = 0;
    // The hub: the member most others delegate to.
    let mut delegators = vec![0_usize; MEMBERS];
    for member in &model.members {
        for delegation in &member.delegations {
            if let Proxy::Member(target) = delegation.proxy {
                delegators[target] += 1;
            }
        }
    }
    for round in 0..24 {
        let before = allowed(&model);
        // A member on the chain of a cell still received: its change
        // reaches that cell's member and whoever else relies on it. Every
        // third round, the hub whom most delegate to.
        let proxy = if round % 3 == 0 {
            (0..MEMBERS).max_by_key(|index| delegators[*index]).unwrap()
        } else {
            let Some(cell) = active.iter().nth(rng.below(active.len().max(1))).copied() else {
                break;
            };
            let (_, _, _, chain) = model.decide(cell.0, cell.1, cell.2);
            let on_chain: Vec<usize> = chain
                .iter()
                .filter_map(|id| index_of.get(id).copied())
                .collect();
            on_chain[rng.below(on_chain.len())]
        };
        if model.members[proxy].left {
            continue;
        }
        let token = model.members[proxy].token.clone();
        match rng.below(5) {
            0 => {
                let rule = add_rule(&app, &token, &mut rng, false).await;
                model.members[proxy].rules.push(rule);
            }
            1 => {
                // A proxy's deny over a broad scope: what reaches delegators.
                let category = rng.pick(&CATEGORIES[..3]);
                let body = json!({"effect": "deny", "action": "*", "requester": "*",
                                  "data_categories": [category], "purposes": ["*"]});
                let created = app.rule(&token, body).await;
                model.members[proxy].rules.push(Rule {
                    id: created["id"].as_str().unwrap().to_owned(),
                    allow: false,
                    category,
                    purpose: "*",
                });
            }
            2 if !model.members[proxy].rules.is_empty() => {
                let rule = model.members[proxy].rules.remove(0);
                let path = format!("/v1/me/rules/{}", rule.id);
                let (status, _) = app.call(Method::DELETE, &path, Some(&token), None).await;
                assert_eq!(status, StatusCode::NO_CONTENT);
            }
            3 if model.members[proxy].accepts => {
                let (status, _) = app
                    .call(
                        Method::PATCH,
                        "/v1/me",
                        Some(&token),
                        Some(json!({"accepts_delegations": false})),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK);
                model.members[proxy].accepts = false;
            }
            4 if rng.chance(40) => {
                let (status, _) = app.call(Method::DELETE, "/v1/me", Some(&token), None).await;
                assert_eq!(status, StatusCode::NO_CONTENT);
                let member = &mut model.members[proxy];
                member.left = true;
                member.rules.clear();
                member.delegations.clear();
            }
            _ => {
                let Some(delegation) = model.members[proxy].delegations.pop() else {
                    continue;
                };
                let path = format!("/v1/me/delegations/{}", delegation.id);
                let (status, _) = app.call(Method::DELETE, &path, Some(&token), None).await;
                assert_eq!(status, StatusCode::NO_CONTENT);
            }
        }
        let after = allowed(&model);
        // What the model says turned to deny, among what was received and
        // not withdrawn yet.
        let expected: BTreeSet<Cell> = active
            .iter()
            .filter(|cell| before.contains(cell) && !after.contains(cell))
            .copied()
            .collect();
        worker.run_until_idle().await.unwrap();
        let events = app
            .store
            .events(&EventFilter::All, None, 1_000_000)
            .await
            .unwrap();
        let new: Vec<_> = events
            .into_iter()
            .skip(seen_events)
            .map(|(_, e)| e)
            .collect();
        seen_events += new.len();
        let mut got = BTreeSet::new();
        for event in &new {
            let member = index_of[event.member.as_str()];
            for category in &event.categories {
                let category = *CATEGORIES
                    .iter()
                    .find(|c| **c == category.as_str())
                    .unwrap();
                let purpose = *PURPOSES
                    .iter()
                    .find(|p| **p == event.purpose.as_str())
                    .unwrap();
                assert!(
                    got.insert((member, category, purpose)),
                    "announced twice: {event:?}"
                );
            }
        }
        assert_eq!(got, expected, "round {round}: proxy {proxy}");
        withdrawn_total += got.len();
        active.retain(|cell| !got.contains(cell));
    }
    assert!(
        withdrawn_total >= 10,
        "the changes withdrew only {withdrawn_total}: a weak seed"
    );
}

#[tokio::test]
async fn changes_withdraw_exactly_what_turned_to_deny_on_sqlite() {
    for seed in [0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d] {
        changes_withdraw_exactly_what_turned_to_deny(TestApp::sqlite().await, seed).await;
    }
}

#[tokio::test]
async fn changes_withdraw_exactly_what_turned_to_deny_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    changes_withdraw_exactly_what_turned_to_deny(app, 0x9e37_79b9_7f4a_7c15).await;
}
