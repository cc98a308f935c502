//! Elementwise functions of one tensor, and the scalar forms of the arithmetic ops.
//! Each row of [`grad`] is the derivative of one op, written in tensor ops.

use crate::autograd::Backward;
use crate::primitive::UnaryOp;
use crate::{Error, Result, Tensor};

struct UnaryBackward(UnaryOp);

/// d(op(x))/dx times `g`, with `y = op(x)`.
fn grad(op: UnaryOp, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
    let mask = |m: Tensor| m.to_dtype(x.dtype());
    match op {
        UnaryOp::Neg => g.neg(),
        UnaryOp::Exp => g.mul(y),
        UnaryOp::Log => g.div(x),
        UnaryOp::Log1p => g.div(&x.add_scalar(1.0)?),
        UnaryOp::Sqrt => g.div(&y.mul_scalar(2.0)?),
        UnaryOp::Abs => g.mul(&x.sign()?),
        UnaryOp::Sign => g.zeros_like(),
        UnaryOp::Square => g.mul(&x.mul_scalar(2.0)?),
        UnaryOp::Recip => g.mul(&y.square()?)?.neg(),
        UnaryOp::Sigmoid => g.mul(&y.mul(&y.neg()?.add_scalar(1.0)?)?),
        UnaryOp::Tanh => g.mul(&y.square()?.neg()?.add_scalar(1.0)?),
        // NOTE: relu'(0) = 0, as in PyTorch.
        UnaryOp::Relu => g.relu_backward(x),
        UnaryOp::LeakyRelu(s) => {
            let pos = mask(x.gt_scalar(0.0)?)?;
            // pos + s * (1 - pos)
            let d = pos.mul_scalar(1.0 - s)?.add_scalar(s)?;
            g.mul(&d)
        }
        UnaryOp::Softplus { beta, threshold } => {
            let bx = x.mul_scalar(beta)?;
            let lin = bx.gt_scalar(threshold)?;
            let d = Tensor::where_cond(&lin, &x.ones_like()?, &bx.sigmoid()?)?;
            g.mul(&d)
        }
        UnaryOp::AddScalar(_) => Ok(g.clone()),
        UnaryOp::MulScalar(c) => g.mul_scalar(c),
        UnaryOp::PowScalar(p) => g.mul(&x.pow_scalar(p - 1.0)?.mul_scalar(p)?),
        UnaryOp::ScalarPow(b) => g.mul(&y.mul_scalar(b.ln())?),
        // The gradient passes where lo <= x <= hi (bounds included), as in PyTorch.
        UnaryOp::Clamp(lo, hi) => {
            let mut m = x.ones_like()?;
            if let Some(lo) = lo {
                m = m.mul(&mask(x.ge_scalar(lo)?)?)?;
            }
            if let Some(hi) = hi {
                m = m.mul(&mask(x.le_scalar(hi)?)?)?;
            }
            g.mul(&m)
        }
    }
}

impl Backward for UnaryBackward {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn backward(&self, inputs: &[Tensor], out: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad(self.0, &inputs[0], out, g)?)])
    }
}

fn finite(op: &'static str, v: f64) -> Result<()> {
    if v.is_nan() {
        return Err(Error::invalid(op, "the scalar argument is NaN"));
    }
    Ok(())
}

