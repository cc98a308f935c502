//! Convolution, unfold (im2col) and fold (col2im) by direct nested loops over the definitions.
//!
//! Window arithmetic (shared with pooling): output position `o` along an axis reads input
//! position `o * stride - padding + tap * dilation`; positions outside `0..size` are padding
//! and read as zero. Shapes: input `(N, C, H, W)`, weight `(C_out, C / groups, kH, kW)`, bias
//! `(C_out,)`, output `(N, C_out, H_out, W_out)`; the unfolded matrix `(N, C * kH * kW, L)` with
//! row `(c * kH + i) * kW + j` and column `oh * W_out + ow` (`L = H_out * W_out`).

use super::RefStorage;
use crate::primitive::{ConvSpec, Geom};
use crate::{Layout, Result};

/// The input position read by output `o` at kernel tap `k` along one axis, or `None` where it
/// falls in the padding.
pub(super) fn tap(
    o: usize,
    stride: usize,
    k: usize,
    dilation: usize,
    pad: usize,
    size: usize,
) -> Option<usize> {
    (o * stride + k * dilation)
        .checked_sub(pad)
        .filter(|&p| p < size)
}

/// The input element `(h, w)` read by output `(oh, ow)` at tap `(i, j)` of `g`, if inside.
fn tap2(g: &Geom, (oh, ow): (usize, usize), (i, j): (usize, usize)) -> Option<(usize, usize)> {
    let ih = tap(oh, g.sh, i, g.dh, g.ph, g.h)?;
    let iw = tap(ow, g.sw, j, g.dw, g.pw, g.w)?;
    Some((ih, iw))
}

/// The index arithmetic of one convolution (all operands row-major).
struct Conv {
    g: Geom,
    /// input channels per group
    cg: usize,
    /// output channels per group
    cog: usize,
    cout: usize,
}

impl Conv {
    fn new(spec: &ConvSpec) -> Self {
        Conv {
            g: spec.g,
            cg: spec.g.c / spec.groups,
            cog: spec.cout / spec.groups,
            cout: spec.cout,
        }
    }
    /// Position of input element `(n, c, h, w)`.
    fn xi(&self, n: usize, c: usize, h: usize, w: usize) -> usize {
        ((n * self.g.c + c) * self.g.h + h) * self.g.w + w
    }
    /// Position of weight element `(co, ci, i, j)` (`ci` within the group).
    fn wi(&self, co: usize, ci: usize, i: usize, j: usize) -> usize {
        ((co * self.cg + ci) * self.g.kh + i) * self.g.kw + j
    }
    /// Calls `f(output position, input position, weight position)` for every product term of
    /// the convolution (taps over padding have none), output positions in row-major order of
    /// `(N, C_out, H_out, W_out)`.
    fn for_each_term(&self, mut f: impl FnMut(usize, usize, usize)) {
        let g = &self.g;
        let mut y = 0;
        for n in 0..g.n {
            for co in 0..self.cout {
                // output channel co sees the input channels of its group only
                let c0 = (co / self.cog) * self.cg;
                for oh in 0..g.ho {
                    for ow in 0..g.wo {
                        for ci in 0..self.cg {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    if let Some((ih, iw)) = tap2(g, (oh, ow), (i, j)) {
                                        f(y, self.xi(n, c0 + ci, ih, iw), self.wi(co, ci, i, j));
                                    }
                                }
                            }
                        }
                        y += 1;
                    }
                }
            }
        }
    }
}

/// `y[n, co, oh, ow] = b[co] + sum over ci of co's group, i, j of
/// x[n, ci, oh sh - ph + i dh, ow sw - pw + j dw] * w[co, ci, i, j]`, in f64, rounded once.
pub(super) fn conv2d(
    (s, l): (&RefStorage, &Layout),
    (w, wl): (&RefStorage, &Layout),
    b: Option<(&RefStorage, &Layout)>,
    spec: &ConvSpec,
) -> Result<RefStorage> {
    let g = &spec.g;
    let shape = (g.n * spec.cout * g.l(), g.l(), spec.cout);
    let (x, wv, mut y) = biased_operands("conv2d", (s, l), (w, wl), b, shape)?;
    Conv::new(spec).for_each_term(|yi, xi, wi| y[yi] += x[xi] * wv[wi]);
    Ok(RefStorage::rounded(s.dtype, y))
}

