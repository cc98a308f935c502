//! The f32 vector the packed kernels are written against, so that each kernel has one source for
//! AVX-512 (`__m512`, 16 lanes), AVX2+FMA (`__m256`, 8 lanes) and NEON (`float32x4_t`, 4 lanes).
//!
//! Why not `pulp` (the SIMD layer `gemm` and `faer` are built on): the `pulp` 0.21 that `gemm`
//! pins has AVX-512 only behind its nightly feature, and 0.22 (AVX-512 on stable) would put a
//! second copy of the crate in the build; its tokens choose the instruction set by their own
//! detection, not by `DEEPNET_CPU`; and the kernels here need only the eight operations below,
//! which map one to one onto instructions, so the AVX-512 kernels keep their exact instruction
//! sequence (and results, bit for bit) from before they were made generic.
//!
//! How the intrinsics inline: every method is `#[inline(always)]` and so is every generic kernel
//! function; each instruction set then has one `#[target_feature(enable = ...)]` entry point that
//! instantiates the kernel for its vector type (see `matmul_packed.rs`), and everything below that
//! entry point is compiled for the instruction set. A generic kernel function must never be
//! called except from such an entry point (its body would be compiled for the baseline target,
//! with a call per intrinsic).

/// An f32 vector of [`Simd::LANES`] lanes on one instruction set. The methods are `unsafe`: the
/// CPU must have the instruction set, and pointers must be valid for the lanes they name.
pub(crate) trait Simd: Copy + 'static {
    /// The register type.
    type V: Copy;
    /// Lanes per vector.
    const LANES: usize;
    /// Rows of the matrix-product register tile: 12 or 6 (the tiles for edge rows are listed
    /// for these two in `matmul_packed::tile_any`).
    const MR: usize;
    /// Vectors per row of the register tile (its columns: `NV * LANES`).
    const NV: usize;

    /// All lanes zero.
    unsafe fn zero() -> Self::V;
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self::V;
    /// `LANES` values from `p` (unaligned).
    unsafe fn load(p: *const f32) -> Self::V;
    /// Stores `LANES` values at `p` (unaligned).
    unsafe fn store(p: *mut f32, v: Self::V);
    /// `a * b + c`, rounded once.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// The first `n <= LANES` values from `p`, zero in the other lanes (which are not read).
    unsafe fn load_partial(p: *const f32, n: usize) -> Self::V;
    /// Stores the first `n <= LANES` lanes at `p` (the memory past them is not touched).
    unsafe fn store_partial(p: *mut f32, n: usize, v: Self::V);
    /// The sum of the lanes (in a fixed order per instruction set).
    unsafe fn sum(v: Self::V) -> f32;
    /// Transposes `LANES` vectors (`r.len() == LANES`) in place: `r[i][j]` becomes `r[j][i]`.
    unsafe fn transpose(r: &mut [Self::V]);
}

