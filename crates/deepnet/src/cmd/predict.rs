//! `deepnet predict`: classifies images and prints, per image, the predicted class, its softmax
//! probability (all of them with `--json`) and the true label when known.
//!
//! The model is a weights file written by `train` (its metadata rebuilds it and says how inputs
//! are normalized), or, with `--model keras_cifar10_cnn|mini_xception`, a Keras export loaded
//! into that zoo model (see `common::load_keras`). The images come from a dataset's test split
//! (`--dataset`, as in `eval`), an IDX images file (`--images`, raw or gzip, with `--labels`),
//! or, through `--images` too, a CIFAR-10 binary file, a PNG/JPEG file or a folder of them
//! (`image_input`). IDX images must have the model's input shape; CIFAR records and image
//! files are converted to it (gray <-> RGB, resized).

use super::common::{
    check_sample_shape, load_keras, load_split_for_model, load_trained, msg, resolve_dataset,
    CliResult, Normalization,
};
use super::image_input::{detect, ImageList, ImagesKind};
use clap::Args;
use deepnet::data::idx::read_idx_rank;
use deepnet::data::{read_idx, transforms, Dataset, ImageSpec, Split};
use deepnet::models::keras_import::PixelScaling;
use deepnet::models::KERAS_MODELS;
use deepnet::nn::Module;
use deepnet::tensor::{no_grad, Tensor};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Images per forward pass: bounds memory for large `--limit`s on big models while keeping
/// the per-call overhead negligible.
const CHUNK: usize = 256;

