//! Aggregate datasets and their licenses (issue 11): the validated forms
//! of a definition and a license, parsed from the wire at the edge.

use chrono::{DateTime, Utc};
use datacoop_wire::{Measure as WireMeasure, MeasureOp};

use super::validation::{FieldErrors, long_text, short_text};
use super::vocabulary::{TermId, Vocabulary};

/// The fewest members a published cell may count (`k_min`), at least.
pub const MIN_K: u32 = 2;
/// `k_min` when the definition names none.
pub const DEFAULT_K: u32 = 11;
/// Bounds on what one definition may hold, so a build's cost is bounded.
pub const MAX_CATEGORIES: usize = 16;
pub const MAX_DIMENSIONS: usize = 6;
pub const MAX_MEASURES: usize = 16;
const MAX_POINTER_CHARS: usize = 256;
/// The largest and smallest epsilon one build may spend.
pub const MAX_EPSILON: f64 = 100.0;
pub const MIN_EPSILON: f64 = 0.001;
/// The largest magnitude of a measure's bounds (so a sum's sensitivity,
/// hence its noise, stays a finite number).
pub const MAX_BOUND: f64 = 1.0e12;

/// A validated dimension: a category the dataset reads, a JSON Pointer
/// into it, and the column its values go under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    pub category: TermId,
    pub pointer: String,
    pub column: String,
}

/// A validated measure; `sum` and `mean` point at a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub op: MeasureOp,
    /// `(category, pointer)` for `sum` and `mean`.
    pub source: Option<(TermId, String)>,
    pub bounds: Option<(f64, f64)>,
    /// The column: `count`, or `<op>_<last pointer segment>`.
    pub column: String,
}

/// A validated dataset definition.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    pub name: String,
    pub description: Option<String>,
    pub purpose: TermId,
    pub data_categories: Vec<TermId>,
    pub dimensions: Vec<Dimension>,
    pub measures: Vec<Measure>,
    pub k_min: u32,
    pub epsilon: Option<f64>,
}

/// A stored dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub id: String,
    pub spec: DatasetSpec,
    /// Millionths of epsilon spent so far (the ledger).
    pub spent_micros: i64,
    pub created_at: DateTime<Utc>,
}

