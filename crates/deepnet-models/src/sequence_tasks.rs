//! Classifiers for real sequence tasks whose sequences differ in length: time series (the
//! UCR/UEA archive) and text (the fine-food reviews).
//!
//! | model | input `x` | layers |
//! |---|---|---|
//! | [`SeriesRnnClassifier`] | `(N, L, F)` f32, NaN after each series | LSTM, GRU or RNN (lengths) -> last state or mean over valid steps -> `Linear` |
//! | [`Fcn`] | `(N, L, F)` f32, NaN after each series | 3 x (Conv 1-D, BatchNorm, ReLU) -> mean over valid steps -> `Linear` (Wang et al. 2017) |
//! | [`ReviewClassifier`] | `(N, L)` token ids, 0 after each text | Embedding -> bidirectional GRU (lengths) -> `[h_fwd, h_bwd]` -> `Linear` |
//!
//! # The lengths travel in the batch
//!
//! A [`Module`](deepnet_nn::Module) sees only `x`, and the training loop hands a step only
//! `(x, y)`, so each sequence's true length is written into `x` itself with an in-band marker that
//! no real value takes, and the models recover it before any arithmetic:
//!
//! - **time series**: the padding steps are NaN ([`SERIES_PAD`]). A loader pads with NaN and fills
//!   missing values with a number (`deepnet_data::UcrOptions { pad: f32::NAN, .. }`), so a step is
//!   padding exactly when all its values are NaN. [`split_nan_padding`] reads the lengths off the
//!   batch, checks that the padding is a suffix, and returns the values with the padding replaced
//!   by zeros and cut to the batch's longest sequence: the NaNs never reach an operation, a
//!   gradient or a statistic. NaN was chosen over a sentinel number because no z-normalized
//!   value can collide with it, and an unprocessed NaN would show at once in the loss.
//! - **text**: token id 0 is `<pad>`, which no real token has (`deepnet_data::WordVocab::PAD`);
//!   [`token_lengths`] counts each row's ids before its first 0 and checks that only 0s follow.
//!
//! The recurrent layers then run each sequence for its own length (`forward_with_state(x, h0,
//! lengths)`), and the pooling reads only valid steps, so the padding changes neither a
//! sequence's prediction nor the gradient (tested). [`Fcn`] zeroes every block's output past
//! each length, so its "same"-padded convolutions see exactly the zeros an unpadded sequence
//! gets; its batch norm, in training, takes the batch statistics over the padded positions too
//! (in evaluation it is per-element, so predictions are exactly padding-independent).

use deepnet_tensor::{DType, Error, Result, Tensor};

mod fcn;
mod series;
mod text;

pub use fcn::{Fcn, FcnConfig};
pub use series::{Pooling, SeriesRnnClassifier, SeriesRnnConfig};
pub use text::{ReviewClassifier, ReviewClassifierConfig};

/// The value that marks a padding step of a time-series batch (every value of the step).
pub const SERIES_PAD: f32 = f32::NAN;

fn bad(op: &str, msg: String) -> Error {
    Error::msg(format!("{op}: {msg}"))
}

/// Splits a NaN-padded batch of series `x: (N, L, F)` into `(values, lengths)`: `lengths[b]` is
/// the number of steps of row `b` before its padding (the steps whose values are all NaN), and
/// `values: (N, max(lengths), F)` (same dtype and device) holds the real values with the
/// padding replaced by zeros. Errors, naming `op`, when `x` is not 3-d or empty, when a row is
/// all padding, when a step is partly NaN (an unfilled missing value), or when a real step
/// follows a padding step.
pub fn split_nan_padding(op: &str, x: &Tensor) -> Result<(Tensor, Vec<usize>)> {
    let &[n, l, f] = x.dims() else {
        return Err(bad(
            op,
            format!(
                "expected a batch of series (N, L, F) (NaN after each series' last step), got {}",
                x.shape()
            ),
        ));
    };
    if n == 0 || l == 0 || f == 0 {
        return Err(bad(op, format!("empty batch of series {}", x.shape())));
    }
    let mut v = x.to_vec_f64();
    let mut lengths = Vec::with_capacity(n);
    for b in 0..n {
        let row = &mut v[b * l * f..(b + 1) * l * f];
        let mut len = None;
        for t in 0..l {
            let step = &row[t * f..(t + 1) * f];
            let nans = step.iter().filter(|x| x.is_nan()).count();
            if nans != 0 && nans != f {
                return Err(bad(
                    op,
                    format!(
                        "series {b}, step {t}: {nans} of {f} values are NaN; NaN marks padding \
                         and must fill whole steps (fill missing values before batching)"
                    ),
                ));
            }
            match (len, nans == f) {
                (None, true) => len = Some(t),
                (Some(end), false) => {
                    return Err(bad(
                        op,
                        format!(
                            "series {b}: step {t} has values after the padding that starts at \
                             step {end}; the padding must follow the series"
                        ),
                    ))
                }
                _ => {}
            }
        }
        let len = len.unwrap_or(l);
        if len == 0 {
            return Err(bad(
                op,
                format!("series {b} is all padding (NaN); every series needs a step"),
            ));
        }
        row[len * f..].iter_mut().for_each(|x| *x = 0.0);
        lengths.push(len);
    }
    let longest = lengths.iter().copied().max().unwrap_or(l);
    let kept: Vec<f64> = (0..n)
        .flat_map(|b| v[b * l * f..(b * l + longest) * f].iter().copied())
        .collect();
    let values = Tensor::from_vec_on(kept, [n, longest, f], x.device())?.to_dtype(x.dtype())?;
    Ok((values, lengths))
}