/// `Some` of the kernels for instruction set `$isa` among one per vector set of the target
/// architecture (`$avx512` and `$avx2` on x86_64, `$neon` on aarch64), `None` for scalar: the
/// one match every kernel table selects with (the arms of the other architecture are compiled
/// out, so their names need not exist there).
macro_rules! per_isa {
    ($isa:expr, $avx512:expr, $avx2:expr, $neon:expr) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            $crate::cpu::isa::Isa::Avx512 => Some($avx512),
            #[cfg(target_arch = "x86_64")]
            $crate::cpu::isa::Isa::Avx2 => Some($avx2),
            #[cfg(target_arch = "aarch64")]
            $crate::cpu::isa::Isa::Neon => Some($neon),
            _ => None,
        }
    };
}
pub(crate) use per_isa;

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Simd;
    use std::arch::x86_64::*;

    /// AVX-512F: 16 lanes, a 12 x 32 tile (24 of the 32 zmm registers accumulate).
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512;

    impl Simd for Avx512 {
        type V = __m512;
        const LANES: usize = 16;
        const MR: usize = 12;
        const NV: usize = 2;

        #[inline(always)]
        unsafe fn zero() -> __m512 {
            _mm512_setzero_ps()
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            _mm512_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            _mm512_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            _mm512_storeu_ps(p, v)
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            _mm512_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            _mm512_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> __m512 {
            _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p)
        }
        #[inline(always)]
        unsafe fn store_partial(p: *mut f32, n: usize, v: __m512) {
            _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, v)
        }
        #[inline(always)]
        unsafe fn sum(v: __m512) -> f32 {
            _mm512_reduce_add_ps(v)
        }
        #[inline(always)]
        unsafe fn transpose(r: &mut [__m512]) {
            let r: &mut [__m512; 16] = r.try_into().expect("16 vectors");
            let mut t = [_mm512_setzero_ps(); 16];
            for i in 0..8 {
                t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            for i in 0..4 {
                r[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
                r[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
                r[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
                r[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
            }
            for h in 0..2 {
                for j in 0..4 {
                    t[8 * h + j] = _mm512_shuffle_f32x4::<0x88>(r[8 * h + j], r[8 * h + 4 + j]);
                    t[8 * h + 4 + j] = _mm512_shuffle_f32x4::<0xDD>(r[8 * h + j], r[8 * h + 4 + j]);
                }
            }
            for j in 0..8 {
                r[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
                r[8 + j] = _mm512_shuffle_f32x4::<0xDD>(t[j], t[8 + j]);
            }
        }
    }

    /// AVX2 with FMA: 8 lanes, a 6 x 16 tile (12 of the 16 ymm registers accumulate, two hold
    /// the row of b, one the broadcast element of a).
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2;

    /// Lane mask for the first `n` of 8 lanes (the sign bit of each selected lane set).
    #[inline(always)]
    unsafe fn mask8(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }

    impl Simd for Avx2 {
        type V = __m256;
        const LANES: usize = 8;
        const MR: usize = 6;
        const NV: usize = 2;

        #[inline(always)]
        unsafe fn zero() -> __m256 {
            _mm256_setzero_ps()
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            _mm256_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            _mm256_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            _mm256_storeu_ps(p, v)
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            _mm256_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> __m256 {
            _mm256_maskload_ps(p, mask8(n))
        }
        #[inline(always)]
        unsafe fn store_partial(p: *mut f32, n: usize, v: __m256) {
            _mm256_maskstore_ps(p, mask8(n), v)
        }
        #[inline(always)]
        unsafe fn sum(v: __m256) -> f32 {
            // halves, then pairs, then the last two
            let x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
            _mm_cvtss_f32(_mm_add_ss(x, _mm_shuffle_ps::<1>(x, x)))
        }
        #[inline(always)]
        unsafe fn transpose(r: &mut [__m256]) {
            let r: &mut [__m256; 8] = r.try_into().expect("8 vectors");
            let mut t = [_mm256_setzero_ps(); 8];
            for i in 0..4 {
                t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            // s[j] (j < 4) holds columns j and j + 4 of rows 0..4 (low 128 bits: column j)
            // when h = 0, and of rows 4..8 when h = 1
            let mut s = [_mm256_setzero_ps(); 8];
            for h in 0..2 {
                s[4 * h] = _mm256_shuffle_ps::<0x44>(t[4 * h], t[4 * h + 2]);
                s[4 * h + 1] = _mm256_shuffle_ps::<0xEE>(t[4 * h], t[4 * h + 2]);
                s[4 * h + 2] = _mm256_shuffle_ps::<0x44>(t[4 * h + 1], t[4 * h + 3]);
                s[4 * h + 3] = _mm256_shuffle_ps::<0xEE>(t[4 * h + 1], t[4 * h + 3]);
            }
            for j in 0..4 {
                r[j] = _mm256_permute2f128_ps::<0x20>(s[j], s[4 + j]);
                r[4 + j] = _mm256_permute2f128_ps::<0x31>(s[j], s[4 + j]);
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) use arm::Neon;

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::Simd;
    use std::arch::aarch64::*;

    /// NEON: 4 lanes, a 12 x 8 tile (24 of the 32 q registers accumulate).
    #[derive(Clone, Copy)]
    pub(crate) struct Neon;

    impl Simd for Neon {
        type V = float32x4_t;
        const LANES: usize = 4;
        const MR: usize = 12;
        const NV: usize = 2;

        #[inline(always)]
        unsafe fn zero() -> float32x4_t {
            vdupq_n_f32(0.0)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> float32x4_t {
            vdupq_n_f32(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> float32x4_t {
            vld1q_f32(p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: float32x4_t) {
            vst1q_f32(p, v)
        }
        #[inline(always)]
        unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
            vfmaq_f32(c, a, b)
        }
        #[inline(always)]
        unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
            vaddq_f32(a, b)
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> float32x4_t {
            let mut t = [0f32; 4];
            std::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n.min(4));
            vld1q_f32(t.as_ptr())
        }
        #[inline(always)]
        unsafe fn store_partial(p: *mut f32, n: usize, v: float32x4_t) {
            let mut t = [0f32; 4];
            vst1q_f32(t.as_mut_ptr(), v);
            std::ptr::copy_nonoverlapping(t.as_ptr(), p, n.min(4));
        }
        #[inline(always)]
        unsafe fn sum(v: float32x4_t) -> f32 {
            vaddvq_f32(v)
        }
        #[inline(always)]
        unsafe fn transpose(r: &mut [float32x4_t]) {
            let r: &mut [float32x4_t; 4] = r.try_into().expect("4 vectors");
            let t0 = vtrn1q_f32(r[0], r[1]);
            let t1 = vtrn2q_f32(r[0], r[1]);
            let t2 = vtrn1q_f32(r[2], r[3]);
            let t3 = vtrn2q_f32(r[2], r[3]);
            let (d0, d1, d2, d3) = (
                vreinterpretq_f64_f32(t0),
                vreinterpretq_f64_f32(t1),
                vreinterpretq_f64_f32(t2),
                vreinterpretq_f64_f32(t3),
            );
            r[0] = vreinterpretq_f32_f64(vtrn1q_f64(d0, d2));
            r[1] = vreinterpretq_f32_f64(vtrn1q_f64(d1, d3));
            r[2] = vreinterpretq_f32_f64(vtrn2q_f64(d0, d2));
            r[3] = vreinterpretq_f32_f64(vtrn2q_f64(d1, d3));
        }
    }
}
