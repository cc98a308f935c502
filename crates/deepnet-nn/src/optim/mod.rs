//! Optimizers and learning-rate schedulers, following `torch.optim` formula for formula.
//!
//! An optimizer is handed the named trainable parameters (`ParamStore::trainable()`) and the
//! gradients of one backward pass at every [`Optimizer::step`]. It updates the parameters in place
//! (under [`no_grad`](deepnet_tensor::no_grad), with [`Tensor::assign_`]) and keeps its state keyed
//! by the parameter names, so that [`Optimizer::state_dict`] can go into a checkpoint beside the
//! model's `state_dict` and training resumes exactly after [`Optimizer::load_state_dict`].
//!
//! ```
//! use deepnet_nn::optim::{Optimizer, Sgd, SgdConfig};
//! use deepnet_tensor::Tensor;
//! let w = Tensor::from_vec(vec![1.0f64, -2.0], [2])?.requires_grad_(true)?;
//! let params = vec![("w".to_string(), w.clone())];
//! let mut opt = Sgd::new(SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })?;
//! for _ in 0..3 {
//!     let loss = w.square()?.sum_all()?;
//!     let grads = loss.backward()?;
//!     opt.step(&params, &grads)?;
//! }
//! assert!(w.to_vec::<f64>()?[0].abs() < 1.0);
//! # Ok::<(), deepnet_tensor::Error>(())
//! ```
//!
//! State dict keys are `<parameter name>.<state name>` with PyTorch's state names
//! (`layers.0.weight.momentum_buffer`, `layers.0.weight.exp_avg`, `layers.0.weight.exp_avg_sq`,
//! `layers.0.weight.step`, ...) plus `lr`, the current learning rate (which schedulers change).
//! Step counters are kept per parameter, as in PyTorch, and saved as 0-d f64 tensors.

mod adagrad;
mod adam;
mod groups;
mod rmsprop;
mod scheduler;
mod sgd;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW};
pub use groups::ParamGroups;
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use scheduler::{
    CosineAnnealingLR, ExponentialLR, LinearWarmup, LrScheduler, MultiStepLR, StepLR,
};
pub use sgd::{Sgd, SgdConfig};

use deepnet_tensor::{Error, GradStore, Result, Tensor};
use std::collections::HashMap;

/// The `lr`, `set_lr`, `state_dict` and `load_state_dict` methods of an optimizer whose settings
/// live in `self.cfg` (with an `lr` field) and whose per-parameter state is `self.state`
/// (a `StateMap`); `$op` names the optimizer in errors.
macro_rules! lr_and_state_methods {
    ($op:expr) => {
        fn lr(&self) -> f64 {
            self.cfg.lr
        }

        fn set_lr(&mut self, lr: f64) {
            self.cfg.lr = lr;
        }

        fn state_dict(&self) -> Vec<(String, Tensor)> {
            save_state(self.cfg.lr, &self.state)
        }

        fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
            let (lr, states) = load_state($op, state)?;
            if let Some(lr) = lr {
                self.cfg.lr = lr;
            }
            self.state = states;
            Ok(())
        }
    };
}
pub(crate) use lr_and_state_methods;

/// An optimizer: updates named parameters in place from their gradients.
pub trait Optimizer {
    /// Applies one update to every parameter that has a gradient in `grads`; parameters without
    /// one are skipped (as PyTorch skips `p.grad is None`) and get no state. `params` is usually
    /// `ParamStore::trainable()`; its names key the optimizer state.
    fn step(&mut self, params: &[(String, Tensor)], grads: &GradStore) -> Result<()>;
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (what schedulers call).
    fn set_lr(&mut self, lr: f64);
    /// The optimizer state: `lr` and, for every parameter that has state,
    /// `<name>.<state name>` tensors. The tensors are snapshots: later steps do not change them.
    fn state_dict(&self) -> Vec<(String, Tensor)>;
    /// Replaces the state with one saved by [`Optimizer::state_dict`] of an optimizer of the same
    /// kind and configuration. Unknown keys, missing entries and malformed step counters are
    /// errors; on error nothing is changed. Shapes are checked against the parameters at the next
    /// step.
    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()>;
}

/// The error of a bad optimizer or scheduler argument.
pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Error {
    Error::InvalidArgument {
        op,
        msg: msg.into(),
    }
}

/// Checks `0 <= value` (and that it is not NaN), as PyTorch's constructors do.
pub(crate) fn non_negative(op: &'static str, what: &str, value: f64) -> Result<()> {
    if value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!("invalid {what}: {value} (must be >= 0)"),
        ))
    }
}

/// Per-parameter state, in the order parameters first got state, keyed by parameter name.
#[derive(Clone)]
pub(crate) struct StateMap<S> {
    entries: Vec<(String, S)>,
    index: HashMap<String, usize>,
}

