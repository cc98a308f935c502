//! `deepnet predict`: classifies a few images with a weights file written by `train` and prints,
//! per image, the predicted class and its softmax probability (and the true label when known).
//!
//! The images come from a dataset's test split (`--dataset`, as in `eval`) or from an IDX images
//! file (`--images`, raw or gzip), optionally with an IDX labels file (`--labels`). Inputs get
//! the normalization recorded in the weights file, exactly as in training and `eval`.

use super::common::{
    check_sample_shape, load_split, load_trained, msg, resolve_dataset, CliResult,
};
use clap::Args;
use deepnet::data::idx::read_idx_rank;
use deepnet::data::{read_idx, transforms, Dataset, Split};
use deepnet::nn::Module;
use deepnet::tensor::{no_grad, Tensor};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Images per forward pass: bounds memory for large `--limit`s on big models while keeping
/// the per-call overhead negligible.
const CHUNK: usize = 256;

#[derive(Args, Debug)]
#[command(
    after_help = "Output: one line per image, `#INDEX  predicted CLASS  p=PROB  label LABEL`, \
then `accuracy C/N = P%` when labels are known. With --json: a single JSON document \
{\"command\": \"predict\", \"weights\", \"source\", \"count\", \"model\", \"arch\" \
(the --arch spec, or null), \"predictions\": [{\"index\", \"class\", \"probability\", \
\"label\" (only when known)}], \"correct\" and \"accuracy\" (null without labels)}."
)]
pub struct PredictArgs {
    /// A model.safetensors written by `deepnet train` (its metadata rebuilds the model).
    #[arg(long)]
    pub weights: PathBuf,
    /// mnist, fashion-mnist, or a directory holding the four IDX files; the test split is used.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// An IDX images file (raw or gzip, u8, `(N, H, W)`) to classify instead of --dataset.
    #[arg(long, conflicts_with = "dataset")]
    pub images: Option<PathBuf>,
    /// An IDX labels file (raw or gzip, `(N,)`) with the true classes of --images.
    #[arg(long, requires = "images")]
    pub labels: Option<PathBuf>,
    /// Index of the first image to classify.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// Number of images to classify (fewer when the source ends first).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

/// The selected images, normalized and flattened sample-major, with their labels when known.
struct Inputs {
    /// where they came from (the dataset directory or the images file)
    source: PathBuf,
    /// shape of one sample
    shape: Vec<usize>,
    /// `count * prod(shape)` values
    images: Vec<f32>,
    /// the true classes, when known
    labels: Option<Vec<i64>>,
    /// the index (in the source) of the first image
    first: usize,
    /// how many images
    count: usize,
}

/// The range `[index, index + limit)` clipped to `len`; an index past the end is an error.
fn window(index: usize, limit: usize, len: usize, source: &Path) -> CliResult<(usize, usize)> {
    if index >= len {
        return Err(format!(
            "--index {index}: {} has {len} images (indices 0..{})",
            source.display(),
            len.saturating_sub(1)
        ));
    }
    Ok((index, limit.min(len - index)))
}

/// Images from a dataset's test split, normalized with the training statistics `norm`.
fn from_dataset(a: &PredictArgs, norm: (f32, f32)) -> CliResult<Inputs> {
    let dir = resolve_dataset(&a.dataset)?;
    let data = load_split(&dir, Split::Test, norm)?;
    let (first, count) = window(a.index, a.limit, data.len(), &dir)?;
    let per = data.sample_numel();
    Ok(Inputs {
        shape: data.sample_shape(),
        images: data.images()[first * per..(first + count) * per].to_vec(),
        labels: Some(data.labels()[first..first + count].to_vec()),
        source: dir,
        first,
        count,
    })
}

/// Images from an IDX file, scaled to [0, 1] and normalized like the dataset path, with the
/// labels of `--labels` when given (checked against the count and the model's classes).
fn from_idx(a: &PredictArgs, path: &Path, norm: (f32, f32), classes: usize) -> CliResult<Inputs> {
    let idx = read_idx(path).map_err(msg)?;
    if idx.dims.len() < 2 {
        return Err(format!(
            "{}: an IDX images file has at least 2 dimensions (N, ...), this one has dims {:?}",
            path.display(),
            idx.dims
        ));
    }
    // (N, H, W) files hold one-channel images: the loaders (and so the models) see (1, H, W)
    let shape = match idx.item_dims() {
        [h, w] => vec![1, *h, *w],
        d => d.to_vec(),
    };
    let labels = match &a.labels {
        Some(lp) => {
            let l = read_idx_rank(lp, 1, "labels").map_err(msg)?;
            if l.len() != idx.len() {
                return Err(format!(
                    "{}: {} labels for the {} images of {}",
                    lp.display(),
                    l.len(),
                    idx.len(),
                    path.display()
                ));
            }
            if let Some((i, &c)) = l
                .data
                .iter()
                .enumerate()
                .find(|(_, &c)| c as usize >= classes)
            {
                return Err(format!(
                    "{}: label {c} at index {i} is not a class of the model (0..{classes})",
                    lp.display()
                ));
            }
            Some(l.data.iter().map(|&c| c as i64).collect::<Vec<_>>())
        }
        None => None,
    };
    let (first, count) = window(a.index, a.limit, idx.len(), path)?;
    let per: usize = shape.iter().product();
    let mut images = transforms::scale_u8(&idx.data[first * per..(first + count) * per]);
    transforms::normalize(&mut images, norm.0, norm.1).map_err(msg)?;
    Ok(Inputs {
        source: path.to_path_buf(),
        shape,
        images,
        labels: labels.map(|l| l[first..first + count].to_vec()),
        first,
        count,
    })
}

/// The predicted class and its softmax probability for each image, in chunks of [`CHUNK`].
fn classify(model: &dyn Module, inputs: &Inputs) -> CliResult<Vec<(usize, f32)>> {
    let _g = no_grad();
    let per: usize = inputs.shape.iter().product();
    let mut out = Vec::with_capacity(inputs.count);
    for chunk in inputs.images.chunks(CHUNK * per) {
        let mut dims = vec![chunk.len() / per];
        dims.extend_from_slice(&inputs.shape);
        let x = Tensor::from_vec(chunk.to_vec(), dims).map_err(msg)?;
        let logits = model.forward(&x).map_err(msg)?;
        let classes = *logits.dims().last().unwrap_or(&0);
        if logits.dims().len() != 2 || classes == 0 {
            return Err(format!(
                "predict: the model's output has shape {}, expected (batch, classes)",
                logits.shape()
            ));
        }
        let probs = logits
            .softmax(-1)
            .map_err(msg)?
            .to_vec::<f32>()
            .map_err(msg)?;
        for row in probs.chunks(classes) {
            // first maximum on ties, as argmax does
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &p)| if p > b.1 { (i, p) } else { b },
                );
            out.push(best);
        }
    }
    Ok(out)
}

