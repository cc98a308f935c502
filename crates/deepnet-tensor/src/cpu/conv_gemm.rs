//! A single-threaded packed f32 product for the convolution kernels on CPUs with vector units
//! (AVX-512, AVX2+FMA, NEON: the kernels are generic over [`Simd`], as the matrix product's).
//!
//! The convolutions run many mid-sized products (one per image), each inside one task, so this
//! kernel never uses the thread pool; `gemm` 0.18 on a stable toolchain runs 256-bit kernels
//! only. The operands are strided views (no transposed copies), packed per block of `k` into
//! zero-padded panels: `a` into (kc x mr) panels, `b` one (kc x nr) panel at a time.
//!
//! Determinism: the blocking depends on the shape alone and each product runs on one thread,
//! so the result is a function of the operands only.

// the register tile kernel, its shape, the panel layout and packers are the matrix product's:
// this module only drives them one product per task
use super::isa::{isa, Isa};
use super::matmul::packed::{nr, pack_a, pack_b, tile_any, Mat};
#[cfg(target_arch = "aarch64")]
use super::simd::Neon;
use super::simd::Simd;
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512};
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

/// The kernels compiled for one instruction set.
#[derive(Clone, Copy)]
struct Kernels {
    /// Rows and columns of the register tile.
    mr: usize,
    nr: usize,
    /// [`blocks`] instantiated for the instruction set.
    #[allow(clippy::type_complexity)]
    blocks:
        unsafe fn(&Mat, &Mat, (usize, usize, usize), usize, bool, &mut [f32], &mut [f32], usize),
    /// [`dot_tile`] instantiated for the instruction set.
    #[allow(clippy::type_complexity)]
    dot_tile: unsafe fn(usize, [*const f32; DA], [*const f32; DB]) -> [[f32; DB]; DA],
}

/// Defines the [`Kernels`] constant `$k` for vector type `$s` compiled with `$feat`.
macro_rules! kernels {
    ($k:ident, $s:ty, $feat:literal) => {
        const $k: Kernels = {
            /// # Safety
            /// The CPU has the instruction set; see [`blocks`].
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn blocks_on(
                a: &Mat,
                b: &Mat,
                mnk: (usize, usize, usize),
                kc_max: usize,
                acc: bool,
                buf: &mut [f32],
                c: &mut [f32],
                ldc: usize,
            ) {
                blocks::<$s>(a, b, mnk, kc_max, acc, buf, c, ldc)
            }
            /// # Safety
            /// The CPU has the instruction set; see [`dot_tile`].
            #[target_feature(enable = $feat)]
            unsafe fn dot_on(
                k: usize,
                a: [*const f32; DA],
                b: [*const f32; DB],
            ) -> [[f32; DB]; DA] {
                dot_tile::<$s>(k, a, b)
            }
            Kernels {
                mr: <$s as Simd>::MR,
                nr: nr::<$s>(),
                blocks: blocks_on,
                dot_tile: dot_on,
            }
        };
    };
}

#[cfg(target_arch = "x86_64")]
kernels!(AVX512, Avx512, "avx512f");
#[cfg(target_arch = "x86_64")]
kernels!(AVX2, Avx2, "avx2,fma");
#[cfg(target_arch = "aarch64")]
kernels!(NEON, Neon, "neon");

/// The kernels for the instruction set in use, if it has vectors.
fn kernels() -> Option<Kernels> {
    kernels_for(isa())
}

/// The kernels for `isa`, if it has vectors.
fn kernels_for(isa: Isa) -> Option<Kernels> {
    super::simd::per_isa!(isa, AVX512, AVX2, NEON)
}

/// Whether this CPU runs [`sgemm`].
pub(crate) fn available() -> bool {
    kernels().is_some()
}

thread_local! {
    /// Packing buffers of this thread (a's panels, then one panel of b).
    static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `c (m x n, element (i, j) at c[i * ldc + j]) (= | +=) a (m x k) @ b (k x n)`, adding to `c`
/// when `acc`. Panics when a view or `c` is too small, or when [`available`] is false.
pub(crate) fn sgemm(
    mnk: (usize, usize, usize),
    a: View,
    b: View,
    c: &mut [f32],
    ldc: usize,
    acc: bool,
) {
    let ks = kernels().expect("sgemm: the CPU has no vector kernels");
    sgemm_on(ks, mnk, a, b, c, ldc, acc)
}

/// [`sgemm`] on the kernels `ks` (which the CPU must run).
fn sgemm_on(
    ks: Kernels,
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
    let tiles = m.div_ceil(ks.mr);
    let kc_max = k.div_ceil(k.div_ceil(KC));
    let need = tiles * ks.mr * kc_max + kc_max * ks.nr;
    // the matrix product's packing routines (vectorized, with LANES x LANES transposes for the
    // operands stored across the panel's direction)
    let am = Mat::new(a.data, 0, (a.rs, a.cs), m, k);
    let bm = Mat::new(b.data, 0, (b.rs, b.cs), k, n);
    let mut run = |buf: &mut Vec<f32>| {
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
        // SAFETY: the CPU has the kernels' instruction set (`kernels`); the views were checked
        // by Mat::new, c's size above, and the buffer holds `need` elements.
        unsafe { (ks.blocks)(&am, &bm, (m, n, k), kc_max, acc, &mut buf[..need], c, ldc) };
    };
    PACK.with(|p| match p.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        Err(_) => run(&mut Vec::new()),
    });
}

