//! Learning-rate schedulers: PyTorch's `StepLR`, `MultiStepLR`, `ExponentialLR`,
//! `CosineAnnealingLR` and `LinearLR` (as [`LinearWarmup`]), each computed in closed form from the
//! epoch counter.
//!
//! As in PyTorch, constructing a scheduler records the optimizer's current learning rate as the
//! base `lr_0` and sets the learning rate of epoch 0; each [`LrScheduler::step`] (called once per
//! epoch, after the optimizer's steps) advances the epoch and sets its learning rate.
//!
//! ```
//! use deepnet_nn::optim::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLR};
//! let mut opt = Sgd::new(SgdConfig { lr: 0.1, ..Default::default() })?;
//! let mut sched = StepLR::new(&mut opt, 2, 0.5)?;
//! let mut lrs = vec![opt.lr()];
//! for _ in 0..4 {
//!     sched.step(&mut opt);
//!     lrs.push(opt.lr());
//! }
//! assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025]);
//! # Ok::<(), deepnet_tensor::Error>(())
//! ```

use super::{invalid, Optimizer};
use deepnet_tensor::{Result, Tensor};

/// A learning-rate schedule driven by an epoch counter.
pub trait LrScheduler {
    /// Advances to the next epoch and sets the optimizer's learning rate to that epoch's.
    fn step(&mut self, opt: &mut dyn Optimizer);
    /// The learning rate of the current epoch (PyTorch `get_last_lr()`).
    fn get_lr(&self) -> f64;
    /// The current epoch: 0 after construction, +1 per [`LrScheduler::step`].
    fn last_epoch(&self) -> u64;
    /// The schedule's state: `last_epoch` and `base_lr`, as 0-d f64 tensors.
    fn state_dict(&self) -> Vec<(String, Tensor)>;
    /// Restores a state saved by [`LrScheduler::state_dict`]. The optimizer's learning rate is
    /// restored by its own `load_state_dict`.
    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()>;
}

/// The epoch counter and base learning rate every schedule keeps.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Core {
    base_lr: f64,
    last_epoch: u64,
}

impl Core {
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        vec![
            (
                "last_epoch".to_string(),
                Tensor::scalar(self.last_epoch as f64),
            ),
            ("base_lr".to_string(), Tensor::scalar(self.base_lr)),
        ]
    }

    fn load(&mut self, op: &'static str, state: &[(String, Tensor)]) -> Result<()> {
        let (mut epoch, mut base) = (None, None);
        for (k, t) in state {
            let v = t
                .item()
                .map_err(|e| invalid(op, format!("load_state_dict: \"{k}\": {e}")))?;
            match k.as_str() {
                "last_epoch" if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 => epoch = Some(v),
                "base_lr" if v >= 0.0 => base = Some(v),
                "last_epoch" | "base_lr" => {
                    return Err(invalid(op, format!("load_state_dict: bad \"{k}\" value {v}")))
                }
                _ => {
                    return Err(invalid(
                        op,
                        format!("load_state_dict: unexpected key \"{k}\" (expected \"last_epoch\" and \"base_lr\")"),
                    ))
                }
            }
        }
        match (epoch, base) {
            (Some(e), Some(b)) => {
                self.last_epoch = e as u64;
                self.base_lr = b;
                Ok(())
            }
            _ => Err(invalid(
                op,
                "load_state_dict: \"last_epoch\" and \"base_lr\" are both required",
            )),
        }
    }
}

fn finite_non_negative(op: &'static str, what: &str, v: f64) -> Result<()> {
    if v >= 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!("{what} must be finite and >= 0, got {v}"),
        ))
    }
}

macro_rules! impl_scheduler {
    ($t:ty, $op:expr) => {
        impl LrScheduler for $t {
            fn step(&mut self, opt: &mut dyn Optimizer) {
                self.core.last_epoch += 1;
                opt.set_lr(self.get_lr());
            }
            fn get_lr(&self) -> f64 {
                self.lr_at(self.core.last_epoch)
            }
            fn last_epoch(&self) -> u64 {
                self.core.last_epoch
            }
            fn state_dict(&self) -> Vec<(String, Tensor)> {
                self.core.state_dict()
            }
            fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
                self.core.load($op, state)
            }
        }
    };
}

fn start(opt: &mut dyn Optimizer) -> Core {
    Core {
        base_lr: opt.lr(),
        last_epoch: 0,
    }
}

/// `StepLR`: `lr_e = lr_0 * gamma^floor(e / step_size)`.
#[derive(Clone, Debug)]
pub struct StepLR {
    core: Core,
    step_size: u64,
    gamma: f64,
}

impl StepLR {
    /// Decays the learning rate by `gamma` every `step_size` epochs (`step_size >= 1`).
    pub fn new(opt: &mut dyn Optimizer, step_size: u64, gamma: f64) -> Result<StepLR> {
        if step_size == 0 {
            return Err(invalid("StepLR", "step_size must be at least 1"));
        }
        finite_non_negative("StepLR", "gamma", gamma)?;
        let s = StepLR {
            core: start(opt),
            step_size,
            gamma,
        };
        opt.set_lr(s.get_lr());
        Ok(s)
    }

