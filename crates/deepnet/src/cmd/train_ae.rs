//! `deepnet train --model pca | linear_ae | ae | deep_ae | sparse_ae | denoising_ae`: PCA and
//! the autoencoders on intensities in `[0, 1]` (not mean/std normalized), each reporting the
//! test reconstruction error per image (`recon_error_per_image`: the squared error summed over
//! the pixels, averaged over the test images).
//!
//! `pca` fits in one pass (no epochs) and writes `model.safetensors` (`mean`, `components`,
//! `eigenvalues`, `total_variance`) and `eigendigits.png`. The autoencoders train in the
//! general loop (`deepnet_train::run_loop` with a `ModelStep` whose objective is
//! `Autoencoder::objective`) with these default recipes, which any flag overrides:
//!
//! | model | optimizer | lr | batch | epochs | extra |
//! |---|---|---|---|---|---|
//! | `linear_ae` | adam | 1e-2 | 128 | 20 | |
//! | `ae` | adam | 1e-2 | 128 | 20 | |
//! | `deep_ae` | adam | 1e-3 | 128 | 30 | `--pretrain rbm` (10 epochs of CD-1 per layer), sigmoid hidden units |
//! | `sparse_ae` | adam | 1e-2 | 128 | 20 | `--code-l1 0.01` |
//! | `denoising_ae` | adam | 1e-2 | 128 | 20 | `--noise-std 0.5` |
//!
//! all with the cosine learning-rate schedule of `--scheduler`. Every run folder also gets
//! `reconstructions.png`: the first 10 test digits over their reconstructions. Ctrl-C writes a
//! checkpoint (with the corruption noise's generator) and `train --resume RUN` finishes the run
//! bit for bit; pca has nothing to resume.

use super::common::{dataset_name, model_store, run_dir};
use super::common::{load_split, msg, resolve_dataset, CliResult, ModelSpec};
use super::reconstruct::save_rows;
use super::train::{check_flags, optimizer, scheduler, TrainArgs};
use clap::Args;
use deepnet::data::{Dataset, InMemoryDataset, Split};
use deepnet::models::autoencoder::parse_optional_activation;
use deepnet::models::rbm::{
    check_unrollable, pretrain_autoencoder, unrolled_state_dict, RbmTraining,
};
use deepnet::models::{
    evaluate_autoencoder, Autoencoder, AutoencoderConfig, Noise, Pca, AUTOENCODER_MODELS,
};
use deepnet::nn::optim::LrScheduler;
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::{Generator, Tensor};
use deepnet::train::{
    run_loop, save_image_grid, save_safetensors, shared_generator, GridOptions, Logs, LoopConfig,
    ModelStep, Optimization, Regularization, Resume,
};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The code size of pca and the autoencoders when `--code` is not given: the canon's 30.
const DEFAULT_CODE: usize = 30;

/// The flags of PCA and the autoencoders (`--code` is shared with the generative models).
#[derive(Args, Clone, Debug)]
pub struct AeArgs {
    /// An autoencoder's code-layer activation: linear, sigmoid, relu, tanh or leaky_relu
    /// (default: linear for linear_ae and deep_ae, sigmoid for ae and denoising_ae, relu for
    /// sparse_ae).
    #[arg(long, value_name = "ACT")]
    pub code_activation: Option<String>,
    /// An autoencoder's output: sigmoid (trained with the binary cross-entropy) or linear
    /// (squared error). Default: linear for linear_ae, sigmoid for the others.
    #[arg(long, value_name = "OUT")]
    pub output: Option<String>,
    /// L1 penalty lambda on the code, as in L(x, x') + lambda sum_i |z_i| per image
    /// (default: 0.01 for sparse_ae, 0 for the others).
    #[arg(long, value_name = "LAMBDA", allow_negative_numbers = true)]
    pub code_l1: Option<f64>,
    /// Standard deviation of the Gaussian noise added to an autoencoder's training inputs
    /// (default: 0.5 for denoising_ae, 0 for the others).
    #[arg(long, value_name = "STD", allow_negative_numbers = true)]
    pub noise_std: Option<f64>,
    /// Masking noise: the probability that each training input pixel is set to 0 (default 0).
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub mask_prob: Option<f64>,
    /// Pretraining before backpropagation: rbm (greedy layer-wise RBMs trained by CD-1, as
    /// Hinton and Salakhutdinov 2006; needs sigmoid hidden units and a linear code) or none.
    /// Default: rbm for deep_ae, none for the others.
    #[arg(long, value_name = "KIND")]
    pub pretrain: Option<String>,
    /// Epochs of CD-1 per RBM layer (default 10).
    #[arg(long, value_name = "N")]
    pub pretrain_epochs: Option<usize>,
}

