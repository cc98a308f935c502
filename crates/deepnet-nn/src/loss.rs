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
mod tests {
    use super::*;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use Reduction::{Mean, None as NoRed, Sum};

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_slice(v, [v.len()]).unwrap()
    }
    fn t2(v: &[f64], r: usize, c: usize) -> Tensor {
        Tensor::from_slice(v, [r, c]).unwrap()
    }
    fn labels(v: &[i64]) -> Tensor {
        Tensor::from_slice(v, [v.len()]).unwrap()
    }
    fn val(x: Result<Tensor>) -> f64 {
        x.unwrap().item().unwrap()
    }
    fn vals(x: Result<Tensor>) -> Vec<f64> {
        x.unwrap().to_vec_f64()
    }
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    fn close_all(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            close(*x, *y);
        }
    }
    fn err(x: Result<Tensor>) -> String {
        x.unwrap_err().to_string()
    }

    /// Targets in {-1, +1} for the hinge gradchecks.
    fn pm1(n: usize) -> Tensor {
        t(&(0..n)
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect::<Vec<_>>())
    }

    #[test]
    fn reduction_default_and_apply() {
        assert_eq!(Reduction::default(), Mean);
        let l = t(&[1.0, 2.0, 6.0]);
        close(val(Mean.apply(&l)), 3.0);
        close(val(Sum.apply(&l)), 9.0);
        assert_eq!(vals(NoRed.apply(&l)), vec![1.0, 2.0, 6.0]);
    }

    #[test]
    fn hinge_values() {
        // y t = [2, 0.5, -1, -0.3]; 1 - y t = [-1, 0.5, 2, 1.3]; max(0, .) = [0, 0.5, 2, 1.3]
        // sum 3.8, mean 0.95; squared [0, 0.25, 4, 1.69], sum 5.94, mean 1.485
        let y = t(&[2.0, 0.5, -1.0, 0.3]);
        let tg = t(&[1.0, 1.0, 1.0, -1.0]);
        close_all(&vals(hinge_loss(&y, &tg, NoRed)), &[0.0, 0.5, 2.0, 1.3]);
        close(val(hinge_loss(&y, &tg, Sum)), 3.8);
        close(val(hinge_loss(&y, &tg, Mean)), 0.95);
        close_all(
            &vals(squared_hinge_loss(&y, &tg, NoRed)),
            &[0.0, 0.25, 4.0, 1.69],
        );
        close(val(squared_hinge_loss(&y, &tg, Sum)), 5.94);
        close(val(squared_hinge_loss(&y, &tg, Mean)), 1.485);
    }

    #[test]
    fn hinge_errors_and_gradchecks() {
        let e = err(hinge_loss(&t(&[1.0, 2.0]), &t(&[1.0, 0.0]), Mean));
        assert_eq!(
            e,
            "hinge_loss: target must hold -1 or +1, found 0 at flat index 1"
        );
        let e = err(squared_hinge_loss(&seeded([2, 3], 1), &pm1(6), Mean));
        assert_eq!(
            e,
            "squared_hinge_loss: input [2, 3] and target [6] must have the same shape"
        );
        let li = Tensor::from_vec(vec![1i64, -1], [2]).unwrap();
        assert!(err(hinge_loss(&li, &t(&[1.0, -1.0]), Mean)).contains("input must be a float"));
        for r in [Mean, Sum, NoRed] {
            // the target stays fixed: perturbing it would leave {-1, +1}
            let tg = pm1(7);
            gradcheck("hinge", |x| hinge_loss(&x[0], &tg, r), &[seeded([7], 1)]).unwrap();
            gradcheck(
                "squared_hinge",
                |x| squared_hinge_loss(&x[0], &tg, r),
                &[seeded([7], 1)],
            )
            .unwrap();
        }
    }

    #[test]
    fn bce_values_edges_and_errors() {
        // -[ln 0.9, ln 0.8, ln 0.5] = [0.105360516, 0.223143551, 0.693147181]
        // sum 1.021651248, mean 0.340550416
        let p = t(&[0.9, 0.2, 0.5]);
        let tg = t(&[1.0, 0.0, 1.0]);
        let ln = f64::ln;
        close_all(
            &vals(binary_cross_entropy(&p, &tg, NoRed)),
            &[-ln(0.9), -ln(0.8), -ln(0.5)],
        );
        close(
            val(binary_cross_entropy(&p, &tg, Sum)),
            -(ln(0.9) + ln(0.8) + ln(0.5)),
        );
        close(val(binary_cross_entropy(&p, &tg, Mean)), 0.340_550_415_9);
        // soft target 0.3 at p = 0.6: -(0.3 ln 0.6 + 0.7 ln 0.4)
        close(
            val(binary_cross_entropy(&t(&[0.6]), &t(&[0.3]), Sum)),
            -(0.3 * ln(0.6) + 0.7 * ln(0.4)),
        );
        // log clamped at -100: p = 0 with t = 1 costs 100; p = 0 or 1 on the right side cost 0
        let p = t(&[0.0, 1.0, 0.0, 1.0]).requires_grad_(true).unwrap();
        let tg = t(&[1.0, 1.0, 0.0, 0.0]);
        let l = binary_cross_entropy(&p, &tg, Sum).unwrap();
        close(l.item().unwrap(), 200.0);
        // and the gradient stays finite: (p - t) / max(p (1 - p), 1e-12)
        let g = l.backward().unwrap().get(&p).unwrap().to_vec_f64();
        assert_eq!(g, vec![-1e12, 0.0, 0.0, 1e12]);
        let e = err(binary_cross_entropy(&t(&[0.5, 1.5]), &t(&[1.0, 0.0]), Mean));
        assert!(e.contains("found 1.5 at flat index 1"), "{e}");
        assert!(binary_cross_entropy(&t(&[f64::NAN]), &t(&[1.0]), Mean).is_err());
        assert!(err(binary_cross_entropy(&t(&[0.5]), &t(&[1.0, 0.0]), Mean))
            .contains("[1] and target [2]"));
    }

    #[test]
    fn bce_gradcheck() {
        let p = seeded([2, 3], 1).sigmoid().unwrap();
        let tg = seeded([2, 3], 2).sigmoid().unwrap();
        for r in [Mean, Sum, NoRed] {
            gradcheck(
                "bce",
                |x| binary_cross_entropy(&x[0], &x[1], r),
                &[p.clone(), tg.clone()],
            )
            .unwrap();
        }
    }

    #[test]
    fn bce_with_logits_values_stability_and_gradcheck() {
        // z = 0, t = 1: ln 2 = 0.693147181
        // z = 2, t = 0: ln(1 + e^2) = 2.126928011
        // z = -3, t = 0.5: ln(1 + e^-3) + 1.5 = 1.548587352
        // sum 4.368662544, mean 1.456220848
        let z = t(&[0.0, 2.0, -3.0]);
        let tg = t(&[1.0, 0.0, 0.5]);
        let e = std::f64::consts::E;
        let want = [2f64.ln(), (1.0 + e * e).ln(), (1.0 + e.powi(-3)).ln() + 1.5];
        close_all(
            &vals(binary_cross_entropy_with_logits(&z, &tg, NoRed)),
            &want,
        );
        close(
            val(binary_cross_entropy_with_logits(&z, &tg, Sum)),
            4.368_662_544_1,
        );
        close(
            val(binary_cross_entropy_with_logits(&z, &tg, Mean)),
            4.368_662_544_1 / 3.0,
        );
        // agrees with bce(sigmoid(z)) where sigmoid does not saturate
        let z = seeded([10], 3);
        let tg = seeded([10], 4).sigmoid().unwrap();
        close_all(
            &vals(binary_cross_entropy_with_logits(&z, &tg, NoRed)),
            &vals(binary_cross_entropy(&z.sigmoid().unwrap(), &tg, NoRed)),
        );
        // no overflow for huge scores
        let big = t(&[1000.0, -1000.0, 1000.0]);
        let l = vals(binary_cross_entropy_with_logits(
            &big,
            &t(&[1.0, 0.0, 0.0]),
            NoRed,
        ));
        close_all(&l, &[0.0, 0.0, 1000.0]);
        // gradient sigmoid(z) - t, exact at z = 0: 0.5 - 1 = -0.5
        let z0 = t(&[0.0]).requires_grad_(true).unwrap();
        let g = binary_cross_entropy_with_logits(&z0, &t(&[1.0]), Sum)
            .unwrap()
            .backward()
            .unwrap();
        close(g.get(&z0).unwrap().to_vec_f64()[0], -0.5);
        for r in [Mean, Sum, NoRed] {
            gradcheck(
                "bce_with_logits",
                |x| binary_cross_entropy_with_logits(&x[0], &x[1], r),
                &[
                    seeded([3, 2], 5).mul_scalar(3.0).unwrap(),
                    seeded([3, 2], 6).sigmoid().unwrap(),
                ],
            )
            .unwrap();
        }
    }

    #[test]
    fn multiclass_hinge_values() {
        // scores [[1, 2, 0.5], [0, -1, 3]], targets [0, 2], margin 1
        // row 0 (y_t = 1): j=1: max(0, 1 - (1 - 2)) = 2; j=2: max(0, 1 - (1 - 0.5)) = 0.5 -> 2.5
        // row 1 (y_t = 3): j=0: max(0, 1 - 3) = 0;       j=1: max(0, 1 - 4) = 0         -> 0
        let y = t2(&[1.0, 2.0, 0.5, 0.0, -1.0, 3.0], 2, 3);
        let tg = labels(&[0, 2]);
        let h = |m, sq, div, r| multiclass_hinge_loss(&y, &tg, m, sq, div, r);
        close_all(&vals(h(1.0, false, false, NoRed)), &[2.5, 0.0]);
        close(val(h(1.0, false, false, Sum)), 2.5);
        close(val(h(1.0, false, false, Mean)), 1.25);
        // squared: row 0: 2^2 + 0.5^2 = 4.25, row 1: 0
        close_all(&vals(h(1.0, true, false, NoRed)), &[4.25, 0.0]);
        close(val(h(1.0, true, false, Mean)), 2.125);
        // PyTorch's MultiMarginLoss divides by K = 3: [2.5/3, 0], mean 2.5/6
        close_all(&vals(h(1.0, false, true, NoRed)), &[2.5 / 3.0, 0.0]);
        close(val(h(1.0, false, true, Mean)), 2.5 / 6.0);
        close(val(h(1.0, true, true, Sum)), 4.25 / 3.0);
        // margin 2: row 0: (2 + 1) + (2 - 0.5) = 4.5; row 1: max(0, 2 - 3) + max(0, 2 - 4) = 0
        close_all(&vals(h(2.0, false, false, NoRed)), &[4.5, 0.0]);
    }

    #[test]
    fn multiclass_hinge_divided_matches_the_pytorch_formula() {
        // torch.nn.MultiMarginLoss(p, margin): loss(x, y) = sum_{i != y} max(0, margin - x[y] + x[i])^p / x.size(0)
        let (n, k) = (6, 4);
        let x = seeded([n, k], 11);
        let tgt: Vec<i64> = (0..n as i64).map(|i| (i * 3) % k as i64).collect();
        let xv = x.to_vec2::<f64>().unwrap();
        for (p, squared) in [(1, false), (2, true)] {
            let margin = 0.7;
            let want: Vec<f64> = (0..n)
                .map(|r| {
                    let y = tgt[r] as usize;
                    (0..k)
                        .filter(|&i| i != y)
                        .map(|i| (margin - xv[r][y] + xv[r][i]).max(0.0).powi(p))
                        .sum::<f64>()
                        / k as f64
                })
                .collect();
            let got = vals(multiclass_hinge_loss(
                &x,
                &labels(&tgt),
                margin,
                squared,
                true,
                NoRed,
            ));
            close_all(&got, &want);
            let mean = want.iter().sum::<f64>() / n as f64;
            close(
                val(multiclass_hinge_loss(
                    &x,
                    &labels(&tgt),
                    margin,
                    squared,
                    true,
                    Mean,
                )),
                mean,
            );
        }
    }

    #[test]
    fn multiclass_hinge_errors_and_gradcheck() {
        let y = seeded([3, 4], 1);
        let e = err(multiclass_hinge_loss(
            &y,
            &labels(&[0, 4, 1]),
            1.0,
            false,
            false,
            Mean,
        ));
        assert_eq!(
            e,
            "multiclass_hinge_loss: target label 4 (flat index 1) is out of range for 4 classes (0..4)"
        );
        assert!(err(multiclass_hinge_loss(
            &y,
            &labels(&[0, 1]),
            1.0,
            false,
            false,
            Mean
        ))
        .contains("target [2] does not match input: expected [3]"));
        assert!(err(multiclass_hinge_loss(
            &y,
            &t(&[0.0, 1.0, 2.0]),
            1.0,
            false,
            false,
            Mean
        ))
        .contains("int64"));
        assert!(err(multiclass_hinge_loss(
            &seeded([4], 1),
            &labels(&[0]),
            1.0,
            false,
            false,
            Mean
        ))
        .contains("(N, K)"));
        assert!(
            multiclass_hinge_loss(&y, &labels(&[0, 1, 2]), f64::NAN, false, false, Mean).is_err()
        );
        let tg = labels(&[0, 3, 1]);
        for (sq, div) in [(false, false), (true, false), (false, true), (true, true)] {
            for r in [Mean, Sum, NoRed] {
                gradcheck(
                    "multiclass_hinge",
                    |x| multiclass_hinge_loss(&x[0], &x[1], 1.0, sq, div, r),
                    &[y.clone(), tg.clone()],
                )
                .unwrap();
            }
        }
    }

    #[test]
    fn cross_entropy_and_nll_values() {
        // row 0: logits [0, 0, 0], t = 1: ln 3 = 1.098612289
        // row 1: logits [1, 2, 3], t = 2: ln(e + e^2 + e^3) - 3 = ln(1 + e^-1 + e^-2) = 0.407605964
        // sum 1.506218253, mean 0.753109126
        let y = t2(&[0.0, 0.0, 0.0, 1.0, 2.0, 3.0], 2, 3);
        let tg = labels(&[1, 2]);
        let e = std::f64::consts::E;
        let r1 = (1.0 + 1.0 / e + 1.0 / (e * e)).ln();
        close_all(&vals(cross_entropy(&y, &tg, NoRed)), &[3f64.ln(), r1]);
        close(val(cross_entropy(&y, &tg, Sum)), 1.506_218_253_4);
        close(val(cross_entropy(&y, &tg, Mean)), 1.506_218_253_4 / 2.0);
        // nll: log-probs [[-0.5, -1.2], [-2, -0.1]], targets [0, 0] -> [0.5, 2], mean 1.25
        let lp = t2(&[-0.5, -1.2, -2.0, -0.1], 2, 2);
        close_all(&vals(nll_loss(&lp, &labels(&[0, 0]), NoRed)), &[0.5, 2.0]);
        close(val(nll_loss(&lp, &labels(&[0, 0]), Mean)), 1.25);
        close(val(nll_loss(&lp, &labels(&[1, 0]), Sum)), 3.2);
        // cross_entropy = nll_loss(log_softmax)
        let x = seeded([5, 4], 3);
        let tg = labels(&[0, 3, 2, 1, 3]);
        close(
            val(cross_entropy(&x, &tg, Mean)),
            val(nll_loss(&x.log_softmax(1).unwrap(), &tg, Mean)),
        );
        // soft labels: one-hot probabilities give the same loss as the indices
        let oh = tg.one_hot(4).unwrap().to_dtype(DType::F64).unwrap();
        close_all(
            &vals(cross_entropy(&x, &oh, NoRed)),
            &vals(cross_entropy(&x, &tg, NoRed)),
        );
        // stable for huge logits: [1000, 0] with t = 0 costs ~0, with t = 1 costs 1000
        let big = t2(&[1000.0, 0.0, 1000.0, 0.0], 2, 2);
        close_all(
            &vals(cross_entropy(&big, &labels(&[0, 1]), NoRed)),
            &[0.0, 1000.0],
        );
        // (N, K, d) inputs with (N, d) targets: the same as moving K last and flattening
        let x3 = seeded([2, 3, 4], 8);
        let t3 = Tensor::from_vec(vec![0i64, 1, 2, 0, 2, 2, 1, 0], [2, 4]).unwrap();
        let l3 = cross_entropy(&x3, &t3, NoRed).unwrap();
        assert_eq!(l3.dims(), [2, 4]);
        let flat = x3.permute([0, 2, 1]).unwrap().reshape([8, 3]).unwrap();
        close_all(
            &l3.to_vec_f64(),
            &vals(cross_entropy(&flat, &t3.reshape([8]).unwrap(), NoRed)),
        );
    }

    #[test]
    fn cross_entropy_errors_and_gradchecks() {
        let x = seeded([3, 4], 1);
        let e = err(cross_entropy(&x, &labels(&[0, 7, 1]), Mean));
        assert_eq!(
            e,
            "cross_entropy: target label 7 (flat index 1) is out of range for 4 classes (0..4)"
        );
        assert!(err(cross_entropy(&x, &labels(&[0, -1, 1]), Mean)).contains("label -1"));
        assert!(err(cross_entropy(&x, &labels(&[0, 1]), Mean))
            .contains("target [2] does not match input: expected [3]"));
        assert!(err(cross_entropy(&seeded([4], 1), &labels(&[0]), Mean)).contains("(N, K)"));
        assert!(err(cross_entropy(&x, &seeded([3, 5], 1), Mean)).contains("same shape"));
        assert!(
            err(nll_loss(&x, &labels(&[4, 0, 0]), Mean)).starts_with("nll_loss: target label 4")
        );
        let tg = labels(&[0, 3, 1]);
        for r in [Mean, Sum, NoRed] {
            gradcheck(
                "cross_entropy",
                |a| cross_entropy(&a[0], &a[1], r),
                &[x.clone(), tg.clone()],
            )
            .unwrap();
            gradcheck(
                "nll_loss",
                |a| nll_loss(&a[0], &a[1], r),
                &[x.clone(), tg.clone()],
            )
            .unwrap();
            let soft = seeded([3, 4], 2).softmax(1).unwrap();
            gradcheck(
                "cross_entropy(soft)",
                |a| cross_entropy(&a[0], &a[1], r),
                &[x.clone(), soft],
            )
            .unwrap();
        }
    }

    #[test]
    fn regression_values() {
        // d = y - t = [-0.5, 0, 2]
        let y = t(&[1.0, 2.0, 3.0]);
        let tg = t(&[1.5, 2.0, 1.0]);
        // squared: [0.25, 0, 4], sum 4.25, mean 1.416666667
        close_all(&vals(mse_loss(&y, &tg, NoRed)), &[0.25, 0.0, 4.0]);
        close(val(mse_loss(&y, &tg, Sum)), 4.25);
        close(val(mse_loss(&y, &tg, Mean)), 4.25 / 3.0);
        // absolute: [0.5, 0, 2], sum 2.5, mean 0.833333333
        close_all(&vals(l1_loss(&y, &tg, NoRed)), &[0.5, 0.0, 2.0]);
        close(val(l1_loss(&y, &tg, Sum)), 2.5);
        close(val(l1_loss(&y, &tg, Mean)), 2.5 / 3.0);
        // pseudo-Huber, delta 1: [sqrt(1.25) - 1, 0, sqrt(5) - 1] = [0.118033989, 0, 1.236067977]
        let ph1 = [1.25f64.sqrt() - 1.0, 0.0, 5f64.sqrt() - 1.0];
        close_all(&vals(pseudo_huber_loss(&y, &tg, 1.0, NoRed)), &ph1);
        close(val(pseudo_huber_loss(&y, &tg, 1.0, Sum)), 1.354_101_966_2);
        close(
            val(pseudo_huber_loss(&y, &tg, 1.0, Mean)),
            1.354_101_966_2 / 3.0,
        );
        // delta 2: 4 (sqrt(1 + (d/2)^2) - 1) = [4 (sqrt(1.0625) - 1), 0, 4 (sqrt 2 - 1)]
        //        = [0.123105626, 0, 1.656854249], sum 1.779959875
        close(val(pseudo_huber_loss(&y, &tg, 2.0, Sum)), 1.779_959_875_1);
        // Huber, delta 1: |d| = [0.5, 0, 2] -> [0.5 * 0.25, 0, 1 * (2 - 0.5)] = [0.125, 0, 1.5]
        close_all(&vals(huber_loss(&y, &tg, 1.0, NoRed)), &[0.125, 0.0, 1.5]);
        close(val(huber_loss(&y, &tg, 1.0, Mean)), 1.625 / 3.0);
        // delta 3: all quadratic: [0.125, 0, 2]
        close(val(huber_loss(&y, &tg, 3.0, Sum)), 2.125);
    }

    #[test]
    fn regression_errors_and_gradchecks() {
        let (y, tg) = (seeded([2, 3], 1), seeded([2, 3], 2));
        assert_eq!(
            err(mse_loss(&y, &seeded([3, 2], 2), Mean)),
            "mse_loss: input [2, 3] and target [3, 2] must have the same shape"
        );
        assert!(err(l1_loss(&y, &seeded([6], 2), Mean)).starts_with("l1_loss: input [2, 3]"));
        assert_eq!(
            err(pseudo_huber_loss(&y, &tg, 0.0, Mean)),
            "pseudo_huber_loss: delta must be positive and finite, got 0"
        );
        assert!(pseudo_huber_loss(&y, &tg, -1.0, Mean).is_err());
        assert!(huber_loss(&y, &tg, f64::NAN, Mean).is_err());
        let it = Tensor::zeros([2, 3], DType::I64).unwrap();
        assert!(err(mse_loss(&y, &it, Mean)).contains("target must be a float tensor, got int64"));
        // f32 target with f64 input is computed in the input's dtype
        assert_eq!(
            mse_loss(&y, &tg.to_f32().unwrap(), Mean).unwrap().dtype(),
            DType::F64
        );
        for r in [Mean, Sum, NoRed] {
            let ins = [y.clone(), tg.clone()];
            gradcheck("mse", |a| mse_loss(&a[0], &a[1], r), &ins).unwrap();
            gradcheck("l1", |a| l1_loss(&a[0], &a[1], r), &ins).unwrap();
            gradcheck(
                "pseudo_huber",
                |a| pseudo_huber_loss(&a[0], &a[1], 0.7, r),
                &ins,
            )
            .unwrap();
            gradcheck("huber", |a| huber_loss(&a[0], &a[1], 0.7, r), &ins).unwrap();
        }
    }
}
