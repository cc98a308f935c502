//! A small VGG-style CNN for Fashion-MNIST and CIFAR-10: two stages of two 3x3 convolutions
//! (padding 1, so sizes are kept) and a 2x2 max pool, then a 256-unit hidden layer.
//!
//! | layer | module | output (1x28x28) | output (3x32x32) | parameters (1 / 3 channels) |
//! |---|---|---|---|---|
//! | `features.0` | Conv2d(C, 32, 3x3, pad 1) | 32x28x28 | 32x32x32 | 320 / 896 |
//! | `features.1` | ReLU | | | |
//! | `features.2` | Conv2d(32, 32, 3x3, pad 1) | 32x28x28 | 32x32x32 | 9,248 |
//! | `features.3` | ReLU | | | |
//! | `features.4` | MaxPool2d(2, 2) | 32x14x14 | 32x16x16 | |
//! | `features.5` | Conv2d(32, 64, 3x3, pad 1) | 64x14x14 | 64x16x16 | 18,496 |
//! | `features.6` | ReLU | | | |
//! | `features.7` | Conv2d(64, 64, 3x3, pad 1) | 64x14x14 | 64x16x16 | 36,928 |
//! | `features.8` | ReLU | | | |
//! | `features.9` | MaxPool2d(2, 2) | 64x7x7 | 64x8x8 | |
//! | `flatten` | Flatten | 3136 | 4096 | |
//! | `classifier.0` | Linear(3136 / 4096, 256) | 256 | 256 | 803,072 / 1,048,832 |
//! | `classifier.1` | ReLU | | | |
//! | (`classifier.2`) | Dropout(p), only when `dropout > 0` | | | |
//! | `classifier.2` / `.3` | Linear(256, 10) | 10 | 10 | 2,570 |
//!
//! 870,634 parameters on 1x28x28, 1,116,970 on 3x32x32. Keys are those of a PyTorch module with
//! `self.features` and `self.classifier` Sequentials as above.

use crate::head::{conv_classifier_module, ConvClassifier};
use crate::{conv, out_size};
use deepnet_nn::layers::{Dropout, Linear, MaxPool2d, ReLU, Sequential};
use deepnet_nn::ParamBuilder;
use deepnet_tensor::{Error, Result};

/// The options of a [`SmallCnn`].
#[derive(Clone, Debug, PartialEq)]
pub struct SmallCnnConfig {
    /// input channels: 1 (Fashion-MNIST) or 3 (CIFAR-10)
    pub in_channels: usize,
    /// input height and width: 28x28 or 32x32
    pub input_size: (usize, usize),
    /// number of outputs (10)
    pub num_classes: usize,
    /// dropout before the last layer (0 = none, no layer)
    pub dropout: f64,
}

impl SmallCnnConfig {
    /// Fashion-MNIST: 1x28x28, 10 classes.
    pub fn fashion_mnist() -> Self {
        SmallCnnConfig {
            in_channels: 1,
            input_size: (28, 28),
            num_classes: 10,
            dropout: 0.0,
        }
    }

    /// CIFAR-10: 3x32x32, 10 classes.
    pub fn cifar10() -> Self {
        SmallCnnConfig {
            in_channels: 3,
            input_size: (32, 32),
            ..Self::fashion_mnist()
        }
    }
}

impl Default for SmallCnnConfig {
    /// [`SmallCnnConfig::fashion_mnist`].
    fn default() -> Self {
        Self::fashion_mnist()
    }
}

/// The small CNN: `(N, in_channels, H, W)` with `(H, W) = input_size` -> `(N, num_classes)`.
pub struct SmallCnn {
    net: ConvClassifier,
}

impl SmallCnn {
    /// Builds the layers under `pb`. Fails when the input is smaller than 4x4.
    pub fn new(cfg: &SmallCnnConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.in_channels == 0 || cfg.num_classes == 0 {
            return Err(Error::msg(
                "small_cnn: in_channels and num_classes must be at least 1",
            ));
        }
        if !(0.0..1.0).contains(&cfg.dropout) {
            return Err(Error::msg(format!(
                "small_cnn: dropout must be in [0, 1), got {}",
                cfg.dropout
            )));
        }
        let side = |s: usize| -> Result<usize> {
            let s = out_size("small_cnn features.4", s, 2, 2, 0)?;
            out_size("small_cnn features.9", s, 2, 2, 0)
        };
        let flat = 64 * side(cfg.input_size.0)? * side(cfg.input_size.1)?;
        let fp = pb.push("features");
        let mut f = Sequential::new(&fp);
        let mut c = cfg.in_channels;
        for width in [32, 64] {
            for _ in 0..2 {
                f.push(conv(c, width, 3, 1, 1, true, &fp.push(f.len()))?);
                f.push(ReLU);
                c = width;
            }
            f.push(MaxPool2d::new((2, 2), (2, 2)));
        }
        let cp = pb.push("classifier");
        let mut cl = Sequential::new(&cp);
        cl.push(Linear::new(flat, 256, true, &cp.push(0))?);
        cl.push(ReLU);
        if cfg.dropout > 0.0 {
            cl.push(Dropout::new(cfg.dropout, &cp.push(2))?);
        }
        cl.push(Linear::new(256, cfg.num_classes, true, &cp.push(cl.len()))?);
        Ok(SmallCnn {
            net: ConvClassifier::new("SmallCnn", pb.path(), f, None, cl),
        })
    }
}

conv_classifier_module!(SmallCnn);
