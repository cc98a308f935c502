//! Batch normalization with batch statistics by nested loops over `(N, C, S)` (`S` the product
//! of the dims after 1), in f64: the mean and the biased variance of each channel by their
//! definitions, then `y`; the backward pass by its closed form.

use super::RefStorage;
use crate::{Layout, Result};

/// `(N, C, S)` of an `(N, C, *)` layout.
fn sizes(l: &Layout) -> (usize, usize, usize) {
    let d = l.dims();
    (d[0], d[1], d[2..].iter().product())
}

/// Per channel: the values of channel `ch` of `v` (`(N, C, S)` row-major), in order.
fn channel(v: &[f64], (n, c, s): (usize, usize, usize), ch: usize) -> Vec<f64> {
    (0..n)
        .flat_map(|i| v[(i * c + ch) * s..(i * c + ch + 1) * s].iter().copied())
        .collect()
}

/// Per-channel mean and biased variance.
fn stats(x: &[f64], dims: (usize, usize, usize)) -> (Vec<f64>, Vec<f64>) {
    (0..dims.1)
        .map(|ch| {
            let v = channel(x, dims, ch);
            let m = v.len() as f64;
            let mean = v.iter().sum::<f64>() / m;
            (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m)
        })
        .unzip()
}

/// `(y, mean, var)`.
pub(super) fn forward(
    (s, l): (&RefStorage, &Layout),
    w: (&RefStorage, &Layout),
    b: (&RefStorage, &Layout),
    eps: f64,
) -> Result<(RefStorage, RefStorage, RefStorage)> {
    const OP: &str = "batch_norm";
    s.expect_float(OP)?;
    w.0.expect_dtype(OP, s.dtype)?;
    b.0.expect_dtype(OP, s.dtype)?;
    let (x, wv, bv) = (s.values(l), w.0.values(w.1), b.0.values(b.1));
    let dims = sizes(l);
    let (mean, var) = stats(&x, dims);
    let y = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / dims.2) % dims.1;
            (v - mean[ch]) / (var[ch] + eps).sqrt() * wv[ch] + bv[ch]
        })
        .collect();
    let r = |v| RefStorage::rounded(s.dtype, v);
    Ok((r(y), r(mean), r(var)))
}

/// `y` with the given statistics.
pub(super) fn forward_eval(
    (s, l): (&RefStorage, &Layout),
    (mean, var): (&RefStorage, &RefStorage),
    w: (&RefStorage, &Layout),
    b: (&RefStorage, &Layout),
    eps: f64,
) -> Result<RefStorage> {
    const OP: &str = "batch_norm_eval";
    s.expect_float(OP)?;
    for o in [mean, var, w.0, b.0] {
        o.expect_dtype(OP, s.dtype)?;
    }
    let (x, wv, bv) = (s.values(l), w.0.values(w.1), b.0.values(b.1));
    let dims = sizes(l);
    let y = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / dims.2) % dims.1;
            (v - mean.data[ch]) / (var.data[ch] + eps).sqrt() * wv[ch] + bv[ch]
        })
        .collect();
    Ok(RefStorage::rounded(s.dtype, y))
}

/// `(dx, dw, db)` from `gy` (`s`); `dx` empty unless `need_dx`. With `batch_stats` the
/// statistics were the batch's (training mode), else given (evaluation mode).
pub(super) fn backward(
    (s, l): (&RefStorage, &Layout),
    x: (&RefStorage, &Layout),
    (mean, var): (&RefStorage, &RefStorage),
    w: (&RefStorage, &Layout),
    eps: f64,
    (batch_stats, need_dx): (bool, bool),
) -> Result<(RefStorage, RefStorage, RefStorage)> {
    const OP: &str = "batch_norm_backward";
    s.expect_float(OP)?;
    for o in [x.0, mean, var, w.0] {
        o.expect_dtype(OP, s.dtype)?;
    }
    let dims = sizes(l);
    let (gy, xv, wv) = (s.values(l), x.0.values(x.1), w.0.values(w.1));
    let (mean, var) = (&mean.data, &var.data);
    let m = (dims.0 * dims.2) as f64;
    let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let ch_of = |i: usize| (i / dims.2) % dims.1;
    let (mut db, mut dw) = (vec![0.0; dims.1], vec![0.0; dims.1]);
    for (i, (&g, &xi)) in gy.iter().zip(&xv).enumerate() {
        let ch = ch_of(i);
        db[ch] += g;
        dw[ch] += g * (xi - mean[ch]) * invstd[ch];
    }
    let dx = if need_dx {
        gy.iter()
            .zip(&xv)
            .enumerate()
            .map(|(i, (&g, &xi))| {
                let ch = ch_of(i);
                let xhat = (xi - mean[ch]) * invstd[ch];
                if batch_stats {
                    wv[ch] * invstd[ch] * (g - db[ch] / m - xhat * dw[ch] / m)
                } else {
                    wv[ch] * invstd[ch] * g
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let r = |v| RefStorage::rounded(s.dtype, v);
    Ok((r(dx), r(dw), r(db)))
}
