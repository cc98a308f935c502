//! Direct f32 convolution kernels for CPUs with vector units: stride 1, no dilation. One source,
//! generic over [`Simd`] (AVX-512, AVX2+FMA, NEON), instantiated per instruction set in [`Kern`].
//!
//! No column matrix is built and nothing is packed. A register tile of up to `S::MR` (12 on
//! AVX-512 and NEON, 6 on AVX2's 16 registers) output channels by one or two vectors of output
//! positions sums, over the taps
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
use super::isa::Isa;
use super::par;
#[cfg(target_arch = "aarch64")]
use super::simd::Neon;
use super::simd::Simd;
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512};

/// Zeroed elements after a padded image, so that a load of two vectors (at most 32 lanes)
/// starting in the last window of the last row stays inside the buffer.
const SLACK: usize = 32;
/// Most output channels per register tile of any instruction set.
const MAX_ROWS: usize = 12;

/// The kernels compiled for one instruction set.
#[derive(Clone, Copy)]
pub(crate) struct Kern {
    /// The instruction set the kernels are compiled for.
    isa: Isa,
    /// Lanes per vector.
    lanes: usize,
    /// Output channels per register tile at most (`S::MR`: what the registers hold with two
    /// vectors of positions).
    max_rows: usize,
    /// [`row_tile_dispatch`] instantiated for the instruction set.
    #[allow(clippy::type_complexity)]
    row_tile: unsafe fn(
        usize,
        usize,
        &[usize],
        *const f32,
        usize,
        *const f32,
        *const f32,
        *mut f32,
        usize,
        Strip,
    ),
    /// [`copy_row_on`] instantiated for the instruction set.
    copy_row: unsafe fn(&mut [f32], &[f32]),
}

/// Defines the [`Kern`] constant `$k` for vector type `$s` compiled with `$feat`.
macro_rules! kern {
    ($k:ident, $isa:expr, $s:ty, $feat:literal) => {
        const $k: Kern = {
            /// # Safety
            /// The CPU has the instruction set; see [`row_tile`].
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn row_tile_on(
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
                row_tile_dispatch::<$s>(v, r, taps, a, lda, x, b, y, ldy, strip)
            }
            /// # Safety
            /// The CPU has the instruction set; the slices have the same length.
            #[target_feature(enable = $feat)]
            unsafe fn copy_row_isa(dst: &mut [f32], src: &[f32]) {
                copy_row_on::<$s>(dst, src)
            }
            Kern {
                isa: $isa,
                lanes: <$s as Simd>::LANES,
                max_rows: <$s as Simd>::MR,
                row_tile: row_tile_on,
                copy_row: copy_row_isa,
            }
        };
    };
}

#[cfg(target_arch = "x86_64")]
kern!(AVX512, Isa::Avx512, Avx512, "avx512f");
#[cfg(target_arch = "x86_64")]
kern!(AVX2, Isa::Avx2, Avx2, "avx2,fma");
#[cfg(target_arch = "aarch64")]
kern!(NEON, Isa::Neon, Neon, "neon");

impl Kern {
    /// The instruction set the kernels are compiled for.
    pub(super) fn isa(&self) -> Isa {
        self.isa
    }
}

/// The kernels for `isa`, if it has vectors.
pub(super) fn kern_for(isa: Isa) -> Option<Kern> {
    super::simd::per_isa!(isa, AVX512, AVX2, NEON)
}

/// The kernels for the instruction set in use (or the one a test forced on this thread).
pub(super) fn kern() -> Option<Kern> {
    #[cfg(test)]
    if let Some(i) = FORCE_ISA.with(|c| c.get()) {
        return kern_for(i);
    }
    kern_for(super::isa::isa())
}

/// Whether the direct kernels apply: f32 on a CPU with vectors, stride 1, no dilation.
pub(crate) fn supported(g: &Geom) -> bool {
    g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && kern().is_some()
}

