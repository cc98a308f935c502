//! 2-d convolution on the CPU: im2col + GEMM (the `gemm` crate, or the packed AVX-512 product
//! for f32), the batch split across threads. Stride-1 f32 layers of moderate size go to the
//! direct kernels instead ([`DirectPlan`], `conv_direct.rs`); this file keeps the general path
//! and the dispatch.
//!
//! Every buffer here is contiguous row-major: the input `(N, C, H, W)`, the weight
//! `(C_out, C/groups, kH, kW)` and the column matrix of one image and one group,
//! `(C/groups * kH * kW, H_out * W_out)`, whose rows are ordered (channel, ki, kj) as in
//! `torch.nn.functional.unfold`.
//!
//! Determinism: each output element of the forward pass and of the input gradient is computed by
//! one task; the weight gradient is summed per fixed chunk of images and the chunk partials are
//! added in chunk order, so no result depends on the number of threads.

use super::im2col::{col2im, im2col, ColMap};
use super::par;
pub(crate) use super::Float;
pub(crate) use crate::primitive::Geom;
use gemm::{gemm, Parallelism};

/// Rows of the result per task when one product is split across threads (a multiple of the
/// packed kernels' 12- and 6-row tiles).
const ROW_BLOCK: usize = 48;
/// Weight gradients with at least this many output channels (rows) run on the packed kernel
/// transposed (channels across its wide register tile); fewer run as dot products.
const WGRAD_PACKED_M: usize = 32;

/// Whether the column matrix of an image is the image itself (1x1 kernel, stride 1, no pad).
fn cols_are_input(g: &Geom) -> bool {
    g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0
}

/// A strided matrix operand: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    rs: usize,
    cs: usize,
}

/// `dst (m x n, row-major) = [dst +] a (m x k) @ b (k x n)`; with `par`, blocks of
/// [`ROW_BLOCK`] rows run as parallel tasks (a split fixed by the shape: every element is
/// computed the same way whatever the thread count).
fn mm<T: Float>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    acc: bool,
    a: Mat<T>,
    b: Mat<T>,
    par: bool,
) {
    if !par || m <= ROW_BLOCK || n == 0 {
        return mm_strided((m, n, k), (dst, n, 1), acc, a, b);
    }
    par::chunks_mut(&mut dst[..m * n], ROW_BLOCK * n, |t, d| {
        let a = Mat {
            data: &a.data[t * ROW_BLOCK * a.rs..],
            ..a
        };
        mm_strided((d.len() / n, n, k), (d, n, 1), acc, a, b);
    });
}

/// `dst = [dst +] a (m x k) @ b (k x n)` with `dst` element (i, j) at `i * rs + j * cs`.
fn mm_strided<T: Float>(
    (m, n, k): (usize, usize, usize),
    (dst, d_rs, d_cs): (&mut [T], usize, usize),
    acc: bool,
    a: Mat<T>,
    b: Mat<T>,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |x: &Mat<T>, r: usize, c: usize| (r - 1) * x.rs + (c - 1) * x.cs;
    assert!(
        (m - 1) * d_rs + (n - 1) * d_cs < dst.len(),
        "mm: destination too small"
    );
    if k == 0 {
        if !acc {
            for i in 0..m {
                for j in 0..n {
                    dst[i * d_rs + j * d_cs] = T::zero();
                }
            }
        }
        return;
    }
    assert!(last(&a, m, k) < a.data.len() && last(&b, k, n) < b.data.len());
    if d_cs == 1 && d_rs >= n && super::conv_gemm::available() {
        if let (Some(d), Some(ad), Some(bd)) =
            (T::as_f32_mut(dst), T::as_f32(a.data), T::as_f32(b.data))
        {
            use super::conv_gemm::{sgemm, sgemm_nt, View};
            if a.cs == 1 && b.rs == 1 && k >= 64 && m >= WGRAD_PACKED_M {
                // a weight gradient with many output channels: the packed kernel on the
                // transposed product, dst^T (n x m) = b^T (n x k) @ a^T (k x m), whose operands
                // are a contiguous-row and a contiguous-column view, then added in transposed
                let mut t = vec![0f32; n * m];
                let bt = View {
                    data: bd,
                    rs: b.cs,
                    cs: 1,
                };
                let at = View {
                    data: ad,
                    rs: 1,
                    cs: a.rs,
                };
                sgemm((n, m, k), bt, at, &mut t, m, false);
                for (i, row) in d.chunks_mut(d_rs).take(m).enumerate() {
                    for (j, x) in row[..n].iter_mut().enumerate() {
                        let v = t[j * m + i];
                        *x = if acc { *x + v } else { v };
                    }
                }
                return;
            }
            if a.cs == 1 && b.rs == 1 && k >= 64 {
                // both operands contiguous along k (a weight gradient): dot products
                sgemm_nt((m, n, k), (ad, a.rs), (bd, b.cs), d, d_rs, acc);
                return;
            }
            let av = View {
                data: ad,
                rs: a.rs,
                cs: a.cs,
            };
            let bv = View {
                data: bd,
                rs: b.rs,
                cs: b.cs,
            };
            sgemm((m, n, k), av, bv, d, d_rs, acc);
            return;
        }
    }
    // SAFETY: the asserts above keep every element the strides reach inside the slices.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            d_cs as isize,
            d_rs as isize,
            acc,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            if acc { T::one() } else { T::zero() },
            T::one(),
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Which parts of a convolution run on the direct kernels ([`super::conv_direct`]); the rest
/// run on im2col + GEMM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DirectPlan {
    pub forward: bool,
    pub input_grad: bool,
    pub weight_grad: bool,
}