#[derive(Args, Debug)]
#[command(
    after_help = "Output: one line per image, `#INDEX  predicted CLASS (NAME)  p=PROB  label \
LABEL  FILE`, then `accuracy C/N = P%` when labels are known. With --json: a single JSON \
document {\"command\": \"predict\", \"weights\", \"source\", \"count\", \"model\", \"arch\" \
(the --arch spec, or null), \"classes\" (the class names, or null), \"predictions\": \
[{\"index\", \"class\", \"class_name\" (when the model names its classes), \"probability\", \
\"probabilities\" (one per class), \"label\" (only when known), \"file\" (image files)}], \
\"correct\" and \"accuracy\" (null without labels)}.\n\nExamples:\n  deepnet predict --model \
keras_cifar10_cnn --weights ../shared/data/pretrained/cifar10-keras-cnn/model.safetensors \
--images ../shared/data/cifar10-sample/test_batch.bin --json\n  deepnet predict --model \
mini_xception --weights ../shared/data/pretrained/fer-mini-xception/model.safetensors \
--images faces/"
)]
pub struct PredictArgs {
    /// A model.safetensors written by `deepnet train` (its metadata rebuilds the model), or,
    /// with --model, a Keras export (tensors in Keras layouts; a keras_model_config.json beside
    /// it is read when there).
    #[arg(long)]
    pub weights: PathBuf,
    /// A zoo model that loads Keras weights: keras_cifar10_cnn (3x32x32 RGB, raw pixels) or
    /// mini_xception (1x64x64 gray in [-1, 1]); --weights is then its Keras export.
    #[arg(long)]
    pub model: Option<String>,
    /// mnist, fashion-mnist, or a directory holding the four IDX files; the test split is used.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// What to classify instead of --dataset: an IDX images file (raw or gzip, u8, `(N, H,
    /// W)`, of the model's input size), a CIFAR-10 binary file (.bin), a PNG or JPEG file, or
    /// a folder of them (image files, or one subfolder per class, whose names are the labels).
    /// Images and CIFAR records are converted to the model's input (gray <-> RGB, resized).
    #[arg(long, conflicts_with = "dataset")]
    pub images: Option<PathBuf>,
    /// An IDX labels file (raw or gzip, `(N,)`) with the true classes of an IDX --images file.
    #[arg(long, requires = "images")]
    pub labels: Option<PathBuf>,
    /// Index of the first image to classify.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// Number of images to classify (default: 10 from --dataset or an IDX file, all of a
    /// CIFAR file or a folder; fewer when the source ends first).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// How 8-bit pixels become the model's inputs.
#[derive(Clone, Debug)]
enum Prep {
    /// scaled to [0, 1], then `(x - mean) / std`, globally or per channel (weights written by
    /// train)
    Normalize(Normalization),
    /// a Keras model's own scaling
    Keras(PixelScaling),
}

impl Prep {
    /// The model inputs of `pixels`, whole samples of `sample_shape`.
    fn values(&self, pixels: &[u8], sample_shape: &[usize]) -> CliResult<Vec<f32>> {
        match self {
            Prep::Normalize(norm) => {
                let mut v = transforms::scale_u8(pixels);
                norm.apply_values(&mut v, sample_shape)?;
                Ok(v)
            }
            Prep::Keras(s) => Ok(s.apply(pixels)),
        }
    }
}

/// The model and what predict needs to know about it.
struct Predictor {
    model: Box<dyn Module>,
    name: String,
    arch: Option<String>,
    input: Vec<usize>,
    classes: usize,
    class_names: Option<Vec<String>>,
    prep: Prep,
}

fn load_predictor(a: &PredictArgs) -> CliResult<Predictor> {
    if let Some(name) = &a.model {
        let k = load_keras(name, &a.weights)?;
        return Ok(Predictor {
            model: k.model,
            name: name.clone(),
            arch: None,
            input: k.info.input.to_vec(),
            classes: k.info.classes.len(),
            class_names: Some(k.info.classes.iter().map(|s| s.to_string()).collect()),
            prep: Prep::Keras(k.info.scaling),
        });
    }
    let t = load_trained(&a.weights).map_err(|e| {
        if e.contains("metadata has no") {
            format!(
                "{e} (a Keras export? name its zoo model with --model: {})",
                KERAS_MODELS.map(|m| m.name).join(", ")
            )
        } else {
            e
        }
    })?;
    Ok(Predictor {
        model: t.model,
        name: t.spec.name.clone(),
        arch: t.spec.arch.clone(),
        input: t.spec.input.clone(),
        classes: t.spec.classes,
        class_names: t.class_names,
        prep: Prep::Normalize(t.norm),
    })
}

/// The selected images as model inputs, flattened sample-major, with their labels when known.
struct Inputs {
    /// where they came from (the dataset directory, the file or the folder)
    source: PathBuf,
    /// shape of one sample
    shape: Vec<usize>,
    /// `count * prod(shape)` values
    images: Vec<f32>,
    /// the true classes, when known
    labels: Option<Vec<i64>>,
    /// each image's file, for image files
    files: Option<Vec<String>>,
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

/// Images from a dataset's test split, normalized with the training statistics.
fn from_dataset(a: &PredictArgs, p: &Predictor) -> CliResult<Inputs> {
    let Prep::Normalize(norm) = &p.prep else {
        return Err(format!(
            "--model {}: give the images to classify with --images (a CIFAR-10 file, an image \
             or a folder)",
            p.name
        ));
    };
    let dir = resolve_dataset(&a.dataset)?;
    let data = load_split_for_model(&dir, Split::Test, norm.clone(), &p.input)?;
    let (first, count) = window(a.index, a.limit.unwrap_or(10), data.len(), &dir)?;
    let per = data.sample_numel();
    Ok(Inputs {
        shape: data.sample_shape(),
        images: data.images()[first * per..(first + count) * per].to_vec(),
        labels: Some(data.labels()[first..first + count].to_vec()),
        files: None,
        source: dir,
        first,
        count,
    })
}

/// Images from an IDX file with the labels of `--labels` when given (checked against the count
/// and the model's classes).
fn from_idx(a: &PredictArgs, path: &Path, p: &Predictor) -> CliResult<Inputs> {
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
                .find(|(_, &c)| c as usize >= p.classes)
            {
                return Err(format!(
                    "{}: label {c} at index {i} is not a class of the model (0..{})",
                    lp.display(),
                    p.classes
                ));
            }
            Some(l.data.iter().map(|&c| c as i64).collect::<Vec<_>>())
        }
        None => None,
    };
    let (first, count) = window(a.index, a.limit.unwrap_or(10), idx.len(), path)?;
    let per: usize = shape.iter().product();
    let images = p
        .prep
        .values(&idx.data[first * per..(first + count) * per], &shape)?;
    Ok(Inputs {
        source: path.to_path_buf(),
        shape,
        images,
        labels: labels.map(|l| l[first..first + count].to_vec()),
        files: None,
        first,
        count,
    })
}

/// The labels of `list` as the model's classes: by name when the model names its classes (a
/// label whose name is not one of them drops all labels, with a note), else as indices below
/// the class count. `None` when some image has no label.
fn model_labels(list: &ImageList, idx: &[usize], p: &Predictor) -> Option<Vec<i64>> {
    let raw: Vec<i64> = idx.iter().map(|&i| list.label(i)).collect::<Option<_>>()?;
    let note = |why: String| {
        eprintln!(
            "note: the labels of {} are not used: {why}",
            list.source.display()
        );
        None
    };
    match (&p.class_names, &list.label_names) {
        (Some(model), Some(names)) => {
            let mut out = Vec::with_capacity(raw.len());
            for l in raw {
                let name = &names[l as usize];
                match model.iter().position(|m| m == name) {
                    Some(c) => out.push(c as i64),
                    None => {
                        return note(format!(
                            "class \"{name}\" is not one of the model's ({})",
                            model.join(", ")
                        ))
                    }
                }
            }
            Some(out)
        }
        _ => match raw.iter().find(|&&l| l as usize >= p.classes) {
            Some(l) => note(format!(
                "label {l} is not a class of the model (0..{})",
                p.classes
            )),
            None => Some(raw),
        },
    }
}

