//! A vectorizable f32 `exp`. libm's `expf` is a call per element and ran the `exp` op at an
//! eighth of memory bandwidth; this is the same kind of function SLEEF and Cephes use (range
//! reduction by ln 2, a degree-6 polynomial, scaling by 2^n built from the exponent bits), with
//! no branches, so loops over it vectorize. Within 2 ulp of the exact result over the whole
//! range (tested against f64 below); overflow gives +inf, underflow 0, NaN stays NaN.
//!
//! The scalar function and the slice kernel perform the same IEEE operations (Rust never fuses
//! a multiply and an add on its own), so a strided tensor gets the same bits as a contiguous one
//! and every instruction set gives the same result.

use std::mem::MaybeUninit;

/// Above this, e^x overflows f32.
const OVER: f32 = 88.722_84;
/// Below this, e^x is below half the smallest subnormal.
const UNDER: f32 = -103.972_08;

/// e^x in f32.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, the first with few mantissa bits so n * LN2_HI is exact
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(UNDER, OVER);
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // Cephes' minimax polynomial for e^r - 1 - r on [-ln2/2, ln2/2]
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * (r * r) + r + 1.0;
    // 2^n in two factors, each a normal float for n in [-150, 128]
    let n1 = ni >> 1;
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((ni - n1 + 127) as u32) << 23);
    let e = y * s1 * s2;
    let e = if x > OVER { f32::INFINITY } else { e };
    let e = if x < UNDER { 0.0 } else { e };
    if x.is_nan() {
        x
    } else {
        e
    }
}

/// Inputs of [`exp_gate_f32`] are clamped to `±GATE` so that e^x and its factor 2^n stay normal.
const GATE: f32 = 87.0;

/// e^x for the gate nonlinearities of the recurrent kernels (`1 / (1 + e^-x)`, `1 - 2 / (1 +
/// e^2x)`), where only the size of e^x against 1 matters at the extremes: `x` is clamped to
/// ±87 (so e^-100 gives e^-87 = 1.6e-38 instead of a subnormal, and e^100 gives 6e37 instead of
/// infinity; both sigmoid and tanh come out at their limits or within 2e-38 of them), which
/// spares [`exp_f32`]'s special cases and second scale factor, and the reduction and polynomial
/// are fused multiply-adds. About half the operations of [`exp_f32`]; within 2 ulp of e^x on
/// [-87, 87]; NaN stays NaN. `mul_add` rounds once on every instruction set (one FMA where the
/// CPU has it, a library call where it has not), so the result is the same bits everywhere.
#[inline(always)]
pub(crate) fn exp_gate_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0;
    // clamp propagates NaN, and NaN then flows through the arithmetic below
    let xc = x.clamp(-GATE, GATE);
    let t = xc.mul_add(LOG2E, ROUND);
    let n = t - ROUND;
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, xc));
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = p.mul_add(r * r, r) + 1.0;
    // |n| <= 126: 2^n is one normal float
    y * f32::from_bits(((ni + 127) as u32) << 23)
}

/// `dst[i] = e^src[i]`, with the widest vectors the CPU has.
pub(crate) fn exp_slice_f32(src: &[f32], dst: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::cpu::isa::has_avx512() {
            // SAFETY: the CPU has AVX-512F (checked above).
            return unsafe { exp_avx512(src, dst) };
        }
        if crate::cpu::isa::has_avx2() {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { exp_avx2(src, dst) };
        }
    }
    exp_loop(src, dst)
}

#[inline(always)]
fn exp_loop(src: &[f32], dst: &mut [MaybeUninit<f32>]) {
    for (o, &x) in dst.iter_mut().zip(src) {
        o.write(exp_f32(x));
    }
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp_avx512(src: &[f32], dst: &mut [MaybeUninit<f32>]) {
    exp_loop(src, dst)
}

/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exp_avx2(src: &[f32], dst: &mut [MaybeUninit<f32>]) {
    exp_loop(src, dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between an f32 and the exact value.
    fn ulps(got: f32, exact: f64) -> f64 {
        let e = exact as f32;
        if got == e {
            return 0.0;
        }
        let ulp = (f32::from_bits(e.to_bits() + 1) - e).abs() as f64;
        (got as f64 - exact).abs() / ulp.max(f64::from(f32::from_bits(1)))
    }

    #[test]
    fn within_two_ulp_of_exact_over_the_whole_range() {
        let mut worst = (0.0, 0.0f32);
        // every 97th float from -104 to 89, plus the edges
        let mut x = -104.0f32;
        while x < 89.0 {
            let u = ulps(exp_f32(x), (x as f64).exp());
            if u > worst.0 {
                worst = (u, x);
            }
            x = if x < 0.0 {
                f32::from_bits(x.to_bits() - 97).min(-1e-30)
            } else {
                f32::from_bits(x.to_bits() + 97)
            };
            if x == -1e-30 {
                x = 0.0;
            }
        }
        assert!(worst.0 <= 2.0, "worst {} ulp at {}", worst.0, worst.1);
    }

    #[test]
    fn edges_and_special_values() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-0.0), 1.0);
        assert_eq!(exp_f32(89.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(-105.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(ulps(exp_f32(88.72), (88.72f32 as f64).exp()) <= 2.0);
        assert!(exp_f32(88.7228).is_finite());
        // subnormal results (IEEE mode): e^-100 = 3.72e-44
        let s = exp_f32(-100.0);
        assert!(ulps(s, (-100f64).exp()) <= 2.0, "{s:e}");
        assert_eq!(exp_f32(1.0), std::f32::consts::E);
    }

    #[test]
    fn the_gate_exp_is_within_two_ulp_and_clamps() {
        let mut worst = (0.0, 0.0f32);
        let mut x = -87.0f32;
        while x <= 87.0 {
            let u = ulps(exp_gate_f32(x), (x as f64).exp());
            if u > worst.0 {
                worst = (u, x);
            }
            x += 0.000_731 * (1.0 + x.abs());
        }
        assert!(worst.0 <= 2.0, "worst {} ulp at {}", worst.0, worst.1);
        assert_eq!(exp_gate_f32(0.0), 1.0);
        assert_eq!(exp_gate_f32(200.0), exp_gate_f32(87.0));
        assert_eq!(exp_gate_f32(f32::INFINITY), exp_gate_f32(87.0));
        assert_eq!(exp_gate_f32(f32::NEG_INFINITY), exp_gate_f32(-87.0));
        assert!(exp_gate_f32(-87.0) > 0.0 && exp_gate_f32(-87.0).is_normal());
        assert!(exp_gate_f32(87.0).is_finite());
        assert!(exp_gate_f32(f32::NAN).is_nan());
    }

    #[test]
    fn slice_kernel_gives_the_scalar_bits() {
        let src: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.2137).collect();
        let mut dst = vec![MaybeUninit::uninit(); src.len()];
        exp_slice_f32(&src, &mut dst);
        for (x, d) in src.iter().zip(&dst) {
            // SAFETY: the kernel wrote every element
            let d = unsafe { d.assume_init() };
            assert_eq!(d.to_bits(), exp_f32(*x).to_bits(), "at {x}");
        }
    }
}
