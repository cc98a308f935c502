//! Adam (coupled L2 weight decay, optional AMSGrad) and AdamW (decoupled weight decay):
//! PyTorch's `torch.optim.Adam` and `torch.optim.AdamW`.

use super::{
    check_param, invalid, load_state, match_param, non_negative, save_state, signed_grad,
    step_tensor, Entries, Optimizer, ParamState, StateMap,
};
use deepnet_tensor::{GradStore, Result, Tensor};

/// The hyperparameters of [`Adam`] and [`AdamW`], with PyTorch's names. `Default` gives Adam's
/// defaults; [`AdamConfig::adamw`] gives AdamW's (whose `weight_decay` defaults to 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// learning rate (default 1e-3)
    pub lr: f64,
    /// `(beta1, beta2)`, the decay rates of the first and second moment averages, each in
    /// `[0, 1)` (default `(0.9, 0.999)`)
    pub betas: (f64, f64),
    /// added to the denominator (default 1e-8)
    pub eps: f64,
    /// weight decay `lambda`: coupled (L2) for Adam, decoupled for AdamW (default 0 for Adam,
    /// 0.01 for AdamW)
    pub weight_decay: f64,
    /// use AMSGrad's running maximum of the second moment (default false)
    pub amsgrad: bool,
    /// maximize the objective instead of minimizing it (default false)
    pub maximize: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
        }
    }
}

impl AdamConfig {
    /// PyTorch's AdamW defaults: Adam's with `weight_decay = 0.01`.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            ..Default::default()
        }
    }

    fn validate(&self, op: &'static str) -> Result<()> {
        non_negative(op, "learning rate", self.lr)?;
        non_negative(op, "epsilon value", self.eps)?;
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                return Err(invalid(
                    op,
                    format!("invalid beta parameter at index {i}: {b} (must be in [0, 1))"),
                ));
            }
        }
        non_negative(op, "weight_decay value", self.weight_decay)
    }
}

/// `torch.optim.Adam`. For each parameter `p` with gradient `g`, at step `t` (counted per
/// parameter from 1):
///
/// ```text
/// g <- -g                                   if maximize
/// g <- g + lambda * p                       if weight_decay != 0   (coupled, L2)
/// m <- beta1 * m + (1 - beta1) * g          (m, v start at 0)
/// v <- beta2 * v + (1 - beta2) * g^2
/// v_max <- max(v_max, v)                    if amsgrad (v_max starts at 0)
/// denom <- sqrt(v_max or v) / sqrt(1 - beta2^t) + eps
/// p <- p - lr / (1 - beta1^t) * m / denom
/// ```
///
/// State: `<param>.step`, `<param>.exp_avg` (m), `<param>.exp_avg_sq` (v) and, with AMSGrad,
/// `<param>.max_exp_avg_sq` (v_max).
#[derive(Clone)]
pub struct Adam {
    cfg: AdamConfig,
    decoupled: bool,
    state: StateMap<AdamState>,
}

/// `torch.optim.AdamW`: Adam with decoupled weight decay. The update is Adam's without the
/// `g + lambda * p` term, preceded by
///
/// ```text
/// p <- p * (1 - lr * lambda)
/// ```
///
/// The state is Adam's.
#[derive(Clone)]
pub struct AdamW(Adam);

#[derive(Clone)]
struct AdamState {
    step: u64,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    max_exp_avg_sq: Option<Tensor>,
}

impl ParamState for AdamState {
    const KEYS: &'static [&'static str] = &["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"];
    fn entries(&self) -> Vec<(&'static str, Tensor)> {
        let mut v = vec![
            ("step", step_tensor(self.step)),
            ("exp_avg", self.exp_avg.clone()),
            ("exp_avg_sq", self.exp_avg_sq.clone()),
        ];
        if let Some(m) = &self.max_exp_avg_sq {
            v.push(("max_exp_avg_sq", m.clone()));
        }
        v
    }
    fn from_entries(_param: &str, e: &Entries) -> Result<Self> {
        Ok(AdamState {
            step: e.step()?,
            exp_avg: e.require("exp_avg")?,
            exp_avg_sq: e.require("exp_avg_sq")?,
            max_exp_avg_sq: e.get("max_exp_avg_sq"),
        })
    }
}

