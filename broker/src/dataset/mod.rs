//! Aggregate dataset builds (issue 11): the cohort a license may count,
//! grouped into cells, small cells suppressed (with complements, so none
//! can be derived), noise from OpenDP when the dataset has an `epsilon`
//! (after the privacy budget is spent, atomically), and the build
//! recorded with its manifest, its members and a commitment to its cohort
//! in the verifiable log.

pub mod noise;
pub mod suppress;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use datacoop_wire::{LicenseStatus, Manifest, MeasureOp, Release};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::consent::cohort::{CohortProgress, CohortRequest};
use crate::consent::{Engine, EngineError};
use crate::domain::dataset::{Dataset, License};
use crate::domain::{MemberId, ThirdPartyStatus};
use crate::store::{Applied, NewBuild, Store, StoreError};

/// What the database's settings keep the cohort pseudonyms' key under.
const PSEUDONYM_KEY_SETTING: &str = "cohort_pseudonym_key";
/// Epsilon in the ledger's unit.
const MICROS: f64 = 1_000_000.0;

/// Why a build was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no such license")]
    NoLicense,
    #[error("the license's dataset is gone")]
    NoDataset,
    #[error("the license is revoked")]
    Revoked,
    #[error("the license is not in force now: it runs from {from} to {until}")]
    OutsideWindow {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error("the licensee is not an active third party")]
    LicenseeInactive,
    #[error(
        "the cohort has {size} consenting member(s), fewer than the dataset's k_min ({k}): nothing can be released"
    )]
    CohortTooSmall { size: usize, k: u32 },
    #[error(
        "the table cannot be released without disclosing a small cell ({0}); coarsen the dimensions"
    )]
    Unprotectable(suppress::SuppressError),
    #[error(
        "the dataset's privacy budget would be exceeded: {spent} of {budget} spent, this build needs {needed}"
    )]
    OverBudget {
        spent: f64,
        budget: f64,
        needed: f64,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("noise: {0}")]
    Noise(#[from] noise::NoiseError),
    #[error("{0}")]
    Internal(String),
}

/// How far a build has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Cohort(CohortProgress),
    /// The cohort is known: this many members are counted.
    Counted(u64),
    /// Reading and grouping their data: this many values read.
    Grouped(u64),
    Suppressing,
    Noising,
    Recording,
}

/// Builds licenses' datasets.
#[derive(Debug, Clone)]
pub struct Builder {
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    /// `DATACOOP_DP_BUDGET`: the epsilon every dataset may spend in all.
    budget: f64,
}

/// One cell being summed: its members, and per measure the sum of the
/// values and how many members had one.
#[derive(Debug, Clone)]
struct Acc {
    count: u64,
    sums: Vec<f64>,
    valued: Vec<u64>,
}

impl Builder {
    pub fn new(store: Arc<dyn Store>, engine: Arc<Engine>, budget: f64) -> Self {
        Self {
            store,
            engine,
            budget,
        }
    }

    /// The budget in the ledger's unit.
    fn budget_micros(&self) -> i64 {
        (self.budget * MICROS).floor() as i64
    }

