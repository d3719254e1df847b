//! Property tests: the engine that serves requests (`consent::Engine`
//! over a real store, its rules compiled to Cedar) against a small model
//! of consent-semantics §2 and §4 (steps 1, 3 and 4, without delegation)
//! written from the spec's text, not from the engine.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeDelta, Utc};
use datacoop_broker::consent::{Decider, DecisionInput, Engine};
use datacoop_broker::credentials::TokenHash;
use datacoop_broker::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use datacoop_broker::domain::vocabulary::TermId;
use datacoop_broker::domain::{
    Member, MemberId, Registry, RequesterClass, RuleId, ThirdParty, ThirdPartyId, ThirdPartyName,
    ThirdPartyStatus,
};
use datacoop_broker::policy::Policies;
use datacoop_broker::store::{self, Store};
use datacoop_wire::{Action, Reason, Verdict};
use proptest::prelude::*;

const CATEGORIES: &[&str] = &[
    "*",
    "health",
    "health.heart",
    "health.sleep",
    "location",
    "location.precise",
];
const PURPOSES: &[&str] = &[
    "*",
    "research",
    "research.academic",
    "marketing",
    "marketing.direct",
    "commercial.sell_data",
];
const CLASSES: [RequesterClass; 4] = RequesterClass::ALL;

// ---- the model, from the spec's words ----------------------------------

/// §1: `x` covers `y` when `x == "*"`, `x == y`, or `y` starts with `x + "."`.
fn covers(x: &str, y: &str) -> bool {
    x == "*" || x == y || y.starts_with(&format!("{x}."))
}

/// §1: `x` overlaps `y` when either covers the other.
fn overlaps(x: &str, y: &str) -> bool {
    covers(x, y) || covers(y, x)
}

#[derive(Debug, Clone)]
struct ModelRule {
    id: String,
    coop: bool,
    allow: bool,
    /// `None` is `*`.
    action: Option<Action>,
    requester: ModelRequester,
    categories: Vec<&'static str>,
    purposes: Vec<&'static str>,
    not_before: Option<i64>,
    expires_at: Option<i64>,
}

#[derive(Debug, Clone)]
enum ModelRequester {
    Any,
    Class(RequesterClass),
    ThirdParty(usize),
}

/// One cell; requester `i` is a third party of class `CLASSES[i]`.
#[derive(Debug, Clone)]
struct ModelCell {
    requester: usize,
    class: RequesterClass,
    /// §4 step 1: the requester is suspended.
    suspended: bool,
    action: Action,
    category: &'static str,
    purpose: &'static str,
    t: i64,
}

/// §2: whether `rule` matches `cell`.
fn matches(rule: &ModelRule, cell: &ModelCell) -> bool {
    let in_force = rule.not_before.is_none_or(|start| start <= cell.t)
        && rule.expires_at.is_none_or(|end| cell.t < end);
    let action = rule.action.is_none_or(|action| action == cell.action);
    let requester = match rule.requester {
        ModelRequester::Any => true,
        ModelRequester::Class(class) => class == cell.class,
        ModelRequester::ThirdParty(index) => index == cell.requester,
    };
    let relation = if rule.allow { covers } else { overlaps };
    in_force
        && action
        && requester
        && rule.categories.iter().any(|c| relation(c, cell.category))
        && rule.purposes.iter().any(|p| relation(p, cell.purpose))
}

/// §4 steps 1, 3 and 4 for a member with no delegation.
fn model_decide(rules: &[ModelRule], cell: &ModelCell) -> (Verdict, Reason, BTreeSet<String>) {
    if cell.suspended {
        return (Verdict::Deny, Reason::RequesterInactive, BTreeSet::new());
    }
    let coop: BTreeSet<String> = rules
        .iter()
        .filter(|r| r.coop && matches(r, cell))
        .map(|r| r.id.clone())
        .collect();
    if !coop.is_empty() {
        return (Verdict::Deny, Reason::CoopPolicy, coop);
    }
    let own: Vec<&ModelRule> = rules
        .iter()
        .filter(|r| !r.coop && matches(r, cell))
        .collect();
    let ids = own.iter().map(|r| r.id.clone()).collect();
    if own.iter().any(|r| !r.allow) {
        (Verdict::Deny, Reason::DeniedByRule, ids)
    } else if own.is_empty() {
        (Verdict::Deny, Reason::NoConsent, ids)
    } else {
        (Verdict::Allow, Reason::Allowed, ids)
    }
}

