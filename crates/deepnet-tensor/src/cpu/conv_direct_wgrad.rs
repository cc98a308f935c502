//! The weight gradient of a stride-1, undilated convolution on CPUs with AVX-512 (f32), for
//! the direct kernels of [`super::conv_direct`].
//!
//! `dW[co][(ci, ki, kj)] = sum over images and output positions p of gy[co][p] * x_tap[p]`,
//! where `x_tap` is the padded input shifted by the tap. Instead of a column matrix (a
//! kH * kW-fold copy of the image), the input is copied kW-fold, shifted by each kj
//! ([`shifted_rows`]): every tap's values are then one contiguous run over the positions. Two
//! register tiles read those runs:
//! - few output channels: 16 positions per vector, partial sums over a group of images
//!   reduced once at the end ([`dw_tile`]);
//! - 16 or more: 16 output channels per vector, from a transposed copy of `gy`, times a
//!   broadcast input value, so that no reduction is needed ([`dwt_tile`]).
//!
//! Determinism: the batch is cut into fixed chunks ([`batch_chunks`]) and each chunk into
//! fixed groups of images (bounded scratch); each chunk's sum is formed group by group, in a
//! fixed order, by one task, and the chunk partials are added in chunk order.

use super::conv::{batch_chunks, Float, Geom};
use super::conv_direct::{kern_for, shifted_len, shifted_rows, tap_offsets};
use super::isa::Isa;
use super::par;
use super::simd::{Avx512, Simd};
use std::arch::x86_64::*;

/// Whether this CPU runs these kernels (AVX-512 only so far; the forward and input-gradient
/// kernels of [`super::conv_direct`] are generic over the vector width, these are not yet).
pub(super) fn supported_cpu() -> bool {
    crate::cpu::isa::has_avx512()
}

