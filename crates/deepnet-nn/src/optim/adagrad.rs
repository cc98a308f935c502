//! Adagrad with learning-rate decay: PyTorch's `torch.optim.Adagrad`.

use super::{
    check_param, load_state, match_param, non_negative, save_state, signed_grad, step_tensor,
    Entries, Optimizer, ParamState, StateMap,
};
use deepnet_tensor::{GradStore, Result, Tensor};

/// The hyperparameters of [`Adagrad`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradConfig {
    /// learning rate (default 1e-2)
    pub lr: f64,
    /// learning-rate decay `eta` (default 0)
    pub lr_decay: f64,
    /// coupled (L2) weight decay `lambda` (default 0)
    pub weight_decay: f64,
    /// the starting value of the sum of squared gradients (default 0)
    pub initial_accumulator_value: f64,
    /// added to the denominator (default 1e-10)
    pub eps: f64,
    /// maximize the objective instead of minimizing it (default false)
    pub maximize: bool,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

/// `torch.optim.Adagrad`. For each parameter `p` with gradient `g`, at step `t` (counted per
/// parameter from 1):
///
/// ```text
/// g <- -g                                     if maximize
/// g <- g + lambda * p                         if weight_decay != 0
/// clr <- lr / (1 + (t - 1) * eta)
/// s <- s + g^2                                (s starts at initial_accumulator_value)
/// p <- p - clr * g / (sqrt(s) + eps)
/// ```
///
/// State: `<param>.step`, `<param>.sum` (s).
#[derive(Clone)]
pub struct Adagrad {
    cfg: AdagradConfig,
    state: StateMap<AdagradState>,
}

#[derive(Clone)]
struct AdagradState {
    step: u64,
    sum: Tensor,
}

impl ParamState for AdagradState {
    const KEYS: &'static [&'static str] = &["step", "sum"];
    fn entries(&self) -> Vec<(&'static str, Tensor)> {
        vec![("step", step_tensor(self.step)), ("sum", self.sum.clone())]
    }
    fn from_entries(_param: &str, e: &Entries) -> Result<Self> {
        Ok(AdagradState {
            step: e.step()?,
            sum: e.require("sum")?,
        })
    }
}

const OP: &str = "Adagrad";

impl Adagrad {
    /// An Adagrad optimizer; arguments are validated as PyTorch does (`lr`, `lr_decay`,
    /// `weight_decay`, `initial_accumulator_value` and `eps` must be >= 0).
    pub fn new(cfg: AdagradConfig) -> Result<Adagrad> {
        non_negative(OP, "learning rate", cfg.lr)?;
        non_negative(OP, "lr_decay value", cfg.lr_decay)?;
        non_negative(OP, "weight_decay value", cfg.weight_decay)?;
        non_negative(
            OP,
            "initial_accumulator_value value",
            cfg.initial_accumulator_value,
        )?;
        non_negative(OP, "epsilon value", cfg.eps)?;
        Ok(Adagrad {
            cfg,
            state: StateMap::default(),
        })
    }

    /// The hyperparameters (with the current learning rate).
    pub fn config(&self) -> &AdagradConfig {
        &self.cfg
    }

    fn update(&mut self, name: &str, p: &Tensor, grad: &Tensor) -> Result<()> {
        let c = self.cfg;
        check_param(OP, name, p)?;
        let (step, sum) = match self.state.get(name) {
            Some(s) => (s.step, match_param(OP, name, "sum", &s.sum, p)?),
            None => (0, p.full_like(c.initial_accumulator_value)?),
        };
        let step = step + 1;
        let mut g = signed_grad(grad, c.maximize)?;
        if c.weight_decay != 0.0 {
            g = g.add(&p.mul_scalar(c.weight_decay)?)?;
        }
        let clr = c.lr / (1.0 + (step - 1) as f64 * c.lr_decay);
        let sum = sum.add(&g.mul(&g)?)?;
        let std = sum.sqrt()?.add_scalar(c.eps)?;
        p.assign_(&p.sub(&g.div(&std)?.mul_scalar(clr)?)?)?;
        self.state.insert(name, AdagradState { step, sum });
        Ok(())
    }
}

impl Optimizer for Adagrad {
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
        let d = AdagradConfig::default;
        let cases = [
            (AdagradConfig { lr: -1.0, ..d() }, "invalid learning rate"),
            (
                AdagradConfig {
                    lr_decay: -0.1,
                    ..d()
                },
                "invalid lr_decay",
            ),
            (
                AdagradConfig {
                    weight_decay: -0.1,
                    ..d()
                },
                "invalid weight_decay",
            ),
            (
                AdagradConfig {
                    initial_accumulator_value: -0.1,
                    ..d()
                },
                "invalid initial_accumulator_value",
            ),
            (AdagradConfig { eps: -1e-10, ..d() }, "invalid epsilon"),
        ];
        for (c, want) in cases {
            let e = Adagrad::new(c).err().unwrap().to_string();
            assert!(e.starts_with("Adagrad:") && e.contains(want), "{e}");
        }
        assert!(Adagrad::new(d()).is_ok());
    }

    #[test]
    fn lr_decays_with_the_step() {
        // loss = sum(p): g = 1 every step, s_t = s0 + t, clr_t = lr / (1 + (t-1) eta)
        let p = Tensor::from_vec(vec![0.0f64], [1])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let ps = vec![("p".to_string(), p.clone())];
        let mut opt = Adagrad::new(AdagradConfig {
            lr: 0.5,
            lr_decay: 0.1,
            initial_accumulator_value: 0.25,
            eps: 0.0,
            ..Default::default()
        })
        .unwrap();
        let mut expect = 0.0;
        for t in 1..=4 {
            let grads = p.sum_all().unwrap().backward().unwrap();
            opt.step(&ps, &grads).unwrap();
            expect -= 0.5 / (1.0 + (t - 1) as f64 * 0.1) / (0.25 + t as f64).sqrt();
            assert!((p.to_vec::<f64>().unwrap()[0] - expect).abs() < 1e-15);
        }
    }

    #[test]
    fn state_dict_round_trip_resumes_exactly() {
        check_resume(&|| {
            Box::new(
                Adagrad::new(AdagradConfig {
                    lr: 0.1,
                    lr_decay: 0.01,
                    weight_decay: 0.01,
                    initial_accumulator_value: 0.1,
                    ..Default::default()
                })
                .unwrap(),
            )
        });
    }
}