    /// Builds `license` at `now`: the release (rows and manifest) as the
    /// licensee will receive it.
    pub async fn build(
        &self,
        license: &str,
        now: DateTime<Utc>,
        progress: &(dyn Fn(Stage) + Send + Sync),
    ) -> Result<Release, BuildError> {
        let license = self
            .store
            .license(license)
            .await?
            .ok_or(BuildError::NoLicense)?;
        check_in_force(&license, now)?;
        let licensee = self
            .store
            .third_party(&license.spec.licensee)
            .await?
            .filter(|third_party| third_party.status == ThirdPartyStatus::Active)
            .ok_or(BuildError::LicenseeInactive)?;
        let dataset = self
            .store
            .dataset(&license.spec.dataset)
            .await?
            .ok_or(BuildError::NoDataset)?;
        let spec = &dataset.spec;

        // §4 for action `aggregate`: every category the dataset reads.
        let request = CohortRequest {
            requester: licensee.id.clone(),
            categories: spec.data_categories.clone(),
            purpose: spec.purpose.clone(),
        };
        let cohort = self
            .engine
            .cohort(&request, now, &|step| progress(Stage::Cohort(step)))
            .await?;
        let size = cohort.members.len();
        progress(Stage::Counted(size as u64));
        if size < usize::try_from(spec.k_min).unwrap_or(usize::MAX) {
            return Err(BuildError::CohortTooSmall {
                size,
                k: spec.k_min,
            });
        }

        let grouped = self.group(&dataset, &cohort.members, progress).await?;
        progress(Stage::Suppressing);
        let dimensions = spec.dimensions.len();
        let table: Vec<suppress::Cell> = grouped
            .cells
            .iter()
            .map(|(key, acc)| suppress::Cell {
                key: key.clone(),
                count: acc.count,
            })
            .collect();
        let k = u64::from(spec.k_min);
        let suppression =
            tokio::task::spawn_blocking(move || suppress::protect(dimensions, &table, k))
                .await
                .map_err(|error| BuildError::Internal(error.to_string()))?
                .map_err(BuildError::Unprotectable)?;

        let build_id = format!("bld_{}", uuid::Uuid::new_v4().simple());
        let (spent, epsilon_micros) = match spec.epsilon {
            Some(epsilon) => {
                let micros = (epsilon * MICROS).ceil() as i64;
                let spent = self
                    .store
                    .apply(crate::store::Change::SpendBudget {
                        dataset: dataset.id.clone(),
                        license: license.id.clone(),
                        build: build_id.clone(),
                        micros,
                        budget_micros: self.budget_micros(),
                    })
                    .await?;
                match spent.applied {
                    Applied::Count(spent) => (i64::try_from(spent).unwrap_or(i64::MAX), micros),
                    _ => {
                        let now_spent = self
                            .store
                            .dataset(&dataset.id)
                            .await?
                            .map_or(dataset.spent_micros, |current| current.spent_micros);
                        return Err(BuildError::OverBudget {
                            spent: now_spent as f64 / MICROS,
                            budget: self.budget_micros() as f64 / MICROS,
                            needed: micros as f64 / MICROS,
                        });
                    }
                }
            }
            None => (dataset.spent_micros, 0),
        };

        progress(Stage::Noising);
        let spec_owned = spec.clone();
        let suppressed = suppression.suppressed.clone();
        let (rows, cohort_size, missing) =
            tokio::task::spawn_blocking(move || release_rows(&spec_owned, &grouped, &suppressed))
                .await
                .map_err(|error| BuildError::Internal(error.to_string()))??;

        progress(Stage::Recording);
        let root = self.cohort_root(&licensee.id, &cohort.members).await?;
        let built_at = now;
        let expires_at = built_at + TimeDelta::days(i64::from(license.spec.data_life_days));
        let mut manifest = Manifest {
            license: license.id.clone(),
            build_id: build_id.clone(),
            built_at,
            cohort_size,
            k_min: spec.k_min,
            epsilon_spent: epsilon_micros as f64 / MICROS,
            epsilon_remaining: ((self.budget_micros() - spent).max(0) as f64) / MICROS,
            suppressed_cells: u64::try_from(suppression.primary + suppression.complementary)
                .unwrap_or(u64::MAX),
            missing_values: missing,
            log_index: 0,
            cohort_root: root,
        };
        let stored_manifest = serde_json::to_string(&manifest)
            .map_err(|error| BuildError::Internal(error.to_string()))?;
        let published = serde_json::to_string(&rows)
            .map_err(|error| BuildError::Internal(error.to_string()))?;
        let committed = self
            .store
            .apply(crate::store::Change::RecordBuild(Box::new(NewBuild {
                id: build_id,
                license: license.id.clone(),
                dataset: dataset.id.clone(),
                licensee: licensee.id.clone(),
                built_at,
                expires_at,
                manifest: stored_manifest,
                published,
                members: cohort.members,
                cohort_root: manifest.cohort_root.clone(),
                cohort_size: manifest.cohort_size,
                suppressed_cells: manifest.suppressed_cells,
                epsilon_micros,
            })))
            .await?;
        manifest.log_index = committed.log_index.unwrap_or_default();
        Ok(Release { rows, manifest })
    }

