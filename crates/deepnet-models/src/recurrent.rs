//! Sequence classifiers: an image read row by row by a recurrent network (the "sequential MNIST"
//! of the LSTM literature, one row per step), then a `Linear` head on the last hidden state.
//!
//! | layer | module | output (1x28x28 input, defaults) | parameters (`lstm` / `gru` / `rnn`) |
//! |---|---|---|---|
//! | `rnn` | LSTM / GRU / RNN(28, 128, batch_first=True) | 28x128 | 80,896 / 60,672 / 20,224 |
//! | `fc` | Linear(128, 10) | 10 | 1,290 |
//!
//! 82,186 / 61,962 / 21,514 parameters: a layer of `G` gates (4 for the LSTM, 3 for the GRU, 1
//! for the Elman RNN) has `G*H*(in + H)` weights and `2*G*H` biases, `G*128*(28 + 128 + 2)`.
//!
//! An input `(N, C, H, W)` is a sequence of `H` steps, step `t` being row `t` of every channel,
//! `C*W` features (channel-major, as `x.permute(0, 2, 1, 3).reshape(N, H, C*W)` in PyTorch); an
//! input `(N, L, F)` is taken as a sequence as it is. The head sees `h_n` of the last layer: the
//! state after the last step, or, bidirectional, the forward direction's state after the last
//! step concatenated with the reverse direction's state after step 0 (which is where the reverse
//! direction ends). The keys are those of a PyTorch module with `self.rnn = nn.LSTM(28, 128,
//! batch_first=True)` and `self.fc = nn.Linear(128, 10)`: `rnn.weight_ih_l0`, ..., `fc.bias`.

use crate::join;
use crate::shape_check::{forward_child, label};
use deepnet_nn::layers::{Linear, RnnConfig, GRU, LSTM, RNN};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};
use std::fmt;
use std::str::FromStr;

/// The recurrent layer of a [`RecurrentClassifier`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecurrentKind {
    /// the LSTM (`torch.nn.LSTM`), gates i, f, g, o
    Lstm,
    /// the GRU (`torch.nn.GRU`, PyTorch's equations), gates r, z, n
    Gru,
    /// the Elman RNN with tanh (`torch.nn.RNN`)
    Rnn,
}

impl RecurrentKind {
    /// The registry name: `lstm`, `gru`, `rnn`.
    pub fn name(self) -> &'static str {
        match self {
            RecurrentKind::Lstm => "lstm",
            RecurrentKind::Gru => "gru",
            RecurrentKind::Rnn => "rnn",
        }
    }

    /// Gates per cell, `G`: a layer has `G*H*(in + H)` weights and `2*G*H` biases.
    pub fn gates(self) -> usize {
        match self {
            RecurrentKind::Lstm => 4,
            RecurrentKind::Gru => 3,
            RecurrentKind::Rnn => 1,
        }
    }

    fn torch_name(self) -> &'static str {
        match self {
            RecurrentKind::Lstm => "LSTM",
            RecurrentKind::Gru => "GRU",
            RecurrentKind::Rnn => "RNN",
        }
    }
}

impl fmt::Display for RecurrentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RecurrentKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "lstm" => Ok(RecurrentKind::Lstm),
            "gru" => Ok(RecurrentKind::Gru),
            "rnn" | "elman" => Ok(RecurrentKind::Rnn),
            _ => Err(Error::msg(format!(
                "unknown recurrent layer \"{s}\" (expected lstm, gru or rnn)"
            ))),
        }
    }
}

/// The shape of a [`RecurrentClassifier`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentClassifierConfig {
    /// the recurrent layer
    pub kind: RecurrentKind,
    /// features per step: `C*W` of an image input (28 for MNIST)
    pub input_size: usize,
    /// hidden state size (128)
    pub hidden_size: usize,
    /// stacked recurrent layers (1)
    pub num_layers: usize,
    /// a second direction reading the rows bottom-up (false); the head then sees `2*hidden_size`
    pub bidirectional: bool,
    /// dropout between stacked layers in training, PyTorch's `dropout` (0.0; no effect with one
    /// layer)
    pub dropout: f64,
    /// number of outputs (10)
    pub classes: usize,
}

