//! 2-d pooling on the CPU: max (with argmax indices), average and adaptive average, forward and
//! backward. Every buffer is contiguous `(P, H, W)` with `P` independent planes (`N * C`); planes
//! are processed in parallel and each plane by one task, so results do not depend on the number
//! of threads.

use super::conv::{Float, Geom};
use super::isa::{self, Isa};
use super::par;
use super::MIN_TASK;
use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Runs `f(input_plane, output_plane)` for every plane, several planes per task.
pub(super) fn per_plane<A: Sync, B: Send>(
    src: &[A],
    src_plane: usize,
    dst: &mut [B],
    dst_plane: usize,
    f: impl Fn(&[A], &mut [B]) + Sync,
) {
    if src_plane == 0 || dst_plane == 0 {
        return;
    }
    let per_task = (MIN_TASK / (src_plane + dst_plane)).max(1);
    par::chunks_mut(dst, per_task * dst_plane, |i, d| {
        let s = &src[i * per_task * src_plane..];
        for (dp, sp) in d.chunks_exact_mut(dst_plane).zip(s.chunks_exact(src_plane)) {
            f(sp, dp);
        }
    });
}

/// Max pooling of `g.n` planes (the geometry's `c` is ignored): the maxima and, for each, the
/// index `h * W + w` inside its plane. Padding counts as `-inf` (never selected); a NaN in the
/// window wins, as in PyTorch.
pub(crate) fn max_pool<T: Float>(g: &Geom, x: &[T]) -> (Vec<T>, Vec<i64>) {
    let (hw, l) = (g.h * g.w, g.l());
    if l == 0 || hw == 0 {
        return (vec![T::zero(); g.n * l], vec![0i64; g.n * l]);
    }
    // 2x2 windows with stride 2, no padding and no partial window (ceil_mode): every window
    // lies inside the plane
    let fast = (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == (2, 2, 2, 2, 0, 0)
        && (g.dh, g.dw) == (1, 1)
        && 2 * g.ho <= g.h
        && 2 * g.wo <= g.w;
    let per_task = (MIN_TASK / (hw + 2 * l)).max(1);
    let n = (g.n * l, per_task * l);
    par::filled2(n, n, |i, o: &mut [T], a: &mut [i64]| {
        let xs = &x[i * per_task * hw..];
        for ((op, ap), xp) in o
            .chunks_exact_mut(l)
            .zip(a.chunks_exact_mut(l))
            .zip(xs.chunks_exact(hw))
        {
            if fast {
                max_pool_2x2(g, xp, op, ap);
            } else {
                max_pool_plane(g, xp, op, ap);
            }
        }
    })
}

/// One plane of 2x2 stride-2 max pooling (the order of [`max_pool_plane`]: the first maximum
/// in row-major window order, the first NaN).
fn max_pool_2x2<T: Float>(g: &Geom, xp: &[T], op: &mut [T], ap: &mut [i64]) {
    max_pool_2x2_on(isa::isa(), g, xp, op, ap)
}

/// [`max_pool_2x2`] on the instruction set `isa` (vectorized for f32 on AVX-512 and AVX2; every
/// path gives the same maxima and indices).
fn max_pool_2x2_on<T: Float>(isa: Isa, g: &Geom, xp: &[T], op: &mut [T], ap: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    if isa >= Isa::Avx2 {
        if let (Some(x), Some(o)) = (T::as_f32(xp), T::as_f32_mut(op)) {
            assert!(x.len() >= g.h * g.w && o.len() >= g.l() && ap.len() >= g.l());
            assert!(2 * g.wo <= g.w && 2 * g.ho <= g.h && g.h * g.w <= i32::MAX as usize);
            if isa >= Isa::Avx512 {
                // SAFETY: avx512f is available (isa) and the sizes are checked above.
                unsafe { max_pool_2x2_avx512(g, x, o, ap) };
            } else {
                // SAFETY: avx2 is available (isa) and the sizes are checked above.
                unsafe { max_pool_2x2_avx2(g, x, o, ap) };
            }
            return;
        }
    }
    let _ = isa;
    let w = g.w;
    for oh in 0..g.ho {
        let r0 = &xp[2 * oh * w..2 * oh * w + w];
        let r1 = &xp[(2 * oh + 1) * w..(2 * oh + 1) * w + w];
        let orow = &mut op[oh * g.wo..(oh + 1) * g.wo];
        let arow = &mut ap[oh * g.wo..(oh + 1) * g.wo];
        let base = (2 * oh * w) as i64;
        for (ow, (o, a)) in orow.iter_mut().zip(arow.iter_mut()).enumerate() {
            let c = 2 * ow;
            let cand = [
                (r0[c], base + c as i64),
                (r0[c + 1], base + c as i64 + 1),
                (r1[c], base + (w + c) as i64),
                (r1[c + 1], base + (w + c) as i64 + 1),
            ];
            let (mut best, mut bi) = cand[0];
            for &(v, i) in &cand[1..] {
                if !best.is_nan() && (v > best || v.is_nan()) {
                    best = v;
                    bi = i;
                }
            }
            *o = best;
            *a = bi;
        }
    }
}

/// [`max_pool_2x2`] on f32, 16 windows at a time: each pair of input rows is loaded as 32
/// values, split into even and odd columns, and the four candidates are compared in window
/// order with the scalar rule (take `v` when the best so far is not NaN and `v` is greater or
/// NaN).
///
/// # Safety
/// avx512f is available; `x` holds the `h x w` plane, `o` and `a` `ho x wo` values, and
/// `2 wo <= w`, `2 ho <= h`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_pool_2x2_avx512(g: &Geom, x: &[f32], o: &mut [f32], a: &mut [i64]) {
    use std::arch::x86_64::*;
    let w = g.w;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let lane2 = _mm512_slli_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        1,
    );
    for oh in 0..g.ho {
        let r0 = x.as_ptr().add(2 * oh * w);
        let r1 = r0.add(w);
        for ow in (0..g.wo).step_by(16) {
            let lanes = (g.wo - ow).min(16);
            // input columns 2 ow .. 2 (ow + lanes), as two masked halves of 16
            let (m_lo, m_hi) = {
                let n = 2 * lanes;
                (
                    ((1u32 << n.min(16)) - 1) as u16,
                    ((1u64 << n.saturating_sub(16)) - 1) as u16,
                )
            };
            let load = |r: *const f32| {
                let lo = _mm512_maskz_loadu_ps(m_lo, r.add(2 * ow));
                // the upper half exists only past 8 windows (its address is out of the
                // plane otherwise, so it is not even formed)
                let hi = if m_hi == 0 {
                    _mm512_setzero_ps()
                } else {
                    _mm512_maskz_loadu_ps(m_hi, r.add(2 * ow + 16))
                };
                (
                    _mm512_permutex2var_ps(lo, even, hi),
                    _mm512_permutex2var_ps(lo, odd, hi),
                )
            };
            let (c0, c1) = load(r0);
            let (c2, c3) = load(r1);
            let i0 = _mm512_add_epi32(_mm512_set1_epi32((2 * oh * w + 2 * ow) as i32), lane2);
            let (mut best, mut idx) = (c0, i0);
            for (v, di) in [(c1, 1), (c2, w as i32), (c3, w as i32 + 1)] {
                let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(best, best);
                let greater = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
                let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                let take = ordered & (greater | nan);
                best = _mm512_mask_blend_ps(take, best, v);
                let vi = _mm512_add_epi32(i0, _mm512_set1_epi32(di));
                idx = _mm512_mask_blend_epi32(take, idx, vi);
            }
            let m = ((1u32 << lanes) - 1) as u16;
            _mm512_mask_storeu_ps(o.as_mut_ptr().add(oh * g.wo + ow), m, best);
            // the indices widen to i64 in two halves of 8 lanes
            let ap = a.as_mut_ptr().add(oh * g.wo + ow);
            let lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(idx));
            let hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(idx));
            _mm512_mask_storeu_epi64(ap, m as u8, lo);
            if lanes > 8 {
                _mm512_mask_storeu_epi64(ap.add(8), (m >> 8) as u8, hi);
            }
        }
    }
}

