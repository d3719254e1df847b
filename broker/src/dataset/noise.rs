//! Calibrated Laplace noise for aggregate dataset releases, through OpenDP.
//!
//! Every released cell (a count, or a sum of clamped member values) gets
//! independent Laplace noise of scale `b = sensitivity / epsilon`, sampled by
//! OpenDP's exact discrete-Laplace sampler (CKS20) from OpenDP's secure byte
//! source (OpenSSL `RAND_priv_bytes` with its `use-openssl` feature).
//!
//! * Integer cells (counts, sums of integer values) get integer noise:
//!   OpenDP's `make_laplace` over `i64`, i.e. the discrete Laplace
//!   (two-sided geometric) distribution, `P(x) ∝ exp(-|x| / b)`.
//! * Real-valued sums get OpenDP's floating-point Laplace: the value is rounded
//!   to a multiple of `2^k`, discrete-Laplace noise in units of `2^k` is added
//!   and the result is turned back into the nearest `f64`. OpenDP's privacy map
//!   charges for the rounding (at most `2^k` more sensitivity), and `k` is
//!   chosen [`GRANULARITY_BITS`] binary orders of magnitude below the
//!   sensitivity, so the charge is a factor `1 + 2^-40` that the calibration
//!   absorbs into the scale.
//!
//! A mechanism is calibrated once: its scale is chosen so that OpenDP's own
//! privacy map, applied to the stated sensitivity, gives at most the requested
//! epsilon. OpenDP's `Measurement` is neither `Send` nor `Sync`, so a
//! mechanism keeps only its calibrated parameters and builds the measurement
//! again for each release call (microseconds); a mechanism can therefore be
//! shared between tasks.
//!
//! Sensitivity is "add or remove one member": a count changes by at most 1, a
//! sum of values clamped to `[lo, hi]` by at most `max(|lo|, |hi|)`. When one
//! member can touch several cells of one release, the epsilon of a vector
//! release is that of the whole vector only if the stated sensitivity bounds
//! the L1 change of the whole vector (use [`IntegerLaplace::new`] with the
//! larger sensitivity, or split epsilon).

use std::fmt;

use opendp::core::Measurement;
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::make_laplace;
use opendp::measures::MaxDivergence;
use opendp::metrics::{AbsoluteDistance, L1Distance};

/// How far below the sensitivity the grid of real-valued noise lies, in
/// binary orders of magnitude: `k = floor(log2(sensitivity)) - 40`.
///
/// OpenDP's default grid (`2^-1074`, every `f64`) is exact but samples
/// ~1,100-bit integers and is about three times slower.
pub const GRANULARITY_BITS: i32 = 40;

/// The finest grid OpenDP accepts for `f64` (the subnormal spacing).
const MIN_K: i32 = -1074;

/// How many times calibration may grow the scale before giving up; in
/// practice zero or one step is needed.
const MAX_CALIBRATION_STEPS: usize = 64;

/// Why noise could not be configured or added.
#[derive(Debug, Clone, PartialEq)]
pub enum NoiseError {
    /// A parameter (epsilon, bounds, sensitivity) was out of range.
    InvalidParameter(String),
    /// A value to release cannot be represented (non-finite, or too large).
    InvalidInput(String),
    /// OpenDP refused to build the measurement, map it, or sample.
    OpenDp(String),
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidParameter(why) => write!(f, "invalid noise parameter: {why}"),
            Self::InvalidInput(why) => write!(f, "value cannot be released: {why}"),
            Self::OpenDp(why) => write!(f, "OpenDP: {why}"),
        }
    }
}

impl std::error::Error for NoiseError {}

impl From<opendp::error::Error> for NoiseError {
    fn from(error: opendp::error::Error) -> Self {
        // `Display` of an OpenDP error shows only its variant; `Debug` adds a
        // backtrace. Keep the variant and the message.
        match error.message {
            Some(message) => Self::OpenDp(format!("{}: {message}", error.variant)),
            None => Self::OpenDp(error.variant.to_string()),
        }
    }
}

/// Clamps `value` into `bounds = (lo, hi)`; NaN becomes `lo`.
///
/// Never panics (unlike `f64::clamp`); with `lo > hi` the result is `hi`.
#[must_use]
pub fn clamp(value: f64, bounds: (f64, f64)) -> f64 {
    let (lo, hi) = bounds;
    value.max(lo).min(hi)
}

