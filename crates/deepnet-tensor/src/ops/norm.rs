//! Batch normalization as one op each way, the kernels behind
//! `deepnet_nn::functional::batch_norm`: `x: (N, C, *)` and
//! `y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c` per channel `c`, with the batch's
//! mean and biased variance over every dim but 1 ([`Tensor::batch_norm_train`]) or given
//! statistics ([`Tensor::batch_norm_eval`], the running ones of evaluation mode).
//!
//! The backward pass is the closed form (with `xhat = (x - mean) / sqrt(var + eps)`, `M` the
//! values per channel): `d bias = sum gy`, `d weight = sum gy xhat`, and
//! `dx = weight / sqrt(var + eps) * (gy - d bias / M - xhat d weight / M)` with batch
//! statistics, `dx = weight / sqrt(var + eps) * gy` with given ones: one kernel instead of the
//! graph of up to ten generic ops the same function makes when written out. No gradient reaches
//! the statistics (batch ones are returned detached, as PyTorch's running-statistics update
//! uses them; given ones are buffers).

use crate::autograd::Backward;
use crate::{Error, Result, Tensor};

/// Backward of both batch norms: inputs `[x, weight?, bias?]`; `batch_stats` for
/// [`Tensor::batch_norm_train`].
struct BatchNormBackward {
    mean: Tensor,
    var: Tensor,
    eps: f64,
    weight: bool,
    bias: bool,
    batch_stats: bool,
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
            (self.batch_stats, x.tracks_grad()),
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

/// Checks a batch norm's input `x: (N, C, *)` (a float tensor) and `eps`, and returns its
/// per-channel `(C,)` operands cast to its dtype: `weight` (ones when `None`) and `bias`
/// (zeros).
fn operands(
    op: &'static str,
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, Tensor)> {
    if x.rank() < 2 {
        return Err(Error::Rank {
            op,
            expected: "an input (N, C, *)".into(),
            got: x.shape().clone(),
        });
    }
    if !x.dtype().is_float() {
        return Err(Error::DType {
            op,
            expected: "float32 or float64",
            got: x.dtype(),
        });
    }
    if !(eps >= 0.0 && eps.is_finite()) {
        return Err(Error::invalid(op, format!("eps must be >= 0, got {eps}")));
    }
    let operand = |t: Option<&Tensor>, what: &str, fill: f64| -> Result<Tensor> {
        per_channel(op, x, t, what)?
            .map_or_else(|| Tensor::full([x.dims()[1]], fill, x.dtype()), Ok)
    };
    Ok((operand(weight, "weight", 1.0)?, operand(bias, "bias", 0.0)?))
}

/// `t` (when given) checked to be `(C,)` for `x: (N, C, *)` and cast to `x`'s dtype.
fn per_channel(
    op: &'static str,
    x: &Tensor,
    t: Option<&Tensor>,
    what: &str,
) -> Result<Option<Tensor>> {
    let c = x.dims()[1];
    match t {
        Some(t) if t.dims() != [c] => Err(Error::invalid(
            op,
            format!(
                "{what} has shape {}, expected [{c}] for input {}",
                t.shape(),
                x.shape()
            ),
        )),
        Some(t) => Ok(Some(t.to_dtype(x.dtype())?.contiguous()?)),
        None => Ok(None),
    }
}

/// The result `y` of a batch norm of `x` as a tensor recording its backward.
fn normalized(
    x: &Tensor,
    y: crate::Storage,
    (weight, bias): (Option<&Tensor>, Option<&Tensor>),
    (mean, var): (&Tensor, &Tensor),
    eps: f64,
    batch_stats: bool,
) -> Tensor {
    let node = BatchNormBackward {
        mean: mean.clone(),
        var: var.clone(),
        eps,
        weight: weight.is_some(),
        bias: bias.is_some(),
        batch_stats,
    };
    let mut inputs = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    Tensor::from_op(y, x.shape().clone(), node, &inputs)
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
        let (w, b) = operands(OP, self, weight, bias, eps)?;
        let c = self.dims()[1];
        if self.numel() / c.max(1) <= 1 {
            return Err(Error::invalid(
                OP,
                format!(
                    "expected more than 1 value per channel when training, got input {}",
                    self.shape()
                ),
            ));
        }
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
        let y = normalized(self, y, (weight, bias), (&mean, &var), eps, true);
        Ok((y, mean, var))
    }

    /// Batch normalization of `self: (N, C, *)` with given statistics `mean` and `var: (C,)`
    /// (the running ones of evaluation mode), as `torch.nn.functional.batch_norm(x, mean, var,
    /// weight, bias, training=False, eps=eps)`. Gradients reach `self`, `weight` and `bias`,
    /// not the statistics.
    pub fn batch_norm_eval(
        &self,
        mean: &Tensor,
        var: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        const OP: &str = "batch_norm_eval";
        let (w, b) = operands(OP, self, weight, bias, eps)?;
        // the kernels read the statistics as plain `(C,)` arrays from offset 0: a fresh copy
        // (C values) of whatever view was given, detached
        let stat = |t: &Tensor, what: &str| -> Result<Tensor> {
            let t = per_channel(OP, self, Some(t), what)?.expect("a given tensor");
            let s = t.storage().contiguous(t.layout());
            Ok(Tensor::from_storage(s, t.shape().clone()))
        };
        let (mean, var) = (stat(mean, "running_mean")?, stat(var, "running_var")?);
        let y = self.storage().batch_norm_eval(
            self.layout(),
            (&mean.storage(), &var.storage()),
            (&w.storage(), w.layout()),
            (&b.storage(), b.layout()),
            eps,
        )?;
        Ok(normalized(
            self,
            y,
            (weight, bias),
            (&mean, &var),
            eps,
            false,
        ))
    }
}

#[cfg(test)]
#[path = "norm_tests.rs"]
mod tests;
