//! Rows as the database returns them, and their conversion to domain
//! types. Shared by both databases: the column types decode on each.

use chrono::{DateTime, Utc};

use super::{DecisionFacts, Seq, StoreError, StoreResult};
use crate::domain::rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
use crate::domain::vocabulary::TermId;
use crate::domain::{Delegation, DelegationId, Scope};
use crate::domain::{
    DisplayName, Member, MemberId, Persona, PersonaDescription, PersonaId, PersonaName, Registry,
    RequesterClass, RuleId, ThirdParty, ThirdPartyId, ThirdPartyName, ThirdPartyStatus,
};

#[derive(Debug, sqlx::FromRow)]
pub(super) struct MemberRow {
    seq: Seq,
    id: String,
    display_name: Option<String>,
    registry: String,
    accepts_delegations: bool,
    created_at: DateTime<Utc>,
}

impl MemberRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, Member)> {
        let registry = Registry::parse(&self.registry)
            .ok_or_else(|| StoreError::Corrupt(format!("member registry `{}`", self.registry)))?;
        Ok((
            self.seq,
            Member {
                id: MemberId::from_trusted(self.id),
                display_name: self.display_name.map(DisplayName::from_trusted),
                registry,
                accepts_delegations: self.accepts_delegations,
                created_at: self.created_at,
            },
        ))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ThirdPartyRow {
    seq: Seq,
    id: String,
    name: String,
    class: String,
    status: String,
    webhook_url: Option<String>,
    client_id: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ThirdPartyRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, ThirdParty)> {
        let class = RequesterClass::parse(&self.class)
            .ok_or_else(|| StoreError::Corrupt(format!("third-party class `{}`", self.class)))?;
        let status = ThirdPartyStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("third-party status `{}`", self.status)))?;
        Ok((
            self.seq,
            ThirdParty {
                id: ThirdPartyId::from_trusted(self.id),
                name: ThirdPartyName::from_trusted(self.name),
                class,
                status,
                webhook_url: self.webhook_url,
                client_id: self.client_id,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
        ))
    }
}

/// A third party as `SET_WEBHOOK` returns it, with its signing secret.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct WebhookRow {
    webhook_secret: Option<String>,
    #[sqlx(flatten)]
    third_party: ThirdPartyRow,
}

