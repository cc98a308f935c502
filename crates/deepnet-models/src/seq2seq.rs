//! A GRU encoder-decoder (Sutskever et al. 2014, Cho et al. 2014) for sequence-to-sequence tasks
//! whose output length differs from the input's, and a seeded toy task it learns exactly.
//!
//! | layer | module | output (`N` sequences, `S` source steps, `T` target steps) |
//! |---|---|---|
//! | `src_embed` | Embedding(vocab, embed, padding_idx=pad) | `(N, S, embed)` |
//! | `encoder` | GRU(embed, hidden, num_layers, batch_first=True) | `h: (num_layers, N, hidden)` |
//! | `tgt_embed` | Embedding(vocab, embed, padding_idx=pad) | `(N, T, embed)` |
//! | `decoder` | GRU(embed, hidden, num_layers, batch_first=True), `h_0` = encoder's `h` | `(N, T, hidden)` |
//! | `out` | Linear(hidden, vocab) | logits `(N, T, vocab)` |
//!
//! The keys are those of a PyTorch module with those five attributes (`src_embed.weight`,
//! `encoder.weight_ih_l0`, ..., `out.bias`). Source and target share one vocabulary with three
//! special tokens: `pad` (right padding, row zero in both embeddings), `bos` (the decoder's
//! first input) and `eos` (ends every target).
//!
//! Sequences are int64 token tensors, right-padded with `pad`: a source `(N, S)` whose row `b`
//! has its true length `S_b` before the first `pad` (the encoder runs each row for its own
//! length, so `h` is the state after its own last token); a target `(N, T)` is the output
//! tokens followed by `eos`, then `pad`. Training uses teacher forcing: the decoder reads
//! `<bos> + target[:-1]` ([`teacher_forcing_input`]) and is scored on `target` at every
//! non-pad position ([`Seq2Seq::loss`]). [`Seq2Seq::generate`] decodes greedily, feeding back
//! its own argmax, and stops each sequence at its `eos`.
//!
//! The task, [`SortedDigits`]: a string of 3..=8 random digits -> its distinct digits in
//! ascending order (`7 3 7 1` -> `1 3 7`), so the output is up to 7 tokens shorter than the
//! input. It is a set-membership task: the encoder's final state only has to hold which of the
//! ten digits occurred, and the decoder to list them in order, which a small GRU learns to
//! near-100% exact match in a few thousand sequences.

use deepnet_nn::layers::{Embedding, Linear, RnnConfig, GRU};
use deepnet_nn::loss::{cross_entropy, Reduction};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{no_grad, DType, Error, Generator, Result, Tensor};

/// The sizes and special tokens of a [`Seq2Seq`].
#[derive(Clone, Debug, PartialEq)]
pub struct Seq2SeqConfig {
    /// tokens in the (shared) vocabulary, special tokens included
    pub vocab: usize,
    /// features of each token embedding
    pub embed: usize,
    /// features of the GRU states
    pub hidden: usize,
    /// stacked GRU layers in the encoder and in the decoder (1)
    pub num_layers: usize,
    /// the padding token (0)
    pub pad: i64,
    /// the begin-of-sequence token, the decoder's first input (1)
    pub bos: i64,
    /// the end-of-sequence token that ends every target (2)
    pub eos: i64,
}

impl Seq2SeqConfig {
    /// One layer and the special tokens `pad = 0`, `bos = 1`, `eos = 2` (those of
    /// [`SortedDigits`]).
    pub fn new(vocab: usize, embed: usize, hidden: usize) -> Self {
        Seq2SeqConfig {
            vocab,
            embed,
            hidden,
            num_layers: 1,
            pad: 0,
            bos: 1,
            eos: 2,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument { op: "seq2seq", msg });
        if self.vocab == 0 || self.embed == 0 || self.hidden == 0 || self.num_layers == 0 {
            return bad(format!(
                "vocab, embed, hidden and num_layers must be at least 1, got {}, {}, {} and {}",
                self.vocab, self.embed, self.hidden, self.num_layers
            ));
        }
        let (p, b, e) = (self.pad, self.bos, self.eos);
        let v = self.vocab as i64;
        if [p, b, e].iter().any(|&t| !(0..v).contains(&t)) || p == b || p == e || b == e {
            return bad(format!(
                "pad, bos and eos must be distinct tokens in 0..{v}, got {p}, {b} and {e}"
            ));
        }
        Ok(())
    }
}

