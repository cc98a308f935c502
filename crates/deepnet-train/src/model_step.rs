//! [`ModelStep`]: the [`TrainStep`] of one model, one optimizer and a loss that an objective
//! closure computes from the batch, with the regularizers and guards every such run shares: L1
//! and L2 penalties on the weights, gradient clipping by norm or value, the max-norm constraint,
//! the non-finite check and the gradient-health monitor.
//!
//! A classifier, an autoencoder, a VAE and a language model differ only in the objective:
//!
//! ```ignore
//! let objective = |m: &dyn Module, x: &Tensor, _y: &Tensor| {
//!     let recon = m.forward(x)?;
//!     let loss = mse_loss(&recon, x, Reduction::Mean)?;
//!     Ok((loss, Logs::new()))
//! };
//! let mut step = ModelStep::new(&model, &store, opt, Box::new(objective));
//! run_loop(&mut step, train, Some(test), &LoopConfig::new(10, 128, "runs/ae"))?;
//! ```

use crate::checkpoint::{generator_words, rng_states, rng_tensors, section};
use crate::logs::Logs;
use crate::monitor::{check_finite, GradientMonitor};
use crate::run_loop::TrainStep;
use crate::trainer::Optimization;
use crate::{Result, TrainError};
use deepnet_nn::optim::{LrScheduler, Optimizer};
use deepnet_nn::regularize::{
    clip_grad_norm_, clip_grad_value_, l1_penalty, l2_penalty, max_norm_, weights_only,
};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{Generator, Tensor};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A random generator that an objective draws from and its step checkpoints (the VAE's
/// reparameterization noise, a denoising autoencoder's corruption): the objective holds one
/// clone, [`ModelStep::generator`] the other.
pub type SharedGenerator = Arc<Mutex<Generator>>;

/// A [`SharedGenerator`] seeded with `seed`.
pub fn shared_generator(seed: u64) -> SharedGenerator {
    Arc::new(Mutex::new(Generator::new(seed)))
}

/// Locks a shared generator, recovering it from a poisoned lock (its state is always whole).
pub(crate) fn lock(g: &Mutex<Generator>) -> std::sync::MutexGuard<'_, Generator> {
    g.lock().unwrap_or_else(|e| e.into_inner())
}

/// The checkpoint tensor of a step's own generator `name`: `noise.<name>`, 4 words as int64.
pub(crate) fn noise_tensor(name: &str, g: &Generator) -> (String, Tensor) {
    let words: Vec<i64> = g.state().iter().map(|&w| w as i64).collect();
    // 4 words always make a tensor of 4
    let t = Tensor::from_vec(words, [4]).expect("4 words make a (4,) tensor");
    (format!("noise.{name}"), t)
}

/// The generator `noise.<name>` of a checkpoint's `state`; its absence is an error naming it.
pub(crate) fn noise_state(state: &[(String, Tensor)], name: &str) -> Result<Generator> {
    let key = format!("noise.{name}");
    let t = state
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, t)| t)
        .ok_or_else(|| {
            TrainError::Config(format!(
                "checkpoint: no \"{key}\" (the state of the {name} noise generator): not a \
                 checkpoint of this kind of run"
            ))
        })?;
    let s = generator_words(&key, t)?;
    Ok(Generator::from_state(s))
}

/// The loss of a batch: `(model, x, y) -> (scalar loss with its graph, extra metrics)`. The step
/// logs the loss as `loss` (weighted by the batch size) before the extra metrics.
pub type Objective<'a> =
    Box<dyn FnMut(&dyn Module, &Tensor, &Tensor) -> deepnet_tensor::Result<(Tensor, Logs)> + 'a>;

