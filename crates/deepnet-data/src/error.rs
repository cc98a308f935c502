//! Errors are values: every fallible function of this crate returns [`Result`], and each message
//! names the file, the field and what was expected, e.g.
//! `data/mnist/train-images-idx3-ubyte.gz: bad magic 0x00000000, expected 0x00000803 (u8 images, 3 dims)`.

use std::path::PathBuf;

/// Everything that can go wrong while reading, validating or batching data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O error (open, read, gunzip, write) on `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file shorter than its fixed-size header.
    #[error("{}: truncated header: {what} needs {expected} bytes, file has {got}", path.display())]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Which header (`IDX magic`, `IDX dimensions (3 x u32)`).
        what: String,
        /// Bytes the header needs.
        expected: usize,
        /// Bytes the file has.
        got: usize,
    },
    /// A magic number that is not the expected one.
    #[error("{}: bad magic 0x{got:08x}, expected {expected}", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The big-endian magic read from the file.
        got: u32,
        /// What was expected, e.g. `0x00000803 (u8 images, 3 dims)`.
        expected: String,
    },
    /// A valid IDX element type that this reader does not support.
    #[error("{}: unsupported IDX element type 0x{code:02x} ({name}), expected 0x08 (u8)", path.display())]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The type byte of the magic.
        code: u8,
        /// Its IDX name (`i8`, `i16`, `i32`, `f32`, `f64`).
        name: &'static str,
    },
    /// A header whose number of dimensions is not the expected one.
    #[error("{}: wrong rank: header has {got} dims (magic 0x{magic:08x}), expected {expected}", path.display())]
    Rank {
        /// The file.
        path: PathBuf,
        /// The rank in the header.
        got: usize,
        /// The magic read.
        magic: u32,
        /// What was expected, e.g. `3 (u8 images, magic 0x00000803)`.
        expected: String,
    },
    /// A dimension of size zero where a positive size is required.
    #[error("{}: dimension {dim} of {dims} is 0, expected a positive size", path.display())]
    ZeroDim {
        /// The file.
        path: PathBuf,
        /// Which dimension (0-based).
        dim: usize,
        /// All dimensions, as `60000 x 28 x 0`.
        dims: String,
    },
    /// A payload shorter than the header promises.
    #[error("{}: truncated: header says {dims} = {expected} bytes of data, file has {got}{gz}", path.display(), gz = if *gzip { " (after gunzip)" } else { "" })]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The dimensions, as `60000 x 28 x 28`.
        dims: String,
        /// Payload bytes the header promises.
        expected: usize,
        /// Payload bytes present.
        got: usize,
        /// Whether the counts are of decompressed bytes.
        gzip: bool,
    },
    /// Bytes after the payload the header describes.
    #[error("{}: trailing bytes: header says {dims} = {expected} bytes of data, file has {got} ({extra} extra){gz}", path.display(), extra = got - expected, gz = if *gzip { " (after gunzip)" } else { "" })]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// The dimensions, as `60000 x 28 x 28`.
        dims: String,
        /// Payload bytes the header promises.
        expected: usize,
        /// Payload bytes present.
        got: usize,
        /// Whether the counts are of decompressed bytes.
        gzip: bool,
    },
    /// Dimensions whose product does not fit in memory.
    #[error("{}: dimensions {dims} overflow the address space", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The dimensions.
        dims: String,
    },
    /// A class label outside `0..num_classes`.
    #[error("{}: label {label} at index {index} is not in 0..{num_classes}", path.display())]
    LabelOutOfRange {
        /// The labels file (or `<memory>` for in-memory data).
        path: PathBuf,
        /// The label.
        label: i64,
        /// Its sample index.
        index: usize,
        /// The number of classes.
        num_classes: usize,
    },
    /// An images file and a labels file with different sample counts.
    #[error("{}: {images} images, but {}: {labels} labels (counts must match)", images_path.display(), labels_path.display())]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// Its sample count.
        images: usize,
        /// The labels file.
        labels_path: PathBuf,
        /// Its sample count.
        labels: usize,
    },
    /// A dataset directory without one of its files.
    #[error("{}: missing {what}: looked for {}", dir.display(), tried.join(", "))]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// Which file, e.g. `MNIST train images`.
        what: String,
        /// The file names tried.
        tried: Vec<String>,
    },
    /// A text file (a `.ts`/`.tsv` series file, a CSV file, a text corpus) with a bad line:
    /// `{path}:{line}: {field}: {msg}`, e.g.
    /// `GunPoint_TRAIN.ts:20: value 3 of dimension 0: "1.5x" is not a number`.
    #[error("{}:{line}: {field}: {msg}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line (1-based) where the problem is, or where the record holding it starts.
        line: usize,
        /// The field: a header key (`@seriesLength`), a column (`label`), `value 3 of dimension 0`.
        field: String,
        /// What was wrong and what was expected.
        msg: String,
    },
    /// A file whose content is not in the expected format (a binary record layout, an image
    /// that does not decode): `{path}: {msg}`.
    #[error("{}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong and what was expected.
        msg: String,
    },
    /// A bad argument (zero batch size, non-positive std, mismatched lengths, ...).
    #[error("{op}: {msg}")]
    InvalidArgument {
        /// The function.
        op: &'static str,
        /// What was wrong and what was expected.
        msg: String,
    },
    /// A sample index outside the dataset.
    #[error("{op}: index {index} is out of range for a dataset of {len} samples")]
    IndexOutOfRange {
        /// The function.
        op: &'static str,
        /// The index.
        index: usize,
        /// The dataset length.
        len: usize,
    },
    /// The data loader's prefetch thread panicked (a bug in a dataset or transform).
    #[error("data loader: the prefetch thread panicked: {0}")]
    WorkerPanicked(String),
    /// An error from a tensor operation.
    #[error(transparent)]
    Tensor(#[from] deepnet_tensor::Error),
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse error at `line` (1-based) of `path` in `field`.
    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        line: usize,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        DataError::Parse {
            path: path.into(),
            line,
            field: field.into(),
            msg: msg.into(),
        }
    }

    /// A format error in `path`.
    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }

    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        DataError::InvalidArgument {
            op,
            msg: msg.into(),
        }
    }
}