/// Output channels and taps per register tile of [`dw_tile`].
const DW_ROWS: usize = 4;
const DW_TAPS: usize = 5;
/// Taps per register tile of [`dwt_tile`] (by up to 32 output channels).
const DWT_TAPS: usize = 12;
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
    assert!(supported_cpu(), "weight_grad: avx512f is not available");
    let k = kern_for(Isa::Avx512).expect("weight_grad: avx512f is not available");
    let (cg, cog, l) = (g.c / groups, cout / groups, g.l());
    let (kd, wsize) = (g.k(cg), cout * g.k(cg));
    let slen = shifted_len(g, cg);
    let per = g.n.div_ceil(batch_chunks(g.n)).max(1);
    let chunks = g.n.div_ceil(per);
    let transposed = cog >= DWT_MIN_CHANNELS;
    // gy^T rows padded to whole vectors, and the kd x cog result before its transpose
    let ldg = cog.next_multiple_of(16);
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
                        weight_grad(g, cg, (xs, n), (gg, cout * l), cog, d);
                        continue;
                    }
                    for (j, gtj) in gt.chunks_exact_mut(tlen).take(n).enumerate() {
                        transpose_into(&gg[j * cout * l..][..cog * l], cog, l, gtj, ldg);
                    }
                    weight_grad_t(g, cg, (xs, n), (gt, ldg), cog, res);
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
    g: &Geom,
    c: usize,
    (xs, images): (&[f32], usize),
    (gy, gstride): (&[f32], usize),
    m: usize,
    dw: &mut [f32],
) {
    let l = g.l();
    let (kd, slen) = (c * g.kh * g.kw, shifted_len(g, c));
    assert!(supported_cpu(), "weight_grad: avx512f is not available");
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
    let blocks = m.div_ceil(DW_ROWS);
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
        for t0 in (0..kd).step_by(DW_TAPS) {
            let t = DW_TAPS.min(kd - t0);
            // SAFETY: avx512f is available (asserted). A tap's run starts at
            // (kj c + ci) hp wo + ki wo and its last element read is l - 1 further, at most
            // (kj c + ci) hp wo + (kh - 1 + ho) wo - 1 < (kj c + ci + 1) hp wo <= slen, in
            // image img's block of xs (asserted); gy reads are rows co..co + r of each image
            // (asserted); the updates are dw rows co..co + r, columns t0..t0 + t.
            unsafe {
                let gp = gy.as_ptr().add(co * l);
                let o = dw.as_mut_ptr().add(co * kd + t0);
                dw_tile_dispatch(r, t, xs.as_ptr(), gp, taps[t0..].as_ptr(), o, &geo);
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

/// Calls [`dw_tile`] with `R = r` (1 to [`DW_ROWS`]) and `T = t` (1 to [`DW_TAPS`]).
///
/// # Safety
/// As for [`dw_tile`].
unsafe fn dw_tile_dispatch(
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
                $(($r, $t) => dw_tile::<$r, $t>(xs, gy, taps, out, g),)*
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
/// summed in 16 lanes (the last partial vector masked) and reduced at the end.
///
/// # Safety
/// avx512f is available; the reads described are inside `xs` and `gy`, and `out` has R rows of
/// stride `ldo` with T writable elements each.
#[target_feature(enable = "avx512f")]
unsafe fn dw_tile<const R: usize, const T: usize>(
    xs: *const f32,
    gy: *const f32,
    taps: *const usize,
    out: *mut f32,
    g: &DwGeom,
) {
    let mut acc = [[_mm512_setzero_ps(); T]; R];
    let full = g.l / 16;
    let tail = ((1u32 << (g.l % 16)) - 1) as __mmask16;
    for img in 0..g.images {
        let mut xp = [xs; T];
        for (t, x) in xp.iter_mut().enumerate() {
            *x = xs.add(img * g.xstride + *taps.add(t));
        }
        let mut gp = [gy; R];
        for (i, p) in gp.iter_mut().enumerate() {
            *p = gy.add(img * g.gstride + i * g.l);
        }
        let step = |acc: &mut [[__m512; T]; R], p: usize, mask: __mmask16| {
            let mut gv = [_mm512_setzero_ps(); R];
            for (v, &q) in gv.iter_mut().zip(&gp) {
                *v = _mm512_maskz_loadu_ps(mask, q.add(p));
            }
            for (t, &x) in xp.iter().enumerate() {
                let xv = _mm512_maskz_loadu_ps(mask, x.add(p));
                for (row, &gvi) in acc.iter_mut().zip(&gv) {
                    row[t] = _mm512_fmadd_ps(gvi, xv, row[t]);
                }
            }
        };
        for s in 0..full {
            step(&mut acc, 16 * s, !0);
        }
        if tail != 0 {
            step(&mut acc, 16 * full, tail);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (t, &s) in row.iter().enumerate() {
            *out.add(i * g.ldo + t) += _mm512_reduce_add_ps(s);
        }
    }
}

/// `dst: (cols, ld)` with `dst[j][i] = src[i][j]` for `src: (rows, cols)`, and zeros in the
/// columns `rows..ld` (`ld` a multiple of 16, at least `rows`).
fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], ld: usize) {
    assert!(src.len() >= rows * cols && dst.len() >= cols * ld);
    assert!(ld >= rows && ld.is_multiple_of(16) && supported_cpu());
    // SAFETY: avx512f is available; sizes are checked above.
    unsafe { transpose_avx512(src, rows, cols, dst, ld) }
}

/// [`transpose_into`] in 16 x 16 blocks held in registers.
///
/// # Safety
/// avx512f is available; `src` holds `rows x cols`, `dst` `cols x ld`, `ld >= rows` and
/// `ld % 16 == 0`.
#[target_feature(enable = "avx512f")]
unsafe fn transpose_avx512(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], ld: usize) {
    for j0 in (0..cols).step_by(16) {
        let nj = (cols - j0).min(16);
        let mask = ((1u32 << nj) - 1) as __mmask16;
        for i0 in (0..ld).step_by(16) {
            let mut r = [_mm512_setzero_ps(); 16];
            for (ii, v) in r.iter_mut().enumerate().take(rows.saturating_sub(i0)) {
                *v = _mm512_maskz_loadu_ps(mask, src.as_ptr().add((i0 + ii) * cols + j0));
            }
            Avx512::transpose(&mut r);
            for (jj, v) in r.iter().enumerate().take(nj) {
                _mm512_storeu_ps(dst.as_mut_ptr().add((j0 + jj) * ld + i0), *v);
            }
        }
    }
}

/// `res: (c * kH * kW, m) = sum over the chunk's images of x_tap^T gy^T`: the weight gradient,
/// transposed, with output channels across the lanes. `xs` holds `images` inputs laid out by
/// [`shifted_rows`]; `gt` the images' `gy^T: (H_out * W_out, ld)`, zero past column `m`.
pub(crate) fn weight_grad_t(
    g: &Geom,
    c: usize,
    (xs, images): (&[f32], usize),
    (gt, ld): (&[f32], usize),
    m: usize,
    res: &mut [f32],
) {
    let l = g.l();
    let (kd, slen) = (c * g.kh * g.kw, shifted_len(g, c));
    assert!(supported_cpu(), "weight_grad_t: avx512f is not available");
    assert!(
        ld >= m && ld.is_multiple_of(16),
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
    for co in (0..m).step_by(32) {
        let v = if ld - co >= 32 { 2 } else { 1 };
        let lanes = (m - co).min(16 * v);
        for t0 in (0..kd).step_by(DWT_TAPS) {
            let t = DWT_TAPS.min(kd - t0);
            // SAFETY: avx512f is available (asserted). Tap runs are read at p < l, inside
            // each image's block of xs (see `weight_grad`); gy^T rows are read at columns
            // co..co + 16 v <= ld, inside each image's block of gt (asserted); the stores are
            // rows t0..t0 + t, columns co..co + lanes of res (kd x m).
            unsafe {
                let o = res.as_mut_ptr().add(t0 * m + co);
                let gp = gt.as_ptr().add(co);
                dwt_tile_dispatch(t, v, xs.as_ptr(), taps[t0..].as_ptr(), gp, o, lanes, &geo);
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

/// Calls [`dwt_tile`] with `T = t` (1 to [`DWT_TAPS`]) and `V = v` (1 or 2).
///
/// # Safety
/// As for [`dwt_tile`].
#[allow(clippy::too_many_arguments)]
unsafe fn dwt_tile_dispatch(
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
                $(($t, 1) => dwt_tile::<$t, 1>(xs, taps, gt, out, lanes, g),
                  ($t, 2) => dwt_tile::<$t, 2>(xs, taps, gt, out, lanes, g),)*
                _ => unreachable!("transposed weight-gradient tile {t} x {v}"),
            }
        };
    }
    go!(1 2 3 4 5 6 7 8 9 10 11 12)
}

/// One register tile of [`weight_grad_t`]: for `t < T` and `j < lanes` (at most 16 V),
/// `out[t * ldo + j] = sum over images and p < l of xs[img][taps[t] + p] * gt[img][p * ld + j]`.
///
/// # Safety
/// avx512f is available; the reads described (with `j < 16 V`) are inside `xs` and `gt`, and
/// `out` has T rows of stride `ldo` with `lanes` writable elements each.
#[target_feature(enable = "avx512f")]
unsafe fn dwt_tile<const T: usize, const V: usize>(
    xs: *const f32,
    taps: *const usize,
    gt: *const f32,
    out: *mut f32,
    lanes: usize,
    g: &DwtGeom,
) {
    let mut acc = [[_mm512_setzero_ps(); V]; T];
    let mut off = [0usize; T];
    for (t, o) in off.iter_mut().enumerate() {
        *o = *taps.add(t);
    }
    for img in 0..g.images {
        let x = xs.add(img * g.xstride);
        let mut gp = gt.add(img * g.gstride);
        for p in 0..g.l {
            let mut gv = [_mm512_setzero_ps(); V];
            for (j, v) in gv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(gp.add(16 * j));
            }
            let xp = x.add(p);
            for (row, &o) in acc.iter_mut().zip(&off) {
                let a = _mm512_set1_ps(*xp.add(o));
                for (s, &v) in row.iter_mut().zip(&gv) {
                    *s = _mm512_fmadd_ps(a, v, *s);
                }
            }
            gp = gp.add(g.ld);
        }
    }
    for (t, row) in acc.iter().enumerate() {
        for (j, &s) in row.iter().enumerate() {
            let n = lanes.saturating_sub(16 * j).min(16);
            if n == 0 {
                break;
            }
            let mask = ((1u32 << n) - 1) as __mmask16;
            _mm512_mask_storeu_ps(out.add(t * g.ldo + 16 * j), mask, s);
        }
    }
}
