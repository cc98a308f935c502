//! The weight gradient of a stride-1, undilated convolution (f32), for the direct kernels of
//! [`super::conv_direct`]: one source generic over [`Simd`] (AVX-512, AVX2+FMA, NEON),
//! instantiated per instruction set in [`WKern`] with register tiles sized to its register file.
//!
//! `dW[co][(ci, ki, kj)] = sum over images and output positions p of gy[co][p] * x_tap[p]`,
//! where `x_tap` is the padded input shifted by the tap. Instead of a column matrix (a
//! kH * kW-fold copy of the image), the input is copied kW-fold, shifted by each kj
//! ([`shifted_rows`]): every tap's values are then one contiguous run over the positions. Two
//! register tiles read those runs:
//! - few output channels: one vector of positions per step, partial sums over a group of
//!   images reduced once at the end ([`dw_tile`]);
//! - 16 or more: output channels across the lanes, from a transposed copy of `gy`, times a
//!   broadcast input value, so that no reduction is needed ([`dwt_tile`]).
//!
//! Determinism: the batch is cut into fixed chunks ([`batch_chunks`]) and each chunk into
//! fixed groups of images (bounded scratch); each chunk's sum is formed group by group, in a
//! fixed order, by one task, and the chunk partials are added in chunk order.

use super::conv::{batch_chunks, Float, Geom};
use super::conv_direct::{kern, shifted_len, shifted_rows, tap_offsets};
use super::isa::Isa;
use super::par;
#[cfg(target_arch = "aarch64")]
use super::simd::Neon;
use super::simd::Simd;
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512};

/// The weight-gradient kernels compiled for one instruction set, with the register tiles that
/// fit its registers: a [`dw_tile`] of `dw_rows x dw_taps` accumulators (plus `dw_rows` loaded
/// gradients and one input vector), a [`dwt_tile`] of `dwt_taps x 2` (plus two gradient
/// vectors and one broadcast). AVX-512 and NEON have 32 vector registers, AVX2 16.
#[derive(Clone, Copy)]
pub(crate) struct WKern {
    /// Lanes per vector.
    lanes: usize,
    /// Output channels and taps per [`dw_tile`] (at most 4 and 5).
    dw_rows: usize,
    dw_taps: usize,
    /// Taps per [`dwt_tile`] (at most 12; by up to two vectors of output channels).
    dwt_taps: usize,
    /// [`dw_tile_dispatch`] instantiated for the instruction set.
    #[allow(clippy::type_complexity)]
    dw_tile: unsafe fn(usize, usize, *const f32, *const f32, *const usize, *mut f32, &DwGeom),
    /// [`dwt_tile_dispatch`] instantiated for the instruction set.
    #[allow(clippy::type_complexity)]
    dwt_tile:
        unsafe fn(usize, usize, *const f32, *const usize, *const f32, *mut f32, usize, &DwtGeom),
    /// [`transpose_on`] instantiated for the instruction set.
    transpose: unsafe fn(&[f32], usize, usize, &mut [f32], usize),
}

/// Defines the [`WKern`] constant `$k` for vector type `$s` compiled with `$feat`.
macro_rules! wkern {
    ($k:ident, $s:ty, $feat:literal, $rows:literal, $taps:literal, $ttaps:literal) => {
        const $k: WKern = {
            /// # Safety
            /// The CPU has the instruction set; see [`dw_tile`].
            #[target_feature(enable = $feat)]
            unsafe fn dw_on(
                r: usize,
                t: usize,
                xs: *const f32,
                gy: *const f32,
                taps: *const usize,
                out: *mut f32,
                g: &DwGeom,
            ) {
                dw_tile_dispatch::<$s>(r, t, xs, gy, taps, out, g)
            }
            /// # Safety
            /// The CPU has the instruction set; see [`dwt_tile`].
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn dwt_on(
                t: usize,
                v: usize,
                xs: *const f32,
                taps: *const usize,
                gt: *const f32,
                out: *mut f32,
                lanes: usize,
                g: &DwtGeom,
            ) {
                dwt_tile_dispatch::<$s>(t, v, xs, taps, gt, out, lanes, g)
            }
            /// # Safety
            /// The CPU has the instruction set; see [`transpose_on`].
            #[target_feature(enable = $feat)]
            unsafe fn transpose_isa(
                src: &[f32],
                rows: usize,
                cols: usize,
                dst: &mut [f32],
                ld: usize,
            ) {
                transpose_on::<$s>(src, rows, cols, dst, ld)
            }
            WKern {
                lanes: <$s as Simd>::LANES,
                dw_rows: $rows,
                dw_taps: $taps,
                dwt_taps: $ttaps,
                dw_tile: dw_on,
                dwt_tile: dwt_on,
                transpose: transpose_isa,
            }
        };
    };
}

