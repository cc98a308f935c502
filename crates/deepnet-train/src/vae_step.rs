//! A VAE trains as a [`ModelStep`] whose objective is the negative ELBO: [`vae_objective`]
//! returns it (in nats per image, logged as `loss`) with its two terms `recon` and `kl`, and,
//! in evaluation, the squared reconstruction error of the mean code as `recon_error_per_image`
//! (the measure of the plain autoencoders). Any [`VariationalAutoencoder`] (MLP or
//! convolutional) trains this way.
//!
//! ```ignore
//! let store = ParamStore::new(0);
//! let vae = MlpVae::new(&MlpVaeConfig::default(), &store.root())?;
//! let mut adam = Adam::new(AdamConfig { lr: 1e-3, ..Default::default() })?;
//! let opt = Optimization { optimizer: &mut adam, scheduler: None };
//! let mut step = vae_step(&vae, &store, opt, 0);
//! run_loop(&mut step, train, Some(test), &LoopConfig::new(10, 128, "runs/vae"))?;
//! ```
//!
//! [`vae_step`] checkpoints the reparameterization noise's generator with the rest, so a run
//! stopped anywhere resumes (`LoopConfig::resume`) to the uninterrupted run's weights.

use crate::logs::Logs;
use crate::model_step::{lock, shared_generator, ModelStep, Objective, SharedGenerator};
use crate::trainer::Optimization;
use deepnet_models::vae::{negative_elbo, squared_error_per_image, VariationalAutoencoder};
use deepnet_nn::ParamStore;
use deepnet_tensor::is_grad_enabled;

/// The negative ELBO of `vae` as a [`ModelStep`] objective (the module it is handed is
/// ignored: it is `vae` itself). The noise of the reparameterization comes from `gen` (in
/// training and in evaluation), which the step must checkpoint for a run to resume exactly:
/// [`vae_step`] does both.
pub fn vae_objective<'a>(
    vae: &'a dyn VariationalAutoencoder,
    gen: SharedGenerator,
) -> Objective<'a> {
    Box::new(move |_model, x, _y| {
        let e = negative_elbo(vae, x, &mut lock(&gen))?;
        let n = x.dims().first().copied().unwrap_or(1) as f64;
        let mut logs = Logs::new()
            .with("recon", e.recon.mean_all()?.item()?, n)
            .with("kl", e.kl.mean_all()?.item()?, n);
        // evaluation only: one more decoder pass, not worth it on every training batch
        if !is_grad_enabled() {
            let se = squared_error_per_image(vae, x)?.mean_all()?.item()?;
            logs.push("recon_error_per_image", se, n);
        }
        Ok((e.loss, logs))
    })
}

/// The step of `vae` (its parameters in `store`) trained by `opt` on [`vae_objective`], the
/// reparameterization noise drawn from a generator seeded with `seed` and checkpointed as
/// `noise.reparameterization`: a run of this step resumes bit for bit.
pub fn vae_step<'a>(
    vae: &'a dyn VariationalAutoencoder,
    store: &'a ParamStore,
    opt: Optimization<'a>,
    seed: u64,
) -> ModelStep<'a> {
    let gen = shared_generator(seed);
    ModelStep::new(vae, store, opt, vae_objective(vae, gen.clone()))
        .generator("reparameterization", gen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_loop::{run_loop, LoopConfig};
    use deepnet_data::{Dataset, InMemoryDataset};
    use deepnet_models::{MlpVae, MlpVaeConfig};
    use deepnet_nn::optim::{Adam, AdamConfig};
    use deepnet_tensor::Generator;
    use std::sync::Arc;

    /// Binary 4x4 "images": one of two patterns (top half or left half lit) with 5% pixel flips.
    fn patterns(n: usize, seed: u64) -> Arc<dyn Dataset> {
        let mut g = Generator::new(seed);
        let mut x = Vec::new();
        for i in 0..n {
            for p in 0..16 {
                let on = if i % 2 == 0 { p < 8 } else { p % 4 < 2 };
                let flip = g.next_f64() < 0.05;
                x.push(if on != flip { 1.0 } else { 0.0 });
            }
        }
        Arc::new(InMemoryDataset::new(x, vec![1, 4, 4], vec![0; n], 1).unwrap())
    }

    #[test]
    fn a_vae_learns_two_patterns_and_logs_its_terms() {
        let store = ParamStore::new(2);
        let cfg = MlpVaeConfig {
            sample_shape: vec![1, 4, 4],
            hidden: 32,
            latent: 2,
        };
        let vae = MlpVae::new(&cfg, &store.root()).unwrap();
        let mut adam = Adam::new(AdamConfig {
            lr: 3e-3,
            ..Default::default()
        })
        .unwrap();
        let opt = Optimization {
            optimizer: &mut adam,
            scheduler: None,
        };
        let mut step = vae_step(&vae, &store, opt, 0);
        let dir = std::env::temp_dir().join(format!("deepnet-vae-step-{}", std::process::id()));
        let mut c = LoopConfig::new(6, 32, &dir);
        c.quiet = true;
        let s = run_loop(&mut step, patterns(1024, 1), Some(patterns(256, 2)), &c).unwrap();
        let (first, last) = (&s.epochs[0], s.last().unwrap());
        assert_eq!(first.train.names(), ["loss", "recon", "kl"]);
        assert_eq!(
            last.test.names(),
            ["loss", "recon", "kl", "recon_error_per_image"]
        );
        let (r, k, l) = (
            last.test.get("recon").unwrap(),
            last.test.get("kl").unwrap(),
            last.test.get("loss").unwrap(),
        );
        assert!((r + k - l).abs() < 1e-4 * l, "{r} + {k} != {l}");
        // 16 pixels at 5% noise: the entropy floor is 16 H(0.05) = 3.18 nats; a model that only
        // knows the pixel means (each lit half the time) pays 16 ln 2 = 11.1 nats
        assert!(l < 7.0, "test loss {l}");
        assert!(l < first.train.get("loss").unwrap());
        assert!(last.test.get("recon_error_per_image").unwrap() < 2.0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