#[cfg(test)]
thread_local! {
    /// Tests: Some(true) takes the direct kernels wherever they apply, Some(false) never.
    static FORCE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    /// Tests: the instruction set the direct kernels use on this thread.
    static FORCE_ISA: std::cell::Cell<Option<Isa>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with the direct kernels on instruction set `isa` (which the CPU must run) for the
/// convolutions this thread starts (the kernels are chosen once per call, on its thread).
#[cfg(test)]
pub(crate) fn on_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    let old = FORCE_ISA.with(|c| c.replace(Some(isa)));
    let r = f();
    FORCE_ISA.with(|c| c.set(old));
    r
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
/// [`SLACK`] zeros): `out: (m, H_out * W_out)` swept as flat runs of two vectors of positions,
/// since the values tap `(ci, ki, kj)` meets at positions `p` are the contiguous
/// `xs[tap_start + p]`.
#[allow(clippy::too_many_arguments)]
fn correlate_flat(
    k: Kern,
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
    let ln = k.lanes;
    let v = if l <= ln { 1 } else { 2 };
    let rows = tile_rows(k, m);
    let zeros = [0f32; MAX_ROWS];
    for co in (0..m).step_by(rows) {
        let r = rows.min(m - co);
        let b = bias.map_or(&zeros[..], |b| &b[co..co + r]);
        for p in (0..l).step_by(ln * v) {
            let lanes = (l - p).min(ln * v);
            // SAFETY: the CPU runs k (`kern`). A tap's run starts at
            // (kj c + ci) hp wo + ki wo <= (kw c - 1) hp wo + (kh - 1) wo, and the loads reach
            // p + ln v - 1 < l + 31 = ho wo + 31 further: below kw c hp wo + SLACK, inside xs;
            // the weights read are the tile's block a[co kd..(co + r) kd]; the stores are the
            // first `lanes` positions from p of rows co..co + r, inside out (asserted).
            unsafe {
                let ap = a.as_ptr().add(co * kd);
                let y = out.as_mut_ptr().add(co * l + p);
                let x = xs.as_ptr().add(p);
                let strip = Strip::along(lanes, ln);
                (k.row_tile)(v, r, &taps, ap, r, x, b.as_ptr(), y, l, strip);
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
pub(super) fn shifted_rows(k: Kern, g: &Geom, c: usize, x: &[f32], xs: &mut [f32]) {
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
                copy_row(k, &mut row[lo..hi], &xr[lo + kj - g.pw..hi + kj - g.pw]);
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
    let k = kern().expect("conv forward: the CPU has no vector kernels");
    let (cg, cog, l) = (g.c / groups, cout / groups, g.l());
    let kd = g.k(cg);
    // a: (kd, cog) per group
    let a: Vec<Vec<f32>> = (0..groups)
        .map(|grp| forward_weights(k, &w[grp * cog * kd..(grp + 1) * cog * kd], cog, kd))
        .collect();
    let per = images_per_task(g.n, cout * kd * l);
    par::filled(g.n * cout * l, per * cout * l, |ci, yc| {
        <f32 as Float>::with_scratch(scratch_len(k, g, cg), |buf| {
            for (j, y) in yc.chunks_exact_mut(cout * l).enumerate() {
                let xi = &x[(ci * per + j) * g.chw()..][..g.chw()];
                for (grp, a) in a.iter().enumerate() {
                    let xg = &xi[grp * cg * g.h * g.w..(grp + 1) * cg * g.h * g.w];
                    let bias = b.map(|b| &b[grp * cog..(grp + 1) * cog]);
                    let yg = &mut y[grp * cog * l..(grp + 1) * cog * l];
                    correlate_image(k, g, cg, xg, (a, cog, bias), yg, buf);
                }
            }
        })
    })
}

/// Input gradient of a batch: `dx: (N, C, H, W)` from `gy: (N, C_out, H_out, W_out)`: per image,
/// the correlation of `gy` padded by `k - 1 - p` with the flipped, transposed weights, that is
/// the forward correlation of the geometry [`adjoint_geom`]. Needs `pH < kH` and `pW < kW`.
pub(crate) fn input_grad(g: &Geom, groups: usize, cout: usize, w: &[f32], gy: &[f32]) -> Vec<f32> {
    let k = kern().expect("conv input_grad: the CPU has no vector kernels");
    let (cg, cog, l) = (g.c / groups, cout / groups, g.l());
    let kd = g.k(cg);
    let ga = adjoint_geom(g, cout);
    // a: (cog * kh * kw, cg) per group
    let a: Vec<Vec<f32>> = (0..groups)
        .map(|grp| {
            let wg = &w[grp * cog * kd..(grp + 1) * cog * kd];
            input_grad_weights(k, wg, cog, cg, (g.kh, g.kw))
        })
        .collect();
    let per = images_per_task(g.n, cout * kd * l);
    par::filled(g.n * g.chw(), per * g.chw(), |ci, dxc| {
        <f32 as Float>::with_scratch(scratch_len(k, &ga, cog), |buf| {
            for (j, dxi) in dxc.chunks_exact_mut(g.chw()).enumerate() {
                let gi = &gy[(ci * per + j) * cout * l..][..cout * l];
                for (grp, a) in a.iter().enumerate() {
                    let gg = &gi[grp * cog * l..(grp + 1) * cog * l];
                    let d = &mut dxi[grp * cg * g.h * g.w..(grp + 1) * cg * g.h * g.w];
                    correlate_image(k, &ga, cog, gg, (a, cg, None), d, buf);
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
fn flat(k: Kern, g: &Geom, c: usize) -> bool {
    !g.wo.is_multiple_of(k.lanes) && shifted_len(g, c) <= FLAT_MAX
}

/// Largest shifted copy (elements) for [`flat`]: 32 kB of f32.
const FLAT_MAX: usize = 8192;

/// Scratch elements [`correlate_image`] needs for `c` input channels of `g`.
fn scratch_len(k: Kern, g: &Geom, c: usize) -> usize {
    if flat(k, g, c) {
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
    k: Kern,
    g: &Geom,
    c: usize,
    x: &[f32],
    (a, m, bias): (&[f32], usize, Option<&[f32]>),
    out: &mut [f32],
    buf: &mut [f32],
) {
    if flat(k, g, c) {
        let (xs, slack) = buf.split_at_mut(buf.len() - SLACK);
        shifted_rows(k, g, c, x, xs);
        slack.fill(0.0);
        correlate_flat(k, g, c, buf, a, m, bias, out);
    } else {
        let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
        pad(k, x, c, (g.h, g.w), (g.ph, g.pw), buf);
        correlate(k, buf, (c, hp, wp), (g.kh, g.kw), a, m, bias, out);
    }
}

/// Length of the padded buffer [`pad`] writes for `c` channels of `h x w` padded by `p`.
pub(crate) fn padded_len(c: usize, (h, w): (usize, usize), (ph, pw): (usize, usize)) -> usize {
    c * (h + 2 * ph) * (w + 2 * pw) + SLACK
}

/// Copies `x: (c, h, w)` into `dst: (c, h + 2 ph, w + 2 pw)` with zeros around, followed by
/// [`SLACK`] zeros; `dst` holds [`padded_len`] elements.
pub(crate) fn pad(
    k: Kern,
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
            copy_row(k, &mut dr[pw..pw + w], xr);
            dr[pw + w..].fill(0.0);
        }
    }
    dst[c * hp * wp..].fill(0.0);
}

/// `dst.copy_from_slice(src)` for the short rows of an image (tens of values): masked vector
/// moves, where `copy_from_slice` calls `memmove` once per row, which cost more than the
/// copy itself.
fn copy_row(k: Kern, dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy_row: lengths differ");
    // SAFETY: the CPU runs k (`kern`); the moves touch only the first len elements of each
    // slice.
    unsafe { (k.copy_row)(dst, src) }
}

/// [`copy_row`] in vector moves, the last one partial.
///
/// # Safety
/// The CPU runs `S` and this is inlined into a function compiled for it; the slices have the
/// same length.
#[inline(always)]
unsafe fn copy_row_on<S: Simd>(dst: &mut [f32], src: &[f32]) {
    let (n, l) = (dst.len(), S::LANES);
    for i in (0..n).step_by(l) {
        let (s, d) = (src.as_ptr().add(i), dst.as_mut_ptr().add(i));
        if n - i >= l {
            S::store(d, S::load(s));
        } else {
            S::store_partial(d, n - i, S::load_partial(s, n - i));
        }
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
    k: Kern,
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
    let (rows, ln) = (tile_rows(k, m), k.lanes);
    let zeros = [0f32; MAX_ROWS];
    // a tile's weights (kd x r) stay in L1 while it sweeps the image
    for co in (0..m).step_by(rows) {
        let r = rows.min(m - co);
        let b = bias.map_or(&zeros[..], |b| &b[co..co + r]);
        let ap = a[co * kd..].as_ptr();
        // short rows (one vector each) go two at a time, so every broadcast weight feeds two
        // vectors; longer rows in strips of up to two vectors
        let row_pairs = wo <= ln;
        let (oh_step, ow_step) = if row_pairs { (2, wo) } else { (1, 2 * ln) };
        for oh in (0..ho).step_by(oh_step) {
            for ow in (0..wo).step_by(ow_step) {
                let (v, strip) = if row_pairs {
                    let v = (ho - oh).min(2);
                    (v, Strip::rows(wo, (wp, wo)))
                } else {
                    let lanes = (wo - ow).min(2 * ln);
                    (lanes.div_ceil(ln), Strip::along(lanes, ln))
                };
                // SAFETY: the CPU runs k (`kern`). The vectors start at output (row, column)
                // (oh, ow) and either (oh, ow + ln) or (oh + 1, ow) with oh + 1 < ho, so the
                // loads reach at most src[(c-1) hp wp + (kh-1) wp + kw-1 + (ho-1) wp + ow +
                // ln - 1 (+ ln)], below c hp wp + SLACK since ow < wo = wp + 1 - kw; the
                // weights read are the tile's block a[co kd..(co + r) kd]; the stores are the
                // strip's masked lanes of rows co..co + r, inside out (asserted above).
                unsafe {
                    let x = src.as_ptr().add(oh * wp + ow);
                    let y = out.as_mut_ptr().add(co * ho * wo + oh * wo + ow);
                    (k.row_tile)(v, r, &taps, ap, r, x, b.as_ptr(), y, ho * wo, strip);
                }
            }
        }
    }
}

/// Where the (one or two) vectors of a register tile lie and how many of their lanes are
/// stored: vector j reads the input at `x + j * xstep` and writes `n[j]` lanes of the output at
/// `y + j * ystep`.
#[derive(Clone, Copy)]
pub(crate) struct Strip {
    xstep: usize,
    ystep: usize,
    n: [usize; 2],
}

impl Strip {
    /// `lanes` (at most two vectors of `ln`) consecutive positions of one row.
    fn along(lanes: usize, ln: usize) -> Strip {
        Strip {
            xstep: ln,
            ystep: ln,
            n: [lanes.min(ln), lanes.saturating_sub(ln).min(ln)],
        }
    }
    /// The first `wo` (at most one vector) positions of two consecutive rows, `(x, y)` row
    /// strides apart.
    fn rows(wo: usize, (xrow, yrow): (usize, usize)) -> Strip {
        Strip {
            xstep: xrow,
            ystep: yrow,
            n: [wo, wo],
        }
    }
}

/// Calls [`row_tile`] with `R = r` (1 to `S::MR`) and `V = v` (1 or 2).
///
/// # Safety
/// As for [`row_tile`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn row_tile_dispatch<S: Simd>(
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
                $((1, $r) => row_tile::<S, $r, 1>(taps, a, lda, x, b, y, ldy, strip),
                  (2, $r) => row_tile::<S, $r, 2>(taps, a, lda, x, b, y, ldy, strip),)*
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
/// The CPU runs `S` and this is inlined into a function compiled for it; `x + taps[t] +
/// v * xstep + LANES` stays inside one allocation for every tap and vector; `a` holds
/// `taps.len()` rows of stride `lda` with R readable columns; `b` holds R values; the lanes of
/// `y` described are writable and nothing else accesses them.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn row_tile<S: Simd, const R: usize, const V: usize>(
    taps: &[usize],
    a: *const f32,
    lda: usize,
    x: *const f32,
    b: *const f32,
    y: *mut f32,
    ldy: usize,
    strip: Strip,
) {
    let mut acc = [[S::zero(); V]; R];
    for (i, row) in acc.iter_mut().enumerate() {
        *row = [S::splat(*b.add(i)); V];
    }
    let mut ar = a;
    for &off in taps {
        let xo = x.add(off);
        let mut xv = [S::zero(); V];
        for (j, v) in xv.iter_mut().enumerate() {
            *v = S::load(xo.add(strip.xstep * j));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = S::splat(*ar.add(i));
            for (s, &v) in row.iter_mut().zip(&xv) {
                *s = S::fma(ai, v, *s);
            }
        }
        ar = ar.add(lda);
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &s) in row.iter().enumerate() {
            let (p, n) = (y.add(i * ldy + strip.ystep * j), strip.n[j]);
            if n == S::LANES {
                S::store(p, s);
            } else if n > 0 {
                S::store_partial(p, n, s);
            }
        }
    }
}

/// Output channels per register tile of [`correlate`] for `m` channels: the fewest tiles of at
/// most `k.max_rows`, as even as possible.
fn tile_rows(k: Kern, m: usize) -> usize {
    m.div_ceil(m.div_ceil(k.max_rows).max(1)).max(1)
}

/// The `a` operand of [`correlate`] for `m` output channels and `kd` taps, with
/// `a(t, co) = get(t, co)`: per tile of [`tile_rows`] channels starting at `co`, a `kd x r`
/// row-major block at `co * kd`, so that a tile reads its weights in one contiguous run.
fn pack_weights(k: Kern, m: usize, kd: usize, get: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let mut a = vec![0f32; kd * m];
    let rows = tile_rows(k, m);
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
pub(crate) fn forward_weights(k: Kern, w: &[f32], m: usize, kd: usize) -> Vec<f32> {
    assert!(w.len() >= m * kd);
    pack_weights(k, m, kd, |t, co| w[co * kd + t])
}

/// The weights `w: (m, c, kh, kw)` as the `a` operand of the input-gradient [`correlate`]
/// (`c` output channels, taps `(co, ki, kj)`): `a((co, ki, kj), ci) = w[co][ci][kh-1-ki][kw-1-kj]`.
pub(crate) fn input_grad_weights(
    k: Kern,
    w: &[f32],
    m: usize,
    c: usize,
    (kh, kw): (usize, usize),
) -> Vec<f32> {
    assert!(w.len() >= m * c * kh * kw);
    pack_weights(k, c, m * kh * kw, |t, ci| {
        let (co, ki, kj) = (t / (kh * kw), t / kw % kh, t % kw);
        w[((co * c + ci) * kh + (kh - 1 - ki)) * kw + (kw - 1 - kj)]
    })
}