impl Default for RecurrentClassifierConfig {
    /// Row-by-row MNIST: a one-layer LSTM(28, 128), 10 classes.
    fn default() -> Self {
        RecurrentClassifierConfig {
            kind: RecurrentKind::Lstm,
            input_size: 28,
            hidden_size: 128,
            num_layers: 1,
            bidirectional: false,
            dropout: 0.0,
            classes: 10,
        }
    }
}

impl RecurrentClassifierConfig {
    /// The default model of `kind` for one sample of shape `input`: `[C, H, W]` (rows of `C*W`
    /// features) or `[L, F]` (steps of `F` features), `classes` outputs.
    pub fn for_input(kind: RecurrentKind, input: &[usize], classes: usize) -> Result<Self> {
        let input_size = match *input {
            [c, _, w] => c * w,
            [_, f] => f,
            _ => {
                return Err(Error::msg(format!(
                    "{kind}: expected an input shape [C, H, W] (read as H rows of C*W features) \
                     or [L, F], got {input:?}"
                )))
            }
        };
        Ok(RecurrentClassifierConfig {
            kind,
            input_size,
            classes,
            ..Default::default()
        })
    }
}

/// A recurrent network over the rows of an image and a `Linear` head on its last hidden state:
/// `(N, C, H, W)` or `(N, L, F)` -> logits `(N, classes)`. See the module docs.
pub struct RecurrentClassifier {
    /// the LSTM, GRU or RNN (one concrete type per kind, behind the `Module` trait)
    rnn: Box<dyn Module>,
    fc: Linear,
    cfg: RecurrentClassifierConfig,
    path: String,
}