/// Whether `train` hands these arguments to this module: `--model` is pca or an autoencoder.
pub fn handles(a: &TrainArgs) -> bool {
    a.model.arch.is_none()
        && (a.model.model == "pca" || AUTOENCODER_MODELS.contains(&a.model.model.as_str()))
}

/// The run's data: intensities in [0, 1], `--limit` applied.
fn load(a: &TrainArgs) -> CliResult<(String, InMemoryDataset, InMemoryDataset)> {
    let dir = resolve_dataset(&a.dataset)?;
    let mut train = load_split(&dir, Split::Train, (0.0, 1.0))?;
    let mut test = load_split(&dir, Split::Test, (0.0, 1.0))?;
    if let Some(n) = a.limit {
        train = train.take(n);
        test = test.take(n);
    }
    Ok((dataset_name(&dir), train, test))
}

/// The metadata of the weights file: the spec, and the identity normalization.
fn metadata(spec: &ModelSpec) -> Vec<(String, String)> {
    vec![
        ("deepnet.model".into(), spec.to_json().to_string()),
        (
            "deepnet.normalize".into(),
            json!({"mean": 0.0, "std": 1.0}).to_string(),
        ),
    ]
}

/// Trains (or fits) the model of `--model` and reports its test reconstruction error; an
/// autoencoder's run continues the checkpoint `resume` (in `a.out`) when given. `argv` is this
/// command line's, kept in `config.json` for `--resume`.
pub fn run(
    mut a: TrainArgs,
    resume: Option<Resume>,
    argv: Vec<String>,
    json_out: bool,
) -> CliResult<()> {
    let name = a.model.model.clone();
    if name == "pca" {
        return run_pca(&a, argv, json_out);
    }
    // the recipe: each default applies only where the flag was not given
    let deep = name == "deep_ae";
    let epochs = *a.epochs.get_or_insert(if deep { 30 } else { 20 });
    let batch_size = *a.batch_size.get_or_insert(128);
    a.optimizer.get_or_insert(super::train::OptimizerName::Adam);
    a.lr.get_or_insert(if deep { 1e-3 } else { 1e-2 });
    check_flags(&a, epochs, batch_size)?;
    let code_l1 =
        a.ae.code_l1
            .unwrap_or(if name == "sparse_ae" { 0.01 } else { 0.0 });
    if !(code_l1 >= 0.0 && code_l1.is_finite()) {
        return Err(format!("--code-l1: expected a number >= 0, got {code_l1}"));
    }
    let std =
        a.ae.noise_std
            .unwrap_or(if name == "denoising_ae" { 0.5 } else { 0.0 });
    let noise = Noise::new(std, a.ae.mask_prob.unwrap_or(0.0)).map_err(|e| {
        format!(
            "--noise-std {std} / --mask-prob {}: {e}",
            a.ae.mask_prob.unwrap_or(0.0)
        )
    })?;
    let (dataset, train, test) = load(&a)?;
    let input = train.sample_shape();
    let d: usize = input.iter().product();
    let mut cfg =
        AutoencoderConfig::preset(&name, d, a.code.unwrap_or(DEFAULT_CODE)).map_err(msg)?;
    if let Some(act) = &a.model.activation {
        cfg.activation = act.parse().map_err(|e| format!("--activation: {e}"))?;
    }
    if let Some(h) = &a.model.hidden {
        cfg.hidden = h.clone();
    }
    if let Some(c) = &a.ae.code_activation {
        cfg.code_activation =
            parse_optional_activation(c).map_err(|e| format!("--code-activation: {e}"))?;
    }
    if let Some(o) = &a.ae.output {
        cfg.output = o.parse().map_err(|e| format!("--output: {e}"))?;
    }
    let sizes = if a.model.hidden.is_some() {
        "--hidden / --code"
    } else {
        "--code"
    };
    cfg.validate().map_err(|e| format!("{sizes}: {e}"))?;
    let spec = ModelSpec::reconstruction(&name, input.clone(), Some(&cfg), cfg.code);
    let store = model_store(a.seed);
    let ae = Autoencoder::new(&cfg, &store.root()).map_err(msg)?;
    let pretrain = pretrain_epochs(&a, &name)?;
    if pretrain.is_some() {
        // before the run folder exists
        check_unrollable(&cfg).map_err(|e| format!("--pretrain rbm: {e}"))?;
    }
    let (mut opt, lr) = optimizer(&a)?;
    let mut sched = scheduler(a.scheduler(), opt.as_mut(), epochs)?;
    let out = match &resume {
        Some(_) => a.out.clone().ok_or("--resume: no run folder")?,
        None => run_dir(a.out.as_deref(), &name, &dataset)?,
    };
    let config_json = json!({
        "model": spec.to_json(), "dataset": dataset, "epochs": epochs, "batch_size": batch_size,
        "optimizer": a.optimizer.map(|o| format!("{o:?}").to_lowercase()), "lr": lr,
        "scheduler": format!("{:?}", a.scheduler()).to_lowercase(),
        "weight_decay": a.weight_decay, "l1": a.l1, "l2": a.l2, "code_l1": code_l1,
        "noise_std": noise.std(), "mask_prob": noise.mask_prob(), "seed": a.seed,
        "pretrain": if pretrain.is_some() { "rbm" } else { "none" }, "pretrain_epochs": pretrain,
        "threads": deepnet::tensor::num_threads(), "normalize": {"mean": 0.0, "std": 1.0},
        "argv": argv,
    });
    if !json_out {
        eprintln!(
            "training {} ({} parameters) on {dataset} ({} train / {} test) for {epochs} epochs; run folder {}",
            ae.describe(),
            store.num_params(),
            train.len(),
            test.len(),
            out.display()
        );
    }
    // a resumed run's weights come from its checkpoint, pretrained or not
    let pretrained = match (pretrain, &resume) {
        (Some(epochs), None) => Some(pretrain_rbms(
            &cfg, &train, &store, epochs, a.seed, json_out,
        )?),
        _ => None,
    };
    let (test_x, _) = test.to_tensors().map_err(msg)?;
    let sparse = code_l1 > 0.0;
    // the noise's own stream, apart from the initialization's and the shuffling's; the step
    // checkpoints it (`noise.corruption`) so that a resumed run corrupts the same pixels
    let g = shared_generator(a.seed.wrapping_add(0x6e6f_6973));
    let (corruption, ae_ref, noise_ref) = (g.clone(), &ae, &noise);
    let objective = move |_m: &dyn Module, x: &Tensor, _y: &Tensor| {
        let mut g = corruption.lock().unwrap_or_else(|e| e.into_inner());
        let o = ae_ref.objective(x, noise_ref, code_l1, &mut g)?;
        let n = x.dims()[0] as f64;
        let mut logs = Logs::new().with("recon_error_per_image", o.recon_error_per_image, n);
        if sparse {
            logs.push("near_zero_fraction", o.near_zero_fraction, n);
        }
        Ok((o.loss, logs))
    };
    let opt = Optimization {
        optimizer: opt.as_mut(),
        scheduler: sched.as_mut().map(|s| s.as_mut() as &mut dyn LrScheduler),
    };
    let mut step = ModelStep::new(&ae, &store, opt, Box::new(objective))
        .regularization(Regularization {
            l1: a.l1,
            l2: a.l2,
            max_norm: a.max_norm,
            clip_norm: a.clip_norm(),
            clip_value: a.clip_value,
        })
        .monitor_every(a.monitor_every)
        .generator("corruption", g);
    let lc = LoopConfig {
        epochs,
        batch_size,
        eval_batch_size: 1000,
        seed: a.seed,
        out_dir: out.clone(),
        quiet: json_out,
        unit: "images".into(),
        config_json,
        metadata: metadata(&spec),
        stop: Some(super::resume::stop_flag()),
        resume,
        tensorboard: a.tensorboard,
        augment: deepnet::data::Augment::NONE,
    };
    let train_len = train.len();
    let s = run_loop(&mut step, Arc::new(train), Some(Arc::new(test)), &lc).map_err(msg)?;
    drop(step);
    super::resume::exit_if_interrupted(s.interrupted, &out);
    let e = evaluate_autoencoder(&ae, &test_x, 1000, &noise, a.seed).map_err(msg)?;
    let shown = test_x
        .narrow(0usize, 0, 10.min(test_x.dims()[0]))
        .map_err(msg)?;
    let recon = ae.forward(&shown).map_err(msg)?;
    save_rows(&out.join("reconstructions.png"), &[shown, recon])?;
    let last = s.last().ok_or("no epoch ran")?;
    let ips = (train_len * epochs) as f64 / s.train_seconds.max(1e-9);
    let mut report = json!({
        "command": "train", "model": name, "dataset": dataset, "code": cfg.code,
        "epochs": epochs, "code_l1": code_l1, "recon_error_per_image": e.recon_error_per_image,
        "train_recon_error_per_image": last.train.get("recon_error_per_image"),
        "test_loss": last.test.get("loss"), "train_loss": last.train.get("loss"),
        "near_zero_fraction": e.near_zero_fraction, "code_l1_per_image": e.code_l1_per_image,
        "seconds": s.seconds, "images_per_sec": ips, "warnings": s.warnings,
        "out": out.display().to_string(),
    });
    if let Some(p) = &pretrained {
        report["pretrain"] = json!("rbm");
        report["pretrain_seconds"] = json!(p.seconds);
        report["rbm_errors"] = json!(p.errors);
    }
    if let (Some(before), Some(after)) = (e.noisy_error_per_image, e.denoised_error_per_image) {
        report["noisy_error_per_image"] = json!(before);
        report["denoised_error_per_image"] = json!(after);
    }
    finish(&report, json_out);
    Ok(())
}