/// Clamps an integer `value` into `bounds = (lo, hi)`; with `lo > hi` the
/// result is `hi` (never panics, unlike `Ord::clamp`).
#[must_use]
pub fn clamp_int(value: i64, bounds: (i64, i64)) -> i64 {
    let (lo, hi) = bounds;
    value.max(lo).min(hi)
}

type IntegerMeasurement =
    Measurement<VectorDomain<AtomDomain<i64>>, L1Distance<i64>, MaxDivergence, Vec<i64>>;
type RealMeasurement = Measurement<AtomDomain<f64>, AbsoluteDistance<f64>, MaxDivergence, f64>;

fn check_epsilon(epsilon: f64) -> Result<(), NoiseError> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(NoiseError::InvalidParameter(format!(
            "epsilon must be finite and positive, not {epsilon}"
        )))
    }
}

/// Finds a scale, from `start` upwards, whose privacy map (from `spent`) is
/// at most `epsilon`; returns it and the epsilon actually spent.
///
/// The map is linear in `1 / scale`, so a too-small scale is grown by the
/// ratio of spent to requested epsilon (plus one ulp against rounding).
fn calibrate(
    epsilon: f64,
    start: f64,
    spent: impl Fn(f64) -> Result<f64, NoiseError>,
) -> Result<(f64, f64), NoiseError> {
    let mut scale = start;
    for _ in 0..MAX_CALIBRATION_STEPS {
        let used = spent(scale)?;
        if used <= epsilon {
            return Ok((scale, used));
        }
        scale = (scale * (used / epsilon)).next_up();
    }
    Err(NoiseError::InvalidParameter(format!(
        "no scale near {start} gives epsilon {epsilon}"
    )))
}

/// Integer Laplace (discrete Laplace) noise for counts and integer sums.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegerLaplace {
    sensitivity: i64,
    scale: f64,
    epsilon: f64,
}

impl IntegerLaplace {
    /// Noise for counts: sensitivity 1.
    pub fn counts(epsilon: f64) -> Result<Self, NoiseError> {
        Self::new(epsilon, 1)
    }

    /// Noise for sums of integer values clamped to `bounds = (lo, hi)`:
    /// sensitivity `max(|lo|, |hi|)`.
    pub fn sums(epsilon: f64, bounds: (i64, i64)) -> Result<Self, NoiseError> {
        let (lo, hi) = bounds;
        if lo > hi {
            return Err(NoiseError::InvalidParameter(format!(
                "bounds ({lo}, {hi}) are reversed"
            )));
        }
        let sensitivity = lo.unsigned_abs().max(hi.unsigned_abs());
        Self::new(epsilon, sensitivity)
    }

    /// Noise for integer cells whose L1 change, when one member is added or
    /// removed, is at most `sensitivity` (at least 1).
    pub fn new(epsilon: f64, sensitivity: u64) -> Result<Self, NoiseError> {
        check_epsilon(epsilon)?;
        let sensitivity = i64::try_from(sensitivity)
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                NoiseError::InvalidParameter(format!(
                    "sensitivity must be in 1..=i64::MAX, not {sensitivity}"
                ))
            })?;
        // i64 -> f64 may round; the privacy map below is exact and decides.
        let start = sensitivity as f64 / epsilon;
        let (scale, epsilon) = calibrate(epsilon, start, |scale| {
            Ok(Self::measurement(scale)?.map(&sensitivity)?)
        })?;
        Ok(Self {
            sensitivity,
            scale,
            epsilon,
        })
    }

    fn measurement(scale: f64) -> Result<IntegerMeasurement, NoiseError> {
        Ok(make_laplace(
            VectorDomain::new(AtomDomain::<i64>::default()),
            L1Distance::<i64>::default(),
            scale,
            None,
        )?)
    }

    /// The Laplace scale `b` (noise standard deviation is about `b·√2`).
    #[must_use]
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The stated sensitivity.
    #[must_use]
    pub fn sensitivity(&self) -> i64 {
        self.sensitivity
    }

    /// The epsilon OpenDP's privacy map gives for the stated sensitivity: at
    /// most the one requested (equal up to float rounding).
    #[must_use]
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The epsilon OpenDP's privacy map gives for a sensitivity `d_in`.
    pub fn privacy_map(&self, d_in: i64) -> Result<f64, NoiseError> {
        Ok(Self::measurement(self.scale)?.map(&d_in)?)
    }

    /// Releases one noisy count.
    pub fn release_count(&self, true_count: u64) -> Result<i64, NoiseError> {
        self.release_one(count_to_i64(true_count)?)
    }

    /// Releases many noisy counts at once (one OpenDP call), independent
    /// noise on each.
    pub fn release_counts(&self, true_counts: &[u64]) -> Result<Vec<i64>, NoiseError> {
        let values = true_counts
            .iter()
            .map(|c| count_to_i64(*c))
            .collect::<Result<Vec<_>, _>>()?;
        self.release(&values)
    }

    /// Releases one noisy integer sum (of values clamped by the caller).
    pub fn release_sum(&self, true_sum: i64) -> Result<i64, NoiseError> {
        self.release_one(true_sum)
    }

    /// Releases many noisy integers at once; results saturate at the `i64`
    /// range.
    pub fn release(&self, true_values: &[i64]) -> Result<Vec<i64>, NoiseError> {
        let released = Self::measurement(self.scale)?.invoke(&true_values.to_vec())?;
        if released.len() == true_values.len() {
            Ok(released)
        } else {
            Err(NoiseError::OpenDp(format!(
                "{} values in, {} out",
                true_values.len(),
                released.len()
            )))
        }
    }

    fn release_one(&self, value: i64) -> Result<i64, NoiseError> {
        self.release(&[value])?
            .first()
            .copied()
            .ok_or_else(|| NoiseError::OpenDp("no value released".to_owned()))
    }
}

