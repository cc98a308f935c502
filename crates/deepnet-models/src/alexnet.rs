//! AlexNet (as torchvision) and ZF Net (Zeiler and Fergus, 2013).
//!
//! ## AlexNet
//!
//! torchvision's `alexnet`, which is the single-tower variant of Krizhevsky's "One weird trick
//! for parallelizing convolutional neural networks" (2014): 64/192/384/256/256 filters instead of
//! the 96/256/384/384/256 of the 2012 paper, no local response normalization, no grouped
//! convolutions, and an adaptive average pool to 6x6 so any input of at least 63x63 works.
//! Keys and the 61,100,840 parameters equal torchvision's, so its weights load by name.
//!
//! | layer | module | output (3x224x224 input) | parameters |
//! |---|---|---|---|
//! | `features.0` | Conv2d(3, 64, 11x11, stride 4, pad 2) | 64x55x55 | 23,296 |
//! | `features.1` | ReLU | 64x55x55 | |
//! | `features.2` | MaxPool2d(3, stride 2) | 64x27x27 | |
//! | `features.3` | Conv2d(64, 192, 5x5, pad 2) | 192x27x27 | 307,392 |
//! | `features.4` | ReLU | 192x27x27 | |
//! | `features.5` | MaxPool2d(3, stride 2) | 192x13x13 | |
//! | `features.6` | Conv2d(192, 384, 3x3, pad 1) | 384x13x13 | 663,936 |
//! | `features.7` | ReLU | 384x13x13 | |
//! | `features.8` | Conv2d(384, 256, 3x3, pad 1) | 256x13x13 | 884,992 |
//! | `features.9` | ReLU | 256x13x13 | |
//! | `features.10` | Conv2d(256, 256, 3x3, pad 1) | 256x13x13 | 590,080 |
//! | `features.11` | ReLU | 256x13x13 | |
//! | `features.12` | MaxPool2d(3, stride 2) | 256x6x6 | |
//! | `avgpool` | AdaptiveAvgPool2d(6, 6) | 256x6x6 | |
//! | `flatten` | Flatten | 9216 | |
//! | `classifier.0` | Dropout(0.5) | 9216 | |
//! | `classifier.1` | Linear(9216, 4096) | 4096 | 37,752,832 |
//! | `classifier.2` | ReLU | 4096 | |
//! | `classifier.3` | Dropout(0.5) | 4096 | |
//! | `classifier.4` | Linear(4096, 4096) | 4096 | 16,781,312 |
//! | `classifier.5` | ReLU | 4096 | |
//! | `classifier.6` | Linear(4096, 1000) | 1000 | 4,097,000 |
//!
//! On 224x224 the first convolution does not tile: `(224 - 11 + 4)/4 + 1 = 55.25`, so the last
//! row and column of the padded input are ignored ([`crate::check_input`] warns); 227x227 without
//! padding is the exact geometry of the 2012 paper.
//!
//! ## ZF Net
//!
//! Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks" (2013), Figure 3:
//! AlexNet with a 7x7 stride-2 first layer and a stride-2 second layer. The paper does not give
//! paddings; these reproduce its sizes (110, 55, 26, 13, 6): conv1 pad 1, both of the first two
//! pools pad 1, conv2 pad 0, conv3-5 pad 1, the last pool pad 0. Local response normalization as
//! AlexNet's (`size 5, alpha 1e-4, beta 0.75, k 2`) stands for the paper's contrast normalization.
//! Keys follow the AlexNet layout (`features.N`, `classifier.N`).
//!
//! | layer | module | output (3x224x224 input) | parameters |
//! |---|---|---|---|
//! | `features.0` | Conv2d(3, 96, 7x7, stride 2, pad 1) | 96x110x110 | 14,208 |
//! | `features.1` | ReLU | 96x110x110 | |
//! | `features.2` | MaxPool2d(3, stride 2, pad 1) | 96x55x55 | |
//! | `features.3` | LocalResponseNorm(5) | 96x55x55 | |
//! | `features.4` | Conv2d(96, 256, 5x5, stride 2) | 256x26x26 | 614,656 |
//! | `features.5` | ReLU | 256x26x26 | |
//! | `features.6` | MaxPool2d(3, stride 2, pad 1) | 256x13x13 | |
//! | `features.7` | LocalResponseNorm(5) | 256x13x13 | |
//! | `features.8` | Conv2d(256, 384, 3x3, pad 1) | 384x13x13 | 885,120 |
//! | `features.9` | ReLU | 384x13x13 | |
//! | `features.10` | Conv2d(384, 384, 3x3, pad 1) | 384x13x13 | 1,327,488 |
//! | `features.11` | ReLU | 384x13x13 | |
//! | `features.12` | Conv2d(384, 256, 3x3, pad 1) | 256x13x13 | 884,992 |
//! | `features.13` | ReLU | 256x13x13 | |
//! | `features.14` | MaxPool2d(3, stride 2) | 256x6x6 | |
//! | `flatten` | Flatten | 9216 | |
//! | `classifier.0`-`.6` | as AlexNet's | 1000 | 58,631,144 |
//!
//! 62,357,608 parameters. The conv1, pool1 and pool2 windows do not tile exactly on 224
//! (`(224 - 7 + 2)/2 + 1 = 110.5`, `(110 - 3 + 2)/2 + 1 = 55.5`, `(26 - 3 + 2)/2 + 1 = 13.5`);
//! the others do. The classifier's input size follows from `input_size`.