/// Penalties, clipping and constraints of a run; [`Default`] turns everything off.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Regularization {
    /// coefficient of the L1 penalty on weights (0 = off)
    pub l1: f64,
    /// coefficient of the L2 penalty on weights (0 = off)
    pub l2: f64,
    /// max-norm constraint on each neuron's incoming weights, applied after every step
    pub max_norm: Option<f64>,
    /// clip the global gradient norm to this
    pub clip_norm: Option<f64>,
    /// clip every gradient element to `[-v, v]`
    pub clip_value: Option<f64>,
}

/// One model trained by one optimizer on the loss of an [`Objective`].
pub struct ModelStep<'a> {
    model: &'a dyn Module,
    store: &'a ParamStore,
    optimizer: &'a mut dyn Optimizer,
    scheduler: Option<&'a mut dyn LrScheduler>,
    objective: Objective<'a>,
    reg: Regularization,
    monitor: GradientMonitor,
    seen: BTreeSet<String>,
    pending: Vec<String>,
    scalars: Vec<(String, f64)>,
    generators: Vec<(String, SharedGenerator)>,
}

impl<'a> ModelStep<'a> {
    /// Trains the trainable parameters of `store` (those of `model`) with `opt` on the loss of
    /// `objective`; no regularization, the monitor recording every 50 steps.
    pub fn new(
        model: &'a dyn Module,
        store: &'a ParamStore,
        opt: Optimization<'a>,
        objective: Objective<'a>,
    ) -> Self {
        ModelStep {
            model,
            store,
            optimizer: opt.optimizer,
            scheduler: opt.scheduler,
            objective,
            reg: Regularization::default(),
            monitor: GradientMonitor::new(50),
            seen: BTreeSet::new(),
            pending: Vec::new(),
            scalars: Vec::new(),
            generators: Vec::new(),
        }
    }

    /// Checkpoints `g`, a generator the objective draws from, as `noise.<name>`, so that a
    /// resumed run draws the numbers the uninterrupted one would have.
    pub fn generator(mut self, name: &str, g: SharedGenerator) -> Self {
        self.generators.push((name.to_string(), g));
        self
    }

    /// Sets the penalties, clipping and constraints.
    pub fn regularization(mut self, reg: Regularization) -> Self {
        self.reg = reg;
        self
    }

    /// Records per-layer gradient norms every `n` steps.
    pub fn monitor_every(mut self, n: usize) -> Self {
        self.monitor = GradientMonitor::new(n);
        self
    }

    /// The gradient monitor (its per-layer history).
    pub fn monitor(&self) -> &GradientMonitor {
        &self.monitor
    }
}

