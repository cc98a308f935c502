//! 2-d pooling by nested loops: max (with argmax indices), average and adaptive average,
//! forward and backward. The input is `g.n` independent planes of `(g.h, g.w)` read row-major
//! (the geometry's `c` is 1), the output `g.n` planes of `(g.ho, g.wo)`. Window positions follow
//! [`super::conv::tap`] (stride, padding, dilation); average pooling has no dilation, as in
//! PyTorch and on the CPU.

use super::conv::tap;
use super::RefStorage;
use crate::primitive::Geom;
use crate::{DType, Error, Layout, Result};

/// The input positions `h * W + w` (within the plane) of the window of output `(oh, ow)` of a
/// max pooling, in row-major order of the kernel taps; taps over padding are skipped.
fn max_window(g: &Geom, oh: usize, ow: usize) -> Vec<usize> {
    let mut at = Vec::with_capacity(g.kh * g.kw);
    for i in 0..g.kh {
        for j in 0..g.kw {
            let ih = tap(oh, g.sh, i, g.dh, g.ph, g.h);
            let iw = tap(ow, g.sw, j, g.dw, g.pw, g.w);
            if let (Some(ih), Some(iw)) = (ih, iw) {
                at.push(ih * g.w + iw);
            }
        }
    }
    at
}

/// Max pooling: per window, the first NaN if any, else the first maximum in row-major tap
/// order, and its index `h * W + w` in the plane as i64. Padding is `-inf`, never selected: a
/// window over padding only (possible with dilation) gives `-inf` at index 0. Planes without
/// elements give 0 at index 0, as on the CPU.
pub(super) fn max_pool2d(
    (s, l): (&RefStorage, &Layout),
    g: &Geom,
) -> Result<(RefStorage, RefStorage)> {
    s.expect_float("max_pool2d")?;
    let (hw, out) = (g.h * g.w, g.n * g.l());
    if hw == 0 {
        return Ok((
            RefStorage::rounded(s.dtype, vec![0.0; out]),
            RefStorage::rounded(DType::I64, vec![0.0; out]),
        ));
    }
    let x = s.values(l);
    let (mut vals, mut idx) = (Vec::with_capacity(out), Vec::with_capacity(out));
    for p in 0..g.n {
        let plane = &x[p * hw..(p + 1) * hw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let mut best: Option<(usize, f64)> = None;
                for k in max_window(g, oh, ow) {
                    let v = plane[k];
                    let take = match best {
                        None => true,
                        // once a NaN is held nothing replaces it
                        Some((_, b)) => !b.is_nan() && (v > b || v.is_nan()),
                    };
                    if take {
                        best = Some((k, v));
                    }
                }
                let (k, v) = best.unwrap_or((0, f64::NEG_INFINITY));
                vals.push(v);
                idx.push(k as f64);
            }
        }
    }
    Ok((
        RefStorage::rounded(s.dtype, vals),
        RefStorage::rounded(DType::I64, idx),
    ))
}

/// The input gradient of max pooling: `(g.n, H, W)` zeros with every output gradient `gy`
/// (`self`, `(g.n, H_out, W_out)`) added at its plane's index. An index outside the plane is an
/// error.
pub(super) fn max_pool2d_backward(
    (gy, gl): (&RefStorage, &Layout),
    (ix, il): (&RefStorage, &Layout),
    g: &Geom,
) -> Result<RefStorage> {
    const OP: &str = "max_pool2d_backward";
    gy.expect_float(OP)?;
    ix.expect_dtype(OP, DType::I64)?;
    let (hw, l) = (g.h * g.w, g.l());
    let mut dx = vec![0.0; g.n * hw];
    if hw == 0 {
        // the CPU returns the (empty) gradient without reading the indices
        return Ok(RefStorage::rounded(gy.dtype, dx));
    }
    let (gv, iv) = (gy.values(gl), ix.values(il));
    for (o, (&v, &i)) in gv.iter().zip(&iv).enumerate() {
        let i = i as i64;
        if i < 0 || i as usize >= hw {
            return Err(Error::invalid(
                OP,
                format!("index {i} is outside the {}x{} plane", g.h, g.w),
            ));
        }
        // output o belongs to plane o / L
        dx[(o / l) * hw + i as usize] += v;
    }
    Ok(RefStorage::rounded(gy.dtype, dx))
}

