//! The log's entries: one per consent or membership change and per
//! third-party access (known subject or not), as canonical JSON (RFC 8785): a `type`, the ids
//! involved and the instant it was logged; never a member's data values
//! or display name. No number appears in an entry (ids, instants and
//! terms are strings), so every RFC 8785 implementation writes the same
//! bytes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::domain::rule::{Owner, Rule};
use crate::domain::{Member, MemberId};
use crate::store::Change;

/// One entry, before it is appended: its type, the members it is about
/// (who may read it besides the stewards), the instant, and its exact
/// bytes (whose leaf hash is SHA-256(0x00 ‖ body)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub about: Vec<MemberId>,
    pub at: DateTime<Utc>,
    pub body: Vec<u8>,
}

/// Why an entry could not be written (never expected: every value in an
/// entry serializes).
#[derive(Debug, thiserror::Error)]
#[error("a log entry could not be written as canonical JSON: {0}")]
pub struct EntryError(String);

impl Entry {
    /// The entry of `change`, logged at `at`; `None` for a change that
    /// touches neither consent nor membership (a new display name alone).
    pub fn of(change: &Change, at: DateTime<Utc>) -> Result<Option<Self>, EntryError> {
        let (kind, about, fields) = match change {
            Change::Enrol { member, .. } => return Self::joined(member, at).map(Some),
            Change::UpdateMember { id, patch } => {
                if patch.registry.is_none() && patch.accepts_delegations.is_none() {
                    return Ok(None);
                }
                let mut fields = Map::new();
                fields.insert("member".into(), json!(id.as_str()));
                if let Some(registry) = patch.registry {
                    fields.insert("registry".into(), json!(registry.as_str()));
                }
                if let Some(accepts) = patch.accepts_delegations {
                    fields.insert("accepts_delegations".into(), json!(accepts));
                }
                ("member.updated", vec![id.clone()], Value::Object(fields))
            }
            Change::Leave { member, .. } => (
                "member.left",
                vec![member.clone()],
                json!({ "member": member.as_str() }),
            ),
            Change::ApproveThirdParty { third_party, .. } => (
                "third_party.approved",
                Vec::new(),
                json!({
                    "third_party": third_party.id.as_str(),
                    "class": third_party.class.as_str(),
                }),
            ),
            Change::SetThirdPartyStatus { id, status, .. } => (
                match status {
                    crate::domain::ThirdPartyStatus::Active => "third_party.reinstated",
                    crate::domain::ThirdPartyStatus::Suspended => "third_party.suspended",
                },
                Vec::new(),
                json!({ "third_party": id.as_str() }),
            ),
            Change::RotateSecret { id, .. } => (
                "third_party.secret_rotated",
                Vec::new(),
                json!({ "third_party": id.as_str() }),
            ),
            Change::AddRules { owner, rules } => (
                "rules.created",
                about_owner(owner),
                json!({
                    "owner": owner_value(owner),
                    "rules": rules.iter().map(rule_value).collect::<Vec<_>>(),
                }),
            ),
            Change::DeleteRule { owner, id } => (
                "rule.deleted",
                about_owner(owner),
                json!({ "owner": owner_value(owner), "rule": id.as_str() }),
            ),
            Change::PublishPersona { persona, rules } => (
                "persona.published",
                Vec::new(),
                json!({
                    "persona": persona.id.as_str(),
                    "rules": rules.iter().map(rule_value).collect::<Vec<_>>(),
                }),
            ),
            Change::Delegate { delegation } => (
                "delegation.created",
                vec![delegation.member.clone()],
                json!({
                    "member": delegation.member.as_str(),
                    "delegation": delegation.id.as_str(),
                    "proxy": owner_value(&delegation.proxy),
                    "data_categories": terms(&delegation.scope.data_categories),
                    "purposes": terms(&delegation.scope.purposes),
                }),
            ),
            Change::Revoke { member, id } => (
                "delegation.revoked",
                vec![member.clone()],
                json!({ "member": member.as_str(), "delegation": id.as_str() }),
            ),
            Change::Access(access) => (
                "access",
                vec![access.member.clone()],
                json!({
                    "member": access.member.as_str(),
                    "third_party": access.third_party.as_str(),
                    "purpose": access.purpose,
                    "action": access.action,
                    "decision": access.decision,
                    "categories": verdicts(&access.categories),
                }),
            ),
            Change::Disconnect {
                member,
                third_party,
                ..
            } => (
                "connection.ended",
                vec![member.clone()],
                json!({ "member": member.as_str(), "third_party": third_party.as_str() }),
            ),
            // An endpoint is where events go, not consent; the worker's
            // withdrawals and deletion receipts are logged one entry per
            // event as they are staged (`withdrawn`, `deletion_confirmed`);
            // folding calls and sweeping rule instants is housekeeping;
            // signing in to the web pages changes no consent.
            Change::SetWebhook { .. }
            | Change::Web(_)
            | Change::Withdraw { .. }
            | Change::ConfirmDeletion { .. }
            | Change::Fold { .. }
            | Change::Sweep { .. }
            | Change::DatasetChores { .. } => {
                return Ok(None);
            }
            // Aggregate datasets (issue 11): figures are written as strings
            // (entries hold no numbers).
            Change::CreateDataset { dataset } => (
                "dataset.created",
                Vec::new(),
                json!({
                    "dataset": dataset.id,
                    "purpose": dataset.spec.purpose.as_str(),
                    "data_categories": terms(&dataset.spec.data_categories),
                    "k_min": dataset.spec.k_min.to_string(),
                    "epsilon": dataset.spec.epsilon.map(|epsilon| epsilon.to_string()),
                }),
            ),
            Change::CreateLicense { license } => (
                "license.created",
                Vec::new(),
                json!({
                    "license": license.id,
                    "dataset": license.spec.dataset,
                    "licensee": license.spec.licensee.as_str(),
                    "valid_from": license.spec.valid_from.to_rfc3339_opts(SecondsFormat::Micros, true),
                    "valid_until": license.spec.valid_until.to_rfc3339_opts(SecondsFormat::Micros, true),
                    "data_life_days": license.spec.data_life_days.to_string(),
                }),
            ),
            Change::RevokeLicense { id, .. } => {
                ("license.revoked", Vec::new(), json!({ "license": id }))
            }
            Change::SpendBudget {
                dataset,
                license,
                build,
                micros,
                ..
            } => (
                "privacy_budget.spent",
                Vec::new(),
                json!({
                    "dataset": dataset,
                    "license": license,
                    "build": build,
                    "epsilon_millionths": micros.to_string(),
                }),
            ),
            Change::RecordBuild(build) => (
                "dataset.built",
                Vec::new(),
                json!({
                    "build": build.id,
                    "license": build.license,
                    "dataset": build.dataset,
                    "licensee": build.licensee.as_str(),
                    "cohort_root": build.cohort_root,
                    "cohort_size": build.cohort_size.to_string(),
                    "suppressed_cells": build.suppressed_cells.to_string(),
                    "epsilon_millionths": build.epsilon_micros.to_string(),
                    "manifest_sha256": hex_sha256(build.manifest.as_bytes()),
                }),
            ),
            // The subject as the third party sent it: it stands for no
            // member, and the entry guesses at none.
            Change::UnmatchedAccess(call) => (
                "access",
                Vec::new(),
                json!({
                    "subject": call.subject,
                    "third_party": call.third_party.as_str(),
                    "purpose": call.purpose,
                    "action": call.action,
                    "decision": call.decision,
                    "categories": verdicts(&call.categories),
                }),
            ),
        };
        Self::new(kind, about, at, fields).map(Some)
    }

