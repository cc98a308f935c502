//! MNIST-style datasets (MNIST, Fashion-MNIST, KMNIST, ...): an IDX images file `(N, H, W)` u8
//! and an IDX labels file `(N,)` u8, with the standard file names.
//!
//! Loaded datasets hold images scaled to `[0, 1]` with sample shape `(1, H, W)`, so batches are
//! `(B, 1, 28, 28)`; call [`InMemoryDataset::reshape_samples`] with `vec![784]` for `(B, 784)`.

use crate::dataset::{check_labels, InMemoryDataset};
use crate::error::{DataError, Result};
use crate::idx::{read_idx_rank, IdxArray};
use crate::transforms::scale_u8;
use std::path::{Path, PathBuf};

/// Which half of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set (`train-*`, 60,000 samples for MNIST).
    Train,
    /// The test set (`t10k-*`, 10,000 samples for MNIST).
    Test,
}

impl Split {
    /// The file-name prefix: `train` or `t10k`.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
    /// `train` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Reads an images file (rank 3, `(N, H, W)` u8) and a labels file (rank 1, `(N,)` u8),
/// checking that the counts match and that every label is in `0..num_classes`. Returns the raw
/// images and the labels as i64.
pub fn read_idx_pair(
    images_path: impl AsRef<Path>,
    labels_path: impl AsRef<Path>,
    num_classes: usize,
) -> Result<(IdxArray, Vec<i64>)> {
    let (ip, lp) = (images_path.as_ref(), labels_path.as_ref());
    let images = read_idx_rank(ip, 3, "images")?;
    let labels = read_idx_rank(lp, 1, "labels")?;
    if images.len() != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: ip.into(),
            images: images.len(),
            labels_path: lp.into(),
            labels: labels.len(),
        });
    }
    let labels: Vec<i64> = labels.data.iter().map(|&l| l as i64).collect();
    check_labels(&labels, num_classes, lp)?;
    Ok((images, labels))
}

/// Loads an images/labels IDX pair as an [`InMemoryDataset`] with sample shape `(1, H, W)` and
/// pixels scaled to `[0, 1]` (divided by 255).
pub fn load_idx_pair(
    images_path: impl AsRef<Path>,
    labels_path: impl AsRef<Path>,
    num_classes: usize,
) -> Result<InMemoryDataset> {
    let (images, labels) = read_idx_pair(images_path, labels_path, num_classes)?;
    let shape = vec![1, images.dims[1], images.dims[2]];
    InMemoryDataset::new(scale_u8(&images.data), shape, labels, num_classes)
}

/// MNIST and datasets in its layout (Fashion-MNIST uses the same file names).
#[derive(Clone, Copy, Debug)]
pub struct Mnist;

impl Mnist {
    /// The number of classes (10 for MNIST and Fashion-MNIST).
    pub const NUM_CLASSES: usize = 10;
    /// Image height and width.
    pub const SIZE: usize = 28;

    /// The MNIST copy shipped in the repository's `data/mnist` (a path into the source tree
    /// this crate was compiled from).
    pub fn shipped_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
    }

    /// The images and labels files of `split` in `dir`: for the training set
    /// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`, each raw or with `.gz` (also the
    /// `train-images.idx3-ubyte` spelling some mirrors use). Errors name the directory and the
    /// file names tried.
    pub fn files(dir: impl AsRef<Path>, split: Split) -> Result<(PathBuf, PathBuf)> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(DataError::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "dataset directory not found"),
            ));
        }
        let find = |kind: &str, idx: &str| -> Result<PathBuf> {
            let p = split.prefix();
            let tried = vec![
                format!("{p}-{kind}-{idx}-ubyte"),
                format!("{p}-{kind}-{idx}-ubyte.gz"),
                format!("{p}-{kind}.{idx}-ubyte"),
                format!("{p}-{kind}.{idx}-ubyte.gz"),
            ];
            tried
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.is_file())
                .ok_or_else(|| DataError::MissingFile {
                    dir: dir.into(),
                    what: format!("{} {kind} file", split.as_str()),
                    tried,
                })
        };
        Ok((find("images", "idx3")?, find("labels", "idx1")?))
    }

    /// Loads `split` from `dir` (MNIST or Fashion-MNIST alike): images `(N, 1, 28, 28)` in
    /// `[0, 1]`, labels in `0..10`.
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<InMemoryDataset> {
        let (images, labels) = Self::files(dir, split)?;
        load_idx_pair(images, labels, Self::NUM_CLASSES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::write_idx;
    use crate::testutil::TempDir;
    use crate::Dataset;

    #[test]
    fn loads_a_small_pair_and_validates() {
        let dir = TempDir::new("mnist-small");
        let d = dir.path();
        let px: Vec<u8> = (0..3 * 2 * 2).map(|i| (i * 20) as u8).collect();
        write_idx(d.join("train-images-idx3-ubyte.gz"), &[3, 2, 2], &px, true).unwrap();
        write_idx(d.join("train-labels-idx1-ubyte"), &[3], &[7, 0, 9], false).unwrap();
        let ds = Mnist::load(d, Split::Train).unwrap();
        assert_eq!((ds.len(), ds.sample_shape()), (3, vec![1, 2, 2]));
        assert_eq!(ds.labels(), &[7, 0, 9]);
        assert_eq!(ds.images()[1], 20.0 / 255.0);

        // the test split is missing: the error names the directory and the files tried
        let e = Mnist::load(d, Split::Test).unwrap_err().to_string();
        assert!(e.starts_with(&d.display().to_string()), "{e}");
        assert!(e.contains("missing test images file: looked for t10k-images-idx3-ubyte, t10k-images-idx3-ubyte.gz"), "{e}");
        let e = Mnist::load(d.join("nope"), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope: dataset directory not found"), "{e}");

        // label out of range
        write_idx(
            d.join("t10k-images-idx3-ubyte"),
            &[2, 2, 2],
            &px[..8],
            false,
        )
        .unwrap();
        write_idx(d.join("t10k-labels-idx1-ubyte"), &[2], &[3, 12], false).unwrap();
        let e = Mnist::load(d, Split::Test).unwrap_err().to_string();
        assert!(
            e.ends_with("t10k-labels-idx1-ubyte: label 12 at index 1 is not in 0..10"),
            "{e}"
        );

        // count mismatch
        write_idx(d.join("t10k-labels-idx1-ubyte"), &[3], &[3, 1, 2], false).unwrap();
        let e = Mnist::load(d, Split::Test).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::CountMismatch {
                    images: 2,
                    labels: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = e.to_string();
        assert!(
            e.contains("t10k-images-idx3-ubyte: 2 images, but")
                && e.contains("t10k-labels-idx1-ubyte: 3 labels"),
            "{e}"
        );

        // images and labels swapped: a rank error naming the file
        let e = load_idx_pair(
            d.join("t10k-labels-idx1-ubyte"),
            d.join("t10k-labels-idx1-ubyte"),
            10,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("wrong rank: header has 1 dims"), "{e}");
    }
}