    fn lr_at(&self, e: u64) -> f64 {
        self.core.base_lr * self.gamma.powf((e / self.step_size) as f64)
    }
}
impl_scheduler!(StepLR, "StepLR");

/// `MultiStepLR`: `lr_e = lr_0 * gamma^(number of milestones <= e)` (a milestone given twice
/// counts twice, as in PyTorch).
#[derive(Clone, Debug)]
pub struct MultiStepLR {
    core: Core,
    milestones: Vec<u64>,
    gamma: f64,
}

impl MultiStepLR {
    /// Decays the learning rate by `gamma` at each milestone epoch (in any order).
    pub fn new(opt: &mut dyn Optimizer, milestones: &[u64], gamma: f64) -> Result<MultiStepLR> {
        finite_non_negative("MultiStepLR", "gamma", gamma)?;
        let mut milestones = milestones.to_vec();
        milestones.sort_unstable();
        let s = MultiStepLR {
            core: start(opt),
            milestones,
            gamma,
        };
        opt.set_lr(s.get_lr());
        Ok(s)
    }

    fn lr_at(&self, e: u64) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= e);
        self.core.base_lr * self.gamma.powf(passed as f64)
    }
}
impl_scheduler!(MultiStepLR, "MultiStepLR");

/// `ExponentialLR`: `lr_e = lr_0 * gamma^e`.
#[derive(Clone, Debug)]
pub struct ExponentialLR {
    core: Core,
    gamma: f64,
}

impl ExponentialLR {
    /// Decays the learning rate by `gamma` every epoch.
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> Result<ExponentialLR> {
        finite_non_negative("ExponentialLR", "gamma", gamma)?;
        let s = ExponentialLR {
            core: start(opt),
            gamma,
        };
        opt.set_lr(s.get_lr());
        Ok(s)
    }

    fn lr_at(&self, e: u64) -> f64 {
        self.core.base_lr * self.gamma.powf(e as f64)
    }
}
impl_scheduler!(ExponentialLR, "ExponentialLR");

/// `CosineAnnealingLR` in closed form (SGDR without restarts):
/// `lr_e = eta_min + (lr_0 - eta_min) * (1 + cos(pi * e / T_max)) / 2`. Past `T_max` the cosine
/// goes on (the learning rate rises again), as PyTorch's does.
#[derive(Clone, Debug)]
pub struct CosineAnnealingLR {
    core: Core,
    t_max: u64,
    eta_min: f64,
}

impl CosineAnnealingLR {
    /// Anneals from the optimizer's learning rate to `eta_min` over `t_max >= 1` epochs.
    pub fn new(opt: &mut dyn Optimizer, t_max: u64, eta_min: f64) -> Result<CosineAnnealingLR> {
        if t_max == 0 {
            return Err(invalid("CosineAnnealingLR", "T_max must be at least 1"));
        }
        finite_non_negative("CosineAnnealingLR", "eta_min", eta_min)?;
        let s = CosineAnnealingLR {
            core: start(opt),
            t_max,
            eta_min,
        };
        opt.set_lr(s.get_lr());
        Ok(s)
    }

    fn lr_at(&self, e: u64) -> f64 {
        let cos = (std::f64::consts::PI * e as f64 / self.t_max as f64).cos();
        self.eta_min + (self.core.base_lr - self.eta_min) * (1.0 + cos) / 2.0
    }
}
impl_scheduler!(CosineAnnealingLR, "CosineAnnealingLR");

/// Linear warm-up, PyTorch's `LinearLR`:
/// `lr_e = lr_0 * (s + (f - s) * min(e, T) / T)` with start factor `s`, end factor `f` (1 for a
/// warm-up) and `T` total iterations; constant `lr_0 * f` from epoch `T` on.
#[derive(Clone, Debug)]
pub struct LinearWarmup {
    core: Core,
    start_factor: f64,
    end_factor: f64,
    total_iters: u64,
}

impl LinearWarmup {
    /// Ramps the learning rate from `start_factor * lr_0` up to `lr_0` over `warmup_iters`
    /// epochs (`0 < start_factor <= 1`, `warmup_iters >= 1`).
    pub fn new(
        opt: &mut dyn Optimizer,
        start_factor: f64,
        warmup_iters: u64,
    ) -> Result<LinearWarmup> {
        Self::linear_lr(opt, start_factor, 1.0, warmup_iters)
    }

