//! A single-threaded packed f32 product for the convolution kernels on CPUs with AVX-512.
//!
//! The convolutions run many mid-sized products (one per image), each inside one task, so this
//! kernel never uses the thread pool; `gemm` 0.18 on a stable toolchain runs 256-bit kernels
//! only. The operands are strided views (no transposed copies), packed per block of `k` into
//! zero-padded panels: `a` into (kc x [`MR`]) panels, `b` one (kc x [`NR`]) panel at a time.
//!
//! Determinism: the blocking depends on the shape alone and each product runs on one thread,
//! so the result is a function of the operands only.

// the register tile kernel, its MR x NR shape, the panel layout and packers are the matrix
// product's: this module only drives them one product per task
use super::matmul::avx512::{pack_a, pack_b, tile, Mat, MR, NR};
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Largest depth of a block of k (k is cut into equal blocks of at most this).
const KC: usize = 384;

/// A strided f32 matrix: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// Whether this CPU runs [`sgemm`].
pub(crate) fn available() -> bool {
    crate::cpu::isa::has_avx512()
}

thread_local! {
    /// Packing buffers of this thread (a's panels, then one panel of b).
    static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `c (m x n, element (i, j) at c[i * ldc + j]) (= | +=) a (m x k) @ b (k x n)`, adding to `c`
/// when `acc`. Panics when a view or `c` is too small, or when [`available`] is false.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    (m, n, k): (usize, usize, usize),
    a: View,
    b: View,
    c: &mut [f32],
    ldc: usize,
    acc: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(available(), "sgemm: avx512f is not available");
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "sgemm: c too small"
    );
    if k == 0 {
        if !acc {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    assert!(
        (m - 1) * a.rs + (k - 1) * a.cs < a.data.len(),
        "sgemm: a too small"
    );
    assert!(
        (k - 1) * b.rs + (n - 1) * b.cs < b.data.len(),
        "sgemm: b too small"
    );
    let tiles = m.div_ceil(MR);
    let kc_max = k.div_ceil(k.div_ceil(KC));
    let need = tiles * MR * kc_max + kc_max * NR;
    // the matrix product's packing routines (vectorized, with 16 x 16 transposes for the
    // operands stored across the panel's direction)
    let am = Mat::new(a.data, 0, (a.rs, a.cs), m, k);
    let bm = Mat::new(b.data, 0, (b.rs, b.cs), k, n);
    let mut run = |buf: &mut Vec<f32>| {
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
        let (apack, bpack) = buf[..need].split_at_mut(tiles * MR * kc_max);
        let mut pc = 0;
        while pc < k {
            let kc = kc_max.min(k - pc);
            // SAFETY: avx512f is available (asserted above); the views were checked by Mat::new.
            unsafe { pack_a(&am, 0, m, pc, kc, apack) };
            let first = pc == 0 && !acc;
            let mut j0 = 0;
            while j0 < n {
                let w = NR.min(n - j0);
                // SAFETY: as for pack_a.
                unsafe { pack_b(&bm, pc, kc, j0, w, &mut bpack[..kc * NR]) };
                for t in 0..tiles {
                    let h = MR.min(m - t * MR);
                    let ap = &apack[t * kc * MR..(t + 1) * kc * MR];
                    let cp = &mut c[t * MR * ldc + j0..];
                    // SAFETY: avx512f is available (asserted above); the panels hold kc packed
                    // rows and the h x w tile at cp (row stride ldc) lies inside c, as
                    // (t * MR + h - 1) * ldc + j0 + w <= (m - 1) * ldc + n <= c.len().
                    unsafe { tile_any(kc, ap, &bpack[..kc * NR], cp, ldc, h, w, first) };
                }
                j0 += NR;
            }
            pc += kc;
        }
    };
    PACK.with(|p| match p.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        Err(_) => run(&mut Vec::new()),
    });
}

/// Rows of `a` per dot-product tile.
const DA: usize = 4;
/// Rows of `b` per dot-product tile.
const DB: usize = 6;

/// `c (m x n, element (i, j) at c[i * ldc + j]) (= | +=) a (m x k) @ b^T` where row i of `a`
/// is `a[i * lda..][..k]` and row j of `b` (column j of the product's right operand) is
/// `b[j * ldb..][..k]`: both operands contiguous along k, the shape of a weight gradient
/// `gy @ cols^T`. Computed by tiles of dot products (no packing); panics when a slice is too
/// small or [`available`] is false.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_nt(
    (m, n, k): (usize, usize, usize),
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    c: &mut [f32],
    ldc: usize,
    acc: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(available(), "sgemm_nt: avx512f is not available");
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "sgemm_nt: c too small"
    );
    if k > 0 {
        assert!((m - 1) * lda + k <= a.len(), "sgemm_nt: a too small");
        assert!((n - 1) * ldb + k <= b.len(), "sgemm_nt: b too small");
    }
    for j0 in (0..n).step_by(DB) {
        // rows past the end repeat the last row (read, never stored)
        let bp: [*const f32; DB] =
            std::array::from_fn(|j| b.as_ptr().wrapping_add((j0 + j).min(n - 1) * ldb));
        for i0 in (0..m).step_by(DA) {
            let ap: [*const f32; DA] =
                std::array::from_fn(|i| a.as_ptr().wrapping_add((i0 + i).min(m - 1) * lda));
            // SAFETY: avx512f is available (asserted); every pointer starts a row of k
            // elements inside its slice (asserted above; rows are clamped to the last one).
            let s = unsafe { dot_tile(k, ap, bp) };
            for (i, row) in s.iter().enumerate().take(m - i0) {
                let cr = &mut c[(i0 + i) * ldc + j0..];
                for (j, &v) in row.iter().enumerate().take(n - j0) {
                    if acc {
                        cr[j] += v;
                    } else {
                        cr[j] = v;
                    }
                }
            }
        }
    }
}

