//! Batch normalization with batch statistics (training mode) as one op, the kernel behind
//! `deepnet_nn::functional::batch_norm` when training: `x: (N, C, *)`, per channel `c` the mean
//! and the biased variance over every dim but 1, and
//! `y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c`.
//!
//! The backward pass is the closed form (with `xhat = (x - mean) / sqrt(var + eps)`, `M` the
//! values per channel): `d bias = sum gy`, `d weight = sum gy xhat`,
//! `dx = weight / sqrt(var + eps) * (gy - d bias / M - xhat d weight / M)`, one kernel instead
//! of the graph of ten generic ops the same function makes when written out. Gradients of the
//! returned statistics are not propagated (they are detached, as PyTorch's running-statistics
//! update uses them).

use crate::autograd::Backward;
use crate::{Error, Result, Tensor};

/// Backward of [`Tensor::batch_norm_train`]: inputs `[x, weight?, bias?]`.
struct BatchNormBackward {
    mean: Tensor,
    var: Tensor,
    eps: f64,
    weight: bool,
    bias: bool,
}

impl Backward for BatchNormBackward {
    fn name(&self) -> &'static str {
        "batch_norm"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let c = x.dims()[1];
        let gy = gy.to_dtype(x.dtype())?;
        let w = match self.weight {
            true => inputs[1].to_dtype(x.dtype())?,
            false => Tensor::ones([c], x.dtype())?,
        };
        let (dx, dw, db) = gy.storage().batch_norm_backward(
            gy.layout(),
            (&x.storage(), x.layout()),
            (&self.mean.storage(), &self.var.storage()),
            (&w.storage(), w.layout()),
            self.eps,
            x.tracks_grad(),
        )?;
        let cast = |s, t: &Tensor| Tensor::from_storage(s, [c]).to_dtype(t.dtype());
        let mut out = vec![x
            .tracks_grad()
            .then(|| Tensor::from_storage(dx, x.shape().clone()))];
        if self.weight {
            out.push(Some(cast(dw, &inputs[1])?));
        }
        if self.bias {
            out.push(Some(cast(db, &inputs[inputs.len() - 1])?));
        }
        Ok(out)
    }
}

impl Tensor {
    /// Batch normalization of `self: (N, C, *)` with its own batch statistics, as
    /// `torch.nn.functional.batch_norm(x, None, None, weight, bias, training=True, eps=eps)`:
    /// returns `(y, mean, var)`, `mean` and `var: (C,)` the batch mean and *biased* variance
    /// (detached; the running statistics' update wants the unbiased one, `var * M / (M - 1)`).
    /// `weight` and `bias` (`(C,)`, optional) are cast to this tensor's dtype.
    pub fn batch_norm_train(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        const OP: &str = "batch_norm";
        if self.rank() < 2 {
            return Err(Error::Rank {
                op: OP,
                expected: "an input (N, C, *)".into(),
                got: self.shape().clone(),
            });
        }
        if !self.dtype().is_float() {
            return Err(Error::DType {
                op: OP,
                expected: "float32 or float64",
                got: self.dtype(),
            });
        }
        let c = self.dims()[1];
        let per_channel = self.numel() / c.max(1);
        if per_channel <= 1 {
            return Err(Error::invalid(
                OP,
                format!(
                    "expected more than 1 value per channel when training, got input {}",
                    self.shape()
                ),
            ));
        }
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(Error::invalid(OP, format!("eps must be >= 0, got {eps}")));
        }
        let operand = |t: Option<&Tensor>, what: &str, fill: f64| -> Result<Tensor> {
            match t {
                Some(t) if t.dims() != [c] => Err(Error::invalid(
                    OP,
                    format!(
                        "{what} has shape {}, expected [{c}] for input {}",
                        t.shape(),
                        self.shape()
                    ),
                )),
                Some(t) => t.to_dtype(self.dtype()),
                None => Tensor::full([c], fill, self.dtype()),
            }
        };
        let (w, b) = (operand(weight, "weight", 1.0)?, operand(bias, "bias", 0.0)?);
        let (y, mean, var) = self.storage().batch_norm(
            self.layout(),
            (&w.storage(), w.layout()),
            (&b.storage(), b.layout()),
            eps,
        )?;
        let (mean, var) = (
            Tensor::from_storage(mean, [c]),
            Tensor::from_storage(var, [c]),
        );
        let node = BatchNormBackward {
            mean: mean.clone(),
            var: var.clone(),
            eps,
            weight: weight.is_some(),
            bias: bias.is_some(),
        };
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let y = Tensor::from_op(y, self.shape().clone(), node, &inputs);
        Ok((y, mean, var))
    }
}

#[cfg(test)]
#[path = "norm_tests.rs"]
mod tests;
