//! RMSprop, optionally centered and with momentum: PyTorch's `torch.optim.RMSprop`.

use super::{
    check_param, load_state, match_param, non_negative, save_state, signed_grad, step_tensor,
    Entries, Optimizer, ParamState, StateMap,
};
use deepnet_tensor::{GradStore, Result, Tensor};

/// The hyperparameters of [`RmsProp`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// learning rate (default 1e-2)
    pub lr: f64,
    /// smoothing constant of the squared-gradient average (default 0.99)
    pub alpha: f64,
    /// added to the denominator (default 1e-8)
    pub eps: f64,
    /// coupled (L2) weight decay `lambda` (default 0)
    pub weight_decay: f64,
    /// momentum factor `mu` (default 0)
    pub momentum: f64,
    /// normalize by the estimated variance instead of the raw second moment (default false)
    pub centered: bool,
    /// maximize the objective instead of minimizing it (default false)
    pub maximize: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

/// `torch.optim.RMSprop`. For each parameter `p` with gradient `g`:
///
/// ```text
/// g <- -g                                     if maximize
/// g <- g + lambda * p                         if weight_decay != 0
/// v <- alpha * v + (1 - alpha) * g^2          (v, g_avg, b start at 0)
/// if centered:
///     g_avg <- alpha * g_avg + (1 - alpha) * g
///     avg <- sqrt(v - g_avg^2) + eps
/// else:
///     avg <- sqrt(v) + eps
/// if momentum > 0:
///     b <- mu * b + g / avg
///     p <- p - lr * b
/// else:
///     p <- p - lr * g / avg
/// ```
///
/// State: `<param>.step`, `<param>.square_avg` (v), and `<param>.momentum_buffer` (b) with
/// momentum, `<param>.grad_avg` (g_avg) when centered.
#[derive(Clone)]
pub struct RmsProp {
    cfg: RmsPropConfig,
    state: StateMap<RmsPropState>,
}

#[derive(Clone)]
struct RmsPropState {
    step: u64,
    square_avg: Tensor,
    momentum_buffer: Option<Tensor>,
    grad_avg: Option<Tensor>,
}

impl ParamState for RmsPropState {
    const KEYS: &'static [&'static str] = &["step", "square_avg", "momentum_buffer", "grad_avg"];
    fn entries(&self) -> Vec<(&'static str, Tensor)> {
        let mut v = vec![
            ("step", step_tensor(self.step)),
            ("square_avg", self.square_avg.clone()),
        ];
        if let Some(b) = &self.momentum_buffer {
            v.push(("momentum_buffer", b.clone()));
        }
        if let Some(g) = &self.grad_avg {
            v.push(("grad_avg", g.clone()));
        }
        v
    }
    fn from_entries(_param: &str, e: &Entries) -> Result<Self> {
        Ok(RmsPropState {
            step: e.step()?,
            square_avg: e.require("square_avg")?,
            momentum_buffer: e.get("momentum_buffer"),
            grad_avg: e.get("grad_avg"),
        })
    }
}

const OP: &str = "RMSprop";

impl RmsProp {
    /// An RMSprop optimizer; arguments are validated as PyTorch does (`lr`, `eps`, `momentum`,
    /// `weight_decay` and `alpha` must be >= 0).
    pub fn new(cfg: RmsPropConfig) -> Result<RmsProp> {
        non_negative(OP, "learning rate", cfg.lr)?;
        non_negative(OP, "epsilon value", cfg.eps)?;
        non_negative(OP, "momentum value", cfg.momentum)?;
        non_negative(OP, "weight_decay value", cfg.weight_decay)?;
        non_negative(OP, "alpha value", cfg.alpha)?;
        Ok(RmsProp {
            cfg,
            state: StateMap::default(),
        })
    }

    /// The hyperparameters (with the current learning rate).
    pub fn config(&self) -> &RmsPropConfig {
        &self.cfg
    }

