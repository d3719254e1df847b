//! Creating rules (consent-semantics §2): for a member, the co-op or a
//! persona. The edge parses the bodies into `RuleSpec`s; here the named
//! third parties are checked, each rule is compiled to Cedar, and the
//! rules are committed together.

use chrono::{DateTime, Utc};

use super::AppError;
use crate::consent::Engine;
use crate::domain::rule::{Owner, Requester, Rule, RuleSpec};
use crate::domain::{FieldErrors, Persona, RuleId};
use crate::store::{Logged, Store};

/// Checks what parsing cannot (a named third party exists) and compiles
/// each spec; `specs` pairs each with the field path of its body. Errors
/// already found at the edge come in `errors` and are reported together.
pub async fn prepare(
    store: &dyn Store,
    engine: &Engine,
    owner: &Owner,
    specs: Vec<(String, RuleSpec)>,
    mut errors: FieldErrors,
    now: DateTime<Utc>,
) -> Result<Vec<Rule>, AppError> {
    for (prefix, spec) in &specs {
        if let Requester::ThirdParty(id) = &spec.requester
            && store.third_party(id).await?.is_none()
        {
            errors.push(
                format!("{prefix}requester.third_party"),
                format!("`{id}` is not a third party"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    specs
        .into_iter()
        .map(|(_, spec)| {
            let id = RuleId::generate();
            let cedar = engine.compile(&id, &spec).map_err(AppError::compile)?;
            Ok(Rule {
                id,
                owner: owner.clone(),
                spec,
                created_at: now,
                cedar,
            })
        })
        .collect()
}

/// Adds one rule of `owner`'s.
pub async fn create(
    store: &dyn Store,
    engine: &Engine,
    owner: Owner,
    spec: RuleSpec,
    errors: FieldErrors,
    now: DateTime<Utc>,
) -> Result<Logged<Rule>, AppError> {
    let rules = prepare(
        store,
        engine,
        &owner,
        vec![(String::new(), spec)],
        errors,
        now,
    )
    .await?;
    let logged = store.create_rules(&owner, &rules).await?;
    let rule = rules
        .into_iter()
        .next()
        .ok_or(AppError::Invalid(FieldErrors::single(
            "",
            "no rule to create",
        )))?;
    tracing::info!(rule = %rule.id, owner = owner.kind(), "rule created");
    Ok(Logged {
        value: rule,
        log_index: logged.log_index,
    })
}

/// Publishes a persona with its rules.
pub async fn publish_persona(
    store: &dyn Store,
    engine: &Engine,
    persona: Persona,
    specs: Vec<(String, RuleSpec)>,
    errors: FieldErrors,
) -> Result<Logged<(Persona, Vec<Rule>)>, AppError> {
    let owner = Owner::Persona(persona.id.clone());
    let rules = prepare(store, engine, &owner, specs, errors, persona.created_at).await?;
    let logged = store.create_persona(&persona, &rules).await?;
    tracing::info!(persona = %persona.id, rules = rules.len(), "persona published");
    Ok(Logged {
        value: (persona, rules),
        log_index: logged.log_index,
    })
}

/// Deletes one of `owner`'s rules; false when `owner` has none such.
pub async fn delete(
    store: &dyn Store,
    owner: &Owner,
    id: &RuleId,
) -> Result<Logged<bool>, AppError> {
    let deleted = store.delete_rule(owner, id).await?;
    if deleted.value {
        tracing::info!(rule = %id, owner = owner.kind(), "rule deleted");
    }
    Ok(deleted)
}