/// Whether `g` has every window that fits (`ho`, `wo` as the window formula gives them): not
/// so for the adjoint of a transposed convolution with `output_padding >= stride` (see
/// [`Geom`]), which the direct kernels (they size their output from the padded input) must
/// not take.
fn all_windows(g: &Geom) -> bool {
    let fit = |size: usize, p: usize, k: usize, d: usize, s: usize| {
        (size + 2 * p)
            .checked_sub(d * (k - 1) + 1)
            .map(|r| r / s + 1)
    };
    fit(g.h, g.ph, g.kh, g.dh, g.sh) == Some(g.ho) && fit(g.w, g.pw, g.kw, g.dw, g.sw) == Some(g.wo)
}

/// The direct kernels' share of this convolution: only f32 on a CPU with vectors, never for empty
/// operands, and only where the output has every window that fits.
fn direct_plan<T: Float>(g: &Geom, groups: usize, cout: usize) -> DirectPlan {
    let empty =
        g.n * cout * g.l() == 0 || g.k(g.c / groups) == 0 || g.chw() == 0 || !all_windows(g);
    if T::as_f32(&[]).is_some() && !empty {
        return super::conv_direct::plan(g, g.c / groups, cout / groups);
    }
    DirectPlan::default()
}

/// `v` as f32, for the direct plan (which only f32 gets).
fn f32s<T: Float>(v: &[T]) -> &[f32] {
    T::as_f32(v).expect("the direct plan is for f32")
}

/// Forward convolution. `x: (N, C, H, W)`, `w: (C_out, C/groups, kH, kW)`, `b: (C_out,)`, all
/// contiguous; returns `(N, C_out, H_out, W_out)`.
pub(crate) fn conv2d<T: Float>(
    g: &Geom,
    groups: usize,
    cout: usize,
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
) -> Vec<T> {
    let (l, cg, cog) = (g.l(), g.c / groups, cout / groups);
    let kd = g.k(cg);
    if g.n * cout * l == 0 {
        return vec![T::zero(); g.n * cout * l];
    }
    if direct_plan::<T>(g, groups, cout).forward {
        let f = f32s::<T>;
        let y = super::conv_direct::forward(g, groups, cout, f(x), f(w), b.map(f));
        return T::from_f32_vec(y).expect("the direct plan is for f32");
    }
    let direct = cols_are_input(g);
    let map = ColMap::new(g);
    let nb = images_per_product(g).min(g.n);
    let cols_len = if direct { 0 } else { kd * l * nb };
    let tmp_len = if nb > 1 { cog * l * nb } else { 0 };
    // images per task: enough work to amortize a task, but at least one task per thread; a
    // multiple of the images per product, so that the products (and their results) do not
    // depend on the thread count
    let per = images_per_task(g.n, cout * kd * l + kd * l).div_ceil(nb) * nb;
    // a single image: split each product across threads instead (a choice made from the
    // shape alone, so the result does not depend on the thread count)
    let par = g.n == 1;
    let bias_row = |co: usize| b.map_or(T::zero(), |b| b[co]);
    // the `m` images from `i0` on, `y` their outputs; `buf` holds the column matrices (side by
    // side) and, for several images, their product before it is spread over the images
    let product = |buf: &mut [T], i0: usize, m: usize, y: &mut [T]| {
        let (cols, tmp) = buf.split_at_mut(cols_len);
        let ld = m * l;
        for grp in 0..groups {
            let wg = Mat {
                data: &w[grp * cog * kd..(grp + 1) * cog * kd],
                rs: kd,
                cs: 1,
            };
            let xg = |j: usize| {
                let xi = &x[(i0 + j) * g.chw()..(i0 + j + 1) * g.chw()];
                &xi[grp * cg * g.h * g.w..(grp + 1) * cg * g.h * g.w]
            };
            let src: &[T] = if direct {
                xg(0)
            } else {
                for j in 0..m {
                    im2col(g, &map, cg, xg(j), &mut cols[j * l..], ld);
                }
                cols
            };
            let src = Mat {
                data: src,
                rs: ld,
                cs: 1,
            };
            if m == 1 {
                // straight into the output, started at the bias
                let yg = &mut y[grp * cog * l..(grp + 1) * cog * l];
                if b.is_some() {
                    for (co, row) in yg.chunks_exact_mut(l).enumerate() {
                        row.fill(bias_row(grp * cog + co));
                    }
                }
                mm((cog, l, kd), yg, b.is_some(), wg, src, par);
                continue;
            }
            mm((cog, ld, kd), &mut tmp[..cog * ld], false, wg, src, par);
            for (j, yj) in y.chunks_exact_mut(cout * l).enumerate() {
                for co in 0..cog {
                    let bv = bias_row(grp * cog + co);
                    let dst = &mut yj[(grp * cog + co) * l..][..l];
                    for (d, &v) in dst.iter_mut().zip(&tmp[co * ld + j * l..][..l]) {
                        *d = v + bv;
                    }
                }
            }
        }
    };
    par::filled(g.n * cout * l, per * cout * l, |ci, yc| {
        T::with_scratch(cols_len + tmp_len, |buf| {
            for (k, yk) in yc.chunks_mut(nb * cout * l).enumerate() {
                product(buf, ci * per + k * nb, yk.len() / (cout * l), yk);
            }
        })
    })
}

