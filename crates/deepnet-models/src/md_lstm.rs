//! An image classifier built on the two-dimensional LSTM ([`MdLstm2d`]; Graves, Fernández and
//! Schmidhuber 2007): the image is cut into patches, four 2-D LSTM scans (one from each corner)
//! give every patch a state that has seen the whole image, and a linear head reads the states.
//!
//! | layer | module | output (1x28x28 input, defaults) | parameters |
//! |---|---|---|---|
//! | `mdlstm` | MdLstm2d(1, 32, patch_size=(4, 4)) | 128x7x7 | 4 * 160*(16 + 64 + 1) = 51,840 |
//! | (pooling) | flatten, or the mean over the 7x7 grid | 6,272, or 128 | |
//! | `fc` | Linear(6272, 10), or Linear(128, 10) | 10 | 62,730, or 1,290 |
//!
//! The keys are `mdlstm.weight_ih_tl`, `mdlstm.weight_hh_tl`, `mdlstm.bias_tl`, ... (the four
//! directions `tl`, `tr`, `bl`, `br`), `fc.weight`, `fc.bias`. With [`MdPooling::Flatten`] (the
//! default) the head sees every cell's state in `(channel, row, column)` order, as PyTorch's
//! `flatten(1)`; [`MdPooling::Mean`] averages the states over the grid first, which makes the
//! head independent of the image size.

use crate::join;
use crate::shape_check::{forward_child, label};
use deepnet_nn::layers::{Linear, MdLstm2d, MdLstm2dConfig};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// How the head of an [`MdLstmClassifier`] reads the grid of states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MdPooling {
    /// every cell's state, flattened in `(channel, row, column)` order
    #[default]
    Flatten,
    /// the mean over the grid, `4*hidden_size` features
    Mean,
}

/// The shape of an [`MdLstmClassifier`].
#[derive(Clone, Debug, PartialEq)]
pub struct MdLstmClassifierConfig {
    /// input channels `C` (1)
    pub in_channels: usize,
    /// input height and width (28, 28); multiples of the patch size
    pub input_size: (usize, usize),
    /// patch height and width, `(4, 4)`: a 28x28 image becomes a 7x7 grid
    pub patch_size: (usize, usize),
    /// state size of each of the four directions (32)
    pub hidden_size: usize,
    /// how the head reads the states (flatten)
    pub pooling: MdPooling,
    /// number of outputs (10)
    pub classes: usize,
}

impl Default for MdLstmClassifierConfig {
    /// MNIST: 1x28x28 in 4x4 patches, hidden size 32, flattened, 10 classes.
    fn default() -> Self {
        MdLstmClassifierConfig {
            in_channels: 1,
            input_size: (28, 28),
            patch_size: (4, 4),
            hidden_size: 32,
            pooling: MdPooling::Flatten,
            classes: 10,
        }
    }
}

impl MdLstmClassifierConfig {
    /// The default model for one sample of shape `input` (`[C, H, W]`) and `classes` outputs:
    /// 4x4 patches when they tile the image, else single pixels.
    pub fn for_input(input: &[usize], classes: usize) -> Result<Self> {
        let &[c, h, w] = input else {
            return Err(Error::msg(format!(
                "md_lstm: expected an input shape [C, H, W], got {input:?}"
            )));
        };
        let tiles = h.is_multiple_of(4) && w.is_multiple_of(4);
        Ok(MdLstmClassifierConfig {
            in_channels: c,
            input_size: (h, w),
            patch_size: if tiles { (4, 4) } else { (1, 1) },
            classes,
            ..Default::default()
        })
    }
}

/// Patches -> 2-D LSTM over four directions -> flatten or mean -> `Linear`: `(N, C, H, W)` ->
/// logits `(N, classes)`. See the [module docs](self).
pub struct MdLstmClassifier {
    mdlstm: MdLstm2d,
    fc: Linear,
    cfg: MdLstmClassifierConfig,
    path: String,
}

impl MdLstmClassifier {
    /// Builds `mdlstm` and `fc` under `pb`, each initialized as its layer documents.
    pub fn new(cfg: &MdLstmClassifierConfig, pb: &ParamBuilder) -> Result<Self> {
        let build = || -> Result<Self> {
            if cfg.classes == 0 {
                return Err(Error::msg("md_lstm: classes must be at least 1"));
            }
            let mcfg = MdLstm2dConfig {
                patch_size: cfg.patch_size,
                ..MdLstm2dConfig::new(cfg.in_channels, cfg.hidden_size)
            };
            let mdlstm = MdLstm2d::new(&mcfg, &pb.push("mdlstm"))?;
            let (hg, wg) = mdlstm.grid_size(cfg.input_size.0, cfg.input_size.1)?;
            let features = match cfg.pooling {
                MdPooling::Flatten => mdlstm.out_channels() * hg * wg,
                MdPooling::Mean => mdlstm.out_channels(),
            };
            Ok(MdLstmClassifier {
                fc: Linear::new(features, cfg.classes, true, &pb.push("fc"))?,
                mdlstm,
                cfg: cfg.clone(),
                path: pb.path().to_string(),
            })
        };
        build().map_err(|e| label(e, pb.path()))
    }

    /// The configuration.
    pub fn config(&self) -> &MdLstmClassifierConfig {
        &self.cfg
    }
}

impl Module for MdLstmClassifier {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        if let [_, _, h, w] = *x.dims() {
            if (h, w) != self.cfg.input_size && self.cfg.pooling == MdPooling::Flatten {
                let (eh, ew) = self.cfg.input_size;
                return Err(label(
                    Error::msg(format!(
                        "md_lstm: the flattening head was built for {eh}x{ew} images, got input {}",
                        x.shape()
                    )),
                    &self.path,
                ));
            }
        }
        let s = forward_child(&self.mdlstm, &p("mdlstm"), x)?;
        let feats = match self.cfg.pooling {
            MdPooling::Flatten => s.flatten(1, -1)?,
            MdPooling::Mean => s.mean([2, 3], false)?,
        };
        forward_child(&self.fc, &p("fc"), &feats)
    }

    fn describe(&self) -> String {
        "MdLstmClassifier".to_string()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("mdlstm".to_string(), &self.mdlstm as &dyn Module),
            ("fc".to_string(), &self.fc as &dyn Module),
        ]
    }
}
