//! Direct f32 convolution kernels for CPUs with AVX-512: stride 1, no dilation.
//!
//! No column matrix is built and nothing is packed. A register tile of up to 12 output
//! channels by one or two 16-wide vectors of output positions sums, over the taps
//! `(c, ki, kj)`, a broadcast weight times the input shifted by the tap. The input of one
//! image is first copied either zero-padded, `(C, H + 2 pH, W + 2 pW)`, and swept row by row,
//! or, when output rows do not fill whole vectors, kW-fold shifted ([`shifted_rows`]) so that
//! every tap meets one contiguous run of the flattened output positions. With few channels
//! (LeNet's 1 -> 6 -> 16) the column matrix and its packed copy cost more memory traffic than
//! the product itself; up to 64 channels of 3x3 the tile's weights stay in L1 and the direct
//! kernels still win (see [`plan`]).
//!
//! - forward: the correlation of the input with the weights;
//! - input gradient: a stride-1 convolution's adjoint is the correlation of the output
//!   gradient, padded by `k - 1 - p`, with the weights flipped in space and with input and
//!   output channels swapped, so it runs on the same kernel ([`adjoint_geom`]);
//! - weight gradient: in [`super::conv_direct_wgrad`].
//!
//! Determinism: every output element is computed by one call, in a fixed order of taps, so
//! results never depend on the thread count.

use super::conv::{images_per_task, DirectPlan, Float, Geom};
use super::par;
use std::arch::x86_64::*;

/// Zeroed elements after a padded image, so that a 32-wide load starting in the last window
/// of the last row stays inside the buffer.
const SLACK: usize = 32;
/// Output channels per register tile of the correlation (12 x 2 accumulators + 2 inputs).
const MAX_ROWS: usize = 12;

/// Whether the direct kernels apply: f32 on AVX-512, stride 1, no dilation.
pub(crate) fn supported(g: &Geom) -> bool {
    g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && crate::cpu::isa::has_avx512()
}

#[cfg(test)]
thread_local! {
    /// Tests: Some(true) takes the direct kernels wherever they apply, Some(false) never.
    static FORCE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with the direct kernels forced on (wherever they apply) or off, on this thread.
#[cfg(test)]
pub(crate) fn forced<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let old = FORCE.with(|c| c.replace(Some(on)));
    let r = f();
    FORCE.with(|c| c.set(old));
    r
}

/// The direct kernels where they were measured faster than im2col + GEMM (the ignored test
/// `conv2d_timing` in `conv_tests.rs`, LeNet and small-CNN layers: 1.3x to 4x): up to 640
/// taps (64 channels of 3x3), where a tile's weights stay in L1. Larger layers were not
/// measured and keep im2col + GEMM.
pub(crate) fn plan(g: &Geom, cg: usize, cog: usize) -> DirectPlan {
    if !supported(g) {
        return DirectPlan::default();
    }
    // the adjoint needs a padding of k - 1 - p >= 0
    let adjoint = g.ph < g.kh && g.pw < g.kw;
    #[cfg(test)]
    if let Some(on) = FORCE.with(|c| c.get()) {
        return DirectPlan {
            forward: on,
            input_grad: on && adjoint,
            weight_grad: on,
        };
    }
    // taps of the forward correlation and of the input-gradient one
    let (kd, kd_t) = (cg * g.kh * g.kw, cog * g.kh * g.kw);
    DirectPlan {
        forward: kd <= 640,
        input_grad: adjoint && kd_t <= 640,
        weight_grad: kd <= 640,
    }
}

