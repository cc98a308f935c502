//! The small single-threaded product of the whole-sequence recurrent kernels
//! ([`super::rnn_seq`]): `c = a @ b` for the few batch rows one thread owns, against a `b`
//! (the recurrent weight, `(H, G*H)` or `(G*H, H)`) packed once per call and then reused by
//! every time step, so that it stays in the core's L2 cache for the whole sequence.
//!
//! Why not the crate's other products: the packed AVX-512 GEMM ([`super::matmul::avx512`])
//! packs both operands on every call and splits k into blocks whose partial sums it adds, and
//! the `gemm` crate (the AVX2 path) repacks `b` on every call; here `b` is packed once for up to
//! hundreds of products, `a` (a state of the previous step) is read where it lies, and every
//! element of `c` is one fused multiply-add chain over k in order, `c = fma(a_ik, b_kj, c)` from
//! zero. That order is the same for every register tile, every instruction set and every way of
//! cutting the batch into rows, so the kernels below give the same bits on AVX-512, AVX2+FMA
//! and the portable path (which uses `mul_add`, the same single rounding), and results do not
//! depend on the number of threads.
//!
//! The register tiles are written once (a macro) for 16-lane AVX-512 and 8-lane AVX2 vectors:
//! up to 12 rows x 32 columns (24 accumulators of the 32 zmm registers) and 6 rows x 16 columns
//! (12 of the 16 ymm registers).

use super::isa::Isa;
use super::Float;

/// `b: (k, n)` packed for one instruction set: column panels `nr` wide, each `k` rows of `nr`
/// (zero past column `n`), panel after panel.
pub(crate) struct Packed<T> {
    data: Vec<T>,
    k: usize,
    n: usize,
    nr: usize,
    /// the instruction set the product runs with
    isa: Isa,
    /// whether the panels are laid out for the SIMD tiles (f32 on AVX2 or AVX-512; read only
    /// where those tiles exist)
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    tiles: bool,
}

/// The panel width of the SIMD tiles for `isa` (f32), or `None` for the portable path.
fn simd_width(isa: Isa) -> Option<usize> {
    match isa {
        Isa::Avx512 if cfg!(target_arch = "x86_64") => Some(32),
        Isa::Avx2 if cfg!(target_arch = "x86_64") => Some(16),
        _ => None,
    }
}

impl<T: Float> Packed<T> {
    /// Packs `b: (k, n)`, element `(p, j)` at `src[p * rs + j * cs]`, for the kernels of `isa`
    /// (f32 takes the SIMD tiles; f64 the portable path, vectorized by the compiler). The
    /// panels are packed in parallel (this runs once per sequence op, before its threads
    /// start, so on one thread it would be a serial part of every call); a transposed source
    /// (`rs == 1`) is read a panel's `nr` columns at a time, each of them along its cache
    /// lines as `p` advances.
    pub(crate) fn new(src: &[T], k: usize, n: usize, (rs, cs): (usize, usize), isa: Isa) -> Self {
        let simd = simd_width(isa).filter(|_| T::DTYPE == crate::DType::F32);
        // the portable path reads b row by row: one panel as wide as b
        let nr = simd.unwrap_or(n).max(1);
        let panels = n.div_ceil(nr);
        let mut data = vec![T::zero(); panels * k * nr];
        if k > 0 {
            super::par::chunks_mut(&mut data, k * nr, |q, panel| {
                let cols = nr.min(n - q * nr);
                for (p, row) in panel.chunks_exact_mut(nr).enumerate() {
                    let at = |jj: usize| p * rs + (q * nr + jj) * cs;
                    for (jj, d) in row[..cols].iter_mut().enumerate() {
                        *d = src[at(jj)];
                    }
                }
            });
        }
        Packed {
            data,
            k,
            n,
            nr,
            isa,
            tiles: simd.is_some(),
        }
    }

    /// The row stride of `c`: `n` rounded up to whole panels (the tiles store whole vectors).
    pub(crate) fn ldc(&self) -> usize {
        self.n.div_ceil(self.nr) * self.nr
    }