fn count_to_i64(count: u64) -> Result<i64, NoiseError> {
    i64::try_from(count)
        .map_err(|_| NoiseError::InvalidInput(format!("count {count} exceeds i64::MAX")))
}

/// Laplace noise for real-valued sums of clamped values.
///
/// Note: the sensitivity `max(|lo|, |hi|)` holds for the exact sum. A sum
/// accumulated in `f64` also carries rounding error that depends on the
/// data; where values are money or other fixed-point quantities, sum them as
/// integers (e.g. cents) and use [`IntegerLaplace::sums`].
#[derive(Debug, Clone, PartialEq)]
pub struct RealLaplace {
    sensitivity: f64,
    k: i32,
    scale: f64,
    epsilon: f64,
}

impl RealLaplace {
    /// Noise for sums of values clamped to `bounds = (lo, hi)`: sensitivity
    /// `max(|lo|, |hi|)`, which must be positive.
    pub fn sums(epsilon: f64, bounds: (f64, f64)) -> Result<Self, NoiseError> {
        let (lo, hi) = bounds;
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(NoiseError::InvalidParameter(format!(
                "bounds ({lo}, {hi}) must be finite and ordered"
            )));
        }
        Self::new(epsilon, lo.abs().max(hi.abs()))
    }

    /// Noise for real cells whose change, when one member is added or removed,
    /// is at most `sensitivity` (finite and positive).
    pub fn new(epsilon: f64, sensitivity: f64) -> Result<Self, NoiseError> {
        check_epsilon(epsilon)?;
        if !(sensitivity.is_finite() && sensitivity > 0.0) {
            return Err(NoiseError::InvalidParameter(format!(
                "sensitivity must be finite and positive, not {sensitivity}"
            )));
        }
        // floor(log2(s)) of a finite positive f64 lies in -1074..=1023.
        let k = ((sensitivity.log2().floor() as i32) - GRANULARITY_BITS).max(MIN_K);
        // Rounding onto the 2^k grid adds up to 2^k to the sensitivity.
        // (`exp2` is exact for integers; `powi` would underflow below 2^-1023.)
        let start = (sensitivity + f64::from(k).exp2()) / epsilon;
        let (scale, epsilon) = calibrate(epsilon, start, |scale| {
            Ok(Self::measurement(scale, k)?.map(&sensitivity)?)
        })?;
        Ok(Self {
            sensitivity,
            k,
            scale,
            epsilon,
        })
    }

    fn measurement(scale: f64, k: i32) -> Result<RealMeasurement, NoiseError> {
        Ok(make_laplace(
            AtomDomain::<f64>::new_non_nan(),
            AbsoluteDistance::<f64>::default(),
            scale,
            Some(k),
        )?)
    }

    /// The Laplace scale `b`.
    #[must_use]
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The stated sensitivity.
    #[must_use]
    pub fn sensitivity(&self) -> f64 {
        self.sensitivity
    }

    /// The noise grid: released values are multiples of `2^k` before the
    /// final rounding to `f64`.
    #[must_use]
    pub fn granularity_exponent(&self) -> i32 {
        self.k
    }

    /// The epsilon OpenDP's privacy map gives for the stated sensitivity: at
    /// most the one requested (equal up to float rounding).
    #[must_use]
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The epsilon OpenDP's privacy map gives for a sensitivity `d_in`.
    pub fn privacy_map(&self, d_in: f64) -> Result<f64, NoiseError> {
        Ok(Self::measurement(self.scale, self.k)?.map(&d_in)?)
    }

    /// Releases one noisy sum (of values clamped by the caller).
    pub fn release_sum(&self, true_sum: f64) -> Result<f64, NoiseError> {
        let measurement = Self::measurement(self.scale, self.k)?;
        release_real(&measurement, true_sum)
    }

    /// Releases many noisy sums, independent noise on each.
    pub fn release_sums(&self, true_sums: &[f64]) -> Result<Vec<f64>, NoiseError> {
        let measurement = Self::measurement(self.scale, self.k)?;
        true_sums
            .iter()
            .map(|sum| release_real(&measurement, *sum))
            .collect()
    }
}