/// [`max_pool_2x2`] on f32 with AVX2, 8 windows at a time, in the order and with the rule of
/// [`max_pool_2x2_avx512`]: each pair of input rows is loaded as 16 values, split into even and
/// odd columns, and the four candidates are compared in window order.
///
/// # Safety
/// avx2 is available; `x` holds the `h x w` plane, `o` and `a` `ho x wo` values, and
/// `2 wo <= w`, `2 ho <= h`, `h w <= i32::MAX`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_pool_2x2_avx2(g: &Geom, x: &[f32], o: &mut [f32], a: &mut [i64]) {
    use std::arch::x86_64::*;
    let w = g.w;
    // lane k of a mask is on when k < n
    let upto = |n: usize| {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lanes)
    };
    let lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for oh in 0..g.ho {
        let r0 = x.as_ptr().add(2 * oh * w);
        let r1 = r0.add(w);
        for ow in (0..g.wo).step_by(8) {
            let lanes = (g.wo - ow).min(8);
            let n = 2 * lanes;
            let (m_lo, m_hi) = (upto(n.min(8)), upto(n.saturating_sub(8)));
            let load = |r: *const f32| {
                let lo = _mm256_maskload_ps(r.add(2 * ow), m_lo);
                // the upper half exists only past 4 windows (its address is out of the plane
                // otherwise, so it is not even formed)
                let hi = if n <= 8 {
                    _mm256_setzero_ps()
                } else {
                    _mm256_maskload_ps(r.add(2 * ow + 8), m_hi)
                };
                // per 128-bit half [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then the 64-bit pairs
                // reordered to [lo0 lo2 lo4 lo6 hi0 hi2 hi4 hi6]
                let fix = |v: __m256| {
                    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
                };
                (
                    fix(_mm256_shuffle_ps::<0b10_00_10_00>(lo, hi)),
                    fix(_mm256_shuffle_ps::<0b11_01_11_01>(lo, hi)),
                )
            };
            let (c0, c1) = load(r0);
            let (c2, c3) = load(r1);
            let i0 = _mm256_add_epi32(_mm256_set1_epi32((2 * oh * w + 2 * ow) as i32), lane2);
            let (mut best, mut idx) = (c0, i0);
            for (v, di) in [(c1, 1), (c2, w as i32), (c3, w as i32 + 1)] {
                let ordered = _mm256_cmp_ps::<_CMP_ORD_Q>(best, best);
                let greater = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
                let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
                let take = _mm256_and_ps(ordered, _mm256_or_ps(greater, nan));
                best = _mm256_blendv_ps(best, v, take);
                let vi = _mm256_add_epi32(i0, _mm256_set1_epi32(di));
                idx = _mm256_castps_si256(_mm256_blendv_ps(
                    _mm256_castsi256_ps(idx),
                    _mm256_castsi256_ps(vi),
                    take,
                ));
            }
            let m = upto(lanes);
            _mm256_maskstore_ps(o.as_mut_ptr().add(oh * g.wo + ow), m, best);
            // the indices widen to i64 in two halves of 4 lanes
            let ap = a.as_mut_ptr().add(oh * g.wo + ow).cast::<i64>();
            let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(idx));
            let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(idx));
            let m64 = |k: usize| {
                let lanes64 = _mm256_setr_epi64x(0, 1, 2, 3);
                _mm256_cmpgt_epi64(_mm256_set1_epi64x(k as i64), lanes64)
            };
            _mm256_maskstore_epi64(ap, m64(lanes.min(4)), lo);
            if lanes > 4 {
                _mm256_maskstore_epi64(ap.add(4), m64(lanes - 4), hi);
            }
        }
    }
}

