//! The CIFAR-10 CNN of the PyPI package `cifar-10-model` (Keras 2.9), rebuilt so that its
//! pretrained Keras weights load (`../shared/data/pretrained/cifar10-keras-cnn`). Its quirks are
//! kept: every convolution is followed by a ReLU and *then* a batch norm (epsilon `1e-3`,
//! Keras's default), the last `Dense` has a ReLU too (the package trained on those outputs as
//! logits), and inputs are raw pixel values `0..=255`, not normalized.
//!
//! | layer | Keras layer | module | output (3x32x32) | parameters |
//! |---|---|---|---|---|
//! | `features.0`, `.1` | `conv2d` (ReLU) | Conv2d(3, 64, 3x3), ReLU | 64x30x30 | 1,792 |
//! | `features.2` | `batch_normalization` | BatchNorm2d(64, eps=1e-3) | | 128 + 128 |
//! | `features.3` - `.5` | `conv2d_1`, `batch_normalization_1` | Conv2d(64, 64, 3x3), ReLU, BatchNorm2d | 64x28x28 | 36,928 + 256 |
//! | `features.6` | `max_pooling2d` | MaxPool2d(2, 2) | 64x14x14 | |
//! | `features.7` - `.9` | `conv2d_2`, `batch_normalization_2` | Conv2d(64, 128, 3x3), ReLU, BatchNorm2d | 128x12x12 | 73,856 + 512 |
//! | `features.10` - `.12` | `conv2d_3`, `batch_normalization_3` | Conv2d(128, 128, 3x3), ReLU, BatchNorm2d | 128x10x10 | 147,584 + 512 |
//! | `features.13` | `max_pooling2d_1` | MaxPool2d(2, 2) | 128x5x5 | |
//! | `features.14` - `.16` | `conv2d_4`, `batch_normalization_4` | Conv2d(128, 64, 3x3), ReLU, BatchNorm2d | 64x3x3 | 73,792 + 256 |
//! | `features.17` - `.19` | `conv2d_5`, `batch_normalization_5` | Conv2d(64, 64, 3x3), ReLU, BatchNorm2d | 64x1x1 | 36,928 + 256 |
//! | `features.20` | `max_pooling2d_2` | MaxPool2d(1, 1) (the identity, kept as in Keras) | 64x1x1 | |
//! | `flatten` | `flatten` | Flatten | 64 | |
//! | `classifier.0`, `.1` | `dense` (ReLU) | Linear(64, 1024), ReLU | 1024 | 66,560 |
//! | `classifier.2` | `dropout` | Dropout(0.2) | | |
//! | `classifier.3`, `.4` | `dense_1` (ReLU) | Linear(1024, 512), ReLU | 512 | 524,800 |
//! | `classifier.5` | `dropout_1` | Dropout(0.2) | | |
//! | `classifier.6`, `.7` | `dense_2` (ReLU) | Linear(512, 10), ReLU | 10 | 5,130 |
//!
//! 968,394 parameters and 1,024 batch-norm statistics: the 969,418 values of the Keras file.
//! Keras flattens `(H, W, C)`, deepnet `(C, H, W)`: on 32x32 inputs the map is 1x1 and the orders
//! agree; for other sizes [`KerasCifar10Cnn::keras_plan`] reorders the first dense kernel.

use crate::head::{conv_classifier_module, ConvClassifier};
use crate::keras::{numbered, pair, KerasLayerSpec, KerasPlan, KERAS_BN_EPS};
use crate::{conv, out_size};
use deepnet_nn::layers::{
    BatchNorm2d, BatchNormConfig, Dropout, Linear, MaxPool2d, ReLU, Sequential,
};
use deepnet_nn::ParamBuilder;
use deepnet_tensor::{Error, Result};

/// The options of a [`KerasCifar10Cnn`].
#[derive(Clone, Debug, PartialEq)]
pub struct KerasCifar10CnnConfig {
    /// input channels (3)
    pub in_channels: usize,
    /// input height and width (32x32)
    pub input_size: (usize, usize),
    /// number of outputs (10)
    pub num_classes: usize,
    /// the drop probability of both dropout layers (0.2)
    pub dropout: f64,
    /// the batch norms' epsilon (`1e-3`, Keras's default)
    pub bn_eps: f64,
}

impl Default for KerasCifar10CnnConfig {
    /// The pretrained network: 3x32x32, 10 classes, dropout 0.2, epsilon `1e-3`.
    fn default() -> Self {
        KerasCifar10CnnConfig {
            in_channels: 3,
            input_size: (32, 32),
            num_classes: 10,
            dropout: 0.2,
            bn_eps: KERAS_BN_EPS,
        }
    }
}