fn release_real(measurement: &RealMeasurement, value: f64) -> Result<f64, NoiseError> {
    if !value.is_finite() {
        // OpenDP would silently treat NaN as 0 and clamp infinities.
        return Err(NoiseError::InvalidInput(format!(
            "sum {value} is not finite"
        )));
    }
    Ok(measurement.invoke(&value)?)
}

#[cfg(test)]
mod tests {
    //! The empirical tests draw from OpenDP's secure RNG, which cannot be
    //! seeded, so they are random. Each assertion on a sample uses a tolerance
    //! with a *proven* false-failure probability of at most `DELTA`
    //! (2.5e-7); the suite makes four such assertions, so a correct
    //! implementation fails it with probability below 1e-6.
    //!
    //! Tolerances come from the Chernoff bound with the distribution's exact
    //! moment generating function M: for the mean Ȳ of n iid copies of Y and
    //! every λ in (0, λmax),
    //!     P(Ȳ ≥ a) ≤ exp(n·(ln M(λ) − λ·a))        (upper tail)
    //!     P(Ȳ ≤ a) ≤ exp(n·(ln M(−λ) + λ·a))       (lower tail).
    //! Any λ gives a valid bound, so the minimum over a grid of λ is still a
    //! valid upper bound (just slightly looser than the infimum). The
    //! tolerance t is found by bisection as a point where
    //! P(Ȳ ≥ μ+t) + P(Ȳ ≤ μ−t) ≤ DELTA by these bounds; both bounds fall as t
    //! grows, so any |Ȳ − μ| > t has probability at most DELTA.
    //! (Chebyshev, P(|Ȳ − μ| ≥ t) ≤ σ²/(n·t²), would need t = σ/√(n·DELTA)
    //! = 2000·σ/√n, about 40 for b = 2: useless for spotting a wrong scale.
    //! Chernoff with the exact MGF gives about 5.6·σ/√n; see
    //! `tolerances_detect_a_wrong_scale`.)
    //!
    //! Discrete Laplace of scale b (integer noise), with p = e^(−1/b):
    //!     P(X = x)  = (1−p)/(1+p) · p^|x|
    //!     M_X(λ)    = (1−p)² / ((1 − p·e^λ)(1 − p·e^−λ)),   |λ| < 1/b
    //!     E X = 0,  Var X = 2p/(1−p)²  (= 2e^(−1/b)/(1−e^(−1/b))²)
    //!     E|X|      = 2p/(1−p²)        (→ b as b grows; 1.919 for b = 2)
    //!     M_|X|(λ)  = (1−p)/(1+p) · (1 + p·e^λ)/(1 − p·e^λ),  λ < 1/b
    //! Continuous Laplace of scale b:
    //!     M_X(λ) = 1/(1 − b²λ²), |λ| < 1/b;  |X| ~ Exponential(mean b),
    //!     M_|X|(λ) = 1/(1 − bλ), λ < 1/b;  E|X| = b, Var X = 2b².
    //! OpenDP's real-valued noise is discrete Laplace on the grid g = 2^k
    //! with g ≈ 2^−40·sensitivity; its E|X| is b − g²/(6b) + O(g⁴/b³) and
    //! its MGF differs from the continuous one by as little, far below the
    //! tolerances, so the continuous formulas are used for it.

