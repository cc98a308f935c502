//! What the sequence datasets ([`crate::ucr`], [`crate::reviews`]) share: right-padded storage
//! that keeps every sequence's true length, batches that carry those lengths, and reading a UTF-8
//! text file with errors that name the line.
//!
//! Shape contract: a padded sample is `(L, *step_shape)` f32, time-major, with `L` the dataset's
//! [`SequenceDataset::max_len`]: `(L, F)` for a time series of `F` dimensions, `(L,)` for token
//! ids. Sequence `i` holds real steps `0..lengths()[i]` and padding after them; every length is in
//! `1..=L`.
//!
//! ## Feeding the lengths to a recurrent layer
//!
//! A [`Dataset`] batch is only `(x, y)`, but `LSTM::forward_with_state(x, state, lengths)` (and
//! the GRU's and RNN's) takes `lengths: Option<&[usize]>`: one entry per sequence of the batch, in
//! batch order, each in `1..=L` where `L` is the time dimension of `x`. Steps past a sequence's
//! length then produce zero outputs and leave its state alone, so `h_n` is the state after the
//! sequence's own last step and the padding never reaches the loss. The lengths reach training
//! code in one of two documented ways:
//!
//! - [`SequenceDataset::get_batch_with_lengths`] returns a [`SequenceBatch`] `{ x, y, lengths }`:
//!   `x` is `(B, L, *step_shape)` (batch-first, so the layer is built with `batch_first: true`,
//!   or `x.transpose(0, 1)` feeds a time-major one), `lengths` is exactly the slice the layer
//!   takes. [`SequenceBatch::trimmed`] narrows `x` to the batch's longest sequence: the same
//!   `h_n` for less work.
//! - With a [`crate::DataLoader`] (shuffling, prefetching), [`crate::DataLoader::batch_indices`]
//!   gives the sample indices of every batch of an epoch in the order
//!   [`crate::DataLoader::iter_epoch`] yields the batches, and [`SequenceDataset::lengths_of`]
//!   turns batch `k`'s indices into its lengths.
//!
//! Token-id datasets pad with id 0 (`<pad>`), which no real token has, so there the lengths can
//! also be recovered from `x` alone (the number of leading non-zero ids of a row), as
//! `Seq2Seq::source_lengths` does.

use crate::dataset::{Dataset, InMemoryDataset};
use crate::error::{fmt_dims, DataError, Result};
use deepnet_tensor::Tensor;
use std::path::Path;

/// The most values (f32) a padded dataset may hold, 4 GiB: sizes computed from a file
/// (`samples x longest x features`) are checked against it before anything is allocated.
pub const MAX_PADDED_VALUES: usize = 1 << 30;

