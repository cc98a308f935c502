//! CPU reduction kernels: `x` viewed as (outer, reduced) after moving the reduced dims last.
//!
//! Sums of floats use [`LANES`] independent accumulators (which vectorize) over fixed blocks of
//! [`BLOCK`] elements whose partial sums are added in order, so the result does not depend on the
//! number of threads.

use super::{build, map, strided::rows_per_task, CpuStorage, MIN_TASK};
use crate::primitive::ReduceOp;
use crate::{DType, Element, Error, FloatElement, Layout, Result};

const BLOCK: usize = MIN_TASK;

/// Independent accumulators of [`sum_lanes`]: four AVX-512 registers of f32, enough to hide the
/// latency of the vector adds (one register of eight was latency-bound at about a third of
/// the bandwidth).
const LANES: usize = 64;

#[inline]
fn sum_lanes<T: FloatElement>(x: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] += c[k];
        }
    }
    // a fixed pairwise tree
    let mut n = LANES;
    while n > 1 {
        n /= 2;
        for k in 0..n {
            acc[k] += acc[k + n];
        }
    }
    let mut s = acc[0];
    for &r in rem {
        s += r;
    }
    s
}

/// Deterministic sum of a long row: fixed blocks (summed in parallel when long), combined in order.
fn row_sum<T: FloatElement>(x: &[T]) -> T {
    if x.len() <= BLOCK {
        return sum_lanes(x);
    }
    let parts: Vec<T> = if x.len() >= 2 * BLOCK {
        super::par::map(x.len().div_ceil(BLOCK), |i| {
            sum_lanes(&x[i * BLOCK..((i + 1) * BLOCK).min(x.len())])
        })
    } else {
        x.chunks(BLOCK).map(sum_lanes).collect()
    };
    parts.into_iter().fold(T::zero(), |a, b| a + b)
}

#[inline]
fn is_nan<T: Element>(x: T) -> bool {
    #[allow(clippy::eq_op)]
    {
        x != x
    }
}

/// Max (or min with `max = false`) of a row; NaN wins.
#[inline]
fn row_extreme<T: Element>(x: &[T], max: bool) -> T {
    let mut m = x[0];
    for &v in &x[1..] {
        if is_nan(m) {
            break;
        }
        if is_nan(v) || (max && v > m) || (!max && v < m) {
            m = v;
        }
    }
    m
}

/// Index of the first max (min) of a row; a NaN counts as the extreme, as in PyTorch.
#[inline]
fn row_arg<T: Element>(x: &[T], max: bool) -> i64 {
    let mut m = x[0];
    let mut idx = 0;
    for (i, &v) in x.iter().enumerate().skip(1) {
        if is_nan(m) {
            break;
        }
        if is_nan(v) || (max && v > m) || (!max && v < m) {
            m = v;
            idx = i;
        }
    }
    idx as i64
}

/// Applies a row reduction to each of the `outer` rows of length `red` in `data`.
fn rows<T: Element, U: Element>(
    data: &[T],
    outer: usize,
    red: usize,
    f: impl Fn(&[T]) -> U + Sync,
) -> Vec<U> {
    let rpt = rows_per_task(red);
    build(outer, rpt, |start, out| {
        for (k, o) in out.iter_mut().enumerate() {
            let r = start + k;
            o.write(f(&data[r * red..(r + 1) * red]));
        }
    })
}