    /// The entry announcing that a license's window ended.
    pub fn license_expired(
        license: &str,
        dataset: &str,
        licensee: &str,
        at: DateTime<Utc>,
    ) -> Result<Self, EntryError> {
        Self::new(
            "license.expired",
            Vec::new(),
            at,
            json!({ "license": license, "dataset": dataset, "licensee": licensee }),
        )
    }

    /// The entry of a member joining the co-op.
    pub fn joined(member: &Member, at: DateTime<Utc>) -> Result<Self, EntryError> {
        Self::new(
            "member.joined",
            vec![member.id.clone()],
            at,
            json!({
                "member": member.id.as_str(),
                "registry": member.registry.as_str(),
                "accepts_delegations": member.accepts_delegations,
            }),
        )
    }

    /// The entry of a `consent.withdrawn` event: who was told to delete
    /// which categories received for which purpose (never the subject).
    pub fn withdrawn(
        event: &crate::domain::EventId,
        withdrawal: &crate::store::Withdrawal,
        categories: &[String],
        at: DateTime<Utc>,
    ) -> Result<Self, EntryError> {
        Self::new(
            "consent.withdrawn",
            vec![withdrawal.member.clone()],
            at,
            json!({
                "event": event.as_str(),
                "member": withdrawal.member.as_str(),
                "third_party": withdrawal.third_party.as_str(),
                "purpose": withdrawal.purpose,
                "categories": categories,
            }),
        )
    }