/// Images from a CIFAR-10 file, an image file or a folder, converted to the model's input.
fn from_list(a: &PredictArgs, list: &ImageList, p: &Predictor) -> CliResult<Inputs> {
    let spec = ImageSpec::for_input(&p.input).map_err(|_| {
        format!(
            "--images {}: model {} takes inputs of shape {:?}, which images cannot give (1 or 3 \
             channels, H, W)",
            list.source.display(),
            p.name,
            p.input
        )
    })?;
    let (first, count) = window(
        a.index,
        a.limit.unwrap_or(usize::MAX),
        list.len(),
        &list.source,
    )?;
    let idx: Vec<usize> = (first..first + count).collect();
    let mut images = Vec::with_capacity(count * p.input.iter().product::<usize>());
    for &i in &idx {
        images.extend(p.prep.values(&list.image(i, spec)?.data, &p.input)?);
    }
    let files: Option<Vec<String>> = idx
        .iter()
        .map(|&i| list.file(i).map(|f| f.display().to_string()))
        .collect();
    Ok(Inputs {
        source: list.source.clone(),
        shape: p.input.clone(),
        labels: model_labels(list, &idx, p),
        images,
        files,
        first,
        count,
    })
}

/// The softmax probabilities of each image, in chunks of [`CHUNK`].
fn classify(model: &dyn Module, inputs: &Inputs) -> CliResult<Vec<Vec<f32>>> {
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
        out.extend(probs.chunks(classes).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// The first maximum (as argmax) and its value.
fn best(row: &[f32]) -> (usize, f32) {
    row.iter().enumerate().fold(
        (0, f32::NEG_INFINITY),
        |b, (i, &p)| if p > b.1 { (i, p) } else { b },
    )
}

pub fn run(a: PredictArgs, json_out: bool) -> CliResult<()> {
    if a.limit == Some(0) {
        return Err("--limit: expected at least 1".into());
    }
    let p = load_predictor(&a)?;
    let inputs = match &a.images {
        Some(path) => match detect(path)? {
            ImagesKind::Idx => from_idx(&a, path, &p)?,
            kind => {
                if a.labels.is_some() {
                    return Err(format!(
                        "--labels: only an IDX --images file takes a labels file; {} has its \
                         own labels (CIFAR records, class folders) or none",
                        path.display()
                    ));
                }
                from_list(&a, &ImageList::read(path, kind)?, &p)?
            }
        },
        None => from_dataset(&a, &p)?,
    };
    check_sample_shape(&a.weights, &p.input, &inputs.source, &inputs.shape)?;
    let probs = classify(p.model.as_ref(), &inputs)?;
    let preds: Vec<(usize, f32)> = probs.iter().map(|r| best(r)).collect();
    let label = |i: usize| inputs.labels.as_ref().map(|l| l[i]);
    let class_name = |c: usize| p.class_names.as_ref().map(|n| n[c].clone());
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
            .map(|(i, &(c, prob))| {
                let mut r = json!({"index": inputs.first + i, "class": c, "probability": prob,
                                   "probabilities": probs[i]});
                if let Some(name) = class_name(c) {
                    r["class_name"] = json!(name);
                }
                if let Some(y) = label(i) {
                    r["label"] = json!(y);
                }
                if let Some(f) = &inputs.files {
                    r["file"] = json!(f[i]);
                }
                r
            })
            .collect();
        println!(
            "{}",
            json!({"command": "predict", "weights": a.weights.display().to_string(),
                   "model": p.name, "arch": p.arch, "classes": p.class_names,
                   "source": inputs.source.display().to_string(), "count": n,
                   "predictions": rows, "correct": correct,
                   "accuracy": correct.map(|c| c as f64 / n as f64)})
        );
        return Ok(());
    }
    for (i, &(c, prob)) in preds.iter().enumerate() {
        let name = class_name(c).map(|s| format!(" ({s})")).unwrap_or_default();
        let truth = match label(i) {
            Some(y) if y == c as i64 => format!("  label {y}"),
            Some(y) => format!("  label {y}  (wrong)"),
            None => String::new(),
        };
        let file = inputs
            .files
            .as_ref()
            .map(|f| format!("  {}", f[i]))
            .unwrap_or_default();
        println!(
            "#{:<6} predicted {c}{name}  p={prob:.4}{truth}{file}",
            inputs.first + i
        );
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
