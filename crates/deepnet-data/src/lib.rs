//! # deepnet-data
//!
//! Datasets, data loaders, transforms and file formats for deepnet.
//!
//! - [`idx`]: the IDX format of MNIST (raw or gzip), strictly validated.
//! - [`Dataset`]: batch-first datasets; [`InMemoryDataset`] holds a whole set as one f32 buffer.
//! - [`Mnist`]: MNIST and Fashion-MNIST from a directory with the standard file names.
//! - [`cifar`]: CIFAR-10's binary format ([`Cifar10`]).
//! - [`image_files`]: PNG and JPEG files, converted (gray/RGB) and resized to a model's input,
//!   and the image-folder layout of a labelled dataset ([`ImageFolder`]).
//! - [`transforms`]: scaling, normalization, Gaussian noise (seeded); [`augment`]: random crops
//!   with padding and horizontal flips as seeded batch transforms.
//! - [`DataLoader`]: seeded per-epoch shuffling, `drop_last`, background prefetching.
//! - [`sequence`]: right-padded sequence datasets that keep the true lengths
//!   ([`SequenceDataset`], [`SequenceBatch`]) and how they reach a recurrent layer.
//! - [`text`]: character-level language-model windows over a text ([`CharVocab`],
//!   [`CharLmDataset`]).
//! - [`ucr`]: the UCR/UEA time-series archive (`.ts` and UCR-2018 `.tsv`), [`TimeSeriesDataset`].
//! - [`reviews`]: the fine-food reviews CSV as word-id sequences ([`WordVocab`],
//!   [`ReviewsDataset`]).
//!
//! Shape contract: a batch is images `(B, *sample_shape)` f32 and labels `(B,)` i64; MNIST samples
//! are `(1, 28, 28)`, so MNIST batches are `(B, 1, 28, 28)` (or `(B, 784)` after
//! [`InMemoryDataset::reshape_samples`]).
//!
//! ```no_run
//! use deepnet_data::{DataLoader, Mnist, Split};
//! use std::sync::Arc;
//! let train = Mnist::load(Mnist::shipped_dir(), Split::Train)?; // (60000, 1, 28, 28) in [0, 1]
//! let loader = DataLoader::new(Arc::new(train), 64)?.shuffle(true).seed(0);
//! for batch in loader.iter_epoch(0) {
//!     let (images, labels) = batch?; // (64, 1, 28, 28) f32, (64,) i64
//! #   let _ = (images, labels);
//! }
//! # Ok::<(), deepnet_data::DataError>(())
//! ```

#![warn(missing_docs)]

pub mod augment;
pub mod cifar;
mod dataset;
pub mod dataset_dir;
mod error;
pub mod file;
pub mod idx;
pub mod image_files;
mod loader;
mod mnist;
pub mod reviews;
pub mod sequence;
pub mod text;
pub mod transforms;
pub mod ucr;

pub use augment::Augment;
pub use cifar::{read_cifar10, Cifar10, Cifar10Records};
pub use dataset::{Dataset, InMemoryDataset};
pub use dataset_dir::{detect_format, load_dir_split, DatasetFormat, DirSplit, ImageOptions};
pub use error::{DataError, Result};
pub use file::{read_regular_file, MAX_FILE_BYTES};
pub use idx::{read_idx, write_idx, IdxArray};
pub use image_files::{
    load_image, load_image_native, load_image_u8, ImageFolder, ImageSpec, PlanarImage,
};
pub use loader::{epoch_seed, Batch, BatchTransform, Batches, DataLoader};
pub use mnist::{load_idx_pair, read_idx_pair, Mnist, Split};
pub use reviews::{load_reviews, tokenize, ReviewsConfig, ReviewsDataset, WordVocab};
pub use sequence::{PaddedSequences, SequenceBatch, SequenceDataset};
pub use text::{load_text, CharLmConfig, CharLmDataset, CharVocab};
pub use ucr::{load_ucr, load_ucr_tsv, load_ucr_with, TimeSeriesDataset, UcrOptions};

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};

    /// A fresh directory under the system temp dir, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("deepnet-data-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