impl WebhookRow {
    pub(super) fn into_domain(self) -> StoreResult<(Option<String>, ThirdParty)> {
        let (_, third_party) = self.third_party.into_domain()?;
        Ok((self.webhook_secret, third_party))
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RuleRow {
    id: String,
    owner_kind: String,
    owner_id: String,
    effect: String,
    action: String,
    requester_kind: String,
    requester_value: Option<String>,
    data_categories: String,
    purposes: String,
    not_before: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    cedar: String,
}

/// The columns a rule is stored in, as the SQL binds them.
#[derive(Debug)]
pub(super) struct RuleColumns {
    pub effect: &'static str,
    pub action: &'static str,
    pub requester_kind: &'static str,
    pub requester_value: Option<String>,
    pub data_categories: String,
    pub purposes: String,
}

impl RuleColumns {
    pub(super) fn of(spec: &RuleSpec) -> Self {
        let (requester_kind, requester_value) = match &spec.requester {
            Requester::Any => ("any", None),
            Requester::Class(class) => ("class", Some(class.as_str().to_owned())),
            Requester::ThirdParty(id) => ("third_party", Some(id.to_string())),
        };
        let list = |terms: &[TermId]| {
            serde_json::to_string(&terms.iter().map(TermId::as_str).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        Self {
            effect: match spec.effect {
                Effect::Allow => "allow",
                Effect::Deny => "deny",
            },
            action: match spec.action {
                RuleAction::Access => "access",
                RuleAction::Aggregate => "aggregate",
                RuleAction::Any => "*",
            },
            requester_kind,
            requester_value,
            data_categories: list(&spec.data_categories),
            purposes: list(&spec.purposes),
        }
    }
}

impl RuleRow {
    pub(super) fn into_domain(self) -> StoreResult<Rule> {
        let owner = Owner::from_parts(&self.owner_kind, self.owner_id)
            .ok_or_else(|| corrupt("rule owner", &self.owner_kind))?;
        let effect = match self.effect.as_str() {
            "allow" => Effect::Allow,
            "deny" => Effect::Deny,
            other => return Err(corrupt("rule effect", other)),
        };
        let action = match self.action.as_str() {
            "access" => RuleAction::Access,
            "aggregate" => RuleAction::Aggregate,
            "*" => RuleAction::Any,
            other => return Err(corrupt("rule action", other)),
        };
        let value = self.requester_value.unwrap_or_default();
        let requester = match self.requester_kind.as_str() {
            "any" => Requester::Any,
            "class" => Requester::Class(
                RequesterClass::parse(&value).ok_or_else(|| corrupt("rule class", &value))?,
            ),
            "third_party" => Requester::ThirdParty(ThirdPartyId::from_trusted(value)),
            other => return Err(corrupt("rule requester", other)),
        };
        let terms = |text: &str| -> StoreResult<Vec<TermId>> {
            let raw: Vec<String> =
                serde_json::from_str(text).map_err(|_| corrupt("rule term list", text))?;
            raw.iter()
                .map(|id| TermId::parse(id).map_err(|_| corrupt("rule term", id)))
                .collect()
        };
        Ok(Rule {
            id: RuleId::from_trusted(self.id),
            owner,
            spec: RuleSpec {
                effect,
                action,
                requester,
                data_categories: terms(&self.data_categories)?,
                purposes: terms(&self.purposes)?,
                not_before: self.not_before,
                expires_at: self.expires_at,
            },
            created_at: self.created_at,
            cedar: self.cedar,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct VersionRow {
    owner_kind: String,
    owner_id: String,
    version: i64,
}

impl VersionRow {
    pub(super) fn into_domain(self) -> StoreResult<(Owner, i64)> {
        let owner = Owner::from_parts(&self.owner_kind, self.owner_id)
            .ok_or_else(|| corrupt("policy owner", &self.owner_kind))?;
        Ok((owner, self.version))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct FactsRow {
    class: Option<String>,
    status: Option<String>,
    member_active: bool,
    coop_version: i64,
    member_version: i64,
}

impl FactsRow {
    pub(super) fn into_domain(self) -> StoreResult<DecisionFacts> {
        let requester = match (self.class, self.status) {
            (Some(class), Some(status)) => Some((
                RequesterClass::parse(&class)
                    .ok_or_else(|| corrupt("third-party class", &class))?,
                ThirdPartyStatus::parse(&status)
                    .ok_or_else(|| corrupt("third-party status", &status))?,
            )),
            _ => None,
        };
        Ok(DecisionFacts {
            requester,
            member_active: self.member_active,
            coop_version: self.coop_version,
            member_version: self.member_version,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct PersonaRow {
    id: String,
    name: String,
    description: String,
    created_at: DateTime<Utc>,
}

impl PersonaRow {
    pub(super) fn into_domain(self) -> Persona {
        Persona {
            id: PersonaId::from_trusted(self.id),
            name: PersonaName::from_trusted(self.name),
            description: PersonaDescription::from_trusted(self.description),
            created_at: self.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DelegationRow {
    seq: i64,
    id: String,
    member_id: String,
    proxy_kind: String,
    proxy_id: String,
    data_categories: String,
    purposes: String,
    created_at: DateTime<Utc>,
    cedar: String,
}

/// A list of term ids as stored: a JSON array.
pub(super) fn term_list(terms: &[TermId]) -> String {
    serde_json::to_string(&terms.iter().map(TermId::as_str).collect::<Vec<_>>()).unwrap_or_default()
}

fn parse_term_list(text: &str) -> StoreResult<Vec<TermId>> {
    let raw: Vec<String> = serde_json::from_str(text).map_err(|_| corrupt("term list", text))?;
    raw.iter()
        .map(|id| TermId::parse(id).map_err(|_| corrupt("term", id)))
        .collect()
}

impl DelegationRow {
    pub(super) fn into_domain(self) -> StoreResult<Delegation> {
        let proxy = match self.proxy_kind.as_str() {
            "member" | "persona" => Owner::from_parts(&self.proxy_kind, self.proxy_id)
                .ok_or_else(|| corrupt("delegation proxy", &self.proxy_kind))?,
            other => return Err(corrupt("delegation proxy", other)),
        };
        Ok(Delegation {
            id: DelegationId::from_trusted(self.id),
            member: MemberId::from_trusted(self.member_id),
            proxy,
            scope: Scope {
                data_categories: parse_term_list(&self.data_categories)?,
                purposes: parse_term_list(&self.purposes)?,
            },
            seq: self.seq,
            created_at: self.created_at,
            cedar: self.cedar,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct AccessRow {
    seq: Seq,
    member_id: String,
    third_party_id: String,
    purpose: String,
    action: String,
    decision: String,
    categories: String,
    at: DateTime<Utc>,
}

impl AccessRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, super::AccessRecord)> {
        let action = match self.action.as_str() {
            "access" => datacoop_wire::Action::Access,
            "aggregate" => datacoop_wire::Action::Aggregate,
            other => return Err(corrupt("access action", other)),
        };
        let decision = match self.decision.as_str() {
            "allow" => datacoop_wire::Verdict::Allow,
            "deny" => datacoop_wire::Verdict::Deny,
            other => return Err(corrupt("access decision", other)),
        };
        let categories = serde_json::from_str::<Vec<StoredCategory>>(&self.categories)
            .ok()
            .and_then(|stored| {
                stored
                    .into_iter()
                    .map(StoredCategory::into_domain)
                    .collect()
            })
            .ok_or_else(|| corrupt("access categories", &self.categories))?;
        Ok((
            self.seq,
            super::AccessRecord {
                member: MemberId::from_trusted(self.member_id),
                third_party: ThirdPartyId::from_trusted(self.third_party_id),
                purpose: self.purpose,
                action,
                decision,
                categories,
                at: self.at,
            },
        ))
    }
}

/// A call as the recipients' fold reads it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct FoldedCall {
    pub(super) seq: Seq,
    pub(super) member_id: String,
    pub(super) third_party_id: String,
    pub(super) purpose: String,
    categories: String,
}

impl FoldedCall {
    /// The categories the call gave the third party.
    pub(super) fn allowed(&self) -> StoreResult<Vec<String>> {
        let stored = serde_json::from_str::<Vec<StoredCategory>>(&self.categories)
            .map_err(|_| corrupt("access categories", &self.categories))?;
        Ok(stored
            .into_iter()
            .filter(|category| category.decision == "allow")
            .map(|category| category.category)
            .collect())
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RecipientRow {
    member_id: String,
    third_party_id: String,
    subject: Option<String>,
    purpose: String,
    category: String,
    received_through: Seq,
}

impl RecipientRow {
    pub(super) fn into_domain(self) -> super::Recipient {
        super::Recipient {
            member: MemberId::from_trusted(self.member_id),
            third_party: ThirdPartyId::from_trusted(self.third_party_id),
            subject: self.subject,
            purpose: self.purpose,
            category: self.category,
            received_through: self.received_through,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct OutgoingRow {
    seq: Seq,
    id: String,
    third_party_id: String,
    body: String,
    created_at: DateTime<Utc>,
    attempts: i32,
}

impl OutgoingRow {
    pub(super) fn into_domain(self, endpoint: Option<(String, String)>) -> super::Outgoing {
        super::Outgoing {
            seq: self.seq,
            id: crate::domain::EventId::from_trusted(self.id),
            third_party: ThirdPartyId::from_trusted(self.third_party_id),
            body: self.body,
            created_at: self.created_at,
            attempts: u32::try_from(self.attempts).unwrap_or_default(),
            endpoint,
        }
    }

    pub(super) fn third_party(&self) -> &str {
        &self.third_party_id
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct EventRow {
    seq: Seq,
    id: String,
    kind: String,
    third_party_id: String,
    member_id: String,
    purpose: String,
    categories: String,
    state: String,
    attempts: i32,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    deletion_confirmed_at: Option<DateTime<Utc>>,
    log_index: i64,
}

impl EventRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, super::EventRecord)> {
        let state = datacoop_wire::DeliveryState::parse(&self.state)
            .ok_or_else(|| corrupt("event state", &self.state))?;
        let categories = serde_json::from_str::<Vec<String>>(&self.categories)
            .map_err(|_| corrupt("event categories", &self.categories))?;
        let log_index =
            u64::try_from(self.log_index).map_err(|_| corrupt("event log index", "negative"))?;
        let kind = serde_json::from_value(serde_json::Value::String(self.kind.clone()))
            .map_err(|_| corrupt("event kind", &self.kind))?;
        Ok((
            self.seq,
            super::EventRecord {
                id: crate::domain::EventId::from_trusted(self.id),
                kind,
                third_party: ThirdPartyId::from_trusted(self.third_party_id),
                member: MemberId::from_trusted(self.member_id),
                purpose: self.purpose,
                categories,
                state,
                attempts: u32::try_from(self.attempts).unwrap_or_default(),
                created_at: self.created_at,
                delivered_at: self.delivered_at,
                failed_at: self.failed_at,
                last_error: self.last_error,
                deletion_confirmed_at: self.deletion_confirmed_at,
                log_index,
            },
        ))
    }
}

/// How the log names an action.
pub(super) fn action_text(action: datacoop_wire::Action) -> &'static str {
    match action {
        datacoop_wire::Action::Access => "access",
        datacoop_wire::Action::Aggregate => "aggregate",
    }
}

/// How the log names a verdict.
pub(super) fn verdict_text(verdict: datacoop_wire::Verdict) -> &'static str {
    match verdict {
        datacoop_wire::Verdict::Allow => "allow",
        datacoop_wire::Verdict::Deny => "deny",
    }
}

/// How the `categories` column of the access logs holds one category's
/// outcome: the database's own shape, not the public JSON.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredCategory {
    category: String,
    decision: String,
    reason: String,
}

const REASONS: [(datacoop_wire::Reason, &str); 8] = [
    (
        datacoop_wire::Reason::RequesterInactive,
        "requester_inactive",
    ),
    (datacoop_wire::Reason::MemberInactive, "member_inactive"),
    (datacoop_wire::Reason::CoopPolicy, "coop_policy"),
    (datacoop_wire::Reason::Allowed, "allowed"),
    (datacoop_wire::Reason::DeniedByRule, "denied_by_rule"),
    (datacoop_wire::Reason::DelegationCycle, "delegation_cycle"),
    (
        datacoop_wire::Reason::DelegationTooDeep,
        "delegation_too_deep",
    ),
    (datacoop_wire::Reason::NoConsent, "no_consent"),
];

impl StoredCategory {
    fn of(verdict: &super::CategoryVerdict) -> Self {
        Self {
            category: verdict.category.clone(),
            decision: verdict_text(verdict.verdict).to_owned(),
            reason: REASONS
                .iter()
                .find(|(reason, _)| *reason == verdict.reason)
                .map_or("no_consent", |(_, text)| text)
                .to_owned(),
        }
    }

    fn into_domain(self) -> Option<super::CategoryVerdict> {
        let verdict = match self.decision.as_str() {
            "allow" => datacoop_wire::Verdict::Allow,
            "deny" => datacoop_wire::Verdict::Deny,
            _ => return None,
        };
        let reason = REASONS
            .iter()
            .find(|(_, text)| *text == self.reason)
            .map(|(reason, _)| *reason)?;
        Some(super::CategoryVerdict {
            category: self.category,
            verdict,
            reason,
        })
    }
}

/// The log's text of each category's outcome.
pub(super) fn logged_categories(categories: &[super::CategoryVerdict]) -> String {
    let stored: Vec<StoredCategory> = categories.iter().map(StoredCategory::of).collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_the_log_column() {
        let categories: Vec<crate::store::CategoryVerdict> = REASONS
            .iter()
            .map(|(reason, text)| crate::store::CategoryVerdict {
                category: format!("health.{text}"),
                verdict: datacoop_wire::Verdict::Deny,
                reason: *reason,
            })
            .collect();
        let text = logged_categories(&categories);
        let stored: Vec<StoredCategory> = serde_json::from_str(&text).unwrap();
        let back: Option<Vec<_>> = stored
            .into_iter()
            .map(StoredCategory::into_domain)
            .collect();
        assert_eq!(back.unwrap(), categories);
    }

    #[test]
    fn rows_written_before_the_column_had_its_own_type_still_read() {
        let old = r#"[{"category":"health","decision":"allow","reason":"allowed"}]"#;
        let stored: Vec<StoredCategory> = serde_json::from_str(old).unwrap();
        let back = stored
            .into_iter()
            .next()
            .and_then(StoredCategory::into_domain)
            .unwrap();
        assert_eq!(back.reason, datacoop_wire::Reason::Allowed);
        assert_eq!(back.verdict, datacoop_wire::Verdict::Allow);
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DatasetRow {
    seq: Seq,
    id: String,
    definition: String,
    epsilon_spent: i64,
    created_at: DateTime<Utc>,
}

impl DatasetRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, crate::domain::dataset::Dataset)> {
        let wire = serde_json::from_str::<datacoop_wire::CreateDataset>(&self.definition)
            .map_err(|_| corrupt("dataset definition", &self.id))?;
        let spec = crate::domain::dataset::DatasetSpec::from_stored(wire)
            .ok_or_else(|| corrupt("dataset definition", &self.id))?;
        Ok((
            self.seq,
            crate::domain::dataset::Dataset {
                id: self.id,
                spec,
                spent_micros: self.epsilon_spent,
                created_at: self.created_at,
            },
        ))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct LicenseRow {
    seq: Seq,
    id: String,
    dataset_id: String,
    third_party_id: String,
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    data_life_days: i64,
    status: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl LicenseRow {
    pub(super) fn into_domain(self) -> StoreResult<(Seq, crate::domain::dataset::License)> {
        let status = match self.status.as_str() {
            "active" => datacoop_wire::LicenseStatus::Active,
            "revoked" => datacoop_wire::LicenseStatus::Revoked,
            other => return Err(corrupt("license status", other)),
        };
        Ok((
            self.seq,
            crate::domain::dataset::License {
                id: self.id,
                spec: crate::domain::dataset::LicenseSpec {
                    dataset: self.dataset_id,
                    licensee: ThirdPartyId::from_trusted(self.third_party_id),
                    valid_from: self.valid_from,
                    valid_until: self.valid_until,
                    data_life_days: u32::try_from(self.data_life_days)
                        .map_err(|_| corrupt("license data life", "out of range"))?,
                },
                status,
                created_at: self.created_at,
                revoked_at: self.revoked_at,
            },
        ))
    }
}

/// A `web_sessions` row.
#[derive(Debug, sqlx::FromRow)]
pub struct WebSessionRow {
    id_hash: Vec<u8>,
    member_id: Option<String>,
    steward: bool,
    csrf: String,
    created_at: DateTime<Utc>,
    seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl WebSessionRow {
    pub fn into_domain(self) -> StoreResult<super::web::WebSession> {
        Ok(super::web::WebSession {
            id: stored_hash(&self.id_hash)?,
            holder: super::web::SessionHolder {
                member: self.member_id.map(MemberId::from_trusted),
                steward: self.steward,
            },
            csrf: self.csrf,
            created_at: self.created_at,
            seen_at: self.seen_at,
            expires_at: self.expires_at,
        })
    }
}

/// An `oidc_flows` row.
#[derive(Debug, sqlx::FromRow)]
pub struct OidcFlowRow {
    id_hash: Vec<u8>,
    state: String,
    nonce: String,
    pkce_verifier: String,
    enrol_member: Option<String>,
    expires_at: DateTime<Utc>,
}

impl OidcFlowRow {
    pub fn into_domain(self) -> StoreResult<super::web::OidcFlow> {
        Ok(super::web::OidcFlow {
            id: stored_hash(&self.id_hash)?,
            state: self.state,
            nonce: self.nonce,
            pkce_verifier: self.pkce_verifier,
            enrol: self.enrol_member.map(MemberId::from_trusted),
            expires_at: self.expires_at,
        })
    }
}

fn stored_hash(bytes: &[u8]) -> StoreResult<crate::credentials::TokenHash> {
    crate::credentials::TokenHash::from_bytes(bytes)
        .ok_or_else(|| StoreError::Corrupt("a stored hash is not 32 bytes".into()))
}
