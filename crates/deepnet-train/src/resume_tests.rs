//! Library-level resume of the generative steps: a VAE ([`crate::vae_step`]) and a GAN
//! ([`crate::GanStep`]) stopped mid-epoch and resumed from their checkpoint (by a step built
//! from other seeds, so that everything must come from the file) end with the uninterrupted
//! run's weights bit for bit; a checkpoint without a part of the step's state is refused.

use crate::checkpoint::{read_checkpoint, Resume};
use crate::logs::Logs;
use crate::run_loop::{run_loop, LoopConfig, RunSummary, TrainStep};
use crate::trainer::Optimization;
use crate::{load_safetensors, vae_step, GanStep, Result};
use deepnet_data::{Dataset, InMemoryDataset};
use deepnet_models::{Gan, MlpGanConfig, MlpVae, MlpVaeConfig};
use deepnet_nn::optim::{Adam, AdamConfig};
use deepnet_nn::ParamStore;
use deepnet_tensor::{Generator, Tensor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Raises `stop` after `after` training batches of `inner` (a Ctrl-C at a known place).
struct StopAfter<'s> {
    inner: &'s mut dyn TrainStep,
    stop: Arc<AtomicBool>,
    after: Option<usize>,
    done: usize,
}

impl TrainStep for StopAfter<'_> {
    fn train_batch(&mut self, x: &Tensor, y: &Tensor, step: usize) -> Result<Logs> {
        let logs = self.inner.train_batch(x, y, step)?;
        self.done += 1;
        if Some(self.done) == self.after {
            self.stop.store(true, Ordering::SeqCst);
        }
        Ok(logs)
    }
    fn eval_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.inner.eval_batch(x, y)
    }
    fn set_training(&mut self, on: bool) {
        self.inner.set_training(on)
    }
    fn end_epoch(&mut self, epoch: usize, run_dir: &Path) -> Result<Vec<String>> {
        self.inner.end_epoch(epoch, run_dir)
    }
    fn model_state(&self) -> Vec<(String, Tensor)> {
        self.inner.model_state()
    }
    fn checkpoint_state(&self) -> Vec<(String, Tensor)> {
        self.inner.checkpoint_state()
    }
    fn load_checkpoint(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.inner.load_checkpoint(state)
    }
}

/// 3 epochs of batch 16 over `data` into `dir` with `step`, stopped after `stop_after` batches.
fn run(
    step: &mut dyn TrainStep,
    dir: &Path,
    data: (Arc<dyn Dataset>, Arc<dyn Dataset>),
    stop_after: Option<usize>,
    resume: Option<Resume>,
) -> RunSummary {
    let stop = Arc::new(AtomicBool::new(false));
    let mut cfg = LoopConfig::new(3, 16, dir);
    cfg.quiet = true;
    cfg.seed = 4;
    cfg.stop = Some(stop.clone());
    cfg.resume = resume;
    let mut s = StopAfter {
        inner: step,
        stop,
        after: stop_after,
        done: 0,
    };
    run_loop(&mut s, data.0, Some(data.1), &cfg).unwrap()
}

