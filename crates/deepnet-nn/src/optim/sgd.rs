//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and coupled weight
//! decay: PyTorch's `torch.optim.SGD`.

use super::{
    check_param, invalid, load_state, match_param, non_negative, save_state, signed_grad, Entries,
    Optimizer, ParamState, StateMap,
};
use deepnet_tensor::{no_grad, GradStore, Result, Tensor};

/// The hyperparameters of [`Sgd`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// learning rate `lr` (default 1e-3)
    pub lr: f64,
    /// momentum factor `mu` (default 0)
    pub momentum: f64,
    /// dampening `tau` of the momentum (default 0)
    pub dampening: f64,
    /// coupled (L2) weight decay `lambda` (default 0)
    pub weight_decay: f64,
    /// Nesterov momentum (default false; needs `momentum > 0` and `dampening == 0`)
    pub nesterov: bool,
    /// maximize the objective instead of minimizing it (default false)
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

/// `torch.optim.SGD`. For each parameter `p` with gradient `g`, at step `t`:
///
/// ```text
/// g <- -g                                  if maximize
/// g <- g + lambda * p                      if weight_decay != 0
/// if momentum != 0:
///     b <- g                               at the first step (no dampening)
///     b <- mu * b + (1 - tau) * g          afterwards
///     g <- g + mu * b                      if nesterov
///     g <- b                               otherwise
/// p <- p - lr * g
/// ```
///
/// State: `<param>.momentum_buffer` (only with momentum).
#[derive(Clone)]
pub struct Sgd {
    cfg: SgdConfig,
    state: StateMap<SgdState>,
}

#[derive(Clone)]
struct SgdState {
    momentum_buffer: Tensor,
}

impl ParamState for SgdState {
    const KEYS: &'static [&'static str] = &["momentum_buffer"];
    fn entries(&self) -> Vec<(&'static str, Tensor)> {
        vec![("momentum_buffer", self.momentum_buffer.clone())]
    }
    fn from_entries(_param: &str, e: &Entries) -> Result<Self> {
        Ok(SgdState {
            momentum_buffer: e.require("momentum_buffer")?,
        })
    }
}

const OP: &str = "SGD";

impl Sgd {
    /// An SGD optimizer; the arguments are validated as PyTorch does (`lr`, `momentum` and
    /// `weight_decay` must be >= 0, Nesterov needs `momentum > 0` and `dampening == 0`).
    pub fn new(cfg: SgdConfig) -> Result<Sgd> {
        non_negative(OP, "learning rate", cfg.lr)?;
        non_negative(OP, "momentum value", cfg.momentum)?;
        non_negative(OP, "weight_decay value", cfg.weight_decay)?;
        if !cfg.dampening.is_finite() {
            return Err(invalid(
                OP,
                format!("invalid dampening value: {}", cfg.dampening),
            ));
        }
        if cfg.nesterov && (cfg.momentum <= 0.0 || cfg.dampening != 0.0) {
            return Err(invalid(
                OP,
                format!(
                    "Nesterov momentum requires a momentum and zero dampening (got momentum {}, dampening {})",
                    cfg.momentum, cfg.dampening
                ),
            ));
        }
        Ok(Sgd {
            cfg,
            state: StateMap::default(),
        })
    }

    /// The hyperparameters (with the current learning rate).
    pub fn config(&self) -> &SgdConfig {
        &self.cfg
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &[(String, Tensor)], grads: &GradStore) -> Result<()> {
        let _g = no_grad();
        let c = self.cfg;
        for (name, p) in params {
            let Some(grad) = grads.get(p) else { continue };
            check_param(OP, name, p)?;
            let mut g = signed_grad(grad, c.maximize)?;
            if c.weight_decay != 0.0 {
                g = g.add(&p.mul_scalar(c.weight_decay)?)?;
            }
            if c.momentum != 0.0 {
                // the buffer is updated in place (one fused pass): buf = mu * buf + (1 - tau) * g
                let buf = match self.state.get(name) {
                    None => {
                        let b = g.copy()?;
                        self.state.insert(
                            name,
                            SgdState {
                                momentum_buffer: b.clone(),
                            },
                        );
                        b
                    }
                    Some(s) => {
                        let b = match_param(OP, name, "momentum_buffer", &s.momentum_buffer, p)?;
                        b.axpby_(c.momentum, 1.0 - c.dampening, &g)?;
                        if !b.same_storage(&s.momentum_buffer) {
                            // converted to the parameter's dtype: keep the converted buffer
                            self.state.insert(
                                name,
                                SgdState {
                                    momentum_buffer: b.clone(),
                                },
                            );
                        }
                        b
                    }
                };
                g = if c.nesterov {
                    g.add(&buf.mul_scalar(c.momentum)?)?
                } else {
                    buf
                };
            }
            p.axpby_(1.0, -c.lr, &g)?;
        }
        Ok(())
    }