/// The forward correlation of one image from its [`shifted_rows`] copy `xs` (followed by
/// [`SLACK`] zeros): `out: (m, H_out * W_out)` swept as flat runs of 32 positions, since the
/// values tap `(ci, ki, kj)` meets at positions `p` are the contiguous `xs[tap_start + p]`.
fn correlate_flat(
    g: &Geom,
    c: usize,
    xs: &[f32],
    a: &[f32],
    m: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let l = g.l();
    let kd = c * g.kh * g.kw;
    assert!(supported_cpu(), "correlate_flat: avx512f is not available");
    assert!(
        xs.len() >= shifted_len(g, c) + SLACK,
        "correlate_flat: xs too small"
    );
    assert!(
        a.len() >= kd * m && out.len() >= m * l,
        "correlate_flat: a or out"
    );
    assert!(
        bias.is_none_or(|b| b.len() >= m),
        "correlate_flat: bias too small"
    );
    if m == 0 || l == 0 {
        return;
    }
    let taps = tap_offsets(g, c);
    let v = if l <= 16 { 1 } else { 2 };
    let rows = tile_rows(m);
    let zeros = [0f32; MAX_ROWS];
    for co in (0..m).step_by(rows) {
        let r = rows.min(m - co);
        let b = bias.map_or(&zeros[..], |b| &b[co..co + r]);
        for p in (0..l).step_by(16 * v) {
            let lanes = (l - p).min(16 * v);
            // SAFETY: avx512f is available (asserted). A tap's run starts at
            // (kj c + ci) hp wo + ki wo <= (kw c - 1) hp wo + (kh - 1) wo, and the loads reach
            // p + 16 v - 1 < l + 31 = ho wo + 31 further: below kw c hp wo + SLACK, inside xs;
            // the weights read are the tile's block a[co kd..(co + r) kd]; the stores are the
            // first `lanes` positions from p of rows co..co + r, inside out (asserted).
            unsafe {
                let ap = a.as_ptr().add(co * kd);
                let y = out.as_mut_ptr().add(co * l + p);
                let x = xs.as_ptr().add(p);
                let strip = Strip::along(lanes);
                row_tile_dispatch(v, r, &taps, ap, r, x, b.as_ptr(), y, l, strip);
            }
        }
    }
}

/// Where each tap `(ci, ki, kj)` (in that order) starts its run in an image's [`shifted_rows`].
pub(super) fn tap_offsets(g: &Geom, c: usize) -> Vec<usize> {
    let (hp, wo) = (g.h + 2 * g.ph, g.wo);
    let mut taps = Vec::with_capacity(c * g.kh * g.kw);
    for ci in 0..c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                taps.push((kj * c + ci) * hp * wo + ki * wo);
            }
        }
    }
    taps
}

/// Elements of one image's [`shifted_rows`] copy: `kW * c * (H + 2 pH) * W_out`.
pub(super) fn shifted_len(g: &Geom, c: usize) -> usize {
    g.kw * c * (g.h + 2 * g.ph) * g.wo
}

/// The input of one image as `xs: (kW, c, H + 2 pH, W_out)` with
/// `xs[kj][ci][r][ow] = x_padded[ci][r][ow + kj]`: for a tap `(ci, ki, kj)`, the values it
/// meets at the output positions `p = oh * W_out + ow` are then the contiguous run
/// `xs[kj][ci][ki * W_out + p]`, `p < H_out * W_out`. (A kW-fold copy, where a column matrix is
/// kH * kW-fold.)
pub(super) fn shifted_rows(g: &Geom, c: usize, x: &[f32], xs: &mut [f32]) {
    let (hp, wo) = (g.h + 2 * g.ph, g.wo);
    assert!(x.len() >= c * g.h * g.w && xs.len() == shifted_len(g, c));
    for (kj, xk) in xs.chunks_exact_mut(c * hp * wo).enumerate() {
        // input column of output column ow: ow + kj - pw, inside the image for ow in lo..hi
        let lo = g.pw.saturating_sub(kj).min(wo);
        let hi = (g.w + g.pw).saturating_sub(kj).clamp(lo, wo);
        for (ci, plane) in xk.chunks_exact_mut(hp * wo).enumerate() {
            for (r, row) in plane.chunks_exact_mut(wo).enumerate() {
                if r < g.ph || r >= g.ph + g.h {
                    row.fill(0.0);
                    continue;
                }
                let xr = &x[(ci * g.h + r - g.ph) * g.w..][..g.w];
                row[..lo].fill(0.0);
                row[hi..].fill(0.0);
                copy_row(&mut row[lo..hi], &xr[lo + kj - g.pw..hi + kj - g.pw]);
            }
        }
    }
}

