//! Per-parameter learning rates: PyTorch's parameter groups, for the case fine-tuning needs (a
//! pretrained backbone at a fraction of the head's learning rate).
//!
//! [`ParamGroups`] wraps any [`Optimizer`]. Each group names its parameters and carries a
//! learning-rate scale; parameters in no group have scale 1. At every step each group is updated
//! by the wrapped optimizer at `lr * scale`, which is what `torch.optim` does with
//! `[{"params": head}, {"params": backbone, "lr": lr * scale}]`: the update formulas are
//! unchanged (momentum buffers and Adam's moments do not depend on the learning rate), and a
//! schedule that multiplies the base rate (step, cosine to 0, exponential) moves every group's
//! rate by the same factor, as PyTorch's schedulers do per group.
//!
//! The state dict is the wrapped optimizer's, unchanged: `lr` holds the base rate and the
//! per-parameter state is keyed by name as before, so checkpoints of a run with and without
//! groups load into each other. The scales themselves are configuration (the caller rebuilds
//! them, e.g. from `--backbone-lr-scale`), not state.
//!
//! ```
//! use deepnet_nn::optim::{Optimizer, ParamGroups, Sgd, SgdConfig};
//! use deepnet_tensor::Tensor;
//! let head = Tensor::from_vec(vec![1.0f64], [1])?.requires_grad_(true)?;
//! let body = Tensor::from_vec(vec![1.0f64], [1])?.requires_grad_(true)?;
//! let params = vec![("head".to_string(), head.clone()), ("body".to_string(), body.clone())];
//! let sgd = Sgd::new(SgdConfig { lr: 0.5, ..Default::default() })?;
//! let mut opt = ParamGroups::new(Box::new(sgd)).group(["body".to_string()], 0.25)?;
//! let grads = head.add(&body)?.sum_all()?.backward()?;
//! opt.step(&params, &grads)?;
//! assert_eq!(head.to_vec::<f64>()?, [0.5]); // 1 - 0.5
//! assert_eq!(body.to_vec::<f64>()?, [0.875]); // 1 - 0.5 * 0.25
//! # Ok::<(), deepnet_tensor::Error>(())
//! ```

use super::{invalid, Optimizer};
use deepnet_tensor::{GradStore, Result, Tensor};
use std::collections::HashMap;

const OP: &str = "ParamGroups";

/// An optimizer whose named parameter groups step at scaled learning rates (see the module
/// docs).
pub struct ParamGroups {
    inner: Box<dyn Optimizer>,
    /// the scale of each grouped parameter, by name
    scale: HashMap<String, f64>,
    /// the distinct scales in the order their groups were added (the update order)
    order: Vec<f64>,
}

