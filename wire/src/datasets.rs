//! Aggregate datasets, their licenses and builds (issue 11).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a measure computes over a cell's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MeasureOp {
    /// How many members the cell holds.
    Count,
    /// The sum of the pointed value over the cell's members who have it.
    Sum,
    /// The mean of the pointed value over the cell's members who have it.
    Mean,
}

impl MeasureOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Mean => "mean",
        }
    }
}

/// A dimension rows are grouped by: a value in a member's stored data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// One of the dataset's `data_categories`: the value is read from the
    /// member's data stored under exactly this category.
    pub category: String,
    /// An RFC 6901 JSON Pointer into that value, such as `/region`; its
    /// last segment names the column in each row.
    pub pointer: String,
}

/// A figure computed per cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub op: MeasureOp,
    /// For `sum` and `mean`: one of the dataset's categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For `sum` and `mean`: an RFC 6901 JSON Pointer to a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// `[lo, hi]`: values are clamped to it before they are added, and the
    /// noise is calibrated to it. Required for `sum` and `mean` when the
    /// dataset has an `epsilon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<[f64; 2]>,
}

/// Body of `POST /v1/datasets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    /// 1 to 200 characters.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The purpose every counted member's consent must allow.
    pub purpose: String,
    /// Every category the dataset reads; a member is counted only when
    /// consent allows each (action `aggregate`).
    pub data_categories: Vec<String>,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    pub measures: Vec<Measure>,
    /// Cells counting fewer members are suppressed; at least 2, default 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_min: Option<u32>,
    /// The differential-privacy budget each build spends; absent: no noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
}

/// A dataset as the stewards see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dataset {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub purpose: String,
    pub data_categories: Vec<String>,
    pub dimensions: Vec<Dimension>,
    pub measures: Vec<Measure>,
    pub k_min: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// The privacy budget spent by every build of every license of this
    /// dataset, and what is left of `DATACOOP_DP_BUDGET`.
    pub epsilon_spent: f64,
    pub epsilon_remaining: f64,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// A license's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LicenseStatus {
    Active,
    Revoked,
}

impl LicenseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }
}

/// Body of `POST /v1/licenses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateLicense {
    /// The dataset's id.
    pub dataset: String,
    /// The licensee: an active third party's id.
    pub licensee: String,
    pub valid_from: DateTime<Utc>,
    /// Later than `valid_from` and than now.
    pub valid_until: DateTime<Utc>,
    /// How long each build's rows live after the build (1 to 3,650 days).
    pub data_life_days: u32,
}

/// A license as stewards and its licensee see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct License {
    pub id: String,
    pub dataset: String,
    pub licensee: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub data_life_days: u32,
    pub status: LicenseStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// Body of `PATCH /v1/licenses/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateLicense {
    /// `revoked` ends the license at once (a revoked license stays
    /// revoked); `active` on an active license changes nothing.
    pub status: LicenseStatus,
}

/// What a build published, beside its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    pub license: String,
    pub build_id: String,
    pub built_at: DateTime<Utc>,
    /// Members counted; noised when the dataset has an `epsilon`.
    pub cohort_size: i64,
    pub k_min: u32,
    pub epsilon_spent: f64,
    pub epsilon_remaining: f64,
    /// Cells left out of `rows`: those under `k_min`, and those suppressed
    /// so that none of them can be derived from the rest.
    pub suppressed_cells: u64,
    /// Per measure (`sum_steps`…): counted members whose data lacked the
    /// pointed number, left out of that measure.
    #[serde(default)]
    pub missing_values: BTreeMap<String, u64>,
    /// The build's entry in the verifiable log.
    pub log_index: u64,
    /// SHA-256 Merkle root (RFC 9162) over the counted members' pairwise
    /// ids for the licensee, hex: the commitment to the cohort.
    pub cohort_root: String,
}

/// `GET /v1/licenses/{id}/builds/latest` and the answer to a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    /// One flat object per published cell: each dimension's value under the
    /// last segment of its pointer, `count`, and `<op>_<segment>` for each
    /// other measure.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    pub manifest: Manifest,
}

/// A build that counted the member: what a member sees (never figures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountedBuild {
    pub build_id: String,
    pub dataset: String,
    pub dataset_name: String,
    /// The licensee's id.
    pub licensee: String,
    pub purpose: String,
    pub data_categories: Vec<String>,
    pub built_at: DateTime<Utc>,
    /// The build's entry in the verifiable log.
    pub log_index: u64,
}
