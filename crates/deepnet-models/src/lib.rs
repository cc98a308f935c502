//! # deepnet-models
//!
//! The model zoo. Each model is a config, a constructor taking a `ParamBuilder`, and a
//! `Module::forward`; `state_dict` keys equal the PyTorch reference implementation's
//! (torchvision's where it has the model), so weights load by name.
//!
//! | name | model | input | parameters |
//! |---|---|---|---|
//! | `mlp` | [`Mlp`] | any, flattened | 235,146 (784-256-128-10) |
//! | `lenet5` | [`LeNet5`] | 1x28x28 | 61,706 |
//! | `small_cnn` | [`SmallCnn`] | 1x28x28 / 3x32x32 | 870,634 / 1,116,970 |
//! | `alexnet` | [`AlexNet`] | 3x224x224 | 61,100,840 |
//! | `zfnet` | [`ZfNet`] | 3x224x224 | 62,357,608 |
//! | `vgg11` ... `vgg19_bn` | [`Vgg`] | 3x224x224 | 132,863,336 ... 143,678,248 |
//! | `googlenet` | [`GoogLeNet`] | 3x224x224 | 6,624,904 |
//! | `resnet18` ... `resnet152` | [`ResNet`] | 3x224x224 | 11,689,512 ... 60,192,808 |
//! | `keras_cifar10_cnn` | [`KerasCifar10Cnn`] (pretrained Keras weights load) | 3x32x32, raw 0..255 | 968,394 |
//! | `mini_xception` | [`MiniXception`] (pretrained Keras weights load) | 1x64x64 in [-1, 1] | 56,951 |
//! | `lstm` / `gru` / `rnn` | [`RecurrentClassifier`] | CxHxW, read as H rows | 82,186 / 61,962 / 21,514 (1x28x28, hidden 128) |
//! | `char_lstm` | [`CharLstm`] | L token ids | 881,423 (79 characters, 64-256x2) |
//! | series `lstm` / `gru` / `rnn` | [`SeriesRnnClassifier`] | LxF, NaN-padded | 17,672 / 13,384 (F = 1, hidden 64, 8 classes) |
//! | `fcn` | [`Fcn`] | LxF, NaN-padded | 265,736 (F = 1, 8 classes) |
//! | `bigru` | [`ReviewClassifier`] | L token ids, 0-padded | 1,330,178 (vocab 20,000, embed 64, hidden 64) |
//! | `vae` | [`MlpVae`] | 1x28x28 | 652,824 (784-400-20-400-784) |
//! | `gan` | [`Gan::mlp`] | code 100 -> 1x28x28 | 1,486,352 (G) + 1,460,225 (D) |
//! | `conv_vae` | [`ConvVae`] | 1x28x28 | 1,691,369 (conv 32, 64; dense 256; code 20) |
//! | `dcgan` | [`Gan::dcgan`] | code 100 -> 1x28x28 | 347,073 (G) + 36,577 (D) |
//!
//! [`keras_import::import_keras`] builds `keras_cifar10_cnn` or `mini_xception` from a Keras
//! export, converting the Keras layouts on load ([`keras`]).
//!
//! [`check_input`] checks, before training, that an input shape flows through a model and
//! reports windows that do not tile their inputs, with the arithmetic.

#![warn(missing_docs)]

pub mod alexnet;
pub mod arch;
pub mod autoencoder;
pub mod char_lm;
pub mod conv_vae;
pub mod dcgan;
pub mod fully_conv;
pub mod gan;
pub mod googlenet;
pub mod graph_tasks;
mod head;
pub mod keras;
pub mod keras_cifar10_cnn;
pub mod keras_import;
pub mod keras_layers;
pub mod lenet;
pub mod md_lstm;
pub mod mini_xception;
pub mod mlp;
pub mod pca;
pub mod rbm;
pub mod recurrent;
pub mod resnet;
pub mod seq2seq;
pub mod sequence_tasks;
pub mod shape_check;
pub mod small_cnn;
pub mod vae;
pub mod vgg;