/// Output positions a matrix product of the im2col path should have at least: the column
/// matrices of images with fewer output positions (a DCGAN's 7x7 maps, a CIFAR network's 8x8)
/// are laid side by side, so that one product packs the weights for several images and fills
/// the kernels' register tiles. Measured on one core (CPU time, batch 128) on the DCGAN layer
/// 128 -> 64 channels, 7x7 <-> 14x14, stride 2 (products of 49 positions), with AVX-512 and
/// AVX2: the transposed convolution's forward 33 -> 24 ms, forward and backward 96 -> 80 ms;
/// the convolution 64 -> 128 channels, 14x14 -> 7x7, forward and backward 94 -> 78 ms (AVX-512)
/// and 90 -> 75 ms (AVX2); layers of 8x8 and 16x16 outputs unchanged.
const PRODUCT_COLS: usize = 256;

/// Images per product of the im2col path for `g` (1 where the image itself is the column
/// matrix, or where there is none: no input channels).
fn images_per_product(g: &Geom) -> usize {
    if cols_are_input(g) || g.c == 0 {
        return 1;
    }
    PRODUCT_COLS.div_ceil(g.l().max(1)).min(16)
}

/// Multiply-adds (or element copies) a task should hold at least, so that it outweighs the
/// cost of scheduling it.
const TASK_WORK: usize = 1 << 21;

/// Images per task of a batch loop whose images cost `work_per_image` multiply-adds (or
/// copies) each: enough work to outweigh scheduling the task, and at least one task per
/// thread. Each image is computed alone, so the split never changes a result.
pub(crate) fn images_per_task(n: usize, work_per_image: usize) -> usize {
    let threads = crate::num_threads().max(1);
    TASK_WORK
        .div_ceil(work_per_image.max(1))
        .clamp(1, n.div_ceil(threads).max(1))
}

/// Number of fixed chunks the batch is split into for the weight gradient (independent of the
/// thread count, so the summation order is too).
pub(crate) fn batch_chunks(n: usize) -> usize {
    n.clamp(1, 16)
}

/// The transposed convolution, the adjoint of [`conv2d`] with geometry `g`: `x` (the adjoint's
/// output shape, `(N, C_out, H_out, W_out)`) -> `(N, C, H, W)`, the input gradient of that
/// convolution for the output gradient `x`, plus `b: (C,)` when given. `w: (C_out, C/groups,
/// kH, kW)`.
pub(crate) fn conv_transpose2d<T: Float>(
    g: &Geom,
    groups: usize,
    cout: usize,
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
) -> Vec<T> {
    // the input gradient never reads the convolution's input: an empty slice stands for it
    let (y, _) = conv2d_backward(g, groups, cout, &[], w, x, true, false);
    let mut y = y.expect("the input gradient was asked for");
    let hw = g.h * g.w;
    if let (Some(b), true) = (b, g.chw() > 0) {
        par::chunks_mut(&mut y, g.chw(), |_, yi| {
            for (plane, &bv) in yi.chunks_exact_mut(hw).zip(b) {
                for v in plane {
                    *v += bv;
                }
            }
        });
    }
    y
}

