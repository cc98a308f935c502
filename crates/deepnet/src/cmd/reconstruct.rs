//! `deepnet reconstruct`: the canon's figure of the autoencoder chapter. Rows of test digits:
//! the digits themselves first, then one row per weights file (`pca` or an autoencoder written
//! by `deepnet train`), in the order given, each the model's reconstructions of the same
//! digits, drawn on one fixed intensity scale (0 black, 1 white). Prints each row's error
//! (squared error summed over the pixels, mean over the digits shown) and the model's
//! `recon_error_per_image` over the whole test split.
//!
//! ```text
//! deepnet reconstruct --weights runs/pca/model.safetensors,runs/ae/model.safetensors,\
//!     runs/deep/model.safetensors --count 10 --out docs/reconstructions.png
//! ```
//!
//! `--codes FILE.png` also draws the first two code units of every model for the test digits
//! as a scatter plot coloured by class, one panel per model (with `--code 2` models, the
//! canon's 2-D codes figure).

use super::common::{
    check_finite_tensors, check_sample_shape, load_split, msg, resolve_dataset, CliResult,
    ModelSpec, WeightsFile,
};
use clap::Args;
use deepnet::data::{Dataset, Split};
use deepnet::models::{squared_error_per_image, Autoencoder, Pca};
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::{no_grad, Tensor};
use deepnet::train::{
    probe_accuracy, save_image_grid, save_scatter_panels, GridOptions, ProbeConfig,
};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ReconstructArgs {
    /// Weights files written by `deepnet train --model pca | linear_ae | ae | deep_ae |
    /// sparse_ae | denoising_ae`, comma separated: one row of the figure each, in this order.
    /// A run's checkpoint.safetensors works too (the model of its last finished epoch).
    #[arg(long, value_delimiter = ',', required = true)]
    pub weights: Vec<PathBuf>,
    /// mnist, fashion-mnist, or a directory holding the four IDX files (its test split).
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Number of test digits: the figure's columns.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Index of the first test digit shown.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// The PNG to write.
    #[arg(long, default_value = "reconstructions.png")]
    pub out: PathBuf,
    /// Also write a scatter plot of the first two code units of the test digits, coloured
    /// by class, one panel per model.
    #[arg(long, value_name = "FILE.png")]
    pub codes: Option<PathBuf>,
    /// Test digits in the scatter plot (default: all).
    #[arg(long)]
    pub codes_limit: Option<usize>,
    /// The codes as features: train a small classifier head (one hidden layer of 128 ReLU
    /// units, Adam, 50 epochs) on each model's codes of the first N training images with
    /// their labels, and the same head on the raw pixels, and report the test accuracies.
    #[arg(long, value_name = "N")]
    pub probe_labels: Option<usize>,
    /// Use only the first N test images (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// A fitted PCA or a trained autoencoder, loaded from its weights file.
pub enum Reconstructor {
    /// `pca`
    Pca(Pca),
    /// an autoencoder
    Ae(Autoencoder),
}

impl Reconstructor {
    /// The codes `(N, K)` of `x: (N, *)`.
    pub fn encode(&self, x: &Tensor) -> CliResult<Tensor> {
        let _g = no_grad();
        match self {
            Reconstructor::Pca(p) => p.transform(x),
            Reconstructor::Ae(ae) => ae.encode(x),
        }
        .map_err(msg)
    }

    /// The reconstructions of `x: (N, *)`, shaped like `x`.
    pub fn reconstruct(&self, x: &Tensor) -> CliResult<Tensor> {
        let _g = no_grad();
        match self {
            Reconstructor::Pca(p) => p.reconstruct(x),
            Reconstructor::Ae(ae) => ae.forward(x),
        }
        .map_err(msg)
    }
}

/// Loads a weights file of `pca` or an autoencoder; other models are an error naming the file.
pub fn load_reconstructor(path: &Path) -> CliResult<(ModelSpec, Reconstructor)> {
    let file = WeightsFile::read(path)?;
    let norm = file.norm(path)?;
    check_finite_tensors(&file.tensors, path)?;
    let (tensors, spec) = (model_tensors(file.tensors), file.spec);
    if !spec.is_reconstruction() {
        return Err(format!(
            "{}: a {} model does not reconstruct its input (expected pca or an autoencoder)",
            path.display(),
            spec.name
        ));
    }
    if !norm.is_identity() {
        return Err(format!(
            "{}: inputs were normalized with mean {:?} and std {:?}; reconstructions need intensities in [0, 1]",
            path.display(),
            norm.mean,
            norm.std
        ));
    }
    let bad = |e: deepnet::tensor::Error| format!("{}: {e}", path.display());
    let r = if spec.name == "pca" {
        Reconstructor::Pca(Pca::from_state_dict(&tensors).map_err(bad)?)
    } else {
        let store = ParamStore::new(0);
        let ae = Autoencoder::new(&spec.autoencoder_config()?, &store.root()).map_err(bad)?;
        store.load_state_dict(&tensors, true).map_err(bad)?;
        ae.set_training(false);
        Reconstructor::Ae(ae)
    };
    Ok((spec, r))
}

/// The model's tensors of a weights file, or of a run's `checkpoint.safetensors` (which keeps
/// them under `model.` next to the optimizer's under `optimizer.`), so that a run still
/// training can be drawn from its last epoch.
fn model_tensors(tensors: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    if !tensors.iter().any(|(k, _)| k.starts_with("optimizer.")) {
        return tensors;
    }
    tensors
        .into_iter()
        .filter_map(|(k, t)| k.strip_prefix("model.").map(|m| (m.to_string(), t)))
        .collect()
}

/// Writes `rows` (each `(n, C, H, W)` images with values in [0, 1]) as one grid, one row each.
pub fn save_rows(path: &Path, rows: &[Tensor]) -> CliResult<()> {
    let n = rows.first().map(|r| r.dims()[0]).unwrap_or(0);
    let all = Tensor::cat(rows, 0usize).map_err(msg)?;
    let opts = GridOptions {
        cols: n.max(1),
        scale: 2,
        value_range: Some((0.0, 1.0)),
        ..Default::default()
    };
    save_image_grid(path, &all, &opts).map_err(msg)?;
    Ok(())
}

/// A model's row label: its name and code size.
fn label(spec: &ModelSpec) -> String {
    format!("{} (code {})", spec.name, spec.code.unwrap_or(0))
}

pub fn run(a: ReconstructArgs, json_out: bool) -> CliResult<()> {
    if a.count == 0 {
        return Err("--count: expected at least 1".into());
    }
    let dir = resolve_dataset(&a.dataset)?;
    let mut test = load_split(&dir, Split::Test, (0.0, 1.0))?;
    if let Some(n) = a.limit {
        if n == 0 {
            return Err("--limit: expected at least 1".into());
        }
        test = test.take(n);
    }
    if a.start + a.count > test.len() {
        return Err(format!(
            "--start {} --count {}: the test split of {} has {} images",
            a.start,
            a.count,
            dir.display(),
            test.len()
        ));
    }
    let (x, y) = test.to_tensors().map_err(msg)?;
    let shown = x.narrow(0usize, a.start, a.count).map_err(msg)?;
    let mut rows = vec![shown.clone()];
    let mut report = Vec::new();
    let mut panels = Vec::new();
    let labels: Vec<usize> = y
        .to_vec::<i64>()
        .map_err(msg)?
        .iter()
        .map(|&c| c as usize)
        .collect();
    let probe = match a.probe_labels {
        Some(n) => Some(Probe::new(&dir, n, &y, test.classes())?),
        None => None,
    };
    let mut pixel_acc = None;
    if let Some(p) = &probe {
        let acc = p.accuracy(&p.train_x, &x)?;
        if !json_out {
            println!(
                "raw pixels: test accuracy {:.2}% of a head trained on {} labels",
                100.0 * acc,
                p.train_y.dims()[0]
            );
        }
        pixel_acc = Some(acc);
    }
    for w in &a.weights {
        let (spec, model) = load_reconstructor(w)?;
        check_sample_shape(w, &spec.input, &dir, &test.sample_shape())?;
        let r = model.reconstruct(&shown)?;
        let shown_error = squared_error_per_image(&r, &shown).map_err(msg)?;
        let mut total = 0.0;
        let n = x.dims()[0];
        for start in (0..n).step_by(1000) {
            let xb = x.narrow(0usize, start, 1000.min(n - start)).map_err(msg)?;
            let e = squared_error_per_image(&model.reconstruct(&xb)?, &xb).map_err(msg)?;
            total += e * xb.dims()[0] as f64;
        }
        let error = total / n as f64;
        if a.codes.is_some() {
            let m = a.codes_limit.unwrap_or(n).min(n);
            let z = model.encode(&x.narrow(0usize, 0, m).map_err(msg)?)?;
            let k = z.dims()[1];
            let zv = z.to_vec_f64();
            let pts = (0..m)
                .map(|i| (zv[i * k], zv[i * k + k.min(2) - 1], labels[i]))
                .collect();
            panels.push((label(&spec), pts));
        }
        if !json_out {
            println!(
                "row {}: {} from {}: error {shown_error:.3} per digit shown, {error:.3} per test image",
                rows.len() + 1,
                label(&spec),
                w.display()
            );
        }
        let mut row = json!({"weights": w.display().to_string(), "model": spec.name, "code": spec.code,
                           "shown_error_per_image": shown_error, "recon_error_per_image": error});
        if let Some(p) = &probe {
            let acc = p.accuracy(&model.encode(&p.train_x)?, &model.encode(&x)?)?;
            if !json_out {
                println!("  its codes as features: test accuracy {:.2}%", 100.0 * acc);
            }
            row["probe_accuracy"] = json!(acc);
        }
        report.push(row);
        rows.push(r);
    }
    save_rows(&a.out, &rows)?;
    if let Some(p) = &a.codes {
        save_scatter_panels(p, &panels, (560, 500)).map_err(msg)?;
    }
    if json_out {
        println!(
            "{}",
            json!({"command": "reconstruct", "out": a.out.display().to_string(),
                   "codes": a.codes.as_ref().map(|p| p.display().to_string()),
                   "digits": a.count, "start": a.start, "rows": report,
                   "probe_labels": a.probe_labels, "probe_pixel_accuracy": pixel_acc})
        );
    } else {
        println!(
            "row 1: the test digits {}..{}; wrote {}{}",
            a.start,
            a.start + a.count,
            a.out.display(),
            a.codes
                .as_ref()
                .map(|p| format!(" and {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The labelled training images of `--probe-labels` and the test labels.
struct Probe {
    train_x: Tensor,
    train_y: Tensor,
    test_y: Tensor,
    classes: usize,
    dir: PathBuf,
}

impl Probe {
    fn new(data: &Path, n: usize, test_y: &Tensor, classes: usize) -> CliResult<Self> {
        let train = load_split(data, Split::Train, (0.0, 1.0))?;
        if n == 0 || n > train.len() {
            return Err(format!(
                "--probe-labels {n}: expected 1 to {} (the training images of {})",
                train.len(),
                data.display()
            ));
        }
        let (x, y) = train.take(n).to_tensors().map_err(msg)?;
        let dir = std::env::temp_dir().join(format!("deepnet-probe-{}", std::process::id()));
        Ok(Probe {
            train_x: x,
            train_y: y,
            test_y: test_y.clone(),
            classes,
            dir,
        })
    }

    /// The test accuracy of the head trained on `train` features, tested on `test` features.
    fn accuracy(&self, train: &Tensor, test: &Tensor) -> CliResult<f64> {
        let cfg = ProbeConfig::new(&self.dir);
        let acc = probe_accuracy(
            (train, &self.train_y),
            (test, &self.test_y),
            self.classes,
            &cfg,
        )
        .map_err(msg);
        let _ = std::fs::remove_dir_all(&self.dir);
        acc
    }
}
