//! Parameter-free layers: activations, softmax, flatten and identity. All keep the input shape
//! except [`Flatten`].

use super::py_float;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};
use crate::Module;
use deepnet_tensor::{Result, Tensor};

/// `1 / (1 + exp(-x))` elementwise (`torch.nn.Sigmoid`). Shapes: `(*)` -> `(*)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;

impl Module for Sigmoid {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.sigmoid()
    }
    fn describe(&self) -> String {
        "Sigmoid()".into()
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        Ok(g.node("Sigmoid", &[&x.name], &[], y))
    }
}

/// `tanh(x)` elementwise (`torch.nn.Tanh`). Shapes: `(*)` -> `(*)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

impl Module for Tanh {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.tanh()
    }
    fn describe(&self) -> String {
        "Tanh()".into()
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        Ok(g.node("Tanh", &[&x.name], &[], y))
    }
}

/// `max(0, x)` elementwise (`torch.nn.ReLU`); the gradient at 0 is 0, as in PyTorch.
/// Shapes: `(*)` -> `(*)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl Module for ReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.relu()
    }
    fn describe(&self) -> String {
        "ReLU()".into()
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        Ok(g.node("Relu", &[&x.name], &[], y))
    }
}

/// `x` for `x > 0`, `negative_slope * x` otherwise (`torch.nn.LeakyReLU`, default slope 0.01).
/// Shapes: `(*)` -> `(*)`.
#[derive(Clone, Copy, Debug)]
pub struct LeakyReLU {
    /// the slope for negative inputs
    pub negative_slope: f64,
}

impl LeakyReLU {
    /// A leaky ReLU with the given slope for negative inputs.
    pub fn new(negative_slope: f64) -> Self {
        LeakyReLU { negative_slope }
    }
}

impl Default for LeakyReLU {
    /// PyTorch's default slope, 0.01.
    fn default() -> Self {
        LeakyReLU {
            negative_slope: 0.01,
        }
    }
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.leaky_relu(self.negative_slope)
    }
    fn describe(&self) -> String {
        format!(
            "LeakyReLU(negative_slope={})",
            py_float(self.negative_slope)
        )
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        let alpha = Attr::Float("alpha", self.negative_slope as f32);
        Ok(g.node("LeakyRelu", &[&x.name], &[alpha], y))
    }
}

/// `exp(x) / sum(exp(x))` along `dim` (`torch.nn.Softmax(dim)`), computed stably.
/// Shapes: `(*)` -> `(*)`; `dim` may be negative (counted from the end).
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    /// the dimension the probabilities sum to 1 over
    pub dim: isize,
}

impl Softmax {
    /// Softmax along `dim`.
    pub fn new(dim: isize) -> Self {
        Softmax { dim }
    }
}

impl Module for Softmax {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.softmax(self.dim)
    }
    fn describe(&self) -> String {
        format!("Softmax(dim={})", self.dim)
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        let axis = Attr::Int("axis", self.dim as i64);
        Ok(g.node("Softmax", &[&x.name], &[axis], y))
    }
}

/// `x - logsumexp(x)` along `dim` (`torch.nn.LogSoftmax(dim)`), computed stably; pair it with
/// [`crate::loss::nll_loss`]. Shapes: `(*)` -> `(*)`.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    /// the dimension normalized over
    pub dim: isize,
}

impl LogSoftmax {
    /// Log-softmax along `dim`.
    pub fn new(dim: isize) -> Self {
        LogSoftmax { dim }
    }
}

impl Module for LogSoftmax {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.log_softmax(self.dim)
    }
    fn describe(&self) -> String {
        format!("LogSoftmax(dim={})", self.dim)
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        let axis = Attr::Int("axis", self.dim as i64);
        Ok(g.node("LogSoftmax", &[&x.name], &[axis], y))
    }
}

/// Merges dims `start_dim..=end_dim` into one (`torch.nn.Flatten`, defaults 1 and -1):
/// `(N, C, H, W)` -> `(N, C*H*W)`.
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    /// the first dim merged
    pub start_dim: isize,
    /// the last dim merged (inclusive)
    pub end_dim: isize,
}

impl Flatten {
    /// Flattens dims `start_dim..=end_dim`.
    pub fn new(start_dim: isize, end_dim: isize) -> Self {
        Flatten { start_dim, end_dim }
    }
}