/// Reduces the leading `red` rows of a contiguous (red, outer) block column-wise.
fn columns<T: Element>(
    data: &[T],
    red: usize,
    outer: usize,
    f: impl Fn(T, T) -> T + Sync,
) -> Vec<T> {
    let cols = (MIN_TASK / red.max(1)).max(256);
    build(outer, cols, |start, out| {
        let w = out.len();
        let mut acc: Vec<T> = data[start..start + w].to_vec();
        for i in 1..red {
            let row = &data[i * outer + start..i * outer + start + w];
            for (a, &x) in acc.iter_mut().zip(row) {
                *a = f(*a, x);
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            o.write(a);
        }
    })
}

fn reduce_typed<T: Element>(
    v: &[T],
    l: &Layout,
    op: ReduceOp,
    dims: &[usize],
    sum_row: impl Fn(&[T]) -> T + Sync,
    add: impl Fn(T, T) -> T + Sync,
) -> Result<CpuStorage> {
    let rank = l.dims().len();
    let kept: Vec<usize> = (0..rank).filter(|d| !dims.contains(d)).collect();
    let outer: usize = kept.iter().map(|&d| l.dims()[d]).product();
    let red: usize = dims.iter().map(|&d| l.dims()[d]).product();
    if red == 0 && op != ReduceOp::Sum {
        return Err(Error::invalid(
            "reduce",
            format!(
                "cannot compute {op:?} over an empty dimension (shape {})",
                l.shape()
            ),
        ));
    }
    if red == 0 {
        return Ok(T::into_host(vec![T::from_f64(0.0); outer]));
    }
    let is_arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    // Column path: the reduced dims lead a contiguous tensor (e.g. summing a batch of rows).
    let leading = dims.iter().enumerate().all(|(i, &d)| i == d);
    if !is_arg && l.is_contiguous() && leading && outer > 1 {
        let data = &v[l.contiguous_range().unwrap()];
        let out = match op {
            ReduceOp::Sum => columns(data, red, outer, add),
            ReduceOp::Max => columns(data, red, outer, |a, x| {
                if is_nan(a) || a >= x && !is_nan(x) {
                    a
                } else {
                    x
                }
            }),
            ReduceOp::Min => columns(data, red, outer, |a, x| {
                if is_nan(a) || a <= x && !is_nan(x) {
                    a
                } else {
                    x
                }
            }),
            _ => unreachable!(),
        };
        return Ok(T::into_host(out));
    }
    // Middle path: the kept dims are one block inside a contiguous tensor, (A, K, B) with A and
    // B reduced (a bias gradient summing (N, C, H, W) over N, H and W): each kept element sums
    // its A runs of B elements in order, with no permuted copy.
    let block = kept.windows(2).all(|w| w[1] == w[0] + 1);
    if op == ReduceOp::Sum && l.is_contiguous() && block && !kept.is_empty() && kept[0] > 0 {
        let data = &v[l.contiguous_range().unwrap()];
        let a: usize = l.dims()[..kept[0]].iter().product();
        let b = red / a;
        let per_task = (MIN_TASK / red).max(1);
        let out = build(outer, per_task, |start, out| {
            for (j, o) in out.iter_mut().enumerate() {
                let k = start + j;
                let runs = (0..a).map(|i| sum_row(&data[(i * outer + k) * b..][..b]));
                o.write(runs.fold(T::from_f64(0.0), &add));
            }
        });
        return Ok(T::into_host(out));
    }
    let perm: Vec<usize> = kept.iter().chain(dims).copied().collect();
    let pl = l.permute(&perm);
    let copied;
    let data: &[T] = match pl.contiguous_range() {
        Some(r) => &v[r],
        None => {
            copied = map(v, &pl, |x| x);
            &copied
        }
    };
    Ok(match op {
        ReduceOp::Sum => T::into_host(rows(data, outer, red, sum_row)),
        ReduceOp::Max => T::into_host(rows(data, outer, red, |r| row_extreme(r, true))),
        ReduceOp::Min => T::into_host(rows(data, outer, red, |r| row_extreme(r, false))),
        ReduceOp::ArgMax => CpuStorage::I64(rows(data, outer, red, |r| row_arg(r, true))),
        ReduceOp::ArgMin => CpuStorage::I64(rows(data, outer, red, |r| row_arg(r, false))),
    })
}

/// Reduces `dims` (sorted, distinct) of `l`; the result is contiguous with the kept dims in order.
pub(crate) fn reduce(
    s: &CpuStorage,
    l: &Layout,
    op: ReduceOp,
    dims: &[usize],
) -> Result<CpuStorage> {
    match s {
        CpuStorage::F32(v) => reduce_typed(v, l, op, dims, row_sum, |a, b| a + b),
        CpuStorage::F64(v) => reduce_typed(v, l, op, dims, row_sum, |a, b| a + b),
        CpuStorage::I64(v) => reduce_typed(
            v,
            l,
            op,
            dims,
            |r| r.iter().fold(0i64, |a, &b| a.wrapping_add(b)),
            |a, b| a.wrapping_add(b),
        ),
        CpuStorage::U8(v) => {
            if op == ReduceOp::Sum {
                return Err(Error::DType {
                    op: "sum",
                    expected: "a float or int64 tensor (cast masks first)",
                    got: DType::U8,
                });
            }
            reduce_typed(v, l, op, dims, |_| 0, |a, _| a)
        }
    }
}