/// The DA x DB dot products of k elements between the rows at `a` and the rows at `b`.
///
/// # Safety
/// avx512f is available; every pointer is valid for reading k f32.
#[target_feature(enable = "avx512f")]
unsafe fn dot_tile(k: usize, a: [*const f32; DA], b: [*const f32; DB]) -> [[f32; DB]; DA] {
    let mut acc = [[_mm512_setzero_ps(); DB]; DA];
    let mut p = 0;
    while p + 16 <= k {
        let bv: [__m512; DB] = std::array::from_fn(|j| _mm512_loadu_ps(b[j].add(p)));
        for (i, row) in acc.iter_mut().enumerate() {
            let av = _mm512_loadu_ps(a[i].add(p));
            for (x, &y) in row.iter_mut().zip(&bv) {
                *x = _mm512_fmadd_ps(av, y, *x);
            }
        }
        p += 16;
    }
    if p < k {
        let mask: __mmask16 = ((1u32 << (k - p)) - 1) as u16;
        let bv: [__m512; DB] = std::array::from_fn(|j| _mm512_maskz_loadu_ps(mask, b[j].add(p)));
        for (i, row) in acc.iter_mut().enumerate() {
            let av = _mm512_maskz_loadu_ps(mask, a[i].add(p));
            for (x, &y) in row.iter_mut().zip(&bv) {
                *x = _mm512_fmadd_ps(av, y, *x);
            }
        }
    }
    acc.map(|row| row.map(|x| _mm512_reduce_add_ps(x)))
}

/// [`tile`] with the smallest register tile that covers `h x w`.
///
/// # Safety
/// avx512f is available; `a` holds kc packed rows of MR, `b` kc of NR; `c` holds the h x w
/// block with row stride `ldc` (h <= MR, w <= NR): `(h - 1) * ldc + w <= c.len()`.
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn tile_any(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    h: usize,
    w: usize,
    first: bool,
) {
    debug_assert!(a.len() >= kc * MR && b.len() >= kc * NR && (h - 1) * ldc + w <= c.len());
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    match (h, w > 16) {
        (0..=4, true) => tile::<4, 2>(kc, a, b, c, ldc, h, w, first),
        (5..=6, true) => tile::<6, 2>(kc, a, b, c, ldc, h, w, first),
        (7..=8, true) => tile::<8, 2>(kc, a, b, c, ldc, h, w, first),
        (_, true) => tile::<12, 2>(kc, a, b, c, ldc, h, w, first),
        (0..=4, false) => tile::<4, 1>(kc, a, b, c, ldc, h, w, first),
        (5..=6, false) => tile::<6, 1>(kc, a, b, c, ldc, h, w, first),
        (7..=8, false) => tile::<8, 1>(kc, a, b, c, ldc, h, w, first),
        (_, false) => tile::<12, 1>(kc, a, b, c, ldc, h, w, first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgemm_nt_matches_naive() {
        if !available() {
            return;
        }
        for &(m, n, k) in &[
            (6, 25, 784),
            (13, 7, 33),
            (64, 577, 256),
            (1, 1, 1),
            (5, 9, 15),
        ] {
            let (lda, ldb, ldc) = (k + 2, k + 5, n + 1);
            let a: Vec<f32> = (0..m * lda)
                .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
                .collect();
            let b: Vec<f32> = (0..n * ldb)
                .map(|i| ((i * 104729) % 89) as f32 / 89.0 - 0.5)
                .collect();
            for acc in [false, true] {
                let mut c = vec![2.0f32; m * ldc];
                sgemm_nt((m, n, k), (&a, lda), (&b, ldb), &mut c, ldc, acc);
                for i in 0..m {
                    for j in 0..ldc {
                        let want = if j < n {
                            let d: f64 = (0..k)
                                .map(|p| a[i * lda + p] as f64 * b[j * ldb + p] as f64)
                                .sum();
                            d + if acc { 2.0 } else { 0.0 }
                        } else {
                            2.0
                        };
                        let got = c[i * ldc + j] as f64;
                        assert!((got - want).abs() < 1e-4 * (k as f64).sqrt(), "{m}x{n}x{k}");
                    }
                }
            }
        }
    }

    #[test]
    fn sgemm_matches_naive_on_strided_views() {
        if !available() {
            return;
        }
        let mut s = 1u32;
        let mut rnd = || {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(m, n, k) in &[
            (6, 784, 25),
            (13, 33, 300),
            (64, 100, 577),
            (1, 1, 1),
            (25, 17, 6),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let av: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
                let bv: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
                let a = if ta {
                    View {
                        data: &av,
                        rs: 1,
                        cs: m,
                    }
                } else {
                    View {
                        data: &av,
                        rs: k,
                        cs: 1,
                    }
                };
                let b = if tb {
                    View {
                        data: &bv,
                        rs: 1,
                        cs: k,
                    }
                } else {
                    View {
                        data: &bv,
                        rs: n,
                        cs: 1,
                    }
                };
                let ldc = n + 3;
                let mut c = vec![1.0f32; m * ldc];
                sgemm((m, n, k), a, b, &mut c, ldc, true);
                for i in 0..m {
                    for j in 0..ldc {
                        let want = if j < n {
                            1.0 + (0..k)
                                .map(|p| {
                                    a.data[i * a.rs + p * a.cs] as f64
                                        * b.data[p * b.rs + j * b.cs] as f64
                                })
                                .sum::<f64>()
                        } else {
                            1.0
                        };
                        let got = c[i * ldc + j] as f64;
                        assert!((got - want).abs() < 1e-4 * (k as f64).sqrt(), "{m}x{n}x{k}");
                    }
                }
            }
        }
    }
}