/// The blocks of [`sgemm`]: `c (=|+=) a @ b`, k cut into blocks of at most `kc_max`, `buf`
/// holding the packed panels of a and one panel of b.
///
/// # Safety
/// The CPU runs `S` and this is inlined into a function compiled for it; `a` is `m x k`, `b`
/// `k x n` (checked views), `c` holds `(m - 1) * ldc + n` elements, `ldc >= n`, `buf` holds
/// `m.div_ceil(MR) * MR * kc_max + kc_max * NR` elements.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn blocks<S: Simd>(
    am: &Mat,
    bm: &Mat,
    (m, n, k): (usize, usize, usize),
    kc_max: usize,
    acc: bool,
    buf: &mut [f32],
    c: &mut [f32],
    ldc: usize,
) {
    let (mr, nr) = (S::MR, nr::<S>());
    let tiles = m.div_ceil(mr);
    let (apack, bpack) = buf.split_at_mut(tiles * mr * kc_max);
    let mut pc = 0;
    while pc < k {
        let kc = kc_max.min(k - pc);
        pack_a::<S>(am, 0, m, pc, kc, apack);
        let first = pc == 0 && !acc;
        let mut j0 = 0;
        while j0 < n {
            let w = nr.min(n - j0);
            pack_b::<S>(bm, pc, kc, j0, w, &mut bpack[..kc * nr]);
            for t in 0..tiles {
                let h = mr.min(m - t * mr);
                let ap = &apack[t * kc * mr..(t + 1) * kc * mr];
                let cp = &mut c[t * mr * ldc + j0..];
                // the panels hold kc packed rows and the h x w tile at cp (row stride ldc)
                // lies inside c, as (t * mr + h - 1) * ldc + j0 + w <= (m - 1) * ldc + n
                assert!((h - 1) * ldc + w <= cp.len());
                let (a, b) = (ap.as_ptr(), bpack.as_ptr());
                tile_any::<S>(kc, a, b, cp.as_mut_ptr(), ldc, h, w, first);
            }
            j0 += nr;
        }
        pc += kc;
    }
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
pub(crate) fn sgemm_nt(
    mnk: (usize, usize, usize),
    a: (&[f32], usize),
    b: (&[f32], usize),
    c: &mut [f32],
    ldc: usize,
    acc: bool,
) {
    let ks = kernels().expect("sgemm_nt: the CPU has no vector kernels");
    sgemm_nt_on(ks, mnk, a, b, c, ldc, acc)
}

/// [`sgemm_nt`] on the kernels `ks` (which the CPU must run).
fn sgemm_nt_on(
    ks: Kernels,
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
            // SAFETY: the CPU has the kernels' instruction set; every pointer starts a row of
            // k elements inside its slice (asserted above; rows are clamped to the last one).
            let s = unsafe { (ks.dot_tile)(k, ap, bp) };
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
/// The CPU runs `S` and this is inlined into a function compiled for it; every pointer is
/// valid for reading k f32.
#[inline(always)]
unsafe fn dot_tile<S: Simd>(k: usize, a: [*const f32; DA], b: [*const f32; DB]) -> [[f32; DB]; DA] {
    let l = S::LANES;
    let mut acc = [[S::zero(); DB]; DA];
    let mut p = 0;
    while p + l <= k {
        let bv: [S::V; DB] = std::array::from_fn(|j| S::load(b[j].add(p)));
        for (i, row) in acc.iter_mut().enumerate() {
            let av = S::load(a[i].add(p));
            for (x, &y) in row.iter_mut().zip(&bv) {
                *x = S::fma(av, y, *x);
            }
        }
        p += l;
    }
    if p < k {
        let bv: [S::V; DB] = std::array::from_fn(|j| S::load_partial(b[j].add(p), k - p));
        for (i, row) in acc.iter_mut().enumerate() {
            let av = S::load_partial(a[i].add(p), k - p);
            for (x, &y) in row.iter_mut().zip(&bv) {
                *x = S::fma(av, y, *x);
            }
        }
    }
    acc.map(|row| row.map(|x| S::sum(x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernels of every instruction set this CPU runs.
    fn all() -> Vec<Kernels> {
        Isa::available()
            .into_iter()
            .filter_map(kernels_for)
            .collect()
    }

    #[test]
    fn sgemm_nt_matches_naive() {
        for ks in all() {
            nt_on(ks);
        }
    }

    fn nt_on(ks: Kernels) {
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
                sgemm_nt_on(ks, (m, n, k), (&a, lda), (&b, ldb), &mut c, ldc, acc);
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
        for ks in all() {
            strided_on(ks);
        }
    }

    fn strided_on(ks: Kernels) {
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
            (7, 257, 33),
            (100, 17, 1),
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
                sgemm_on(ks, (m, n, k), a, b, &mut c, ldc, true);
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
