//! Character-level language-model data (char-RNN): a [`CharVocab`] of the distinct characters of
//! a text, and [`CharLmDataset`], windows of token ids over a train or validation part of it.
//!
//! The split (documented and deterministic): of a text of `n` characters (Unicode scalar values),
//! the last `round(n * val_fraction)` characters are the validation part and the first ones the
//! train part (`val_fraction` 0.1: the first 90% / last 10%; for the shipped Shakespeare file
//! that is characters `0..4381983` and `4381983..4868870`, the split its README names).
//!
//! The vocabulary is the sorted distinct characters of the TRAIN part (unless one is given in
//! [`CharLmConfig::vocab`], e.g. the one stored with a model); character `k` of it has id `k`.
//! A character outside it is an error (naming the file, line and column), never mapped silently.
//!
//! Shape contract: sample `i` is the window of token ids `ids[i*stride .. i*stride + seq_len + 1]`
//! as an f32 tensor `(seq_len + 1,)` (ids are exact in f32: a vocabulary has far fewer than
//! 2^24 characters), label 0; a batch is `(B, seq_len + 1)`. The model reads `x[:, :-1]` and is
//! trained to predict `x[:, 1:]`. With the default `stride = seq_len` the inputs of consecutive
//! windows do not overlap (each window repeats only its predecessor's last target as its first
//! input), so every character after the first is a target exactly once per epoch; there are
//! `(n_part - 1) / seq_len` windows and the tail that does not fill one is left out.

use crate::dataset::{batch_tensors, Dataset};
use crate::error::{DataError, Result};
use crate::sequence::read_text_file;
use deepnet_tensor::Tensor;
use std::path::Path;
use std::sync::Arc;

/// Reads a UTF-8 text file (a leading byte-order mark dropped). Errors name the file, and the
/// line of the first invalid byte.
pub fn load_text(path: impl AsRef<Path>) -> Result<String> {
    read_text_file(path.as_ref())
}

/// The distinct characters of a text, sorted; character `k` has token id `k`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CharVocab {
    chars: Vec<char>,
}

/// Where a character is in a text: the 1-based line and column (in characters).
fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte];
    let line = 1 + before.matches('\n').count();
    let col = 1 + before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count();
    (line, col)
}

impl CharVocab {
    /// The sorted distinct characters of `text`. Errors on an empty text.
    pub fn from_text(text: &str) -> Result<CharVocab> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.is_empty() {
            return Err(DataError::invalid(
                "CharVocab::from_text",
                "the text is empty: a vocabulary needs at least one character",
            ));
        }
        Ok(CharVocab { chars })
    }

    /// The vocabulary as one string, its characters in id order: what a weights file stores as
    /// metadata. [`CharVocab::from_metadata`] reads it back.
    pub fn to_metadata(&self) -> String {
        self.chars.iter().collect()
    }

    /// A vocabulary from [`CharVocab::to_metadata`]'s string. Errors unless its characters are
    /// non-empty, sorted and distinct.
    pub fn from_metadata(s: &str) -> Result<CharVocab> {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            return Err(DataError::invalid(
                "CharVocab::from_metadata",
                "empty vocabulary string",
            ));
        }
        if let Some(i) = (1..chars.len()).find(|&i| chars[i - 1] >= chars[i]) {
            return Err(DataError::invalid(
                "CharVocab::from_metadata",
                format!(
                    "characters {:?} and {:?} at {} and {i} are not sorted and distinct: \
                     expected the string of CharVocab::to_metadata",
                    chars[i - 1],
                    chars[i],
                    i - 1
                ),
            ));
        }
        Ok(CharVocab { chars })
    }

    /// The number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }
    /// Whether the vocabulary is empty (never, for one built by this type).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }
    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }
    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<u32> {
        self.chars.binary_search(&c).ok().map(|i| i as u32)
    }
    /// The character of `id`, if it is in `0..len`.
    pub fn char_of(&self, id: u32) -> Option<char> {
        self.chars.get(id as usize).copied()
    }

    /// The ids of `text`'s characters, or the byte offset of the first one not in the vocabulary.
    fn try_encode(&self, text: &str) -> std::result::Result<Vec<u32>, usize> {
        let mut ids = Vec::with_capacity(text.len());
        for (at, c) in text.char_indices() {
            ids.push(self.id(c).ok_or(at)?);
        }
        Ok(ids)
    }

    fn unknown(&self, text: &str, at: usize) -> (usize, String) {
        let c = text[at..].chars().next().unwrap_or('\0');
        let (line, col) = line_col(text, at);
        let msg = format!(
            "character {c:?} (U+{:04X}) at column {col} is not in the vocabulary of {} characters",
            c as u32,
            self.len()
        );
        (line, msg)
    }

    /// The token ids of `text`. A character outside the vocabulary is an error naming it and
    /// its line and column.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.try_encode(text).map_err(|at| {
            let (line, msg) = self.unknown(text, at);
            DataError::invalid("CharVocab::encode", format!("line {line}: {msg}"))
        })
    }

    /// The text of `ids` (any integer type: `u32` token ids, `i64` sampled classes). An id
    /// outside `0..len` is an error naming its position.
    pub fn decode<I: Copy + Into<i64>>(&self, ids: &[I]) -> Result<String> {
        ids.iter()
            .enumerate()
            .map(|(i, &id)| {
                let id: i64 = id.into();
                u32::try_from(id)
                    .ok()
                    .and_then(|id| self.char_of(id))
                    .ok_or_else(|| {
                        DataError::invalid(
                            "CharVocab::decode",
                            format!("id {id} at position {i} is not in 0..{}", self.len()),
                        )
                    })
            })
            .collect()
    }
}