// 4 x 5 + 4 + 1 = 25 and 12 x 2 + 2 + 1 = 27 of 32 registers
#[cfg(target_arch = "x86_64")]
wkern!(AVX512, Avx512, "avx512f", 4, 5, 12);
// 3 x 3 + 3 + 1 = 13 and 6 x 2 + 2 + 1 = 15 of 16 registers
#[cfg(target_arch = "x86_64")]
wkern!(AVX2, Avx2, "avx2,fma", 3, 3, 6);
#[cfg(target_arch = "aarch64")]
wkern!(NEON, Neon, "neon", 4, 5, 12);

/// The weight-gradient kernels for `isa`, if it has vectors.
pub(crate) fn wkern_for(isa: Isa) -> Option<WKern> {
    super::simd::per_isa!(isa, AVX512, AVX2, NEON)
}

/// From this many output channels on, [`dwt_tile`] (channels across the lanes).
const DWT_MIN_CHANNELS: usize = 16;
/// Most scratch elements (shifted copies and transposed gradients) a task holds: 16 MB of f32
/// (8 kB in tests, so that small cases go through several groups of images).
const SCRATCH_MAX: usize = if cfg!(test) { 1 << 11 } else { 1 << 22 };

/// Weight gradient of a batch: `dw: (C_out, C/groups, kH, kW)` from `x: (N, C, H, W)` and
/// `gy: (N, C_out, H_out, W_out)`, summed per fixed chunk of images ([`batch_chunks`]) and the
/// chunk partials added in chunk order.
pub(crate) fn weight_grad_batch(
    g: &Geom,
    groups: usize,
    cout: usize,
    x: &[f32],
    gy: &[f32],
    dw: &mut [f32],
) {
    // the instruction set is chosen once, on the calling thread (a test may force one)
    let k = kern().expect("weight_grad: the direct kernels need vector instructions");
    let wk = wkern_for(k.isa()).expect("weight_grad: kernels for every vector set");
    let (cg, cog, l) = (g.c / groups, cout / groups, g.l());
    let (kd, wsize) = (g.k(cg), cout * g.k(cg));
    let slen = shifted_len(g, cg);
    let per = g.n.div_ceil(batch_chunks(g.n)).max(1);
    let chunks = g.n.div_ceil(per);
    let transposed = cog >= DWT_MIN_CHANNELS;
    // gy^T rows padded to whole vectors, and the kd x cog result before its transpose
    let ldg = cog.next_multiple_of(wk.lanes);
    let tlen = if transposed { l * ldg } else { 0 };
    let rlen = if transposed { kd * cog } else { 0 };
    // images held in scratch at once: a chunk's images go through in fixed groups of at most
    // this many (a function of the shape), so large images do not pin hundreds of MB
    let group_imgs = (SCRATCH_MAX / (slen + tlen).max(1)).clamp(1, per);
    let mut partials = vec![0f32; chunks * wsize];
    par::chunks_mut(&mut partials, wsize, |ci, part| {
        let imgs = per.min(g.n - ci * per);
        let held = group_imgs.min(imgs);
        <f32 as Float>::with_scratch(held * (slen + tlen) + rlen, |buf| {
            let (xs, rest) = buf.split_at_mut(held * slen);
            let (gt, res) = rest.split_at_mut(held * tlen);
            for grp in 0..groups {
                let d = &mut part[grp * cog * kd..(grp + 1) * cog * kd];
                for i0 in (0..imgs).step_by(held) {
                    let n = held.min(imgs - i0);
                    let first = ci * per + i0;
                    for (j, xsj) in xs.chunks_exact_mut(slen).take(n).enumerate() {
                        let xi = &x[(first + j) * g.chw()..][..g.chw()];
                        let xg = &xi[grp * cg * g.h * g.w..(grp + 1) * cg * g.h * g.w];
                        shifted_rows(k, g, cg, xg, xsj);
                    }
                    let gg = &gy[first * cout * l + grp * cog * l..];
                    if !transposed {
                        weight_grad(wk, g, cg, (xs, n), (gg, cout * l), cog, d);
                        continue;
                    }
                    for (j, gtj) in gt.chunks_exact_mut(tlen).take(n).enumerate() {
                        transpose_into(wk, &gg[j * cout * l..][..cog * l], cog, l, gtj, ldg);
                    }
                    weight_grad_t(wk, g, cg, (xs, n), (gt, ldg), cog, res);
                    for (t, row) in res.chunks_exact(cog).enumerate() {
                        for (co, &v) in row.iter().enumerate() {
                            d[co * kd + t] += v;
                        }
                    }
                }
            }
        })
    });
    dw[..wsize].copy_from_slice(&partials[..wsize]);
    for p in partials.chunks_exact(wsize).skip(1) {
        for (a, &b) in dw.iter_mut().zip(p) {
            *a += b;
        }
    }
}