/// (in, out) channels of the six convolutions; a 2x2 max pool follows the 2nd and 4th, a 1x1
/// one the 6th.
const CONVS: [(usize, usize); 6] = [
    (0, 64),
    (64, 64),
    (64, 128),
    (128, 128),
    (128, 64),
    (64, 64),
];

impl KerasCifar10CnnConfig {
    /// The side of the last feature map for an input side `s`: `((s - 4) / 2 - 4) / 2 - 4`.
    fn side(s: usize) -> Result<usize> {
        let mut s = s;
        // (first conv, second conv, pool, pool window) of each stage
        for (a, b, pool, k) in [(0, 3, 6, 2), (7, 10, 13, 2), (14, 17, 20, 1)] {
            s = out_size(&format!("keras_cifar10_cnn features.{a}"), s, 3, 1, 0)?;
            s = out_size(&format!("keras_cifar10_cnn features.{b}"), s, 3, 1, 0)?;
            s = out_size(&format!("keras_cifar10_cnn features.{pool}"), s, k, k, 0)?;
        }
        Ok(s)
    }

    /// The last feature map `[C, H, W]` (`[64, 1, 1]` on 32x32), which the classifier flattens.
    pub fn feature_map(&self) -> Result<[usize; 3]> {
        Ok([
            64,
            Self::side(self.input_size.0)?,
            Self::side(self.input_size.1)?,
        ])
    }
}

/// The CIFAR-10 CNN: `(N, in_channels, H, W)` raw pixels `0..=255` -> `(N, num_classes)`
/// (ReLU'd logits).
pub struct KerasCifar10Cnn {
    net: ConvClassifier,
}

impl KerasCifar10Cnn {
    /// Builds the layers under `pb` (`features.0.weight`, ..., `classifier.6.bias`). Fails when
    /// the input is smaller than 32x32, naming the layer and the arithmetic.
    pub fn new(cfg: &KerasCifar10CnnConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.in_channels == 0 || cfg.num_classes == 0 {
            return Err(Error::msg(
                "keras_cifar10_cnn: in_channels and num_classes must be at least 1",
            ));
        }
        if !(0.0..1.0).contains(&cfg.dropout) {
            return Err(Error::msg(format!(
                "keras_cifar10_cnn: dropout must be in [0, 1), got {}",
                cfg.dropout
            )));
        }
        let [c, h, w] = cfg.feature_map()?;
        let fp = pb.push("features");
        let mut f = Sequential::new(&fp);
        let bn = BatchNormConfig {
            eps: cfg.bn_eps,
            ..Default::default()
        };
        for (i, &(cin, cout)) in CONVS.iter().enumerate() {
            let cin = if i == 0 { cfg.in_channels } else { cin };
            f.push(conv(cin, cout, 3, 1, 0, true, &fp.push(f.len()))?);
            f.push(ReLU);
            f.push(BatchNorm2d::new(cout, bn, &fp.push(f.len()))?);
            if i % 2 == 1 {
                let k = if i < 5 { 2 } else { 1 };
                f.push(MaxPool2d::new((k, k), (k, k)));
            }
        }
        let cp = pb.push("classifier");
        let mut cl = Sequential::new(&cp);
        for (i, (fin, fout)) in [(c * h * w, 1024), (1024, 512), (512, cfg.num_classes)]
            .into_iter()
            .enumerate()
        {
            cl.push(Linear::new(fin, fout, true, &cp.push(cl.len()))?);
            cl.push(ReLU);
            if i < 2 {
                cl.push(Dropout::new(cfg.dropout, &cp.push(cl.len()))?);
            }
        }
        Ok(KerasCifar10Cnn {
            net: ConvClassifier::new("KerasCifar10Cnn", pb.path(), f, None, cl),
        })
    }

    /// Which Keras tensor fills which parameter (keys relative to the model's root): the
    /// convolutions `conv2d`, `conv2d_1`, ... go to `features.0`, `.3`, `.7`, `.10`, `.14`,
    /// `.17`, the batch norms to the index after their ReLU, `dense`, `dense_1`, `dense_2` to
    /// `classifier.0`, `.3`, `.6` (the first with the channels-last flatten of the last map).
    pub fn keras_plan(cfg: &KerasCifar10CnnConfig) -> Result<KerasPlan> {
        let mut plan = KerasPlan::default();
        let mut idx = 0;
        for i in 0..CONVS.len() {
            plan.conv(&numbered("conv2d", i), &format!("features.{idx}"), true);
            plan.batch_norm(
                &numbered("batch_normalization", i),
                &format!("features.{}", idx + 2),
            );
            idx += if i % 2 == 1 { 4 } else { 3 };
        }
        let map = cfg.feature_map()?;
        for (i, target) in ["classifier.0", "classifier.3", "classifier.6"]
            .iter()
            .enumerate()
        {
            let flatten = if i == 0 { Some(map) } else { None };
            plan.dense(&numbered("dense", i), target, flatten);
        }
        Ok(plan)
    }