impl ParamGroups {
    /// `inner` with every parameter at scale 1 (until groups are added).
    pub fn new(inner: Box<dyn Optimizer>) -> Self {
        ParamGroups {
            inner,
            scale: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// Adds a group: the parameters `names` step at `lr * lr_scale`. The scale must be finite
    /// and >= 0 (as PyTorch's per-group `lr`); a name already in a group is an error.
    pub fn group(mut self, names: impl IntoIterator<Item = String>, lr_scale: f64) -> Result<Self> {
        if !(lr_scale >= 0.0 && lr_scale.is_finite()) {
            return Err(invalid(
                OP,
                format!("invalid learning-rate scale: {lr_scale} (must be finite and >= 0)"),
            ));
        }
        for n in names {
            if self.scale.contains_key(&n) {
                return Err(invalid(
                    OP,
                    format!("parameter \"{n}\" is already in a group"),
                ));
            }
            self.scale.insert(n, lr_scale);
        }
        if !self.order.contains(&lr_scale) {
            self.order.push(lr_scale);
        }
        Ok(self)
    }

    /// The learning-rate scale of parameter `name` (1 when it is in no group).
    pub fn lr_scale(&self, name: &str) -> f64 {
        self.scale.get(name).copied().unwrap_or(1.0)
    }

    /// The learning rate parameter `name` steps at now.
    pub fn param_lr(&self, name: &str) -> f64 {
        self.inner.lr() * self.lr_scale(name)
    }
}

impl Optimizer for ParamGroups {
    /// Steps the ungrouped parameters (scale 1) at `lr`, then each group at `lr * scale`, with
    /// the wrapped optimizer; its learning rate is back at `lr` afterwards, also on error.
    fn step(&mut self, params: &[(String, Tensor)], grads: &GradStore) -> Result<()> {
        let base = self.inner.lr();
        let scales = std::iter::once(1.0).chain(self.order.iter().copied().filter(|&s| s != 1.0));
        let mut result = Ok(());
        for s in scales {
            let subset: Vec<(String, Tensor)> = params
                .iter()
                .filter(|(n, _)| self.lr_scale(n) == s)
                .cloned()
                .collect();
            if subset.is_empty() {
                continue;
            }
            self.inner.set_lr(base * s);
            result = self.inner.step(&subset, grads);
            if result.is_err() {
                break;
            }
        }
        self.inner.set_lr(base);
        result
    }

    fn lr(&self) -> f64 {
        self.inner.lr()
    }

    fn set_lr(&mut self, lr: f64) {
        self.inner.set_lr(lr)
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.inner.state_dict()
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.inner.load_state_dict(state)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Adam, AdamConfig, Sgd, SgdConfig};
    use super::*;

    fn sgd(lr: f64, momentum: f64) -> Box<dyn Optimizer> {
        Box::new(
            Sgd::new(SgdConfig {
                lr,
                momentum,
                ..Default::default()
            })
            .unwrap(),
        )
    }

    /// The gradients of the shared test problem at the parameters' current values, flattened
    /// (weight then bias).
    fn grads_of(ps: &[(String, Tensor)]) -> Vec<f64> {
        let grads = loss(ps).unwrap().backward().unwrap();
        ps.iter()
            .flat_map(|(_, t)| grads.get(t).unwrap().to_vec::<f64>().unwrap())
            .collect()
    }

    #[test]
    fn the_head_moves_at_lr_and_the_backbone_at_lr_times_the_scale() {
        // lr 0.5 and scale 0.25 are powers of two: the expected values are exact
        let ps = params();
        let mut opt = ParamGroups::new(sgd(0.5, 0.0))
            .group(["lin.weight".to_string()], 0.25)
            .unwrap();
        let before = values(&ps);
        let g = grads_of(&ps);
        let grads = loss(&ps).unwrap().backward().unwrap();
        opt.step(&ps, &grads).unwrap();
        let after = values(&ps);
        // lin.weight: 6 elements at 0.5 * 0.25 = 0.125; lin.bias: 2 at 0.5
        for i in 0..8 {
            let lr = if i < 6 { 0.125 } else { 0.5 };
            assert_eq!(after[i], before[i] - lr * g[i], "element {i}");
        }
        assert_eq!(opt.lr(), 0.5, "the base rate is restored after the step");
        assert_eq!(opt.param_lr("lin.weight"), 0.125);
        assert_eq!(opt.param_lr("lin.bias"), 0.5);
    }

    #[test]
    fn momentum_buffers_are_not_scaled_and_set_lr_moves_every_group() {
        // two steps of SGD with momentum 0.5, the base rate halved in between (a schedule):
        // p2 = p1 - lr2 * s * (0.5 * g1 + g2), exactly as PyTorch's groups would do it
        let ps = params();
        let mut opt = ParamGroups::new(sgd(0.5, 0.5))
            .group(["lin.bias".to_string()], 0.5)
            .unwrap();
        let p0 = values(&ps);
        let g1 = grads_of(&ps);
        opt.step(&ps, &loss(&ps).unwrap().backward().unwrap())
            .unwrap();
        let p1 = values(&ps);
        opt.set_lr(0.25);
        let g2 = grads_of(&ps);
        opt.step(&ps, &loss(&ps).unwrap().backward().unwrap())
            .unwrap();
        let p2 = values(&ps);
        for i in 0..8 {
            let s = if i < 6 { 1.0 } else { 0.5 };
            assert_eq!(p1[i], p0[i] - 0.5 * s * g1[i], "step 1, element {i}");
            let buf = 0.5 * g1[i] + g2[i];
            assert_eq!(p2[i], p1[i] - 0.25 * s * buf, "step 2, element {i}");
        }
    }

    #[test]
    fn the_state_dict_is_the_wrapped_optimizers_and_resumes_exactly() {
        let make = || -> Box<dyn Optimizer> {
            let adam = Adam::new(AdamConfig {
                lr: 0.01,
                ..Default::default()
            })
            .unwrap();
            Box::new(
                ParamGroups::new(Box::new(adam))
                    .group(["lin.weight".to_string()], 0.1)
                    .unwrap(),
            )
        };
        check_resume(&make);
        // same keys as the plain optimizer: checkpoints load across
        let (a, b) = (params(), params());
        let mut grouped = make();
        run(grouped.as_mut(), &a, 2).unwrap();
        let mut plain = Adam::new(AdamConfig {
            lr: 0.01,
            ..Default::default()
        })
        .unwrap();
        run(&mut plain, &b, 2).unwrap();
        let keys = |s: Vec<(String, Tensor)>| s.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        let mut gk = keys(grouped.state_dict());
        let mut pk = keys(plain.state_dict());
        gk.sort();
        pk.sort();
        assert_eq!(gk, pk);
        plain.load_state_dict(&grouped.state_dict()).unwrap();
        // and the backbone really moved less than with the plain optimizer
        assert_ne!(values(&a), values(&b));
    }

    #[test]
    fn bad_scales_and_duplicate_names_are_errors() {
        for s in [-0.1, f64::NAN, f64::INFINITY] {
            let e = ParamGroups::new(sgd(0.1, 0.0))
                .group(["w".to_string()], s)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("ParamGroups") && e.contains("scale"), "{e}");
        }
        let e = ParamGroups::new(sgd(0.1, 0.0))
            .group(["w".to_string()], 0.5)
            .unwrap()
            .group(["w".to_string()], 0.1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("\"w\" is already in a group"), "{e}");
    }
}