    fn update(&mut self, name: &str, p: &Tensor, grad: &Tensor) -> Result<()> {
        let c = self.cfg;
        check_param(OP, name, p)?;
        let mut g = signed_grad(grad, c.maximize)?;
        let prev = self.state.get(name);
        let step = prev.map_or(0, |s| s.step) + 1;
        let opt_state = |t: Option<&Tensor>, key: &str| -> Result<Tensor> {
            match t {
                Some(t) => match_param(OP, name, key, t, p),
                None => p.zeros_like(),
            }
        };
        let v = opt_state(prev.map(|s| &s.square_avg), "square_avg")?;
        if c.weight_decay != 0.0 {
            g = g.add(&p.mul_scalar(c.weight_decay)?)?;
        }
        let v = v
            .mul_scalar(c.alpha)?
            .add(&g.mul(&g)?.mul_scalar(1.0 - c.alpha)?)?;
        let (avg, grad_avg) = if c.centered {
            let ga = opt_state(prev.and_then(|s| s.grad_avg.as_ref()), "grad_avg")?;
            let ga = ga.mul_scalar(c.alpha)?.add(&g.mul_scalar(1.0 - c.alpha)?)?;
            (v.sub(&ga.mul(&ga)?)?.sqrt()?, Some(ga))
        } else {
            (v.sqrt()?, None)
        };
        let avg = avg.add_scalar(c.eps)?;
        let (p_new, buf) = if c.momentum > 0.0 {
            let b = opt_state(
                prev.and_then(|s| s.momentum_buffer.as_ref()),
                "momentum_buffer",
            )?;
            let b = b.mul_scalar(c.momentum)?.add(&g.div(&avg)?)?;
            (p.sub(&b.mul_scalar(c.lr)?)?, Some(b))
        } else {
            (p.sub(&g.div(&avg)?.mul_scalar(c.lr)?)?, None)
        };
        p.assign_(&p_new)?;
        self.state.insert(
            name,
            RmsPropState {
                step,
                square_avg: v,
                momentum_buffer: buf,
                grad_avg,
            },
        );
        Ok(())
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self, params: &[(String, Tensor)], grads: &GradStore) -> Result<()> {
        super::update_each(params, grads, |name, p, g| self.update(name, p, g))
    }
    super::lr_and_state_methods!(OP);
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn argument_validation() {
        let cases: [(RmsPropConfig, &str); 5] = [
            (
                RmsPropConfig {
                    lr: -0.01,
                    ..Default::default()
                },
                "invalid learning rate",
            ),
            (
                RmsPropConfig {
                    eps: -1e-8,
                    ..Default::default()
                },
                "invalid epsilon",
            ),
            (
                RmsPropConfig {
                    momentum: -0.9,
                    ..Default::default()
                },
                "invalid momentum",
            ),
            (
                RmsPropConfig {
                    weight_decay: -0.1,
                    ..Default::default()
                },
                "invalid weight_decay",
            ),
            (
                RmsPropConfig {
                    alpha: -0.5,
                    ..Default::default()
                },
                "invalid alpha",
            ),
        ];
        for (c, want) in cases {
            let e = RmsProp::new(c).err().unwrap().to_string();
            assert!(e.starts_with("RMSprop:") && e.contains(want), "{e}");
        }
        assert!(RmsProp::new(RmsPropConfig::default()).is_ok());
    }

    #[test]
    fn first_step_formula() {
        // t = 1, not centered, no momentum: p <- p - lr * g / (sqrt((1 - alpha) g^2) + eps)
        let ps = params();
        let before = values(&ps);
        let grads = loss(&ps).unwrap().backward().unwrap();
        let g: Vec<f64> = ps
            .iter()
            .flat_map(|(_, t)| grads.get(t).unwrap().to_vec::<f64>().unwrap())
            .collect();
        let mut opt = RmsProp::new(RmsPropConfig::default()).unwrap();
        opt.step(&ps, &grads).unwrap();
        for ((a, b), g) in values(&ps).iter().zip(&before).zip(&g) {
            let want = b - 0.01 * g / ((0.01 * g * g).sqrt() + 1e-8);
            assert!((a - want).abs() < 1e-14, "{a} {want}");
        }
    }

    #[test]
    fn state_dict_round_trip_resumes_exactly() {
        check_resume(&|| Box::new(RmsProp::new(RmsPropConfig::default()).unwrap()));
        check_resume(&|| {
            Box::new(
                RmsProp::new(RmsPropConfig {
                    lr: 0.005,
                    momentum: 0.9,
                    centered: true,
                    weight_decay: 0.01,
                    ..Default::default()
                })
                .unwrap(),
            )
        });
    }
}
