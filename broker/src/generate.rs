//! The synthetic co-op generator (`datacoop generate`): writes a realistic
//! co-op into either database, for benchmarks and trials. Deterministic
//! for a seed.
//!
//! Of N members: a share with rules of their own (two or three, drawn from
//! presets, as members pick them in an app), a share delegating to other
//! members (chains of 1 to the depth limit, one of exactly the limit, a
//! few rings, and one *hub* proxy that many delegate to), a share adopting
//! personas, the rest silent. Every proxy accepts delegations. A co-op too
//! small for some of this (no member with rules to be the hub, too few
//! delegating members for a chain of the limit) is written without it, and
//! the report says so; any size, from none, works.
#![expect(
    clippy::indexing_slicing,
    reason = "every index is drawn below the length of what it indexes"
)]

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::consent::cedar::{delegation_text, rule_text};
use crate::consent::{CedarError, Evaluator};
use crate::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use crate::domain::vocabulary::{TermId, Vocabulary};
use crate::domain::{
    Delegation, DelegationId, DisplayName, Member, MemberId, Persona, PersonaDescription,
    PersonaId, PersonaName, Registry, RequesterClass, RuleId, Scope, ThirdParty, ThirdPartyId,
    ThirdPartyName, ThirdPartyStatus,
};
use crate::store::{Bulk, Store, StoreError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Shape {
    pub members: usize,
    /// Share of members with rules of their own.
    pub own_rules: f64,
    /// Share of members delegating to other members.
    pub delegating: f64,
    /// Share of members delegating to a persona.
    pub on_personas: f64,
    /// Delegators of the hub proxy (capped by the delegating share).
    pub hub_delegators: usize,
    pub max_depth: usize,
    pub seed: u64,
    /// Also store data for every member: `health.heart` with
    /// `resting_bpm` (45 to 99) and `age_band` (`18-29` … `70+`), for
    /// dataset builds to group and measure.
    pub data: bool,
}

/// What was generated: counts, and members worth deciding for.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub members: usize,
    pub rules: usize,
    pub delegations: usize,
    pub personas: usize,
    pub third_parties: Vec<(String, &'static str)>,
    /// The head of a chain of exactly `max_depth` hops, if the co-op has
    /// enough delegating members for one.
    pub longest_chain_head: Option<String>,
    /// The hub proxy (a member with rules, if any) and how many delegate
    /// to it directly.
    pub hub: Option<String>,
    pub hub_delegators: usize,
    /// One member who delegates to the hub, if any does.
    pub hub_delegator: Option<String>,
    pub seconds: f64,
    /// Up to 10,000 member ids, for benchmarks to decide for.
    #[serde(skip)]
    pub sample: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cedar(#[from] CedarError),
    #[error("the vocabulary in force lacks `{0}`, which the generator's presets use")]
    Vocabulary(String),
    #[error(
        "--own-rules, --delegating and --on-personas must each be from 0 to 1 and add up to at most 1"
    )]
    Shares,
}

impl Shape {
    fn shares_are_valid(&self) -> bool {
        let shares = [self.own_rules, self.delegating, self.on_personas];
        shares.iter().all(|share| (0.0..=1.0).contains(share))
            && shares.iter().sum::<f64>() <= 1.0 + 1e-9
    }
}

/// xorshift64: small, and the same co-op for the same seed on every
/// platform and dependency version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        usize::try_from(self.next() % n).unwrap_or(0)
    }
    fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a fraction of one.
        let fraction = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        fraction < p
    }
}

const CATEGORIES: &[&str] = &[
    "health",
    "health.heart",
    "health.sleep",
    "health.activity",
    "location",
    "location.coarse",
    "financial",
    "behaviour",
];
const PURPOSES: &[&str] = &[
    "research",
    "research.academic",
    "public_interest",
    "marketing",
    "service_provision",
];

/// Compiled rule presets: a spec and its Cedar body (validated once).
struct Presets {
    specs: Vec<(RuleSpec, String)>,
}

