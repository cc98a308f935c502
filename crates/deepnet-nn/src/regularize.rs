//! Regularizers: L1/L2 weight penalties (added to the loss), the max-norm constraint (applied to
//! the weights after each optimizer step) and gradient clipping (applied to the gradients before
//! the step), with PyTorch's semantics where PyTorch has the function.
//!
//! ```
//! use deepnet_nn::{layers::Linear, loss, regularize, Module, ParamStore, Reduction};
//! use deepnet_tensor::{no_grad, DType, Tensor};
//! let store = ParamStore::new(0);
//! let fc = Linear::new(3, 2, true, &store.root().push("fc"))?;
//! let x = Tensor::ones([4, 3], DType::F32)?;
//! let target = Tensor::zeros([4, 2], DType::F32)?;
//! let weights = regularize::select_params(&store.trainable(), |n| n.ends_with("weight"));
//! let l2 = regularize::l2_penalty(&weights)?;
//! let loss = loss::mse_loss(&fc.forward(&x)?, &target, Reduction::Mean)?.add(&l2.mul_scalar(1e-4)?)?;
//! let mut grads = loss.backward()?;
//! let params: Vec<Tensor> = store.trainable().into_iter().map(|(_, t)| t).collect();
//! let norm = regularize::clip_grad_norm_(&mut grads, &params, 1.0)?;
//! assert!(norm >= 0.0);
//! // ... optimizer step ..., then
//! regularize::max_norm_(fc.weight(), 3.0)?;
//! # Ok::<(), deepnet_tensor::Error>(())
//! ```

use deepnet_tensor::{no_grad, Error, GradStore, Result, Tensor};

/// The tensors of `params` whose name satisfies `keep`, in order: e.g.
/// `select_params(&store.trainable(), |n| n.ends_with("weight"))` keeps the weights and leaves
/// out the biases (which are usually not penalized).
pub fn select_params(params: &[(String, Tensor)], keep: impl Fn(&str) -> bool) -> Vec<Tensor> {
    params
        .iter()
        .filter(|(n, _)| keep(n))
        .map(|(_, t)| t.clone())
        .collect()
}

/// The weights only: the tensors whose name ends in `weight` (`fc.weight`, `features.0.weight`).
pub fn weights_only(params: &[(String, Tensor)]) -> Vec<Tensor> {
    select_params(params, |n| n.ends_with("weight"))
}

fn penalty(
    op: &'static str,
    params: &[Tensor],
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for (i, p) in params.iter().enumerate() {
        if !p.dtype().is_float() {
            return Err(Error::msg(format!(
                "{op}: parameter {i} must be a float tensor, got {}",
                p.dtype()
            )));
        }
        let s = f(p)?.sum_all()?;
        total = Some(match total {
            Some(t) => t.add(&s)?,
            None => s,
        });
    }
    // no parameters: a zero penalty
    Ok(total.unwrap_or_else(|| Tensor::scalar(0.0f32)))
}

/// The L1 penalty `sum_i |w_i|` over every element of every tensor in `params`, as a
/// differentiable 0-d tensor: add `lambda * l1_penalty(..)` to the loss (its gradient is
/// `lambda * sign(w)`, which drives weights to exactly zero: sparsity). An empty list gives 0.
pub fn l1_penalty(params: &[Tensor]) -> Result<Tensor> {
    penalty("l1_penalty", params, |p| p.abs())
}

/// The L2 penalty `sum_i w_i^2` over every element of every tensor in `params`, as a
/// differentiable 0-d tensor: add `lambda * l2_penalty(..)` to the loss (gradient `2 lambda w`;
/// plain SGD with `weight_decay = 2 lambda` is the same update). Note there is no factor 1/2.
/// An empty list gives 0.
pub fn l2_penalty(params: &[Tensor]) -> Result<Tensor> {
    penalty("l2_penalty", params, |p| p.square())
}

/// The max-norm constraint (Srebro et al.; Hinton et al.'s dropout paper): every neuron's
/// incoming weight vector whose L2 norm exceeds `max_norm` is rescaled to norm exactly
/// `max_norm`; the others are unchanged. Call it after each optimizer step.
///
/// `weight: (out, in)` (a `Linear` weight: each row) or `(out, in, kh, kw, ...)` (a conv weight:
/// each output filter), written in place under `no_grad`. `max_norm` must be positive.
pub fn max_norm_(weight: &Tensor, max_norm: f64) -> Result<()> {
    const OP: &str = "max_norm_";
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(Error::msg(format!(
            "{OP}: max_norm must be positive and finite, got {max_norm}"
        )));
    }
    if weight.rank() < 2 || !weight.dtype().is_float() {
        return Err(Error::msg(format!(
            "{OP}: expected a float weight (out, in, ...) with one row per neuron, got {} {}",
            weight.dtype(),
            weight.shape()
        )));
    }
    let _g = no_grad();
    let rest: Vec<isize> = (1..weight.rank() as isize).collect();
    let norms = weight.norm(2.0, &rest[..], true)?; // (out, 1, ...)
    let over = norms.gt_scalar(max_norm)?;
    // rows over the limit are scaled by c / norm; the others by 1 (c / norm of a zero row is never
    // selected)
    let scale = Tensor::where_cond(
        &over,
        &norms.reciprocal()?.mul_scalar(max_norm)?,
        &norms.ones_like()?,
    )?;
    weight.assign_(&weight.mul(&scale)?)
}

