//! Every loss of the canon, as functions of `(input, target, ..., reduction)` with PyTorch's
//! names and semantics (`torch.nn.functional.*`).
//!
//! Each loss computes a per-element (or per-sample) loss `l` and then reduces it with a
//! [`Reduction`]: the mean (the default), the sum, or no reduction (`l` itself).
//!
//! | loss | per-element formula | shapes |
//! |---|---|---|
//! | [`hinge_loss`] | `max(0, 1 - y t)`, `t` in {-1, +1} | `y, t: (*)` |
//! | [`squared_hinge_loss`] | `max(0, 1 - y t)^2` | `y, t: (*)` |
//! | [`binary_cross_entropy`] | `-(t log p + (1 - t) log(1 - p))`, logs clamped at -100 | `p, t: (*)` |
//! | [`binary_cross_entropy_with_logits`] | `max(z, 0) - z t + log(1 + exp(-|z|))` | `z, t: (*)` |
//! | [`multiclass_hinge_loss`] | `sum_{j != t} max(0, margin - (y_t - y_j))[^2] [/ K]` | `y: (N, K)`, `t: (N,)` |
//! | [`cross_entropy`] | `-log_softmax(y)[t]` | `y: (N, K, *)`, `t: (N, *)` |
//! | [`nll_loss`] | `-x[t]` | `x: (N, K, *)`, `t: (N, *)` |
//! | [`mse_loss`] | `(y - t)^2` | `y, t: (*)` |
//! | [`l1_loss`] | `|y - t|` | `y, t: (*)` |
//! | [`huber_loss`] | `0.5 d^2` if `|d| < delta` else `delta (|d| - delta/2)` | `y, t: (*)` |
//! | [`pseudo_huber_loss`] | `delta^2 (sqrt(1 + (d/delta)^2) - 1)` | `y, t: (*)` |

use deepnet_tensor::{no_grad, Backward, DType, Error, Result, Tensor};

/// How the per-element losses are combined (PyTorch's `reduction` argument).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// the mean over all elements (PyTorch's default)
    #[default]
    Mean,
    /// the sum over all elements
    Sum,
    /// no reduction: the per-element (or per-sample) losses
    None,
}

impl Reduction {
    /// Reduces the per-element losses `l`: a 0-d tensor for `Mean` and `Sum` (the mean of
    /// nothing is NaN, as in PyTorch), `l` itself for `None`.
    pub fn apply(self, l: &Tensor) -> Result<Tensor> {
        match self {
            Reduction::Mean => l.mean_all(),
            Reduction::Sum => l.sum_all(),
            Reduction::None => Ok(l.clone()),
        }
    }
}

fn float_input(op: &'static str, what: &str, x: &Tensor) -> Result<()> {
    if x.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "{op}: {what} must be a float tensor, got {}",
            x.dtype()
        )))
    }
}

/// Input and target are float tensors of the same shape; returns the target in the input's dtype.
fn same_shape(op: &'static str, input: &Tensor, target: &Tensor) -> Result<Tensor> {
    float_input(op, "input", input)?;
    float_input(op, "target", target)?;
    if input.shape() != target.shape() {
        return Err(Error::msg(format!(
            "{op}: input {} and target {} must have the same shape",
            input.shape(),
            target.shape()
        )));
    }
    target.to_dtype(input.dtype())
}

/// The hinge loss of raw scores `y` against labels `t` in {-1, +1} (the SVM loss):
///
/// `l = max(0, 1 - y * t)`
///
/// Shapes: `input: (*)`, `target: (*)` (same shape, float); a target value other than -1 or +1
/// is an error.
pub fn hinge_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let t = signs("hinge_loss", input, target)?;
    reduction.apply(&input.mul(&t)?.rsub_scalar(1.0)?.relu()?)
}

/// The squared hinge loss (L2-SVM) of raw scores `y` against labels `t` in {-1, +1}:
///
/// `l = max(0, 1 - y * t)^2`
///
/// Shapes: `input: (*)`, `target: (*)` (same shape, float, values -1 or +1).
pub fn squared_hinge_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let t = signs("squared_hinge_loss", input, target)?;
    reduction.apply(&input.mul(&t)?.rsub_scalar(1.0)?.relu()?.square()?)
}