impl DatasetSpec {
    /// Validates `body` against the vocabulary; every problem is reported,
    /// each under its field's path.
    pub fn parse(
        body: datacoop_wire::CreateDataset,
        vocabulary: &Vocabulary,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.check("name", short_text(&body.name, 200));
        let description = match &body.description {
            Some(text) => errors.check("description", long_text(text, 2000)).map(Some),
            None => Some(None),
        };
        let purpose = match vocabulary.purpose(&body.purpose) {
            Some(term) if !term.is_wildcard() => Some(term),
            Some(_) => {
                errors.push("purpose", "a dataset names its purpose: `*` is not one");
                None
            }
            None => {
                errors.push("purpose", format!("`{}` is not a purpose", body.purpose));
                None
            }
        };
        let mut categories = Vec::new();
        if body.data_categories.is_empty() {
            errors.push("data_categories", "list at least one category");
        }
        if body.data_categories.len() > MAX_CATEGORIES {
            errors.push(
                "data_categories",
                format!("at most {MAX_CATEGORIES} categories"),
            );
        }
        for (position, raw) in body.data_categories.iter().enumerate() {
            let field = format!("data_categories[{position}]");
            match vocabulary.category(raw) {
                Some(term) if term.is_wildcard() => {
                    errors.push(
                        field,
                        "a dataset names the categories it reads: `*` is not one",
                    );
                }
                Some(term) if categories.contains(&term) => {
                    errors.push(field, format!("`{raw}` is listed twice"));
                }
                Some(term) => categories.push(term),
                None => errors.push(field, format!("`{raw}` is not a data category")),
            }
        }
        let read = |raw: &str, field: &str, errors: &mut FieldErrors| -> Option<TermId> {
            match vocabulary.category(raw) {
                Some(term) if categories.contains(&term) => Some(term),
                Some(_) => {
                    errors.push(
                        field,
                        format!("`{raw}` is not one of the dataset's data_categories"),
                    );
                    None
                }
                None => {
                    errors.push(field, format!("`{raw}` is not a data category"));
                    None
                }
            }
        };
        let mut columns: Vec<String> = Vec::new();
        if body.dimensions.len() > MAX_DIMENSIONS {
            errors.push("dimensions", format!("at most {MAX_DIMENSIONS} dimensions"));
        }
        let mut dimensions = Vec::new();
        for (position, dimension) in body.dimensions.iter().enumerate() {
            let category = read(
                &dimension.category,
                &format!("dimensions[{position}].category"),
                &mut errors,
            );
            let field = format!("dimensions[{position}].pointer");
            let column = match last_segment(&dimension.pointer) {
                Ok(column) if columns.contains(&column) => {
                    errors.push(field, format!("another column is already named `{column}`"));
                    None
                }
                Ok(column) if column == "count" => {
                    errors.push(field, "`count` names the count column");
                    None
                }
                Ok(column) => Some(column),
                Err(message) => {
                    errors.push(field, message);
                    None
                }
            };
            if let Some(column) = &column {
                columns.push(column.clone());
            }
            if let (Some(category), Some(column)) = (category, column) {
                dimensions.push(Dimension {
                    category,
                    pointer: dimension.pointer.clone(),
                    column,
                });
            }
        }
        let mut measures = Vec::new();
        if body.measures.is_empty() {
            errors.push("measures", "list at least one measure");
        }
        if body.measures.len() > MAX_MEASURES {
            errors.push("measures", format!("at most {MAX_MEASURES} measures"));
        }
        for (position, measure) in body.measures.iter().enumerate() {
            if let Some(parsed) = parse_measure(
                measure,
                position,
                body.epsilon.is_some(),
                &read,
                &mut columns,
                &mut errors,
            ) {
                measures.push(parsed);
            }
        }
        let k_min = body.k_min.unwrap_or(DEFAULT_K);
        if k_min < MIN_K {
            errors.push("k_min", format!("at least {MIN_K}"));
        }
        if let Some(epsilon) = body.epsilon
            && !(epsilon.is_finite() && (MIN_EPSILON..=MAX_EPSILON).contains(&epsilon))
        {
            errors.push(
                "epsilon",
                format!("a number from {MIN_EPSILON} to {MAX_EPSILON}"),
            );
        }
        errors.finish(|| {
            Some(Self {
                name: name?,
                description: description?,
                purpose: purpose?,
                data_categories: categories,
                dimensions,
                measures,
                k_min,
                epsilon: body.epsilon,
            })
        })
    }

