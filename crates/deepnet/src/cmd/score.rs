//! `deepnet score`: scores generated images with a classifier trained on the real data (a
//! LeNet-5 from `deepnet train --model lenet5` for MNIST): the Inception Score over its classes
//! and the share of the samples predicted as each class (see
//! `deepnet::train::inception`). The images come from an IDX file of uint8 images, as
//! `deepnet sample --count N --out FILE.idx` writes; they get the normalization the
//! classifier was trained with (recorded in its weights file).

use super::common::{check_sample_shape, load_trained, msg, CliResult};
use clap::Args;
use deepnet::data::{read_idx, transforms};
use deepnet::tensor::Tensor;
use deepnet::train::{inception_score, predict_probs};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "With --json: one JSON document {\"command\": \"score\", \"samples\", \
\"classifier\", \"count\", \"classes\", \"inception_score\", \"class_shares\" (one fraction per \
class), \"min_share\", \"max_share\"}."
)]
pub struct ScoreArgs {
    /// An IDX file (raw or gzip) of uint8 images, `N x H x W` (or `N x C x H x W`).
    #[arg(long)]
    pub samples: PathBuf,
    /// A classifier's model.safetensors written by `deepnet train` (e.g. --model lenet5).
    #[arg(long)]
    pub classifier: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
}

pub fn run(a: ScoreArgs, json_out: bool) -> CliResult<()> {
    if a.batch_size == 0 {
        return Err("--batch-size: expected at least 1".into());
    }
    let trained = load_trained(&a.classifier)?;
    let idx = read_idx(&a.samples).map_err(msg)?;
    if idx.dims.len() < 2 || idx.is_empty() {
        return Err(format!(
            "{}: expected a non-empty IDX file of images (N, H, W), got dims {:?}",
            a.samples.display(),
            idx.dims
        ));
    }
    // (N, H, W) files hold one-channel images, which the models see as (1, H, W)
    let shape = match idx.item_dims() {
        [h, w] => vec![1, *h, *w],
        d => d.to_vec(),
    };
    check_sample_shape(&a.classifier, &trained.spec.input, &a.samples, &shape)?;
    let n = idx.len();
    let mut pixels = transforms::scale_u8(&idx.data);
    trained.norm.apply_values(&mut pixels, &shape)?;
    let mut dims = vec![n];
    dims.extend_from_slice(&shape);
    let images = Tensor::from_vec(pixels, dims).map_err(msg)?;
    let probs = predict_probs(trained.model.as_ref(), &images, a.batch_size).map_err(msg)?;
    let s = inception_score(&probs).map_err(msg)?;
    let shares = &s.class_shares;
    let min = shares.iter().copied().fold(f64::INFINITY, f64::min);
    let max = shares.iter().copied().fold(0.0, f64::max);
    if json_out {
        println!(
            "{}",
            json!({"command": "score", "samples": a.samples.display().to_string(),
                   "classifier": a.classifier.display().to_string(), "count": n,
                   "classes": shares.len(), "inception_score": s.inception_score,
                   "class_shares": shares, "min_share": min, "max_share": max})
        );
    } else {
        let list: Vec<String> = shares
            .iter()
            .enumerate()
            .map(|(k, v)| format!("{k}: {:.1}%", 100.0 * v))
            .collect();
        println!(
            "Inception Score {:.3} over {n} samples and {} classes\nclass shares {}",
            s.inception_score,
            shares.len(),
            list.join(", ")
        );
    }
    Ok(())
}
