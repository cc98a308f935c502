//! [`SeriesRnnClassifier`]: an LSTM, GRU or Elman RNN over NaN-padded time series, pooled over each
//! series' own steps, and a linear head.
//!
//! | layer | module | output (`N` series of `F` features, longest `L` steps) |
//! |---|---|---|
//! | `rnn` | LSTM / GRU / RNN(F, hidden, num_layers, batch_first=True, bidirectional) | `(N, L, D*hidden)`, `h_n` |
//! | (pool) | last state `h_n` of the last layer, or the mean of the outputs over valid steps | `(N, D*hidden)` |
//! | `fc` | Linear(D*hidden, classes) | `(N, classes)` |
//!
//! The keys are those of a PyTorch module with `self.rnn = nn.LSTM(F, hidden, ...)` and
//! `self.fc = nn.Linear(D*hidden, classes)`. With [`Pooling::Last`] the head sees the forward
//! direction's state after each series' own last step (and, bidirectional, the reverse direction's
//! state after step 0), which is PyTorch's `h_n` of a packed sequence.

use super::{mean_over_valid, split_nan_padding};
use crate::join;
use crate::recurrent::RecurrentKind;
use crate::shape_check::{forward_child, label};
use deepnet_nn::layers::{Linear, RnnConfig, GRU, LSTM, RNN};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};
use std::str::FromStr;

/// What the head of a sequence classifier sees of the recurrent outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// the last layer's final state, taken after each sequence's own last step
    Last,
    /// the mean of the last layer's outputs over each sequence's valid steps
    Mean,
}

impl Pooling {
    /// `last` or `mean`.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Last => "last",
            Pooling::Mean => "mean",
        }
    }
}

impl FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "last" => Ok(Pooling::Last),
            "mean" => Ok(Pooling::Mean),
            _ => Err(Error::msg(format!(
                "unknown pooling \"{s}\" (expected last or mean)"
            ))),
        }
    }
}

/// The shape of a [`SeriesRnnClassifier`].
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRnnConfig {
    /// the recurrent layer: LSTM, GRU or the Elman RNN
    pub kind: RecurrentKind,
    /// features per step, `F`
    pub input_size: usize,
    /// hidden state size (64)
    pub hidden_size: usize,
    /// stacked layers (1)
    pub num_layers: usize,
    /// a second direction (false); the head then sees `2*hidden_size`
    pub bidirectional: bool,
    /// dropout between stacked layers in training (0.0)
    pub dropout: f64,
    /// what the head sees ([`Pooling::Mean`])
    pub pooling: Pooling,
    /// number of classes
    pub classes: usize,
}

impl SeriesRnnConfig {
    /// One layer of 64 units of `kind`, one direction, mean pooling.
    pub fn new(kind: RecurrentKind, input_size: usize, classes: usize) -> Self {
        SeriesRnnConfig {
            kind,
            input_size,
            hidden_size: 64,
            num_layers: 1,
            bidirectional: false,
            dropout: 0.0,
            pooling: Pooling::Mean,
            classes,
        }
    }
}

enum Rnn {
    Lstm(LSTM),
    Gru(GRU),
    Elman(RNN),
}

impl Rnn {
    fn module(&self) -> &dyn Module {
        match self {
            Rnn::Lstm(m) => m,
            Rnn::Gru(m) => m,
            Rnn::Elman(m) => m,
        }
    }
}

/// A recurrent classifier of NaN-padded series: `(N, L, F)` -> logits `(N, classes)`. See the
/// module docs and, for the padding, [`super`].
pub struct SeriesRnnClassifier {
    rnn: Rnn,
    fc: Linear,
    cfg: SeriesRnnConfig,
    path: String,
}

impl SeriesRnnClassifier {
    /// Builds `rnn` and `fc` under `pb` with PyTorch's initializations.
    pub fn new(cfg: &SeriesRnnConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.classes == 0 {
            return Err(label(
                Error::msg(format!("series {}: classes must be at least 1", cfg.kind)),
                pb.path(),
            ));
        }
        let rcfg = RnnConfig {
            num_layers: cfg.num_layers,
            batch_first: true,
            dropout: cfg.dropout,
            bidirectional: cfg.bidirectional,
            ..RnnConfig::new(cfg.input_size, cfg.hidden_size)
        };
        let rp = pb.push("rnn");
        let rnn = match cfg.kind {
            RecurrentKind::Lstm => Rnn::Lstm(LSTM::new(&rcfg, &rp)?),
            RecurrentKind::Gru => Rnn::Gru(GRU::new(&rcfg, &rp)?),
            RecurrentKind::Rnn => Rnn::Elman(RNN::new(&rcfg, &rp)?),
        };
        let width = rcfg.num_directions() * cfg.hidden_size;
        Ok(SeriesRnnClassifier {
            rnn,
            fc: Linear::new(width, cfg.classes, true, &pb.push("fc"))?,
            cfg: cfg.clone(),
            path: pb.path().to_string(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SeriesRnnConfig {
        &self.cfg
    }

    /// The pooled features `(N, D*hidden)` of a NaN-padded batch `(N, L, F)`.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let name = self.describe();
        let (x, lengths) = split_nan_padding(&name, x)?;
        let (out, h_n) = match &self.rnn {
            Rnn::Lstm(m) => {
                let (out, (h, _c)) = m.forward_with_state(&x, None, Some(&lengths))?;
                (out, h)
            }
            Rnn::Gru(m) => m.forward_with_state(&x, None, Some(&lengths))?,
            Rnn::Elman(m) => m.forward_with_state(&x, None, Some(&lengths))?,
        };
        match self.cfg.pooling {
            Pooling::Mean => mean_over_valid(&out, 1, &lengths),
            Pooling::Last => {
                // h_n: (D*num_layers, N, H), row k*D + d; the last layer's D rows, forward first
                let d = if self.cfg.bidirectional { 2 } else { 1 };
                let n = x.dims()[0];
                h_n.narrow(0, (self.cfg.num_layers - 1) * d, d)?
                    .transpose(0, 1)?
                    .contiguous()?
                    .reshape([n, d * self.cfg.hidden_size])
            }
        }
    }
}

impl Module for SeriesRnnClassifier {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let feats = self.features(x).map_err(|e| label(e, &self.path))?;
        forward_child(&self.fc, &join(&self.path, "fc"), &feats)
    }

    fn set_training(&self, training: bool) {
        self.rnn.module().set_training(training);
        self.fc.set_training(training);
    }

    fn describe(&self) -> String {
        format!(
            "Series{}Classifier(pooling={})",
            match self.cfg.kind {
                RecurrentKind::Lstm => "LSTM",
                RecurrentKind::Gru => "GRU",
                RecurrentKind::Rnn => "RNN",
            },
            self.cfg.pooling.name()
        )
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("rnn".to_string(), self.rnn.module()),
            ("fc".to_string(), &self.fc as &dyn Module),
        ]
    }
}