/// `dw: (m, c * kH * kW) += sum_i gy_i (m, H_out, W_out) ⋆ x_i` over the images of a chunk:
/// `xs` holds `images` inputs laid out by [`shifted_rows`], `gy` the images' output gradients,
/// `gstride` apart.
pub(crate) fn weight_grad(
    wk: WKern,
    g: &Geom,
    c: usize,
    (xs, images): (&[f32], usize),
    (gy, gstride): (&[f32], usize),
    m: usize,
    dw: &mut [f32],
) {
    let l = g.l();
    let (kd, slen) = (c * g.kh * g.kw, shifted_len(g, c));
    assert!(xs.len() >= images * slen, "weight_grad: xs too small");
    assert!(dw.len() >= m * kd, "weight_grad: dw too small");
    if images == 0 || l == 0 || m == 0 {
        return;
    }
    assert!(
        gstride >= m * l && gy.len() >= (images - 1) * gstride + m * l,
        "weight_grad: gy too small"
    );
    let taps = tap_offsets(g, c);
    let blocks = m.div_ceil(wk.dw_rows);
    let rows = m.div_ceil(blocks);
    let geo = DwGeom {
        images,
        xstride: slen,
        gstride,
        l,
        ldo: kd,
    };
    for co in (0..m).step_by(rows) {
        let r = rows.min(m - co);
        for t0 in (0..kd).step_by(wk.dw_taps) {
            let t = wk.dw_taps.min(kd - t0);
            // SAFETY: `wk` is for an instruction set the CPU runs. A tap's run starts at
            // (kj c + ci) hp wo + ki wo and its last element read is l - 1 further, at most
            // (kj c + ci) hp wo + (kh - 1 + ho) wo - 1 < (kj c + ci + 1) hp wo <= slen, in
            // image img's block of xs (asserted); gy reads are rows co..co + r of each image
            // (asserted); the updates are dw rows co..co + r, columns t0..t0 + t.
            unsafe {
                let gp = gy.as_ptr().add(co * l);
                let o = dw.as_mut_ptr().add(co * kd + t0);
                (wk.dw_tile)(r, t, xs.as_ptr(), gp, taps[t0..].as_ptr(), o, &geo);
            }
        }
    }
}