impl Adam {
    /// An Adam optimizer; arguments are validated as PyTorch does (`lr`, `eps`, `weight_decay`
    /// >= 0, betas in `[0, 1)`).
    pub fn new(cfg: AdamConfig) -> Result<Adam> {
        cfg.validate("Adam")?;
        Ok(Adam {
            cfg,
            decoupled: false,
            state: StateMap::default(),
        })
    }

    /// The hyperparameters (with the current learning rate).
    pub fn config(&self) -> &AdamConfig {
        &self.cfg
    }

    fn op(&self) -> &'static str {
        if self.decoupled {
            "AdamW"
        } else {
            "Adam"
        }
    }

    fn update(&mut self, name: &str, p: &Tensor, grad: &Tensor) -> Result<()> {
        let op = self.op();
        let c = self.cfg;
        let (beta1, beta2) = c.betas;
        check_param(op, name, p)?;
        let mut g = signed_grad(grad, c.maximize)?;
        let (step, m, v, vmax) = match self.state.get(name) {
            Some(s) => (
                s.step,
                match_param(op, name, "exp_avg", &s.exp_avg, p)?,
                match_param(op, name, "exp_avg_sq", &s.exp_avg_sq, p)?,
                match &s.max_exp_avg_sq {
                    Some(t) => Some(match_param(op, name, "max_exp_avg_sq", t, p)?),
                    None => None,
                },
            ),
            None => (0, p.zeros_like()?, p.zeros_like()?, None),
        };
        let step = step + 1;
        let mut p_new = p.clone();
        if c.weight_decay != 0.0 {
            if self.decoupled {
                p_new = p.mul_scalar(1.0 - c.lr * c.weight_decay)?;
            } else {
                g = g.add(&p.mul_scalar(c.weight_decay)?)?;
            }
        }
        let m = m.mul_scalar(beta1)?.add(&g.mul_scalar(1.0 - beta1)?)?;
        let v = v
            .mul_scalar(beta2)?
            .add(&g.mul(&g)?.mul_scalar(1.0 - beta2)?)?;
        let bias_correction1 = 1.0 - beta1.powf(step as f64);
        let bias_correction2 = 1.0 - beta2.powf(step as f64);
        let step_size = c.lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.sqrt();
        let vmax = if c.amsgrad {
            let prev = match vmax {
                Some(t) => t,
                None => p.zeros_like()?,
            };
            Some(prev.maximum(&v)?)
        } else {
            None
        };
        let second = vmax.as_ref().unwrap_or(&v);
        let denom = second
            .sqrt()?
            .div_scalar(bias_correction2_sqrt)?
            .add_scalar(c.eps)?;
        let p_new = p_new.sub(&m.div(&denom)?.mul_scalar(step_size)?)?;
        p.assign_(&p_new)?;
        self.state.insert(
            name,
            AdamState {
                step,
                exp_avg: m,
                exp_avg_sq: v,
                max_exp_avg_sq: vmax,
            },
        );
        Ok(())
    }

    fn step_all(&mut self, params: &[(String, Tensor)], grads: &GradStore) -> Result<()> {
        super::update_each(params, grads, |name, p, g| self.update(name, p, g))
    }

    fn load(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let (lr, states) = load_state(self.op(), state)?;
        if let Some(lr) = lr {
            self.cfg.lr = lr;
        }
        self.state = states;
        Ok(())
    }
}

impl AdamW {
    /// An AdamW optimizer; arguments are validated as for [`Adam`]. Start from
    /// [`AdamConfig::adamw`] for PyTorch's defaults.
    pub fn new(cfg: AdamConfig) -> Result<AdamW> {
        cfg.validate("AdamW")?;
        Ok(AdamW(Adam {
            cfg,
            decoupled: true,
            state: StateMap::default(),
        }))
    }

