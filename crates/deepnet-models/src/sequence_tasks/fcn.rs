//! [`Fcn`]: the fully convolutional network of Wang, Yan and Oates (2017), "Time series
//! classification from scratch with deep neural networks: a strong baseline", the reference
//! deep-learning baseline of the UCR/UEA archive.
//!
//! | layer | module | output (`N` series of `F` features, longest `L` steps) |
//! |---|---|---|
//! | `conv1`, `bn1` | Conv 1-D(F, 128, k=8, "same"), BatchNorm, ReLU | `(N, 128, 1, L)` |
//! | `conv2`, `bn2` | Conv 1-D(128, 256, k=5, "same"), BatchNorm, ReLU | `(N, 256, 1, L)` |
//! | `conv3`, `bn3` | Conv 1-D(256, 128, k=3, "same"), BatchNorm, ReLU | `(N, 128, 1, L)` |
//! | (pool) | mean over each series' valid steps | `(N, 128)` |
//! | `fc` | Linear(128, classes) | `(N, classes)` |
//!
//! A 1-D convolution is a [`Conv2d`] with a `1 x k` kernel over the series laid out as
//! `(N, F, 1, L)`, so the weights are `(out, in, 1, k)`: a PyTorch `nn.Conv1d` weight
//! `(out, in, k)` loads after `unsqueeze(2)`. "Same" padding is Keras's (the paper's code): `(k-1)/2`
//! zeros before and `k/2` after (3 and 4 for `k = 8`), so the output has `L` steps. Every block's
//! output is zeroed past each series' length, so the next convolution sees the zeros an unpadded
//! series would get; the pooling averages the valid steps only (see [`super`] for the NaN
//! padding). In training, batch norm takes its statistics over the padded positions too.

use super::{mean_over_valid, split_nan_padding, time_mask};
use crate::join;
use crate::shape_check::{forward_child, label};
use deepnet_nn::layers::{BatchNorm2d, BatchNormConfig, Conv2d, Conv2dConfig, Linear};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The shape of an [`Fcn`].
#[derive(Clone, Debug, PartialEq)]
pub struct FcnConfig {
    /// features per step, `F`
    pub input_size: usize,
    /// output channels of the three blocks (128, 256, 128)
    pub channels: [usize; 3],
    /// kernel sizes of the three blocks (8, 5, 3)
    pub kernels: [usize; 3],
    /// number of classes
    pub classes: usize,
}

impl FcnConfig {
    /// The paper's network for `input_size` features and `classes` classes.
    pub fn new(input_size: usize, classes: usize) -> Self {
        FcnConfig {
            input_size,
            channels: [128, 256, 128],
            kernels: [8, 5, 3],
            classes,
        }
    }
}

/// The FCN baseline for NaN-padded series: `(N, L, F)` -> logits `(N, classes)`. See the module
/// docs.
pub struct Fcn {
    convs: Vec<Conv2d>,
    bns: Vec<BatchNorm2d>,
    fc: Linear,
    cfg: FcnConfig,
    path: String,
}

impl Fcn {
    /// Builds the blocks and the head under `pb` with PyTorch's initializations.
    pub fn new(cfg: &FcnConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.input_size == 0
            || cfg.classes == 0
            || cfg.channels.contains(&0)
            || cfg.kernels.contains(&0)
        {
            return Err(label(
                Error::msg(format!(
                    "fcn: input_size, classes, channels and kernel sizes must be at least 1, got \
                     {cfg:?}"
                )),
                pb.path(),
            ));
        }
        let (mut convs, mut bns) = (Vec::new(), Vec::new());
        let mut cin = cfg.input_size;
        for (i, (&c, &k)) in cfg.channels.iter().zip(&cfg.kernels).enumerate() {
            convs.push(Conv2d::new(
                cin,
                c,
                (1, k),
                Conv2dConfig::default(),
                &pb.push(format!("conv{}", i + 1)),
            )?);
            bns.push(BatchNorm2d::new(
                c,
                BatchNormConfig::default(),
                &pb.push(format!("bn{}", i + 1)),
            )?);
            cin = c;
        }
        Ok(Fcn {
            convs,
            bns,
            fc: Linear::new(cin, cfg.classes, true, &pb.push("fc"))?,
            cfg: cfg.clone(),
            path: pb.path().to_string(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FcnConfig {
        &self.cfg
    }

    /// The pooled features `(N, channels[2])` of a NaN-padded batch `(N, L, F)`.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: String| join(&self.path, &n);
        let (x, lengths) = split_nan_padding("Fcn", x).map_err(|e| label(e, &self.path))?;
        let (n, l) = (x.dims()[0], x.dims()[1]);
        let mask = time_mask(&lengths, l, x.dtype(), &x)?;
        let mut h = x.transpose(1, 2)?.unsqueeze(2)?; // (N, F, 1, L)
        for (i, (conv, bn)) in self.convs.iter().zip(&self.bns).enumerate() {
            let k = self.cfg.kernels[i];
            h = h.pad(&[(k - 1) / 2, k / 2], 0.0)?;
            h = forward_child(conv, &p(format!("conv{}", i + 1)), &h)?;
            h = forward_child(bn, &p(format!("bn{}", i + 1)), &h)?.relu()?;
            if let Some(m) = &mask {
                h = h.mul(m)?;
            }
        }
        let c = h.dims()[1];
        mean_over_valid(&h.reshape([n, c, l])?, 2, &lengths)
    }
}

impl Module for Fcn {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let feats = self.features(x)?;
        forward_child(&self.fc, &join(&self.path, "fc"), &feats)
    }

    fn set_training(&self, training: bool) {
        for m in self.children() {
            m.1.set_training(training);
        }
    }

    fn describe(&self) -> String {
        "Fcn".to_string()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = Vec::new();
        for (i, (conv, bn)) in self.convs.iter().zip(&self.bns).enumerate() {
            c.push((format!("conv{}", i + 1), conv as &dyn Module));
            c.push((format!("bn{}", i + 1), bn as &dyn Module));
        }
        c.push(("fc".to_string(), &self.fc as &dyn Module));
        c
    }
}