    /// A definition read back from the database: validated when stored,
    /// so only its syntax is read again (`None`: not a stored definition).
    pub fn from_stored(wire: datacoop_wire::CreateDataset) -> Option<Self> {
        let term = |raw: &str| TermId::parse(raw).ok();
        let dimensions = wire
            .dimensions
            .iter()
            .map(|dimension| {
                Some(Dimension {
                    category: term(&dimension.category)?,
                    column: last_segment(&dimension.pointer).ok()?,
                    pointer: dimension.pointer.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let measures = wire
            .measures
            .iter()
            .map(|measure| {
                let source = match (&measure.category, &measure.pointer) {
                    (Some(category), Some(pointer)) => Some((term(category)?, pointer.clone())),
                    _ => None,
                };
                let column = match &source {
                    Some((_, pointer)) => {
                        format!("{}_{}", measure.op.as_str(), last_segment(pointer).ok()?)
                    }
                    None => "count".to_owned(),
                };
                Some(Measure {
                    op: measure.op,
                    source,
                    bounds: measure.bounds.map(|[lo, hi]| (lo, hi)),
                    column,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            name: wire.name,
            description: wire.description,
            purpose: term(&wire.purpose)?,
            data_categories: wire
                .data_categories
                .iter()
                .map(|raw| term(raw))
                .collect::<Option<Vec<_>>>()?,
            dimensions,
            measures,
            k_min: wire.k_min.unwrap_or(DEFAULT_K),
            epsilon: wire.epsilon,
        })
    }

    /// The wire form of the definition (what `definition` stores).
    pub fn to_wire(&self) -> datacoop_wire::CreateDataset {
        datacoop_wire::CreateDataset {
            name: self.name.clone(),
            description: self.description.clone(),
            purpose: self.purpose.to_string(),
            data_categories: self
                .data_categories
                .iter()
                .map(ToString::to_string)
                .collect(),
            dimensions: self
                .dimensions
                .iter()
                .map(|dimension| datacoop_wire::Dimension {
                    category: dimension.category.to_string(),
                    pointer: dimension.pointer.clone(),
                })
                .collect(),
            measures: self
                .measures
                .iter()
                .map(|measure| WireMeasure {
                    op: measure.op,
                    category: measure
                        .source
                        .as_ref()
                        .map(|(category, _)| category.to_string()),
                    pointer: measure.source.as_ref().map(|(_, pointer)| pointer.clone()),
                    bounds: measure.bounds.map(|(lo, hi)| [lo, hi]),
                })
                .collect(),
            k_min: Some(self.k_min),
            epsilon: self.epsilon,
        }
    }
}

fn parse_measure(
    measure: &WireMeasure,
    position: usize,
    noised: bool,
    read: &dyn Fn(&str, &str, &mut FieldErrors) -> Option<TermId>,
    columns: &mut Vec<String>,
    errors: &mut FieldErrors,
) -> Option<Measure> {
    let field = |name: &str| format!("measures[{position}].{name}");
    let bounds = match measure.bounds {
        Some([lo, hi]) if lo < hi && lo.abs() <= MAX_BOUND && hi.abs() <= MAX_BOUND => {
            Some((lo, hi))
        }
        Some(_) => {
            errors.push(
                field("bounds"),
                format!("[lo, hi]: lo below hi, each within ±{MAX_BOUND:e}"),
            );
            None
        }
        None => None,
    };
    match measure.op {
        MeasureOp::Count => {
            for (name, present) in [
                ("category", measure.category.is_some()),
                ("pointer", measure.pointer.is_some()),
                ("bounds", measure.bounds.is_some()),
            ] {
                if present {
                    errors.push(field(name), "a count takes no category, pointer or bounds");
                }
            }
            if columns.iter().any(|column| column == "count") {
                errors.push(field("op"), "the dataset counts once");
                return None;
            }
            columns.push("count".to_owned());
            Some(Measure {
                op: MeasureOp::Count,
                source: None,
                bounds: None,
                column: "count".to_owned(),
            })
        }
        MeasureOp::Sum | MeasureOp::Mean => {
            let category = match &measure.category {
                Some(raw) => read(raw, &field("category"), errors),
                None => {
                    errors.push(field("category"), "a sum or mean reads a category");
                    None
                }
            };
            let column = match &measure.pointer {
                Some(pointer) => match last_segment(pointer) {
                    Ok(segment) => {
                        let column = format!("{}_{segment}", measure.op.as_str());
                        if columns.contains(&column) {
                            errors.push(
                                field("pointer"),
                                format!("another column is already named `{column}`"),
                            );
                            None
                        } else {
                            columns.push(column.clone());
                            Some(column)
                        }
                    }
                    Err(message) => {
                        errors.push(field("pointer"), message);
                        None
                    }
                },
                None => {
                    errors.push(field("pointer"), "a sum or mean points at a number");
                    None
                }
            };
            if noised && measure.bounds.is_none() {
                errors.push(
                    field("bounds"),
                    "required with epsilon: values are clamped to [lo, hi] and the noise calibrated to it",
                );
            }
            Some(Measure {
                op: measure.op,
                source: Some((category?, measure.pointer.clone()?)),
                bounds,
                column: column?,
            })
        }
    }
}

/// The unescaped last segment of an RFC 6901 JSON Pointer with at least
/// one segment: the column its values go under.
pub fn last_segment(pointer: &str) -> Result<String, String> {
    if pointer.chars().count() > MAX_POINTER_CHARS {
        return Err(format!("at most {MAX_POINTER_CHARS} characters"));
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("an RFC 6901 JSON Pointer starts with `/`, such as `/region`".to_owned());
    };
    let mut last = String::new();
    for segment in rest.split('/') {
        last = unescape(segment)?;
    }
    if last.is_empty() {
        return Err("the pointer's last segment names the column: it cannot be empty".to_owned());
    }
    if last.chars().any(char::is_control) {
        return Err("no control characters".to_owned());
    }
    Ok(last)
}

/// RFC 6901: `~1` is `/`, `~0` is `~`, any other `~` is malformed.
fn unescape(segment: &str) -> Result<String, String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err("`~` must be followed by 0 or 1 (RFC 6901)".to_owned()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// A validated license body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseSpec {
    pub dataset: String,
    pub licensee: super::ThirdPartyId,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub data_life_days: u32,
}

/// The longest a build's rows may live.
pub const MAX_DATA_LIFE_DAYS: u32 = 3650;

impl LicenseSpec {
    /// Checks what can be checked without the store (that the dataset and
    /// the licensee exist is the caller's to check).
    pub fn parse(
        body: &datacoop_wire::CreateLicense,
        now: DateTime<Utc>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let licensee = super::ThirdPartyId::parse(&body.licensee);
        if licensee.is_none() {
            errors.push("licensee", "not a third party's id");
        }
        if body.dataset.trim().is_empty() {
            errors.push("dataset", "a dataset's id");
        }
        let valid_from = errors.check("valid_from", super::instant::bounded(body.valid_from));
        let valid_until = errors.check("valid_until", super::instant::bounded(body.valid_until));
        if body.valid_until <= body.valid_from {
            errors.push("valid_until", "later than valid_from");
        }
        if body.valid_until <= now {
            errors.push("valid_until", "later than now");
        }
        if !(1..=MAX_DATA_LIFE_DAYS).contains(&body.data_life_days) {
            errors.push(
                "data_life_days",
                format!("from 1 to {MAX_DATA_LIFE_DAYS} days"),
            );
        }
        errors.finish(|| {
            Some(Self {
                dataset: body.dataset.clone(),
                licensee: licensee?,
                valid_from: valid_from?,
                valid_until: valid_until?,
                data_life_days: body.data_life_days,
            })
        })
    }
}

/// A stored license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub id: String,
    pub spec: LicenseSpec,
    pub status: datacoop_wire::LicenseStatus,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl License {
    pub fn to_wire(&self, log_index: Option<u64>) -> datacoop_wire::License {
        datacoop_wire::License {
            id: self.id.clone(),
            dataset: self.spec.dataset.clone(),
            licensee: self.spec.licensee.to_string(),
            valid_from: self.spec.valid_from,
            valid_until: self.spec.valid_until,
            data_life_days: self.spec.data_life_days,
            status: self.status,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
            log_index,
        }
    }

    /// In force at `now`: active and inside its window.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.status == datacoop_wire::LicenseStatus::Active
            && self.spec.valid_from <= now
            && now < self.spec.valid_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_follow_rfc_6901() {
        assert_eq!(last_segment("/region").unwrap(), "region");
        assert_eq!(last_segment("/a/b~1c").unwrap(), "b/c");
        assert_eq!(last_segment("/a/m~0n").unwrap(), "m~n");
        assert!(last_segment("region").is_err());
        assert!(last_segment("").is_err());
        assert!(last_segment("/").is_err());
        assert!(last_segment("/a/").is_err());
        assert!(last_segment("/a~2").is_err());
        assert!(last_segment("/a~").is_err());
        // The column is what serde_json's own RFC 6901 lookup reads.
        let value = serde_json::json!({"a": {"b/c": 1, "m~n": 2}});
        assert_eq!(value.pointer("/a/b~1c"), Some(&serde_json::json!(1)));
        assert_eq!(value.pointer("/a/m~0n"), Some(&serde_json::json!(2)));
    }
}