/// Forward convolution of a batch: `x: (N, C, H, W)`, `w: (C_out, C/groups, kH, kW)`,
/// `b: (C_out,)`; returns `(N, C_out, H_out, W_out)`.
pub(crate) fn forward(
    g: &Geom,
    groups: usize,
    cout: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
) -> Vec<f32> {
    let (cg, cog, l) = (g.c / groups, cout / groups, g.l());
    let kd = g.k(cg);
    // a: (kd, cog) per group
    let a: Vec<Vec<f32>> = (0..groups)
        .map(|grp| forward_weights(&w[grp * cog * kd..(grp + 1) * cog * kd], cog, kd))
        .collect();
    let per = images_per_task(g.n, cout * kd * l);
    par::filled(g.n * cout * l, per * cout * l, |ci, yc| {
        <f32 as Float>::with_scratch(scratch_len(g, cg), |buf| {
            for (j, y) in yc.chunks_exact_mut(cout * l).enumerate() {
                let xi = &x[(ci * per + j) * g.chw()..][..g.chw()];
                for (grp, a) in a.iter().enumerate() {
                    let xg = &xi[grp * cg * g.h * g.w..(grp + 1) * cg * g.h * g.w];
                    let bias = b.map(|b| &b[grp * cog..(grp + 1) * cog]);
                    let yg = &mut y[grp * cog * l..(grp + 1) * cog * l];
                    correlate_image(g, cg, xg, (a, cog, bias), yg, buf);
                }
            }
        })
    })
}

/// Input gradient of a batch: `dx: (N, C, H, W)` from `gy: (N, C_out, H_out, W_out)`: per image,
/// the correlation of `gy` padded by `k - 1 - p` with the flipped, transposed weights, that is
/// the forward correlation of the geometry [`adjoint_geom`]. Needs `pH < kH` and `pW < kW`.
pub(crate) fn input_grad(g: &Geom, groups: usize, cout: usize, w: &[f32], gy: &[f32]) -> Vec<f32> {
    let (cg, cog, l) = (g.c / groups, cout / groups, g.l());
    let kd = g.k(cg);
    let ga = adjoint_geom(g, cout);
    // a: (cog * kh * kw, cg) per group
    let a: Vec<Vec<f32>> = (0..groups)
        .map(|grp| {
            let wg = &w[grp * cog * kd..(grp + 1) * cog * kd];
            input_grad_weights(wg, cog, cg, (g.kh, g.kw))
        })
        .collect();
    let per = images_per_task(g.n, cout * kd * l);
    par::filled(g.n * g.chw(), per * g.chw(), |ci, dxc| {
        <f32 as Float>::with_scratch(scratch_len(&ga, cog), |buf| {
            for (j, dxi) in dxc.chunks_exact_mut(g.chw()).enumerate() {
                let gi = &gy[(ci * per + j) * cout * l..][..cout * l];
                for (grp, a) in a.iter().enumerate() {
                    let gg = &gi[grp * cog * l..(grp + 1) * cog * l];
                    let d = &mut dxi[grp * cg * g.h * g.w..(grp + 1) * cg * g.h * g.w];
                    correlate_image(&ga, cog, gg, (a, cg, None), d, buf);
                }
            }
        })
    })
}

/// The geometry whose forward correlation is the input gradient of `g` (stride 1): the input
/// is `gy` (`cout` channels of H_out x W_out) padded by `k - 1 - p`, the output H x W.
fn adjoint_geom(g: &Geom, cout: usize) -> Geom {
    assert!(
        g.ph < g.kh && g.pw < g.kw,
        "input_grad: padding must be below the kernel size"
    );
    Geom {
        c: cout,
        h: g.ho,
        w: g.wo,
        ph: g.kh - 1 - g.ph,
        pw: g.kw - 1 - g.pw,
        ho: g.h,
        wo: g.w,
        ..*g
    }
}

/// Whether [`correlate_image`] sweeps flat runs over the shifted copy: when output rows do not
/// fill whole vectors and the copy (kW times the image) still fits in L1 with room to spare.
/// Measured on LeNet: the forward of 6 -> 16 channels on 14 x 14 (10 x 10 out) went from 1.02
/// to 0.76 ms per 256 images, but the input gradient of that layer (16 channels padded to
/// 18 x 18, an 80 kB copy) from 1.4 to 2.1 ms, so it stays on the padded image.
fn flat(g: &Geom, c: usize) -> bool {
    !g.wo.is_multiple_of(16) && shifted_len(g, c) <= FLAT_MAX
}

/// Largest shifted copy (elements) for [`flat`]: 32 kB of f32.
const FLAT_MAX: usize = 8192;