    /// The hyperparameters (with the current learning rate).
    pub fn config(&self) -> &AdamConfig {
        &self.0.cfg
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &[(String, Tensor)], grads: &GradStore) -> Result<()> {
        self.step_all(params, grads)
    }
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
        self.load(state)
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, params: &[(String, Tensor)], grads: &GradStore) -> Result<()> {
        self.0.step_all(params, grads)
    }
    fn lr(&self) -> f64 {
        self.0.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.0.cfg.lr = lr;
    }
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.0.state_dict()
    }
    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.0.load(state)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn argument_validation() {
        let bad = [
            AdamConfig {
                lr: -1e-3,
                ..Default::default()
            },
            AdamConfig {
                eps: -1.0,
                ..Default::default()
            },
            AdamConfig {
                betas: (1.0, 0.999),
                ..Default::default()
            },
            AdamConfig {
                betas: (0.9, -0.1),
                ..Default::default()
            },
            AdamConfig {
                weight_decay: -0.1,
                ..Default::default()
            },
        ];
        let expect = [
            "invalid learning rate",
            "invalid epsilon",
            "beta parameter at index 0: 1",
            "beta parameter at index 1: -0.1",
            "invalid weight_decay",
        ];
        for (c, want) in bad.iter().zip(expect) {
            let e = Adam::new(*c).err().unwrap().to_string();
            assert!(e.contains(want) && e.starts_with("Adam:"), "{e}");
            let e = AdamW::new(*c).err().unwrap().to_string();
            assert!(e.contains(want) && e.starts_with("AdamW:"), "{e}");
        }
        assert!(Adam::new(AdamConfig::default()).is_ok());
        assert_eq!(
            AdamW::new(AdamConfig::adamw())
                .unwrap()
                .config()
                .weight_decay,
            0.01
        );
    }

    #[test]
    fn first_step_moves_each_element_by_lr() {
        // at t = 1, m_hat / sqrt(v_hat) = g / |g| = sign(g)
        let ps = params();
        let before = values(&ps);
        let grads = loss(&ps).unwrap().backward().unwrap();
        let g: Vec<f64> = ps
            .iter()
            .flat_map(|(_, t)| grads.get(t).unwrap().to_vec::<f64>().unwrap())
            .collect();
        let mut opt = Adam::new(AdamConfig {
            lr: 0.01,
            eps: 0.0,
            ..Default::default()
        })
        .unwrap();
        opt.step(&ps, &grads).unwrap();
        for ((a, b), g) in values(&ps).iter().zip(&before).zip(&g) {
            assert!((a - (b - 0.01 * g.signum())).abs() < 1e-14, "{a} {b} {g}");
        }
    }

    #[test]
    fn adamw_decay_is_decoupled() {
        // with a zero gradient the AdamW update is just p * (1 - lr * wd)
        let p = Tensor::from_vec(vec![2.0f64, -4.0], [2])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let ps = vec![("p".to_string(), p.clone())];
        let mut grads = GradStore::new();
        grads.insert(&p, Tensor::zeros([2], deepnet_tensor::DType::F64).unwrap());
        let mut opt = AdamW::new(AdamConfig {
            lr: 0.1,
            weight_decay: 0.5,
            ..Default::default()
        })
        .unwrap();
        opt.step(&ps, &grads).unwrap();
        let got = p.to_vec::<f64>().unwrap();
        assert!(
            (got[0] - 1.9).abs() < 1e-15 && (got[1] + 3.8).abs() < 1e-15,
            "{got:?}"
        );
    }

    #[test]
    fn state_dict_round_trip_resumes_exactly() {
        check_resume(&|| {
            Box::new(
                Adam::new(AdamConfig {
                    lr: 0.05,
                    ..Default::default()
                })
                .unwrap(),
            )
        });
        check_resume(&|| {
            Box::new(
                Adam::new(AdamConfig {
                    lr: 0.05,
                    amsgrad: true,
                    weight_decay: 0.01,
                    ..Default::default()
                })
                .unwrap(),
            )
        });
        check_resume(&|| {
            Box::new(
                AdamW::new(AdamConfig {
                    lr: 0.05,
                    weight_decay: 0.1,
                    ..Default::default()
                })
                .unwrap(),
            )
        });
    }

    #[test]
    fn state_keys() {
        let ps = params();
        let mut opt = Adam::new(AdamConfig {
            amsgrad: true,
            ..Default::default()
        })
        .unwrap();
        run(&mut opt, &ps, 3).unwrap();
        let keys: Vec<String> = opt.state_dict().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "lr",
                "lin.weight.step",
                "lin.weight.exp_avg",
                "lin.weight.exp_avg_sq",
                "lin.weight.max_exp_avg_sq",
                "lin.bias.step",
                "lin.bias.exp_avg",
                "lin.bias.exp_avg_sq",
                "lin.bias.max_exp_avg_sq"
            ]
        );
        assert_eq!(opt.state_dict()[1].1.item().unwrap(), 3.0);
    }
}