pub use alexnet::{AlexNet, AlexNetConfig, ZfNet, ZfNetConfig};
pub use arch::{ArchNet, ArchSpec};
pub use autoencoder::{
    evaluate_autoencoder, squared_error_per_image, AeEvaluation, AeObjective, AeOutput,
    Autoencoder, AutoencoderConfig, Noise, AUTOENCODER_MODELS,
};
pub use char_lm::{sample_logits, CharLstm, CharLstmConfig};
pub use conv_vae::{ConvVae, ConvVaeConfig};
pub use dcgan::{DcganConfig, DcganDiscriminator, DcganGenerator};
pub use fully_conv::{fully_convolutional, layer_output, ConvertedLayer, FullyConvNet};
pub use gan::{Gan, GeneratorLoss, MlpDiscriminator, MlpGanConfig, MlpGenerator};
pub use googlenet::{GoogLeNet, GoogLeNetConfig};
pub use graph_tasks::{
    BitGraph, BoolExpr, BroadcastBit, ExprTree, GgnnNodeClassifier, TreeLstmClassifier,
};
pub use keras_cifar10_cnn::{KerasCifar10Cnn, KerasCifar10CnnConfig};
pub use keras_import::{import_keras, keras_zoo_model, KerasZooModel, KERAS_MODELS};
pub use keras_layers::{MaxPool2dSame, SeparableConv2d};
pub use lenet::{LeNet5, LeNet5Config};
pub use md_lstm::{MdLstmClassifier, MdLstmClassifierConfig, MdPooling};
pub use mini_xception::{MiniXception, MiniXceptionConfig, XceptionBlock};
pub use mlp::{Activation, Mlp, MlpConfig, WeightInit};
pub use pca::{principal_angles, Pca};
pub use recurrent::{RecurrentClassifier, RecurrentClassifierConfig, RecurrentKind};
pub use resnet::{ResNet, ResNetConfig, ResNetDepth};
pub use seq2seq::{Seq2Seq, Seq2SeqConfig, SortedDigits};
pub use sequence_tasks::{
    Fcn, FcnConfig, Pooling, ReviewClassifier, ReviewClassifierConfig, SeriesRnnClassifier,
    SeriesRnnConfig,
};
pub use shape_check::{check_input, check_input_traced, forward_child, onnx_child};
pub use small_cnn::{SmallCnn, SmallCnnConfig};
pub use vae::{MlpVae, MlpVaeConfig, VariationalAutoencoder};
pub use vgg::{Vgg, VggConfig, VggDepth};

use deepnet_nn::layers::{conv_arithmetic, Conv2d, Conv2dConfig};
use deepnet_nn::ParamBuilder;
use deepnet_tensor::{Error, Result};

/// The convolutional models by registry name, for `--model`.
pub const CONV_MODELS: &[&str] = &[
    "lenet5",
    "small_cnn",
    "alexnet",
    "zfnet",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "googlenet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "keras_cifar10_cnn",
    "mini_xception",
];

/// The recurrent sequence classifiers by registry name, for `--model` (see [`recurrent`]).
pub const RECURRENT_MODELS: &[&str] = &["lstm", "gru", "rnn"];

/// Builds a recurrent classifier by registry name (one of [`RECURRENT_MODELS`]) with the default
/// sizes (one layer, hidden size 128) for one sample of shape `input` (`[C, H, W]`, read as `H`
/// rows of `C*W` features, or `[L, F]`) and `num_classes` outputs, under `pb`.
pub fn build_recurrent_model(
    name: &str,
    input: &[usize],
    num_classes: usize,
    pb: &ParamBuilder,
) -> Result<Box<dyn deepnet_nn::Module>> {
    let kind: RecurrentKind = name.parse()?;
    let cfg = RecurrentClassifierConfig::for_input(kind, input, num_classes)?;
    Ok(Box::new(RecurrentClassifier::new(&cfg, pb)?))
}

/// A square `k x k` convolution with stride `s` and padding `p` under `pb`.
pub(crate) fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    s: usize,
    p: usize,
    bias: bool,
    pb: &ParamBuilder,
) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        stride: (s, s),
        padding: (p, p),
        bias,
        ..Default::default()
    };
    Conv2d::new(cin, cout, (k, k), cfg, pb)
}