/// One plane of max pooling, any geometry.
fn max_pool_plane<T: Float>(g: &Geom, xp: &[T], op: &mut [T], ap: &mut [i64]) {
    for oh in 0..g.ho {
        let h0 = (oh * g.sh) as isize - g.ph as isize;
        for ow in 0..g.wo {
            let w0 = (ow * g.sw) as isize - g.pw as isize;
            let mut best = T::neg_infinity();
            let mut arg = None;
            for ki in 0..g.kh {
                let ih = h0 + (ki * g.dh) as isize;
                if ih < 0 || ih >= g.h as isize {
                    continue;
                }
                for kj in 0..g.kw {
                    let iw = w0 + (kj * g.dw) as isize;
                    if iw < 0 || iw >= g.w as isize {
                        continue;
                    }
                    let idx = ih as usize * g.w + iw as usize;
                    let v = xp[idx];
                    if arg.is_none() || v > best || v.is_nan() {
                        best = v;
                        arg = Some(idx);
                        if v.is_nan() {
                            break;
                        }
                    }
                }
                if best.is_nan() {
                    break;
                }
            }
            // a window always holds an input element (the output size rules guarantee it)
            op[oh * g.wo + ow] = best;
            ap[oh * g.wo + ow] = arg.unwrap_or(0) as i64;
        }
    }
}