/// The base policy `policies/coop.cedar` ships, in the model's terms.
fn base_policy() -> ModelRule {
    ModelRule {
        id: "coop.no_data_sales".into(),
        coop: true,
        allow: false,
        action: None,
        requester: ModelRequester::Any,
        categories: vec!["*"],
        purposes: vec!["commercial.sell_data", "commercial.sell_insights"],
        not_before: None,
        expires_at: None,
    }
}

// ---- generators ---------------------------------------------------------

fn some_of(items: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(items, 1..=3)
}

fn rule(index: usize) -> impl Strategy<Value = ModelRule> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(Action::Access)),
            Just(Some(Action::Aggregate))
        ],
        prop_oneof![
            Just(ModelRequester::Any),
            (0..4usize).prop_map(|i| ModelRequester::Class(CLASSES[i])),
            (0..CLASSES.len()).prop_map(ModelRequester::ThirdParty),
        ],
        some_of(CATEGORIES),
        some_of(PURPOSES),
        proptest::option::of(-100i64..100),
        proptest::option::of(-100i64..100),
    )
        .prop_map(
            move |(
                coop,
                allow,
                action,
                requester,
                categories,
                purposes,
                not_before,
                expires_at,
            )| ModelRule {
                id: format!("rul_{index:032x}"),
                coop,
                allow: allow && !coop,
                action,
                requester,
                categories,
                purposes,
                not_before,
                expires_at,
            },
        )
}

fn rules() -> impl Strategy<Value = Vec<ModelRule>> {
    (0..10usize).prop_flat_map(|count| (0..count).map(rule).collect::<Vec<_>>())
}

fn cell() -> impl Strategy<Value = ModelCell> {
    (
        0..CLASSES.len(),
        proptest::bool::weighted(0.1),
        prop_oneof![Just(Action::Access), Just(Action::Aggregate)],
        proptest::sample::select(CATEGORIES),
        proptest::sample::select(PURPOSES),
        -150i64..150,
    )
        .prop_map(
            |(requester, suspended, action, category, purpose, t)| ModelCell {
                requester,
                class: CLASSES[requester],
                suspended,
                action,
                category,
                purpose,
                t,
            },
        )
}

// ---- the engine side ----------------------------------------------------

fn epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Third party `i` has class `CLASSES[i]`; each is also stored suspended
/// under `SUSPENDED_OFFSET + i`.
fn third_parties() -> Vec<ThirdPartyId> {
    (1..=2 * CLASSES.len())
        .map(|i| ThirdPartyId::parse(&format!("tp_{i:032x}")).unwrap())
        .collect()
}

const SUSPENDED_OFFSET: usize = CLASSES.len();

/// The serving engine over an in-memory database, shared by every case:
/// each case adds its own member and replaces the co-op's rules.
struct Harness {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    engine: Engine,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (store, engine) = runtime.block_on(async {
            let store = store::connect("sqlite::memory:").await.unwrap();
            store.migrate().await.unwrap();
            for (index, id) in third_parties().into_iter().enumerate() {
                let third_party = ThirdParty {
                    id,
                    name: ThirdPartyName::from_trusted(format!("Lab {index}")),
                    class: CLASSES[index % CLASSES.len()],
                    status: if index >= SUSPENDED_OFFSET {
                        ThirdPartyStatus::Suspended
                    } else {
                        ThirdPartyStatus::Active
                    },
                    webhook_url: None,
                    client_id: format!("dcc_{index}"),
                    created_at: epoch(),
                    updated_at: epoch(),
                };
                store
                    .create_third_party(&third_party, "unused")
                    .await
                    .unwrap();
            }
            let engine = Engine::load(
                Arc::clone(&store),
                &Policies::built_in().unwrap(),
                datacoop_broker::consent::DEFAULT_MAX_DELEGATION_DEPTH,
            )
            .await
            .unwrap();
            (store, engine)
        });
        Harness {
            runtime,
            store,
            engine,
        }
    })
}