/// Splits right-padded token rows `x: (N, L)` (ids as int64 or as integral floats) into the ids
/// cut to the longest row, `(N, max(lengths))` int64, and each row's length: its ids before the
/// first `pad`. Errors, naming `op`, on another shape, an id that is negative or not an integer,
/// a row that starts with `pad`, or a real id after the padding.
pub fn token_lengths(op: &str, x: &Tensor, pad: i64) -> Result<(Tensor, Vec<usize>)> {
    let &[n, l] = x.dims() else {
        return Err(bad(
            op,
            format!(
                "expected token ids (N, L) right-padded with {pad}, got {}",
                x.shape()
            ),
        ));
    };
    if n == 0 || l == 0 {
        return Err(bad(op, format!("empty batch of token ids {}", x.shape())));
    }
    let v = x.to_vec_f64();
    let mut ids = Vec::with_capacity(v.len());
    for (i, &t) in v.iter().enumerate() {
        if !(t >= 0.0 && t.fract() == 0.0 && t < 9.0e15) {
            return Err(bad(
                op,
                format!(
                    "row {}, position {}: {t} is not a token id (a non-negative integer)",
                    i / l,
                    i % l
                ),
            ));
        }
        ids.push(t as i64);
    }
    let mut lengths = Vec::with_capacity(n);
    for b in 0..n {
        let row = &ids[b * l..(b + 1) * l];
        let len = row.iter().position(|&t| t == pad).unwrap_or(l);
        if len == 0 {
            return Err(bad(
                op,
                format!("row {b} starts with the padding id {pad}; every row needs a token"),
            ));
        }
        if let Some(k) = row[len..].iter().position(|&t| t != pad) {
            return Err(bad(
                op,
                format!(
                    "row {b}: token {} at position {} follows the padding that starts at {len}; \
                     rows must be right-padded with {pad}",
                    row[len + k],
                    len + k
                ),
            ));
        }
        lengths.push(len);
    }
    let longest = lengths.iter().copied().max().unwrap_or(l);
    let kept: Vec<i64> = (0..n)
        .flat_map(|b| ids[b * l..b * l + longest].iter().copied())
        .collect();
    let ids = Tensor::from_vec_on(kept, [n, longest], x.device())?;
    Ok((ids, lengths))
}

/// `(N, 1)` with `1 / lengths[b]` in row `b`, in `dtype` on `like`'s device.
fn inverse_lengths(lengths: &[usize], dtype: DType, like: &Tensor) -> Result<Tensor> {
    let inv: Vec<f64> = lengths.iter().map(|&k| 1.0 / k as f64).collect();
    Tensor::from_vec_on(inv, [lengths.len(), 1], like.device())?.to_dtype(dtype)
}

/// The mean over the valid steps of a 3-d `h` whose time dim is `time_dim` (1 for `(N, L, C)`,
/// 2 for `(N, C, L)`) and whose steps past `lengths[b]` are zero (as a recurrent layer run with
/// lengths leaves them): `sum_t h[b, t] / lengths[b]`, `(N, C)`.
pub(crate) fn mean_over_valid(h: &Tensor, time_dim: usize, lengths: &[usize]) -> Result<Tensor> {
    h.sum(time_dim, false)?
        .mul(&inverse_lengths(lengths, h.dtype(), h)?)
}

/// `(N, 1, 1, L)` ones before each length and zeros after, in `dtype` on `like`'s device; `None`
/// when every length is `L` (nothing to mask).
pub(crate) fn time_mask(
    lengths: &[usize],
    l: usize,
    dtype: DType,
    like: &Tensor,
) -> Result<Option<Tensor>> {
    if lengths.iter().all(|&k| k == l) {
        return Ok(None);
    }
    let m: Vec<f64> = lengths
        .iter()
        .flat_map(|&k| (0..l).map(move |t| f64::from(u8::from(t < k))))
        .collect();
    Ok(Some(
        Tensor::from_vec_on(m, [lengths.len(), 1, 1, l], like.device())?.to_dtype(dtype)?,
    ))
}

#[cfg(test)]
mod tests;
