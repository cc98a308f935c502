//! [`GanStep`]: the [`TrainStep`] of a [`Gan`], two optimizers taking turns on every batch, as
//! in Goodfellow et al. (2014) with `k = 1`:
//!
//! 1. the discriminator on real images (mapped to `[-1, 1]`) and on a batch of generated ones
//!    (detached, so the generator is untouched): [`discriminator_loss`], one step of its
//!    optimizer;
//! 2. the generator through the updated discriminator on the same codes:
//!    [`generator_loss`] (non-saturating by default), one step of its optimizer. The
//!    discriminator's gradients of this pass are discarded.
//!
//! Metrics: `d_loss`, `g_loss`, and `d_real` / `d_fake`, the discriminator's mean probability
//! of "real" on real and on generated images (both near 1/2 at the game's equilibrium). After
//! every epoch a grid of samples from fixed codes is written as
//! `samples_epoch_<NNN>.png` into the run folder, so the epochs can be compared image by image.
//! Any generator/discriminator pair (MLP, DCGAN) trains with this step.
//!
//! A checkpoint holds both networks, both optimizers, the model's generators (the
//! discriminator's dropout) and the latent noise's generator, so a run resumes bit for bit; the
//! grid's codes are fixed by the seed and drawn again.

use crate::checkpoint::{rng_states, rng_tensors, section};
use crate::image_grid::{save_image_grid, GridOptions};
use crate::logs::Logs;
use crate::model_step::{noise_state, noise_tensor};
use crate::monitor::check_finite;
use crate::run_loop::TrainStep;
use crate::{Result, TrainError};
use deepnet_models::gan::{
    discriminator_loss, from_tanh_range, generator_loss, to_tanh_range, Gan, GeneratorLoss,
};
use deepnet_nn::optim::Optimizer;
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{no_grad, Generator, Tensor};
use std::path::Path;

/// Trains a [`Gan`] whose parameters live in `store` with one optimizer per network.
pub struct GanStep<'a> {
    gan: &'a Gan,
    store: &'a ParamStore,
    g_opt: &'a mut dyn Optimizer,
    d_opt: &'a mut dyn Optimizer,
    loss: GeneratorLoss,
    noise: Generator,
    grid_codes: Tensor,
    grid_cols: usize,
}

impl<'a> GanStep<'a> {
    /// `g_opt` trains the parameters under `gan.generator_path()`, `d_opt` those under
    /// `gan.discriminator_path()`; codes are drawn from a generator seeded with `seed`, and the
    /// per-epoch grid shows 8x8 samples from 64 codes fixed now.
    pub fn new(
        gan: &'a Gan,
        store: &'a ParamStore,
        g_opt: &'a mut dyn Optimizer,
        d_opt: &'a mut dyn Optimizer,
        seed: u64,
    ) -> Result<Self> {
        // the grid's codes come from their own stream, so the grid does not shift the training's
        let grid_codes = gan.codes(64, &mut Generator::new(seed ^ 0x9e37_79b9_7f4a_7c15))?;
        let step = GanStep {
            gan,
            store,
            g_opt,
            d_opt,
            loss: GeneratorLoss::NonSaturating,
            noise: Generator::new(seed),
            grid_codes,
            grid_cols: 8,
        };
        for (net, path) in [
            ("generator", gan.generator_path()),
            ("discriminator", gan.discriminator_path()),
        ] {
            if step.params(path).is_empty() {
                return Err(TrainError::Config(format!(
                    "gan step: the {net} has no trainable parameters under \"{path}\" in the store"
                )));
            }
        }
        Ok(step)
    }

    /// Uses `kind` for the generator (the minimax form is there to show why it is not used).
    pub fn generator_loss(mut self, kind: GeneratorLoss) -> Self {
        self.loss = kind;
        self
    }

    /// The per-epoch grid: `rows x cols` samples from fixed codes (drawn with `seed`).
    pub fn grid(mut self, rows: usize, cols: usize, seed: u64) -> Result<Self> {
        if rows == 0 || cols == 0 {
            return Err(TrainError::Config(format!(
                "gan step: a sample grid of {rows}x{cols} has no cells"
            )));
        }
        self.grid_codes = self.gan.codes(rows * cols, &mut Generator::new(seed))?;
        self.grid_cols = cols;
        Ok(self)
    }

    /// The trainable parameters under `path.`.
    fn params(&self, path: &str) -> Vec<(String, Tensor)> {
        let prefix = format!("{path}.");
        self.store
            .trainable()
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect()
    }

    /// The mean of `sigmoid(logits)` (the discriminator's probability of "real").
    fn mean_prob(logits: &Tensor) -> Result<f64> {
        Ok(logits.detach().sigmoid()?.mean_all()?.item()?)
    }

    /// The discriminator's logits of a real batch (in `[0, 1]`), and as many generated images
    /// (with their graph).
    fn real_and_fake(&mut self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = x.dims().first().copied().unwrap_or(0);
        let real_logits = self.gan.discriminate(&to_tanh_range(x)?)?;
        let fake = self.gan.generate(&self.gan.codes(n, &mut self.noise)?)?;
        Ok((real_logits, fake))
    }
}

