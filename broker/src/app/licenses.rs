//! A dataset's license changing status (issue 11): revoking it announces
//! the revocation to the licensee (`license.revoked`), who can fetch
//! nothing more. `PATCH /v1/licenses/{id}` and the stewards' pages call
//! this.

use chrono::{DateTime, Utc};
use datacoop_wire::LicenseStatus;

use super::AppError;
use crate::domain::dataset::License;
use crate::store::{Applied, Change, Logged, Store};

/// Sets a license's status: revoking an active license revokes it; a
/// revoked license stays revoked (`Conflict` to make it active again);
/// asking for the status it has changes nothing (no log index). `None`
/// when there is no such license.
pub async fn set_status(
    store: &dyn Store,
    id: &str,
    status: LicenseStatus,
    now: DateTime<Utc>,
) -> Result<Option<Logged<License>>, AppError> {
    let Some(license) = store.license(id).await? else {
        return Ok(None);
    };
    let unchanged = |license| {
        Ok(Some(Logged {
            value: license,
            log_index: None,
        }))
    };
    match (license.status, status) {
        (LicenseStatus::Revoked, LicenseStatus::Active) => Err(AppError::Conflict(
            "a revoked license stays revoked: create a new license",
        )),
        (_, LicenseStatus::Active) | (LicenseStatus::Revoked, LicenseStatus::Revoked) => {
            unchanged(license)
        }
        (LicenseStatus::Active, LicenseStatus::Revoked) => {
            let committed = store
                .apply(Change::RevokeLicense {
                    id: id.to_owned(),
                    at: now,
                })
                .await?;
            let Some(license) = store.license(id).await? else {
                return Ok(None);
            };
            if committed.applied == Applied::Missing {
                // Revoked by a concurrent call: the same end state.
                return unchanged(license);
            }
            tracing::info!(license = %license.id, "license revoked");
            Ok(Some(Logged {
                value: license,
                log_index: committed.log_index,
            }))
        }
    }
}