    /// Reads the cohort's data and sums it into cells keyed by each
    /// dimension's value (interned per dimension; a missing value is
    /// `null`, a cell like any other); says, per measure, how many members
    /// lacked its number.
    async fn group(
        &self,
        dataset: &Dataset,
        members: &[MemberId],
        progress: &(dyn Fn(Stage) + Send + Sync),
    ) -> Result<Grouped, BuildError> {
        let spec = &dataset.spec;
        let position: FxHashMap<&str, usize> = members
            .iter()
            .enumerate()
            .map(|(position, id)| (id.as_str(), position))
            .collect();
        let read: Vec<&crate::domain::TermId> = spec
            .dimensions
            .iter()
            .map(|dimension| &dimension.category)
            .chain(
                spec.measures
                    .iter()
                    .filter_map(|m| m.source.as_ref().map(|(c, _)| c)),
            )
            .collect();
        let mut categories: Vec<crate::domain::TermId> = read.into_iter().cloned().collect();
        categories.sort();
        categories.dedup();
        // Each counted member's value of each category read.
        let mut values: Vec<Vec<Option<Value>>> = vec![vec![None; categories.len()]; members.len()];
        let rows = if categories.is_empty() {
            Vec::new()
        } else {
            self.store.dataset_values(&categories, members).await?
        };
        let mut read_count = 0_u64;
        for (_, member, category, value) in rows {
            let Some(&at) = position.get(member.as_str()) else {
                continue;
            };
            let Some(slot) = categories
                .iter()
                .position(|term| term.as_str() == category)
                .and_then(|index| values.get_mut(at).and_then(|row| row.get_mut(index)))
            else {
                continue;
            };
            *slot = serde_json::from_str(&value).ok();
            read_count += 1;
            if read_count.is_multiple_of(100_000) {
                progress(Stage::Grouped(read_count));
            }
        }
        progress(Stage::Grouped(read_count));
        let column_of =
            |category: &crate::domain::TermId| categories.iter().position(|term| term == category);
        let dimension_columns: Vec<Option<usize>> = spec
            .dimensions
            .iter()
            .map(|d| column_of(&d.category))
            .collect();
        let measure_columns: Vec<Option<usize>> = spec
            .measures
            .iter()
            .map(|m| m.source.as_ref().and_then(|(c, _)| column_of(c)))
            .collect();
        let mut interned: Vec<FxHashMap<String, u32>> =
            vec![FxHashMap::default(); spec.dimensions.len()];
        let mut cells: FxHashMap<Vec<u32>, Acc> = FxHashMap::default();
        let mut missing = vec![0_u64; spec.measures.len()];
        for row in &values {
            let mut key = Vec::with_capacity(spec.dimensions.len());
            for ((dimension, column), seen) in spec
                .dimensions
                .iter()
                .zip(&dimension_columns)
                .zip(interned.iter_mut())
            {
                let value = column
                    .and_then(|column| row.get(column))
                    .and_then(Option::as_ref)
                    .and_then(|value| value.pointer(&dimension.pointer))
                    .unwrap_or(&Value::Null);
                let text = value.to_string();
                let next = u32::try_from(seen.len()).unwrap_or(u32::MAX);
                key.push(*seen.entry(text).or_insert(next));
            }
            let acc = cells.entry(key).or_insert_with(|| Acc {
                count: 0,
                sums: vec![0.0; spec.measures.len()],
                valued: vec![0; spec.measures.len()],
            });
            acc.count += 1;
            for (index, (measure, column)) in spec.measures.iter().zip(&measure_columns).enumerate()
            {
                let Some((_, pointer)) = &measure.source else {
                    continue;
                };
                let number = column
                    .and_then(|column| row.get(column))
                    .and_then(Option::as_ref)
                    .and_then(|value| value.pointer(pointer))
                    .and_then(Value::as_f64)
                    .filter(|number| number.is_finite());
                match number {
                    Some(number) => {
                        let number = measure
                            .bounds
                            .map_or(number, |bounds| noise::clamp(number, bounds));
                        if let (Some(sum), Some(valued)) =
                            (acc.sums.get_mut(index), acc.valued.get_mut(index))
                        {
                            *sum += number;
                            *valued += 1;
                        }
                    }
                    None => {
                        if let Some(count) = missing.get_mut(index) {
                            *count += 1;
                        }
                    }
                }
            }
        }
        // The dimension values by index, to write the rows.
        let names: Vec<Vec<Value>> = interned
            .into_iter()
            .map(|seen| {
                let mut by_index: Vec<(u32, String)> = seen
                    .into_iter()
                    .map(|(text, index)| (index, text))
                    .collect();
                by_index.sort();
                by_index
                    .into_iter()
                    .map(|(_, text)| serde_json::from_str(&text).unwrap_or(Value::Null))
                    .collect()
            })
            .collect();
        // Cells in a stable order: by their dimension values' text.
        let mut cells: Vec<(Vec<u32>, Acc)> = cells.into_iter().collect();
        let label = |key: &[u32]| -> Vec<String> {
            key.iter()
                .zip(&names)
                .map(|(index, values)| {
                    usize::try_from(*index)
                        .ok()
                        .and_then(|index| values.get(index))
                        .map(Value::to_string)
                        .unwrap_or_default()
                })
                .collect()
        };
        cells.sort_by_cached_key(|(key, _)| label(key));
        let missing = spec
            .measures
            .iter()
            .zip(missing)
            .filter(|(measure, _)| measure.source.is_some())
            .map(|(measure, count)| (measure.column.clone(), count))
            .collect();
        Ok(Grouped {
            cells,
            names,
            missing,
        })
    }