use crate::head::{conv_classifier_module, ConvClassifier};
use crate::{conv, out_size};
use deepnet_nn::layers::{
    AdaptiveAvgPool2d, Dropout, Linear, LocalResponseNorm, MaxPool2d, ReLU, Sequential,
};
use deepnet_nn::ParamBuilder;
use deepnet_tensor::{Error, Result};

/// The options of [`AlexNet`].
#[derive(Clone, Debug, PartialEq)]
pub struct AlexNetConfig {
    /// number of outputs (1000)
    pub num_classes: usize,
    /// input channels (3)
    pub in_channels: usize,
    /// dropout probability in the classifier (0.5)
    pub dropout: f64,
}

impl Default for AlexNetConfig {
    /// torchvision's defaults: 1000 classes, 3 channels, dropout 0.5.
    fn default() -> Self {
        AlexNetConfig {
            num_classes: 1000,
            in_channels: 3,
            dropout: 0.5,
        }
    }
}

/// The three-layer classifier shared by AlexNet and ZF Net: `Dropout, Linear(fin, 4096), ReLU,
/// Dropout, Linear(4096, 4096), ReLU, Linear(4096, classes)`.
fn classifier(fin: usize, classes: usize, p: f64, pb: &ParamBuilder) -> Result<Sequential> {
    let cp = pb.push("classifier");
    let mut c = Sequential::new(&cp);
    c.push(Dropout::new(p, &cp.push(0))?)
        .push(Linear::new(fin, 4096, true, &cp.push(1))?)
        .push(ReLU)
        .push(Dropout::new(p, &cp.push(3))?)
        .push(Linear::new(4096, 4096, true, &cp.push(4))?)
        .push(ReLU)
        .push(Linear::new(4096, classes, true, &cp.push(6))?);
    Ok(c)
}

fn check_common(name: &str, in_channels: usize, classes: usize, dropout: f64) -> Result<()> {
    if in_channels == 0 || classes == 0 {
        return Err(Error::msg(format!(
            "{name}: in_channels and num_classes must be at least 1"
        )));
    }
    if !(0.0..1.0).contains(&dropout) {
        return Err(Error::msg(format!(
            "{name}: dropout must be in [0, 1), got {dropout}"
        )));
    }
    Ok(())
}

/// AlexNet as torchvision: `(N, 3, H, W)` (H, W >= 63; 224 is standard) -> `(N, num_classes)`.
pub struct AlexNet {
    net: ConvClassifier,
}

impl AlexNet {
    /// Builds the layers under `pb` with torchvision's names.
    pub fn new(cfg: &AlexNetConfig, pb: &ParamBuilder) -> Result<Self> {
        check_common("alexnet", cfg.in_channels, cfg.num_classes, cfg.dropout)?;
        let fp = pb.push("features");
        let mut f = Sequential::new(&fp);
        let pool = || MaxPool2d::new((3, 3), (2, 2));
        f.push(conv(cfg.in_channels, 64, 11, 4, 2, true, &fp.push(0))?)
            .push(ReLU)
            .push(pool())
            .push(conv(64, 192, 5, 1, 2, true, &fp.push(3))?)
            .push(ReLU)
            .push(pool())
            .push(conv(192, 384, 3, 1, 1, true, &fp.push(6))?)
            .push(ReLU)
            .push(conv(384, 256, 3, 1, 1, true, &fp.push(8))?)
            .push(ReLU)
            .push(conv(256, 256, 3, 1, 1, true, &fp.push(10))?)
            .push(ReLU)
            .push(pool());
        let pool = Some(AdaptiveAvgPool2d::new((6, 6)));
        let cl = classifier(256 * 36, cfg.num_classes, cfg.dropout, pb)?;
        Ok(AlexNet {
            net: ConvClassifier::new("AlexNet", pb.path(), f, pool, cl),
        })
    }