    /// The entry of a third party's deletion receipt for an event.
    pub fn deletion_confirmed(
        event: &crate::domain::EventId,
        member: &MemberId,
        third_party: &crate::domain::ThirdPartyId,
        at: DateTime<Utc>,
    ) -> Result<Self, EntryError> {
        Self::new(
            "deletion.confirmed",
            vec![member.clone()],
            at,
            json!({
                "event": event.as_str(),
                "member": member.as_str(),
                "third_party": third_party.as_str(),
            }),
        )
    }

    /// An entry of `kind` with `fields`, its `type` and `at` added.
    fn new(
        kind: &'static str,
        about: Vec<MemberId>,
        at: DateTime<Utc>,
        fields: Value,
    ) -> Result<Self, EntryError> {
        let Value::Object(mut fields) = fields else {
            return Err(EntryError(format!(
                "the fields of `{kind}` are not an object"
            )));
        };
        fields.insert("type".into(), json!(kind));
        fields.insert(
            "at".into(),
            json!(at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        );
        let body = canon_json::CanonJsonSerialize::to_canon_json_vec(&fields)
            .map_err(|error| EntryError(error.to_string()))?;
        Ok(Self {
            kind,
            about,
            at,
            body,
        })
    }
}

fn about_owner(owner: &Owner) -> Vec<MemberId> {
    match owner {
        Owner::Member(id) => vec![id.clone()],
        Owner::Persona(_) | Owner::Coop => Vec::new(),
    }
}

/// `{"kind": "member"|"persona"|"coop", "id": …}` (the co-op has no id).
fn owner_value(owner: &Owner) -> Value {
    match owner {
        Owner::Coop => json!({ "kind": owner.kind() }),
        Owner::Member(_) | Owner::Persona(_) => json!({ "kind": owner.kind(), "id": owner.id() }),
    }
}

fn terms(terms: &[crate::domain::vocabulary::TermId]) -> Vec<&str> {
    terms
        .iter()
        .map(crate::domain::vocabulary::TermId::as_str)
        .collect()
}

/// A rule as the log states it: what it allows or denies, to whom, when.
fn rule_value(rule: &Rule) -> Value {
    let spec = &rule.spec;
    let instant =
        |at: Option<DateTime<Utc>>| at.map(|at| at.to_rfc3339_opts(SecondsFormat::Micros, true));
    json!({
        "id": rule.id.as_str(),
        "effect": spec.effect,
        "action": spec.action,
        "requester": spec.requester.to_wire(),
        "data_categories": terms(&spec.data_categories),
        "purposes": terms(&spec.purposes),
        "not_before": instant(spec.not_before),
        "expires_at": instant(spec.expires_at),
    })
}

/// Each category's decision and the true reason for it.
fn verdicts(categories: &[crate::store::CategoryVerdict]) -> Vec<Value> {
    categories
        .iter()
        .map(|category| {
            json!({
                "category": category.category,
                "decision": category.verdict,
                "reason": category.reason,
            })
        })
        .collect()
}
/// Lowercase hex SHA-256 of `bytes`.
fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