/// The gradient of [`max_pool`]: each output gradient is added to its argmax (in output
/// order, within one task per plane).
/// An index outside its plane (which [`max_pool`] never produces) is an error naming it.
pub(crate) fn max_pool_backward<T: Float>(g: &Geom, idx: &[i64], gy: &[T]) -> Result<Vec<T>> {
    let (hw, l) = (g.h * g.w, g.l());
    if l == 0 || hw == 0 {
        return Ok(vec![T::zero(); g.n * hw]);
    }
    // a bad index seen by some task (checked inside the parallel loop: no extra pass)
    let (found, bad) = (AtomicBool::new(false), AtomicI64::new(0));
    // planes zeroed and scattered into by the same task
    let per_task = (MIN_TASK / (hw + 2 * l)).max(1);
    let out = par::filled(g.n * hw, per_task * hw, |t, d| {
        for (k, dp) in d.chunks_exact_mut(hw).enumerate() {
            let p = t * per_task + k;
            let (gp, ip) = (&gy[p * l..(p + 1) * l], &idx[p * l..(p + 1) * l]);
            for (&v, &i) in gp.iter().zip(ip) {
                match usize::try_from(i).ok().and_then(|i| dp.get_mut(i)) {
                    Some(d) => *d += v,
                    None => {
                        bad.store(i, Ordering::Relaxed);
                        found.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    if found.load(Ordering::Relaxed) {
        let b = bad.load(Ordering::Relaxed);
        return Err(Error::invalid(
            "max_pool2d_backward",
            format!("index {b} is outside a plane of {hw} elements"),
        ));
    }
    Ok(out)
}

/// The clipped window of output `o` along one axis of average pooling, and its size counted
/// with padding (PyTorch's `pool_size`): `(start, end, padded_size)`.
fn avg_window(o: usize, s: usize, p: usize, k: usize, size: usize) -> (usize, usize, usize) {
    let start = (o * s) as isize - p as isize;
    let end = (start + k as isize).min((size + p) as isize);
    let padded = (end - start) as usize;
    let (start, end) = (
        start.max(0) as usize,
        end.min(size as isize).max(0) as usize,
    );
    (start, end.max(start), padded)
}

/// The divisor of output `(oh, ow)`: the window size with padding when `count_include_pad`,
/// else the number of input elements covered.
fn avg_divisor(
    g: &Geom,
    oh: usize,
    ow: usize,
    include_pad: bool,
) -> (usize, usize, usize, usize, f64) {
    let (h0, h1, ph) = avg_window(oh, g.sh, g.ph, g.kh, g.h);
    let (w0, w1, pw) = avg_window(ow, g.sw, g.pw, g.kw, g.w);
    let div = if include_pad {
        ph * pw
    } else {
        (h1 - h0) * (w1 - w0)
    };
    (h0, h1, w0, w1, div as f64)
}

/// Average pooling of `g.n` planes (PyTorch `avg_pool2d` without `divisor_override`).
pub(crate) fn avg_pool<T: Float>(g: &Geom, x: &[T], include_pad: bool) -> Vec<T> {
    let (hw, l) = (g.h * g.w, g.l());
    let mut out = vec![T::zero(); g.n * l];
    per_plane(x, hw, &mut out, l, |xp, op| {
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (h0, h1, w0, w1, div) = avg_divisor(g, oh, ow, include_pad);
                if h0 >= h1 || w0 >= w1 {
                    continue;
                }
                let mut s = T::zero();
                for ih in h0..h1 {
                    for &v in &xp[ih * g.w + w0..ih * g.w + w1] {
                        s += v;
                    }
                }
                op[oh * g.wo + ow] = s / T::from_f64(div);
            }
        }
    });
    out
}

/// The gradient of [`avg_pool`].
pub(crate) fn avg_pool_backward<T: Float>(g: &Geom, gy: &[T], include_pad: bool) -> Vec<T> {
    let (hw, l) = (g.h * g.w, g.l());
    let mut dx = vec![T::zero(); g.n * hw];
    per_plane(gy, l, &mut dx, hw, |gp, dp| {
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (h0, h1, w0, w1, div) = avg_divisor(g, oh, ow, include_pad);
                if h0 >= h1 || w0 >= w1 {
                    continue;
                }
                let v = gp[oh * g.wo + ow] / T::from_f64(div);
                for ih in h0..h1 {
                    for d in &mut dp[ih * g.w + w0..ih * g.w + w1] {
                        *d += v;
                    }
                }
            }
        }
    });
    dx
}

/// PyTorch's adaptive window of output `i` of `o` over `size` inputs:
/// `floor(i * size / o) .. ceil((i + 1) * size / o)`.
pub(crate) fn adaptive_window(i: usize, o: usize, size: usize) -> (usize, usize) {
    (i * size / o, ((i + 1) * size).div_ceil(o))
}

/// Adaptive average pooling of `g.n` planes to `(g.ho, g.wo)` (kernel fields unused).
pub(crate) fn adaptive_avg_pool<T: Float>(g: &Geom, x: &[T]) -> Vec<T> {
    let (hw, l) = (g.h * g.w, g.l());
    let mut out = vec![T::zero(); g.n * l];
    per_plane(x, hw, &mut out, l, |xp, op| {
        for oh in 0..g.ho {
            let (h0, h1) = adaptive_window(oh, g.ho, g.h);
            for ow in 0..g.wo {
                let (w0, w1) = adaptive_window(ow, g.wo, g.w);
                let mut s = T::zero();
                for ih in h0..h1 {
                    for &v in &xp[ih * g.w + w0..ih * g.w + w1] {
                        s += v;
                    }
                }
                op[oh * g.wo + ow] = s / T::from_f64(((h1 - h0) * (w1 - w0)) as f64);
            }
        }
    });
    out
}

/// The gradient of [`adaptive_avg_pool`].
pub(crate) fn adaptive_avg_pool_backward<T: Float>(g: &Geom, gy: &[T]) -> Vec<T> {
    let (hw, l) = (g.h * g.w, g.l());
    let mut dx = vec![T::zero(); g.n * hw];
    per_plane(gy, l, &mut dx, hw, |gp, dp| {
        for oh in 0..g.ho {
            let (h0, h1) = adaptive_window(oh, g.ho, g.h);
            for ow in 0..g.wo {
                let (w0, w1) = adaptive_window(ow, g.wo, g.w);
                let v = gp[oh * g.wo + ow] / T::from_f64(((h1 - h0) * (w1 - w0)) as f64);
                for ih in h0..h1 {
                    for d in &mut dp[ih * g.w + w0..ih * g.w + w1] {
                        *d += v;
                    }
                }
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2x2 fast path on every instruction set (vectorized for f32 on AVX2 and AVX-512)
    /// against the general scalar plane loop, with ties, NaNs, infinities, odd sizes, and rows of
    /// 1 to 40 windows (every tail length of both vector widths).
    #[test]
    fn max_pool_2x2_matches_the_general_loop() {
        let mut rng = crate::Generator::new(7);
        for (h, w) in [
            (2, 2),
            (6, 6),
            (2, 10),
            (4, 15),
            (2, 18),
            (4, 25),
            (4, 29),
            (7, 33),
            (28, 28),
            (3, 65),
            (10, 80),
        ] {
            let g = Geom {
                n: 1,
                c: 1,
                h,
                w,
                kh: 2,
                kw: 2,
                sh: 2,
                sw: 2,
                ph: 0,
                pw: 0,
                dh: 1,
                dw: 1,
                ho: h / 2,
                wo: w / 2,
            };
            // small integers give many ties; sprinkle NaN and infinities
            let x: Vec<f32> = (0..h * w)
                .map(|_| match (rng.next_f64() * 40.0) as u32 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => f32::NEG_INFINITY,
                    k => (k % 5) as f32,
                })
                .collect();
            let l = g.l();
            let (mut o2, mut a2) = (vec![0f32; l], vec![0i64; l]);
            max_pool_plane(&g, &x, &mut o2, &mut a2);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            // every instruction set this CPU has, the scalar 2x2 loop included
            for isa in Isa::available() {
                let (mut o1, mut a1) = (vec![0f32; l], vec![0i64; l]);
                max_pool_2x2_on(isa, &g, &x, &mut o1, &mut a1);
                assert_eq!(a1, a2, "{h}x{w} {isa:?}");
                assert_eq!(bits(&o1), bits(&o2), "{h}x{w} {isa:?}");
            }
        }
    }
}
