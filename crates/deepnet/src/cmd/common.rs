//! What the subcommands share: finding datasets, describing a model so that a weights file can
//! rebuild it, building models by name, and loading a weights file written by `train` (for
//! `eval` and `predict`).

use clap::Args;
use deepnet::data::{
    detect_format, load_dir_split, read_regular_file, DatasetFormat, ImageOptions, InMemoryDataset,
    Split,
};
use deepnet::models::autoencoder::{Autoencoder, AUTOENCODER_MODELS};
use deepnet::models::{
    import_keras, keras_zoo_model, Activation, ArchSpec, KerasZooModel, Mlp, MlpConfig,
    KERAS_MODELS,
};
use deepnet::nn::{Module, ParamStore};
use deepnet::train::load_safetensors_with_metadata;
use serde_json::{json, Value};

pub use super::normalization::Normalization;
pub use super::run_folder::run_dir;
use std::path::{Path, PathBuf};

/// Errors of the command line are plain messages.
pub type CliResult<T> = Result<T, String>;

/// Turns any displayable error into a message.
pub fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The repository root as seen from this crate at build time (for the shipped `data/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Resolves `--dataset`: `mnist` (shipped in `data/mnist`), `fashion-mnist` (from
/// `../shared/data/fashion-mnist`), or a directory (IDX files, an image folder with `train` and
/// `test` splits, or CIFAR-10 binaries: the loaders recognize which by the content).
pub fn resolve_dataset(name: &str) -> CliResult<PathBuf> {
    let candidates: Vec<PathBuf> = match name {
        "mnist" => vec![PathBuf::from("data/mnist"), repo_root().join("data/mnist")],
        "fashion-mnist" => vec![
            PathBuf::from("data/fashion-mnist"),
            PathBuf::from("../shared/data/fashion-mnist"),
            repo_root().join("../shared/data/fashion-mnist"),
        ],
        dir => {
            let p = PathBuf::from(dir);
            if p.is_dir() {
                return Ok(p);
            }
            return Err(format!(
                "--dataset: \"{dir}\" is neither mnist, fashion-mnist nor a directory (of IDX \
                 files, an image folder DIR/train/<class>/*.png + DIR/test/..., or CIFAR-10 \
                 binaries)"
            ));
        }
    };
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .ok_or_else(|| {
            format!(
                "--dataset {name}: not found; looked in {}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// The dataset's name for run folders and summaries: its directory's name.
pub fn dataset_name(dir: &Path) -> String {
    dir.file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Loads a split of the dataset directory `dir` (IDX files, an image folder or CIFAR-10
/// binaries, recognized by their content) scaled to [0, 1], then normalized with `norm`.
pub fn load_split(
    dir: &Path,
    split: Split,
    norm: impl Into<Normalization>,
) -> CliResult<InMemoryDataset> {
    load_split_with(dir, split, norm, ImageOptions::default())
}

/// [`load_split`] with images converted by `opts` (image folders and CIFAR-10 only).
pub fn load_split_with(
    dir: &Path,
    split: Split,
    norm: impl Into<Normalization>,
    opts: ImageOptions,
) -> CliResult<InMemoryDataset> {
    let mut ds = load_dir_split(dir, split, opts).map_err(msg)?.data;
    norm.into().apply(&mut ds)?;
    Ok(ds)
}

/// [`load_split`] for a model that takes samples of shape `input`: images of an image folder or
/// CIFAR-10 are converted to its channels and resized to its size (IDX files are read as they
/// are and checked by the caller).
pub fn load_split_for_model(
    dir: &Path,
    split: Split,
    norm: impl Into<Normalization>,
    input: &[usize],
) -> CliResult<InMemoryDataset> {
    let opts = match (detect_format(dir).map_err(msg)?, input) {
        (DatasetFormat::Idx, _) => ImageOptions::default(),
        (_, &[c, h, w]) => ImageOptions {
            channels: Some(c),
            size: Some((h, w)),
        },
        (_, other) => {
            return Err(format!(
                "{}: holds images, the model takes samples of shape {other:?}",
                dir.display()
            ))
        }
    };
    load_split_with(dir, split, norm, opts)
}

/// The training and test splits, normalized with `norm`, each cut to its first `limit` samples
/// when given (`--limit`, at least 1).
pub fn load_train_test(
    dir: &Path,
    norm: (f32, f32),
    limit: Option<usize>,
) -> CliResult<(InMemoryDataset, InMemoryDataset)> {
    let train = load_split(dir, Split::Train, norm)?;
    let test = load_split(dir, Split::Test, norm)?;
    match limit {
        None => Ok((train, test)),
        Some(0) => Err("--limit: expected at least 1".into()),
        Some(n) => Ok((train.take(n), test.take(n))),
    }
}

/// The architecture flags shared by `train` and `summary`.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model name: mlp, lenet5, small_cnn, alexnet, zfnet, vgg11..vgg19(_bn), googlenet,
    /// resnet18..resnet152, or lstm, gru, rnn (the image read row by row, hidden size 128), or
    /// md_lstm (a 2-D LSTM scanning 4x4 patches from the four corners), or the generative
    /// vae (784-400-20-400-784) and gan (MLP pair), which train on their own recipe (see --code),
    /// or char_lstm (a character-level language model on a text: see --seq-len).
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// A network typed as comma-separated layers instead of --model, e.g.
    /// "conv32k3p1,relu,maxpool2,fc256,relu,fc10". Tokens: conv<C>k<K>[s<S>][p<P>] (stride 1,
    /// padding 0 by default), relu, sigmoid, tanh, maxpool<K>[s<S>], avgpool<K>[s<S>] (stride
    /// defaults to K), dropout<P> (P = DROP probability, as in PyTorch), bn, flatten (inserted
    /// automatically before the first fc on feature maps), fc<N>. The last token must be
    /// fc<number of classes>. Parameters are named layers.0.weight, layers.0.bias, ...
    #[arg(
        long,
        value_name = "SPEC",
        conflicts_with_all = ["model", "hidden", "activation", "dropout", "init"]
    )]
    pub arch: Option<String>,
    /// Hidden layer sizes of the MLP, comma separated (default 256,128), or of an
    /// autoencoder's encoder (the decoder mirrors it; default: the model's, e.g. 1000,500,250
    /// for deep_ae).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Hidden activation of the MLP or an autoencoder: relu, sigmoid, tanh or leaky_relu
    /// (default relu; deep_ae: sigmoid, which its RBM pretraining needs).
    #[arg(long)]
    pub activation: Option<String>,
    /// MLP dropout after each hidden activation (char_lstm: between the LSTM layers; 0 = none).
    /// p is the DROP probability
    /// (PyTorch's convention); the canon's slides write p as the KEEP probability, so their
    /// p = 0.8 is --dropout 0.2.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Weight initialization: default (PyTorch's), kaiming (He) or xavier (Glorot).
    #[arg(long, default_value = "default")]
    pub init: String,
}

/// The MLP's hidden widths when `--hidden` is not given.
pub const DEFAULT_HIDDEN: [usize; 2] = [256, 128];

/// A model's full description: enough to rebuild it from a weights file's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// registry name
    pub name: String,
    /// input shape of one sample, e.g. `[1, 28, 28]`
    pub input: Vec<usize>,
    /// number of classes
    pub classes: usize,
    /// MLP hidden sizes
    pub hidden: Vec<usize>,
    /// MLP activation name
    pub activation: String,
    /// dropout probability
    pub dropout: f64,
    /// weight initialization name
    pub init: String,
    /// the `--arch` spec in canonical form, when `name` is `"arch"`
    pub arch: Option<String>,
    /// the code size `K` of a generative model (`vae`, `gan`), an autoencoder or `pca`
    /// (`--code`); stored as `code` only when set
    pub code: Option<usize>,
    /// an autoencoder's code activation (`linear`, `sigmoid`, `relu`, ...)
    pub code_activation: Option<String>,
    /// an autoencoder's output (`sigmoid` or `linear`)
    pub output: Option<String>,
}

/// Whether model `name` is built from the MLP settings (`hidden`, `activation`, `dropout`,
/// `init`): the MLP itself, the fully connected VAE and GAN, whose widths they are, the
/// convolutional VAE and GAN (their channel counts), and the autoencoders (their encoder's
/// widths and activation).
fn uses_mlp_settings(name: &str) -> bool {
    matches!(name, "mlp" | "vae" | "gan" | "dcgan" | "conv_vae")
        || AUTOENCODER_MODELS.contains(&name)
}

impl ModelSpec {
    /// The spec from command-line flags. `--arch` is parsed here (and stored in its canonical
    /// form); it may not come with a `--model` other than the default.
    pub fn from_args(a: &ModelArgs, input: Vec<usize>, classes: usize) -> CliResult<Self> {
        let arch = match &a.arch {
            Some(text) => {
                if a.model != "mlp" {
                    return Err(format!(
                        "--arch: cannot be combined with --model {} (the spec is the model)",
                        a.model
                    ));
                }
                let spec = ArchSpec::parse(text).map_err(|e| format!("--arch: {e}"))?;
                Some(spec.to_string())
            }
            None => None,
        };
        let name = if arch.is_some() {
            "arch".into()
        } else {
            a.model.clone()
        };
        // the MLP flags mean nothing to other models: they are not carried (nor recorded)
        let mlp = uses_mlp_settings(&name);
        Ok(ModelSpec {
            hidden: if mlp {
                a.hidden.clone().unwrap_or_else(|| DEFAULT_HIDDEN.to_vec())
            } else {
                Vec::new()
            },
            activation: if mlp {
                a.activation.clone().unwrap_or_else(|| "relu".into())
            } else {
                "relu".into()
            },
            dropout: if mlp { a.dropout } else { 0.0 },
            init: if mlp {
                a.init.clone()
            } else {
                "default".into()
            },
            name,
            input,
            classes,
            arch,
            code: None,
            code_activation: None,
            output: None,
        })
    }

    /// The JSON stored in the weights file's metadata under `deepnet.model`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name, "input": self.input, "classes": self.classes});
        if uses_mlp_settings(&self.name) {
            // the MLP's own settings (also the VAE's and GAN's); other models have none
            v["hidden"] = json!(self.hidden);
            v["activation"] = json!(self.activation);
            v["dropout"] = json!(self.dropout);
            v["init"] = json!(self.init);
        }
        if let Some(arch) = &self.arch {
            v["arch"] = json!(arch);
        }
        if let Some(code) = self.code {
            v["code"] = json!(code);
        }
        if let Some(c) = &self.code_activation {
            v["code_activation"] = json!(c);
        }
        if let Some(o) = &self.output {
            v["output"] = json!(o);
        }
        v
    }

    /// The spec back from a weights file's metadata; `source` names the file in errors.
    pub fn from_json(text: &str, source: &Path) -> CliResult<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "{}: metadata deepnet.model is not JSON: {e}",
                source.display()
            )
        })?;
        let field = |k: &str| {
            v.get(k).ok_or_else(|| {
                format!(
                    "{}: metadata deepnet.model lacks the field \"{k}\"",
                    source.display()
                )
            })
        };
        let usizes = |k: &str| -> CliResult<Vec<usize>> {
            field(k)?
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|u| u as usize)).collect())
                .ok_or_else(|| {
                    format!(
                        "{}: deepnet.model.{k} must be a list of sizes",
                        source.display()
                    )
                })
        };
        let name = field("name")?.as_str().unwrap_or_default().to_string();
        // a spec written by train parses; one edited by hand is checked here, naming the file
        let arch = if name == "arch" {
            let text = field("arch")?.as_str().ok_or_else(|| {
                format!("{}: deepnet.model.arch must be a string", source.display())
            })?;
            ArchSpec::parse(text)
                .map_err(|e| format!("{}: deepnet.model.arch: {e}", source.display()))?;
            Some(text.to_string())
        } else {
            None
        };
        Ok(ModelSpec {
            input: usizes("input")?,
            classes: field("classes")?.as_u64().unwrap_or(0) as usize,
            hidden: if uses_mlp_settings(&name) {
                usizes("hidden")?
            } else {
                Vec::new()
            },
            name,
            activation: v
                .get("activation")
                .and_then(|a| a.as_str())
                .unwrap_or("relu")
                .to_string(),
            dropout: v.get("dropout").and_then(|d| d.as_f64()).unwrap_or(0.0),
            init: v
                .get("init")
                .and_then(|i| i.as_str())
                .unwrap_or("default")
                .to_string(),
            arch,
            code: match v.get("code") {
                None => None,
                Some(c) => Some(c.as_u64().filter(|&c| c > 0).ok_or_else(|| {
                    format!(
                        "{}: deepnet.model.code must be a positive size, got {c}",
                        source.display()
                    )
                })? as usize),
            },
            code_activation: v
                .get("code_activation")
                .and_then(|c| c.as_str())
                .map(str::to_string),
            output: v.get("output").and_then(|c| c.as_str()).map(str::to_string),
        })
    }

    /// Builds the model, registering its parameters in `store`.
    pub fn build(&self, store: &ParamStore) -> CliResult<Box<dyn Module>> {
        match self.name.as_str() {
            "arch" => {
                let text = self.arch.as_deref().unwrap_or_default();
                let arch = |e: deepnet::tensor::Error| format!("--arch: {e}");
                let spec = ArchSpec::parse(text).map_err(arch)?;
                spec.check_classes(self.classes).map_err(arch)?;
                let net = deepnet::models::arch::build(&spec, &self.input, &store.root())
                    .map_err(arch)?;
                Ok(Box::new(net))
            }
            "mlp" => {
                let activation: Activation = self
                    .activation
                    .parse()
                    .map_err(|e| format!("--activation: {e}"))?;
                if self.hidden.contains(&0) {
                    return Err("--hidden: layer sizes must be at least 1".into());
                }
                let cfg = MlpConfig {
                    in_features: self.input.iter().product(),
                    hidden: self.hidden.clone(),
                    out_features: self.classes,
                    activation,
                    dropout: self.dropout,
                    init: self.init.parse().map_err(|e| format!("--init: {e}"))?,
                };
                Ok(Box::new(Mlp::new(&cfg, &store.root()).map_err(msg)?))
            }
            "md_lstm" => {
                let cfg =
                    deepnet::models::MdLstmClassifierConfig::for_input(&self.input, self.classes)
                        .map_err(|e| format!("--model md_lstm: {e}"))?;
                Ok(Box::new(
                    deepnet::models::MdLstmClassifier::new(&cfg, &store.root())
                        .map_err(|e| format!("--model md_lstm: {e}"))?,
                ))
            }
            g if super::generative::GENERATIVE_MODELS.contains(&g) => Err(format!(
                "--model {g}: a generative model has no classifier to build; it trains with \
                 `deepnet train --model {g}` and makes images with `deepnet sample`"
            )),
            "pca" => Err(
                "pca: a fitted projection, not a network (load it with deepnet reconstruct)".into(),
            ),
            ae if AUTOENCODER_MODELS.contains(&ae) => Ok(Box::new(
                Autoencoder::new(&self.autoencoder_config()?, &store.root()).map_err(msg)?,
            )),
            rec if deepnet::models::RECURRENT_MODELS.contains(&rec) => {
                deepnet::models::build_recurrent_model(
                    rec,
                    &self.input,
                    self.classes,
                    &store.root(),
                )
                .map_err(|e| format!("--model: {e}"))
            }
            other => {
                deepnet::models::build_conv_model(other, &self.input, self.classes, &store.root())
                    .map_err(|e| format!("--model: {e}"))
            }
        }
    }
}

/// A model rebuilt from a weights file written by `deepnet train`.
pub struct TrainedModel {
    /// the model, with the file's weights loaded
    pub model: Box<dyn Module>,
    /// its description, from the metadata `deepnet.model`
    pub spec: ModelSpec,
    /// how the inputs were normalized in training (`deepnet.normalize`); inputs must get the
    /// same before the model sees them
    pub norm: Normalization,
    /// the class names, where the training data named them (`deepnet.classes`)
    pub class_names: Option<Vec<String>>,
}

/// A weights file written by `deepnet train`: its tensors, its metadata and the model spec
/// stored in it (`deepnet.model`). Errors name the file.
pub struct WeightsFile {
    /// the tensors, by key
    pub tensors: Vec<(String, deepnet::tensor::Tensor)>,
    /// the metadata entries
    pub meta: Vec<(String, String)>,
    /// the model's description
    pub spec: ModelSpec,
}

impl WeightsFile {
    /// Reads `weights` and the spec in its metadata.
    pub fn read(weights: &Path) -> CliResult<Self> {
        let (tensors, meta) = load_safetensors_with_metadata(weights).map_err(msg)?;
        Self::from_parts(tensors, meta, weights)
    }

    /// The file `weights` already read as its `tensors` and `meta`; the spec is parsed here. A
    /// char_lstm's file is an error that says how to sample text from it (no image command
    /// reads it).
    pub fn from_parts(
        tensors: Vec<(String, deepnet::tensor::Tensor)>,
        meta: Vec<(String, String)>,
        weights: &Path,
    ) -> CliResult<Self> {
        if super::sample_text::is_char_lm(&meta) {
            return Err(format!(
                "{}: holds a character-level language model (char_lstm), not an image model: \
                 sample text from it with deepnet sample --weights {} --prime TEXT",
                weights.display(),
                weights.display()
            ));
        }
        let spec = ModelSpec::from_json(
            meta_value(&meta, "deepnet.model", weights, TRAIN_FILE)?,
            weights,
        )?;
        Ok(WeightsFile {
            tensors,
            meta,
            spec,
        })
    }

    /// The metadata entry `key`; its absence means the file was not written by `train`.
    pub fn get(&self, key: &str, weights: &Path) -> CliResult<String> {
        meta_value(&self.meta, key, weights, TRAIN_FILE).map(str::to_owned)
    }

    /// How the inputs were normalized in training (`deepnet.normalize`).
    pub fn norm(&self, weights: &Path) -> CliResult<Normalization> {
        Normalization::from_json(&self.get("deepnet.normalize", weights)?, weights)
    }

    /// The class names (`deepnet.classes`, written for image folders and CIFAR-10), one per
    /// output class; `None` where the file has none (IDX data).
    pub fn class_names(&self, weights: &Path) -> CliResult<Option<Vec<String>>> {
        let Some((_, v)) = self.meta.iter().find(|(k, _)| k == "deepnet.classes") else {
            return Ok(None);
        };
        match serde_json::from_str::<Vec<String>>(v) {
            Ok(names) if names.len() == self.spec.classes => Ok(Some(names)),
            _ => Err(format!(
                "{}: metadata \"deepnet.classes\" must list the model's {} class names, got {}",
                weights.display(),
                self.spec.classes,
                v.chars().take(80).collect::<String>()
            )),
        }
    }
}

/// What a weights file must be to hold the metadata that [`WeightsFile`] reads.
const TRAIN_FILE: &str = "weights file written by deepnet train";

/// The metadata value `key` of the weights file `weights`, or an error naming the file and
/// saying that it is not a `what` (e.g. "weights file written by deepnet train").
pub fn meta_value<'m>(
    meta: &'m [(String, String)],
    key: &str,
    weights: &Path,
    what: &str,
) -> CliResult<&'m str> {
    meta.iter()
        .find(|(m, _)| m == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| {
            format!(
                "{}: metadata has no \"{key}\": not a {what}",
                weights.display()
            )
        })
}

/// Loads a weights file written by `deepnet train`: its metadata says how to rebuild the model
/// and how to normalize the inputs. Errors name the file; a tensor that does not fit the model
/// is named with both shapes (strict loading: missing and unexpected keys are errors too).
pub fn load_trained(weights: &Path) -> CliResult<TrainedModel> {
    let file = WeightsFile::read(weights)?;
    if file.spec.is_reconstruction() {
        return Err(format!(
            "{}: a {} model reconstructs its input rather than classifying it; use deepnet reconstruct",
            weights.display(),
            file.spec.name
        ));
    }
    let norm = file.norm(weights)?;
    let class_names = file.class_names(weights)?;
    let model = build_from_weights(&file.tensors, weights, |store| file.spec.build(store))?;
    // inference only: dropout off, batch norm on its running statistics
    model.set_training(false);
    Ok(TrainedModel {
        model,
        norm,
        spec: file.spec,
        class_names,
    })
}

/// The model `build` makes in a fresh store, with the tensors of the weights file `weights`
/// loaded strictly (missing and unexpected keys are errors, a tensor that does not fit is named
/// with both shapes). Non-finite tensors are refused first; the metadata's sizes are trusted
/// only as far as the file's tensors back them: the model is built under their element count,
/// so a damaged size cannot make it allocate more.
pub fn build_from_weights<M>(
    tensors: &[(String, deepnet::tensor::Tensor)],
    weights: &Path,
    build: impl FnOnce(&ParamStore) -> CliResult<M>,
) -> CliResult<M> {
    check_finite_tensors(tensors, weights)?;
    let held: usize = tensors.iter().map(|(_, t)| t.numel()).sum();
    let store = ParamStore::new(0).limit_elements(held);
    let model = build(&store).map_err(|e| {
        format!(
            "{}: deepnet.model does not match the tensors: {e}",
            weights.display()
        )
    })?;
    store
        .load_state_dict(tensors, true)
        .map_err(|e| format!("{}: {e}", weights.display()))?;
    Ok(model)
}

/// A zoo model with pretrained Keras weights, loaded from a Keras export.
pub struct KerasModel {
    /// the model, in evaluation mode
    pub model: Box<dyn Module>,
    /// its input, classes and pixel scaling
    pub info: &'static KerasZooModel,
}

/// Loads the Keras export `weights` (a safetensors file of tensors in Keras layouts, keyed
/// `<layer>/<variable>`) into the zoo model `name` (`--model`), converting the layouts. The
/// architecture JSON `keras_model_config.json` beside the file, when there, gives the batch
/// norms' epsilon and is checked against the zoo model; without it a note says that Keras's
/// defaults are assumed. Errors name the file, and the Keras key and shapes that do not fit.
pub fn load_keras(name: &str, weights: &Path) -> CliResult<KerasModel> {
    let info = keras_zoo_model(name).ok_or_else(|| {
        format!(
            "--model {name}: --model selects a zoo model for a Keras export, one of {}; a \
             weights file written by deepnet train names its model itself (leave --model out)",
            KERAS_MODELS.map(|m| m.name).join(", ")
        )
    })?;
    let (tensors, meta) = load_safetensors_with_metadata(weights).map_err(msg)?;
    if let Some((_, m)) = meta.iter().find(|(k, _)| k == "deepnet.model") {
        return Err(format!(
            "{}: written by deepnet train (deepnet.model = {m}), not a Keras export: leave out \
             --model {name}",
            weights.display()
        ));
    }
    check_finite_tensors(&tensors, weights)?;
    let config_path = weights.with_file_name("keras_model_config.json");
    let config = if config_path.is_file() {
        let bytes = read_regular_file(&config_path, 64 << 20).map_err(msg)?;
        Some(String::from_utf8(bytes).map_err(|e| format!("{}: {e}", config_path.display()))?)
    } else {
        eprintln!(
            "note: no {} beside the weights: Keras's default batch-norm epsilon (1e-3) is \
             assumed and the architecture is not checked",
            config_path.display()
        );
        None
    };
    let model =
        import_keras(name, &tensors, config.as_deref(), &ParamStore::new(0)).map_err(|e| {
            let file = if e.to_string().starts_with("keras model config") {
                &config_path
            } else {
                weights
            };
            format!("{}: {e}", file.display())
        })?;
    Ok(KerasModel { model, info })
}

/// Refuses a weights file holding NaN or infinite values (they would only show later as a NaN
/// loss), naming the first such tensor.
pub fn check_finite_tensors(
    tensors: &[(String, deepnet::tensor::Tensor)],
    file: &Path,
) -> CliResult<()> {
    for (name, t) in tensors.iter().filter(|(_, t)| t.dtype().is_float()) {
        let v = t
            .to_dtype(deepnet::tensor::DType::F64)
            .and_then(|t| t.to_vec::<f64>())
            .map_err(msg)?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(format!(
                "{}: tensor \"{name}\" holds {} at element {i}: the weights are damaged",
                file.display(),
                v[i]
            ));
        }
    }
    Ok(())
}

/// Checks that samples of `shape` (from `source`) fit the input `expected` of the model of
/// `weights`.
pub fn check_sample_shape(
    weights: &Path,
    expected: &[usize],
    source: &Path,
    shape: &[usize],
) -> CliResult<()> {
    if shape == expected {
        return Ok(());
    }
    Err(format!(
        "{}: samples of {} have shape {shape:?}, the model expects {expected:?}",
        weights.display(),
        source.display(),
    ))
}

/// Parses `1x28x28` (or `28x28`, `784`) into a shape.
pub fn parse_shape(s: &str) -> CliResult<Vec<usize>> {
    let dims: Vec<usize> = s
        .split(['x', 'X', ','])
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| format!("--input: \"{s}\" is not a shape like 3x224x224"))
        })
        .collect::<CliResult<_>>()?;
    let elements = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if elements.is_none_or(|n| n > MAX_SAMPLE_ELEMENTS) {
        return Err(format!(
            "--input: a sample of shape {s} is larger than the {MAX_SAMPLE_ELEMENTS} elements \
             deepnet accepts for one sample"
        ));
    }
    Ok(dims)
}

/// The most elements one input sample given on the command line may have (2^28, 1 GiB of f32).
pub const MAX_SAMPLE_ELEMENTS: usize = 1 << 28;

/// The most parameter elements a model built from command-line flags may have (2^30, 4 GiB of
/// f32; the largest zoo model, VGG-19-BN, has 143.7 M): a mistyped size is an error naming the
/// layer, not an allocation of whatever it says.
pub const MAX_MODEL_ELEMENTS: usize = 1 << 30;

/// An empty parameter store seeded with `seed` that refuses models above
/// [`MAX_MODEL_ELEMENTS`].
pub fn model_store(seed: u64) -> ParamStore {
    ParamStore::new(seed).limit_elements(MAX_MODEL_ELEMENTS)
}

/// A clap parser for a count flag that must lie in `lo..=hi` (a bound on what a typo can ask
/// the machine for).
pub fn count_in(lo: usize, hi: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s: &str| {
        let v: usize = s
            .parse()
            .map_err(|_| format!("expected a whole number from {lo} to {hi}, got \"{s}\""))?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("expected {lo} to {hi}, got {v}"))
        }
    }
}

#[cfg(test)]
#[path = "common_tests.rs"]
mod tests;
