//! [`ReviewClassifier`]: word embeddings read by a bidirectional GRU, each text for its own
//! length, and a linear head on the two final states.
//!
//! | layer | module | output (`N` texts, longest `L` tokens) |
//! |---|---|---|
//! | `embed` | Embedding(vocab, embed, padding_idx=0) | `(N, L, embed)` |
//! | `rnn` | GRU(embed, hidden, num_layers, batch_first=True, bidirectional=True) | `h_n: (2*num_layers, N, hidden)` |
//! | (concat) | the last layer's forward state after each text's last token, then the reverse state after its first | `(N, 2*hidden)` |
//! | `dropout` | Dropout(p) | `(N, 2*hidden)` |
//! | `fc` | Linear(2*hidden, classes) | `(N, classes)` |
//!
//! The keys are those of a PyTorch module with the attributes `embed`, `rnn` and `fc`
//! (`embed.weight`, `rnn.weight_ih_l0`, `rnn.weight_ih_l0_reverse`, ..., `fc.bias`); the
//! concatenation is `torch.cat([h_n[-2], h_n[-1]], 1)` of a packed sequence. The input is
//! token ids right-padded with 0 (`<pad>`, see [`super::token_lengths`]), as int64 or as the
//! f32 ids a dataset yields.

use super::token_lengths;
use crate::join;
use crate::shape_check::{forward_child, label};
use deepnet_nn::layers::{Dropout, Embedding, Linear, RnnConfig, GRU};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The shape of a [`ReviewClassifier`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewClassifierConfig {
    /// ids in the vocabulary, `<pad>` (0) included
    pub vocab: usize,
    /// features of each word vector (64)
    pub embed: usize,
    /// features of each direction's state (64)
    pub hidden: usize,
    /// stacked bidirectional layers (1)
    pub num_layers: usize,
    /// dropout on the concatenated states, in training (0.3)
    pub dropout: f64,
    /// number of classes (2)
    pub classes: usize,
}

impl ReviewClassifierConfig {
    /// Word vectors of 64, one bidirectional GRU layer of 64 per direction, dropout 0.3, two
    /// classes.
    pub fn new(vocab: usize) -> Self {
        ReviewClassifierConfig {
            vocab,
            embed: 64,
            hidden: 64,
            num_layers: 1,
            dropout: 0.3,
            classes: 2,
        }
    }
}

/// The bidirectional-GRU text classifier: token ids `(N, L)` -> logits `(N, classes)`. See the
/// module docs.
pub struct ReviewClassifier {
    embed: Embedding,
    rnn: GRU,
    dropout: Dropout,
    fc: Linear,
    cfg: ReviewClassifierConfig,
    path: String,
}

/// The id that pads a text (`<pad>`).
const PAD: i64 = 0;

impl ReviewClassifier {
    /// Builds the layers under `pb` with PyTorch's initializations (the embedding N(0, 1) with
    /// a zero `<pad>` row that gets no gradient).
    pub fn new(cfg: &ReviewClassifierConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.vocab < 2 || cfg.classes == 0 {
            return Err(label(
                Error::msg(format!(
                    "review classifier: vocab must hold <pad> and a word (at least 2) and classes \
                     be at least 1, got vocab {} and classes {}",
                    cfg.vocab, cfg.classes
                )),
                pb.path(),
            ));
        }
        let rcfg = RnnConfig {
            num_layers: cfg.num_layers,
            batch_first: true,
            bidirectional: true,
            ..RnnConfig::new(cfg.embed, cfg.hidden)
        };
        Ok(ReviewClassifier {
            embed: Embedding::new(cfg.vocab, cfg.embed, Some(PAD), &pb.push("embed"))?,
            rnn: GRU::new(&rcfg, &pb.push("rnn"))?,
            dropout: Dropout::new(cfg.dropout, &pb.push("dropout"))?,
            fc: Linear::new(2 * cfg.hidden, cfg.classes, true, &pb.push("fc"))?,
            cfg: cfg.clone(),
            path: pb.path().to_string(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ReviewClassifierConfig {
        &self.cfg
    }

    /// The concatenated final states `(N, 2*hidden)` of right-padded ids `(N, L)`.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let (ids, lengths) =
            token_lengths("ReviewClassifier", x, PAD).map_err(|e| label(e, &self.path))?;
        let e = forward_child(&self.embed, &join(&self.path, "embed"), &ids)?;
        let (_, h_n) = self.rnn.forward_with_state(&e, None, Some(&lengths))?;
        // h_n: (2*num_layers, N, H); the last layer's rows 2k (forward) and 2k+1 (reverse)
        let n = ids.dims()[0];
        h_n.narrow(0, 2 * (self.cfg.num_layers - 1), 2)?
            .transpose(0, 1)?
            .contiguous()?
            .reshape([n, 2 * self.cfg.hidden])
    }
}

impl Module for ReviewClassifier {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.features(x)?;
        let h = forward_child(&self.dropout, &join(&self.path, "dropout"), &h)?;
        forward_child(&self.fc, &join(&self.path, "fc"), &h)
    }

    fn set_training(&self, training: bool) {
        for (_, m) in self.children() {
            m.set_training(training);
        }
    }

    fn describe(&self) -> String {
        "ReviewClassifier".to_string()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("embed".to_string(), &self.embed as &dyn Module),
            ("rnn".to_string(), &self.rnn as &dyn Module),
            ("dropout".to_string(), &self.dropout as &dyn Module),
            ("fc".to_string(), &self.fc as &dyn Module),
        ]
    }
}