/// Scratch elements [`correlate_image`] needs for `c` input channels of `g`.
fn scratch_len(g: &Geom, c: usize) -> usize {
    if flat(g, c) {
        shifted_len(g, c) + SLACK
    } else {
        padded_len(c, (g.h, g.w), (g.ph, g.pw))
    }
}

/// One image (and group) of the forward correlation: `out: (m, H_out, W_out)` from
/// `x: (c, H, W)` and the packed weights `a` (with `bias` when given): as one flat run of
/// positions over the kW-fold shifted copy (no lanes lost at the end of every row) where
/// [`flat`], else row by row over the padded image; `buf` holds [`scratch_len`].
fn correlate_image(
    g: &Geom,
    c: usize,
    x: &[f32],
    (a, m, bias): (&[f32], usize, Option<&[f32]>),
    out: &mut [f32],
    buf: &mut [f32],
) {
    if flat(g, c) {
        let (xs, slack) = buf.split_at_mut(buf.len() - SLACK);
        shifted_rows(g, c, x, xs);
        slack.fill(0.0);
        correlate_flat(g, c, buf, a, m, bias, out);
    } else {
        let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
        pad(x, c, (g.h, g.w), (g.ph, g.pw), buf);
        correlate(buf, (c, hp, wp), (g.kh, g.kw), a, m, bias, out);
    }
}

/// Length of the padded buffer [`pad`] writes for `c` channels of `h x w` padded by `p`.
pub(crate) fn padded_len(c: usize, (h, w): (usize, usize), (ph, pw): (usize, usize)) -> usize {
    c * (h + 2 * ph) * (w + 2 * pw) + SLACK
}

/// Copies `x: (c, h, w)` into `dst: (c, h + 2 ph, w + 2 pw)` with zeros around, followed by
/// [`SLACK`] zeros; `dst` holds [`padded_len`] elements.
pub(crate) fn pad(
    x: &[f32],
    c: usize,
    (h, w): (usize, usize),
    (ph, pw): (usize, usize),
    dst: &mut [f32],
) {
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    assert!(x.len() >= c * h * w && dst.len() == padded_len(c, (h, w), (ph, pw)));
    for (xc, dc) in x
        .chunks_exact(h * w)
        .zip(dst.chunks_exact_mut(hp * wp))
        .take(c)
    {
        dc[..ph * wp].fill(0.0);
        dc[(ph + h) * wp..].fill(0.0);
        for (xr, dr) in xc.chunks_exact(w).zip(dc[ph * wp..].chunks_exact_mut(wp)) {
            dr[..pw].fill(0.0);
            copy_row(&mut dr[pw..pw + w], xr);
            dr[pw + w..].fill(0.0);
        }
    }
    dst[c * hp * wp..].fill(0.0);
}

/// `dst.copy_from_slice(src)` for the short rows of an image (tens of values): masked vector
/// moves, where `copy_from_slice` calls `memmove` once per row, which cost more than the
/// copy itself.
fn copy_row(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy_row: lengths differ");
    assert!(supported_cpu(), "copy_row: avx512f is not available");
    // SAFETY: avx512f is available; the masked moves touch only the first len elements of
    // each slice.
    unsafe { copy_row_avx512(dst, src) }
}

/// [`copy_row`] in masked 16-lane moves.
///
/// # Safety
/// avx512f is available and the slices have the same length.
#[target_feature(enable = "avx512f")]
unsafe fn copy_row_avx512(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    for i in (0..n).step_by(16) {
        let mask = ((1u32 << (n - i).min(16)) - 1) as __mmask16;
        let v = _mm512_maskz_loadu_ps(mask, src.as_ptr().add(i));
        _mm512_mask_storeu_ps(dst.as_mut_ptr().add(i), mask, v);
    }
}

/// Offsets of the taps `(c, ki, kj)` (in that order) in a padded buffer `(c, hp, wp)`.
fn taps(c: usize, hp: usize, wp: usize, (kh, kw): (usize, usize)) -> Vec<usize> {
    let mut t = Vec::with_capacity(c * kh * kw);
    for ci in 0..c {
        for ki in 0..kh {
            for kj in 0..kw {
                t.push(ci * hp * wp + ki * wp + kj);
            }
        }
    }
    t
}