    /// PyTorch's general `LinearLR(start_factor, end_factor, total_iters)`:
    /// `0 < start_factor <= 1`, `0 <= end_factor <= 1`, `total_iters >= 1`.
    pub fn linear_lr(
        opt: &mut dyn Optimizer,
        start_factor: f64,
        end_factor: f64,
        total_iters: u64,
    ) -> Result<LinearWarmup> {
        let op = "LinearLR";
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(invalid(
                op,
                format!("starting multiplicative factor expected to be greater than 0 and less or equal to 1, got {start_factor}"),
            ));
        }
        if !(0.0..=1.0).contains(&end_factor) {
            return Err(invalid(
                op,
                format!(
                    "ending multiplicative factor expected to be between 0 and 1, got {end_factor}"
                ),
            ));
        }
        if total_iters == 0 {
            return Err(invalid(op, "total_iters must be at least 1"));
        }
        let s = LinearWarmup {
            core: start(opt),
            start_factor,
            end_factor,
            total_iters,
        };
        opt.set_lr(s.get_lr());
        Ok(s)
    }

    fn lr_at(&self, e: u64) -> f64 {
        let frac = e.min(self.total_iters) as f64 / self.total_iters as f64;
        self.core.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)
    }
}
impl_scheduler!(LinearWarmup, "LinearLR");

#[cfg(test)]
mod tests {
    use super::super::{Sgd, SgdConfig};
    use super::*;

    fn sgd(lr: f64) -> Sgd {
        Sgd::new(SgdConfig {
            lr,
            ..Default::default()
        })
        .unwrap()
    }

    fn run(s: &mut dyn LrScheduler, opt: &mut dyn Optimizer, n: usize) -> Vec<f64> {
        let mut v = vec![opt.lr()];
        for _ in 0..n {
            s.step(opt);
            assert_eq!(opt.lr(), s.get_lr());
            v.push(opt.lr());
        }
        v
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-15, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn schedules() {
        let mut o = sgd(1.0);
        let mut s = MultiStepLR::new(&mut o, &[3, 1, 3], 0.5).unwrap();
        close(&run(&mut s, &mut o, 4), &[1.0, 0.5, 0.5, 0.125, 0.125]);

        let mut o = sgd(2.0);
        let mut s = ExponentialLR::new(&mut o, 0.5).unwrap();
        close(&run(&mut s, &mut o, 3), &[2.0, 1.0, 0.5, 0.25]);

        let mut o = sgd(1.0);
        let mut s = CosineAnnealingLR::new(&mut o, 2, 0.0).unwrap();
        close(&run(&mut s, &mut o, 4), &[1.0, 0.5, 0.0, 0.5, 1.0]);

        let mut o = sgd(1.0);
        let mut s = LinearWarmup::new(&mut o, 0.25, 3).unwrap();
        close(&run(&mut s, &mut o, 4), &[0.25, 0.5, 0.75, 1.0, 1.0]);
    }

    #[test]
    fn argument_validation() {
        let mut o = sgd(0.1);
        let e = StepLR::new(&mut o, 0, 0.1).unwrap_err().to_string();
        assert!(e.contains("step_size"), "{e}");
        assert!(StepLR::new(&mut o, 1, f64::NAN).is_err());
        assert!(MultiStepLR::new(&mut o, &[1], -0.5).is_err());
        assert!(ExponentialLR::new(&mut o, f64::INFINITY).is_err());
        assert!(CosineAnnealingLR::new(&mut o, 0, 0.0).is_err());
        assert!(CosineAnnealingLR::new(&mut o, 5, -1.0).is_err());
        let e = LinearWarmup::new(&mut o, 0.0, 5).unwrap_err().to_string();
        assert!(e.contains("starting multiplicative factor"), "{e}");
        assert!(LinearWarmup::new(&mut o, 1.5, 5).is_err());
        assert!(LinearWarmup::linear_lr(&mut o, 0.5, 1.5, 5).is_err());
        assert!(LinearWarmup::new(&mut o, 0.5, 0).is_err());
        assert_eq!(o.lr(), 0.1, "failed constructions leave the lr alone");
    }

    #[test]
    fn state_round_trip_resumes() {
        let mut o = sgd(0.3);
        let mut s = StepLR::new(&mut o, 3, 0.1).unwrap();
        let straight = run(&mut s, &mut o, 10);

        let mut o1 = sgd(0.3);
        let mut s1 = StepLR::new(&mut o1, 3, 0.1).unwrap();
        let first = run(&mut s1, &mut o1, 5);
        let (ss, os) = (s1.state_dict(), o1.state_dict());
        assert_eq!(s1.last_epoch(), 5);

        let mut o2 = sgd(0.3);
        let mut s2 = StepLR::new(&mut o2, 3, 0.1).unwrap();
        s2.load_state_dict(&ss).unwrap();
        o2.load_state_dict(&os).unwrap();
        assert_eq!(s2.last_epoch(), 5);
        let rest = run(&mut s2, &mut o2, 5);
        let mut joined = first;
        joined.extend_from_slice(&rest[1..]);
        assert_eq!(joined, straight);

        let e = s2
            .load_state_dict(&[("epoch".to_string(), Tensor::scalar(1.0f64))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unexpected key \"epoch\""), "{e}");
        assert!(s2.load_state_dict(&ss[..1]).is_err());
        assert_eq!(s2.last_epoch(), 10, "failed loads change nothing");
    }
}