/// Scales all gradients of `params` together so that their global L2 norm is at most
/// `max_norm` (`torch.nn.utils.clip_grad_norm_`): with `total = sqrt(sum over all gradient
/// elements of g^2)`, every gradient is multiplied by `max_norm / (total + 1e-6)` when that
/// factor is below 1. Parameters without a gradient in `grads` are skipped. Returns the total
/// norm before clipping (log it: it is the gradient-explosion monitor).
pub fn clip_grad_norm_(grads: &mut GradStore, params: &[Tensor], max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(Error::msg(format!(
            "clip_grad_norm_: max_norm must be non-negative, got {max_norm}"
        )));
    }
    let _g = no_grad();
    let mut sq = 0.0;
    for p in params {
        if let Some(g) = grads.get(p) {
            sq += g.to_f64()?.square()?.sum_all()?.item()?;
        }
    }
    let total = sq.sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for p in params {
            if let Some(g) = grads.get(p) {
                let clipped = g.mul_scalar(coef)?;
                grads.insert(p, clipped);
            }
        }
    }
    Ok(total)
}

/// Clamps every gradient element of `params` to `[-clip_value, clip_value]`
/// (`torch.nn.utils.clip_grad_value_`). Parameters without a gradient are skipped.
pub fn clip_grad_value_(grads: &mut GradStore, params: &[Tensor], clip_value: f64) -> Result<()> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(Error::msg(format!(
            "clip_grad_value_: clip_value must be non-negative, got {clip_value}"
        )));
    }
    let _g = no_grad();
    for p in params {
        if let Some(g) = grads.get(p) {
            let clipped = g.clamp(Some(-clip_value), Some(clip_value))?;
            grads.insert(p, clipped);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Linear;
    use crate::ParamStore;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    fn leaf(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_slice(v, shape.to_vec())
            .unwrap()
            .requires_grad_(true)
            .unwrap()
    }
    fn close_all(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn penalties_values_and_gradients() {
        // l1: |1| + |-2| + |3| + |-0.5| = 6.5; l2: 1 + 4 + 9 + 0.25 = 14.25
        let a = leaf(&[1.0, -2.0, 3.0], &[3]);
        let b = leaf(&[-0.5], &[1, 1]);
        let ps = [a.clone(), b.clone()];
        assert_eq!(l1_penalty(&ps).unwrap().item().unwrap(), 6.5);
        assert_eq!(l2_penalty(&ps).unwrap().item().unwrap(), 14.25);
        // d l1 / dw = sign(w), d l2 / dw = 2 w
        let g = l1_penalty(&ps).unwrap().backward().unwrap();
        assert_eq!(g.get(&a).unwrap().to_vec_f64(), vec![1.0, -1.0, 1.0]);
        let g = l2_penalty(&ps).unwrap().backward().unwrap();
        assert_eq!(g.get(&b).unwrap().to_vec_f64(), vec![-1.0]);
        assert_eq!(l1_penalty(&[]).unwrap().item().unwrap(), 0.0);
        let i = Tensor::from_vec(vec![1i64], [1]).unwrap();
        assert!(l2_penalty(&[i])
            .unwrap_err()
            .to_string()
            .contains("parameter 0"));
        gradcheck("l1", l1_penalty, &[seeded([2, 3], 1), seeded([4], 2)]).unwrap();
        gradcheck("l2", l2_penalty, &[seeded([2, 3], 1), seeded([4], 2)]).unwrap();
    }

    #[test]
    fn select_weights_by_name() {
        let store = ParamStore::new(0);
        let pb = store.root().push("net");
        Linear::new(3, 2, true, &pb.push(0)).unwrap();
        Linear::new(2, 1, true, &pb.push(2)).unwrap();
        let w = weights_only(&store.trainable());
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].dims(), [2, 3]);
        assert_eq!(w[1].dims(), [1, 2]);
        let first = select_params(&store.trainable(), |n| n.starts_with("net.0."));
        assert_eq!(first.len(), 2);
    }

    #[test]
    fn max_norm_rescales_only_long_rows() {
        // rows: [3, 4] norm 5 -> [1.8, 2.4] (norm 3); [1, 0] norm 1 unchanged; [0, 0] unchanged
        let w = leaf(&[3.0, 4.0, 1.0, 0.0, 0.0, 0.0], &[3, 2]);
        max_norm_(&w, 3.0).unwrap();
        close_all(&w.to_vec_f64(), &[1.8, 2.4, 1.0, 0.0, 0.0, 0.0]);
        // conv weight (out=2, in=1, 2, 2): filter 0 all 2s has norm 4 -> all 1s (norm 2);
        // filter 1 all 0.5s has norm 1 -> unchanged
        let c = leaf(&[2.0, 2.0, 2.0, 2.0, 0.5, 0.5, 0.5, 0.5], &[2, 1, 2, 2]);
        max_norm_(&c, 2.0).unwrap();
        close_all(&c.to_vec_f64(), &[1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]);
        // a random Linear weight: afterwards every row norm is <= c, and rows that were over are == c
        let store = ParamStore::with_dtype(0, DType::F64);
        let l = Linear::new(10, 6, true, &store.root()).unwrap();
        let before = l.weight().norm(2.0, 1, false).unwrap().to_vec_f64();
        let c = before.iter().cloned().fold(0.0, f64::max) * 0.8;
        max_norm_(l.weight(), c).unwrap();
        let after = l.weight().norm(2.0, 1, false).unwrap().to_vec_f64();
        for (b, a) in before.iter().zip(&after) {
            let want = if *b > c { c } else { *b };
            assert!((a - want).abs() < 1e-12, "{b} -> {a}, c = {c}");
        }
        assert!(l.weight().requires_grad(), "still a trainable leaf");
        // errors
        assert!(max_norm_(&w, 0.0)
            .unwrap_err()
            .to_string()
            .contains("positive"));
        assert!(max_norm_(&leaf(&[1.0], &[1]), 1.0)
            .unwrap_err()
            .to_string()
            .contains("(out, in, ...)"));
    }

    #[test]
    fn clip_grad_norm_hand_values() {
        // gradients [3, 0] and [4]: total norm 5; clip to 1: scale 1 / (5 + 1e-6)
        let a = leaf(&[1.0, 2.0], &[2]);
        let b = leaf(&[1.0], &[1]);
        let mut g = GradStore::new();
        g.insert(&a, Tensor::from_vec(vec![3.0f64, 0.0], [2]).unwrap());
        g.insert(&b, Tensor::from_vec(vec![4.0f64], [1]).unwrap());
        let ps = [a.clone(), b.clone()];
        let n = clip_grad_norm_(&mut g, &ps, 1.0).unwrap();
        assert_eq!(n, 5.0);
        let s = 1.0 / (5.0 + 1e-6);
        close_all(&g.get(&a).unwrap().to_vec_f64(), &[3.0 * s, 0.0]);
        close_all(&g.get(&b).unwrap().to_vec_f64(), &[4.0 * s]);
        // the new total is (just under) 1
        let n2 = clip_grad_norm_(&mut g, &ps, 1.0).unwrap();
        assert!((n2 - 1.0).abs() < 1e-6);
        // under the limit: unchanged; a parameter without a gradient is skipped
        let mut g = GradStore::new();
        g.insert(&a, Tensor::from_vec(vec![0.3f64, -0.4], [2]).unwrap());
        let c = leaf(&[0.0], &[1]);
        let n3 = clip_grad_norm_(&mut g, &[a.clone(), c.clone()], 10.0).unwrap();
        assert!((n3 - 0.5).abs() < 1e-12);
        assert_eq!(g.get(&a).unwrap().to_vec_f64(), vec![0.3, -0.4]);
        assert!(g.get(&c).is_none());
        assert!(clip_grad_norm_(&mut g, &ps, -1.0).is_err());
        assert!(clip_grad_norm_(&mut g, &ps, f64::NAN).is_err());
    }

    #[test]
    fn clip_grad_value_hand_values() {
        let a = leaf(&[0.0; 4], &[2, 2]);
        let mut g = GradStore::new();
        g.insert(
            &a,
            Tensor::from_vec(vec![-3.0f64, 0.2, 0.5, 7.0], [2, 2]).unwrap(),
        );
        clip_grad_value_(&mut g, std::slice::from_ref(&a), 0.5).unwrap();
        assert_eq!(g.get(&a).unwrap().to_vec_f64(), vec![-0.5, 0.2, 0.5, 0.5]);
        assert!(clip_grad_value_(&mut g, &[a], -0.1).is_err());
    }
}
