//! What the subcommands share: finding datasets, describing a model so that a weights file can
//! rebuild it, building models by name, and loading a weights file written by `train` (for
//! `eval` and `predict`).

use clap::Args;
use deepnet::data::{transforms, InMemoryDataset, Mnist, Split};
use deepnet::models::autoencoder::{self, Autoencoder, AutoencoderConfig, AUTOENCODER_MODELS};
use deepnet::models::{Activation, ArchSpec, Mlp, MlpConfig};
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::Tensor;
use deepnet::train::load_safetensors_with_metadata;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Errors of the command line are plain messages.
pub type CliResult<T> = Result<T, String>;

/// Turns any displayable error into a message.
pub fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The repository root as seen from this crate at build time (for the shipped `data/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Resolves `--dataset`: `mnist` (shipped in `data/mnist`), `fashion-mnist` (from
/// `../shared/data/fashion-mnist`), or a directory holding the four IDX files.
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
                "--dataset: \"{dir}\" is neither mnist, fashion-mnist nor a directory of IDX files"
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

/// Loads a split scaled to [0, 1], then normalized with `(mean, std)`.
pub fn load_split(dir: &Path, split: Split, norm: (f32, f32)) -> CliResult<InMemoryDataset> {
    let mut ds = Mnist::load(dir, split).map_err(msg)?;
    transforms::normalize(ds.images_mut(), norm.0, norm.1).map_err(msg)?;
    Ok(ds)
}

/// The mean and standard deviation of a split's pixels (after scaling to [0, 1]).
pub fn pixel_stats(dir: &Path, split: Split) -> CliResult<(f32, f32)> {
    let ds = Mnist::load(dir, split).map_err(msg)?;
    Ok(transforms::mean_std(ds.images()))
}

/// The architecture flags shared by `train` and `summary`.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model name: mlp, lenet5, small_cnn, alexnet, zfnet, vgg11..vgg19(_bn), googlenet,
    /// resnet18..resnet152, or lstm, gru, rnn (the image read row by row, hidden size 128).
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
    /// Hidden layer sizes of the MLP, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "256,128")]
    pub hidden: Vec<usize>,
    /// Hidden activation of the MLP: relu, sigmoid, tanh or leaky_relu.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// MLP dropout after each hidden activation (0 = none). p is the DROP probability
    /// (PyTorch's convention); the canon's slides write p as the KEEP probability, so their
    /// p = 0.8 is --dropout 0.2.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Weight initialization: default (PyTorch's), kaiming (He) or xavier (Glorot).
    #[arg(long, default_value = "default")]
    pub init: String,
}

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
    /// the code size `K` of an autoencoder or of `pca` (`--code`); `None` for the other models
    pub code: Option<usize>,
    /// an autoencoder's code activation (`linear`, `sigmoid`, `relu`, ...)
    pub code_activation: Option<String>,
    /// an autoencoder's output (`sigmoid` or `linear`)
    pub output: Option<String>,
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
        Ok(ModelSpec {
            name: if arch.is_some() {
                "arch".into()
            } else {
                a.model.clone()
            },
            input,
            classes,
            hidden: a.hidden.clone(),
            activation: a.activation.clone(),
            dropout: a.dropout,
            init: a.init.clone(),
            arch,
            code: None,
            code_activation: None,
            output: None,
        })
    }

    /// The spec of a reconstruction model: `pca` or one of the autoencoders, whose encoder
    /// hidden widths and activation go in `hidden` and `activation`.
    pub fn reconstruction(
        name: &str,
        input: Vec<usize>,
        cfg: Option<&AutoencoderConfig>,
        code: usize,
    ) -> Self {
        ModelSpec {
            name: name.into(),
            input,
            classes: 0,
            hidden: cfg.map(|c| c.hidden.clone()).unwrap_or_default(),
            activation: "relu".into(),
            dropout: 0.0,
            init: "default".into(),
            arch: None,
            code: Some(code),
            code_activation: cfg.map(|c| autoencoder::activation_name(c.code_activation).into()),
            output: cfg.map(|c| c.output.name().into()),
        }
    }

    /// Whether this is `pca` or an autoencoder: a model that reconstructs its input.
    pub fn is_reconstruction(&self) -> bool {
        self.name == "pca" || AUTOENCODER_MODELS.contains(&self.name.as_str())
    }

    /// The autoencoder this spec describes (its name must be one of the autoencoders).
    pub fn autoencoder_config(&self) -> CliResult<AutoencoderConfig> {
        let missing = |f: &str| format!("autoencoder {}: the spec lacks \"{f}\"", self.name);
        let cfg = AutoencoderConfig {
            in_features: self.input.iter().product(),
            hidden: self.hidden.clone(),
            code: self.code.ok_or_else(|| missing("code"))?,
            activation: self.activation.parse().map_err(msg)?,
            code_activation: autoencoder::parse_optional_activation(
                self.code_activation
                    .as_deref()
                    .ok_or_else(|| missing("code_activation"))?,
            )
            .map_err(|e| format!("--code-activation: {e}"))?,
            output: self
                .output
                .as_deref()
                .ok_or_else(|| missing("output"))?
                .parse()
                .map_err(|e| format!("--output: {e}"))?,
        };
        cfg.validate().map_err(|e| format!("--code: {e}"))?;
        Ok(cfg)
    }

    /// The JSON stored in the weights file's metadata under `deepnet.model`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name, "input": self.input, "classes": self.classes,
            "hidden": self.hidden, "activation": self.activation, "dropout": self.dropout,
            "init": self.init,
        });
        if let Some(arch) = &self.arch {
            v["arch"] = json!(arch);
        }
        if let Some(k) = self.code {
            v["code"] = json!(k);
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
            name,
            input: usizes("input")?,
            classes: field("classes")?.as_u64().unwrap_or(0) as usize,
            hidden: usizes("hidden")?,
            activation: field("activation")?.as_str().unwrap_or("relu").to_string(),
            dropout: field("dropout")?.as_f64().unwrap_or(0.0),
            init: v
                .get("init")
                .and_then(|i| i.as_str())
                .unwrap_or("default")
                .to_string(),
            arch,
            code: v.get("code").and_then(|c| c.as_u64()).map(|c| c as usize),
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
    /// the `(mean, std)` the inputs were normalized with in training (`deepnet.normalize`);
    /// inputs must get the same before the model sees them
    pub norm: (f32, f32),
}

/// Loads a weights file written by `deepnet train`: its metadata says how to rebuild the model
/// and how to normalize the inputs. Errors name the file; a tensor that does not fit the model
/// is named with both shapes (strict loading: missing and unexpected keys are errors too).
pub fn load_trained(weights: &Path) -> CliResult<TrainedModel> {
    let (tensors, spec, norm) = load_weights(weights)?;
    if spec.is_reconstruction() {
        return Err(format!(
            "{}: a {} model reconstructs its input rather than classifying it; use deepnet reconstruct",
            weights.display(),
            spec.name
        ));
    }
    let store = ParamStore::new(0);
    let model = spec.build(&store)?;
    store
        .load_state_dict(&tensors, true)
        .map_err(|e| format!("{}: {e}", weights.display()))?;
    // inference only: dropout off, batch norm on its running statistics
    model.set_training(false);
    Ok(TrainedModel { model, norm, spec })
}

/// The tensors of a weights file written by `deepnet train`, the model its metadata describes
/// (`deepnet.model`) and the `(mean, std)` its inputs were normalized with
/// (`deepnet.normalize`). Errors name the file and the missing or bad field.
pub fn load_weights(weights: &Path) -> CliResult<WeightsFile> {
    let (tensors, meta) = load_safetensors_with_metadata(weights).map_err(msg)?;
    let get = |k: &str| {
        meta.iter()
            .find(|(m, _)| m == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                format!(
                    "{}: metadata has no \"{k}\": not a weights file written by deepnet train",
                    weights.display()
                )
            })
    };
    let spec = ModelSpec::from_json(&get("deepnet.model")?, weights)?;
    let norm: Value = serde_json::from_str(&get("deepnet.normalize")?)
        .map_err(|e| format!("{}: deepnet.normalize: {e}", weights.display()))?;
    let stat = |k: &str| {
        norm.get(k)
            .and_then(|v| v.as_f64())
            .map(|v| v as f32)
            .ok_or_else(|| format!("{}: deepnet.normalize lacks \"{k}\"", weights.display()))
    };
    let norm = (stat("mean")?, stat("std")?);
    Ok((tensors, spec, norm))
}

/// What [`load_weights`] reads: the tensors, the model spec and the input normalization.
pub type WeightsFile = (Vec<(String, Tensor)>, ModelSpec, (f32, f32));

/// Checks that samples of `shape` (from `source`) fit the model of `weights`.
pub fn check_sample_shape(
    weights: &Path,
    spec: &ModelSpec,
    source: &Path,
    shape: &[usize],
) -> CliResult<()> {
    if shape == spec.input.as_slice() {
        return Ok(());
    }
    Err(format!(
        "{}: samples of {} have shape {shape:?}, the model expects {:?}",
        weights.display(),
        source.display(),
        spec.input
    ))
}

/// Parses `1x28x28` (or `28x28`, `784`) into a shape.
pub fn parse_shape(s: &str) -> CliResult<Vec<usize>> {
    s.split(['x', 'X', ','])
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| format!("--input: \"{s}\" is not a shape like 3x224x224"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_and_bad_values_are_named() {
        let a = ModelArgs {
            model: "mlp".into(),
            hidden: vec![32],
            activation: "tanh".into(),
            dropout: 0.0,
            init: "kaiming".into(),
            arch: None,
        };
        let s = ModelSpec::from_args(&a, vec![1, 28, 28], 10).unwrap();
        let back =
            ModelSpec::from_json(&s.to_json().to_string(), Path::new("m.safetensors")).unwrap();
        assert_eq!(s, back);
        let store = ParamStore::new(0);
        assert!(s.build(&store).is_ok());
        let bad = ModelSpec {
            activation: "gelu".into(),
            ..s.clone()
        };
        let err = |s: &ModelSpec| s.build(&ParamStore::new(0)).err().unwrap_or_default();
        assert!(err(&bad).contains("--activation"));
        let bad = ModelSpec {
            name: "vgg99".into(),
            ..s
        };
        assert!(err(&bad).contains("vgg99"));
        assert_eq!(parse_shape("3x224x224").unwrap(), vec![3, 224, 224]);
        assert!(parse_shape("3x0").is_err());
        assert!(resolve_dataset("no-such-set").is_err());
    }

    #[test]
    fn an_arch_spec_is_stored_canonical_and_rebuilt() {
        let a = ModelArgs {
            model: "mlp".into(),
            hidden: vec![256, 128],
            activation: "relu".into(),
            dropout: 0.0,
            init: "default".into(),
            arch: Some(" conv4k3p1 , relu,maxpool2s2,fc10".into()),
        };
        let s = ModelSpec::from_args(&a, vec![1, 8, 8], 10).unwrap();
        assert_eq!(s.name, "arch");
        assert_eq!(s.arch.as_deref(), Some("conv4k3p1,relu,maxpool2,fc10"));
        let file = Path::new("m.safetensors");
        let back = ModelSpec::from_json(&s.to_json().to_string(), file).unwrap();
        assert_eq!(s, back);
        let store = ParamStore::new(0);
        back.build(&store).unwrap();
        assert_eq!(store.num_params(), 40 + 4 * 16 * 10 + 10);
        // the class count is checked against the last fc
        let e = ModelSpec {
            classes: 3,
            ..s.clone()
        }
        .build(&ParamStore::new(0))
        .err()
        .unwrap_or_default();
        assert!(e.starts_with("--arch: ") && e.contains("3 classes"), "{e}");
        // a hand-edited spec in a weights file names the file and the field
        let mut j = s.to_json();
        j["arch"] = json!("conv4k3,rellu,fc10");
        let e = ModelSpec::from_json(&j.to_string(), file).unwrap_err();
        assert!(
            e.starts_with("m.safetensors: deepnet.model.arch: token 2 \"rellu\""),
            "{e}"
        );
        // --model besides --arch is an error
        let e = ModelSpec::from_args(
            &ModelArgs {
                model: "lenet5".into(),
                ..a
            },
            vec![1, 8, 8],
            10,
        )
        .unwrap_err();
        assert!(e.contains("--model lenet5"), "{e}");
    }
}