/// Noisy binary 2x2 "images" (two patterns).
fn patterns(n: usize, seed: u64) -> Arc<dyn Dataset> {
    let mut g = Generator::new(seed);
    let x = (0..n * 4)
        .map(|i| {
            let on = if (i / 4) % 2 == 0 {
                i % 4 < 2
            } else {
                i % 2 == 0
            };
            if on != (g.next_f64() < 0.1) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Arc::new(InMemoryDataset::new(x, vec![1, 2, 2], vec![0; n], 1).unwrap())
}

fn data() -> (Arc<dyn Dataset>, Arc<dyn Dataset>) {
    // 7 batches of 16 per epoch
    (patterns(100, 1), patterns(40, 2))
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("deepnet-resume-{name}-{}", std::process::id()))
}

fn bits(dir: &Path, file: &str) -> Vec<(String, Vec<u32>)> {
    load_safetensors(dir.join(file))
        .unwrap()
        .into_iter()
        .map(|(k, t)| {
            let v = t.to_vec::<f32>().unwrap();
            (k, v.iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

fn adam(lr: f64) -> Adam {
    Adam::new(AdamConfig {
        lr,
        betas: (0.5, 0.999),
        ..Default::default()
    })
    .unwrap()
}

/// A VAE run from `seed` (initialization and noise) into `dir`.
fn vae_run(dir: &Path, seed: u64, stop_after: Option<usize>, resume: Option<Resume>) -> RunSummary {
    let store = ParamStore::new(seed);
    let cfg = MlpVaeConfig {
        sample_shape: vec![1, 2, 2],
        hidden: 8,
        latent: 2,
    };
    let vae = MlpVae::new(&cfg, &store.root()).unwrap();
    let mut opt = adam(1e-2);
    let o = Optimization {
        optimizer: &mut opt,
        scheduler: None,
    };
    let mut step = vae_step(&vae, &store, o, seed);
    run(&mut step, dir, data(), stop_after, resume)
}

#[test]
fn a_vae_stopped_mid_epoch_resumes_to_the_same_bits() {
    let (a, b) = (temp("vae-whole"), temp("vae-parts"));
    assert!(!vae_run(&a, 3, None, None).interrupted);
    assert!(vae_run(&b, 3, Some(10), None).interrupted);
    let ck = read_checkpoint(b.join("checkpoint.safetensors")).unwrap();
    assert_eq!((ck.epoch, ck.batch), (1, 3));
    assert!(ck
        .tensors
        .iter()
        .any(|(k, _)| k == "noise.reparameterization"));
    // without the noise's state the step refuses to start, naming it
    let mut partial = ck.clone();
    partial.tensors.retain(|(k, _)| !k.starts_with("noise."));
    let store = ParamStore::new(0);
    let vae = MlpVae::new(
        &MlpVaeConfig {
            sample_shape: vec![1, 2, 2],
            hidden: 8,
            latent: 2,
        },
        &store.root(),
    )
    .unwrap();
    let mut opt = adam(1e-2);
    let o = Optimization {
        optimizer: &mut opt,
        scheduler: None,
    };
    let e = vae_step(&vae, &store, o, 0)
        .load_checkpoint(&partial.tensors)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"noise.reparameterization\""), "{e}");
    assert!(!vae_run(&b, 77, None, Some(ck)).interrupted);
    assert_eq!(bits(&a, "model.safetensors"), bits(&b, "model.safetensors"));
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

/// A GAN run (dropout in the discriminator, so the model's generators matter) from `seed`.
fn gan_run(dir: &Path, seed: u64, stop_after: Option<usize>, resume: Option<Resume>) -> RunSummary {
    let store = ParamStore::new(seed);
    let cfg = MlpGanConfig {
        latent: 3,
        sample_shape: vec![1, 2, 2],
        generator_hidden: vec![8],
        discriminator_hidden: vec![8],
        negative_slope: 0.2,
        discriminator_dropout: 0.3,
    };
    let gan = Gan::mlp(&cfg, &store.root()).unwrap();
    let (mut g_opt, mut d_opt) = (adam(2e-3), adam(2e-3));
    let mut step = GanStep::new(&gan, &store, &mut g_opt, &mut d_opt, seed)
        .unwrap()
        .grid(2, 2, 5)
        .unwrap();
    run(&mut step, dir, data(), stop_after, resume)
}

#[test]
fn a_gan_stopped_mid_epoch_resumes_to_the_same_bits_and_grids() {
    let (a, b) = (temp("gan-whole"), temp("gan-parts"));
    assert!(!gan_run(&a, 3, None, None).interrupted);
    assert!(gan_run(&b, 3, Some(9), None).interrupted);
    assert!(b.join("samples_epoch_001.png").exists());
    let ck = read_checkpoint(b.join("checkpoint.safetensors")).unwrap();
    for section in ["g_optimizer.", "d_optimizer.", "rng.", "noise.latent"] {
        assert!(
            ck.tensors.iter().any(|(k, _)| k.starts_with(section)),
            "{section} missing"
        );
    }
    assert!(!gan_run(&b, 77, None, Some(ck)).interrupted);
    assert_eq!(bits(&a, "model.safetensors"), bits(&b, "model.safetensors"));
    for e in 1..=3 {
        let f = format!("samples_epoch_{e:03}.png");
        assert_eq!(
            std::fs::read(a.join(&f)).unwrap(),
            std::fs::read(b.join(&f)).unwrap()
        );
    }
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}