/// The window of output `o` of an average pooling along one axis: the covered input range
/// `start..end` and the window size counted with padding. The window `o s - p .. o s - p + k`
/// is first clipped to `size + p` (a `ceil_mode` window may hang over the padding; that part
/// does not count), which gives the padded size; then to `0..size`, which gives the range.
fn avg_window(o: usize, s: usize, p: usize, k: usize, size: usize) -> (usize, usize, usize) {
    let start = (o * s) as isize - p as isize;
    let end = (start + k as isize).min((size + p) as isize);
    let padded = (end - start).max(0) as usize;
    let (start, end) = (start.max(0) as usize, end.clamp(0, size as isize) as usize);
    (start, end.max(start), padded)
}

/// The input rectangle `(h0..h1, w0..w1)` of output `(oh, ow)` and its divisor: the padded
/// window size with `include_pad`, else the number of input elements covered.
fn avg_rect(g: &Geom, oh: usize, ow: usize, include_pad: bool) -> ([usize; 4], f64) {
    let (h0, h1, ph) = avg_window(oh, g.sh, g.ph, g.kh, g.h);
    let (w0, w1, pw) = avg_window(ow, g.sw, g.pw, g.kw, g.w);
    let div = if include_pad {
        ph * pw
    } else {
        (h1 - h0) * (w1 - w0)
    };
    ([h0, h1, w0, w1], div as f64)
}

/// The adaptive window of output `i` of `o` over `size` inputs:
/// `floor(i size / o) .. ceil((i + 1) size / o)`.
fn adaptive_window(i: usize, o: usize, size: usize) -> (usize, usize) {
    (i * size / o, ((i + 1) * size).div_ceil(o))
}

/// The rectangle and divisor of output `(oh, ow)` of an adaptive average pooling.
fn adaptive_rect(g: &Geom, oh: usize, ow: usize) -> ([usize; 4], f64) {
    let (h0, h1) = adaptive_window(oh, g.ho, g.h);
    let (w0, w1) = adaptive_window(ow, g.wo, g.w);
    ([h0, h1, w0, w1], ((h1 - h0) * (w1 - w0)) as f64)
}

/// Averages of `g.n` planes over the rectangles `rect(oh, ow)` (rectangle, divisor): the sum of
/// the covered elements over the divisor. A rectangle covering no input element gives 0 (the
/// CPU skips it), whatever the divisor.
fn average(
    (s, l): (&RefStorage, &Layout),
    g: &Geom,
    rect: impl Fn(usize, usize) -> ([usize; 4], f64),
) -> RefStorage {
    let x = s.values(l);
    let hw = g.h * g.w;
    let mut y = Vec::with_capacity(g.n * g.l());
    for p in 0..g.n {
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let ([h0, h1, w0, w1], div) = rect(oh, ow);
                let mut sum = 0.0;
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        sum += x[p * hw + ih * g.w + iw];
                    }
                }
                let covered = (h1 - h0) * (w1 - w0);
                y.push(if covered == 0 { 0.0 } else { sum / div });
            }
        }
    }
    RefStorage::rounded(s.dtype, y)
}

/// The adjoint of [`average`]: each output gradient over its divisor, added to every input
/// element of its rectangle.
fn average_backward(
    (gy, gl): (&RefStorage, &Layout),
    g: &Geom,
    rect: impl Fn(usize, usize) -> ([usize; 4], f64),
) -> RefStorage {
    let gv = gy.values(gl);
    let hw = g.h * g.w;
    let mut dx = vec![0.0; g.n * hw];
    let mut o = 0;
    for p in 0..g.n {
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let ([h0, h1, w0, w1], div) = rect(oh, ow);
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        dx[p * hw + ih * g.w + iw] += gv[o] / div;
                    }
                }
                o += 1;
            }
        }
    }
    RefStorage::rounded(gy.dtype, dx)
}

/// Average pooling (PyTorch's `avg_pool2d` without `divisor_override`).
pub(super) fn avg_pool2d(
    x: (&RefStorage, &Layout),
    g: &Geom,
    include_pad: bool,
) -> Result<RefStorage> {
    x.0.expect_float("avg_pool2d")?;
    Ok(average(x, g, |oh, ow| avg_rect(g, oh, ow, include_pad)))
}

/// The input gradient of [`avg_pool2d`] from the output gradient.
pub(super) fn avg_pool2d_backward(
    gy: (&RefStorage, &Layout),
    g: &Geom,
    include_pad: bool,
) -> Result<RefStorage> {
    gy.0.expect_float("avg_pool2d_backward")?;
    Ok(average_backward(gy, g, |oh, ow| {
        avg_rect(g, oh, ow, include_pad)
    }))
}