    /// The commitment to a cohort: the RFC 9162 Merkle root over the
    /// members' pairwise ids for the licensee (HMAC-SHA256 of the licensee
    /// and member ids under the co-op's pseudonym key), sorted.
    async fn cohort_root(
        &self,
        licensee: &crate::domain::ThirdPartyId,
        members: &[MemberId],
    ) -> Result<String, BuildError> {
        let key = self.pseudonym_key().await?;
        let licensee = licensee.to_string();
        let members: Vec<String> = members.iter().map(ToString::to_string).collect();
        tokio::task::spawn_blocking(move || {
            let mut ids: Vec<[u8; 32]> = members
                .iter()
                .map(|member| pairwise_id(&key, &licensee, member))
                .collect::<Result<_, _>>()?;
            ids.sort_unstable();
            let mut tree = crate::audit::tree::Rebuilt::default();
            for id in &ids {
                tree.push(crate::audit::tree::leaf_hash(id));
            }
            Ok::<_, BuildError>(hex(&tree.root().0))
        })
        .await
        .map_err(|error| BuildError::Internal(error.to_string()))?
    }

    /// The key of the cohort pseudonyms, made and kept in the database's
    /// settings the first time (every replica reads back the one stored).
    async fn pseudonym_key(&self) -> Result<Vec<u8>, BuildError> {
        if self.store.setting(PSEUDONYM_KEY_SETTING).await?.is_none() {
            let mut key = [0_u8; 32];
            getrandom::fill(&mut key).map_err(|error| BuildError::Internal(error.to_string()))?;
            self.store
                .insert_setting_if_absent(PSEUDONYM_KEY_SETTING, &hex(&key))
                .await?;
        }
        let stored = self
            .store
            .setting(PSEUDONYM_KEY_SETTING)
            .await?
            .ok_or_else(|| BuildError::Internal("the pseudonym key vanished".into()))?;
        Ok(stored.into_bytes())
    }
}

/// A grouped table: its cells (keys index `names`), each dimension's
/// values, and per measure column how many members lacked a number.
#[derive(Debug)]
struct Grouped {
    cells: Vec<(Vec<u32>, Acc)>,
    names: Vec<Vec<Value>>,
    missing: BTreeMap<String, u64>,
}

/// What a release publishes: its rows, the manifest's cohort size and its
/// `missing_values`.
type Published = (Vec<Map<String, Value>>, i64, BTreeMap<String, u64>);

