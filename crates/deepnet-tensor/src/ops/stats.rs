//! Composite reductions: variance, standard deviation, log-sum-exp, p-norms, softmax and
//! log-softmax. Built from primitives, so their gradients come for free.

use crate::shape::resolve_dims;
use crate::{Dim, Dims, Error, Result, Tensor};

impl Tensor {
    /// Variance over `dims` with Bessel's correction when `unbiased` (PyTorch default), as
    /// `torch.var(dim, unbiased, keepdim)`.
    pub fn var(&self, dims: impl Dims, unbiased: bool, keepdim: bool) -> Result<Tensor> {
        let d = resolve_dims("var", &dims.to_isizes(), self.shape())?;
        self.var_resolved(&d, unbiased, keepdim)
    }

    fn var_resolved(&self, d: &[usize], unbiased: bool, keepdim: bool) -> Result<Tensor> {
        let x = self.float_only("var")?;
        let n: usize = d.iter().map(|&i| self.dims()[i]).product();
        let dd: Vec<isize> = d.iter().map(|&i| i as isize).collect();
        let mean = x.mean(&dd[..], true)?;
        let ss = x.sub(&mean)?.square()?.sum(&dd[..], keepdim)?;
        // PyTorch divides by max(n - 1, 0): n - 1 <= 0 gives inf/NaN (an empty dim NaN, not -0)
        let denom = if unbiased {
            (n as f64 - 1.0).max(0.0)
        } else {
            n as f64
        };
        ss.div_scalar(denom)
    }