impl Presets {
    fn new(evaluator: &Evaluator, vocabulary: &Vocabulary) -> Result<Self, GenerateError> {
        let term =
            |id: &str| TermId::parse(id).map_err(|_| GenerateError::Vocabulary(id.to_owned()));
        for id in CATEGORIES {
            vocabulary
                .category(id)
                .ok_or_else(|| GenerateError::Vocabulary((*id).to_owned()))?;
        }
        for id in PURPOSES {
            vocabulary
                .purpose(id)
                .ok_or_else(|| GenerateError::Vocabulary((*id).to_owned()))?;
        }
        let mut specs = Vec::new();
        for (index, category) in CATEGORIES.iter().enumerate() {
            for (p, purpose) in PURPOSES.iter().enumerate() {
                let effect = if (index + p) % 4 == 0 {
                    Effect::Deny
                } else {
                    Effect::Allow
                };
                let requester = match (index + p) % 3 {
                    0 => Requester::Any,
                    1 => Requester::Class(RequesterClass::Academic),
                    _ => Requester::Class(RequesterClass::PublicBody),
                };
                let spec = RuleSpec {
                    effect,
                    action: if p % 2 == 0 {
                        RuleAction::Any
                    } else {
                        RuleAction::Access
                    },
                    requester,
                    data_categories: vec![term(category)?],
                    purposes: vec![term(purpose)?],
                    not_before: None,
                    expires_at: None,
                };
                // Validate once; members' rules reuse the text with their own id.
                let id = RuleId::generate();
                evaluator.compile(&id, &spec)?;
                let text = rule_text(&id, &spec);
                let body = text
                    .split_once('\n')
                    .map_or(text.clone(), |(_, body)| body.to_owned());
                specs.push((spec, body));
            }
        }
        Ok(Self { specs })
    }

    fn rule(&self, rng: &mut Rng, owner: &Owner, now: DateTime<Utc>) -> Rule {
        let (spec, body) = &self.specs[rng.below(self.specs.len())];
        let id = RuleId::generate();
        Rule {
            cedar: format!("@id(\"{id}\")\n{body}"),
            id,
            owner: owner.clone(),
            spec: spec.clone(),
            created_at: now,
        }
    }
}

fn delegation(member: &MemberId, proxy: Owner, scope: Scope, now: DateTime<Utc>) -> Delegation {
    let mut delegation = Delegation {
        id: DelegationId::generate(),
        member: member.clone(),
        proxy,
        scope,
        seq: 0,
        created_at: now,
        cedar: String::new(),
    };
    delegation.cedar = delegation_text(&delegation);
    delegation
}

/// Delegations being built, and what they imply for their members.
struct Links<'a> {
    ids: &'a [MemberId],
    now: DateTime<Utc>,
    delegations: Vec<Delegation>,
    accepts: Vec<bool>,
    has_version: Vec<bool>,
}

impl Links<'_> {
    fn delegate(&mut self, from: usize, to: usize, scope: Scope) {
        self.accepts[to] = true;
        self.has_version[from] = true;
        let proxy = Owner::Member(self.ids[to].clone());
        self.delegations
            .push(delegation(&self.ids[from], proxy, scope, self.now));
    }

    /// `members[0]` -> `members[1]` -> ... -> `end`; without an `end`
    /// (no member has rules), the chain stops at its last member.
    fn chain(&mut self, rng: &mut Rng, members: &[usize], end: Option<usize>) {
        for pair in members.windows(2) {
            self.delegate(pair[0], pair[1], everything());
        }
        if let (Some(&last), Some(end)) = (members.last(), end) {
            // Some last hops narrow the scope to health, so selection by
            // depth is exercised.
            let scope = match TermId::parse("health") {
                Ok(health) if rng.chance(0.2) => Scope {
                    data_categories: vec![health],
                    purposes: vec![TermId::wildcard()],
                },
                _ => everything(),
            };
            self.delegate(last, end, scope);
        }
    }
}

fn everything() -> Scope {
    Scope {
        data_categories: vec![TermId::wildcard()],
        purposes: vec![TermId::wildcard()],
    }
}

