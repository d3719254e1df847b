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
    #[error(
        "must use https (http is accepted for loopback hosts only, when the broker runs with DATACOOP_ALLOW_INSECURE_WEBHOOKS=true)"
    )]
    InsecureScheme,
    #[error(
        "must not point to a private, loopback or link-local address (loopback is accepted only with DATACOOP_ALLOW_INSECURE_WEBHOOKS=true)"
    )]
    InternalAddress,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
}

/// Where a third party hears about withdrawn consent: `https` to a public
/// host, or (with `allow_insecure`, for development) `http` or `https` to
/// a loopback host. Names are checked again by what they resolve to, when
/// set (`webhook::address::check_url`) and at every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub const MAX_CHARS: usize = 2048;

    pub fn parse(raw: &str, allow_insecure: bool) -> Result<Self, WebhookUrlError> {
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
        let (loopback, permitted) = match host {
            Host::Domain(name) => {
                let loopback = name.eq_ignore_ascii_case("localhost")
                    || name.to_ascii_lowercase().ends_with(".localhost");
                (loopback, !loopback || allow_insecure)
            }
            Host::Ipv4(ip) => (
                ip.is_loopback(),
                crate::webhook::address::permitted(ip.into(), allow_insecure),
            ),
            Host::Ipv6(ip) => (
                ip.is_loopback(),
                crate::webhook::address::permitted(ip.into(), allow_insecure),
            ),
        };
        match url.scheme() {
            "https" | "http" if !permitted => Err(WebhookUrlError::InternalAddress),
            "https" => Ok(Self(url)),
            "http" if loopback && allow_insecure => Ok(Self(url)),
            _ => Err(WebhookUrlError::InsecureScheme),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
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

impl NewThirdParty {
    /// Validates a body; `allow_insecure` as in `WebhookUrl::parse`.
    pub fn parse(
        body: datacoop_wire::CreateThirdParty,
        allow_insecure: bool,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.check("name", ThirdPartyName::parse(&body.name));
        let webhook_url = match body.webhook_url.as_deref() {
            None => Some(None),
            Some(raw) => errors
                .check("webhook_url", WebhookUrl::parse(raw, allow_insecure))
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
    fn webhook_urls_must_be_https_or_loopback_http_when_allowed() {
        let parse = |raw: &str| WebhookUrl::parse(raw, true);
        assert!(parse("https://example.org/hooks/datacoop").is_ok());
        assert!(parse("http://127.0.0.1:9000/hook").is_ok());
        assert!(parse("http://localhost/hook").is_ok());
        assert!(parse("http://[::1]/hook").is_ok());
        assert_eq!(
            parse("http://example.org/hook"),
            Err(WebhookUrlError::InsecureScheme)
        );
        assert_eq!(
            parse("ftp://example.org/hook"),
            Err(WebhookUrlError::InsecureScheme)
        );
        assert_eq!(parse("/relative"), Err(WebhookUrlError::NotAbsolute));
        assert_eq!(
            parse("https://user:pw@example.org/"),
            Err(WebhookUrlError::Credentials)
        );
        assert_eq!(
            parse("mailto:a@example.org"),
            Err(WebhookUrlError::NotAbsolute)
        );
    }

    #[test]
    fn internal_hosts_are_refused_and_loopback_only_when_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "https://127.0.0.1/hook",
            "http://localhost/hook",
            "https://api.localhost/hook",
            "https://[::1]/hook",
        ] {
            assert_eq!(
                WebhookUrl::parse(url, false),
                Err(WebhookUrlError::InternalAddress),
                "{url}"
            );
            assert!(WebhookUrl::parse(url, true).is_ok(), "{url}");
        }
        for url in [
            "https://10.0.0.7/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[fe80::1]/hook",
            "https://[fd12::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "http://10.0.0.7/hook",
        ] {
            for allow in [false, true] {
                assert_eq!(
                    WebhookUrl::parse(url, allow),
                    Err(WebhookUrlError::InternalAddress),
                    "{url}"
                );
            }
        }
    }

    #[test]
    fn new_third_party_collects_every_field_error() {
        let body = datacoop_wire::CreateThirdParty {
            name: String::new(),
            class: RequesterClass::Academic,
            webhook_url: Some("http://example.org".into()),
        };
        let errors = NewThirdParty::parse(body, true).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "webhook_url"]);
    }
}