/// `root.name`, or `name` at the root.
pub(crate) fn join(root: &str, name: &str) -> String {
    if root.is_empty() {
        name.to_string()
    } else {
        format!("{root}.{name}")
    }
}

/// The output size of a `k`/`s`/`p` window on `size` at build time, or an error naming `what`
/// and the arithmetic when it falls below 1.
pub(crate) fn out_size(what: &str, size: usize, k: usize, s: usize, p: usize) -> Result<usize> {
    match conv_arithmetic(size, k, s, p, 1) {
        (0, _) => Err(Error::msg(format!(
            "{what}: window {k}, stride {s}, pad {p} on {size}: ({size} - {k} + {})/{s} + 1 < 1",
            2 * p
        ))),
        (o, _) => Ok(o),
    }
}

/// Builds a zoo model by registry name (one of [`CONV_MODELS`]) for one sample of shape `input`
/// (`[C, H, W]`) and `num_classes` outputs, under `pb`. The ImageNet models take any input
/// channel count and size their pools adaptively (GoogLeNet needs 3 channels); LeNet-5, ZF Net
/// and the small CNN size their classifier from `input`. Unknown names are errors listing the
/// known ones. `keras_cifar10_cnn` and `mini_xception` are built with Keras's batch-norm epsilon
/// `1e-3` (load their pretrained weights with [`import_keras`]).
pub fn build_conv_model(
    name: &str,
    input: &[usize],
    num_classes: usize,
    pb: &ParamBuilder,
) -> Result<Box<dyn deepnet_nn::Module>> {
    let &[c, h, w] = input else {
        return Err(Error::msg(format!(
            "{name}: expected an input shape [C, H, W], got {input:?}"
        )));
    };
    Ok(match name {
        "lenet5" => Box::new(LeNet5::new(
            &LeNet5Config {
                in_channels: c,
                input_size: (h, w),
                num_classes,
            },
            pb,
        )?),
        "small_cnn" => Box::new(SmallCnn::new(
            &SmallCnnConfig {
                in_channels: c,
                input_size: (h, w),
                num_classes,
                dropout: 0.0,
            },
            pb,
        )?),
        "keras_cifar10_cnn" => Box::new(KerasCifar10Cnn::new(
            &KerasCifar10CnnConfig {
                in_channels: c,
                input_size: (h, w),
                num_classes,
                ..Default::default()
            },
            pb,
        )?),
        "mini_xception" => {
            MiniXception::check_size(h, w)?;
            Box::new(MiniXception::new(
                &MiniXceptionConfig {
                    in_channels: c,
                    num_classes,
                    ..Default::default()
                },
                pb,
            )?)
        }
        "alexnet" => Box::new(AlexNet::new(
            &AlexNetConfig {
                num_classes,
                in_channels: c,
                ..Default::default()
            },
            pb,
        )?),
        "zfnet" => Box::new(ZfNet::new(
            &ZfNetConfig {
                num_classes,
                in_channels: c,
                input_size: (h, w),
                ..Default::default()
            },
            pb,
        )?),
        "googlenet" => {
            if c != 3 {
                return Err(Error::msg(format!(
                    "googlenet: expects 3 input channels, got input {input:?}"
                )));
            }
            Box::new(GoogLeNet::new(
                &GoogLeNetConfig {
                    num_classes,
                    ..Default::default()
                },
                pb,
            )?)
        }
        n => {
            if let Some(cfg) = VggConfig::from_name(n) {
                let cfg = VggConfig {
                    num_classes,
                    in_channels: c,
                    ..cfg
                };
                Box::new(Vgg::new(&cfg, pb)?)
            } else if let Some(cfg) = ResNetConfig::from_name(n) {
                let cfg = ResNetConfig {
                    num_classes,
                    in_channels: c,
                    ..cfg
                };
                Box::new(ResNet::new(&cfg, pb)?)
            } else {
                return Err(Error::msg(format!(
                    "unknown model \"{n}\" (expected one of {})",
                    CONV_MODELS.join(", ")
                )));
            }
        }
    })
}