/// The values of a convolution's input and weight (dtypes checked for `op`: one float dtype
/// for all operands), and its output of `len` elements, each started at the bias of its
/// channel `i / plane % channels` (zero without a bias).
fn biased_operands(
    op: &'static str,
    (s, l): (&RefStorage, &Layout),
    (w, wl): (&RefStorage, &Layout),
    b: Option<(&RefStorage, &Layout)>,
    (len, plane, channels): (usize, usize, usize),
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    s.expect_float(op)?;
    w.expect_dtype(op, s.dtype)?;
    if let Some((b, _)) = b {
        b.expect_dtype(op, s.dtype)?;
    }
    let bias = b.map(|(b, bl)| b.values(bl));
    let out = (0..len)
        .map(|i| bias.as_ref().map_or(0.0, |b| b[i / plane % channels]))
        .collect();
    Ok((s.values(l), w.values(wl), out))
}

/// The adjoint loops of [`conv2d`] for the output gradient `gy: (N, C_out, H_out, W_out)`:
/// every product term `x[xi] * w[wi]` of output `yi` sends `gy[yi] * w[wi]` to `dx[xi]` and
/// `gy[yi] * x[xi]` to `dw[wi]`. Each gradient only when asked for in `need`.
pub(super) fn conv2d_backward(
    (s, l): (&RefStorage, &Layout),
    (w, wl): (&RefStorage, &Layout),
    (gy, gl): (&RefStorage, &Layout),
    spec: &ConvSpec,
    need: (bool, bool),
) -> Result<(Option<RefStorage>, Option<RefStorage>)> {
    const OP: &str = "conv2d_backward";
    s.expect_float(OP)?;
    w.expect_dtype(OP, s.dtype)?;
    gy.expect_dtype(OP, s.dtype)?;
    let cv = Conv::new(spec);
    let (x, wv, gv) = (s.values(l), w.values(wl), gy.values(gl));
    let g = &spec.g;
    let mut dx = vec![0.0; if need.0 { g.n * g.chw() } else { 0 }];
    let mut dw = vec![0.0; if need.1 { spec.cout * g.k(cv.cg) } else { 0 }];
    cv.for_each_term(|yi, xi, wi| {
        if need.0 {
            dx[xi] += gv[yi] * wv[wi];
        }
        if need.1 {
            dw[wi] += gv[yi] * x[xi];
        }
    });
    let dt = s.dtype;
    Ok((
        need.0.then(|| RefStorage::rounded(dt, dx)),
        need.1.then(|| RefStorage::rounded(dt, dw)),
    ))
}

/// The transposed convolution, by definition the adjoint of [`conv2d`] with `spec`: every
/// product term `y[yi] += x[xi] * w[wi]` of that convolution is, transposed,
/// `out[xi] += self[yi] * w[wi]`. `self: (N, C_out, H_out, W_out)` (the convolution's output
/// shape) -> `(N, C, H, W)`, plus `b[c]` on channel `c`; in f64, rounded once.
pub(super) fn conv_transpose2d(
    (s, l): (&RefStorage, &Layout),
    (w, wl): (&RefStorage, &Layout),
    b: Option<(&RefStorage, &Layout)>,
    spec: &ConvSpec,
) -> Result<RefStorage> {
    let g = &spec.g;
    let shape = (g.n * g.chw(), g.h * g.w, g.c);
    let (x, wv, mut out) = biased_operands("conv_transpose2d", (s, l), (w, wl), b, shape)?;
    Conv::new(spec).for_each_term(|yi, xi, wi| out[xi] += x[yi] * wv[wi]);
    Ok(RefStorage::rounded(s.dtype, out))
}

