//! 2-d upsampling on the CPU: nearest and bilinear, forward and backward. Every buffer is
//! contiguous `(P, H, W)` with `P` independent planes (`N * C`). The coordinate maps of
//! [`Resize`] are tabulated once per call (one entry per output row and per output column);
//! planes run in parallel and each plane is computed by one task in a fixed order, so results
//! do not depend on the number of threads.

use super::conv::Float;
use super::pool::per_plane;
use crate::primitive::{LinearTap, Resize};

/// The input rows and columns that the nearest-neighbour output rows and columns copy.
fn nearest_maps(r: &Resize) -> (Vec<usize>, Vec<usize>) {
    (
        (0..r.ho).map(|i| r.nearest_row(i)).collect(),
        (0..r.wo).map(|j| r.nearest_col(j)).collect(),
    )
}

/// Nearest-neighbour resize: `x: (P, H, W)` -> `(P, H_out, W_out)`.
pub(crate) fn nearest<T: Float>(r: &Resize, x: &[T]) -> Vec<T> {
    let (rows, cols) = nearest_maps(r);
    let wo = r.wo;
    let mut out = vec![T::zero(); r.n * r.out_len()];
    per_plane(x, r.in_len(), &mut out, r.out_len(), |xp, op| {
        for (oh, &ih) in rows.iter().enumerate() {
            let (done, rest) = op.split_at_mut(oh * wo);
            let orow = &mut rest[..wo];
            if oh > 0 && rows[oh - 1] == ih {
                // the same input row as the output row above (every row when upsampling by 2)
                orow.copy_from_slice(&done[(oh - 1) * wo..]);
                continue;
            }
            let xr = &xp[ih * r.w..(ih + 1) * r.w];
            for (o, &iw) in orow.iter_mut().zip(&cols) {
                *o = xr[iw];
            }
        }
    });
    out
}

/// The input gradient of [`nearest`]: `gy: (P, H_out, W_out)` -> `(P, H, W)`, each output's
/// gradient added to the input it copied, in row-major output order.
pub(crate) fn nearest_backward<T: Float>(r: &Resize, gy: &[T]) -> Vec<T> {
    let (rows, cols) = nearest_maps(r);
    let mut dx = vec![T::zero(); r.n * r.in_len()];
    per_plane(gy, r.out_len(), &mut dx, r.in_len(), |gp, dp| {
        for (grow, &ih) in gp.chunks_exact(r.wo).zip(&rows) {
            let dr = &mut dp[ih * r.w..(ih + 1) * r.w];
            for (&g, &iw) in grow.iter().zip(&cols) {
                dr[iw] += g;
            }
        }
    });
    dx
}

/// One output position of a bilinear resize along an axis, weights in the element type.
struct Tap<T> {
    i0: usize,
    i1: usize,
    /// weight of `i0`
    l0: T,
    /// weight of `i1`
    l1: T,
}

fn taps<T: Float>(n: usize, f: impl Fn(usize) -> LinearTap) -> Vec<Tap<T>> {
    (0..n)
        .map(|i| {
            let t = f(i);
            Tap {
                i0: t.i0,
                i1: t.i1,
                l0: T::from_f64(1.0 - t.lambda),
                l1: T::from_f64(t.lambda),
            }
        })
        .collect()
}

/// The row and column taps of `r`.
#[allow(clippy::type_complexity)]
fn linear_maps<T: Float>(r: &Resize) -> (Vec<Tap<T>>, Vec<Tap<T>>) {
    (
        taps(r.ho, |i| r.linear_row(i)),
        taps(r.wo, |j| r.linear_col(j)),
    )
}

/// Bilinear resize: `x: (P, H, W)` -> `(P, H_out, W_out)`, blending along the width first in
/// each of the two input rows, then between the rows (PyTorch's order).
pub(crate) fn bilinear<T: Float>(r: &Resize, x: &[T]) -> Vec<T> {
    let (rows, cols) = linear_maps::<T>(r);
    let w = r.w;
    let mut out = vec![T::zero(); r.n * r.out_len()];
    per_plane(x, r.in_len(), &mut out, r.out_len(), |xp, op| {
        for (orow, th) in op.chunks_exact_mut(r.wo).zip(&rows) {
            let r0 = &xp[th.i0 * w..(th.i0 + 1) * w];
            let r1 = &xp[th.i1 * w..(th.i1 + 1) * w];
            for (o, tw) in orow.iter_mut().zip(&cols) {
                let top = tw.l0 * r0[tw.i0] + tw.l1 * r0[tw.i1];
                let bottom = tw.l0 * r1[tw.i0] + tw.l1 * r1[tw.i1];
                *o = th.l0 * top + th.l1 * bottom;
            }
        }
    });
    out
}

/// The input gradient of [`bilinear`]: `gy: (P, H_out, W_out)` -> `(P, H, W)`, each output's
/// gradient shared among its four inputs by their weights, in row-major output order.
pub(crate) fn bilinear_backward<T: Float>(r: &Resize, gy: &[T]) -> Vec<T> {
    let (rows, cols) = linear_maps::<T>(r);
    let w = r.w;
    let mut dx = vec![T::zero(); r.n * r.in_len()];
    per_plane(gy, r.out_len(), &mut dx, r.in_len(), |gp, dp| {
        for (grow, th) in gp.chunks_exact(r.wo).zip(&rows) {
            for (&g, tw) in grow.iter().zip(&cols) {
                let (g0, g1) = (th.l0 * g, th.l1 * g);
                dp[th.i0 * w + tw.i0] += tw.l0 * g0;
                dp[th.i0 * w + tw.i1] += tw.l1 * g0;
                dp[th.i1 * w + tw.i0] += tw.l0 * g1;
                dp[th.i1 * w + tw.i1] += tw.l1 * g1;
            }
        }
    });
    dx
}
