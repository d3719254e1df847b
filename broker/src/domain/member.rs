//! Members of the co-op.

use chrono::{DateTime, Utc};

use super::validation::{FieldErrors, TextError, short_text};
use super::{MemberId, Registry};

/// A member's chosen name: 1 to 100 characters, one line, trimmed, every
/// one visible (`validation::forbidden`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        short_text(raw, Self::MAX_CHARS).map(Self)
    }

    /// Wraps a name read back from the database.
    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member as the broker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    pub display_name: Option<DisplayName>,
    pub registry: Registry,
    pub accepts_delegations: bool,
    pub created_at: DateTime<Utc>,
}

impl Member {
    /// The name others may see: none for anonymous members.
    pub fn public_name(&self) -> Option<&DisplayName> {
        match self.registry {
            Registry::Public => self.display_name.as_ref(),
            Registry::Anonymous => None,
        }
    }
}

/// A validated `POST /v1/members` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub display_name: Option<DisplayName>,
    pub registry: Registry,
}

impl TryFrom<datacoop_wire::CreateMember> for NewMember {
    type Error = FieldErrors;

    fn try_from(body: datacoop_wire::CreateMember) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let display_name = match body.display_name.as_deref() {
            None => Some(None),
            Some(raw) => errors
                .check("display_name", DisplayName::parse(raw))
                .map(Some),
        };
        errors.finish(|| {
            Some(Self {
                display_name: display_name?,
                registry: body.registry,
            })
        })
    }
}

/// A validated `PATCH /v1/me` body: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPatch {
    /// `Some(None)` removes the name.
    pub display_name: Option<Option<DisplayName>>,
    pub registry: Option<Registry>,
    pub accepts_delegations: Option<bool>,
}

impl MemberPatch {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.registry.is_none() && self.accepts_delegations.is_none()
    }
}

impl TryFrom<datacoop_wire::UpdateMe> for MemberPatch {
    type Error = FieldErrors;

    fn try_from(body: datacoop_wire::UpdateMe) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let display_name = match body.display_name {
            None => Some(None),
            Some(None) => Some(Some(None)),
            Some(Some(raw)) => errors
                .check("display_name", DisplayName::parse(&raw))
                .map(|name| Some(Some(name))),
        };
        errors.finish(|| {
            Some(Self {
                display_name: display_name?,
                registry: body.registry,
                accepts_delegations: body.accepts_delegations,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(registry: Registry) -> Member {
        Member {
            id: MemberId::generate(),
            display_name: Some(DisplayName::parse("Ada").unwrap()),
            registry,
            accepts_delegations: false,
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn anonymous_members_have_no_public_name() {
        assert_eq!(member(Registry::Anonymous).public_name(), None);
        assert_eq!(
            member(Registry::Public)
                .public_name()
                .map(DisplayName::as_str),
            Some("Ada")
        );
    }

    #[test]
    fn new_member_rejects_a_blank_name_with_the_field() {
        let body = datacoop_wire::CreateMember {
            display_name: Some("   ".into()),
            registry: Registry::Public,
        };
        let errors = NewMember::try_from(body).unwrap_err();
        let first = errors.iter().next().unwrap();
        assert_eq!(first.field, "display_name");
        assert_eq!(first.message, "must not be empty");
    }

    #[test]
    fn patch_distinguishes_absent_null_and_value() {
        let absent = MemberPatch::try_from(datacoop_wire::UpdateMe::default()).unwrap();
        assert!(absent.is_empty());
        let clear = MemberPatch::try_from(datacoop_wire::UpdateMe {
            display_name: Some(None),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(clear.display_name, Some(None));
        let set = MemberPatch::try_from(datacoop_wire::UpdateMe {
            display_name: Some(Some(" Bo ".into())),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            set.display_name,
            Some(Some(DisplayName::parse("Bo").unwrap()))
        );
    }
}