/// Gradients of [`conv2d`] with respect to the input (when `need_dx`) and the weight (when
/// `need_dw`), given `gy: (N, C_out, H_out, W_out)` contiguous. `x` is read only for the
/// weight gradient (it may be empty otherwise).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_backward<T: Float>(
    g: &Geom,
    groups: usize,
    cout: usize,
    x: &[T],
    w: &[T],
    gy: &[T],
    need_dx: bool,
    need_dw: bool,
) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let plan = direct_plan::<T>(g, groups, cout);
    let (direct_dx, direct_dw) = (need_dx && plan.input_grad, need_dw && plan.weight_grad);
    if !direct_dx && !direct_dw {
        return gemm_backward(g, groups, cout, (x, w, gy), need_dx, need_dw);
    }
    let (mut dx, mut dw) = (None, None);
    if (need_dx && !direct_dx) || (need_dw && !direct_dw) {
        (dx, dw) = gemm_backward(
            g,
            groups,
            cout,
            (x, w, gy),
            need_dx && !direct_dx,
            need_dw && !direct_dw,
        );
    }
    let f = f32s::<T>;
    if direct_dx {
        let v = super::conv_direct::input_grad(g, groups, cout, f(w), f(gy));
        dx = Some(T::from_f32_vec(v).expect("the direct plan is for f32"));
    }
    if direct_dw {
        let mut v = vec![T::zero(); cout * g.k(g.c / groups)];
        let vf = T::as_f32_mut(&mut v).expect("the direct plan is for f32");
        super::conv_direct_wgrad::weight_grad_batch(g, groups, cout, f(x), f(gy), vf);
        dw = Some(v);
    }
    (dx, dw)
}