/// `out: (m, hp - kh + 1, wp - kw + 1)` = the valid correlation of the padded `src: (c, hp, wp)`
/// (laid out by [`pad`]) with the weights `a` (from [`forward_weights`] or
/// [`input_grad_weights`]: `c * kh * kw` taps by `m` output channels), plus `bias: (m,)` when
/// given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn correlate(
    src: &[f32],
    (c, hp, wp): (usize, usize, usize),
    (kh, kw): (usize, usize),
    a: &[f32],
    m: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let (ho, wo) = (hp + 1 - kh, wp + 1 - kw);
    let kd = c * kh * kw;
    assert!(supported_cpu(), "correlate: avx512f is not available");
    assert!(src.len() >= c * hp * wp + SLACK, "correlate: src too small");
    assert!(
        a.len() >= kd * m && out.len() >= m * ho * wo,
        "correlate: a or out"
    );
    assert!(
        bias.is_none_or(|b| b.len() >= m),
        "correlate: bias too small"
    );
    if m == 0 || ho * wo == 0 {
        return;
    }
    let taps = taps(c, hp, wp, (kh, kw));
    let rows = tile_rows(m);
    let zeros = [0f32; MAX_ROWS];
    // a tile's weights (kd x r) stay in L1 while it sweeps the image
    for co in (0..m).step_by(rows) {
        let r = rows.min(m - co);
        let b = bias.map_or(&zeros[..], |b| &b[co..co + r]);
        let ap = a[co * kd..].as_ptr();
        // short rows (one vector each) go two at a time, so every broadcast weight feeds two
        // vectors; longer rows in strips of up to 32
        let row_pairs = wo <= 16;
        let (oh_step, ow_step) = if row_pairs { (2, wo) } else { (1, 32) };
        for oh in (0..ho).step_by(oh_step) {
            for ow in (0..wo).step_by(ow_step) {
                let (v, strip) = if row_pairs {
                    let v = (ho - oh).min(2);
                    (v, Strip::rows(wo, (wp, wo)))
                } else {
                    let lanes = (wo - ow).min(32);
                    (lanes.div_ceil(16), Strip::along(lanes))
                };
                // SAFETY: avx512f is available (asserted). The vectors start at output
                // (row, column) (oh, ow) and either (oh, ow + 16) or (oh + 1, ow) with oh + 1 < ho,
                // so the loads reach at most src[(c-1) hp wp + (kh-1) wp + kw-1 + (ho-1) wp +
                // ow + 15 (+ 16)], below c hp wp + SLACK since ow < wo = wp + 1 - kw; the
                // weights read are the tile's block a[co kd..(co + r) kd]; the stores are the
                // strip's masked lanes of rows co..co + r, inside out (asserted above).
                unsafe {
                    let x = src.as_ptr().add(oh * wp + ow);
                    let y = out.as_mut_ptr().add(co * ho * wo + oh * wo + ow);
                    row_tile_dispatch(v, r, &taps, ap, r, x, b.as_ptr(), y, ho * wo, strip);
                }
            }
        }
    }
}

/// Where the (one or two) vectors of a register tile lie and which of their lanes are stored:
/// vector j reads the input at `x + j * xstep` and writes the output at `y + j * ystep`.
#[derive(Clone, Copy)]
struct Strip {
    xstep: usize,
    ystep: usize,
    masks: [__mmask16; 2],
}

impl Strip {
    /// `lanes` (at most 32) consecutive positions of one row.
    fn along(lanes: usize) -> Strip {
        let m = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
        Strip {
            xstep: 16,
            ystep: 16,
            masks: [m(lanes), m(lanes.saturating_sub(16))],
        }
    }
    /// The first `wo` (at most 16) positions of two consecutive rows, `(x, y)` row strides apart.
    fn rows(wo: usize, (xrow, yrow): (usize, usize)) -> Strip {
        let m = ((1u32 << wo) - 1) as __mmask16;
        Strip {
            xstep: xrow,
            ystep: yrow,
            masks: [m, m],
        }
    }
}

pub(super) fn supported_cpu() -> bool {
    crate::cpu::isa::has_avx512()
}