/// The RBM epochs per layer when this run pretrains (`--pretrain`, by default for deep_ae),
/// or `None`; checks the two flags.
fn pretrain_epochs(a: &TrainArgs, name: &str) -> CliResult<Option<usize>> {
    let on = match a.ae.pretrain.as_deref() {
        None => name == "deep_ae",
        Some("rbm") => true,
        Some("none") => false,
        Some(other) => return Err(format!("--pretrain: expected rbm or none, got \"{other}\"")),
    };
    match a.ae.pretrain_epochs {
        Some(0) => Err("--pretrain-epochs: expected at least 1".into()),
        Some(_) if !on => Err(format!(
            "--pretrain-epochs: --model {name} does not pretrain here (add --pretrain rbm)"
        )),
        e => Ok(on.then(|| e.unwrap_or(10))),
    }
}

/// What RBM pretraining did: seconds, and each layer's reconstruction error per epoch.
struct Pretrained {
    seconds: f64,
    errors: Vec<Vec<f64>>,
}

/// Greedy RBM pretraining of `cfg`'s encoder on the training images (`epochs` of CD-1 per
/// layer), loaded into the autoencoder's parameters in `store` (encoder and mirrored decoder).
fn pretrain_rbms(
    cfg: &AutoencoderConfig,
    train: &InMemoryDataset,
    store: &ParamStore,
    epochs: usize,
    seed: u64,
    quiet: bool,
) -> CliResult<Pretrained> {
    let (x, _) = train.to_tensors().map_err(msg)?;
    let t = RbmTraining {
        epochs,
        ..Default::default()
    };
    let layers = cfg.hidden.len() + 1;
    // a stream of its own, apart from the initialization's, the shuffling's and the noise's
    let mut g = Generator::new(seed.wrapping_add(0x0072_626d));
    let t0 = Instant::now();
    let mut errors: Vec<Vec<f64>> = vec![Vec::new(); layers];
    let rbms = pretrain_autoencoder(cfg, &x, &t, &mut g, |layer, epoch, err| {
        errors[layer].push(err);
        if !quiet {
            eprintln!(
                "pretraining RBM {}/{layers}: epoch {}/{epochs}, reconstruction error {err:.3} ({:.0} s)",
                layer + 1,
                epoch + 1,
                t0.elapsed().as_secs_f64()
            );
        }
    })
    .map_err(|e| format!("--pretrain rbm: {e}"))?;
    let sd = unrolled_state_dict(cfg, &rbms, store.root().path()).map_err(msg)?;
    store.load_state_dict(&sd, true).map_err(msg)?;
    Ok(Pretrained {
        seconds: t0.elapsed().as_secs_f64(),
        errors,
    })
}

