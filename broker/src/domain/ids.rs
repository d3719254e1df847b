//! Opaque identifiers. Each has a short prefix so an id pasted in the wrong
//! place is recognisable, and a random body so ids reveal nothing.

use std::fmt;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::new_v4().simple()))
            }

            /// Accepts any string that has this kind's prefix and a
            /// well-formed body; says nothing about whether it exists.
            pub fn parse(text: &str) -> Option<Self> {
                let body = text.strip_prefix($prefix)?;
                let well_formed = body.len() == 32
                    && body.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                well_formed.then(|| Self(text.to_owned()))
            }

            /// Wraps an id read back from the database.
            pub fn from_trusted(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

opaque_id!(
    /// A member of the co-op.
    MemberId,
    "mbr_"
);
opaque_id!(
    /// A third party approved by the stewards.
    ThirdPartyId,
    "tp_"
);
opaque_id!(
    /// A rule of a member, a persona or the co-op.
    RuleId,
    "rul_"
);
opaque_id!(
    /// A persona: a preset profile the co-op publishes.
    PersonaId,
    "per_"
);
opaque_id!(
    /// A delegation from a member to a proxy.
    DelegationId,
    "dlg_"
);
opaque_id!(
    /// A webhook event: the `webhook-id` a third party receives.
    EventId,
    "evt_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_are_distinct() {
        let a = MemberId::generate();
        let b = MemberId::generate();
        assert_ne!(a, b);
        assert_eq!(MemberId::parse(a.as_str()), Some(a.clone()));
        assert!(a.as_str().starts_with("mbr_"));
    }

    #[test]
    fn ids_of_another_kind_or_malformed_do_not_parse() {
        let member = MemberId::generate();
        assert_eq!(ThirdPartyId::parse(member.as_str()), None);
        assert_eq!(MemberId::parse("mbr_"), None);
        assert_eq!(MemberId::parse("mbr_XYZ"), None);
        assert_eq!(
            MemberId::parse("mbr_0123456789abcdef0123456789abcdeF"),
            None
        );
        assert_eq!(MemberId::parse("' OR 1=1 --"), None);
    }
}