    use super::*;

    const N: usize = 20_000;
    const DELTA: f64 = 2.5e-7;
    const GRID: usize = 4_000;

    /// Chernoff bound on P(mean of n copies ≥ a), `ln_mgf` valid on
    /// (0, lambda_max).
    fn upper_tail(ln_mgf: &dyn Fn(f64) -> f64, lambda_max: f64, a: f64, n: f64) -> f64 {
        (1..GRID)
            .map(|i| lambda_max * i as f64 / GRID as f64)
            .map(|l| (n * (ln_mgf(l) - l * a)).exp())
            .fold(1.0, f64::min)
    }

    /// Chernoff bound on P(mean of n copies ≤ a), `ln_mgf` valid on
    /// (−lambda_max, 0).
    fn lower_tail(ln_mgf: &dyn Fn(f64) -> f64, lambda_max: f64, a: f64, n: f64) -> f64 {
        upper_tail(&|l| ln_mgf(-l), lambda_max, -a, n)
    }

    /// A t with P(|mean − mu| ≥ t) ≤ DELTA by the two Chernoff bounds.
    fn tolerance(
        ln_mgf: &dyn Fn(f64) -> f64,
        lambda_up: f64,
        lambda_down: f64,
        mu: f64,
        n: usize,
    ) -> f64 {
        let n = n as f64;
        let bound = |t: f64| {
            upper_tail(ln_mgf, lambda_up, mu + t, n) + lower_tail(ln_mgf, lambda_down, mu - t, n)
        };
        let (mut lo, mut hi) = (0.0, mu.abs().max(1.0));
        while bound(hi) > DELTA {
            hi *= 2.0;
        }
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if bound(mid) > DELTA {
                lo = mid
            } else {
                hi = mid
            }
        }
        hi
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    #[test]
    fn count_noise_is_discrete_laplace_of_the_configured_scale() {
        let epsilon = 0.5;
        let mechanism = IntegerLaplace::counts(epsilon).unwrap();
        let b = mechanism.scale();
        assert!((b - 2.0).abs() < 1e-12, "scale {b}");

        let true_count = 1_000u64;
        let released = mechanism.release_counts(&vec![true_count; N]).unwrap();
        assert_eq!(released.len(), N);
        let noise: Vec<f64> = released.iter().map(|r| (r - 1_000) as f64).collect();

        let p = (-1.0 / b).exp();
        let lmax = 1.0 / b;

        // (a) mean of the noise ≈ 0
        let ln_mgf_x =
            |l: f64| 2.0 * (1.0 - p).ln() - (1.0 - p * l.exp()).ln() - (1.0 - p * (-l).exp()).ln();
        let t_mean = tolerance(&ln_mgf_x, lmax, lmax, 0.0, N);
        let m = mean(&noise);
        println!("discrete: mean noise {m:.4}, tolerance ±{t_mean:.4}");
        assert!(m.abs() <= t_mean, "mean noise {m} outside ±{t_mean}");

        // (b) mean absolute deviation ≈ E|X| = 2p/(1−p²) for scale b
        let mad_expected = 2.0 * p / (1.0 - p * p);
        let ln_mgf_abs = |l: f64| {
            ((1.0 - p) / (1.0 + p)).ln() + (1.0 + p * l.exp()).ln() - (1.0 - p * l.exp()).ln()
        };
        let t_mad = tolerance(&ln_mgf_abs, lmax, 50.0 * lmax, mad_expected, N);
        let abs: Vec<f64> = noise.iter().map(|x| x.abs()).collect();
        let mad = mean(&abs);
        println!("discrete: E|X| {mad:.4}, expected {mad_expected:.4} ± {t_mad:.4}");
        assert!(
            (mad - mad_expected).abs() <= t_mad,
            "E|X| {mad}, expected {mad_expected} ± {t_mad}"
        );
        // The variance, for the record (not asserted): 2p/(1−p)².
        let var = mean(&noise.iter().map(|x| (x - m) * (x - m)).collect::<Vec<_>>());
        println!(
            "discrete: variance {var:.3}, expected {:.3}",
            2.0 * p / ((1.0 - p) * (1.0 - p))
        );
    }