impl Default for Flatten {
    /// PyTorch's defaults: keep the batch dim, merge the rest (`start_dim = 1, end_dim = -1`).
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(self.start_dim, self.end_dim)
    }
    fn describe(&self) -> String {
        format!(
            "Flatten(start_dim={}, end_dim={})",
            self.start_dim, self.end_dim
        )
    }

    /// `Flatten(axis=1)` for the usual `(N, *) -> (N, prod)`, else a `Reshape` that keeps the
    /// batch dim free; merging the batch dim itself is not exported.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        let rank = x.example.rank() as isize;
        let start = if self.start_dim < 0 {
            self.start_dim + rank
        } else {
            self.start_dim
        };
        let end = if self.end_dim < 0 {
            self.end_dim + rank
        } else {
            self.end_dim
        };
        if start == 0 {
            return Err(crate::onnx::unsupported(
                &self.describe(),
                "merging the batch dim cannot be exported with a free batch size",
            ));
        }
        if start == 1 && end == rank - 1 {
            return Ok(g.node("Flatten", &[&x.name], &[Attr::Int("axis", 1)], y));
        }
        // 0 copies the input's batch dim
        let mut shape = vec![0i64];
        shape.extend(y.dims()[1..].iter().map(|&d| d as i64));
        let s = g.int64_constant("shape", &shape);
        Ok(g.node("Reshape", &[&x.name, &s], &[], y))
    }
}

/// Returns its input unchanged (`torch.nn.Identity`). Shapes: `(*)` -> `(*)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl Module for Identity {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.clone())
    }
    fn describe(&self) -> String {
        "Identity()".into()
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        Ok(g.node("Identity", &[&x.name], &[], y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_tensor::testing::{gradcheck, seeded};

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_slice(v, [v.len()]).unwrap()
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn values_by_hand() {
        let x = t(&[-2.0, 0.0, 3.0]);
        let f = |m: &dyn Module| m.forward(&x).unwrap().to_vec::<f64>().unwrap();
        close(&f(&ReLU), &[0.0, 0.0, 3.0]);
        close(&f(&LeakyReLU::default()), &[-0.02, 0.0, 3.0]);
        close(&f(&LeakyReLU::new(0.5)), &[-1.0, 0.0, 3.0]);
        // sigmoid(-2) = 1 / (1 + e^2), sigmoid(0) = 1/2, sigmoid(3) = 1 / (1 + e^-3)
        let e = std::f64::consts::E;
        close(
            &f(&Sigmoid),
            &[1.0 / (1.0 + e * e), 0.5, 1.0 / (1.0 + e.powi(-3))],
        );
        close(&f(&Tanh), &[(-2f64).tanh(), 0.0, 3f64.tanh()]);
        close(&f(&Identity), &[-2.0, 0.0, 3.0]);
        // softmax([-2, 0, 3]) = [e^-2, 1, e^3] / (e^-2 + 1 + e^3)
        let z = e.powi(-2) + 1.0 + e.powi(3);
        close(
            &f(&Softmax::new(0)),
            &[e.powi(-2) / z, 1.0 / z, e.powi(3) / z],
        );
        close(
            &f(&LogSoftmax::new(-1)),
            &[-2.0 - z.ln(), -z.ln(), 3.0 - z.ln()],
        );
    }

    #[test]
    fn softmax_rows_and_flatten_shapes() {
        let x = seeded([2, 3, 4], 1);
        let s = Softmax::new(1).forward(&x).unwrap();
        let sums = s.sum(1, false).unwrap().to_vec::<f64>().unwrap();
        assert!(sums.iter().all(|v| (v - 1.0).abs() < 1e-12));
        assert_eq!(Flatten::default().forward(&x).unwrap().dims(), [2, 12]);
        assert_eq!(Flatten::new(0, 1).forward(&x).unwrap().dims(), [6, 4]);
        assert!(Flatten::default().forward(&seeded([3], 1)).is_err());
        assert!(Softmax::new(3).forward(&x).is_err());
        assert!(LogSoftmax::new(-4).forward(&x).is_err());
    }

    #[test]
    fn pytorch_reprs() {
        assert_eq!(ReLU.describe(), "ReLU()");
        assert_eq!(Sigmoid.describe(), "Sigmoid()");
        assert_eq!(Tanh.describe(), "Tanh()");
        assert_eq!(Identity.describe(), "Identity()");
        assert_eq!(
            LeakyReLU::default().describe(),
            "LeakyReLU(negative_slope=0.01)"
        );
        assert_eq!(
            LeakyReLU::new(1.0).describe(),
            "LeakyReLU(negative_slope=1.0)"
        );
        assert_eq!(Softmax::new(-1).describe(), "Softmax(dim=-1)");
        assert_eq!(LogSoftmax::new(1).describe(), "LogSoftmax(dim=1)");
        assert_eq!(
            Flatten::default().describe(),
            "Flatten(start_dim=1, end_dim=-1)"
        );
    }

    #[test]
    fn gradchecks() {
        let layers: Vec<(&str, Box<dyn Module>)> = vec![
            ("Sigmoid", Box::new(Sigmoid)),
            ("Tanh", Box::new(Tanh)),
            ("ReLU", Box::new(ReLU)),
            ("LeakyReLU", Box::new(LeakyReLU::new(0.2))),
            ("Softmax", Box::new(Softmax::new(1))),
            ("LogSoftmax", Box::new(LogSoftmax::new(-1))),
            ("Flatten", Box::new(Flatten::default())),
            ("Identity", Box::new(Identity)),
        ];
        for (name, m) in layers {
            gradcheck(name, |t| m.forward(&t[0]), &[seeded([3, 4, 2], 7)]).unwrap();
        }
    }
}