/// The sizes [`dw_tile`] walks.
struct DwGeom {
    images: usize,
    /// the stride of the images in xs
    xstride: usize,
    /// the stride of the images in gy
    gstride: usize,
    /// H_out * W_out: the length of every dot product and the stride of gy's channels
    l: usize,
    /// the stride of dw's rows
    ldo: usize,
}

/// Calls [`dw_tile`] with `R = r` (1 to 4) and `T = t` (1 to 5).
///
/// # Safety
/// As for [`dw_tile`].
#[inline(always)]
unsafe fn dw_tile_dispatch<S: Simd>(
    r: usize,
    t: usize,
    xs: *const f32,
    gy: *const f32,
    taps: *const usize,
    out: *mut f32,
    g: &DwGeom,
) {
    macro_rules! go {
        ($(($r:literal, $t:literal))*) => {
            match (r, t) {
                $(($r, $t) => dw_tile::<S, $r, $t>(xs, gy, taps, out, g),)*
                _ => unreachable!("weight-gradient tile {r} x {t}"),
            }
        };
    }
    go!(
        (1, 1)(1, 2)(1, 3)(1, 4)(1, 5)(2, 1)(2, 2)(2, 3)(2, 4)(2, 5)(3, 1)(3, 2)(3, 3)(3, 4)(3, 5)(
            4, 1
        )(4, 2)(4, 3)(4, 4)(4, 5)
    )
}

/// One register tile of [`weight_grad`]: for `i < R`, `t < T`,
/// `out[i * ldo + t] += sum over images and p < l of gy[img][i * l + p] * xs[img][taps[t] + p]`,
/// summed in `S::LANES` lanes (the last partial vector loaded partially, so that values past a
/// run never enter the sum) and reduced at the end.
///
/// # Safety
/// The CPU runs `S` and this is inlined into a function compiled for it; the reads described
/// are inside `xs` and `gy`, and `out` has R rows of stride `ldo` with T writable elements each.
#[inline(always)]
unsafe fn dw_tile<S: Simd, const R: usize, const T: usize>(
    xs: *const f32,
    gy: *const f32,
    taps: *const usize,
    out: *mut f32,
    g: &DwGeom,
) {
    let mut acc = [[S::zero(); T]; R];
    let (full, tail) = (g.l / S::LANES, g.l % S::LANES);
    for img in 0..g.images {
        let mut xp = [xs; T];
        for (t, x) in xp.iter_mut().enumerate() {
            *x = xs.add(img * g.xstride + *taps.add(t));
        }
        let mut gp = [gy; R];
        for (i, p) in gp.iter_mut().enumerate() {
            *p = gy.add(img * g.gstride + i * g.l);
        }
        for s in 0..full {
            dw_step::<S, R, T>(&mut acc, &xp, &gp, S::LANES * s, S::LANES);
        }
        if tail != 0 {
            dw_step::<S, R, T>(&mut acc, &xp, &gp, S::LANES * full, tail);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (t, &s) in row.iter().enumerate() {
            *out.add(i * g.ldo + t) += S::sum(s);
        }
    }
}

/// One step of [`dw_tile`]: `n` positions from `p` on (a function, not a closure: a closure
/// would not inherit the instruction set of the function the tile is inlined into).
///
/// # Safety
/// As for [`dw_tile`].
#[inline(always)]
unsafe fn dw_step<S: Simd, const R: usize, const T: usize>(
    acc: &mut [[S::V; T]; R],
    xp: &[*const f32; T],
    gp: &[*const f32; R],
    p: usize,
    n: usize,
) {
    let mut gv = [S::zero(); R];
    for (v, &q) in gv.iter_mut().zip(gp) {
        *v = load_n::<S>(q.add(p), n);
    }
    for (t, &x) in xp.iter().enumerate() {
        let xv = load_n::<S>(x.add(p), n);
        for (row, &gvi) in acc.iter_mut().zip(&gv) {
            row[t] = S::fma(gvi, xv, row[t]);
        }
    }
}

/// The first `n <= LANES` values from `q` (a whole vector when `n == LANES`).
///
/// # Safety
/// As for [`Simd::load_partial`].
#[inline(always)]
unsafe fn load_n<S: Simd>(q: *const f32, n: usize) -> S::V {
    if n == S::LANES {
        S::load(q)
    } else {
        S::load_partial(q, n)
    }
}

/// `dst: (cols, ld)` with `dst[j][i] = src[i][j]` for `src: (rows, cols)`, and zeros in the
/// columns `rows..ld` (`ld` a multiple of the vector width, at least `rows`).
fn transpose_into(wk: WKern, src: &[f32], rows: usize, cols: usize, dst: &mut [f32], ld: usize) {
    assert!(src.len() >= rows * cols && dst.len() >= cols * ld);
    assert!(ld >= rows && ld.is_multiple_of(wk.lanes));
    // SAFETY: `wk` is for an instruction set the CPU runs; sizes are checked above.
    unsafe { (wk.transpose)(src, rows, cols, dst, ld) }
}

/// [`transpose_into`] in `LANES x LANES` blocks held in registers.
///
/// # Safety
/// The CPU runs `S` and this is inlined into a function compiled for it; `src` holds
/// `rows x cols`, `dst` `cols x ld`, `ld >= rows` and `ld % S::LANES == 0`.
#[inline(always)]
unsafe fn transpose_on<S: Simd>(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], ld: usize) {
    // at most 16 lanes (AVX-512)
    let mut r = [S::zero(); 16];
    let r = &mut r[..S::LANES];
    for j0 in (0..cols).step_by(S::LANES) {
        let nj = (cols - j0).min(S::LANES);
        for i0 in (0..ld).step_by(S::LANES) {
            for (ii, v) in r.iter_mut().enumerate() {
                let p = src.as_ptr().add((i0 + ii) * cols + j0);
                *v = if i0 + ii >= rows {
                    S::zero()
                } else if nj == S::LANES {
                    S::load(p)
                } else {
                    S::load_partial(p, nj)
                };
            }
            S::transpose(r);
            for (jj, v) in r.iter().enumerate().take(nj) {
                S::store(dst.as_mut_ptr().add((j0 + jj) * ld + i0), *v);
            }
        }
    }
}