/// Adaptive average pooling to `(g.ho, g.wo)` (the kernel fields are unused).
pub(super) fn adaptive_avg_pool2d(x: (&RefStorage, &Layout), g: &Geom) -> Result<RefStorage> {
    x.0.expect_float("adaptive_avg_pool2d")?;
    Ok(average(x, g, |oh, ow| adaptive_rect(g, oh, ow)))
}

/// The input gradient of [`adaptive_avg_pool2d`] from the output gradient.
pub(super) fn adaptive_avg_pool2d_backward(
    gy: (&RefStorage, &Layout),
    g: &Geom,
) -> Result<RefStorage> {
    gy.0.expect_float("adaptive_avg_pool2d_backward")?;
    Ok(average_backward(gy, g, |oh, ow| adaptive_rect(g, oh, ow)))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{geom, ints, t, vals};
    use super::*;

    const X9: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

    /// One `(h, w)` plane of `v` in a storage and layout.
    fn plane(v: &[f64], h: usize, w: usize) -> (RefStorage, Layout) {
        t(DType::F64, v, &[1, h, w])
    }

    fn max(v: &[f64], g: &Geom) -> (Vec<f64>, Vec<i64>) {
        let (x, xl) = plane(v, g.h, g.w);
        let (m, i) = max_pool2d((&x, &xl), g).unwrap();
        (vals(&m), ints(&i))
    }

    #[test]
    fn max_pool_by_hand() {
        let x = [1.0, 5.0, 2.0, 4.0, 3.0, 6.0, 9.0, 0.0, 7.0];
        let g = geom(1, 1, (3, 3), 2, 1, 0, 1);
        assert_eq!(max(&x, &g), (vec![5.0, 6.0, 9.0, 7.0], vec![1, 5, 6, 8]));
        // padding 1, stride 2: windows {1}, {5, 2}, {4, 9}, {3, 6, 0, 7}
        let g = geom(1, 1, (3, 3), 2, 2, 1, 1);
        assert_eq!(max(&x, &g), (vec![1.0, 5.0, 9.0, 7.0], vec![0, 1, 6, 8]));
        // ties pick the first; a NaN wins, the first NaN; padding never beats negatives
        let g = geom(1, 1, (2, 2), 2, 1, 0, 1);
        assert_eq!(max(&[2.0; 4], &g).1, vec![0]);
        let (v, i) = max(&[1.0, f64::NAN, f64::NAN, 3.0], &g);
        assert!(v[0].is_nan() && i == vec![1]);
        let g = geom(1, 1, (2, 2), 2, 1, 1, 1);
        let (v, i) = max(&[-5.0, -6.0, -7.0, -8.0], &g);
        assert_eq!(
            v,
            vec![-5.0, -5.0, -6.0, -5.0, -5.0, -6.0, -7.0, -7.0, -8.0]
        );
        assert_eq!(i, vec![0, 0, 1, 0, 0, 1, 2, 2, 3]);
        // dilation 3 over a 2x2 plane with padding 1: the window's taps -1 and 2 both miss
        let g = geom(1, 1, (2, 2), 2, 1, 1, 3);
        assert_eq!(max(&[1.0; 4], &g), (vec![f64::NEG_INFINITY], vec![0]));
    }

    #[test]
    fn max_pool_backward_adds_at_the_indices() {
        // every 2x2 window of this plane has its maximum in the centre
        let g = geom(2, 1, (3, 3), 2, 1, 0, 1);
        let mut xv = vec![1.0, 2.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 1.0];
        xv.extend_from_slice(&X9);
        let (x, xl) = t(DType::F32, &xv, &[2, 3, 3]);
        let (_, idx) = max_pool2d((&x, &xl), &g).unwrap();
        assert_eq!(ints(&idx), vec![4, 4, 4, 4, 4, 5, 7, 8]);
        let (gy, gl) = t(
            DType::F32,
            &[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0],
            &[2, 2, 2],
        );
        let il = Layout::contiguous([2, 2, 2]);
        let dx = max_pool2d_backward((&gy, &gl), (&idx, &il), &g).unwrap();
        let mut want = vec![0.0; 18];
        want[4] = 10.0;
        want[9 + 4] = 1.0;
        want[9 + 5] = 2.0;
        want[9 + 7] = 3.0;
        want[9 + 8] = 4.0;
        assert_eq!(vals(&dx), want);
        let (bad, bl) = t(DType::I64, &[9.0; 8], &[2, 2, 2]);
        assert!(max_pool2d_backward((&gy, &gl), (&bad, &bl), &g).is_err());
    }

    #[test]
    fn avg_pool_divisors_by_hand() {
        let (x, xl) = plane(&X9, 3, 3);
        // padding 1, stride 2: windows {1}, {2, 3}, {4, 7}, {5, 6, 8, 9} of padded size 4
        let g = geom(1, 1, (3, 3), 2, 2, 1, 1);
        let y = avg_pool2d((&x, &xl), &g, true).unwrap();
        assert_eq!(vals(&y), vec![0.25, 1.25, 2.75, 7.0]);
        let y = avg_pool2d((&x, &xl), &g, false).unwrap();
        assert_eq!(vals(&y), vec![1.0, 2.5, 5.5, 7.0]);
        // ceil_mode: 2x2 windows with stride 2 over 3x3 hang over the edge, which does not
        // count even with include_pad: divisors 4, 2, 2, 1
        let g = Geom {
            ho: 2,
            wo: 2,
            ..geom(1, 1, (3, 3), 2, 2, 0, 1)
        };
        let y = avg_pool2d((&x, &xl), &g, true).unwrap();
        assert_eq!(vals(&y), vec![3.0, 4.5, 7.5, 9.0]);
        // the backward of the last case: each gradient spread over its covered elements
        let (gy, gl) = plane(&[4.0, 2.0, 2.0, 1.0], 2, 2);
        let dx = avg_pool2d_backward((&gy, &gl), &g, true).unwrap();
        assert_eq!(vals(&dx), vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn adaptive_windows_by_hand() {
        let (x, xl) = plane(&X9, 3, 3);
        // 3 -> 2: rows and columns 0..2 and 1..3
        let g = Geom {
            ho: 2,
            wo: 2,
            ..geom(1, 1, (3, 3), 1, 1, 0, 1)
        };
        let y = adaptive_avg_pool2d((&x, &xl), &g).unwrap();
        assert_eq!(vals(&y), vec![3.0, 4.0, 6.0, 7.0]);
        let (gy, gl) = plane(&[1.0; 4], 2, 2);
        let dx = adaptive_avg_pool2d_backward((&gy, &gl), &g).unwrap();
        assert_eq!(
            vals(&dx),
            vec![0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]
        );
        // 5 -> 3: windows 0..2, 1..4, 3..5
        assert_eq!(
            (0..3).map(|i| adaptive_window(i, 3, 5)).collect::<Vec<_>>(),
            vec![(0, 2), (1, 4), (3, 5)]
        );
    }

    /// `<pool(x), y> == <x, pool_backward(y)>`: the backward is the adjoint of the forward.
    #[test]
    fn average_backward_is_the_adjoint() {
        let cases = [
            (geom(2, 1, (5, 4), 3, 2, 1, 1), true),
            (geom(2, 1, (5, 4), 3, 2, 1, 1), false),
            (
                Geom {
                    ho: 3,
                    wo: 2,
                    ..geom(2, 1, (5, 4), 1, 1, 0, 1)
                },
                false,
            ),
        ];
        for (i, (g, pad)) in cases.into_iter().enumerate() {
            let xv: Vec<f64> = (0..g.n * g.h * g.w).map(|k| (k * 7 % 11) as f64).collect();
            let yv: Vec<f64> = (0..g.n * g.l()).map(|k| (k * 5 % 13) as f64).collect();
            let (x, xl) = t(DType::F64, &xv, &[g.n, g.h, g.w]);
            let (y, yl) = t(DType::F64, &yv, &[g.n, g.ho, g.wo]);
            let (fx, by) = if i < 2 {
                (
                    vals(&avg_pool2d((&x, &xl), &g, pad).unwrap()),
                    vals(&avg_pool2d_backward((&y, &yl), &g, pad).unwrap()),
                )
            } else {
                (
                    vals(&adaptive_avg_pool2d((&x, &xl), &g).unwrap()),
                    vals(&adaptive_avg_pool2d_backward((&y, &yl), &g).unwrap()),
                )
            };
            let lhs: f64 = fx.iter().zip(&yv).map(|(a, b)| a * b).sum();
            let rhs: f64 = xv.iter().zip(&by).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-12 * lhs.abs(),
                "case {i}: {lhs} vs {rhs}"
            );
        }
    }
}