/// Stores the case's rules (fresh ids; `names` maps them back to the
/// model's) for a new member, replacing the co-op's rules of the last case.
async fn store_case(
    harness: &Harness,
    rules: &[ModelRule],
    names: &mut HashMap<String, String>,
) -> MemberId {
    let store = harness.store.as_ref();
    for old in store.rules_of(&Owner::Coop).await.unwrap() {
        assert!(
            store
                .delete_rule(&Owner::Coop, &old.id)
                .await
                .unwrap()
                .value
        );
    }
    let member = Member {
        id: MemberId::generate(),
        display_name: None,
        registry: Registry::Anonymous,
        accepts_delegations: false,
        created_at: epoch(),
    };
    store
        .create_member(&member, &TokenHash::of(member.id.as_str()))
        .await
        .unwrap();
    let (mut coop, mut own) = (Vec::new(), Vec::new());
    for model in rules {
        let rule = to_rule(&harness.engine, model, &member.id);
        names.insert(rule.id.to_string(), model.id.clone());
        if model.coop {
            coop.push(rule);
        } else {
            own.push(rule);
        }
    }
    store.create_rules(&Owner::Coop, &coop).await.unwrap();
    store
        .create_rules(&Owner::Member(member.id.clone()), &own)
        .await
        .unwrap();
    member.id
}

fn to_rule(engine: &Engine, model: &ModelRule, member: &MemberId) -> Rule {
    let spec = RuleSpec {
        effect: if model.allow {
            Effect::Allow
        } else {
            Effect::Deny
        },
        action: match model.action {
            None => RuleAction::Any,
            Some(Action::Access) => RuleAction::Access,
            Some(Action::Aggregate) => RuleAction::Aggregate,
        },
        requester: match model.requester {
            ModelRequester::Any => Requester::Any,
            ModelRequester::Class(class) => Requester::Class(class),
            ModelRequester::ThirdParty(index) => {
                Requester::ThirdParty(third_parties()[index].clone())
            }
        },
        data_categories: model
            .categories
            .iter()
            .map(|c| TermId::parse(c).unwrap())
            .collect(),
        purposes: model
            .purposes
            .iter()
            .map(|p| TermId::parse(p).unwrap())
            .collect(),
        not_before: model.not_before.map(|s| epoch() + TimeDelta::seconds(s)),
        expires_at: model.expires_at.map(|s| epoch() + TimeDelta::seconds(s)),
    };
    let id = RuleId::generate();
    let cedar = engine.compile(&id, &spec).unwrap();
    Rule {
        id,
        owner: if model.coop {
            Owner::Coop
        } else {
            Owner::Member(member.clone())
        },
        spec,
        created_at: epoch(),
        cedar,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_decides_like_the_model(rules in rules(), cells in proptest::collection::vec(cell(), 1..6)) {
        let harness = harness();
        let mut names = HashMap::new();
        let member = harness.runtime.block_on(store_case(harness, &rules, &mut names));
        let mut model_rules = rules.clone();
        model_rules.push(base_policy());
        for cell in cells {
            let requester = if cell.suspended { cell.requester + SUSPENDED_OFFSET } else { cell.requester };
            let input = DecisionInput {
                member: member.to_string(),
                requester: third_parties()[requester].to_string(),
                action: cell.action,
                categories: vec![TermId::parse(cell.category).unwrap()],
                purpose: TermId::parse(cell.purpose).unwrap(),
            };
            let now = epoch() + TimeDelta::seconds(cell.t);
            let decision = harness.runtime.block_on(harness.engine.decide(&input, now)).unwrap();
            let outcome = &decision.categories[0];
            let (verdict, reason, ids) = model_decide(&model_rules, &cell);
            prop_assert_eq!(decision.verdict, verdict, "{:?}", cell);
            prop_assert_eq!(outcome.reason, reason, "{:?}", cell);
            let named: BTreeSet<String> = outcome
                .rules
                .iter()
                .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
                .collect();
            prop_assert_eq!(named, ids, "{:?}", cell);
            let expected_decider = if matches!(reason, Reason::CoopPolicy | Reason::RequesterInactive) {
                Decider::Coop
            } else {
                Decider::Member(member.clone())
            };
            prop_assert_eq!(&outcome.decided_by, &expected_decider);
            prop_assert_eq!(&outcome.chain, &vec![member.to_string()]);
        }
    }
}

#[test]
fn the_model_agrees_with_the_spec_examples() {
    // §1: covers and overlaps as worded.
    assert!(
        covers("*", "health.heart")
            && covers("health", "health.heart")
            && !covers("health.heart", "health")
    );
    assert!(!covers("health", "healthcare"));
    assert!(overlaps("health.heart", "health") && !overlaps("health.heart", "health.sleep"));
}