/// Prints the `--json` summary, or its figures as a line of text.
fn finish(report: &Value, json_out: bool) {
    if json_out {
        println!("{report}");
        return;
    }
    let f = |k: &str| report.get(k).and_then(Value::as_f64);
    let mut line = format!(
        "{} (code {}): test reconstruction error {:.3} per image",
        report["model"].as_str().unwrap_or_default(),
        report["code"],
        f("recon_error_per_image").unwrap_or(f64::NAN)
    );
    if let Some(v) = f("explained_variance") {
        line += &format!(", explained variance {:.2}%", 100.0 * v);
    }
    if f("code_l1").is_some_and(|l| l > 0.0) {
        line += &format!(
            ", near-zero code units {:.1}%",
            100.0 * f("near_zero_fraction").unwrap_or(f64::NAN)
        );
    }
    if let (Some(b), Some(a)) = (f("noisy_error_per_image"), f("denoised_error_per_image")) {
        line += &format!("; noisy test inputs {b:.3} -> denoised {a:.3}");
    }
    if let Some(s) = f("seconds") {
        line += &format!(" ({s:.1} s)");
    }
    println!(
        "{line}; run folder {}",
        report["out"].as_str().unwrap_or_default()
    );
}

/// `--model pca`: fits on the training images, reports the test error, writes the run folder.
fn run_pca(a: &TrainArgs, argv: Vec<String>, json_out: bool) -> CliResult<()> {
    let given = [
        ("code-activation", a.ae.code_activation.is_some()),
        ("output", a.ae.output.is_some()),
        ("code-l1", a.ae.code_l1.is_some()),
        ("noise-std", a.ae.noise_std.is_some()),
        ("mask-prob", a.ae.mask_prob.is_some()),
        ("pretrain", a.ae.pretrain.is_some()),
        ("pretrain-epochs", a.ae.pretrain_epochs.is_some()),
        ("hidden", a.model.hidden.is_some()),
        ("activation", a.model.activation.is_some()),
        ("epochs", a.epochs.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
        return Err(format!(
            "--{flag}: pca is fitted in closed form; the flag applies to the autoencoders"
        ));
    }
    check_flags(a, 1, 1)?;
    let start = std::time::Instant::now();
    let (dataset, train, test) = load(a)?;
    let (train_x, _) = train.to_tensors().map_err(msg)?;
    let (test_x, _) = test.to_tensors().map_err(msg)?;
    let pca =
        Pca::fit(&train_x, a.code.unwrap_or(DEFAULT_CODE)).map_err(|e| format!("--code: {e}"))?;
    let recon = pca.reconstruct(&test_x).map_err(msg)?;
    let error = deepnet::models::squared_error_per_image(&recon, &test_x).map_err(msg)?;
    let out = run_dir(a.out.as_deref(), "pca", &dataset)?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let spec = ModelSpec::reconstruction("pca", train.sample_shape(), None, pca.k());
    let explained: f64 = pca.explained_variance_ratio().iter().sum();
    let config = json!({"model": spec.to_json(), "dataset": dataset, "seed": a.seed,
                        "normalize": {"mean": 0.0, "std": 1.0}, "argv": argv});
    let text = serde_json::to_string_pretty(&config).map_err(msg)?;
    deepnet::train::write_atomic(out.join("config.json"), text.as_bytes())
        .map_err(|e| format!("{}: {e}", out.join("config.json").display()))?;
    save_safetensors(
        out.join("model.safetensors"),
        &pca.state_dict().map_err(msg)?,
        &metadata(&spec),
    )
    .map_err(msg)?;
    save_eigendigits(
        &pca,
        &train.sample_shape(),
        &out.join("eigendigits.png"),
        16,
    )?;
    let shown = test_x
        .narrow(0usize, 0, 10.min(test_x.dims()[0]))
        .map_err(msg)?;
    let rows = [shown.clone(), pca.reconstruct(&shown).map_err(msg)?];
    save_rows(&out.join("reconstructions.png"), &rows)?;
    let report = json!({
        "command": "train", "model": "pca", "dataset": dataset, "code": pca.k(),
        "recon_error_per_image": error,
        "train_recon_error_per_image": pca.fit_error_per_sample(),
        "explained_variance": explained,
        "explained_variance_ratio": pca.explained_variance_ratio(),
        "seconds": start.elapsed().as_secs_f64(), "out": out.display().to_string(),
    });
    finish(&report, json_out);
    Ok(())
}

/// The `count` leading components as images of `shape`, each scaled to its own range.
pub fn save_eigendigits(pca: &Pca, shape: &[usize], path: &Path, count: usize) -> CliResult<()> {
    let k = count.min(pca.k());
    let mut dims = vec![k];
    dims.extend(shape);
    if dims.len() == 2 {
        dims.insert(1, 1);
    }
    let comps = pca
        .components()
        .narrow(0usize, 0, k)
        .and_then(|c| c.reshape(dims))
        .map_err(|e| format!("eigendigits: components are not images of {shape:?}: {e}"))?;
    let opts = GridOptions {
        cols: k.min(8),
        ..Default::default()
    };
    save_image_grid(path, &comps, &opts).map_err(msg)?;
    Ok(())
}