    #[test]
    fn sum_noise_is_laplace_of_the_configured_scale() {
        let epsilon = 1.0;
        let mechanism = RealLaplace::sums(epsilon, (-3.0, 7.5)).unwrap();
        let b = mechanism.scale();
        assert!((b / 7.5 - 1.0).abs() < 1e-11, "scale {b}");

        let true_sum = 1_000.25;
        let released = mechanism.release_sums(&vec![true_sum; N]).unwrap();
        let noise: Vec<f64> = released.iter().map(|r| r - true_sum).collect();
        let lmax = 1.0 / b;
        // released − true_sum is exact in f64 here (all values are multiples
        // of 2^k and below 2^(53+k)); allow 1e-9 for the discretisation bias.
        let slack = 1e-9;

        // (a) mean of the noise ≈ 0
        let ln_mgf_x = |l: f64| -(1.0 - b * b * l * l).ln();
        let t_mean = tolerance(&ln_mgf_x, lmax, lmax, 0.0, N) + slack;
        let m = mean(&noise);
        println!("real: mean noise {m:.4}, tolerance ±{t_mean:.4}");
        assert!(m.abs() <= t_mean, "mean noise {m} outside ±{t_mean}");

        // (b) mean absolute deviation ≈ b
        let ln_mgf_abs = |l: f64| -(1.0 - b * l).ln();
        let t_mad = tolerance(&ln_mgf_abs, lmax, 50.0 * lmax, b, N) + slack;
        let mad = mean(&noise.iter().map(|x| x.abs()).collect::<Vec<_>>());
        println!("real: E|X| {mad:.4}, expected {b:.4} ± {t_mad:.4}");
        assert!(
            (mad - b).abs() <= t_mad,
            "E|X| {mad}, expected {b} ± {t_mad}"
        );
        let var = mean(&noise.iter().map(|x| (x - m) * (x - m)).collect::<Vec<_>>());
        println!("real: variance {var:.3}, expected {:.3}", 2.0 * b * b);
    }

    #[test]
    fn tolerances_detect_a_wrong_scale() {
        // Sanity of the test itself: the E|X| tolerance is a few percent of
        // b, so noise at 0.9·b or 1.1·b would be caught.
        let b = 7.5;
        let t = tolerance(&|l: f64| -(1.0 - b * l).ln(), 1.0 / b, 50.0 / b, b, N);
        assert!(t < 0.05 * b, "tolerance {t}");
        let b: f64 = 2.0;
        let p = (-1.0 / b).exp();
        let t = tolerance(
            &|l: f64| 2.0 * (1.0 - p).ln() - (1.0 - p * l.exp()).ln() - (1.0 - p * (-l).exp()).ln(),
            1.0 / b,
            1.0 / b,
            0.0,
            N,
        );
        let sigma = (2.0 * p).sqrt() / (1.0 - p);
        assert!(t < 6.0 * sigma / (N as f64).sqrt(), "tolerance {t}");
    }

    #[test]
    fn privacy_map_gives_the_requested_epsilon() {
        for epsilon in [0.01, 0.1, 0.3, 0.5, 1.0, 2.3, 10.0] {
            let counts = IntegerLaplace::counts(epsilon).unwrap();
            assert_eq!(counts.sensitivity(), 1);
            let spent = counts.privacy_map(1).unwrap();
            assert_eq!(spent, counts.epsilon());
            assert!(
                spent <= epsilon && spent >= epsilon * (1.0 - 1e-12),
                "{spent} vs {epsilon}"
            );
            assert!((counts.scale() * epsilon - 1.0).abs() < 1e-12);
            // twice the sensitivity costs twice the epsilon
            let twice = counts.privacy_map(2).unwrap();
            assert!((twice / (2.0 * epsilon) - 1.0).abs() < 1e-12);

            let int_sums = IntegerLaplace::sums(epsilon, (-5, 10)).unwrap();
            assert_eq!(int_sums.sensitivity(), 10);
            let spent = int_sums.privacy_map(10).unwrap();
            assert!(
                spent <= epsilon && spent >= epsilon * (1.0 - 1e-12),
                "{spent} vs {epsilon}"
            );
            assert!((int_sums.scale() * epsilon / 10.0 - 1.0).abs() < 1e-12);

            let sums = RealLaplace::sums(epsilon, (-12.5, 3.0)).unwrap();
            assert_eq!(sums.sensitivity(), 12.5);
            let spent = sums.privacy_map(12.5).unwrap();
            assert_eq!(spent, sums.epsilon());
            // the 2^k rounding charge is a factor 1 + 2^-40 folded into the scale
            assert!(
                spent <= epsilon && spent >= epsilon * (1.0 - 1e-12),
                "{spent} vs {epsilon}"
            );
            assert!((sums.scale() * epsilon / 12.5 - 1.0).abs() < 1e-11);
        }
    }