/// Calls [`row_tile`] with `R = r` (1 to [`MAX_ROWS`]) and `V = v` (1 or 2).
///
/// # Safety
/// As for [`row_tile`].
#[allow(clippy::too_many_arguments)]
unsafe fn row_tile_dispatch(
    v: usize,
    r: usize,
    taps: &[usize],
    a: *const f32,
    lda: usize,
    x: *const f32,
    b: *const f32,
    y: *mut f32,
    ldy: usize,
    strip: Strip,
) {
    macro_rules! go {
        ($($r:literal)*) => {
            match (v, r) {
                $((1, $r) => row_tile::<$r, 1>(taps, a, lda, x, b, y, ldy, strip),
                  (2, $r) => row_tile::<$r, 2>(taps, a, lda, x, b, y, ldy, strip),)*
                _ => unreachable!("row tile {r} x {v}"),
            }
        };
    }
    go!(1 2 3 4 5 6 7 8 9 10 11 12)
}

/// One register tile of [`correlate`]: for `i < R`, vectors `v < V` and their masked lanes
/// `j`, `y[i * ldy + v * ystep + j] = b[i] + sum_t a[t * lda + i] * x[taps[t] + v * xstep + j]`.
///
/// # Safety
/// avx512f is available; `x + taps[t] + v * xstep + 16` stays inside one allocation for every
/// tap and vector; `a` holds `taps.len()` rows of stride `lda` with R readable columns; `b`
/// holds R values; the masked lanes of `y` described are writable and nothing else accesses them.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn row_tile<const R: usize, const V: usize>(
    taps: &[usize],
    a: *const f32,
    lda: usize,
    x: *const f32,
    b: *const f32,
    y: *mut f32,
    ldy: usize,
    strip: Strip,
) {
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    for (i, row) in acc.iter_mut().enumerate() {
        *row = [_mm512_set1_ps(*b.add(i)); V];
    }
    let mut ar = a;
    for &off in taps {
        let xo = x.add(off);
        let mut xv = [_mm512_setzero_ps(); V];
        for (j, v) in xv.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(xo.add(strip.xstep * j));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm512_set1_ps(*ar.add(i));
            for (s, &v) in row.iter_mut().zip(&xv) {
                *s = _mm512_fmadd_ps(ai, v, *s);
            }
        }
        ar = ar.add(lda);
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &s) in row.iter().enumerate() {
            _mm512_mask_storeu_ps(y.add(i * ldy + strip.ystep * j), strip.masks[j], s);
        }
    }
}

/// Output channels per register tile of [`correlate`] for `m` channels: the fewest tiles of at
/// most [`MAX_ROWS`], as even as possible.
fn tile_rows(m: usize) -> usize {
    m.div_ceil(m.div_ceil(MAX_ROWS).max(1)).max(1)
}

/// The `a` operand of [`correlate`] for `m` output channels and `kd` taps, with
/// `a(t, co) = get(t, co)`: per tile of [`tile_rows`] channels starting at `co`, a `kd x r`
/// row-major block at `co * kd`, so that a tile reads its weights in one contiguous run.
fn pack_weights(m: usize, kd: usize, get: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let mut a = vec![0f32; kd * m];
    let rows = tile_rows(m);
    for co in (0..m).step_by(rows) {
        let r = rows.min(m - co);
        for (t, ar) in a[co * kd..(co + r) * kd].chunks_exact_mut(r).enumerate() {
            for (i, v) in ar.iter_mut().enumerate() {
                *v = get(t, co + i);
            }
        }
    }
    a
}

/// The weights `w: (m, c, kh, kw)` as the `a` operand of the forward [`correlate`]:
/// `a(t, co) = w[co][t]` with taps `t = (ci, ki, kj)`.
pub(crate) fn forward_weights(w: &[f32], m: usize, kd: usize) -> Vec<f32> {
    assert!(w.len() >= m * kd);
    pack_weights(m, kd, |t, co| w[co * kd + t])
}

/// The weights `w: (m, c, kh, kw)` as the `a` operand of the input-gradient [`correlate`]
/// (`c` output channels, taps `(co, ki, kj)`): `a((co, ki, kj), ci) = w[co][ci][kh-1-ki][kw-1-kj]`.
pub(crate) fn input_grad_weights(
    w: &[f32],
    m: usize,
    c: usize,
    (kh, kw): (usize, usize),
) -> Vec<f32> {
    assert!(w.len() >= m * c * kh * kw);
    pack_weights(c, m * kh * kw, |t, ci| {
        let (co, ki, kj) = (t / (kh * kw), t / kw % kh, t % kw);
        w[((co * c + ci) * kh + (kh - 1 - ki)) * kw + (kw - 1 - kj)]
    })
}
