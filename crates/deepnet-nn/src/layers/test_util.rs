//! Helpers shared by the layers' tests.

use crate::ParamStore;

/// The logistic sigmoid in f64, for reference implementations.
pub(crate) fn sig(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// The largest absolute difference between two equally long slices.
pub(crate) fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs()))
}

/// The largest absolute value of any parameter of `store` (to check an initialization bound).
pub(crate) fn max_abs_param(store: &ParamStore) -> f64 {
    store
        .all_params()
        .iter()
        .flat_map(|(_, t)| t.to_vec_f64())
        .fold(0f64, |m, v| m.max(v.abs()))
}