    /// Variance of all elements (unbiased when asked), as `torch.var(x)`.
    pub fn var_all(&self, unbiased: bool) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.rank()).collect();
        self.var_resolved(&all, unbiased, false)
    }

    /// Standard deviation over `dims`, as `torch.std(dim, unbiased, keepdim)`.
    pub fn std(&self, dims: impl Dims, unbiased: bool, keepdim: bool) -> Result<Tensor> {
        self.var(dims, unbiased, keepdim)?.sqrt()
    }

    /// Standard deviation of all elements.
    pub fn std_all(&self, unbiased: bool) -> Result<Tensor> {
        self.var_all(unbiased)?.sqrt()
    }

    /// `log(sum(exp(x)))` over `dims`, computed stably by shifting by the maximum
    /// (`torch.logsumexp`). Rows that are all `-inf` give `-inf`.
    pub fn logsumexp(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let d = dims.to_isizes();
        let x = self.float_only("logsumexp")?;
        // NOTE: the shift is a constant for autograd (detached): lse is shift-invariant, so the
        // gradient is exact, and no NaN appears when the max is infinite.
        let m = x.amax(&d[..], true)?.detach();
        let finite = m.abs()?.lt_scalar(f64::INFINITY)?;
        let m = Tensor::where_cond(&finite, &m, &m.zeros_like()?)?;
        let s = x.sub(&m)?.exp()?.sum(&d[..], true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            let rd = resolve_dims("logsumexp", &d, self.shape())?;
            let mut out = s;
            for &i in rd.iter().rev() {
                out = out.squeeze(i as isize)?;
            }
            Ok(out)
        }
    }

    /// The vector p-norm over `dims` for p = 1 or 2 (`torch.linalg.vector_norm`).
    pub fn norm(&self, p: f64, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let x = self.float_only("norm")?;
        let d = dims.to_isizes();
        match p {
            1.0 => x.abs()?.sum(&d[..], keepdim),
            2.0 => x.square()?.sum(&d[..], keepdim)?.sqrt(),
            _ => Err(Error::invalid(
                "norm",
                format!("p = {p} is not supported (use 1 or 2)"),
            )),
        }
    }

    /// The p-norm (1 or 2) of all elements, as a 0-d tensor.
    pub fn norm_all(&self, p: f64) -> Result<Tensor> {
        let all: Vec<isize> = (0..self.rank() as isize).collect();
        self.norm(p, &all[..], false)
    }

    /// `exp(x) / sum(exp(x))` along `dim`, stable for large inputs (`torch.softmax`).
    pub fn softmax(&self, dim: impl Dim) -> Result<Tensor> {
        let d = self.shape().dim("softmax", dim.to_isize())? as isize;
        let x = self.float_only("softmax")?;
        let m = x.amax(d, true)?.detach();
        let e = x.sub(&m)?.exp()?;
        e.div(&e.sum(d, true)?)
    }

    /// `x - logsumexp(x)` along `dim`, stable for large inputs (`torch.log_softmax`).
    pub fn log_softmax(&self, dim: impl Dim) -> Result<Tensor> {
        let d = self.shape().dim("log_softmax", dim.to_isize())? as isize;
        let x = self.float_only("log_softmax")?;
        let m = x.amax(d, true)?.detach();
        let shifted = x.sub(&m)?;
        shifted.sub(&shifted.exp()?.sum(d, true)?.log()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Tensor};

    #[test]
    fn values_by_hand() {
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]).unwrap();
        assert_eq!(
            x.var(1, true, false).unwrap().to_vec::<f64>().unwrap(),
            vec![0.5, 0.5]
        );
        assert_eq!(
            x.var(0, false, false).unwrap().to_vec::<f64>().unwrap(),
            vec![1.0, 1.0]
        );
        assert!((x.var_all(true).unwrap().item().unwrap() - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            x.norm(1.0, 1, false).unwrap().to_vec::<f64>().unwrap(),
            vec![3.0, 7.0]
        );
        assert!((x.norm_all(2.0).unwrap().item().unwrap() - 30f64.sqrt()).abs() < 1e-12);
        let l = x.logsumexp(1, false).unwrap().to_vec::<f64>().unwrap();
        assert!((l[0] - (1f64.exp() + 2f64.exp()).ln()).abs() < 1e-12);
        assert!(x.norm(3.0, 1, false).is_err());
        let i = Tensor::from_vec(vec![1i64, 2], [2]).unwrap();
        assert!(i.var(0, true, false).is_err());
    }

    #[test]
    fn softmax_is_stable_for_huge_inputs() {
        let x = Tensor::from_vec(
            vec![1000.0f32, 1001.0, 1002.0, -1000.0, -1001.0, -999.0],
            [2, 3],
        )
        .unwrap();
        let s = x.softmax(-1).unwrap().to_vec::<f32>().unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert!((s[0] + s[1] + s[2] - 1.0).abs() < 1e-6);
        let ls = x.log_softmax(1).unwrap().to_vec::<f32>().unwrap();
        assert!((ls[2] - -0.407_606).abs() < 1e-5, "{}", ls[2]);
        let inf = Tensor::from_vec(vec![f32::NEG_INFINITY, 0.0], [2]).unwrap();
        assert_eq!(
            inf.softmax(0).unwrap().to_vec::<f32>().unwrap(),
            vec![0.0, 1.0]
        );
        let all_inf = Tensor::full([2], f64::NEG_INFINITY, DType::F32).unwrap();
        assert_eq!(
            all_inf.logsumexp(0, false).unwrap().item().unwrap(),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn composite_gradients() {
        let x = seeded([2, 3, 4], 1);
        gradcheck("var", |t| t[0].var(1, true, false), &[x.clone()]).unwrap();
        gradcheck(
            "var_biased",
            |t| t[0].var([0, 2], false, true),
            &[x.clone()],
        )
        .unwrap();
        gradcheck("std", |t| t[0].std(2, true, false), &[x.clone()]).unwrap();
        gradcheck("logsumexp", |t| t[0].logsumexp(2, false), &[x.clone()]).unwrap();
        gradcheck("norm1", |t| t[0].norm(1.0, 1, false), &[x.clone()]).unwrap();
        gradcheck("norm2", |t| t[0].norm(2.0, [0, 2], true), &[x.clone()]).unwrap();
        gradcheck("softmax", |t| t[0].softmax(1), &[x.clone()]).unwrap();
        gradcheck("log_softmax", |t| t[0].log_softmax(-1), &[x.clone()]).unwrap();
        gradcheck("softmax_view", |t| t[0].transpose(0, 2)?.softmax(0), &[x]).unwrap();
    }
}