    /// `c[i][j] = sum_p a[i * lda + p] * b[p][j]` for `i < rows`, `j < ldc` (the columns past
    /// `n` are zero), with `c` row-major at stride [`Packed::ldc`]; run on the calling thread.
    pub(crate) fn product(&self, a: &[T], lda: usize, rows: usize, c: &mut [T]) {
        let (k, ldc) = (self.k, self.ldc());
        if rows == 0 || ldc == 0 {
            return;
        }
        assert!(a.len() >= (rows - 1) * lda + k && c.len() >= rows * ldc && lda >= k);
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(a), Some(c)) = (self.tiles, T::as_f32(a), T::as_f32_mut(c)) {
            let (b, panels) = (T::as_f32(&self.data).expect("f32"), ldc / self.nr);
            let (a, c) = (a.as_ptr(), c.as_mut_ptr());
            // SAFETY: `tiles` is set only for an isa the CPU has (the kernels' `isa()` never
            // exceeds it); a holds `rows` rows of k at stride lda, b the panels, c rows x ldc
            // (asserted above).
            match self.isa {
                Isa::Avx512 => return unsafe { rows_avx512(k, a, lda, rows, b, panels, c, ldc) },
                Isa::Avx2 => return unsafe { rows_avx2(k, a, lda, rows, b, panels, c, ldc) },
                // NEON takes the portable product (no NEON tiles for this one yet)
                Isa::Scalar | Isa::Neon => {}
            }
        }
        super::rnn::wide(
            self.isa,
            #[inline(always)]
            || portable(&self.data, k, a, lda, rows, c, ldc),
        )
    }
}

/// The portable product over one panel as wide as `b`: row by row, `c_i += a_ip * b_p` in
/// order of `p`, each element one `mul_add` chain (what the SIMD tiles compute).
#[inline(always)]
fn portable<T: Float>(
    b: &[T],
    k: usize,
    a: &[T],
    lda: usize,
    rows: usize,
    c: &mut [T],
    ldc: usize,
) {
    for (i, ci) in c.chunks_exact_mut(ldc).take(rows).enumerate() {
        ci.fill(T::zero());
        for (p, bp) in b.chunks_exact(ldc).take(k).enumerate() {
            let x = a[i * lda + p];
            for (y, &bv) in ci.iter_mut().zip(bp) {
                *y = x.mul_add(bv, *y);
            }
        }
    }
}

/// Defines, for one vector type, the register tile `$tile::<R>` (`R` rows by `$v` vectors of
/// `$w` lanes) and `$rows`, the product of `rows` rows of `a` with every panel.
macro_rules! simd_product {
    ($tile:ident, $rows:ident, $feat:literal, $w:literal, $v:literal, $mr:literal, [$($r:literal)*],
     $zero:ident, $load:ident, $store:ident, $set1:ident, $fma:ident) => {
        /// `c[..R][..V W] = a[..R][..k] @ panel`, one fma chain per element in order of k.
        ///
        /// # Safety
        /// The CPU has the tile's instructions; `a` holds R rows of k elements at stride `lda`,
        /// `b` a packed (k x V W) panel, `c` R rows of V W elements at stride `ldc`.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $tile<const R: usize>(
            k: usize,
            a: *const f32,
            lda: usize,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
        ) {
            use std::arch::x86_64::*;
            let mut acc = [[$zero(); $v]; R];
            for p in 0..k {
                let bp = b.add(p * $v * $w);
                let mut bv = [$zero(); $v];
                for (q, x) in bv.iter_mut().enumerate() {
                    *x = $load(bp.add(q * $w));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = $set1(*a.add(i * lda + p));
                    for (x, &y) in row.iter_mut().zip(&bv) {
                        *x = $fma(ai, y, *x);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (q, &x) in row.iter().enumerate() {
                    $store(c.add(i * ldc + q * $w), x);
                }
            }
        }

        /// `c = a @ b` for `rows` rows and every one of `panels` packed panels: panel by panel
        /// (a panel stays in L1 while the row tiles pass over it), in as few tiles of up to
        /// `$mr` rows as there can be, of balanced heights (a thread's 32 rows on AVX2 as
        /// 6 6 5 5 5 5, not 6 6 6 6 6 2: a tile of two rows has too few independent
        /// accumulators to keep the FMA units busy). Each element is the same chain whatever
        /// tile computes it.
        ///
        /// # Safety
        /// As [`Packed::product`] checks: `a` holds `rows` rows of k at stride `lda`, `b` the
        /// panels, `c` `rows` rows of `ldc` elements; the CPU has the tile's instructions.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $rows(
            k: usize,
            a: *const f32,
            lda: usize,
            rows: usize,
            b: &[f32],
            panels: usize,
            c: *mut f32,
            ldc: usize,
        ) {
            for q in 0..panels {
                let bq = b.as_ptr().add(q * k * $v * $w);
                let tiles = rows.div_ceil($mr);
                let mut i = 0;
                for t in 0..tiles {
                    // tile t covers rows t * rows / tiles .. (t + 1) * rows / tiles
                    let r = (t + 1) * rows / tiles - i;
                    let (ai, ci) = (a.add(i * lda), c.add(i * ldc + q * $v * $w));
                    match r {
                        $($r => $tile::<$r>(k, ai, lda, bq, ci, ldc),)*
                        _ => unreachable!("tiles have 1 to {} rows", $mr),
                    }
                    i += r;
                }
            }
        }
    };
}

