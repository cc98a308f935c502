//! A character-level language model (char-RNN, Karpathy 2015; Graves 2013): an embedding of each
//! character, a stacked LSTM, and a linear layer giving the logits of the next character.
//!
//! | layer | module | output (`N` windows of `L` characters, defaults) | parameters (vocab `V`) |
//! |---|---|---|---|
//! | `embed` | Embedding(V, 64) | `(N, L, 64)` | `64 V` |
//! | `lstm` | LSTM(64, 256, num_layers=2, batch_first=True) | `(N, L, 256)` | 856,064 |
//! | `head` | Linear(256, V) | logits `(N, L, V)` | `257 V` |
//!
//! With the 79 characters of the shipped Shakespeare: 881,423 parameters. The keys are those of
//! a PyTorch module with the attributes `embed`, `lstm` and `head` (`embed.weight`,
//! `lstm.weight_ih_l0`, ..., `head.bias`), as `tools/bench/torch_char_lm.py` builds it.
//!
//! Training: a window of `L + 1` token ids (what `deepnet_data::CharLmDataset` yields) is read
//! as the inputs `w[:, :-1]` and the targets `w[:, 1:]`; [`CharLstm::loss`] is the mean
//! cross-entropy over its `N * L` next-character predictions, in nats per character (divide by
//! ln 2 for bits per character). Each window starts from a zero state.
//!
//! Generation ([`CharLstm::generate`]) reads a prime once, then samples one character at a time
//! from `softmax(logits / temperature)`, feeding each back with the carried LSTM state `(h, c)`:
//! every step costs one time step of the network, never a re-read of the prefix.

use crate::join;
use crate::shape_check::{forward_child, label};
use deepnet_nn::layers::{Embedding, Linear, RnnConfig, LSTM};
use deepnet_nn::loss::{cross_entropy, Reduction};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{no_grad, DType, Error, Generator, Result, Tensor};

/// The sizes of a [`CharLstm`]. [`CharLstmConfig::new`] gives the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct CharLstmConfig {
    /// characters in the vocabulary, `V`
    pub vocab_size: usize,
    /// features of each character's embedding (64)
    pub embedding_dim: usize,
    /// features of the LSTM states (256)
    pub hidden_size: usize,
    /// stacked LSTM layers (2)
    pub num_layers: usize,
    /// dropout probability on the outputs of every LSTM layer but the last, in training
    /// (PyTorch's `dropout`; 0.0)
    pub dropout: f64,
}