/// The GRU encoder-decoder; see the [module docs](self) for the layers and shapes.
pub struct Seq2Seq {
    config: Seq2SeqConfig,
    src_embed: Embedding,
    encoder: GRU,
    tgt_embed: Embedding,
    decoder: GRU,
    out: Linear,
}

impl Seq2Seq {
    /// A new model registering its parameters under `pb`, each layer initialized as PyTorch's.
    pub fn new(config: &Seq2SeqConfig, pb: &ParamBuilder) -> Result<Seq2Seq> {
        config
            .validate()
            .map_err(|e| crate::shape_check::label(e, pb.path()))?;
        let c = config;
        let rnn = RnnConfig {
            num_layers: c.num_layers,
            batch_first: true,
            ..RnnConfig::new(c.embed, c.hidden)
        };
        Ok(Seq2Seq {
            src_embed: Embedding::new(c.vocab, c.embed, Some(c.pad), &pb.push("src_embed"))?,
            encoder: GRU::new(&rnn, &pb.push("encoder"))?,
            tgt_embed: Embedding::new(c.vocab, c.embed, Some(c.pad), &pb.push("tgt_embed"))?,
            decoder: GRU::new(&rnn, &pb.push("decoder"))?,
            out: Linear::new(c.hidden, c.vocab, true, &pb.push("out"))?,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Seq2SeqConfig {
        &self.config
    }

    /// The true length of each row of a right-padded source `(N, S)`: the tokens before its first
    /// `pad`. A row that starts with `pad` or has a token after its padding is an error.
    pub fn source_lengths(&self, src: &Tensor) -> Result<Vec<usize>> {
        let (n, s) = tokens_2d("seq2seq source", src)?;
        let v = src.to_vec::<i64>()?;
        (0..n)
            .map(|b| {
                let row = &v[b * s..(b + 1) * s];
                let len = row.iter().position(|&t| t == self.config.pad).unwrap_or(s);
                if len == 0 || row[len..].iter().any(|&t| t != self.config.pad) {
                    return Err(Error::msg(format!(
                        "seq2seq: source row {b} is not a non-empty right-padded sequence: \
                         {row:?} (pad = {})",
                        self.config.pad
                    )));
                }
                Ok(len)
            })
            .collect()
    }

    /// The encoder's final state `(num_layers, N, hidden)` for a right-padded source `(N, S)`,
    /// each row's taken after its own last token.
    pub fn encode(&self, src: &Tensor) -> Result<Tensor> {
        let lengths = self.source_lengths(src)?;
        let x = self.src_embed.forward(src)?; // (N, S, embed)
        let (_, h) = self.encoder.forward_with_state(&x, None, Some(&lengths))?;
        Ok(h)
    }

    /// The decoder from state `h0: (num_layers, N, hidden)` over the inputs `dec_in: (N, T)`:
    /// the logits `(N, T, vocab)` of the next token at every step and the state after the last.
    pub fn decode(&self, dec_in: &Tensor, h0: &Tensor) -> Result<(Tensor, Tensor)> {
        tokens_2d("seq2seq decoder input", dec_in)?;
        let y = self.tgt_embed.forward(dec_in)?; // (N, T, embed)
        let (y, h) = self.decoder.forward_with_state(&y, Some(h0), None)?; // (N, T, hidden)
        Ok((self.out.forward(&y)?, h))
    }

    /// Teacher-forced logits `(N, T, vocab)` for a source `(N, S)` and a target `(N, T)`: the
    /// decoder reads [`teacher_forcing_input`], so step `t` predicts `target[:, t]` from the true
    /// tokens before it.
    pub fn forward(&self, src: &Tensor, target: &Tensor) -> Result<Tensor> {
        let h = self.encode(src)?;
        let dec_in = teacher_forcing_input(target, self.config.bos)?;
        Ok(self.decode(&dec_in, &h)?.0)
    }

    /// The mean cross-entropy of the teacher-forced logits against `target` `(N, T)`, over its
    /// non-pad positions (the output tokens and each row's `eos`).
    pub fn loss(&self, src: &Tensor, target: &Tensor) -> Result<Tensor> {
        let logits = self.forward(src, target)?;
        let (n, t) = (target.dims()[0], target.dims()[1]);
        let flat = target.reshape([n * t])?;
        let l = cross_entropy(
            &logits.reshape([n * t, self.config.vocab])?,
            &flat,
            Reduction::None,
        )?; // (N*T,)
        let keep = flat
            .ne_scalar(self.config.pad as f64)?
            .to_dtype(l.dtype())?;
        let count = keep.sum_all()?.item()?;
        if count == 0.0 {
            return Err(Error::msg("seq2seq loss: the target has no non-pad token"));
        }
        l.mul(&keep)?.sum_all()?.mul_scalar(1.0 / count)
    }

    /// Greedy decoding of a right-padded source `(N, S)`: from `bos`, each step feeds back the
    /// argmax token, for at most `max_len` steps. Each row's tokens up to (without) its first
    /// `eos`; a row with no `eos` in `max_len` steps is cut there. Runs without gradients.
    pub fn generate(&self, src: &Tensor, max_len: usize) -> Result<Vec<Vec<i64>>> {
        let _g = no_grad();
        let mut h = self.encode(src)?;
        let n = src.dims()[0];
        let mut tokens = vec![self.config.bos; n];
        let mut out = vec![Vec::new(); n];
        let mut done = vec![false; n];
        for _ in 0..max_len {
            let inp = Tensor::from_vec(tokens, [n, 1])?.to_device(src.device())?;
            let (logits, h_next) = self.decode(&inp, &h)?; // (N, 1, vocab)
            h = h_next;
            // finished rows keep running with the batch; their tokens are ignored
            tokens = logits.argmax(2, false)?.to_vec::<i64>()?;
            for (b, &tok) in tokens.iter().enumerate() {
                if done[b] {
                    continue;
                }
                if tok == self.config.eos {
                    done[b] = true;
                } else {
                    out[b].push(tok);
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }
}

/// The decoder's teacher-forcing input for a target `(N, T)`: `bos` then the target shifted right
/// by one, `[bos, target[:, 0], ..., target[:, T-2]]`, `(N, T)`.
pub fn teacher_forcing_input(target: &Tensor, bos: i64) -> Result<Tensor> {
    let (n, t) = tokens_2d("teacher_forcing_input", target)?;
    let first = Tensor::full([n, 1], bos as f64, DType::I64)?.to_device(target.device())?;
    if t == 1 {
        return Ok(first);
    }
    Tensor::cat(&[first, target.narrow(1, 0, t - 1)?], 1)
}

/// Rows of tokens right-padded with `pad` into one `(N, max length)` int64 tensor.
pub fn pad_sequences(rows: &[Vec<i64>], pad: i64) -> Result<Tensor> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut v = Vec::with_capacity(rows.len() * width);
    for r in rows {
        v.extend_from_slice(r);
        v.extend(std::iter::repeat_n(pad, width - r.len()));
    }
    Tensor::from_vec(v, [rows.len(), width])
}

/// The fraction of `predicted` rows equal to their `expected` row (exact match, 0 when empty).
pub fn exact_match(predicted: &[Vec<i64>], expected: &[Vec<i64>]) -> f64 {
    let hits = predicted
        .iter()
        .zip(expected)
        .filter(|(p, e)| p == e)
        .count();
    hits as f64 / predicted.len().max(1) as f64
}

/// A `(N, L)` int64 token tensor's `(N, L)`, or an error naming `what`.
fn tokens_2d(what: &str, t: &Tensor) -> Result<(usize, usize)> {
    if t.dtype() != DType::I64 || t.rank() != 2 || t.numel() == 0 {
        return Err(Error::msg(format!(
            "{what}: expected non-empty int64 tokens (N, L), got {} {}",
            t.dtype(),
            t.shape()
        )));
    }
    Ok((t.dims()[0], t.dims()[1]))
}

/// Which part of the input space a [`SortedDigits`] sample comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// the strings a model trains on
    Train,
    /// about one string in eight, never generated for training
    Test,
}

/// The toy task: a string of `min_len..=max_len` uniform random digits -> its distinct digits in
/// ascending order, then `eos`. Tokens: `pad = 0`, `bos = 1`, `eos = 2`, digit `d` = `3 + d`
/// ([`SortedDigits::VOCAB`] = 13 in all).
///
/// The train and test splits are disjoint: a fixed hash of the digit string assigns every string
/// to one of them, and sampling a split redraws until it lands in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortedDigits {
    /// shortest input string (3)
    pub min_len: usize,
    /// longest input string (8)
    pub max_len: usize,
}

impl Default for SortedDigits {
    fn default() -> Self {
        SortedDigits {
            min_len: 3,
            max_len: 8,
        }
    }
}

impl SortedDigits {
    /// The padding token.
    pub const PAD: i64 = 0;
    /// The begin-of-sequence token.
    pub const BOS: i64 = 1;
    /// The end-of-sequence token.
    pub const EOS: i64 = 2;
    /// The token of digit 0; digit `d` is `DIGIT0 + d`.
    pub const DIGIT0: i64 = 3;
    /// The vocabulary size: three special tokens and ten digits.
    pub const VOCAB: usize = 13;

    /// The longest target, `eos` included: at most 10 distinct digits, or `max_len`.
    pub fn max_target_len(&self) -> usize {
        self.max_len.min(10) + 1
    }

    /// The target tokens of source tokens `src` (digit tokens, no padding): the distinct digit
    /// tokens in ascending order, then `eos`.
    pub fn target_of(src: &[i64]) -> Vec<i64> {
        let mut t = src.to_vec();
        t.sort_unstable();
        t.dedup();
        t.push(Self::EOS);
        t
    }

    /// Digit tokens as a string of digits (`[4, 3, 12]` -> `"109"`); other tokens as `<pad>`,
    /// `<bos>`, `<eos>` or `<t>`.
    pub fn show(tokens: &[i64]) -> String {
        tokens
            .iter()
            .map(|&t| match t {
                Self::PAD => "<pad>".to_string(),
                Self::BOS => "<bos>".to_string(),
                Self::EOS => "<eos>".to_string(),
                d if (Self::DIGIT0..Self::DIGIT0 + 10).contains(&d) => {
                    (d - Self::DIGIT0).to_string()
                }
                t => format!("<{t}>"),
            })
            .collect()
    }

    /// Whether the digit-token string `src` belongs to the test split (a fixed FNV-1a hash of
    /// the tokens, about one string in eight).
    pub fn is_test(src: &[i64]) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &t in src {
            h = (h ^ t as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        (h >> 32).is_multiple_of(8)
    }

    /// One `(source, target)` pair of `split`, as token rows (no padding), drawn from `g`.
    pub fn sample(&self, split: Split, g: &mut Generator) -> (Vec<i64>, Vec<i64>) {
        let span = (self.max_len - self.min_len + 1) as u64;
        loop {
            let len = self.min_len + g.next_below(span) as usize;
            let src: Vec<i64> = (0..len)
                .map(|_| Self::DIGIT0 + g.next_below(10) as i64)
                .collect();
            if Self::is_test(&src) == (split == Split::Test) {
                let tgt = Self::target_of(&src);
                return (src, tgt);
            }
        }
    }

    /// `n` pairs of `split` drawn from `g`.
    pub fn pairs(&self, n: usize, split: Split, g: &mut Generator) -> Vec<(Vec<i64>, Vec<i64>)> {
        (0..n).map(|_| self.sample(split, g)).collect()
    }

    /// A padded batch of `pairs`: sources `(N, S)` and targets `(N, T)`, int64, padded with
    /// `pad`.
    pub fn batch(pairs: &[(Vec<i64>, Vec<i64>)]) -> Result<(Tensor, Tensor)> {
        let (src, tgt): (Vec<_>, Vec<_>) = pairs.iter().cloned().unzip();
        Ok((
            pad_sequences(&src, Self::PAD)?,
            pad_sequences(&tgt, Self::PAD)?,
        ))
    }

    /// `(exact-match accuracy, predictions)` of greedy decoding on `pairs` (predictions without
    /// `eos`), in batches of `batch` rows.
    pub fn evaluate(
        &self,
        model: &Seq2Seq,
        pairs: &[(Vec<i64>, Vec<i64>)],
        batch: usize,
    ) -> Result<(f64, Vec<Vec<i64>>)> {
        let mut preds = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(batch.max(1)) {
            let (src, _) = Self::batch(chunk)?;
            preds.extend(model.generate(&src, self.max_target_len() + 2)?);
        }
        let expected: Vec<Vec<i64>> = pairs
            .iter()
            .map(|(_, t)| t[..t.len() - 1].to_vec())
            .collect();
        Ok((exact_match(&preds, &expected), preds))
    }
}