/// The largest text file the readers of this crate accept (1 GiB), checked before reading.
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// Reads `path` as UTF-8 text (a leading byte-order mark is dropped). Errors name the file: I/O
/// errors, a file over [`MAX_TEXT_BYTES`], and invalid UTF-8 with its line and byte offset.
pub(crate) fn read_text_file(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.len() > MAX_TEXT_BYTES {
        return Err(DataError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "file is {} bytes, more than the {MAX_TEXT_BYTES} a text reader accepts",
                    meta.len()
                ),
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        DataError::parse(
            path,
            line,
            "encoding",
            format!("invalid UTF-8 at byte {at}, expected a UTF-8 text file"),
        )
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// A batch of padded sequences with their true lengths (see the module docs).
#[derive(Clone, Debug)]
pub struct SequenceBatch {
    /// `(B, L, *step_shape)` f32, right-padded.
    pub x: Tensor,
    /// `(B,)` i64 labels.
    pub y: Tensor,
    /// `B` true lengths in `1..=L`, in batch order: the `lengths` argument of the recurrent
    /// layers' `forward_with_state`.
    pub lengths: Vec<usize>,
}

impl SequenceBatch {
    /// The batch with `x` narrowed to its longest sequence, `(B, max(lengths), *step_shape)`;
    /// unchanged when that is already `L` or the batch is empty.
    pub fn trimmed(self) -> Result<Self> {
        let Some(&longest) = self.lengths.iter().max() else {
            return Ok(self);
        };
        if self.x.rank() < 2 || longest >= self.x.dims()[1] {
            return Ok(self);
        }
        Ok(SequenceBatch {
            x: self.x.narrow(1, 0, longest)?.contiguous()?,
            ..self
        })
    }
}

/// A dataset of right-padded sequences that knows every sample's true length.
pub trait SequenceDataset: Dataset {
    /// The true length of every sample, in `1..=max_len`.
    fn lengths(&self) -> &[usize];

    /// `L`, the padded length: the first dimension of [`Dataset::sample_shape`].
    fn max_len(&self) -> usize {
        self.sample_shape().first().copied().unwrap_or(0)
    }

    /// The lengths of the samples at `indices`, in that order.
    fn lengths_of(&self, indices: &[usize]) -> Result<Vec<usize>> {
        let all = self.lengths();
        indices
            .iter()
            .map(|&i| {
                all.get(i).copied().ok_or(DataError::IndexOutOfRange {
                    op: "lengths_of",
                    index: i,
                    len: all.len(),
                })
            })
            .collect()
    }

    /// The samples at `indices` as [`Dataset::get_batch`] gives them, `x: (B, L, *step_shape)`,
    /// `y: (B,)`, with their lengths.
    fn get_batch_with_lengths(&self, indices: &[usize]) -> Result<SequenceBatch> {
        let lengths = self.lengths_of(indices)?;
        let (x, y) = self.get_batch(indices)?;
        Ok(SequenceBatch { x, y, lengths })
    }
}

impl<D: SequenceDataset + ?Sized> SequenceDataset for std::sync::Arc<D> {
    fn lengths(&self) -> &[usize] {
        (**self).lengths()
    }
}

/// Sequences of different lengths held as one right-padded [`InMemoryDataset`] of sample shape
/// `(L, *step_shape)`, with their true lengths.
#[derive(Clone, Debug, PartialEq)]
pub struct PaddedSequences {
    data: InMemoryDataset,
    lengths: Vec<usize>,
}

impl PaddedSequences {
    /// Pads `seqs` (sequence `i` flattened step-major: `len_i * prod(step_shape)` values) to
    /// `max_len` steps with `pad`; a sequence longer than `max_len` keeps its first `max_len`
    /// steps. `labels` has one class in `0..num_classes` per sequence. Errors on an empty
    /// sequence, a size that is not whole steps, `max_len == 0`, or a padded size over
    /// [`MAX_PADDED_VALUES`] (checked before allocating).
    pub fn new<S: AsRef<[f32]>>(
        seqs: &[S],
        step_shape: &[usize],
        max_len: usize,
        pad: f32,
        labels: Vec<i64>,
        num_classes: usize,
    ) -> Result<Self> {
        const OP: &str = "PaddedSequences::new";
        let step: usize = step_shape.iter().product();
        if step == 0 || max_len == 0 {
            return Err(DataError::invalid(
                OP,
                format!(
                    "max_len {max_len} and step shape ({}) must be positive",
                    fmt_dims(step_shape)
                ),
            ));
        }
        if seqs.len() != labels.len() {
            return Err(DataError::invalid(
                OP,
                format!("{} sequences but {} labels", seqs.len(), labels.len()),
            ));
        }
        let total = seqs
            .len()
            .checked_mul(max_len)
            .and_then(|v| v.checked_mul(step))
            .filter(|&v| v <= MAX_PADDED_VALUES)
            .ok_or_else(|| {
                DataError::invalid(
                    OP,
                    format!(
                        "{} sequences x {max_len} steps x {step} values is more than the \
                         {MAX_PADDED_VALUES} values a padded dataset may hold",
                        seqs.len()
                    ),
                )
            })?;
        let mut values = Vec::with_capacity(total);
        let mut lengths = Vec::with_capacity(seqs.len());
        for (i, s) in seqs.iter().enumerate() {
            let s = s.as_ref();
            if s.is_empty() || s.len() % step != 0 {
                return Err(DataError::invalid(
                    OP,
                    format!(
                        "sequence {i} has {} values, expected a positive multiple of the step \
                         size {step}",
                        s.len()
                    ),
                ));
            }
            let len = (s.len() / step).min(max_len);
            values.extend_from_slice(&s[..len * step]);
            values.resize(values.len() + (max_len - len) * step, pad);
            lengths.push(len);
        }
        let mut shape = vec![max_len];
        shape.extend_from_slice(step_shape);
        Ok(PaddedSequences {
            data: InMemoryDataset::new(values, shape, labels, num_classes)?,
            lengths,
        })
    }

    /// The padded samples as an [`InMemoryDataset`] (values, labels, subsets).
    pub fn data(&self) -> &InMemoryDataset {
        &self.data
    }

    /// The true lengths.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The samples at `indices`, in that order, with their lengths.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        Ok(PaddedSequences {
            data: self.data.subset(indices)?,
            lengths: self.lengths_of(indices)?,
        })
    }
}

impl Dataset for PaddedSequences {
    fn len(&self) -> usize {
        self.data.len()
    }
    fn sample_shape(&self) -> Vec<usize> {
        self.data.sample_shape()
    }
    fn num_classes(&self) -> Option<usize> {
        self.data.num_classes()
    }
    fn get(&self, i: usize) -> Result<(Tensor, i64)> {
        self.data.get(i)
    }
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        self.data.get_batch(indices)
    }
}

impl SequenceDataset for PaddedSequences {
    fn lengths(&self) -> &[usize] {
        &self.lengths
    }
}