impl CharLstmConfig {
    /// Default embedding size 64, LSTM hidden size 256, 2 layers, no dropout.
    ///
    /// Sized for a run of about 10-20 minutes on two CPU cores: a training step on 64 windows of
    /// 100 characters takes about 2 CPU-seconds at hidden size 256 (measured with `deepnet
    /// train --model char_lstm --limit 640`), so one pass over the 44k windows of Shakespeare
    /// fits; hidden size 512 costs 2.3 times the arithmetic and would need about an hour for
    /// the same pass. In one pass the model sees each window once and does not overfit, so
    /// dropout would only slow it down.
    pub fn new(vocab_size: usize) -> Self {
        CharLstmConfig {
            vocab_size,
            embedding_dim: 64,
            hidden_size: 256,
            num_layers: 2,
            dropout: 0.0,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.vocab_size == 0
            || self.embedding_dim == 0
            || self.hidden_size == 0
            || self.num_layers == 0
        {
            return Err(Error::InvalidArgument {
                op: "char_lstm",
                msg: format!(
                    "vocab_size, embedding_dim, hidden_size and num_layers must be at least 1, \
                     got {}, {}, {} and {}",
                    self.vocab_size, self.embedding_dim, self.hidden_size, self.num_layers
                ),
            });
        }
        Ok(())
    }
}

/// The character-level LSTM language model; see the [module docs](self).
pub struct CharLstm {
    config: CharLstmConfig,
    embed: Embedding,
    lstm: LSTM,
    head: Linear,
    path: String,
}

impl CharLstm {
    /// A new model registering its parameters under `pb`, each layer initialized as PyTorch's
    /// (the embedding N(0, 1), the LSTM and the head uniform in `±1/sqrt(fan)`).
    pub fn new(config: &CharLstmConfig, pb: &ParamBuilder) -> Result<CharLstm> {
        config.validate().map_err(|e| label(e, pb.path()))?;
        let c = config;
        let rnn = RnnConfig {
            num_layers: c.num_layers,
            dropout: c.dropout,
            batch_first: true,
            ..RnnConfig::new(c.embedding_dim, c.hidden_size)
        };
        Ok(CharLstm {
            embed: Embedding::new(c.vocab_size, c.embedding_dim, None, &pb.push("embed"))?,
            lstm: LSTM::new(&rnn, &pb.push("lstm"))?,
            head: Linear::new(c.hidden_size, c.vocab_size, true, &pb.push("head"))?,
            config: config.clone(),
            path: pb.path().to_string(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CharLstmConfig {
        &self.config
    }

    /// Whether the model is in training mode (dropout between the LSTM layers on).
    pub fn is_training(&self) -> bool {
        self.lstm.is_training()
    }

    /// The logits `(N, L, V)` of the character after each of `ids: (N, L)` (int64, or float
    /// holding whole numbers, as a data loader's batch does) from `state = (h0, c0)`, each
    /// `(num_layers, N, hidden_size)` (zeros when `None`), and the state after the last step.
    pub fn forward_with_state(
        &self,
        ids: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let ids = self.token_ids(ids).map_err(|e| label(e, &self.path))?;
        let x = self.embed.forward(&ids)?; // (N, L, E)
        let (y, st) = self
            .lstm
            .forward_with_state(&x, state, None)
            .map_err(|e| label(e, &join(&self.path, "lstm")))?; // (N, L, H)
        Ok((self.head.forward(&y)?, st))
    }

    /// The mean cross-entropy, in nats per character, of predicting `w[:, 1:]` from `w[:, :-1]`
    /// for windows `w: (N, L + 1)` of token ids (int64, or float holding whole numbers), each
    /// read from a zero state: a scalar with its graph.
    pub fn loss(&self, windows: &Tensor) -> Result<Tensor> {
        let (n, l1) = match *windows.dims() {
            [n, l1] if n > 0 && l1 >= 2 => (n, l1),
            _ => {
                return Err(label(
                    Error::msg(format!(
                        "char_lstm loss: expected windows (N, L + 1) of token ids with N >= 1 \
                         and L + 1 >= 2, got {}",
                        windows.shape()
                    )),
                    &self.path,
                ))
            }
        };
        let l = l1 - 1;
        let windows = self.token_ids(windows).map_err(|e| label(e, &self.path))?;
        let inputs = windows.narrow(1, 0, l)?;
        let targets = windows.narrow(1, 1, l)?.reshape([n * l])?;
        let (logits, _) = self.forward_with_state(&inputs, None)?;
        cross_entropy(
            &logits.reshape([n * l, self.config.vocab_size])?,
            &targets,
            Reduction::Mean,
        )
    }

    /// `length` characters sampled after the characters `prime` (token ids, at least one): the
    /// prime is read once, then each sampled character is fed back with the carried state. The
    /// next character is drawn from `softmax(logits / temperature)` (see [`sample_logits`]) by a
    /// [`Generator`] seeded with `seed`, so a seed gives the same text every time. Runs without
    /// gradients and in evaluation mode (no dropout); the model's mode is restored afterwards.
    /// Returns the sampled ids, without the prime.
    pub fn generate(
        &self,
        prime: &[u32],
        length: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<Vec<u32>> {
        let v = self.config.vocab_size;
        check_temperature(temperature)?;
        if prime.is_empty() {
            return Err(Error::msg(
                "char_lstm generate: the prime is empty: give at least one character to start from",
            ));
        }
        if let Some((i, &id)) = prime.iter().enumerate().find(|(_, &id)| id as usize >= v) {
            return Err(Error::msg(format!(
                "char_lstm generate: prime id {id} at position {i} is not in the vocabulary 0..{v}"
            )));
        }
        let _g = no_grad();
        let was_training = self.lstm.is_training();
        self.set_training(false);
        let out = self.sample_after(prime, length, temperature, &mut Generator::new(seed));
        self.set_training(was_training);
        out
    }

    /// [`CharLstm::generate`] after its checks, in evaluation mode without a graph.
    fn sample_after(
        &self,
        prime: &[u32],
        length: usize,
        temperature: f64,
        g: &mut Generator,
    ) -> Result<Vec<u32>> {
        let device = self.embed.weight().device();
        let ids = |t: &[u32]| {
            let v: Vec<i64> = t.iter().map(|&i| i as i64).collect();
            Tensor::from_vec_on(v, [1, t.len()], device)
        };
        let p = prime.len();
        let (logits, mut state) = self.forward_with_state(&ids(prime)?, None)?;
        // logits (1, L, V): the next character's are the last step's
        let mut next = logits.narrow(1, p - 1, 1)?;
        let mut out = Vec::with_capacity(length);
        while out.len() < length {
            let row = next.to_dtype(DType::F64)?.to_vec::<f64>()?;
            let id = sample_logits(&row, temperature, g)? as u32;
            out.push(id);
            if out.len() == length {
                break;
            }
            let (logits, st) = self.forward_with_state(&ids(&[id])?, Some((&state.0, &state.1)))?;
            next = logits;
            state = st;
        }
        Ok(out)
    }

    /// `x` as int64 token ids: int64 as it is, a float tensor of whole numbers converted.
    fn token_ids(&self, x: &Tensor) -> Result<Tensor> {
        let shape_ok = x.rank() == 2 && x.numel() > 0;
        if !shape_ok || !(x.dtype() == DType::I64 || x.dtype().is_float()) {
            return Err(Error::msg(format!(
                "char_lstm: expected token ids (N, L) as int64 (or floats holding whole \
                 numbers), got {} {}",
                x.dtype(),
                x.shape()
            )));
        }
        if x.dtype() == DType::I64 {
            return Ok(x.clone());
        }
        let v = x.to_dtype(DType::F64)?.to_vec::<f64>()?;
        if let Some((i, bad)) = v.iter().enumerate().find(|(_, v)| v.fract() != 0.0) {
            return Err(Error::msg(format!(
                "char_lstm: token ids must be whole numbers, got {bad} at flat position {i} of {}",
                x.shape()
            )));
        }
        x.to_dtype(DType::I64)
    }
}

/// Refuses a temperature that is not a positive finite number.
fn check_temperature(temperature: f64) -> Result<()> {
    if temperature > 0.0 && temperature.is_finite() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "char_lstm sampling: temperature must be a positive number (1 samples the model's \
             distribution, lower is more conservative), got {temperature}"
        )))
    }
}

/// A class index drawn from `softmax(logits / temperature)` with `g`: temperatures below 1
/// sharpen the distribution towards the argmax, above 1 flatten it. Computed stably (the
/// maximum subtracted first), so a tiny temperature gives the argmax rather than NaN. Errors on
/// empty or non-finite logits and on a temperature that is not a positive finite number.
pub fn sample_logits(logits: &[f64], temperature: f64, g: &mut Generator) -> Result<usize> {
    check_temperature(temperature)?;
    if logits.is_empty() || logits.iter().any(|l| !l.is_finite()) {
        return Err(Error::msg(format!(
            "sample_logits: expected finite logits, got {} values{}",
            logits.len(),
            if logits.is_empty() {
                String::new()
            } else {
                " with a NaN or infinity".into()
            }
        )));
    }
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logits
        .iter()
        .map(|l| ((l - max) / temperature).exp())
        .collect();
    // the argmax has weight exactly 1, so the total is in [1, len]
    let mut u = g.next_f64() * w.iter().sum::<f64>();
    for (i, wi) in w.iter().enumerate() {
        if u < *wi {
            return Ok(i);
        }
        u -= wi;
    }
    // rounding left u at the end of the cumulative sum: the last class with any weight
    Ok(w.iter().rposition(|&wi| wi > 0.0).unwrap_or(0))
}

impl Module for CharLstm {
    /// Token ids `(N, L)` -> the logits `(N, L, V)` of the next character at every step, from
    /// a zero state.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        let ids = self.token_ids(x).map_err(|e| label(e, &self.path))?;
        let e = forward_child(&self.embed, &p("embed"), &ids)?;
        let y = forward_child(&self.lstm, &p("lstm"), &e)?;
        forward_child(&self.head, &p("head"), &y)
    }

    fn set_training(&self, training: bool) {
        self.lstm.set_training(training);
    }

    fn describe(&self) -> String {
        "CharLSTM".into()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("embed".to_string(), &self.embed as &dyn Module),
            ("lstm".to_string(), &self.lstm as &dyn Module),
            ("head".to_string(), &self.head as &dyn Module),
        ]
    }
}
