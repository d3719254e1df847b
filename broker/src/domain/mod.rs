//! Pure types and rules: parsed, validated values that the rest of the
//! broker can trust. Imports neither axum nor sqlx.

pub mod dataset;
pub mod delegation;
pub mod ids;
pub mod instant;
pub mod member;
pub mod persona;
pub mod rule;
pub mod third_party;
pub mod validation;
pub mod vocabulary;

pub use delegation::{Delegation, Scope};
pub use ids::{DelegationId, EventId, MemberId, PersonaId, RuleId, ThirdPartyId};
pub use member::{DisplayName, Member, MemberPatch, NewMember};
pub use persona::{Persona, PersonaDescription, PersonaName};
pub use rule::{Effect, Owner, Requester, Rule, RuleAction, RuleSpec};
pub use third_party::{NewThirdParty, ThirdParty, ThirdPartyName, WebhookUrl};
pub use validation::{FieldErrors, Invalid};
pub use vocabulary::{TermId, Vocabulary, VocabularyError};

pub use datacoop_wire::{Registry, RequesterClass, ThirdPartyStatus};