/// Calls `f(column matrix position, input position)` for every entry of the unfolded matrix
/// of `g` that reads an input element (padding entries are skipped; their positions are
/// still counted).
fn for_each_unfold_entry(g: &Geom, mut f: impl FnMut(usize, Option<usize>)) {
    let mut k = 0;
    for n in 0..g.n {
        for c in 0..g.c {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    for oh in 0..g.ho {
                        for ow in 0..g.wo {
                            let at = tap2(g, (oh, ow), (i, j))
                                .map(|(ih, iw)| ((n * g.c + c) * g.h + ih) * g.w + iw);
                            f(k, at);
                            k += 1;
                        }
                    }
                }
            }
        }
    }
}

/// im2col: `(N, C, H, W)` -> `(N, C * kH * kW, L)`, zeros over padding.
pub(super) fn unfold2d((s, l): (&RefStorage, &Layout), g: &Geom) -> Result<RefStorage> {
    s.expect_float("unfold2d")?;
    let x = s.values(l);
    let mut cols = vec![0.0; g.n * g.k(g.c) * g.l()];
    for_each_unfold_entry(g, |k, at| {
        if let Some(at) = at {
            cols[k] = x[at];
        }
    });
    Ok(RefStorage::rounded(s.dtype, cols))
}

/// col2im, the adjoint of [`unfold2d`]: `(N, C * kH * kW, L)` -> `(N, C, H, W)`, every entry
/// added to the input element it was read from (overlaps sum, padding entries are dropped).
pub(super) fn fold2d((s, l): (&RefStorage, &Layout), g: &Geom) -> Result<RefStorage> {
    s.expect_float("fold2d")?;
    let cols = s.values(l);
    let mut x = vec![0.0; g.n * g.chw()];
    for_each_unfold_entry(g, |k, at| {
        if let Some(at) = at {
            x[at] += cols[k];
        }
    });
    Ok(RefStorage::rounded(s.dtype, x))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{geom, t, vals};
    use super::*;
    use crate::{DType, Error};

    fn spec(g: Geom, groups: usize, cout: usize) -> ConvSpec {
        ConvSpec { g, groups, cout }
    }

    const X9: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

    #[test]
    fn conv_2x2_by_hand_forward_and_backward() {
        // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 2], [3, 4]], b = 1
        let sp = spec(geom(1, 1, (3, 3), 2, 1, 0, 1), 1, 1);
        let (x, xl) = t(DType::F32, &X9, &[1, 1, 3, 3]);
        let (w, wl) = t(DType::F32, &[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let (b, bl) = t(DType::F32, &[1.0], &[1]);
        let y = conv2d((&x, &xl), (&w, &wl), Some((&b, &bl)), &sp).unwrap();
        // 1+4+12+20, 2+6+15+24, 4+10+21+32, 5+12+24+36, each + 1
        assert_eq!(vals(&y), vec![38.0, 48.0, 68.0, 78.0]);
        let (gy, gl) = t(DType::F32, &[1.0; 4], &[1, 1, 2, 2]);
        let (dx, dw) =
            conv2d_backward((&x, &xl), (&w, &wl), (&gy, &gl), &sp, (true, true)).unwrap();
        // dx: the sum of the weights covering each input; dw: the sum of each tap's inputs
        assert_eq!(
            vals(&dx.unwrap()),
            vec![1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]
        );
        assert_eq!(vals(&dw.unwrap()), vec![12.0, 16.0, 24.0, 28.0]);
        let (dx, dw) =
            conv2d_backward((&x, &xl), (&w, &wl), (&gy, &gl), &sp, (false, true)).unwrap();
        assert!(dx.is_none() && dw.is_some());
    }

    #[test]
    fn conv_padding_stride_dilation_groups() {
        let (x, xl) = t(DType::F64, &X9, &[1, 1, 3, 3]);
        // a 2x2 window of ones, padding 1, stride 2: windows {1}, {2, 3}, {4, 7}, {5, 6, 8, 9}
        let (ones, ol) = t(DType::F64, &[1.0; 4], &[1, 1, 2, 2]);
        let sp = spec(geom(1, 1, (3, 3), 2, 2, 1, 1), 1, 1);
        let y = conv2d((&x, &xl), (&ones, &ol), None, &sp).unwrap();
        assert_eq!(vals(&y), vec![1.0, 5.0, 11.0, 28.0]);
        // dilation 2: the four corners, weighted 1, 2, 3, 4
        let (w, wl) = t(DType::F64, &[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let sp = spec(geom(1, 1, (3, 3), 2, 1, 0, 2), 1, 1);
        let y = conv2d((&x, &xl), (&w, &wl), None, &sp).unwrap();
        assert_eq!(vals(&y), vec![1.0 + 6.0 + 21.0 + 36.0]);
        // two groups of one channel, 1x1 kernels 2 and 3: each output sees its own channel
        let (x2, x2l) = t(DType::F64, &[1.0, 2.0, 3.0, 4.0], &[1, 2, 1, 2]);
        let (w2, w2l) = t(DType::F64, &[2.0, 3.0], &[2, 1, 1, 1]);
        let sp = spec(geom(1, 2, (1, 2), 1, 1, 0, 1), 2, 2);
        let y = conv2d((&x2, &x2l), (&w2, &w2l), None, &sp).unwrap();
        assert_eq!(vals(&y), vec![2.0, 4.0, 9.0, 12.0]);
        // integer operands are refused, not a panic
        let (i, il) = t(DType::I64, &X9, &[1, 1, 3, 3]);
        assert!(matches!(
            conv2d((&i, &il), (&ones, &ol), None, &sp),
            Err(Error::DType { op: "conv2d", .. })
        ));
        let sp1 = spec(geom(1, 1, (3, 3), 2, 1, 0, 1), 1, 1);
        let (w32, w32l) = t(DType::F32, &[1.0; 4], &[1, 1, 2, 2]);
        assert!(conv2d((&x, &xl), (&w32, &w32l), None, &sp1).is_err());
    }

    #[test]
    fn unfold_by_hand_and_fold_is_its_adjoint() {
        let g = geom(1, 1, (3, 3), 2, 1, 0, 1);
        let (x, xl) = t(DType::F64, &X9, &[1, 1, 3, 3]);
        let cols = unfold2d((&x, &xl), &g).unwrap();
        // rows are the taps (0,0), (0,1), (1,0), (1,1); columns the four windows
        assert_eq!(
            vals(&cols),
            vec![1.0, 2.0, 4.0, 5.0, 2.0, 3.0, 5.0, 6.0, 4.0, 5.0, 7.0, 8.0, 5.0, 6.0, 8.0, 9.0]
        );
        // fold of ones counts how many windows cover each input
        let (ones, ol) = t(DType::F64, &[1.0; 16], &[1, 4, 4]);
        let counts = fold2d((&ones, &ol), &g).unwrap();
        assert_eq!(
            vals(&counts),
            vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]
        );
        // <unfold(x), y> == <x, fold(y)> with padding, stride and two channels
        let g = geom(2, 2, (4, 3), 3, 2, 1, 1);
        let xv: Vec<f64> = (0..g.n * g.chw())
            .map(|i| (i * 7 % 11) as f64 - 5.0)
            .collect();
        let yv: Vec<f64> = (0..g.n * g.k(g.c) * g.l())
            .map(|i| (i * 5 % 13) as f64 - 6.0)
            .collect();
        let (x, xl) = t(DType::F64, &xv, &[g.n, g.c, g.h, g.w]);
        let (y, yl) = t(DType::F64, &yv, &[g.n, g.k(g.c), g.l()]);
        let ux = vals(&unfold2d((&x, &xl), &g).unwrap());
        let fy = vals(&fold2d((&y, &yl), &g).unwrap());
        let lhs: f64 = ux.iter().zip(&yv).map(|(a, b)| a * b).sum();
        let rhs: f64 = xv.iter().zip(&fy).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
        assert!(lhs != 0.0);
    }
}