    #[test]
    fn extreme_sensitivities_calibrate() {
        for sensitivity in [1e-300, 1e-9, 0.75, 1e6, 1e300] {
            let m = RealLaplace::new(0.7, sensitivity).unwrap();
            assert!(m.epsilon() <= 0.7 && m.epsilon() >= 0.7 * (1.0 - 1e-12));
            m.release_sum(0.0).unwrap();
        }
        let m = IntegerLaplace::new(0.7, i64::MAX as u64).unwrap();
        assert!(m.epsilon() <= 0.7 && m.epsilon() >= 0.7 * (1.0 - 1e-12));
        let m = IntegerLaplace::sums(1.0, (i64::MIN + 1, 0)).unwrap();
        assert_eq!(m.sensitivity(), i64::MAX);
    }

    #[test]
    fn bad_parameters_and_inputs_are_errors() {
        for epsilon in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                IntegerLaplace::counts(epsilon),
                Err(NoiseError::InvalidParameter(_))
            ));
            assert!(matches!(
                RealLaplace::sums(epsilon, (0.0, 1.0)),
                Err(NoiseError::InvalidParameter(_))
            ));
        }
        assert!(RealLaplace::sums(1.0, (2.0, 1.0)).is_err());
        assert!(RealLaplace::sums(1.0, (0.0, f64::INFINITY)).is_err());
        assert!(RealLaplace::sums(1.0, (0.0, 0.0)).is_err());
        assert!(IntegerLaplace::sums(1.0, (3, 1)).is_err());
        assert!(IntegerLaplace::sums(1.0, (0, 0)).is_err());
        assert!(IntegerLaplace::sums(1.0, (i64::MIN, 0)).is_err());

        let counts = IntegerLaplace::counts(1.0).unwrap();
        assert!(matches!(
            counts.release_count(u64::MAX),
            Err(NoiseError::InvalidInput(_))
        ));
        let sums = RealLaplace::sums(1.0, (0.0, 1.0)).unwrap();
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                sums.release_sum(bad),
                Err(NoiseError::InvalidInput(_))
            ));
        }
        let e = NoiseError::from(opendp::error::Error::from(
            opendp::error::ErrorVariant::FailedMap,
        ));
        assert_eq!(e.to_string(), "OpenDP: FailedMap");
    }

    #[test]
    fn releases_keep_shape_and_are_noisy() {
        let counts = IntegerLaplace::counts(1.0).unwrap();
        assert_eq!(counts.release_counts(&[]).unwrap(), Vec::<i64>::new());
        let many = counts.release_counts(&[5; 200]).unwrap();
        assert_eq!(many.len(), 200);
        assert!(many.iter().any(|c| *c != 5));
        counts.release_count(0).unwrap();
        // saturates rather than overflowing
        let near_max = counts.release(&[i64::MAX; 50]).unwrap();
        assert!(near_max.iter().all(|v| *v > i64::MAX - 1_000));
        let sums = RealLaplace::sums(1.0, (0.0, 1.0)).unwrap();
        assert_eq!(sums.release_sums(&[1.5, 2.5]).unwrap().len(), 2);
    }

    #[test]
    fn clamp_is_total() {
        assert_eq!(clamp(5.0, (0.0, 1.0)), 1.0);
        assert_eq!(clamp(-5.0, (0.0, 1.0)), 0.0);
        assert_eq!(clamp(0.5, (0.0, 1.0)), 0.5);
        assert_eq!(clamp(f64::NAN, (0.0, 1.0)), 0.0);
        assert_eq!(clamp(f64::INFINITY, (0.0, 1.0)), 1.0);
        assert_eq!(clamp_int(7, (-2, 3)), 3);
        assert_eq!(clamp_int(-7, (-2, 3)), -2);
    }

    #[test]
    fn mechanisms_can_be_shared_between_tasks() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<IntegerLaplace>();
        send_sync::<RealLaplace>();
        send_sync::<NoiseError>();
    }
}