/// How [`CharLmDataset::split`] cuts and windows a text.
#[derive(Clone, Debug, PartialEq)]
pub struct CharLmConfig {
    /// Steps per window: a sample holds `seq_len + 1` ids (100).
    pub seq_len: usize,
    /// The fraction of the characters, at the end of the text, held out for validation (0.1).
    pub val_fraction: f64,
    /// The distance between the starts of consecutive windows; `None` is `seq_len` (inputs do
    /// not overlap), `Some(1)` a window at every position.
    pub stride: Option<usize>,
    /// The vocabulary; `None` builds it from the train part.
    pub vocab: Option<CharVocab>,
}

impl Default for CharLmConfig {
    fn default() -> Self {
        CharLmConfig {
            seq_len: 100,
            val_fraction: 0.1,
            stride: None,
            vocab: None,
        }
    }
}

/// Windows of `seq_len + 1` token ids over one part of a text (see the module docs).
#[derive(Clone, Debug)]
pub struct CharLmDataset {
    ids: Vec<u32>,
    seq_len: usize,
    stride: usize,
    vocab: Arc<CharVocab>,
}

impl CharLmDataset {
    /// Windows over all of `ids` (token ids of `vocab`), `seq_len >= 1`, `stride >= 1`.
    pub fn from_ids(
        ids: Vec<u32>,
        vocab: Arc<CharVocab>,
        seq_len: usize,
        stride: usize,
    ) -> Result<Self> {
        if seq_len == 0 || stride == 0 {
            return Err(DataError::invalid(
                "CharLmDataset::from_ids",
                format!("seq_len {seq_len} and stride {stride} must be at least 1"),
            ));
        }
        if let Some((i, id)) = ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= vocab.len())
        {
            return Err(DataError::invalid(
                "CharLmDataset::from_ids",
                format!("id {id} at {i} is not in 0..{}", vocab.len()),
            ));
        }
        Ok(CharLmDataset {
            ids,
            seq_len,
            stride,
            vocab,
        })
    }

    /// The train and validation parts of `text` (see the module docs); `source` names the text
    /// in errors (its file).
    pub fn split_named(
        text: &str,
        cfg: &CharLmConfig,
        source: &Path,
    ) -> Result<(CharLmDataset, CharLmDataset)> {
        const OP: &str = "CharLmDataset::split";
        if !(0.0..1.0).contains(&cfg.val_fraction) {
            return Err(DataError::invalid(
                OP,
                format!("val_fraction {} is not in [0, 1)", cfg.val_fraction),
            ));
        }
        let n = text.chars().count();
        let n_val = (n as f64 * cfg.val_fraction).round() as usize;
        let n_train = n - n_val;
        let window = cfg.seq_len.saturating_add(1);
        if n_train < window || (n_val > 0 && n_val < window) {
            return Err(DataError::invalid(
                OP,
                format!(
                    "{}: {n} characters split into {n_train} train and {n_val} validation \
                     characters; each part needs at least seq_len + 1 = {window}",
                    source.display()
                ),
            ));
        }
        let cut = text.char_indices().nth(n_train).map_or(text.len(), |p| p.0);
        let (train_text, val_text) = text.split_at(cut);
        let vocab = match &cfg.vocab {
            Some(v) => v.clone(),
            None => CharVocab::from_text(train_text)?,
        };
        let encode = |part: &str, offset: usize| {
            vocab.try_encode(part).map_err(|at| {
                let (line, msg) = vocab.unknown(text, offset + at);
                let hint = if cfg.vocab.is_none() {
                    " (the vocabulary is the train part's characters: pass CharLmConfig::vocab \
                     to use another)"
                } else {
                    ""
                };
                DataError::parse(source, line, "character", format!("{msg}{hint}"))
            })
        };
        let train_ids = encode(train_text, 0)?;
        let val_ids = encode(val_text, cut)?;
        let vocab = Arc::new(vocab);
        let stride = cfg.stride.unwrap_or(cfg.seq_len);
        Ok((
            CharLmDataset::from_ids(train_ids, vocab.clone(), cfg.seq_len, stride)?,
            CharLmDataset::from_ids(val_ids, vocab, cfg.seq_len, stride)?,
        ))
    }

    /// The train and validation parts of an in-memory `text`.
    pub fn split(text: &str, cfg: &CharLmConfig) -> Result<(CharLmDataset, CharLmDataset)> {
        Self::split_named(text, cfg, Path::new("<text>"))
    }

    /// The train and validation parts of the UTF-8 file `path`.
    pub fn load(
        path: impl AsRef<Path>,
        cfg: &CharLmConfig,
    ) -> Result<(CharLmDataset, CharLmDataset)> {
        let path = path.as_ref();
        Self::split_named(&load_text(path)?, cfg, path)
    }

    /// The vocabulary (shared by the train and validation parts).
    pub fn vocab(&self) -> &Arc<CharVocab> {
        &self.vocab
    }
    /// All token ids of this part.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
    /// Steps per window (a sample holds `seq_len + 1` ids).
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }
    /// The distance between window starts.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The ids of window `i`, `seq_len + 1` of them.
    pub fn window(&self, i: usize) -> Result<&[u32]> {
        if i >= self.len() {
            return Err(DataError::IndexOutOfRange {
                op: "CharLmDataset::window",
                index: i,
                len: self.len(),
            });
        }
        let start = i * self.stride;
        Ok(&self.ids[start..start + self.seq_len + 1])
    }
}