/// The published rows and the manifest's cohort size. Without `epsilon`
/// figures are exact. With it, the budget is split evenly over the
/// queries (the count; each sum; each mean's sum and count of members
/// with a value; each sum's and mean's count of members without one),
/// each a vector over disjoint cells (one member is in one
/// cell, so each query's sensitivity is one member's); the cohort size is
/// the sum of every cell's noisy count (post-processing: it costs no more
/// budget and is never the exact total).
fn release_rows(
    spec: &crate::domain::dataset::DatasetSpec,
    grouped: &Grouped,
    suppressed: &[bool],
) -> Result<Published, BuildError> {
    let counts: Vec<u64> = grouped.cells.iter().map(|(_, acc)| acc.count).collect();
    let share = spec.epsilon.map(|epsilon| {
        let queries = 1 + spec
            .measures
            .iter()
            .map(|measure| match measure.op {
                MeasureOp::Count => 0,
                // The sum, and the count of members without a number.
                MeasureOp::Sum => 2,
                // The sum, the count with a number, the count without.
                MeasureOp::Mean => 3,
            })
            .sum::<usize>();
        epsilon / queries as f64
    });
    let (published_counts, cohort_size): (Vec<i64>, i64) = match share {
        Some(share) => {
            let noisy = noise::IntegerLaplace::counts(share)?.release_counts(&counts)?;
            let total = noisy
                .iter()
                .fold(0_i64, |sum, count| sum.saturating_add(*count));
            (noisy, total.max(0))
        }
        None => (
            counts
                .iter()
                .map(|count| i64::try_from(*count).unwrap_or(i64::MAX))
                .collect(),
            counts.iter().fold(0_i64, |sum, count| {
                sum.saturating_add(i64::try_from(*count).unwrap_or(i64::MAX))
            }),
        ),
    };
    let published: Vec<usize> = suppressed
        .iter()
        .enumerate()
        .filter_map(|(index, suppressed)| (!suppressed).then_some(index))
        .collect();
    // Each measure's figures for the published cells.
    let mut figures: Vec<Vec<Value>> = Vec::with_capacity(spec.measures.len());
    for (index, measure) in spec.measures.iter().enumerate() {
        let sums: Vec<f64> = published
            .iter()
            .map(|cell| {
                grouped
                    .cells
                    .get(*cell)
                    .and_then(|(_, acc)| acc.sums.get(index))
                    .copied()
                    .unwrap_or(0.0)
            })
            .collect();
        let valued: Vec<u64> = published
            .iter()
            .map(|cell| {
                grouped
                    .cells
                    .get(*cell)
                    .and_then(|(_, acc)| acc.valued.get(index))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        let (sums, valued): (Vec<f64>, Vec<f64>) = match (share, measure.bounds) {
            (Some(share), Some(bounds)) if measure.op != MeasureOp::Count => {
                let sums = noise::RealLaplace::sums(share, bounds)?.release_sums(&sums)?;
                let valued = if measure.op == MeasureOp::Mean {
                    noise::IntegerLaplace::counts(share)?
                        .release_counts(&valued)?
                        .into_iter()
                        .map(|count| count as f64)
                        .collect()
                } else {
                    valued.iter().map(|count| *count as f64).collect()
                };
                (sums, valued)
            }
            _ => (sums, valued.iter().map(|count| *count as f64).collect()),
        };
        figures.push(match measure.op {
            MeasureOp::Count => Vec::new(),
            MeasureOp::Sum => sums.into_iter().map(number).collect(),
            MeasureOp::Mean => sums
                .into_iter()
                .zip(valued)
                .map(|(sum, valued)| {
                    if valued < 1.0 {
                        return Value::Null;
                    }
                    let mean = sum / valued;
                    number(
                        measure
                            .bounds
                            .map_or(mean, |bounds| noise::clamp(mean, bounds)),
                    )
                })
                .collect(),
        });
    }
    let mut rows = Vec::with_capacity(published.len());
    for (position, cell) in published.iter().enumerate() {
        let Some((key, _)) = grouped.cells.get(*cell) else {
            continue;
        };
        let mut row = Map::new();
        for ((dimension, index), values) in spec.dimensions.iter().zip(key).zip(&grouped.names) {
            let value = usize::try_from(*index)
                .ok()
                .and_then(|index| values.get(index))
                .cloned()
                .unwrap_or(Value::Null);
            row.insert(dimension.column.clone(), value);
        }
        let count = published_counts.get(*cell).copied().unwrap_or(0).max(0);
        row.insert("count".to_owned(), Value::from(count));
        for (measure, values) in spec.measures.iter().zip(&figures) {
            if measure.op == MeasureOp::Count {
                continue;
            }
            row.insert(
                measure.column.clone(),
                values.get(position).cloned().unwrap_or(Value::Null),
            );
        }
        rows.push(row);
    }
    // How many counted members lacked each measure's number: exact
    // without `epsilon`, else noised like any other count (it is one).
    let missing = match share {
        Some(share) => {
            let mechanism = noise::IntegerLaplace::counts(share)?;
            let mut noised = BTreeMap::new();
            for (column, count) in &grouped.missing {
                let released = mechanism.release_count(*count)?;
                noised.insert(column.clone(), u64::try_from(released.max(0)).unwrap_or(0));
            }
            noised
        }
        None => grouped.missing.clone(),
    };
    Ok((rows, cohort_size, missing))
}

/// A figure as JSON: whole numbers as integers.
fn number(value: f64) -> Value {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// A member's pairwise id for a licensee, as the cohort commitment holds it.
pub fn pairwise_id(key: &[u8], licensee: &str, member: &str) -> Result<[u8; 32], BuildError> {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .map_err(|error| BuildError::Internal(error.to_string()))?;
    mac.update(licensee.as_bytes());
    mac.update(b":");
    mac.update(member.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What is left of `dataset`'s budget when every dataset may spend
/// `budget` (`DATACOOP_DP_BUDGET`).
pub fn remaining(budget: f64, dataset: &Dataset) -> f64 {
    let budget = (budget * MICROS).floor() as i64;
    ((budget - dataset.spent_micros).max(0) as f64) / MICROS
}

/// Refuses a revoked license, or one outside its window.
pub fn check_in_force(license: &License, now: DateTime<Utc>) -> Result<(), BuildError> {
    if license.status == LicenseStatus::Revoked {
        return Err(BuildError::Revoked);
    }
    if !license.in_force(now) {
        return Err(BuildError::OutsideWindow {
            from: license.spec.valid_from,
            until: license.spec.valid_until,
        });
    }
    Ok(())
}