impl TrainStep for GanStep<'_> {
    fn train_batch(&mut self, x: &Tensor, _y: &Tensor, _step: usize) -> Result<Logs> {
        let n = x.dims().first().copied().unwrap_or(1) as f64;
        let (real_logits, fake) = self.real_and_fake(x)?;
        // 1. the discriminator, on generated images cut from the generator's graph
        let fake_logits = self.gan.discriminate(&fake.detach())?;
        let d_loss = discriminator_loss(&real_logits, &fake_logits)?;
        let d_value = d_loss.item()?;
        let grads = d_loss.backward()?;
        let d_params = self.params(self.gan.discriminator_path());
        check_finite(d_value, &d_params, &grads)?;
        self.d_opt.step(&d_params, &grads)?;
        // 2. the generator, through the updated discriminator
        let g_logits = self.gan.discriminate(&fake)?;
        let g_loss = generator_loss(&g_logits, self.loss)?;
        let g_value = g_loss.item()?;
        let grads = g_loss.backward()?;
        let g_params = self.params(self.gan.generator_path());
        check_finite(g_value, &g_params, &grads)?;
        self.g_opt.step(&g_params, &grads)?;
        Ok(Logs::new()
            .with("d_loss", d_value, n)
            .with("g_loss", g_value, n)
            .with("d_real", Self::mean_prob(&real_logits)?, n)
            .with("d_fake", Self::mean_prob(&fake_logits)?, n))
    }

    fn eval_batch(&mut self, x: &Tensor, _y: &Tensor) -> Result<Logs> {
        let n = x.dims().first().copied().unwrap_or(1) as f64;
        let (real_logits, fake) = self.real_and_fake(x)?;
        let fake_logits = self.gan.discriminate(&fake)?;
        Ok(Logs::new()
            .with(
                "d_loss",
                discriminator_loss(&real_logits, &fake_logits)?.item()?,
                n,
            )
            .with(
                "g_loss",
                generator_loss(&fake_logits, self.loss)?.item()?,
                n,
            )
            .with("d_real", Self::mean_prob(&real_logits)?, n)
            .with("d_fake", Self::mean_prob(&fake_logits)?, n))
    }

    fn set_training(&mut self, on: bool) {
        self.gan.set_training(on);
    }

    fn lr(&self) -> f64 {
        self.g_opt.lr()
    }

    fn end_epoch(&mut self, epoch: usize, run_dir: &Path) -> Result<Vec<String>> {
        let images = {
            let _g = no_grad();
            self.gan.set_training(false);
            let x = from_tanh_range(&self.gan.generate(&self.grid_codes)?);
            self.gan.set_training(true);
            x?
        };
        let file = run_dir.join(format!("samples_epoch_{epoch:03}.png"));
        let opts = GridOptions {
            cols: self.grid_cols,
            value_range: Some((0.0, 1.0)),
            ..Default::default()
        };
        save_image_grid(&file, &images, &opts)?;
        Ok(Vec::new())
    }

    fn model_state(&self) -> Vec<(String, Tensor)> {
        self.store.state_dict()
    }

    /// The model under `model.`, the generator's optimizer under `g_optimizer.`, the
    /// discriminator's under `d_optimizer.`, the model's generators (`rng`, `rng.<layer>`) and
    /// the latent noise's (`noise.latent`).
    fn checkpoint_state(&self) -> Vec<(String, Tensor)> {
        let with = |p: &str, v: Vec<(String, Tensor)>| {
            v.into_iter()
                .map(|(k, t)| (format!("{p}.{k}"), t))
                .collect::<Vec<_>>()
        };
        let mut t = with("model", self.store.state_dict());
        t.extend(with("g_optimizer", self.g_opt.state_dict()));
        t.extend(with("d_optimizer", self.d_opt.state_dict()));
        // 4 words per generator cannot fail to become a tensor
        t.extend(rng_tensors(&self.store.rng_states()).unwrap_or_default());
        t.push(noise_tensor("latent", &self.noise));
        t
    }

    /// Restores every part of [`TrainStep::checkpoint_state`]; a part missing or not fitting
    /// fails before anything is changed but the parts already checked.
    fn load_checkpoint(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let part = |p: &str| section(state, p);
        let ctx = |what: &str, e: deepnet_tensor::Error| {
            TrainError::Config(format!("checkpoint {what}: {e}"))
        };
        let (g_state, d_state) = (part("g_optimizer"), part("d_optimizer"));
        for (name, p) in [("g_optimizer", &g_state), ("d_optimizer", &d_state)] {
            // after one batch each optimizer has state: an empty one is a damaged file
            if p.is_empty() {
                return Err(TrainError::Config(format!(
                    "checkpoint: no \"{name}\" section (the optimizer state of the {}): \
                     not a checkpoint of a GAN run",
                    if name == "g_optimizer" {
                        "generator"
                    } else {
                        "discriminator"
                    }
                )));
            }
        }
        let rngs = rng_states(state)?;
        let noise = noise_state(state, "latent")?;
        self.store
            .load_state_dict(&part("model"), true)
            .map_err(|e| ctx("model", e))?;
        self.g_opt
            .load_state_dict(&g_state)
            .map_err(|e| ctx("g_optimizer", e))?;
        self.d_opt
            .load_state_dict(&d_state)
            .map_err(|e| ctx("d_optimizer", e))?;
        self.store
            .set_rng_states(&rngs)
            .map_err(|e| ctx("generators", e))?;
        self.noise = noise;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_loop::{run_loop, LoopConfig};
    use deepnet_data::{Dataset, InMemoryDataset};
    use deepnet_models::MlpGanConfig;
    use deepnet_nn::optim::{Adam, AdamConfig};
    use std::sync::Arc;

    /// `n` two-pixel "images" near (0.85, 0.2).
    fn points(n: usize, seed: u64) -> Arc<dyn Dataset> {
        let mut g = Generator::new(seed);
        let mut x = Vec::new();
        for _ in 0..n {
            x.push((0.85 + 0.03 * g.next_normal()) as f32);
            x.push((0.2 + 0.03 * g.next_normal()) as f32);
        }
        Arc::new(InMemoryDataset::new(x, vec![1, 1, 2], vec![0; n], 1).unwrap())
    }

    fn adam() -> Adam {
        Adam::new(AdamConfig {
            lr: 2e-3,
            betas: (0.5, 0.999),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn the_generator_moves_to_the_data_and_the_run_folder_has_both_optimizers() {
        let store = ParamStore::new(5);
        let cfg = MlpGanConfig {
            latent: 4,
            sample_shape: vec![1, 1, 2],
            generator_hidden: vec![16],
            discriminator_hidden: vec![16],
            negative_slope: 0.2,
            discriminator_dropout: 0.0,
        };
        let gan = Gan::mlp(&cfg, &store.root()).unwrap();
        let before = gan.sample(256, &mut Generator::new(9)).unwrap();
        let (mut g_opt, mut d_opt) = (adam(), adam());
        let mut step = GanStep::new(&gan, &store, &mut g_opt, &mut d_opt, 1)
            .unwrap()
            .grid(2, 3, 4)
            .unwrap();
        let dir = std::env::temp_dir().join(format!("deepnet-gan-step-{}", std::process::id()));
        let mut cfg = LoopConfig::new(3, 32, &dir);
        cfg.quiet = true;
        let s = run_loop(&mut step, points(2048, 1), Some(points(256, 2)), &cfg).unwrap();
        assert_eq!(
            s.last().unwrap().train.names(),
            ["d_loss", "g_loss", "d_real", "d_fake"]
        );
        // the samples' mean went from where the initial generator puts it to near the data's
        // (0.85, 0.2); a GAN circles its equilibrium rather than settling, hence the margin
        let mean = |t: &Tensor| {
            let v = t.to_vec_f64();
            let k = v.len() / 2;
            (
                v.iter().step_by(2).sum::<f64>() / k as f64,
                v.iter().skip(1).step_by(2).sum::<f64>() / k as f64,
            )
        };
        let after = gan.sample(256, &mut Generator::new(9)).unwrap();
        let (b, a) = (mean(&before), mean(&after));
        let dist = |m: (f64, f64)| ((m.0 - 0.85).powi(2) + (m.1 - 0.2).powi(2)).sqrt();
        assert!(dist(a) < 0.15 && dist(a) < dist(b) / 3.0, "{b:?} -> {a:?}");
        for e in 1..=3 {
            assert!(dir.join(format!("samples_epoch_{e:03}.png")).exists());
        }
        let ck = crate::load_safetensors(dir.join("checkpoint.safetensors")).unwrap();
        let has = |p: &str| ck.iter().any(|(k, _)| k.starts_with(p));
        assert!(has("model.generator.main.0.weight") && has("model.discriminator."));
        assert!(has("g_optimizer.generator.main.0.weight.exp_avg"));
        assert!(has("d_optimizer.discriminator.main.0.weight.exp_avg"));
        assert!(!has("g_optimizer.discriminator."));
        let model = crate::load_safetensors(dir.join("model.safetensors")).unwrap();
        assert_eq!(model.len(), store.state_dict().len());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_store_without_the_gans_parameters_and_an_empty_grid_are_errors() {
        let store = ParamStore::new(0);
        let cfg = MlpGanConfig {
            latent: 2,
            sample_shape: vec![1, 1, 2],
            generator_hidden: vec![4],
            discriminator_hidden: vec![4],
            ..Default::default()
        };
        let gan = Gan::mlp(&cfg, &store.root()).unwrap();
        let (mut g_opt, mut d_opt) = (adam(), adam());
        let other = ParamStore::new(0);
        let e = GanStep::new(&gan, &other, &mut g_opt, &mut d_opt, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("generator") && e.contains("\"generator\""),
            "{e}"
        );
        let e = GanStep::new(&gan, &store, &mut g_opt, &mut d_opt, 0)
            .unwrap()
            .grid(0, 3, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("0x3"), "{e}");
    }
}