impl Dataset for CharLmDataset {
    fn len(&self) -> usize {
        match self.ids.len().checked_sub(self.seq_len + 1) {
            Some(rest) => rest / self.stride + 1,
            None => 0,
        }
    }
    fn sample_shape(&self) -> Vec<usize> {
        vec![self.seq_len + 1]
    }
    fn get(&self, i: usize) -> Result<(Tensor, i64)> {
        let w = self.window(i)?;
        let x = w.iter().map(|&id| id as f32).collect::<Vec<_>>();
        Ok((Tensor::from_vec(x, [w.len()])?, 0))
    }
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let mut x = Vec::with_capacity(indices.len() * (self.seq_len + 1));
        for &i in indices {
            x.extend(self.window(i)?.iter().map(|&id| id as f32));
        }
        batch_tensors(x, &self.sample_shape(), vec![0; indices.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn vocab_encodes_decodes_and_round_trips_as_metadata() {
        let v = CharVocab::from_text("hello, wörld\n").unwrap();
        assert_eq!(v.to_metadata(), "\n ,dehlorwö");
        assert_eq!((v.len(), v.id('h'), v.id('z')), (11, Some(5), None));
        assert_eq!((v.char_of(10), v.char_of(11)), (Some('ö'), None));
        let ids = v.encode("world").unwrap();
        assert_eq!(ids, [9, 7, 8, 6, 3]);
        assert_eq!(v.decode(&ids).unwrap(), "world");
        assert_eq!(v.decode(&[5i64, 4, 6]).unwrap(), "hel");
        let back = CharVocab::from_metadata(&v.to_metadata()).unwrap();
        assert_eq!(back, v);
        let e = v.encode("hello\nwoz").unwrap_err().to_string();
        assert_eq!(
            e,
            "CharVocab::encode: line 2: character 'z' (U+007A) at column 3 is not in the \
             vocabulary of 11 characters"
        );
        let e = v.decode(&[1i64, 11]).unwrap_err().to_string();
        assert_eq!(e, "CharVocab::decode: id 11 at position 1 is not in 0..11");
        assert!(v.decode(&[-1i64]).is_err());
        assert!(CharVocab::from_text("").is_err());
        assert!(CharVocab::from_metadata("").is_err());
        let e = CharVocab::from_metadata("abca").unwrap_err().to_string();
        assert!(
            e.contains("'c' and 'a' at 2 and 3 are not sorted and distinct"),
            "{e}"
        );
        assert!(CharVocab::from_metadata("aab").is_err());
    }

    #[test]
    fn splits_and_windows_a_text() {
        // 20 characters: val_fraction 0.25 -> last 5 held out
        let text = "abcdefghij\nabcdefghi";
        let cfg = CharLmConfig {
            seq_len: 4,
            val_fraction: 0.25,
            ..CharLmConfig::default()
        };
        let (train, val) = CharLmDataset::split(text, &cfg).unwrap();
        assert_eq!((train.ids().len(), val.ids().len()), (15, 5));
        assert_eq!(train.vocab().to_metadata(), "\nabcdefghij");
        assert_eq!(val.vocab().decode(val.ids()).unwrap(), "efghi");
        // (15 - 1) / 4 = 3 windows, stride 4: starts 0, 4, 8
        assert_eq!((train.len(), val.len()), (3, 1));
        assert_eq!(train.sample_shape(), [5]);
        let v = train.vocab().clone();
        assert_eq!(v.decode(train.window(1).unwrap()).unwrap(), "efghi");
        assert_eq!(v.decode(train.window(2).unwrap()).unwrap(), "ij\nab");
        assert!(train.window(3).is_err());
        let (x, y) = train.get(2).unwrap();
        assert_eq!((x.dims(), y), (&[5usize][..], 0));
        let (xb, yb) = train.get_batch(&[2, 0]).unwrap();
        assert_eq!(xb.dims(), &[2, 5]);
        assert_eq!(yb.to_vec::<i64>().unwrap(), [0, 0]);
        let xb = xb.to_vec::<f32>().unwrap();
        assert_eq!(xb[..5], x.to_vec::<f32>().unwrap()[..]);
        assert_eq!(xb[5..], [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(train.get_batch(&[3]).is_err());
        // every position with stride 1
        let cfg1 = CharLmConfig {
            stride: Some(1),
            ..cfg.clone()
        };
        let (t1, _) = CharLmDataset::split(text, &cfg1).unwrap();
        assert_eq!(t1.len(), 11);
        // the validation part has characters the train part lacks: an error naming them,
        // unless a vocabulary is given
        let cfg_v = CharLmConfig {
            val_fraction: 0.5,
            ..cfg.clone()
        };
        let other = "abcdefghij\nklmnopqrs";
        let e = CharLmDataset::split(other, &cfg_v).unwrap_err().to_string();
        assert!(
            e.starts_with("<text>:1: character: character '\\n' (U+000A) at column 11 is not in"),
            "{e}"
        );
        let all = CharLmConfig {
            vocab: Some(CharVocab::from_text(other).unwrap()),
            ..cfg_v
        };
        let (_, val) = CharLmDataset::split(other, &all).unwrap();
        assert_eq!(val.ids().len(), 10);
        // no validation part
        let none = CharLmConfig {
            val_fraction: 0.0,
            ..cfg.clone()
        };
        let (t, v) = CharLmDataset::split(text, &none).unwrap();
        assert_eq!((t.ids().len(), v.len()), (20, 0));
    }

    #[test]
    fn bad_configs_and_files_are_errors() {
        let text = "abcdefghij";
        let bad = |cfg: CharLmConfig| CharLmDataset::split(text, &cfg).unwrap_err().to_string();
        let e = bad(CharLmConfig {
            seq_len: 9,
            val_fraction: 0.1,
            ..CharLmConfig::default()
        });
        assert!(
            e.contains("10 characters split into 9 train and 1 validation characters; each part needs at least seq_len + 1 = 10"),
            "{e}"
        );
        assert!(bad(CharLmConfig {
            val_fraction: 1.0,
            ..CharLmConfig::default()
        })
        .contains("val_fraction 1 is not in [0, 1)"));
        assert!(bad(CharLmConfig {
            seq_len: 0,
            val_fraction: 0.0,
            ..CharLmConfig::default()
        })
        .contains("seq_len 0 and stride 0 must be at least 1"));
        let v = Arc::new(CharVocab::from_text("ab").unwrap());
        assert!(CharLmDataset::from_ids(vec![0, 2], v, 1, 1).is_err());
        let dir = TempDir::new("text-bad");
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, b"fine\n\xe2\x28\xa1").unwrap();
        let e = CharLmDataset::load(&p, &CharLmConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.txt:2: encoding: invalid UTF-8 at byte 5"),
            "{e}"
        );
        let e = load_text(dir.path().join("missing.txt")).unwrap_err();
        assert!(e.to_string().contains("missing.txt"), "{e}");
        // a file's characters are located by line in the file
        std::fs::write(&p, "ab\nab\nab\nab\nabz").unwrap();
        let cfg = CharLmConfig {
            seq_len: 2,
            val_fraction: 0.2,
            ..CharLmConfig::default()
        };
        let e = CharLmDataset::load(&p, &cfg).unwrap_err().to_string();
        assert!(e.contains("bad.txt:5: character: character 'z'"), "{e}");
    }
}