fn signs(op: &'static str, input: &Tensor, target: &Tensor) -> Result<Tensor> {
    let t = same_shape(op, input, target)?;
    if let Some((i, v)) = t
        .to_vec_f64()
        .into_iter()
        .enumerate()
        .find(|&(_, v)| v != 1.0 && v != -1.0)
    {
        return Err(Error::msg(format!(
            "{op}: target must hold -1 or +1, found {v} at flat index {i}"
        )));
    }
    Ok(t)
}

/// The binary cross-entropy of probabilities `p` against targets `t` in `[0, 1]`
/// (`torch.nn.functional.binary_cross_entropy`):
///
/// `l = -(t * log(p) + (1 - t) * log(1 - p))`
///
/// with each log clamped to `>= -100` as PyTorch does, so `p = 0` or `1` gives a finite loss.
/// The gradient is PyTorch's: `dl/dp = (p - t) / max(p (1 - p), 1e-12)`, finite everywhere.
/// Prefer [`binary_cross_entropy_with_logits`] on raw scores: it is stable where `sigmoid`
/// saturates.
///
/// Shapes: `input: (*)` with every value in `[0, 1]`, `target: (*)` (same shape, float).
pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "binary_cross_entropy";
    let t = same_shape(OP, input, target)?;
    if let Some((i, v)) = input
        .to_vec_f64()
        .into_iter()
        .enumerate()
        .find(|&(_, v)| !(0.0..=1.0).contains(&v))
    {
        return Err(Error::msg(format!(
            "{OP}: input must be probabilities in [0, 1], found {v} at flat index {i} (use binary_cross_entropy_with_logits on raw scores)"
        )));
    }
    let l = {
        let _g = no_grad();
        let log_p = input.log()?.clamp_min(-100.0)?;
        let log_1p = input.rsub_scalar(1.0)?.log()?.clamp_min(-100.0)?;
        t.mul(&log_p)?
            .add(&t.rsub_scalar(1.0)?.mul(&log_1p)?)?
            .neg()?
            .contiguous()?
    };
    let storage = (*l.storage()).clone();
    let l = Tensor::from_op(storage, l.shape().clone(), BceBackward, &[input, &t]);
    reduction.apply(&l)
}

/// The gradient of the binary cross-entropy with PyTorch's clamps.
struct BceBackward;

impl Backward for BceBackward {
    fn name(&self) -> &'static str {
        "binary_cross_entropy"
    }
    fn backward(
        &self,
        inputs: &[Tensor],
        _out: &Tensor,
        g: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        let (p, t) = (&inputs[0], &inputs[1]);
        // dl/dp = (p - t) / max(p (1 - p), 1e-12)
        let denom = p.mul(&p.rsub_scalar(1.0)?)?.clamp_min(1e-12)?;
        let gp = g.mul(&p.sub(t)?.div(&denom)?)?;
        // dl/dt = log(1 - p) - log(p), both clamped at -100
        let log_p = p.log()?.clamp_min(-100.0)?;
        let log_1p = p.rsub_scalar(1.0)?.log()?.clamp_min(-100.0)?;
        let gt = g.mul(&log_1p.sub(&log_p)?)?;
        Ok(vec![Some(gp), Some(gt)])
    }
}

/// The binary cross-entropy of raw scores (logits) `z` against targets `t` in `[0, 1]`, i.e.
/// `binary_cross_entropy(sigmoid(z), t)` computed stably
/// (`torch.nn.functional.binary_cross_entropy_with_logits`):
///
/// `l = max(z, 0) - z * t + log(1 + exp(-|z|))`
///
/// evaluated as the identical `softplus(z) - z * t` (softplus is linear above 20), whose
/// gradient `sigmoid(z) - t` is exact everywhere, including at `z = 0`.
///
/// Shapes: `input: (*)`, `target: (*)` (same shape, float).
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
) -> Result<Tensor> {
    let t = same_shape("binary_cross_entropy_with_logits", input, target)?;
    reduction.apply(&input.softplus()?.sub(&input.mul(&t)?)?)
}