pub fn run(a: PredictArgs, json_out: bool) -> CliResult<()> {
    if a.limit == 0 {
        return Err("--limit: expected at least 1".into());
    }
    let trained = load_trained(&a.weights)?;
    let inputs = match &a.images {
        Some(p) => from_idx(&a, p, trained.norm, trained.spec.classes)?,
        None => from_dataset(&a, trained.norm)?,
    };
    check_sample_shape(&a.weights, &trained.spec, &inputs.source, &inputs.shape)?;
    let preds = classify(trained.model.as_ref(), &inputs)?;
    let label = |i: usize| inputs.labels.as_ref().map(|l| l[i]);
    let correct = inputs.labels.as_ref().map(|l| {
        preds
            .iter()
            .zip(l)
            .filter(|((c, _), &y)| *c as i64 == y)
            .count()
    });
    let n = preds.len();
    if json_out {
        let rows: Vec<_> = preds
            .iter()
            .enumerate()
            .map(|(i, &(c, p))| {
                let mut r = json!({"index": inputs.first + i, "class": c, "probability": p});
                if let Some(y) = label(i) {
                    r["label"] = json!(y);
                }
                r
            })
            .collect();
        println!(
            "{}",
            json!({"command": "predict", "weights": a.weights.display().to_string(),
                   "model": trained.spec.name, "arch": trained.spec.arch,
                   "source": inputs.source.display().to_string(), "count": n,
                   "predictions": rows, "correct": correct,
                   "accuracy": correct.map(|c| c as f64 / n as f64)})
        );
        return Ok(());
    }
    for (i, &(c, p)) in preds.iter().enumerate() {
        let truth = match label(i) {
            Some(y) if y == c as i64 => format!("  label {y}"),
            Some(y) => format!("  label {y}  (wrong)"),
            None => String::new(),
        };
        println!("#{:<6} predicted {c}  p={p:.4}{truth}", inputs.first + i);
    }
    if let Some(c) = correct {
        println!(
            "accuracy {c}/{n} = {:.2}% on {}",
            100.0 * c as f64 / n as f64,
            inputs.source.display()
        );
    }
    Ok(())
}