/// Generates a co-op of `shape` and writes it to `store`.
pub async fn generate(
    store: &Arc<dyn Store>,
    evaluator: &Evaluator,
    vocabulary: &Vocabulary,
    shape: &Shape,
) -> Result<Report, GenerateError> {
    if !shape.shares_are_valid() {
        return Err(GenerateError::Shares);
    }
    let started = Instant::now();
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let mut rng = Rng(shape.seed.max(1));
    let presets = Presets::new(evaluator, vocabulary)?;
    let mut bulk = Bulk::default();

    for (class, status) in [
        (RequesterClass::Nonprofit, ThirdPartyStatus::Active),
        (RequesterClass::Academic, ThirdPartyStatus::Active),
        (RequesterClass::PublicBody, ThirdPartyStatus::Active),
        (RequesterClass::Commercial, ThirdPartyStatus::Active),
        (RequesterClass::Academic, ThirdPartyStatus::Suspended),
    ] {
        let id = ThirdPartyId::generate();
        let third_party = ThirdParty {
            name: ThirdPartyName::from_trusted(format!(
                "Generated {} {}",
                class.as_str(),
                status.as_str()
            )),
            class,
            status,
            webhook_url: None,
            client_id: format!("dcc_gen_{}", id.as_str()),
            created_at: now,
            updated_at: now,
            id,
        };
        // Generated third parties have no usable secret.
        bulk.third_parties
            .push((third_party, "!generated".to_owned()));
    }

    let persona_specs: [(&str, &str, Vec<usize>); 3] = [
        (
            "Research friendly",
            "Shares health data with research.",
            vec![0, 1, 5],
        ),
        ("Strictly private", "Shares nothing.", vec![3]),
        (
            "Public interest",
            "Shares location with public-interest work.",
            vec![22, 27],
        ),
    ];
    let mut personas = Vec::new();
    for (name, description, preset_indices) in persona_specs {
        let persona = Persona {
            id: PersonaId::generate(),
            name: PersonaName::from_trusted(name.to_owned()),
            description: PersonaDescription::from_trusted(description.to_owned()),
            created_at: now,
        };
        let owner = Owner::Persona(persona.id.clone());
        for index in preset_indices {
            let (spec, body) = &presets.specs[index % presets.specs.len()];
            let id = RuleId::generate();
            bulk.rules.push(Rule {
                cedar: format!("@id(\"{id}\")\n{body}"),
                id,
                owner: owner.clone(),
                spec: spec.clone(),
                created_at: now,
            });
        }
        bulk.versions.push((owner, 1));
        personas.push(persona.id.clone());
        bulk.personas.push(persona);
    }

    // Members, and who does what.
    let ids: Vec<MemberId> = (0..shape.members).map(|_| MemberId::generate()).collect();
    let mut with_rules = Vec::new();
    let mut delegating = Vec::new();
    let mut on_personas = Vec::new();
    for index in 0..shape.members {
        if rng.chance(shape.own_rules) {
            with_rules.push(index);
        } else if rng.chance(shape.delegating / (1.0 - shape.own_rules).max(f64::EPSILON)) {
            delegating.push(index);
        } else if rng.chance(
            shape.on_personas / (1.0 - shape.own_rules - shape.delegating).max(f64::EPSILON),
        ) {
            on_personas.push(index);
        }
    }
    let mut links = Links {
        ids: &ids,
        now,
        delegations: Vec::new(),
        accepts: vec![false; shape.members],
        has_version: vec![false; shape.members],
    };
    for &index in &with_rules {
        let owner = Owner::Member(ids[index].clone());
        for _ in 0..2 + rng.below(2) {
            bulk.rules.push(presets.rule(&mut rng, &owner, now));
        }
        links.has_version[index] = true;
    }
    // A chain ends at a member with rules, drawn at random (none if no
    // member has rules).
    let end_of_chain = |rng: &mut Rng| -> Option<usize> {
        (!with_rules.is_empty()).then(|| with_rules[rng.below(with_rules.len())])
    };
    // The hub: a member with rules that many delegate to; it leaves room
    // for the chain of exactly the depth limit.
    let hub = with_rules.first().copied();
    let room_for_longest = shape.max_depth > 0 && delegating.len() >= shape.max_depth;
    let hub_delegators = match hub {
        Some(_) => shape.hub_delegators.min(delegating.len() / 2).min(
            delegating
                .len()
                .saturating_sub(if room_for_longest { shape.max_depth } else { 0 }),
        ),
        None => 0,
    };
    if let Some(hub) = hub {
        for &from in delegating.iter().take(hub_delegators) {
            links.delegate(from, hub, everything());
        }
    }
    let mut cursor = hub_delegators;
    // One chain of exactly the depth limit, ending at a member with rules.
    let mut longest_head = None;
    if room_for_longest && let Some(end) = end_of_chain(&mut rng) {
        let members = &delegating[cursor..cursor + shape.max_depth];
        longest_head = members.first().copied();
        links.chain(&mut rng, members, Some(end));
        cursor += shape.max_depth;
    }
    // The rest: chains of 1 to the limit (mostly short), and a few rings.
    while cursor < delegating.len() {
        let remaining = delegating.len() - cursor;
        if rng.chance(0.01) && remaining >= 5 {
            let size = 2 + rng.below(4);
            let ring = &delegating[cursor..cursor + size];
            for (position, &from) in ring.iter().enumerate() {
                links.delegate(from, ring[(position + 1) % size], everything());
            }
            cursor += size;
            continue;
        }
        let length = (1 + rng.below(4) * rng.below(5))
            .min(shape.max_depth.max(1))
            .min(remaining);
        let end = end_of_chain(&mut rng);
        links.chain(&mut rng, &delegating[cursor..cursor + length], end);
        cursor += length;
    }
    for &from in &on_personas {
        let persona = personas[rng.below(personas.len())].clone();
        links.delegations.push(delegation(
            &ids[from],
            Owner::Persona(persona),
            everything(),
            now,
        ));
        links.has_version[from] = true;
    }
    let Links {
        delegations,
        accepts,
        has_version,
        ..
    } = links;
    bulk.delegations = delegations;

    for (index, id) in ids.iter().enumerate() {
        bulk.members.push(Member {
            id: id.clone(),
            display_name: rng
                .chance(0.7)
                .then(|| DisplayName::from_trusted(format!("Member {index}"))),
            registry: if rng.chance(0.7) {
                Registry::Public
            } else {
                Registry::Anonymous
            },
            accepts_delegations: accepts[index],
            created_at: now,
        });
        if has_version[index] {
            bulk.versions.push((Owner::Member(id.clone()), 1));
        }
    }
    let report = Report {
        members: bulk.members.len(),
        rules: bulk.rules.len(),
        delegations: bulk.delegations.len(),
        personas: bulk.personas.len(),
        third_parties: bulk
            .third_parties
            .iter()
            .map(|(tp, _)| (tp.id.to_string(), tp.status.as_str()))
            .collect(),
        longest_chain_head: longest_head.map(|index| ids[index].to_string()),
        hub: hub.map(|index| ids[index].to_string()),
        hub_delegators,
        hub_delegator: delegating
            .first()
            .filter(|_| hub_delegators > 0)
            .map(|&index| ids[index].to_string()),
        seconds: 0.0,
        sample: if ids.is_empty() {
            Vec::new()
        } else {
            (0..10_000)
                .map(|_| ids[rng.below(ids.len())].to_string())
                .collect()
        },
    };
    if shape.data {
        // A generator of its own, so the co-op is the same with or
        // without data.
        let mut values = Rng(shape.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).max(1));
        const BANDS: [&str; 6] = ["18-29", "30-39", "40-49", "50-59", "60-69", "70+"];
        bulk.data = ids
            .iter()
            .map(|id| {
                let value = serde_json::json!({
                    "resting_bpm": 45 + values.below(55),
                    "age_band": BANDS[values.below(BANDS.len())],
                });
                (id.clone(), "health.heart".to_owned(), value.to_string())
            })
            .collect();
    }
    store.bulk_load(bulk).await?;
    Ok(Report {
        seconds: started.elapsed().as_secs_f64(),
        ..report
    })
}