/// Checks `target` holds int64 class indices in `0..k` with shape `expected`.
fn class_targets(op: &'static str, target: &Tensor, expected: &[usize], k: usize) -> Result<()> {
    if target.dtype() != DType::I64 {
        return Err(Error::msg(format!(
            "{op}: target must be int64 class indices, got {}",
            target.dtype()
        )));
    }
    if target.dims() != expected {
        return Err(Error::msg(format!(
            "{op}: target {} does not match input: expected {}",
            target.shape(),
            deepnet_tensor::Shape::from(expected)
        )));
    }
    if let Some((i, v)) = target
        .to_vec::<i64>()?
        .into_iter()
        .enumerate()
        .find(|&(_, v)| v < 0 || v as usize >= k)
    {
        return Err(Error::msg(format!(
            "{op}: target label {v} (flat index {i}) is out of range for {k} classes (0..{k})"
        )));
    }
    Ok(())
}

/// The multiclass hinge loss (Weston-Watkins / Crammer-Singer style SVM loss) of raw scores `y`
/// against class indices `t`:
///
/// `l_n = sum_{j != t_n} max(0, margin - (y[n, t_n] - y[n, j]))`
///
/// squared inside the sum when `squared` is true. This sum over the wrong classes is the form of
/// the canon (CS231n, the SVM literature). With `divide_by_classes` the sum is divided by the
/// number of classes `K`, which is PyTorch's `MultiMarginLoss(p=1 or 2, margin)`:
/// `l_n = sum_{j != t_n} max(0, margin - y[n, t_n] + y[n, j])^p / K`. The usual margin is 1.
///
/// Shapes: `input: (N, K)` float, `target: (N,)` int64 in `0..K`; `Reduction::None` gives `(N,)`.
pub fn multiclass_hinge_loss(
    input: &Tensor,
    target: &Tensor,
    margin: f64,
    squared: bool,
    divide_by_classes: bool,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "multiclass_hinge_loss";
    float_input(OP, "input", input)?;
    if input.rank() != 2 {
        return Err(Error::msg(format!(
            "{OP}: input must be scores (N, K), got {}",
            input.shape()
        )));
    }
    if !margin.is_finite() {
        return Err(Error::msg(format!("{OP}: margin {margin} must be finite")));
    }
    let (n, k) = (input.dims()[0], input.dims()[1]);
    class_targets(OP, target, &[n], k)?;
    let idx = target.unsqueeze(1)?;
    let y_t = input.gather(1, &idx)?; // (N, 1)
    let m = input.sub(&y_t)?.add_scalar(margin)?.relu()?; // max(0, margin - y_t + y_j)
    let m = if squared { m.square()? } else { m };
    // 1 for the wrong classes j != t, 0 for the true class
    let wrong = target
        .one_hot(k)?
        .to_dtype(input.dtype())?
        .rsub_scalar(1.0)?;
    let l = m.mul(&wrong)?.sum(1, false)?;
    let l = if divide_by_classes {
        l.div_scalar(k as f64)?
    } else {
        l
    };
    reduction.apply(&l)
}

/// Checks the `(N, K, *)` input of a classification loss and returns the target shape
/// `(N, *)` it calls for.
fn class_input(op: &'static str, input: &Tensor) -> Result<Vec<usize>> {
    float_input(op, "input", input)?;
    if input.rank() < 2 {
        return Err(Error::msg(format!(
            "{op}: input must be (N, K) or (N, K, d1, ...), got {}",
            input.shape()
        )));
    }
    let mut t = input.dims().to_vec();
    t.remove(1);
    Ok(t)
}

/// `-x[n, t_n, ...]`: the negative log-likelihood given log-probabilities `x` over dim 1.
fn pick_neg(x: &Tensor, target: &Tensor) -> Result<Tensor> {
    x.gather(1, &target.unsqueeze(1)?)?.squeeze(1)?.neg()
}