    /// The Keras layers of the architecture, in order, for [`crate::keras::KerasConfig::check`].
    pub fn keras_layers(cfg: &KerasCifar10CnnConfig) -> Vec<KerasLayerSpec> {
        let mut v = Vec::new();
        for (i, &(_, cout)) in CONVS.iter().enumerate() {
            v.push(
                KerasLayerSpec::new(numbered("conv2d", i), "Conv2D")
                    .field("filters", cout)
                    .field("kernel_size", pair(3))
                    .field("strides", pair(1))
                    .field("padding", "valid")
                    .field("activation", "relu")
                    .field("use_bias", true),
            );
            v.push(
                KerasLayerSpec::new(numbered("batch_normalization", i), "BatchNormalization")
                    .field("center", true)
                    .field("scale", true),
            );
            if i % 2 == 1 {
                let k = if i < 5 { 2 } else { 1 };
                v.push(
                    KerasLayerSpec::new(numbered("max_pooling2d", i / 2), "MaxPooling2D")
                        .field("pool_size", pair(k))
                        .field("strides", pair(k))
                        .field("padding", "valid"),
                );
            }
        }
        v.push(KerasLayerSpec::new("flatten", "Flatten"));
        for (i, units) in [1024, 512, cfg.num_classes].into_iter().enumerate() {
            v.push(
                KerasLayerSpec::new(numbered("dense", i), "Dense")
                    .field("units", units)
                    .field("activation", "relu")
                    .field("use_bias", true),
            );
            if i < 2 {
                v.push(
                    KerasLayerSpec::new(numbered("dropout", i), "Dropout")
                        .field("rate", cfg.dropout),
                );
            }
        }
        v
    }
}

conv_classifier_module!(KerasCifar10Cnn);

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_nn::{trace_layers, Module, ParamStore};
    use deepnet_tensor::{DType, Tensor};

    #[test]
    fn counts_keys_shapes_and_plan_cover_the_model() {
        let store = ParamStore::new(0);
        let cfg = KerasCifar10CnnConfig::default();
        let net = KerasCifar10Cnn::new(&cfg, &store.root()).unwrap();
        assert_eq!(store.num_params(), 968_394);
        let stats: usize = store
            .buffers()
            .iter()
            .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
            .map(|(_, t)| t.numel())
            .sum();
        assert_eq!(store.num_params() + stats, 969_418);
        assert_eq!(cfg.feature_map().unwrap(), [64, 1, 1]);
        net.set_training(false);
        let x = Tensor::zeros([2, 3, 32, 32], DType::F32).unwrap();
        let (y, recs) = trace_layers(|| net.forward(&x)).unwrap();
        assert_eq!(y.dims(), [2, 10]);
        let at = |p: &str| {
            recs.iter()
                .find(|r| r.path == p)
                .unwrap()
                .output_shape
                .clone()
        };
        assert_eq!(at("features.6"), [2, 64, 14, 14]);
        assert_eq!(at("features.13"), [2, 128, 5, 5]);
        assert_eq!(at("features.20"), [2, 64, 1, 1]);
        // the plan fills every parameter and statistic exactly once
        let plan = KerasCifar10Cnn::keras_plan(&cfg).unwrap();
        let mut targets: Vec<String> = plan.0.iter().map(|w| w.target.clone()).collect();
        targets.sort();
        let mut keys: Vec<String> = store
            .keys()
            .into_iter()
            .filter(|k| !k.ends_with("num_batches_tracked"))
            .collect();
        keys.sort();
        assert_eq!(targets, keys);
        assert!(plan
            .0
            .iter()
            .any(|w| w.keras == "batch_normalization_5/moving_variance"
                && w.target == "features.19.running_var"));
        // a 40x40 input leaves a 64x3x3 map, flattened channels-last by Keras
        let big = KerasCifar10CnnConfig {
            input_size: (40, 40),
            ..cfg.clone()
        };
        assert_eq!(big.feature_map().unwrap(), [64, 3, 3]);
        let small = KerasCifar10CnnConfig {
            input_size: (31, 32),
            ..cfg
        };
        let e = KerasCifar10Cnn::new(&small, &store.root().push("s"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("< 1"), "{e}");
    }
}
