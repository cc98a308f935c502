//! The error type of the crate's file-producing functions. Every message names the file, and for
//! safetensors problems also the tensor, e.g.
//! `run/model.safetensors: tensor "fc.weight": data_offsets [0, 4096] run past the data (400 bytes)`.

use std::path::PathBuf;

/// Everything that can go wrong while saving or loading models, writing metrics or plotting.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An I/O error (create, write, fsync, rename, read) on `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A safetensors file (or a tensor list to be saved) that does not follow the format.
    #[error("{}: {msg}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the tensor when one is involved.
        msg: String,
    },
    /// A plot that could not be drawn.
    #[error("{}: plotting failed: {msg}", path.display())]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// The backend's message.
        msg: String,
    },
    /// A malformed metrics file.
    #[error("{}: line {line}: {msg}", path.display())]
    Metrics {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] deepnet_tensor::Error),
    /// Loading or batching data failed.
    #[error(transparent)]
    Data(#[from] deepnet_data::DataError),
    /// A bad training configuration (names the setting and what was expected).
    #[error("{0}")]
    Config(String),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The result type of this crate's file-producing functions.
pub type Result<T> = std::result::Result<T, TrainError>;