impl<S> Default for StateMap<S> {
    fn default() -> Self {
        StateMap {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<S> StateMap<S> {
    pub(crate) fn get(&self, name: &str) -> Option<&S> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }

    pub(crate) fn insert(&mut self, name: &str, s: S) {
        match self.index.get(name) {
            Some(&i) => self.entries[i].1 = s,
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries.push((name.to_string(), s));
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The state one optimizer keeps for one parameter, convertible to and from named tensors.
pub(crate) trait ParamState: Sized {
    /// The state names this optimizer may save (the key suffixes).
    const KEYS: &'static [&'static str];
    /// The state as `(state name, tensor)` pairs.
    fn entries(&self) -> Vec<(&'static str, Tensor)>;
    /// The state of parameter `param` from its saved entries (each name at most once).
    fn from_entries(param: &str, entries: &Entries) -> Result<Self>;
}

/// The saved state entries of one parameter.
pub(crate) struct Entries<'a> {
    op: &'static str,
    param: &'a str,
    map: HashMap<&'a str, &'a Tensor>,
}

impl Entries<'_> {
    /// The entry `key`, which must be present.
    pub(crate) fn require(&self, key: &str) -> Result<Tensor> {
        self.get(key).ok_or_else(|| {
            invalid(
                self.op,
                format!(
                    "load_state_dict: \"{}.{key}\" is missing (the state of \"{}\" has {:?})",
                    self.param,
                    self.param,
                    self.map.keys().collect::<Vec<_>>()
                ),
            )
        })
    }

    /// The entry `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<Tensor> {
        // a copy: the optimizer updates its state in place, the caller's tensors must not change
        self.map
            .get(key)
            .map(|t| t.copy().unwrap_or_else(|_| (*t).clone()))
    }

    /// The step counter saved under `step`: a one-element tensor holding a non-negative integer.
    pub(crate) fn step(&self) -> Result<u64> {
        let t = self.require("step")?;
        let v = t.item().map_err(|e| {
            invalid(
                self.op,
                format!("load_state_dict: \"{}.step\": {e}", self.param),
            )
        })?;
        if !(v >= 0.0 && v.fract() == 0.0 && v < 9.0e15) {
            return Err(invalid(
                self.op,
                format!(
                    "load_state_dict: \"{}.step\" must hold a non-negative integer, got {v}",
                    self.param
                ),
            ));
        }
        Ok(v as u64)
    }
}

/// A step counter as a saved tensor (0-d f64, as PyTorch keeps `state["step"]`).
pub(crate) fn step_tensor(step: u64) -> Tensor {
    Tensor::scalar(step as f64)
}

/// The state dict of an optimizer: `lr`, then each parameter's entries.
pub(crate) fn save_state<S: ParamState>(lr: f64, states: &StateMap<S>) -> Vec<(String, Tensor)> {
    let mut out = vec![("lr".to_string(), Tensor::scalar(lr))];
    for (name, s) in &states.entries {
        for (key, t) in s.entries() {
            // a copy: optimizers update their buffers in place, a saved state must not move
            let t = t.copy().unwrap_or(t);
            out.push((format!("{name}.{key}"), t));
        }
    }
    out
}

/// Parses a state dict saved by [`save_state`]: the learning rate (if saved) and the
/// per-parameter states. Nothing is changed by the caller unless this succeeds.
pub(crate) fn load_state<S: ParamState>(
    op: &'static str,
    state: &[(String, Tensor)],
) -> Result<(Option<f64>, StateMap<S>)> {
    let mut lr = None;
    let mut groups: Vec<(&str, HashMap<&str, &Tensor>)> = Vec::new();
    let mut group_index: HashMap<&str, usize> = HashMap::new();
    for (key, t) in state {
        if key == "lr" {
            let v = t
                .item()
                .map_err(|e| invalid(op, format!("load_state_dict: \"lr\": {e}")))?;
            non_negative(op, "learning rate in the state dict", v)?;
            lr = Some(v);
            continue;
        }
        let parsed = key
            .rsplit_once('.')
            .filter(|(p, s)| !p.is_empty() && S::KEYS.contains(s));
        let Some((param, suffix)) = parsed else {
            return Err(invalid(
                op,
                format!(
                    "load_state_dict: unexpected key \"{key}\" (expected \"lr\" or \"<parameter>.<state>\" with state one of {:?})",
                    S::KEYS
                ),
            ));
        };
        let gi = *group_index.entry(param).or_insert_with(|| {
            groups.push((param, HashMap::new()));
            groups.len() - 1
        });
        if groups[gi].1.insert(suffix, t).is_some() {
            return Err(invalid(
                op,
                format!("load_state_dict: key \"{key}\" appears more than once"),
            ));
        }
    }
    let mut states = StateMap::default();
    for (param, map) in groups {
        let entries = Entries { op, param, map };
        states.insert(param, S::from_entries(param, &entries)?);
    }
    Ok((lr, states))
}

/// A state tensor ready to combine with parameter `p`: checked for `p`'s shape and cast to its
/// dtype (a checkpoint saved in another precision still loads).
pub(crate) fn match_param(
    op: &'static str,
    name: &str,
    key: &str,
    t: &Tensor,
    p: &Tensor,
) -> Result<Tensor> {
    if t.shape() != p.shape() {
        return Err(invalid(
            op,
            format!(
                "state \"{name}.{key}\" has shape {} but parameter \"{name}\" has shape {}",
                t.shape(),
                p.shape()
            ),
        ));
    }
    if t.dtype() != p.dtype() {
        t.to_dtype(p.dtype())
    } else {
        Ok(t.clone())
    }
}

/// The gradient PyTorch's optimizers start from: `-g` when maximizing, else `g`.
/// `update(name, param, grad)` under `no_grad` for every parameter that has a gradient (the
/// others are skipped, as in PyTorch).
pub(crate) fn update_each(
    params: &[(String, Tensor)],
    grads: &GradStore,
    mut update: impl FnMut(&str, &Tensor, &Tensor) -> Result<()>,
) -> Result<()> {
    let _g = deepnet_tensor::no_grad();
    for (name, p) in params {
        if let Some(g) = grads.get(p) {
            update(name, p, g)?;
        }
    }
    Ok(())
}

pub(crate) fn signed_grad(g: &Tensor, maximize: bool) -> Result<Tensor> {
    if maximize {
        g.neg()
    } else {
        Ok(g.clone())
    }
}

/// Checks that a parameter can be updated by an optimizer (a float tensor).
pub(crate) fn check_param(op: &'static str, name: &str, p: &Tensor) -> Result<()> {
    if p.dtype().is_float() {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!(
                "parameter \"{name}\" has dtype {}; only float parameters can be optimized",
                p.dtype()
            ),
        ))
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! A small fixed problem shared by the optimizers' unit tests.
    use super::Optimizer;
    use deepnet_tensor::{no_grad, Result, Tensor};

    /// Parameters `w` (2x3) and `b` (2) with fixed values.
    pub fn params() -> Vec<(String, Tensor)> {
        let w = Tensor::from_vec(vec![0.3f64, -0.2, 0.5, 0.1, 0.4, -0.6], [2, 3])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let b = Tensor::from_vec(vec![0.05f64, -0.1], [2])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        vec![("lin.weight".into(), w), ("lin.bias".into(), b)]
    }

    /// `mean((x @ w.T + b - y)^2)` on fixed data.
    pub fn loss(params: &[(String, Tensor)]) -> Result<Tensor> {
        let x = Tensor::from_vec(
            vec![
                1.0f64, 0.5, -1.0, 0.2, -0.3, 0.8, -0.7, 1.2, 0.1, 0.9, -0.4, -0.5,
            ],
            [4, 3],
        )?;
        let y = Tensor::from_vec(vec![0.5f64, -0.5, 1.0, 0.0, -1.0, 0.3, 0.2, 0.7], [4, 2])?;
        let (w, b) = (&params[0].1, &params[1].1);
        x.matmul(&w.t()?)?.add(b)?.sub(&y)?.square()?.mean_all()
    }

    /// Runs `n` steps.
    pub fn run(opt: &mut dyn Optimizer, params: &[(String, Tensor)], n: usize) -> Result<()> {
        for _ in 0..n {
            let grads = loss(params)?.backward()?;
            opt.step(params, &grads)?;
        }
        Ok(())
    }

    /// The parameter values, flattened.
    pub fn values(params: &[(String, Tensor)]) -> Vec<f64> {
        params
            .iter()
            .flat_map(|(_, t)| t.to_vec::<f64>().unwrap())
            .collect()
    }

    /// 10 steps, save, load into a fresh optimizer built by `make`, 10 more steps: must equal 20
    /// straight steps bit for bit. Also checks that the saved state is a snapshot, and that
    /// restarting without the state gives another result (so `make` must build a stateful
    /// optimizer).
    pub fn check_resume(make: &dyn Fn() -> Box<dyn Optimizer>) {
        let straight = params();
        let mut opt = make();
        run(opt.as_mut(), &straight, 20).unwrap();

        let resumed = params();
        let mut first = make();
        run(first.as_mut(), &resumed, 10).unwrap();
        let saved = first.state_dict();
        let before: Vec<Vec<f64>> = saved.iter().map(|(_, t)| t.to_vec_f64()).collect();
        // the original optimizer going on must not change the snapshot
        let scratch = params();
        {
            let _g = no_grad();
            for ((_, s), (_, r)) in scratch.iter().zip(&resumed) {
                s.assign_(r).unwrap();
            }
        }
        run(first.as_mut(), &scratch, 3).unwrap();
        let after: Vec<Vec<f64>> = saved.iter().map(|(_, t)| t.to_vec_f64()).collect();
        assert_eq!(before, after, "state_dict must be a snapshot");

        let mut second = make();
        second.load_state_dict(&saved).unwrap();
        assert_eq!(
            second
                .state_dict()
                .iter()
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>(),
            saved.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
        );
        run(second.as_mut(), &resumed, 10).unwrap();
        assert_eq!(values(&resumed), values(&straight));

        // without the state, the run differs (the test is not vacuous)
        let fresh = params();
        let mut a = make();
        run(a.as_mut(), &fresh, 10).unwrap();
        let mut b = make();
        run(b.as_mut(), &fresh, 10).unwrap();
        assert_ne!(values(&fresh), values(&straight));
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use deepnet_tensor::DType;

    #[test]
    fn params_without_grad_are_skipped() {
        let ps = params();
        let frozen = Tensor::from_vec(vec![1.0f64, 2.0], [2])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let mut all = ps.clone();
        all.push(("frozen".into(), frozen.clone()));
        let mut opts: Vec<Box<dyn Optimizer>> = vec![
            Box::new(
                Sgd::new(SgdConfig {
                    lr: 0.1,
                    momentum: 0.9,
                    ..Default::default()
                })
                .unwrap(),
            ),
            Box::new(Adam::new(AdamConfig::default()).unwrap()),
            Box::new(AdamW::new(AdamConfig::adamw()).unwrap()),
            Box::new(RmsProp::new(RmsPropConfig::default()).unwrap()),
            Box::new(Adagrad::new(AdagradConfig::default()).unwrap()),
        ];
        for opt in &mut opts {
            let grads = loss(&ps).unwrap().backward().unwrap();
            assert!(grads.get(&frozen).is_none());
            let w0 = values(&ps);
            opt.step(&all, &grads).unwrap();
            assert_eq!(frozen.to_vec::<f64>().unwrap(), vec![1.0, 2.0]);
            assert_ne!(values(&ps), w0);
            assert!(opt
                .state_dict()
                .iter()
                .all(|(k, _)| !k.starts_with("frozen")));
        }
    }

    #[test]
    fn load_state_dict_errors() {
        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        let ps = params();
        run(&mut opt, &ps, 2).unwrap();
        let sd = opt.state_dict();
        assert_eq!(sd[0].0, "lr");
        assert!(sd.iter().any(|(k, _)| k == "lin.weight.exp_avg_sq"));

        let mut bad = sd.clone();
        bad.push(("lin.weight.momentum_buffer".into(), Tensor::scalar(0.0f64)));
        let e = opt.load_state_dict(&bad).unwrap_err().to_string();
        assert!(
            e.contains("unexpected key \"lin.weight.momentum_buffer\""),
            "{e}"
        );

        let missing: Vec<_> = sd
            .iter()
            .filter(|(k, _)| k != "lin.bias.exp_avg")
            .cloned()
            .collect();
        let e = opt.load_state_dict(&missing).unwrap_err().to_string();
        assert!(e.contains("\"lin.bias.exp_avg\" is missing"), "{e}");

        let mut frac = sd.clone();
        for (k, t) in &mut frac {
            if k == "lin.weight.step" {
                *t = Tensor::scalar(1.5f64);
            }
        }
        let e = opt.load_state_dict(&frac).unwrap_err().to_string();
        assert!(e.contains("non-negative integer"), "{e}");

        let mut dup = sd.clone();
        dup.push(sd[1].clone());
        assert!(opt.load_state_dict(&dup).is_err());

        // failed loads changed nothing; a wrong shape is caught at the next step
        assert_eq!(opt.state_dict().len(), sd.len());
        let mut shaped = sd.clone();
        for (k, t) in &mut shaped {
            if k == "lin.bias.exp_avg" {
                *t = Tensor::zeros([3], DType::F64).unwrap();
            }
        }
        opt.load_state_dict(&shaped).unwrap();
        let e = run(&mut opt, &ps, 1).unwrap_err().to_string();
        assert!(
            e.contains(
                "\"lin.bias.exp_avg\" has shape [3] but parameter \"lin.bias\" has shape [2]"
            ),
            "{e}"
        );
    }

    #[test]
    fn non_float_params_are_errors() {
        let p = Tensor::from_vec(vec![1i64, 2], [2]).unwrap();
        let e = check_param("SGD", "idx", &p).unwrap_err().to_string();
        assert!(e.contains("only float parameters"), "{e}");
    }
}
