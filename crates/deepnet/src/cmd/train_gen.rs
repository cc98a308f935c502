//! `deepnet train --model vae|conv_vae|gan|dcgan`: the generative models on their own recipes,
//! through the library's general loop (`run_loop`). Images are intensities in `[0, 1]` (no normalization).
//!
//! | model | recipe (the defaults) |
//! |---|---|
//! | `vae` | PyTorch's example: 784-400-20-400-784, Adam 1e-3, batch 128, 10 epochs, constant rate |
//! | `conv_vae` | conv 1-32-64 (4x4, stride 2), dense 256, code 20, mirrored with transposed convolutions (`deepnet_models::conv_vae`); the VAE's recipe |
//! | `gan` | G 100-256-512-1024-784, D 784-1024-512-256-1, Adam 2e-4 (betas 0.5, 0.999) for each, batch 128, 15 epochs |
//!
//! | `dcgan` | G 100 -> 64x7x7 -> 32x14x14 -> 1x28x28, D 1x28x28 -> 32x14x14 -> 64x7x7 -> 1 (`deepnet_models::dcgan`), Adam 2e-4 (betas 0.5, 0.999) for each, batch 128, 5 epochs |
//!
//! `--code` sets the code size, `--epochs`, `--batch-size`, `--lr`, `--weight-decay`,
//! `--seed`, `--limit`, `--dataset` and `--out` work as for classifiers; the VAE also takes
//! `--scheduler` and the penalties and clipping flags. The run folder has what every run has
//! plus `samples.png` (10x10 samples of the trained model) and, for the GANs,
//! `samples_epoch_<NNN>.png` after every epoch. Ctrl-C writes a checkpoint (the GAN's: both
//! networks and optimizers, the latent noise's generator; the VAE's: its reparameterization
//! noise's) and `train --resume RUN` finishes the run bit for bit.

