//! 2-d upsampling by nested loops: nearest and bilinear, forward and backward. The input is
//! `r.n` independent planes of `(r.h, r.w)` read row-major, the output `r.n` planes of
//! `(r.ho, r.wo)`. Each mode is a list of terms `out[o] += weight * in[i]` (one term of weight
//! 1 per output for nearest, four for bilinear) from the coordinate maps of [`Resize`]; the
//! backward pass is the same terms read the other way, `d_in[i] += weight * d_out[o]`.

use super::RefStorage;
use crate::primitive::Resize;
use crate::{Layout, Result};

/// Calls `f(output position, input position, weight)` for every term of the resize, output
/// positions in row-major order of `(P, H_out, W_out)`, input positions in `(P, H, W)`.
fn for_each_term(r: &Resize, bilinear: bool, mut f: impl FnMut(usize, usize, f64)) {
    for p in 0..r.n {
        for oh in 0..r.ho {
            for ow in 0..r.wo {
                let o = (p * r.ho + oh) * r.wo + ow;
                let at = |h: usize, w: usize| (p * r.h + h) * r.w + w;
                if bilinear {
                    let (th, tw) = (r.linear_row(oh), r.linear_col(ow));
                    for (h, a) in [(th.i0, 1.0 - th.lambda), (th.i1, th.lambda)] {
                        for (w, b) in [(tw.i0, 1.0 - tw.lambda), (tw.i1, tw.lambda)] {
                            f(o, at(h, w), a * b);
                        }
                    }
                } else {
                    f(o, at(r.nearest_row(oh), r.nearest_col(ow)), 1.0);
                }
            }
        }
    }
}

/// The resize of `x` (`bilinear` or nearest) or, with `backward`, the input gradient from the
/// output gradient `x`: the same terms read the other way; in f64, rounded once.
fn apply(
    (s, l): (&RefStorage, &Layout),
    r: &Resize,
    op: &'static str,
    bilinear: bool,
    backward: bool,
) -> Result<RefStorage> {
    s.expect_float(op)?;
    let x = s.values(l);
    let mut y = vec![0.0; r.n * if backward { r.in_len() } else { r.out_len() }];
    for_each_term(r, bilinear, |o, i, wt| {
        if backward {
            y[i] += wt * x[o];
        } else {
            y[o] += wt * x[i];
        }
    });
    Ok(RefStorage::rounded(s.dtype, y))
}

/// Nearest-neighbour resize: output `(i, j)` copies input `(r.nearest_row(i), r.nearest_col(j))`.
pub(super) fn nearest(x: (&RefStorage, &Layout), r: &Resize) -> Result<RefStorage> {
    apply(x, r, "upsample_nearest2d", false, false)
}

/// The input gradient of [`nearest`].
pub(super) fn nearest_backward(gy: (&RefStorage, &Layout), r: &Resize) -> Result<RefStorage> {
    apply(gy, r, "upsample_nearest2d_backward", false, true)
}

/// Bilinear resize: each output the weighted sum of its four inputs (rows by
/// `r.linear_row`, columns by `r.linear_col`).
pub(super) fn bilinear(x: (&RefStorage, &Layout), r: &Resize) -> Result<RefStorage> {
    apply(x, r, "upsample_bilinear2d", true, false)
}

/// The input gradient of [`bilinear`].
pub(super) fn bilinear_backward(gy: (&RefStorage, &Layout), r: &Resize) -> Result<RefStorage> {
    apply(gy, r, "upsample_bilinear2d_backward", true, true)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{t, vals};
    use super::*;
    use crate::DType;

    fn resize(h: usize, w: usize, ho: usize, wo: usize, align_corners: bool) -> Resize {
        Resize {
            n: 1,
            h,
            w,
            ho,
            wo,
            scale_h: None,
            scale_w: None,
            align_corners,
        }
    }

    #[test]
    fn nearest_and_bilinear_by_hand() {
        // [[1, 2], [3, 4]] doubled
        let (x, xl) = t(DType::F64, &[1.0, 2.0, 3.0, 4.0], &[1, 2, 2]);
        let r = resize(2, 2, 4, 4, false);
        let y = vals(&nearest((&x, &xl), &r).unwrap());
        assert_eq!(&y[..8], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
        assert_eq!(&y[8..], &[3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]);
        // each input is copied 4 times: its gradient is the sum of 4 ones
        let (g, gl) = t(DType::F64, &[1.0; 16], &[1, 4, 4]);
        assert_eq!(vals(&nearest_backward((&g, &gl), &r).unwrap()), [4.0; 4]);
        // bilinear, half-pixel centres: output column j sits at (j + 0.5) / 2 - 0.5, so row 0
        // reads 1, 1.25, 1.75, 2
        let y = vals(&bilinear((&x, &xl), &r).unwrap());
        assert_eq!(&y[..4], &[1.0, 1.25, 1.75, 2.0]);
        assert_eq!(&y[4..8], &[1.5, 1.75, 2.25, 2.5]);
        // align_corners, 2 -> 3: the middle is the mean of the ends
        let r = resize(2, 2, 3, 3, true);
        let y = vals(&bilinear((&x, &xl), &r).unwrap());
        assert_eq!(y, [1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0]);
        // the weights of each output sum to 1, so the gradient of a sum is the count
        let (g, gl) = t(DType::F64, &[1.0; 9], &[1, 3, 3]);
        let dx = vals(&bilinear_backward((&g, &gl), &r).unwrap());
        assert_eq!(dx, [2.25; 4]);
    }
}
