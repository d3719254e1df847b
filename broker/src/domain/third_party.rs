//! Third parties: the organisations that ask for members' data.

use chrono::{DateTime, Utc};
use url::{Host, Url};

use super::validation::{FieldErrors, TextError, short_text};
use super::{RequesterClass, ThirdPartyId, ThirdPartyStatus};

/// A third party's name: 1 to 200 characters, one line, trimmed, every
/// one visible (`validation::forbidden`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyName(String);

impl ThirdPartyName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        short_text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("must be an absolute URL")]
    NotAbsolute,
    #[error("must use https (http is allowed for loopback addresses only)")]
    InsecureScheme,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
}

/// Where a third party hears about withdrawn consent: `https`, or `http`
/// to a loopback address (for development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub const MAX_CHARS: usize = 2048;

    pub fn parse(raw: &str) -> Result<Self, WebhookUrlError> {
        if raw.len() > Self::MAX_CHARS {
            return Err(WebhookUrlError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let url = Url::parse(raw).map_err(|_| WebhookUrlError::NotAbsolute)?;
        let Some(host) = url.host() else {
            return Err(WebhookUrlError::NotAbsolute);
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookUrlError::Credentials);
        }
        let loopback = match host {
            Host::Domain(name) => name == "localhost",
            Host::Ipv4(ip) => ip.is_loopback(),
            Host::Ipv6(ip) => ip.is_loopback(),
        };
        match url.scheme() {
            "https" => Ok(Self(url)),
            "http" if loopback => Ok(Self(url)),
            _ => Err(WebhookUrlError::InsecureScheme),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A third party as the broker holds it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdParty {
    pub id: ThirdPartyId,
    pub name: ThirdPartyName,
    pub class: RequesterClass,
    pub status: ThirdPartyStatus,
    /// Stored as validated on the way in.
    pub webhook_url: Option<String>,
    pub client_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated `POST /v1/third-parties` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewThirdParty {
    pub name: ThirdPartyName,
    pub class: RequesterClass,
    pub webhook_url: Option<WebhookUrl>,
}

impl TryFrom<datacoop_wire::CreateThirdParty> for NewThirdParty {
    type Error = FieldErrors;

    fn try_from(body: datacoop_wire::CreateThirdParty) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.check("name", ThirdPartyName::parse(&body.name));
        let webhook_url = match body.webhook_url.as_deref() {
            None => Some(None),
            Some(raw) => errors
                .check("webhook_url", WebhookUrl::parse(raw))
                .map(Some),
        };
        errors.finish(|| {
            Some(Self {
                name: name?,
                class: body.class,
                webhook_url: webhook_url?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_https_or_loopback_http() {
        assert!(WebhookUrl::parse("https://example.org/hooks/datacoop").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook").is_ok());
        assert!(WebhookUrl::parse("http://localhost/hook").is_ok());
        assert!(WebhookUrl::parse("http://[::1]/hook").is_ok());
        assert_eq!(
            WebhookUrl::parse("http://example.org/hook"),
            Err(WebhookUrlError::InsecureScheme)
        );
        assert_eq!(
            WebhookUrl::parse("ftp://example.org/hook"),
            Err(WebhookUrlError::InsecureScheme)
        );
        assert_eq!(
            WebhookUrl::parse("/relative"),
            Err(WebhookUrlError::NotAbsolute)
        );
        assert_eq!(
            WebhookUrl::parse("https://user:pw@example.org/"),
            Err(WebhookUrlError::Credentials)
        );
        assert_eq!(
            WebhookUrl::parse("mailto:a@example.org"),
            Err(WebhookUrlError::NotAbsolute)
        );
    }

    #[test]
    fn new_third_party_collects_every_field_error() {
        let body = datacoop_wire::CreateThirdParty {
            name: String::new(),
            class: RequesterClass::Academic,
            webhook_url: Some("http://example.org".into()),
        };
        let errors = NewThirdParty::try_from(body).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "webhook_url"]);
    }
}
