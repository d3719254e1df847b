//! The stewards' third parties: approving one (its OAuth2 client
//! credentials, and its webhook endpoint's signing secret), suspending and
//! reinstating it, setting its endpoint, and rotating its client secret.
//! `POST /v1/third-parties`, `PATCH /v1/third-parties/{id}`, `POST
//! /v1/third-parties/{id}/secret` and the stewards' pages call these.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::AppError;
use crate::credentials::{self, CLIENT_ID_PREFIX, CLIENT_SECRET_PREFIX};
use crate::domain::third_party::{WebhookUrl, WebhookUrlError};
use crate::domain::{
    FieldErrors, NewThirdParty, ThirdParty, ThirdPartyId, ThirdPartyStatus, Vocabulary,
};
use crate::store::{Logged, Store};

/// Why a third party's change did not happen: a use case's refusal, or
/// one of its secrets could not be made (no randomness, or hashing
/// failed; never expected).
#[derive(Debug, thiserror::Error)]
pub enum ThirdPartyError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("a secret could not be made: {0}")]
    Secret(String),
}

impl From<crate::store::StoreError> for ThirdPartyError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::App(error.into())
    }
}

impl From<credentials::RandomError> for ThirdPartyError {
    fn from(error: credentials::RandomError) -> Self {
        Self::App(error.into())
    }
}

impl From<getrandom::Error> for ThirdPartyError {
    fn from(error: getrandom::Error) -> Self {
        Self::Secret(error.to_string())
    }
}

/// A third party just approved, with what is shown this once.
#[derive(Debug)]
pub struct Approved {
    pub third_party: ThirdParty,
    pub client_secret: SecretString,
    /// Its webhook endpoint's signing secret, when it has an endpoint.
    pub webhook_secret: Option<String>,
}

/// Approves a third party: its class must be one of the co-op's and its
/// webhook endpoint (if any) must not resolve to an address webhooks may
/// not reach; every field's problem is reported together.
pub async fn approve(
    store: &dyn Store,
    vocabulary: &Vocabulary,
    new: NewThirdParty,
    allow_insecure: bool,
    now: DateTime<Utc>,
) -> Result<Logged<Approved>, ThirdPartyError> {
    let mut errors = FieldErrors::new();
    if let Some(url) = &new.webhook_url
        && let Err(error) = check_webhook_address(url, allow_insecure).await
    {
        errors.push("webhook_url", error.to_string());
    }
    if !vocabulary.has_class(new.class) {
        errors.push(
            "class",
            format!(
                "`{}` is not a requester class of this co-op",
                new.class.as_str()
            ),
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors).into());
    }
    let client_id = credentials::generate_public_id(CLIENT_ID_PREFIX)?;
    let client_secret = credentials::generate_secret(CLIENT_SECRET_PREFIX)?;
    let secret_hash = hash_off_thread(client_secret.clone()).await?;
    let webhook_secret = match new.webhook_url {
        Some(_) => Some(crate::webhook::generate_secret()?),
        None => None,
    };
    let third_party = ThirdParty {
        id: ThirdPartyId::generate(),
        name: new.name,
        class: new.class,
        status: ThirdPartyStatus::Active,
        webhook_url: new.webhook_url.map(|url| url.as_str().to_owned()),
        client_id,
        created_at: now,
        updated_at: now,
    };
    let logged = store
        .approve_third_party(&third_party, &secret_hash, webhook_secret.as_deref())
        .await?;
    tracing::info!(third_party = %third_party.id, class = third_party.class.as_str(), "third party approved");
    Ok(Logged {
        value: Approved {
            third_party,
            client_secret,
            webhook_secret,
        },
        log_index: logged.log_index,
    })
}

/// Argon2 takes tens of milliseconds of CPU: kept off the async workers.
async fn hash_off_thread(secret: SecretString) -> Result<String, ThirdPartyError> {
    tokio::task::spawn_blocking(move || credentials::hash_password(&secret))
        .await
        .map_err(|error| ThirdPartyError::Secret(error.to_string()))?
        .map_err(|error| ThirdPartyError::Secret(error.to_string()))
}