/// The cross-entropy of raw scores (logits) against class indices
/// (`torch.nn.functional.cross_entropy`):
///
/// `l_n = -log_softmax(y_n)[t_n] = logsumexp_j(y[n, j]) - y[n, t_n]`
///
/// computed stably. A float `target` with the input's shape holds class probabilities instead
/// (soft labels): `l_n = -sum_j t[n, j] log_softmax(y_n)[j]`.
///
/// Shapes: `input: (N, K)` or `(N, K, d1, ...)` with classes on dim 1; `target: (N,)` or
/// `(N, d1, ...)` int64 in `0..K`, or float with the input's shape. `Reduction::None` gives
/// `(N, d1, ...)`. A label outside `0..K` is an error naming it and `K`.
pub fn cross_entropy(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    let tshape = class_input(OP, input)?;
    if target.dtype().is_float() {
        let t = same_shape(OP, input, target)?;
        let l = input.log_softmax(1)?.mul(&t)?.sum(1, false)?.neg()?;
        return reduction.apply(&l);
    }
    class_targets(OP, target, &tshape, input.dims()[1])?;
    reduction.apply(&pick_neg(&input.log_softmax(1)?, target)?)
}

/// The negative log-likelihood of log-probabilities against class indices
/// (`torch.nn.functional.nll_loss`); `nll_loss(log_softmax(y, 1), t) == cross_entropy(y, t)`:
///
/// `l_n = -x[n, t_n]`
///
/// Shapes: `input: (N, K)` or `(N, K, d1, ...)` log-probabilities over dim 1; `target: (N,)` or
/// `(N, d1, ...)` int64 in `0..K`. `Reduction::None` gives `(N, d1, ...)`.
pub fn nll_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    const OP: &str = "nll_loss";
    let tshape = class_input(OP, input)?;
    class_targets(OP, target, &tshape, input.dims()[1])?;
    reduction.apply(&pick_neg(input, target)?)
}

/// The mean squared error, or L2 loss (`torch.nn.functional.mse_loss`):
///
/// `l = (y - t)^2`
///
/// Shapes: `input: (*)`, `target: (*)` (same shape, float).
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let t = same_shape("mse_loss", input, target)?;
    reduction.apply(&input.sub(&t)?.square()?)
}

/// The absolute error, or L1 loss (`torch.nn.functional.l1_loss`); the gradient at `y = t`
/// is 0, as in PyTorch:
///
/// `l = |y - t|`
///
/// Shapes: `input: (*)`, `target: (*)` (same shape, float).
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let t = same_shape("l1_loss", input, target)?;
    reduction.apply(&input.sub(&t)?.abs()?)
}

fn positive_delta(op: &'static str, delta: f64) -> Result<()> {
    if delta > 0.0 && delta.is_finite() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "{op}: delta must be positive and finite, got {delta}"
        )))
    }
}

/// The Huber loss (`torch.nn.functional.huber_loss`), quadratic near 0 and linear beyond
/// `delta`; with `d = y - t`:
///
/// `l = 0.5 d^2` if `|d| < delta`, else `delta (|d| - 0.5 delta)`
///
/// Shapes: `input: (*)`, `target: (*)` (same shape, float); `delta > 0` (PyTorch's default 1).
pub fn huber_loss(
    input: &Tensor,
    target: &Tensor,
    delta: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "huber_loss";
    positive_delta(OP, delta)?;
    let t = same_shape(OP, input, target)?;
    let d = input.sub(&t)?;
    let a = d.abs()?;
    let quad = d.square()?.mul_scalar(0.5)?;
    let lin = a.sub_scalar(0.5 * delta)?.mul_scalar(delta)?;
    reduction.apply(&Tensor::where_cond(&a.lt_scalar(delta)?, &quad, &lin)?)
}

/// The pseudo-Huber loss, a smooth approximation of the Huber loss: about `d^2 / 2` for small
/// `d = y - t` and about `delta |d|` for large:
///
/// `l = delta^2 (sqrt(1 + (d / delta)^2) - 1)`
///
/// Shapes: `input: (*)`, `target: (*)` (same shape, float); `delta > 0`.
pub fn pseudo_huber_loss(
    input: &Tensor,
    target: &Tensor,
    delta: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "pseudo_huber_loss";
    positive_delta(OP, delta)?;
    let t = same_shape(OP, input, target)?;
    let r = input.sub(&t)?.div_scalar(delta)?;
    let l = r
        .square()?
        .add_scalar(1.0)?
        .sqrt()?
        .sub_scalar(1.0)?
        .mul_scalar(delta * delta)?;
    reduction.apply(&l)
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