impl TrainStep for ModelStep<'_> {
    fn train_batch(&mut self, x: &Tensor, y: &Tensor, step: usize) -> Result<Logs> {
        let params = self.store.trainable();
        let penalized = weights_only(&params);
        let (mut loss, extra) = (self.objective)(self.model, x, y)?;
        let data_loss = loss.item()?;
        if self.reg.l1 > 0.0 {
            loss = loss.add(&l1_penalty(&penalized)?.mul_scalar(self.reg.l1)?)?;
        }
        if self.reg.l2 > 0.0 {
            loss = loss.add(&l2_penalty(&penalized)?.mul_scalar(self.reg.l2)?)?;
        }
        let mut grads = loss.backward()?;
        check_finite(data_loss, &params, &grads)?;
        for w in self.monitor.record(step, &params, &grads)? {
            // one message per kind of warning and layer, however often it recurs
            let key = format!("{:?}:{}", std::mem::discriminant(&w), w.layer());
            if self.seen.insert(key) {
                self.pending.push(w.to_string());
            }
        }
        if self.monitor.due(step) {
            for (layer, h) in self.monitor.history() {
                if let Some(&(_, g, _)) = h.last().filter(|p| p.0 == step) {
                    self.scalars.push((format!("grad_norm/{layer}"), g));
                }
            }
        }
        let tensors: Vec<Tensor> = params.iter().map(|(_, t)| t.clone()).collect();
        if let Some(c) = self.reg.clip_norm {
            clip_grad_norm_(&mut grads, &tensors, c)?;
        }
        if let Some(v) = self.reg.clip_value {
            clip_grad_value_(&mut grads, &tensors, v)?;
        }
        self.optimizer.step(&params, &grads)?;
        if let Some(c) = self.reg.max_norm {
            for w in penalized.iter().filter(|w| w.rank() >= 2) {
                max_norm_(w, c)?;
            }
        }
        let n = x.dims().first().copied().unwrap_or(1) as f64;
        let mut logs = Logs::new().with("loss", data_loss, n);
        logs.extend(&extra);
        Ok(logs)
    }

    fn eval_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        let (loss, extra) = (self.objective)(self.model, x, y)?;
        let n = x.dims().first().copied().unwrap_or(1) as f64;
        let mut logs = Logs::new().with("loss", loss.item()?, n);
        logs.extend(&extra);
        Ok(logs)
    }

    fn set_training(&mut self, on: bool) {
        self.model.set_training(on);
    }

    fn lr(&self) -> f64 {
        self.optimizer.lr()
    }

    fn end_epoch(&mut self, _epoch: usize, _run_dir: &Path) -> Result<Vec<String>> {
        if let Some(s) = self.scheduler.as_deref_mut() {
            s.step(self.optimizer);
        }
        Ok(Vec::new())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending)
    }

    fn take_scalars(&mut self) -> Vec<(String, f64)> {
        std::mem::take(&mut self.scalars)
    }

    fn model_state(&self) -> Vec<(String, Tensor)> {
        self.store.state_dict()
    }

    /// `model.*`, `optimizer.*`, `scheduler.*`, the model's generators (`rng`, `rng.<layer>`)
    /// and the objective's (`noise.<name>`).
    fn checkpoint_state(&self) -> Vec<(String, Tensor)> {
        let prefixed = |p: &str, v: Vec<(String, Tensor)>| -> Vec<(String, Tensor)> {
            v.into_iter()
                .map(|(k, t)| (format!("{p}.{k}"), t))
                .collect()
        };
        let mut t = prefixed("model", self.store.state_dict());
        t.extend(prefixed("optimizer", self.optimizer.state_dict()));
        if let Some(s) = self.scheduler.as_deref() {
            t.extend(prefixed("scheduler", s.state_dict()));
        }
        // 4 words per generator cannot fail to become a tensor
        t.extend(rng_tensors(&self.store.rng_states()).unwrap_or_default());
        for (name, g) in &self.generators {
            t.push(noise_tensor(name, &lock(g)));
        }
        t
    }

    fn load_checkpoint(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let part = |p: &str| section(state, p);
        let ctx = |what: &str, e: deepnet_tensor::Error| {
            TrainError::Config(format!("checkpoint {what}: {e}"))
        };
        // a part that does not fit fails the resume (the run does not start)
        let rngs = rng_states(state)?;
        let noise = self
            .generators
            .iter()
            .map(|(name, _)| noise_state(state, name))
            .collect::<Result<Vec<_>>>()?;
        self.store
            .load_state_dict(&part("model"), true)
            .map_err(|e| ctx("model", e))?;
        self.optimizer
            .load_state_dict(&part("optimizer"))
            .map_err(|e| ctx("optimizer", e))?;
        match self.scheduler.as_deref_mut() {
            Some(s) => s
                .load_state_dict(&part("scheduler"))
                .map_err(|e| ctx("scheduler", e))?,
            None if !part("scheduler").is_empty() => {
                return Err(TrainError::Config(
                    "checkpoint: it has a learning-rate schedule, this run has none".into(),
                ))
            }
            None => {}
        }
        self.store
            .set_rng_states(&rngs)
            .map_err(|e| ctx("generators", e))?;
        for ((_, g), state) in self.generators.iter().zip(noise) {
            *lock(g) = state;
        }
        Ok(())
    }

    fn finish(&mut self, run_dir: &Path) -> Result<()> {
        self.monitor.write_plot(run_dir.join("gradient_norms.png"))
    }
}