simd_product!(
    tile_avx512,
    rows_avx512,
    "avx512f",
    16,
    2,
    12,
    [1 2 3 4 5 6 7 8 9 10 11 12],
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps
);
simd_product!(
    tile_avx2,
    rows_avx2,
    "avx2,fma",
    8,
    2,
    6,
    [1 2 3 4 5 6],
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every instruction set, every row count up to two tiles and odd sizes (panel tails, k
    /// not a multiple of anything): the same bits as the portable path, and within rounding of
    /// an f64 product; f64 goes the portable way on every set.
    #[test]
    fn every_instruction_set_gives_the_portable_bits() {
        let mut g = crate::Generator::new(3);
        for &(k, n) in &[(13, 37), (128, 64), (5, 1), (1, 70)] {
            let b: Vec<f32> = (0..k * n).map(|_| g.next_f64() as f32 - 0.5).collect();
            let rows = 25;
            let lda = k + 3;
            let a: Vec<f32> = (0..rows * lda).map(|_| g.next_f64() as f32 - 0.5).collect();
            let run = |isa: Isa, r: usize| {
                let p = Packed::new(&b, k, n, (n, 1), isa);
                let mut c = vec![f32::NAN; r * p.ldc()];
                p.product(&a, lda, r, &mut c);
                c.chunks(p.ldc())
                    .flat_map(|row| row[..n].iter().map(|x| x.to_bits()))
                    .collect::<Vec<_>>()
            };
            for r in 1..=rows {
                let want = run(Isa::Scalar, r);
                for isa in Isa::available() {
                    assert_eq!(run(isa, r), want, "{isa:?} k={k} n={n} rows={r}");
                }
                for (e, &bits) in want.iter().enumerate() {
                    let (i, j) = (e / n, e % n);
                    let exact: f64 = (0..k)
                        .map(|p| a[i * lda + p] as f64 * b[p * n + j] as f64)
                        .sum();
                    assert!((f32::from_bits(bits) as f64 - exact).abs() < 1e-5 * k as f64);
                }
            }
            let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
            let a64: Vec<f64> = a.iter().map(|&x| x as f64).collect();
            for isa in Isa::available() {
                let p = Packed::new(&b64, k, n, (n, 1), isa);
                let mut c = vec![f64::NAN; rows * p.ldc()];
                p.product(&a64, lda, rows, &mut c);
                for (i, j) in (0..rows).flat_map(|i| (0..n).map(move |j| (i, j))) {
                    let exact: f64 = (0..k).map(|q| a64[i * lda + q] * b64[q * n + j]).sum();
                    assert!((c[i * p.ldc() + j] - exact).abs() < 1e-13 * k as f64);
                }
            }
        }
    }
}
