//! Seeded random tensors. Every random function takes an explicit [`Generator`], so a seed
//! reproduces a whole run; the stream is xoshiro256++ seeded through SplitMix64.

use crate::{DType, Error, Result, Shape, Tensor};

/// A seeded pseudo-random generator (xoshiro256++).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    s: [u64; 4],
}

impl Generator {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Generator {
            s: [next(), next(), next(), next()],
        }
    }

    /// The raw state (for checkpoints).
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// A generator resumed from [`Generator::state`].
    pub fn from_state(s: [u64; 4]) -> Self {
        Generator { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal sample (Box-Muller).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln never sees 0
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// A uniform integer in `0..n` (n > 0), without modulo bias.
    pub fn next_below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// A random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.next_below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
        v
    }
}

fn float_dtype(op: &'static str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(Error::DType {
            op,
            expected: "float32 or float64",
            got: dtype,
        })
    }
}

impl Tensor {
    /// Uniform samples in `[low, high)`, as `torch.empty(shape).uniform_(low, high)`.
    pub fn rand_uniform(
        shape: impl Into<Shape>,
        low: f64,
        high: f64,
        dtype: DType,
        g: &mut Generator,
    ) -> Result<Tensor> {
        float_dtype("rand_uniform", dtype)?;
        if !low.is_finite() || !high.is_finite() || low > high {
            return Err(Error::invalid(
                "rand_uniform",
                format!("bad bounds [{low}, {high})"),
            ));
        }
        let shape = shape.into();
        let v: Vec<f64> = (0..shape.elem_count())
            .map(|_| low + (high - low) * g.next_f64())
            .collect();
        Tensor::from_vec(v, shape)?.to_dtype(dtype)
    }
    /// Uniform samples in `[0, 1)`, as `torch.rand`.
    pub fn rand(shape: impl Into<Shape>, dtype: DType, g: &mut Generator) -> Result<Tensor> {
        Self::rand_uniform(shape, 0.0, 1.0, dtype, g)
    }
    /// Normal samples with the given mean and standard deviation, as `torch.normal`.
    pub fn rand_normal(
        shape: impl Into<Shape>,
        mean: f64,
        std: f64,
        dtype: DType,
        g: &mut Generator,
    ) -> Result<Tensor> {
        float_dtype("rand_normal", dtype)?;
        if !mean.is_finite() || !std.is_finite() || std < 0.0 {
            return Err(Error::invalid(
                "rand_normal",
                format!("bad mean {mean} / std {std}"),
            ));
        }
        let shape = shape.into();
        let v: Vec<f64> = (0..shape.elem_count())
            .map(|_| mean + std * g.next_normal())
            .collect();
        Tensor::from_vec(v, shape)?.to_dtype(dtype)
    }
    /// Standard normal samples, as `torch.randn`.
    pub fn randn(shape: impl Into<Shape>, dtype: DType, g: &mut Generator) -> Result<Tensor> {
        Self::rand_normal(shape, 0.0, 1.0, dtype, g)
    }
    /// 1 with probability `p`, else 0, as `torch.bernoulli(torch.full(shape, p))`.
    pub fn bernoulli(
        shape: impl Into<Shape>,
        p: f64,
        dtype: DType,
        g: &mut Generator,
    ) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::invalid(
                "bernoulli",
                format!("probability {p} is not in [0, 1]"),
            ));
        }
        let shape = shape.into();
        let v: Vec<f64> = (0..shape.elem_count())
            .map(|_| if g.next_f64() < p { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_vec(v, shape)?.to_dtype(dtype)
    }
    /// Uniform integers in `[low, high)`, as `torch.randint`.
    pub fn randint(
        low: i64,
        high: i64,
        shape: impl Into<Shape>,
        g: &mut Generator,
    ) -> Result<Tensor> {
        if high <= low {
            return Err(Error::invalid(
                "randint",
                format!("empty range [{low}, {high})"),
            ));
        }
        let shape = shape.into();
        let span = (high - low) as u64;
        let v: Vec<i64> = (0..shape.elem_count())
            .map(|_| low + g.next_below(span) as i64)
            .collect();
        Tensor::from_vec(v, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_sane_moments() {
        let a = Tensor::randn([10_000], DType::F64, &mut Generator::new(7)).unwrap();
        let b = Tensor::randn([10_000], DType::F64, &mut Generator::new(7)).unwrap();
        let c = Tensor::randn([10_000], DType::F64, &mut Generator::new(8)).unwrap();
        let (va, vb, vc) = (a.to_vec_f64(), b.to_vec_f64(), c.to_vec_f64());
        assert_eq!(va, vb);
        assert_ne!(va, vc);
        let mean = va.iter().sum::<f64>() / va.len() as f64;
        let var = va.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / va.len() as f64;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
        let u =
            Tensor::rand_uniform([10_000], -2.0, 3.0, DType::F32, &mut Generator::new(1)).unwrap();
        let vu = u.to_vec::<f32>().unwrap();
        assert!(vu.iter().all(|&x| (-2.0..3.0).contains(&x)));
        let m = vu.iter().map(|&x| x as f64).sum::<f64>() / 10_000.0;
        assert!((m - 0.5).abs() < 0.1, "{m}");
        let bern = Tensor::bernoulli([10_000], 0.3, DType::F32, &mut Generator::new(2)).unwrap();
        let p = bern.to_vec_f64().iter().sum::<f64>() / 10_000.0;
        assert!((p - 0.3).abs() < 0.02, "{p}");
        assert!(Tensor::bernoulli([2], 1.5, DType::F32, &mut Generator::new(2)).is_err());
        assert!(Tensor::randn([2], DType::I64, &mut Generator::new(2)).is_err());
        let mut g = Generator::new(3);
        let mut p = g.permutation(100);
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
