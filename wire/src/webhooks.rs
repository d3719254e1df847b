//! Withdrawals reaching the third parties that received the data: webhook
//! events in the Standard Webhooks shape, webhook endpoints, deletion
//! receipts, and how members and stewards see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of events the broker sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// Consent that allowed the receiver to read a member's data no longer
    /// does: delete what was received for these categories and purpose.
    #[serde(rename = "consent.withdrawn")]
    ConsentWithdrawn,
    /// The stewards revoked a license: delete the dataset's rows received
    /// under it; no further build will be delivered.
    #[serde(rename = "license.revoked")]
    LicenseRevoked,
    /// A license's window ended: no further build will be delivered.
    #[serde(rename = "license.expired")]
    LicenseExpired,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsentWithdrawn => "consent.withdrawn",
            Self::LicenseRevoked => "license.revoked",
            Self::LicenseExpired => "license.expired",
        }
    }
}

/// The body of a `consent.withdrawn` event (Standard Webhooks shape). The
/// event's id is the `webhook-id` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WithdrawalEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the withdrawal was recorded.
    pub timestamp: DateTime<Utc>,
    pub data: WithdrawalData,
}

/// The body of a `license.revoked` or `license.expired` event (Standard
/// Webhooks shape); the event's id is the `webhook-id` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenseEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub timestamp: DateTime<Utc>,
    pub data: LicenseEventData,
}

/// Which license ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenseEventData {
    pub license: String,
    pub dataset: String,
    /// The index of the event's entry in the verifiable log.
    pub log_index: u64,
}

/// What was withdrawn, as the receiving third party knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WithdrawalData {
    /// The pairwise subject this third party knows the member by.
    pub subject: String,
    /// The data categories it must delete (as it asked for them).
    pub categories: Vec<String>,
    /// The purpose it received them for.
    pub purpose: String,
    /// The index of the withdrawal's entry in the verifiable log.
    pub log_index: u64,
}

/// Body of `PUT /v1/third-parties/me/webhook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetWebhook {
    /// An absolute `https` URL (`http` to a loopback host only when the
    /// broker runs with `DATACOOP_ALLOW_INSECURE_WEBHOOKS=true`).
    pub url: String,
}

/// A third party's webhook endpoint and its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    pub url: String,
    /// The Standard Webhooks signing secret (`whsec_` and base64). Kept by
    /// the broker to sign; shown only in this answer.
    pub secret: String,
}

/// Body of `POST /v1/deletion-receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDeletionReceipt {
    /// The `webhook-id` of the `consent.withdrawn` event whose data the
    /// third party deleted.
    pub event_id: String,
}

/// A confirmed deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletionReceipt {
    pub event_id: String,
    pub confirmed_at: DateTime<Utc>,
    /// The index of the confirmation's entry in the verifiable log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// Where an event's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet: waiting for its next attempt (or for an endpoint).
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the delivery horizon.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event as the stewards follow it (`GET /v1/deletion-receipts`,
/// `GET /v1/webhook-deliveries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub third_party: String,
    /// The member the withdrawn data is about (empty for a license's
    /// event).
    pub member: String,
    pub purpose: String,
    pub categories: Vec<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the withdrawal was recorded and queued for sending.
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
    /// Why the last attempt did not deliver (a status or a network error;
    /// never the receiver's answer body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_confirmed_at: Option<DateTime<Utc>>,
    pub log_index: u64,
}

/// A withdrawal as the member it is about sees it (`GET /v1/me/withdrawals`
/// and the export): who was told to delete what, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Withdrawal {
    pub event_id: String,
    pub third_party: String,
    pub purpose: String,
    pub categories: Vec<String>,
    pub state: DeliveryState,
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_confirmed_at: Option<DateTime<Utc>>,
    pub log_index: u64,
}