/// Implements [`Dataset`] and [`SequenceDataset`] for a type by forwarding to its
/// [`PaddedSequences`] field.
macro_rules! delegate_sequence_dataset {
    ($ty:ty, $field:ident) => {
        impl $crate::Dataset for $ty {
            fn len(&self) -> usize {
                self.$field.len()
            }
            fn sample_shape(&self) -> Vec<usize> {
                self.$field.sample_shape()
            }
            fn num_classes(&self) -> Option<usize> {
                self.$field.num_classes()
            }
            fn get(&self, i: usize) -> $crate::Result<(deepnet_tensor::Tensor, i64)> {
                self.$field.get(i)
            }
            fn get_batch(
                &self,
                indices: &[usize],
            ) -> $crate::Result<(deepnet_tensor::Tensor, deepnet_tensor::Tensor)> {
                self.$field.get_batch(indices)
            }
        }
        impl $crate::SequenceDataset for $ty {
            fn lengths(&self) -> &[usize] {
                self.$field.lengths()
            }
        }
    };
}
pub(crate) use delegate_sequence_dataset;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn toy() -> PaddedSequences {
        // three sequences of 2 features: lengths 1, 3, 2
        let seqs = vec![
            vec![1.0, 2.0],
            vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            vec![9.0, 10.0, 11.0, 12.0],
        ];
        PaddedSequences::new(&seqs, &[2], 3, -1.0, vec![0, 1, 0], 2).unwrap()
    }

    #[test]
    fn pads_keeps_lengths_and_batches_with_them() {
        let d = toy();
        assert_eq!((d.len(), d.sample_shape(), d.max_len()), (3, vec![3, 2], 3));
        assert_eq!(d.lengths(), &[1, 3, 2]);
        let (x, y) = d.get(0).unwrap();
        assert_eq!(
            x.to_vec::<f32>().unwrap(),
            [1.0, 2.0, -1.0, -1.0, -1.0, -1.0]
        );
        assert_eq!(y, 0);
        let b = d.get_batch_with_lengths(&[2, 0]).unwrap();
        assert_eq!(b.x.dims(), &[2, 3, 2]);
        assert_eq!(b.lengths, [2, 1]);
        assert_eq!(b.y.to_vec::<i64>().unwrap(), [0, 0]);
        let t = b.trimmed().unwrap();
        assert_eq!(t.x.dims(), &[2, 2, 2]);
        assert_eq!(
            t.x.to_vec::<f32>().unwrap(),
            [9.0, 10.0, 11.0, 12.0, 1.0, 2.0, -1.0, -1.0]
        );
        // a full-length batch and an empty one are left alone
        let full = d.get_batch_with_lengths(&[1]).unwrap().trimmed().unwrap();
        assert_eq!(full.x.dims(), &[1, 3, 2]);
        let empty = d.get_batch_with_lengths(&[]).unwrap().trimmed().unwrap();
        assert_eq!(
            (empty.x.dims(), empty.lengths.len()),
            (&[0usize, 3, 2][..], 0)
        );
        let e = d.lengths_of(&[0, 3]).unwrap_err().to_string();
        assert_eq!(
            e,
            "lengths_of: index 3 is out of range for a dataset of 3 samples"
        );
        assert!(d.get_batch_with_lengths(&[5]).is_err());
        let s = d.subset(&[1, 0]).unwrap();
        assert_eq!(s.lengths(), &[3, 1]);
        assert_eq!(s.data().labels(), &[1, 0]);
        let shared = std::sync::Arc::new(d);
        assert_eq!(SequenceDataset::lengths(&shared), &[1, 3, 2]);
    }

    #[test]
    fn truncates_and_rejects_bad_sequences() {
        let seqs = vec![vec![1.0, 2.0, 3.0], vec![4.0]];
        let d = PaddedSequences::new(&seqs, &[], 2, 0.0, vec![1, 0], 2).unwrap();
        assert_eq!(d.lengths(), &[2, 1]);
        assert_eq!(d.data().images(), &[1.0, 2.0, 4.0, 0.0]);
        let e = PaddedSequences::new(&[vec![], vec![1.0]], &[], 2, 0.0, vec![0, 0], 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sequence 0 has 0 values"), "{e}");
        let e = PaddedSequences::new(&[vec![1.0; 3]], &[2], 2, 0.0, vec![0], 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("multiple of the step size 2"), "{e}");
        assert!(PaddedSequences::new(&[vec![1.0]], &[], 0, 0.0, vec![0], 1).is_err());
        assert!(PaddedSequences::new(&[vec![1.0]], &[], 1, 0.0, vec![], 1).is_err());
        assert!(PaddedSequences::new(&[vec![1.0]], &[], 1, 0.0, vec![3], 2).is_err());
        // the padded size is checked before allocating
        let e = PaddedSequences::new(
            &[vec![1.0], vec![1.0]],
            &[1 << 20],
            1 << 20,
            0.0,
            vec![0, 0],
            1,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than the 1073741824 values"), "{e}");
    }

    #[test]
    fn text_files_are_utf8_with_named_errors() {
        let dir = TempDir::new("seq-text");
        let p = dir.path().join("t.txt");
        std::fs::write(&p, b"\xef\xbb\xbfab\nc").unwrap();
        assert_eq!(read_text_file(&p).unwrap(), "ab\nc");
        std::fs::write(&p, b"ok\nline two\n\xff bad").unwrap();
        let e = read_text_file(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("t.txt:3: encoding: invalid UTF-8 at byte 12, expected a UTF-8 text file"),
            "{e}"
        );
        let e = read_text_file(&dir.path().join("none.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.txt"), "{e}");
    }
}