/// `res: (c * kH * kW, m) = sum over the chunk's images of x_tap^T gy^T`: the weight gradient,
/// transposed, with output channels across the lanes. `xs` holds `images` inputs laid out by
/// [`shifted_rows`]; `gt` the images' `gy^T: (H_out * W_out, ld)`, zero past column `m`.
pub(crate) fn weight_grad_t(
    wk: WKern,
    g: &Geom,
    c: usize,
    (xs, images): (&[f32], usize),
    (gt, ld): (&[f32], usize),
    m: usize,
    res: &mut [f32],
) {
    let l = g.l();
    let (kd, slen) = (c * g.kh * g.kw, shifted_len(g, c));
    assert!(
        ld >= m && ld.is_multiple_of(wk.lanes),
        "weight_grad_t: gy^T row length"
    );
    assert!(
        xs.len() >= images * slen && gt.len() >= images * l * ld,
        "weight_grad_t: inputs"
    );
    assert!(res.len() >= kd * m, "weight_grad_t: res too small");
    if m == 0 {
        return;
    }
    let taps = tap_offsets(g, c);
    let geo = DwtGeom {
        images,
        xstride: slen,
        gstride: l * ld,
        ld,
        l,
        ldo: m,
    };
    let lw = wk.lanes;
    for co in (0..m).step_by(2 * lw) {
        let v = if ld - co >= 2 * lw { 2 } else { 1 };
        let lanes = (m - co).min(lw * v);
        for t0 in (0..kd).step_by(wk.dwt_taps) {
            let t = wk.dwt_taps.min(kd - t0);
            // SAFETY: `wk` is for an instruction set the CPU runs. Tap runs are read at p < l,
            // inside each image's block of xs (see `weight_grad`); gy^T rows are read at
            // columns co..co + LANES v <= ld, inside each image's block of gt (asserted); the stores are
            // rows t0..t0 + t, columns co..co + lanes of res (kd x m).
            unsafe {
                let o = res.as_mut_ptr().add(t0 * m + co);
                let gp = gt.as_ptr().add(co);
                (wk.dwt_tile)(t, v, xs.as_ptr(), taps[t0..].as_ptr(), gp, o, lanes, &geo);
            }
        }
    }
}