impl Tensor {
    pub(crate) fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let s = self.storage().unary(self.layout(), op)?;
        Ok(Tensor::from_op(
            s,
            self.shape().clone(),
            UnaryBackward(op),
            &[self],
        ))
    }

    /// `-x`
    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg)
    }
    /// `e^x`
    pub fn exp(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Exp)
    }
    /// Natural logarithm.
    pub fn log(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Log)
    }
    /// `ln(1 + x)`, accurate near 0.
    pub fn log1p(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Log1p)
    }
    /// Square root.
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sqrt)
    }
    /// Absolute value.
    pub fn abs(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Abs)
    }
    /// -1, 0 or 1 (its gradient is zero).
    pub fn sign(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sign)
    }
    /// `x * x`
    pub fn square(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Square)
    }
    /// `1 / x`
    pub fn reciprocal(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Recip)
    }
    /// `1 / (1 + e^-x)`, stable for large |x|.
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sigmoid)
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Tanh)
    }
    /// `max(x, 0)`; its gradient at 0 is 0.
    pub fn relu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Relu)
    }
    /// `x` for `x > 0`, else `negative_slope * x` (PyTorch default slope 0.01).
    pub fn leaky_relu(&self, negative_slope: f64) -> Result<Tensor> {
        finite("leaky_relu", negative_slope)?;
        self.unary(UnaryOp::LeakyRelu(negative_slope))
    }
    /// `ln(1 + e^x)` (PyTorch `softplus` with beta 1 and threshold 20).
    pub fn softplus(&self) -> Result<Tensor> {
        self.softplus_with(1.0, 20.0)
    }
    /// `ln(1 + e^(beta x)) / beta`, and `x` where `beta x > threshold` (PyTorch semantics).
    pub fn softplus_with(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        if beta.is_nan() || beta <= 0.0 || !beta.is_finite() {
            return Err(Error::invalid(
                "softplus",
                format!("beta must be positive, got {beta}"),
            ));
        }
        finite("softplus", threshold)?;
        self.unary(UnaryOp::Softplus { beta, threshold })
    }
    /// `x + c`
    pub fn add_scalar(&self, c: f64) -> Result<Tensor> {
        self.unary(UnaryOp::AddScalar(c))
    }
    /// `x - c`
    pub fn sub_scalar(&self, c: f64) -> Result<Tensor> {
        self.unary(UnaryOp::AddScalar(-c))
    }
    /// `c - x`
    pub fn rsub_scalar(&self, c: f64) -> Result<Tensor> {
        self.neg()?.add_scalar(c)
    }
    /// `x * c`
    pub fn mul_scalar(&self, c: f64) -> Result<Tensor> {
        self.unary(UnaryOp::MulScalar(c))
    }
    /// `x / c`
    pub fn div_scalar(&self, c: f64) -> Result<Tensor> {
        self.unary(UnaryOp::MulScalar(1.0 / c))
    }
    /// `x ^ p` with a scalar exponent.
    pub fn pow_scalar(&self, p: f64) -> Result<Tensor> {
        finite("pow", p)?;
        self.unary(UnaryOp::PowScalar(p))
    }
    /// `base ^ x` with a scalar base.
    pub fn scalar_pow(&self, base: f64) -> Result<Tensor> {
        finite("pow", base)?;
        self.unary(UnaryOp::ScalarPow(base))
    }
    /// Limits every element to `[min, max]`; either bound may be `None` (PyTorch `clamp`).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                return Err(Error::invalid(
                    "clamp",
                    format!("min {lo} is greater than max {hi}"),
                ));
            }
        }
        if min.is_some_and(f64::is_nan) || max.is_some_and(f64::is_nan) {
            return Err(Error::invalid("clamp", "a bound is NaN"));
        }
        self.unary(UnaryOp::Clamp(min, max))
    }
    /// `max(x, min)`
    pub fn clamp_min(&self, min: f64) -> Result<Tensor> {
        self.clamp(Some(min), None)
    }
    /// `min(x, max)`
    pub fn clamp_max(&self, max: f64) -> Result<Tensor> {
        self.clamp(None, Some(max))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Tensor};

    #[test]
    fn unary_gradients() {
        // inputs away from every kink (|x| >= 0.1 after the shift below)
        let x = seeded([3, 4], 1).abs().unwrap().add_scalar(0.1).unwrap();
        let s = seeded([3, 4], 2).mul_scalar(0.9).unwrap();
        let away = Tensor::where_cond(
            &s.ge_scalar(0.0).unwrap(),
            &s.add_scalar(0.1).unwrap(),
            &s.sub_scalar(0.1).unwrap(),
        )
        .unwrap();
        type F = fn(&Tensor) -> crate::Result<Tensor>;
        let pos: [(&str, F); 8] = [
            ("log", |t| t.log()),
            ("log1p", |t| t.log1p()),
            ("sqrt", |t| t.sqrt()),
            ("reciprocal", |t| t.reciprocal()),
            ("pow_scalar", |t| t.pow_scalar(2.5)),
            ("pow_scalar_neg", |t| t.pow_scalar(-1.5)),
            ("scalar_pow", |t| t.scalar_pow(1.7)),
            ("exp", |t| t.exp()),
        ];
        for (name, f) in pos {
            gradcheck(name, |t| f(&t[0]), &[x.clone()]).unwrap();
        }
        let any: [(&str, F); 14] = [
            ("neg", |t| t.neg()),
            ("abs", |t| t.abs()),
            ("sign", |t| t.sign()),
            ("square", |t| t.square()),
            ("sigmoid", |t| t.sigmoid()),
            ("tanh", |t| t.tanh()),
            ("relu", |t| t.relu()),
            ("leaky_relu", |t| t.leaky_relu(0.2)),
            ("softplus", |t| t.softplus()),
            ("softplus_beta", |t| t.softplus_with(2.0, 1.0)),
            ("add_scalar", |t| t.add_scalar(2.0)),
            ("mul_scalar", |t| t.mul_scalar(-3.0)),
            ("clamp", |t| t.clamp(Some(-0.5), Some(0.55))),
            ("rsub_scalar", |t| t.rsub_scalar(1.0)),
        ];
        for (name, f) in any {
            gradcheck(name, |t| f(&t[0]), &[away.clone()]).unwrap();
            // and through a non-contiguous view
            gradcheck(name, |t| f(&t[0].t()?), &[away.clone()]).unwrap();
        }
    }

    #[test]
    fn sigmoid_and_softplus_are_stable_at_extremes() {
        let x = Tensor::from_vec(vec![-1000.0f32, -30.0, 0.0, 30.0, 1000.0], [5]).unwrap();
        let s = x.sigmoid().unwrap().to_vec::<f32>().unwrap();
        assert_eq!(s[0], 0.0);
        assert_eq!(s[2], 0.5);
        assert_eq!(s[4], 1.0);
        assert!(s.iter().all(|v| v.is_finite()));
        let sp = x.softplus().unwrap().to_vec::<f32>().unwrap();
        assert_eq!(sp[4], 1000.0);
        assert_eq!(sp[0], 0.0);
    }

    /// PyTorch's relu propagates NaN (its backward already passes a NaN input's gradient).
    #[test]
    fn relu_keeps_nan() {
        for dev in [crate::Device::Cpu, crate::Device::Reference] {
            let x = Tensor::from_vec_on(vec![f32::NAN, -1.0, 0.0, 2.0], [4], dev).unwrap();
            let y = x.relu().unwrap().to_vec::<f32>().unwrap();
            assert!(y[0].is_nan(), "{dev}");
            assert_eq!(y[1..], [0.0, 0.0, 2.0], "{dev}");
        }
    }

    #[test]
    fn integer_tensors_support_integer_ops_only() {
        let x = Tensor::from_vec(vec![-3i64, 0, 5], [3]).unwrap();
        assert_eq!(x.abs().unwrap().to_vec::<i64>().unwrap(), vec![3, 0, 5]);
        assert_eq!(
            x.clamp(Some(-1.0), Some(2.0))
                .unwrap()
                .to_vec::<i64>()
                .unwrap(),
            vec![-1, 0, 2]
        );
        assert!(x.exp().is_err());
        let m = Tensor::from_vec(vec![1u8, 0], [2]).unwrap();
        assert!(m.neg().is_err());
        assert!(x
            .to_dtype(DType::F32)
            .unwrap()
            .clamp(Some(1.0), Some(0.0))
            .is_err());
    }
}