/// Dimensions written as `60000 x 28 x 28`.
pub(crate) fn fmt_dims(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, DataError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_field_and_expectation() {
        let e = DataError::BadMagic {
            path: "data/mnist/train-images-idx3-ubyte.gz".into(),
            got: 0,
            expected: "0x00000803 (u8 images, 3 dims)".into(),
        };
        assert_eq!(
            e.to_string(),
            "data/mnist/train-images-idx3-ubyte.gz: bad magic 0x00000000, expected 0x00000803 (u8 images, 3 dims)"
        );
        let e = DataError::Truncated {
            path: "x.idx".into(),
            dims: fmt_dims(&[60000, 28, 28]),
            expected: 47_040_000,
            got: 1000,
            gzip: false,
        };
        assert_eq!(
            e.to_string(),
            "x.idx: truncated: header says 60000 x 28 x 28 = 47040000 bytes of data, file has 1000"
        );
        let e = DataError::LabelOutOfRange {
            path: "l.idx".into(),
            label: 12,
            index: 5,
            num_classes: 10,
        };
        assert_eq!(e.to_string(), "l.idx: label 12 at index 5 is not in 0..10");
        let e = DataError::parse(
            "d/GunPoint_TRAIN.ts",
            20,
            "value 3 of dimension 0",
            "\"1.5x\" is not a number",
        );
        assert_eq!(
            e.to_string(),
            "d/GunPoint_TRAIN.ts:20: value 3 of dimension 0: \"1.5x\" is not a number"
        );
        let t: DataError = deepnet_tensor::Error::msg("boom").into();
        assert_eq!(t.to_string(), "boom");
    }
}
