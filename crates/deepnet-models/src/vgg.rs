//! VGG (Simonyan and Zisserman, 2014), as torchvision's `vgg11` ... `vgg19_bn`.
//!
//! `features` is a `Sequential` of 3x3 convolutions (padding 1, so sizes are kept), each
//! followed by `BatchNorm2d` in the `_bn` variants and a ReLU, and 2x2 max pools (`M`) that halve
//! the size; then `avgpool` = `AdaptiveAvgPool2d(7, 7)`, a flatten and
//! `classifier` = `Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
//! Linear(4096, num_classes)` (`classifier.0`, `.3`, `.6`). torchvision's configurations:
//!
//! | depth | convolutions per stage (64, 128, 256, 512, 512 channels) | parameters | with BN |
//! |---|---|---|---|
//! | 11 (A) | 1, 1, 2, 2, 2 | 132,863,336 | 132,868,840 |
//! | 13 (B) | 2, 2, 2, 2, 2 | 133,047,848 | 133,053,736 |
//! | 16 (D) | 2, 2, 3, 3, 3 | 138,357,544 | 138,365,992 |
//! | 19 (E) | 2, 2, 4, 4, 4 | 143,667,240 | 143,678,248 |
//!
//! Output sizes on 3x224x224: the five stages give 64x112x112, 128x56x56, 256x28x28, 512x14x14
//! and 512x7x7 after their pools; `avgpool` keeps 7x7 (and adapts other sizes, at least 32x32);
//! the flattened 25,088 features go to the classifier. For VGG-16, `features.0` is
//! Conv2d(3, 64) and `features.30` the last pool; with batch norm `features.43` is.
//!
//! Building a VGG allocates its 133-144 M parameters (530-575 MB of f32) and draws them at
//! random; [`Vgg::num_params`] counts them from the config without allocating.

use crate::conv;
use crate::head::{conv_classifier_module, ConvClassifier};
use deepnet_nn::layers::{
    AdaptiveAvgPool2d, BatchNorm2d, BatchNormConfig, Dropout, Linear, MaxPool2d, ReLU, Sequential,
};
use deepnet_nn::ParamBuilder;
use deepnet_tensor::{Error, Result};

/// The depth of a VGG: torchvision's configurations A, B, D and E.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VggDepth {
    /// VGG-11 (configuration A)
    V11,
    /// VGG-13 (configuration B)
    V13,
    /// VGG-16 (configuration D)
    V16,
    /// VGG-19 (configuration E)
    V19,
}

impl VggDepth {
    /// The layer list: channel counts for convolutions, 0 for a max pool.
    pub fn layers(self) -> &'static [usize] {
        const M: usize = 0;
        match self {
            VggDepth::V11 => &[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
            VggDepth::V13 => &[
                64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M,
            ],
            VggDepth::V16 => &[
                64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M,
            ],
            VggDepth::V19 => &[
                64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512,
                512, 512, M,
            ],
        }
    }

    /// 11, 13, 16 or 19.
    pub fn depth(self) -> usize {
        match self {
            VggDepth::V11 => 11,
            VggDepth::V13 => 13,
            VggDepth::V16 => 16,
            VggDepth::V19 => 19,
        }
    }
}

/// The options of a [`Vgg`].
#[derive(Clone, Debug, PartialEq)]
pub struct VggConfig {
    /// which configuration
    pub depth: VggDepth,
    /// whether each convolution is followed by `BatchNorm2d` (the `_bn` variants)
    pub batch_norm: bool,
    /// number of outputs (1000)
    pub num_classes: usize,
    /// input channels (3)
    pub in_channels: usize,
    /// dropout probability in the classifier (0.5)
    pub dropout: f64,
}

impl VggConfig {
    /// torchvision's defaults for a depth: 1000 classes, 3 channels, dropout 0.5.
    pub fn new(depth: VggDepth, batch_norm: bool) -> Self {
        VggConfig {
            depth,
            batch_norm,
            num_classes: 1000,
            in_channels: 3,
            dropout: 0.5,
        }
    }

    /// The config of a registry name: `vgg11`, `vgg13_bn`, ... (`None` for other names).
    pub fn from_name(name: &str) -> Option<Self> {
        let (base, bn) = match name.strip_suffix("_bn") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let depth = match base {
            "vgg11" => VggDepth::V11,
            "vgg13" => VggDepth::V13,
            "vgg16" => VggDepth::V16,
            "vgg19" => VggDepth::V19,
            _ => return None,
        };
        Some(Self::new(depth, bn))
    }
}

/// VGG: `(N, in_channels, H, W)` (H, W >= 32) -> `(N, num_classes)`.
pub struct Vgg {
    net: ConvClassifier,
}

impl Vgg {
    /// Builds the layers under `pb` with torchvision's names.
    pub fn new(cfg: &VggConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.in_channels == 0 || cfg.num_classes == 0 {
            return Err(Error::msg(
                "vgg: in_channels and num_classes must be at least 1",
            ));
        }
        let fp = pb.push("features");
        let mut f = Sequential::new(&fp);
        let mut c = cfg.in_channels;
        for &v in cfg.depth.layers() {
            if v == 0 {
                f.push(MaxPool2d::new((2, 2), (2, 2)));
                continue;
            }
            f.push(conv(c, v, 3, 1, 1, true, &fp.push(f.len()))?);
            if cfg.batch_norm {
                let bn = BatchNorm2d::new(v, BatchNormConfig::default(), &fp.push(f.len()))?;
                f.push(bn);
            }
            f.push(ReLU);
            c = v;
        }
        let cp = pb.push("classifier");
        let mut cl = Sequential::new(&cp);
        cl.push(Linear::new(512 * 49, 4096, true, &cp.push(0))?)
            .push(ReLU)
            .push(Dropout::new(cfg.dropout, &cp.push(2))?)
            .push(Linear::new(4096, 4096, true, &cp.push(3))?)
            .push(ReLU)
            .push(Dropout::new(cfg.dropout, &cp.push(5))?)
            .push(Linear::new(4096, cfg.num_classes, true, &cp.push(6))?);
        let bn = if cfg.batch_norm { "_bn" } else { "" };
        let name = format!("VGG{}{bn}", cfg.depth.depth());
        let pool = Some(AdaptiveAvgPool2d::new((7, 7)));
        Ok(Vgg {
            net: ConvClassifier::new(name, pb.path(), f, pool, cl),
        })
    }

    /// The number of parameters `Vgg::new(cfg)` registers, computed without allocating.
    pub fn num_params(cfg: &VggConfig) -> usize {
        let mut c = cfg.in_channels;
        let mut n = 0;
        for &v in cfg.depth.layers().iter().filter(|&&v| v > 0) {
            n += v * c * 9 + v + if cfg.batch_norm { 2 * v } else { 0 };
            c = v;
        }
        n + 512 * 49 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * cfg.num_classes + cfg.num_classes
    }
}

conv_classifier_module!(Vgg);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_the_config_equal_torchvision() {
        let n = |name: &str| Vgg::num_params(&VggConfig::from_name(name).unwrap());
        assert_eq!(n("vgg11"), 132_863_336);
        assert_eq!(n("vgg13"), 133_047_848);
        assert_eq!(n("vgg16"), 138_357_544);
        assert_eq!(n("vgg19"), 143_667_240);
        assert_eq!(n("vgg11_bn"), 132_868_840);
        assert_eq!(n("vgg13_bn"), 133_053_736);
        assert_eq!(n("vgg16_bn"), 138_365_992);
        assert_eq!(n("vgg19_bn"), 143_678_248);
        assert!(VggConfig::from_name("vgg12").is_none());
    }
}