    super::lr_and_state_methods!(OP);
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn cfg(momentum: f64, dampening: f64, nesterov: bool) -> SgdConfig {
        SgdConfig {
            lr: 0.1,
            momentum,
            dampening,
            nesterov,
            ..Default::default()
        }
    }

    #[test]
    fn argument_validation() {
        let err = |c: SgdConfig| Sgd::new(c).err().map(|e| e.to_string());
        let e = err(SgdConfig {
            lr: -0.1,
            ..Default::default()
        });
        assert!(e.unwrap().contains("invalid learning rate: -0.1"));
        assert!(err(SgdConfig {
            lr: f64::NAN,
            ..Default::default()
        })
        .is_some());
        assert!(err(cfg(-0.5, 0.0, false))
            .unwrap()
            .contains("invalid momentum"));
        assert!(err(SgdConfig {
            weight_decay: -1e-4,
            ..Default::default()
        })
        .unwrap()
        .contains("weight_decay"));
        let e = err(cfg(0.0, 0.0, true)).unwrap();
        assert!(e.contains("Nesterov momentum requires"), "{e}");
        assert!(err(cfg(0.9, 0.1, true)).is_some());
        assert!(err(cfg(0.9, 0.0, true)).is_none());
        assert!(err(cfg(0.9, 0.5, false)).is_none());
    }

    #[test]
    fn plain_sgd_matches_formula_and_keeps_no_state() {
        let ps = params();
        let mut opt = Sgd::new(cfg(0.0, 0.0, false)).unwrap();
        let before = values(&ps);
        let grads = loss(&ps).unwrap().backward().unwrap();
        let g: Vec<f64> = ps
            .iter()
            .flat_map(|(_, t)| grads.get(t).unwrap().to_vec::<f64>().unwrap())
            .collect();
        opt.step(&ps, &grads).unwrap();
        for ((a, b), g) in values(&ps).iter().zip(&before).zip(&g) {
            assert!((a - (b - 0.1 * g)).abs() < 1e-15);
        }
        assert_eq!(opt.state_dict().len(), 1, "only lr");
        assert_eq!(opt.state.len(), 0);
    }

    #[test]
    fn first_momentum_step_is_plain_then_buffer_accumulates() {
        // one scalar parameter with loss p (g = 1 every step)
        let p = Tensor::from_vec(vec![0.0f64], [1])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let ps = vec![("p".to_string(), p.clone())];
        let mut opt = Sgd::new(cfg(0.9, 0.5, false)).unwrap();
        let mut expect = 0.0;
        let mut buf = 0.0;
        for t in 0..3 {
            let grads = p.sum_all().unwrap().backward().unwrap();
            opt.step(&ps, &grads).unwrap();
            buf = if t == 0 { 1.0 } else { 0.9 * buf + 0.5 };
            expect -= 0.1 * buf;
            assert!((p.to_vec::<f64>().unwrap()[0] - expect).abs() < 1e-15);
        }
    }

    #[test]
    fn state_dict_round_trip_resumes_exactly() {
        check_resume(&|| {
            Box::new(
                Sgd::new(SgdConfig {
                    lr: 0.05,
                    momentum: 0.9,
                    dampening: 0.1,
                    weight_decay: 0.01,
                    ..Default::default()
                })
                .unwrap(),
            )
        });
        check_resume(&|| Box::new(Sgd::new(cfg(0.8, 0.0, true)).unwrap()));
    }

    #[test]
    fn lr_is_saved_and_loaded() {
        let mut a = Sgd::new(cfg(0.9, 0.0, false)).unwrap();
        a.set_lr(0.025);
        let mut b = Sgd::new(cfg(0.9, 0.0, false)).unwrap();
        b.load_state_dict(&a.state_dict()).unwrap();
        assert_eq!(b.lr(), 0.025);
        let bad = vec![("lr".to_string(), Tensor::scalar(-1.0f64))];
        assert!(b.load_state_dict(&bad).is_err());
        assert_eq!(b.lr(), 0.025);
    }
}