/// What a steward changes of a third party; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct ThirdPartyPatch {
    pub status: Option<ThirdPartyStatus>,
    /// `Some(None)` removes the endpoint.
    pub webhook: Option<Option<WebhookUrl>>,
}

/// A third party after a steward's change.
#[derive(Debug)]
pub struct Updated {
    pub third_party: ThirdParty,
    /// A first endpoint's new signing secret, shown this once.
    pub webhook_secret: Option<String>,
}

/// Suspends or reinstates a third party (a suspended one is denied every
/// decision, `requester_inactive`), and sets or removes its webhook
/// endpoint. `None` when there is no such third party; the log index is
/// the status change's.
pub async fn update(
    store: &dyn Store,
    id: &ThirdPartyId,
    patch: ThirdPartyPatch,
    now: DateTime<Utc>,
) -> Result<Option<Logged<Updated>>, ThirdPartyError> {
    if patch.status.is_none() && patch.webhook.is_none() {
        return Err(AppError::Invalid(FieldErrors::single(
            "status",
            "give `status`, `webhook_url` or both",
        ))
        .into());
    }
    let mut answer = None;
    let mut log_index = None;
    if let Some(status) = patch.status {
        let changed = store.set_third_party_status(id, status, now).await?;
        let Some(third_party) = changed.value else {
            return Ok(None);
        };
        tracing::info!(third_party = %third_party.id, status = third_party.status.as_str(), "third party status set");
        log_index = changed.log_index;
        answer = Some(Updated {
            third_party,
            webhook_secret: None,
        });
    }
    if let Some(url) = patch.webhook {
        let secret = crate::webhook::generate_secret()?;
        let set = store
            .set_webhook(
                id,
                url.as_ref().map(WebhookUrl::as_str),
                &secret,
                false,
                now,
            )
            .await?;
        let Some((third_party, webhook_secret)) = set.value else {
            return Ok(None);
        };
        tracing::info!(third_party = %third_party.id, "webhook endpoint set by the stewards");
        answer = Some(Updated {
            third_party,
            webhook_secret,
        });
    }
    Ok(answer.map(|value| Logged { value, log_index }))
}

/// A third party's new client secret, shown this once.
#[derive(Debug)]
pub struct Rotated {
    pub third_party: ThirdParty,
    pub client_secret: SecretString,
}

/// Gives a third party a new client secret: the old one and every access
/// token issued with it stop working at once. `None` when there is no
/// such third party.
pub async fn rotate_secret(
    store: &dyn Store,
    id: &ThirdPartyId,
    now: DateTime<Utc>,
) -> Result<Option<Logged<Rotated>>, ThirdPartyError> {
    let client_secret = credentials::generate_secret(CLIENT_SECRET_PREFIX)?;
    let hash = hash_off_thread(client_secret.clone()).await?;
    let rotated = store.rotate_secret(id, &hash, now).await?;
    let Some(third_party) = rotated.value else {
        return Ok(None);
    };
    tracing::info!(third_party = %third_party.id, "client secret rotated");
    Ok(Some(Logged {
        value: Rotated {
            third_party,
            client_secret,
        },
        log_index: rotated.log_index,
    }))
}

/// A webhook URL as given: the scheme and host rules, then what a name
/// resolves to; `field` names it in the error.
pub async fn parse_webhook(
    raw: &str,
    field: &str,
    allow_insecure: bool,
) -> Result<WebhookUrl, FieldErrors> {
    let url = WebhookUrl::parse(raw, allow_insecure)
        .map_err(|error| FieldErrors::single(field, error.to_string()))?;
    check_webhook_address(&url, allow_insecure)
        .await
        .map_err(|error| FieldErrors::single(field, error.to_string()))?;
    Ok(url)
}

/// Refuses a name that resolves to an address webhooks may not reach. A
/// name that does not resolve (yet), or not within two seconds, is
/// accepted: every connection checks the addresses again.
pub async fn check_webhook_address(
    url: &WebhookUrl,
    allow_insecure: bool,
) -> Result<(), WebhookUrlError> {
    let checked = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::webhook::address::check_url(url.url(), allow_insecure),
    )
    .await;
    match checked {
        Ok(Err(crate::webhook::address::AddressError::Internal)) => {
            Err(WebhookUrlError::InternalAddress)
        }
        _ => Ok(()),
    }
}