    /// The number of parameters `AlexNet::new(cfg)` registers, computed without allocating.
    pub fn num_params(cfg: &AlexNetConfig) -> usize {
        let c = |i: usize, o: usize, k: usize| o * i * k * k + o;
        c(cfg.in_channels, 64, 11)
            + c(64, 192, 5)
            + c(192, 384, 3)
            + c(384, 256, 3)
            + c(256, 256, 3)
            + classifier_params(256 * 36, cfg.num_classes)
    }
}

fn classifier_params(fin: usize, classes: usize) -> usize {
    fin * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * classes + classes
}

conv_classifier_module!(AlexNet);

/// The options of [`ZfNet`].
#[derive(Clone, Debug, PartialEq)]
pub struct ZfNetConfig {
    /// number of outputs (1000)
    pub num_classes: usize,
    /// input channels (3)
    pub in_channels: usize,
    /// input height and width (224x224); sets the classifier's input size
    pub input_size: (usize, usize),
    /// dropout probability in the classifier (0.5)
    pub dropout: f64,
}

impl Default for ZfNetConfig {
    /// The paper's: 3x224x224, 1000 classes, dropout 0.5.
    fn default() -> Self {
        ZfNetConfig {
            num_classes: 1000,
            in_channels: 3,
            input_size: (224, 224),
            dropout: 0.5,
        }
    }
}

/// ZF Net: `(N, in_channels, H, W)` with `(H, W) = input_size` -> `(N, num_classes)`.
pub struct ZfNet {
    net: ConvClassifier,
}

/// ZF Net's feature stack as `(kernel, stride, pad)` windows, for the size arithmetic.
const ZF_WINDOWS: [(&str, usize, usize, usize); 6] = [
    ("features.0", 7, 2, 1),
    ("features.2", 3, 2, 1),
    ("features.4", 5, 2, 0),
    ("features.6", 3, 2, 1),
    ("features.8", 3, 1, 1),
    ("features.14", 3, 2, 0),
];

impl ZfNet {
    /// Builds the layers under `pb` (AlexNet-style names). Fails when `input_size` is too small,
    /// naming the layer and the arithmetic.
    pub fn new(cfg: &ZfNetConfig, pb: &ParamBuilder) -> Result<Self> {
        check_common("zfnet", cfg.in_channels, cfg.num_classes, cfg.dropout)?;
        let fin = 256 * Self::feature_size(cfg)?;
        let fp = pb.push("features");
        let mut f = Sequential::new(&fp);
        let lrn = || LocalResponseNorm::new(5, 1e-4, 0.75, 2.0);
        let pool = |p: usize| MaxPool2d::new((3, 3), (2, 2)).padding((p, p));
        f.push(conv(cfg.in_channels, 96, 7, 2, 1, true, &fp.push(0))?)
            .push(ReLU)
            .push(pool(1))
            .push(lrn()?)
            .push(conv(96, 256, 5, 2, 0, true, &fp.push(4))?)
            .push(ReLU)
            .push(pool(1))
            .push(lrn()?)
            .push(conv(256, 384, 3, 1, 1, true, &fp.push(8))?)
            .push(ReLU)
            .push(conv(384, 384, 3, 1, 1, true, &fp.push(10))?)
            .push(ReLU)
            .push(conv(384, 256, 3, 1, 1, true, &fp.push(12))?)
            .push(ReLU)
            .push(pool(0));
        let cl = classifier(fin, cfg.num_classes, cfg.dropout, pb)?;
        Ok(ZfNet {
            net: ConvClassifier::new("ZfNet", pb.path(), f, None, cl),
        })
    }

    /// `H_out * W_out` of the last feature map (36 for 224x224).
    fn feature_size(cfg: &ZfNetConfig) -> Result<usize> {
        let side = |mut s: usize| -> Result<usize> {
            for (name, k, st, p) in ZF_WINDOWS {
                s = out_size(&format!("zfnet {name}"), s, k, st, p)?;
            }
            Ok(s)
        };
        Ok(side(cfg.input_size.0)? * side(cfg.input_size.1)?)
    }

    /// The number of parameters `ZfNet::new(cfg)` registers, computed without allocating.
    pub fn num_params(cfg: &ZfNetConfig) -> Result<usize> {
        let c = |i: usize, o: usize, k: usize| o * i * k * k + o;
        Ok(c(cfg.in_channels, 96, 7)
            + c(96, 256, 5)
            + c(256, 384, 3)
            + c(384, 384, 3)
            + c(384, 256, 3)
            + classifier_params(256 * Self::feature_size(cfg)?, cfg.num_classes))
    }
}

conv_classifier_module!(ZfNet);