use super::common::{
    dataset_name, load_train_test, model_store, msg, resolve_dataset, run_dir, CliResult,
};
use super::generative::{recipe_spec, Generative, GENERATIVE_MODELS};
use super::train::{OptimizerName, SchedulerName, TrainArgs};
use deepnet::data::Dataset;
use deepnet::nn::optim::{Adam, AdamConfig, CosineAnnealingLR, LrScheduler, StepLR};
use deepnet::tensor::Generator;
use deepnet::train::{
    run_loop, save_image_grid, vae_step, GanStep, GridOptions, LoopConfig, Optimization,
    Regularization, Resume, RunSummary,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// Whether `train` hands these arguments to this module.
pub fn handles(a: &TrainArgs) -> bool {
    a.model.arch.is_none() && GENERATIVE_MODELS.contains(&a.model.model.as_str())
}

/// The DCGAN recipe's epochs.
const DCGAN_EPOCHS: usize = 5;

/// The recipe's numbers, with any flag given winning.
struct Recipe {
    epochs: usize,
    batch_size: usize,
    lr: f64,
    betas: (f64, f64),
}

fn recipe(a: &TrainArgs) -> CliResult<Recipe> {
    let gan = matches!(a.model.model.as_str(), "gan" | "dcgan");
    let default_epochs = match a.model.model.as_str() {
        "gan" => 15,
        "dcgan" => DCGAN_EPOCHS,
        _ => 10,
    };
    let r = Recipe {
        epochs: a.epochs.unwrap_or(default_epochs),
        batch_size: a.batch_size.unwrap_or(128),
        lr: a.lr.unwrap_or(if gan { 2e-4 } else { 1e-3 }),
        betas: if gan { (0.5, 0.999) } else { (0.9, 0.999) },
    };
    if r.epochs == 0 || r.batch_size == 0 {
        return Err("--epochs and --batch-size: expected at least 1".into());
    }
    if !(r.lr > 0.0 && r.lr.is_finite()) {
        return Err(format!("--lr: expected a positive number, got {}", r.lr));
    }
    if !(a.weight_decay >= 0.0 && a.weight_decay.is_finite()) {
        return Err(format!(
            "--weight-decay: expected a number >= 0, got {}",
            a.weight_decay
        ));
    }
    if let Some(o) = a.optimizer.filter(|o| !matches!(o, OptimizerName::Adam)) {
        return Err(format!(
            "--optimizer {o:?}: the {} trains with adam",
            a.model.model
        ));
    }
    if gan {
        let set = [
            ("--l1", a.l1 != 0.0),
            ("--l2", a.l2 != 0.0),
            ("--max-norm", a.max_norm.is_some()),
            ("--clip-norm", a.clip_norm.is_some()),
            ("--clip-value", a.clip_value.is_some()),
            (
                "--scheduler",
                a.scheduler
                    .is_some_and(|s| !matches!(s, SchedulerName::None)),
            ),
        ];
        if let Some((flag, _)) = set.iter().find(|(_, on)| *on) {
            return Err(format!(
                "{flag}: not supported for the {} (two optimizers at a constant rate)",
                a.model.model
            ));
        }
    }
    Ok(r)
}

fn adam(r: &Recipe, weight_decay: f64) -> CliResult<Adam> {
    Adam::new(AdamConfig {
        lr: r.lr,
        betas: r.betas,
        weight_decay,
        ..Default::default()
    })
    .map_err(msg)
}

/// Trains the generative model of `--model`, or continues the checkpoint `resume` of the run
/// in `a.out`; `argv` is this command line's, kept in `config.json` for `--resume`.
pub fn run(
    a: TrainArgs,
    resume: Option<Resume>,
    argv: Vec<String>,
    json_out: bool,
) -> CliResult<()> {
    // the generative recipes fix their architecture: the classifier flags would do nothing
    super::train::refuse_unused_flags(
        &a.model.model,
        &super::resume::train_argv(),
        &[
            "model",
            "dataset",
            "epochs",
            "batch_size",
            "lr",
            "optimizer",
            "weight_decay",
            "scheduler",
            "l1",
            "l2",
            "max_norm",
            "clip_norm",
            "clip_value",
            "seed",
            "out",
            "monitor_every",
            "limit",
            "tensorboard",
            "resume",
            "code",
        ],
    )?;
    let r = recipe(&a)?;
    let name = a.model.model.clone();
    let dir = resolve_dataset(&a.dataset)?;
    // intensities in [0, 1]: a Bernoulli decoder needs them, a tanh generator maps them to [-1, 1]
    let (train, test) = load_train_test(&dir, (0.0, 1.0), a.limit)?;
    let spec = recipe_spec(&name, a.code, train.sample_shape())?;
    let store = model_store(a.seed);
    let model = Generative::build(&spec, &store)?;
    let dataset = dataset_name(&dir);
    let out = match &resume {
        Some(_) => a.out.clone().ok_or("--resume: no run folder")?,
        None => run_dir(a.out.as_deref(), &name, &dataset)?,
    };
    let cfg = LoopConfig {
        eval_batch_size: 1000,
        seed: a.seed,
        quiet: json_out,
        config_json: json!({
            "model": spec.to_json(), "dataset": dir.display().to_string(), "epochs": r.epochs,
            "batch_size": r.batch_size, "optimizer": "adam", "lr": r.lr, "betas": [r.betas.0, r.betas.1],
            "weight_decay": a.weight_decay, "seed": a.seed,
            "threads": deepnet::tensor::num_threads(), "normalize": {"mean": 0.0, "std": 1.0},
            "argv": argv,
        }),
        metadata: vec![
            ("deepnet.model".into(), spec.to_json().to_string()),
            (
                "deepnet.normalize".into(),
                json!({"mean": 0.0, "std": 1.0}).to_string(),
            ),
        ],
        tensorboard: a.tensorboard,
        augment: deepnet::data::Augment::NONE,
        stop: Some(super::resume::stop_flag()),
        resume,
        ..LoopConfig::new(r.epochs, r.batch_size, &out)
    };
    if !json_out {
        eprintln!(
            "training {name} (code {}, {} parameters) on {} ({} train / {} test) for {} epochs; \
             run folder {}",
            spec.code.unwrap_or(0),
            store.num_params(),
            dir.display(),
            train.len(),
            test.len(),
            r.epochs,
            out.display()
        );
    }
    let train_len = train.len();
    let (train, test): (Arc<dyn Dataset>, Arc<dyn Dataset>) = (Arc::new(train), Arc::new(test));
    let s = match &model {
        Generative::Vae(vae) => {
            let mut opt = adam(&r, a.weight_decay)?;
            let mut sched: Option<Box<dyn LrScheduler>> = match a.scheduler {
                None | Some(SchedulerName::None) => None,
                Some(SchedulerName::Cosine) => Some(Box::new(
                    CosineAnnealingLR::new(&mut opt, r.epochs as u64, 0.0).map_err(msg)?,
                )),
                Some(SchedulerName::Step) => Some(Box::new(
                    StepLR::new(&mut opt, (r.epochs as u64 / 3).max(1), 0.1).map_err(msg)?,
                )),
            };
            let opt = Optimization {
                optimizer: &mut opt,
                scheduler: sched.as_mut().map(|s| s.as_mut() as &mut dyn LrScheduler),
            };
            let reg = Regularization {
                l1: a.l1,
                l2: a.l2,
                max_norm: a.max_norm,
                clip_norm: a.clip_norm.filter(|&c| c != 0.0),
                clip_value: a.clip_value,
            };
            let mut step = vae_step(vae.as_ref(), &store, opt, a.seed)
                .regularization(reg)
                .monitor_every(a.monitor_every.max(1));
            run_loop(&mut step, train, Some(test), &cfg).map_err(msg)?
        }
        Generative::Gan(gan) => {
            let (mut g_opt, mut d_opt) = (adam(&r, a.weight_decay)?, adam(&r, a.weight_decay)?);
            let mut step = GanStep::new(gan, &store, &mut g_opt, &mut d_opt, a.seed)
                .and_then(|s| s.grid(10, 10, a.seed))
                .map_err(msg)?;
            run_loop(&mut step, train, Some(test), &cfg).map_err(msg)?
        }
    };
    super::resume::exit_if_interrupted(s.interrupted, &out);
    model.module().set_training(false);
    let samples = model.sample(100, &mut Generator::new(a.seed))?;
    let grid = GridOptions {
        cols: 10,
        value_range: Some((0.0, 1.0)),
        ..Default::default()
    };
    save_image_grid(out.join("samples.png"), &samples, &grid).map_err(msg)?;
    report(&name, &dataset, &s, train_len, json_out)
}

/// The `--json` summary (or the closing line): the last epoch's test metrics under
/// `test_<name>` (the VAE's loss as `test_nelbo`, its squared error as
/// `recon_error_per_image`) and the training ones under `train_<name>`.
fn report(
    name: &str,
    dataset: &str,
    s: &RunSummary,
    train_len: usize,
    json_out: bool,
) -> CliResult<()> {
    let last = s.last().ok_or("no epoch ran")?;
    let key = |prefix: &str, k: &str| match (prefix, k) {
        ("test", "recon_error_per_image") => k.to_string(),
        (p, "loss") if name.ends_with("vae") => format!("{p}_nelbo"),
        (p, k) => format!("{p}_{k}"),
    };
    let mut j = json!({
        "command": "train", "model": name, "dataset": dataset, "epochs": s.epochs.len(),
        "seconds": s.seconds,
        "images_per_sec": (train_len * s.epochs.len()) as f64 / s.train_seconds.max(1e-9),
        "warnings": s.warnings, "out": s.out_dir.display().to_string(),
    });
    for (prefix, logs) in [("train", &last.train), ("test", &last.test)] {
        for (k, v) in logs.values() {
            j[key(prefix, k)] = Value::from(v);
        }
    }
    if json_out {
        println!("{j}");
    } else {
        let line: Vec<String> = last
            .test
            .values()
            .map(|(k, v)| format!("{} {v:.4}", key("test", k)))
            .collect();
        println!(
            "{} after {} epochs in {:.1} s; run folder {} (samples.png)",
            line.join(", "),
            s.epochs.len(),
            s.seconds,
            s.out_dir.display()
        );
    }
    Ok(())
}