impl RecurrentClassifier {
    /// Builds `rnn` and `fc` under `pb` (`rnn.weight_ih_l0`, ..., `fc.bias`) with PyTorch's
    /// initialization (uniform in `±1/sqrt(hidden_size)` for the recurrent layer).
    pub fn new(cfg: &RecurrentClassifierConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.classes == 0 {
            return Err(Error::msg(format!(
                "{}: classes must be at least 1",
                cfg.kind
            )));
        }
        let rcfg = RnnConfig {
            num_layers: cfg.num_layers,
            // the module a PyTorch user writes for images takes (N, L, F)
            batch_first: true,
            dropout: cfg.dropout,
            bidirectional: cfg.bidirectional,
            ..RnnConfig::new(cfg.input_size, cfg.hidden_size)
        };
        let rp = pb.push("rnn");
        let rnn: Box<dyn Module> = match cfg.kind {
            RecurrentKind::Lstm => Box::new(LSTM::new(&rcfg, &rp)?),
            RecurrentKind::Gru => Box::new(GRU::new(&rcfg, &rp)?),
            RecurrentKind::Rnn => Box::new(RNN::new(&rcfg, &rp)?),
        };
        let fc = Linear::new(
            rcfg.num_directions() * cfg.hidden_size,
            cfg.classes,
            true,
            &pb.push("fc"),
        )?;
        Ok(RecurrentClassifier {
            rnn,
            fc,
            cfg: cfg.clone(),
            path: pb.path().to_string(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RecurrentClassifierConfig {
        &self.cfg
    }

    /// The input as a batch-first sequence `(N, L, input_size)`.
    fn to_sequence(&self, x: &Tensor) -> Result<Tensor> {
        let f = self.cfg.input_size;
        let seq = match *x.dims() {
            // one channel: rows are contiguous already, the reshape is free
            [n, 1, h, w] if w == f => x.reshape([n, h, w])?,
            [n, c, h, w] if c * w == f => x.permute([0, 2, 1, 3])?.reshape([n, h, c * w])?,
            [_, _, last] if last == f => x.clone(),
            _ => {
                let got = match *x.dims() {
                    [_, c, _, w] => format!(" gives steps of C*W = {c}*{w} = {} features", c * w),
                    [_, _, l] => format!(" gives steps of {l} features"),
                    _ => String::new(),
                };
                return Err(Error::msg(format!(
                    "{}: expects an image (N, C, H, W) with C*W = {f} or a sequence (N, L, {f}); \
                     input {}{got}",
                    self.describe(),
                    x.shape()
                )));
            }
        };
        if seq.dims()[1] == 0 {
            return Err(Error::msg(format!(
                "{}: input {} has no rows to read",
                self.describe(),
                x.shape()
            )));
        }
        Ok(seq)
    }

    /// `h_n` of the last layer from the output sequence `(N, L, D*H)`: the last step's state,
    /// and, bidirectional, the reverse direction's state at step 0 after it. Read from the
    /// output rather than from `forward_with_state` so that the recurrent layer stays an
    /// ordinary child (traced by `summary`, walked by `check_input`); without `lengths` the two
    /// are the same tensors.
    fn last_state(&self, out: &Tensor) -> Result<Tensor> {
        let (l, h) = (out.dims()[1], self.cfg.hidden_size);
        let fwd = out.narrow(1, l - 1, 1)?.squeeze(1)?.narrow(1, 0, h)?;
        if !self.cfg.bidirectional {
            return Ok(fwd);
        }
        let rev = out.narrow(1, 0, 1)?.squeeze(1)?.narrow(1, h, h)?;
        Tensor::cat(&[fwd, rev], 1)
    }
}

impl Module for RecurrentClassifier {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        let seq = self.to_sequence(x).map_err(|e| label(e, &self.path))?;
        let out = forward_child(self.rnn.as_ref(), &p("rnn"), &seq)?;
        let last = self.last_state(&out).map_err(|e| label(e, &self.path))?;
        forward_child(&self.fc, &p("fc"), &last)
    }

    fn set_training(&self, training: bool) {
        self.rnn.set_training(training);
        self.fc.set_training(training);
    }

    fn describe(&self) -> String {
        format!("{}Classifier", self.cfg.kind.torch_name())
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("rnn".to_string(), self.rnn.as_ref()),
            ("fc".to_string(), &self.fc as &dyn Module),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_nn::ParamStore;
    use deepnet_tensor::DType;

    #[test]
    fn kinds_parse_and_unknown_ones_are_named() {
        for k in [RecurrentKind::Lstm, RecurrentKind::Gru, RecurrentKind::Rnn] {
            assert_eq!(k.name().parse::<RecurrentKind>().unwrap(), k);
        }
        let e = "lstn".parse::<RecurrentKind>().unwrap_err().to_string();
        assert!(
            e.contains("\"lstn\"") && e.contains("lstm, gru or rnn"),
            "{e}"
        );
        let e = RecurrentClassifierConfig::for_input(RecurrentKind::Gru, &[784], 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gru") && e.contains("[784]"), "{e}");
    }

    #[test]
    fn channels_are_concatenated_row_by_row() {
        // with C = 2 channels, step t must be [row t of channel 0, row t of channel 1]
        let store = ParamStore::new(0);
        let cfg = RecurrentClassifierConfig {
            input_size: 6,
            ..Default::default()
        };
        let m = RecurrentClassifier::new(&cfg, &store.root()).unwrap();
        let x = Tensor::arange(0.0, 24.0, 1.0, DType::F32)
            .unwrap()
            .reshape([1, 2, 4, 3])
            .unwrap();
        let seq = m.to_sequence(&x).unwrap();
        assert_eq!(seq.dims(), [1, 4, 6]);
        let row1: Vec<f32> = seq.narrow(1, 1, 1).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(row1, [3.0, 4.0, 5.0, 15.0, 16.0, 17.0]);
    }
}