/// The sizes [`dwt_tile`] walks.
struct DwtGeom {
    images: usize,
    /// the stride of the images in xs
    xstride: usize,
    /// the stride of the images in gy^T
    gstride: usize,
    /// the row stride of gy^T
    ld: usize,
    /// H_out * W_out
    l: usize,
    /// the row stride of the result
    ldo: usize,
}

/// Calls [`dwt_tile`] with `T = t` (1 to 12) and `V = v` (1 or 2).
///
/// # Safety
/// As for [`dwt_tile`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dwt_tile_dispatch<S: Simd>(
    t: usize,
    v: usize,
    xs: *const f32,
    taps: *const usize,
    gt: *const f32,
    out: *mut f32,
    lanes: usize,
    g: &DwtGeom,
) {
    macro_rules! go {
        ($($t:literal)*) => {
            match (t, v) {
                $(($t, 1) => dwt_tile::<S, $t, 1>(xs, taps, gt, out, lanes, g),
                  ($t, 2) => dwt_tile::<S, $t, 2>(xs, taps, gt, out, lanes, g),)*
                _ => unreachable!("transposed weight-gradient tile {t} x {v}"),
            }
        };
    }
    go!(1 2 3 4 5 6 7 8 9 10 11 12)
}

/// One register tile of [`weight_grad_t`]: for `t < T` and `j < lanes` (at most
/// `S::LANES * V`),
/// `out[t * ldo + j] = sum over images and p < l of xs[img][taps[t] + p] * gt[img][p * ld + j]`.
///
/// # Safety
/// The CPU runs `S` and this is inlined into a function compiled for it; the reads described
/// (with `j < S::LANES * V`) are inside `xs` and `gt`, and `out` has T rows of stride `ldo`
/// with `lanes` writable elements each.
#[inline(always)]
unsafe fn dwt_tile<S: Simd, const T: usize, const V: usize>(
    xs: *const f32,
    taps: *const usize,
    gt: *const f32,
    out: *mut f32,
    lanes: usize,
    g: &DwtGeom,
) {
    let mut acc = [[S::zero(); V]; T];
    let mut off = [0usize; T];
    for (t, o) in off.iter_mut().enumerate() {
        *o = *taps.add(t);
    }
    for img in 0..g.images {
        let x = xs.add(img * g.xstride);
        let mut gp = gt.add(img * g.gstride);
        for p in 0..g.l {
            let mut gv = [S::zero(); V];
            for (j, v) in gv.iter_mut().enumerate() {
                *v = S::load(gp.add(S::LANES * j));
            }
            let xp = x.add(p);
            for (row, &o) in acc.iter_mut().zip(&off) {
                let a = S::splat(*xp.add(o));
                for (s, &v) in row.iter_mut().zip(&gv) {
                    *s = S::fma(a, v, *s);
                }
            }
            gp = gp.add(g.ld);
        }
    }
    for (t, row) in acc.iter().enumerate() {
        for (j, &s) in row.iter().enumerate() {
            let n = lanes.saturating_sub(S::LANES * j).min(S::LANES);
            let p = out.add(t * g.ldo + S::LANES * j);
            if n == S::LANES {
                S::store(p, s);
            } else if n > 0 {
                S::store_partial(p, n, s);
            }
        }
    }
}