/// [`conv2d_backward`] on im2col + GEMM.
fn gemm_backward<T: Float>(
    g: &Geom,
    groups: usize,
    cout: usize,
    (x, w, gy): (&[T], &[T], &[T]),
    need_dx: bool,
    need_dw: bool,
) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let (l, cg, cog) = (g.l(), g.c / groups, cout / groups);
    let kd = g.k(cg);
    let wsize = cout * kd;
    let chunks = batch_chunks(g.n);
    let per = g.n.div_ceil(chunks).max(1);
    let chunks = g.n.div_ceil(per).max(1);
    let mut dx = vec![T::zero(); if need_dx { g.n * g.chw() } else { 0 }];
    let mut partials = vec![T::zero(); if need_dw { chunks * wsize } else { 0 }];
    // nothing to sum: no output, no taps, or empty input planes (padding alone can still give
    // outputs, whose gradients then reach no input element and no weight)
    if g.n * cout * l == 0 || kd == 0 || g.chw() == 0 {
        let dw = need_dw.then(|| vec![T::zero(); wsize]);
        return (need_dx.then_some(dx), dw);
    }
    let par = g.n == 1;
    let direct = cols_are_input(g);
    let map = ColMap::new(g);
    let mut dx_parts: Vec<&mut [T]> = if need_dx {
        dx.chunks_mut(per * g.chw()).collect()
    } else {
        (0..chunks).map(|_| <&mut [T]>::default()).collect()
    };
    let mut dw_parts: Vec<&mut [T]> = if need_dw {
        partials.chunks_mut(wsize).collect()
    } else {
        (0..chunks).map(|_| <&mut [T]>::default()).collect()
    };
    // the images of a chunk go through the products in equal groups of up to
    // `images_per_product` (fixed by the shape, as the chunks are)
    let nb = per.div_ceil(per.div_ceil(images_per_product(g)));
    let cols_len = if direct { 0 } else { kd * l * nb };
    let gyb_len = if nb > 1 { cog * l * nb } else { 0 };
    // images `i0..i0 + m`, from the `j0`-th of their chunk on (its `k`-th product): `cols` holds their column
    // matrices side by side, `gyb` their output gradients side by side when there are several
    let product = |(cols, gyb): (&mut [T], &mut [T]),
                   (i0, j0, m, k): (usize, usize, usize, usize),
                   dxc: &mut [T],
                   dwc: &mut [T]| {
        let ld = m * l;
        for grp in 0..groups {
            let gg = |j: usize| &gy[(i0 + j) * cout * l + grp * cog * l..][..cog * l];
            let gg = if m == 1 {
                Mat {
                    data: gg(0),
                    rs: l,
                    cs: 1,
                }
            } else {
                for j in 0..m {
                    for (co, row) in gg(j).chunks_exact(l).enumerate() {
                        gyb[co * ld + j * l..][..l].copy_from_slice(row);
                    }
                }
                Mat {
                    data: &gyb[..cog * ld],
                    rs: ld,
                    cs: 1,
                }
            };
            let xr = grp * cg * g.h * g.w..(grp + 1) * cg * g.h * g.w;
            if need_dw {
                // dW_g += gy_g (cog x ld) @ cols^T (ld x kd)
                let xi = |j: usize| &x[(i0 + j) * g.chw()..(i0 + j + 1) * g.chw()];
                let src: &[T] = if direct {
                    &xi(0)[xr.clone()]
                } else {
                    for j in 0..m {
                        im2col(g, &map, cg, &xi(j)[xr.clone()], &mut cols[j * l..], ld);
                    }
                    cols
                };
                mm(
                    (cog, kd, ld),
                    &mut dwc[grp * cog * kd..(grp + 1) * cog * kd],
                    k > 0,
                    gg,
                    Mat {
                        data: src,
                        rs: 1,
                        cs: ld,
                    },
                    par,
                );
            }
            if need_dx {
                // dcols = W_g^T (kd x cog) @ gy_g (cog x ld), scattered back by col2im
                let wg = Mat {
                    data: &w[grp * cog * kd..(grp + 1) * cog * kd],
                    rs: 1,
                    cs: kd,
                };
                // `dxc` holds the chunk's images; these start at its `j0`-th
                let base = j0 * g.chw();
                if direct {
                    let dxi = &mut dxc[base..base + g.chw()];
                    mm((kd, l, cog), &mut dxi[xr], false, wg, gg, par);
                } else {
                    mm((kd, ld, cog), &mut cols[..kd * ld], false, wg, gg, par);
                    for j in 0..m {
                        let dxi = &mut dxc[base + j * g.chw()..base + (j + 1) * g.chw()];
                        col2im(g, &map, cg, &cols[j * l..], ld, &mut dxi[xr.clone()]);
                    }
                }
            }
        }
    };
    par::chunks_mut2(&mut dx_parts, 1, &mut dw_parts, 1, |ci, dxc, dwc| {
        T::with_scratch(cols_len + gyb_len, |buf| {
            let (cols, gyb) = buf.split_at_mut(cols_len);
            let count = per.min(g.n - ci * per);
            for (k, j0) in (0..count).step_by(nb).enumerate() {
                let m = nb.min(count - j0);
                let (dxc, dwc) = (&mut *dxc[0], &mut *dwc[0]);
                product((&mut *cols, &mut *gyb), (ci * per + j0, j0, m, k), dxc, dwc);
            }
        })
    });
    let dw = need_dw.then(|| {
        let mut dw = partials[..wsize].to_vec();
        for p in partials.chunks_exact(wsize).skip(1) {
            for (a, &b) in dw.iter_mut().zip(p) {
                *a += b;
            }
        }
        dw
    });
    (need_dx.then_some(dx), dw)
}

/// `unfold` of a batch: `x: (N, C, H, W)` -> `(N, C * kH * kW, H_out * W_out)`, images in parallel.
pub(crate) fn unfold<T: Float>(g: &Geom, x: &[T]) -> Vec<T> {
    let per = g.k(g.c) * g.l();
    let mut out = vec![T::zero(); g.n * per];
    if per > 0 {
        let (chw, map) = (g.chw(), ColMap::new(g));
        par::chunks_mut(&mut out, per, |i, o| {
            im2col(g, &map, g.c, &x[i * chw..(i + 1) * chw], o, g.l())
        });
    }
    out
}

/// `fold` of a batch, the adjoint of [`unfold`]: `(N, C * kH * kW, L)` -> `(N, C, H, W)`,
/// overlapping entries summed.
pub(crate) fn fold<T: Float>(g: &Geom, cols: &[T]) -> Vec<T> {
    let per = g.k(g.c) * g.l();
    let mut out = vec![T::zero(); g.n * g.chw()];
    if per > 0 && g.chw() > 0 {
        let map = ColMap::new(g);
        par::chunks_mut(&mut out, g.chw(), |i, xi| {
            col2im(g, &map, g.c, &cols[i * per..(i + 1) * per], g.l(), xi)
        });
    }
    out
}

#[cfg(test)]
#[path = "conv_tests.rs"]
mod tests;
