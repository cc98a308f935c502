//! CIFAR-10 in its binary version (`cifar-10-batches-bin`): each file is a sequence of records of
//! 1 label byte (`0..=9`) and 3,072 pixel bytes, the 1,024 red values of the 32x32 image in
//! row-major order, then the green, then the blue ones; `batches.meta.txt` names the classes,
//! one per line. The training set is `data_batch_1.bin` ... `data_batch_5.bin` (10,000 records
//! each), the test set `test_batch.bin`.
//!
//! The records are exactly PyTorch's `(C, H, W)` layout, so an image is its 3,072 bytes as they
//! are: loaded datasets have sample shape `(3, 32, 32)` with pixels scaled to `[0, 1]`.

use crate::dataset::InMemoryDataset;
use crate::error::{DataError, Result};
use crate::file::{read_regular_file, MAX_FILE_BYTES};
use crate::mnist::Split;
use crate::transforms::scale_u8;
use std::path::{Path, PathBuf};

/// CIFAR-10 records as read: pixels `(N, 3, 32, 32)` u8 and labels in `0..10`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cifar10Records {
    /// `N * 3072` bytes, record after record, each `(3, 32, 32)` planar RGB
    pub images: Vec<u8>,
    /// `N` labels in `0..10`
    pub labels: Vec<i64>,
}

impl Cifar10Records {
    /// The number of records.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The 3,072 pixel bytes of record `i` (`(3, 32, 32)`); panics when `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * Cifar10::PIXELS..(i + 1) * Cifar10::PIXELS]
    }
}

/// Parses the bytes of a CIFAR-10 binary file (`path` labels errors): the size must be a whole,
/// non-zero number of 3,073-byte records and every label byte in `0..10`.
pub fn parse_cifar10(path: &Path, bytes: &[u8]) -> Result<Cifar10Records> {
    let rec = Cifar10::RECORD;
    if bytes.is_empty() || !bytes.len().is_multiple_of(rec) {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes are not a whole number of CIFAR-10 records of {rec} bytes (1 label + \
                 3072 pixels): {} records and {} bytes over",
                bytes.len(),
                bytes.len() / rec,
                bytes.len() % rec
            ),
        ));
    }
    let n = bytes.len() / rec;
    let mut images = Vec::with_capacity(n * Cifar10::PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, r) in bytes.chunks_exact(rec).enumerate() {
        if r[0] as usize >= Cifar10::NUM_CLASSES {
            return Err(DataError::format(
                path,
                format!(
                    "record {i} (byte {}): label {} is not in 0..10 (a CIFAR-100 file has 2 \
                     label bytes per record and is not read here)",
                    i * rec,
                    r[0]
                ),
            ));
        }
        labels.push(r[0] as i64);
        images.extend_from_slice(&r[1..]);
    }
    Ok(Cifar10Records { images, labels })
}

/// Reads a CIFAR-10 binary file (see [`parse_cifar10`]); errors name the file.
pub fn read_cifar10(path: impl AsRef<Path>) -> Result<Cifar10Records> {
    let path = path.as_ref();
    let bytes = read_regular_file(path, MAX_FILE_BYTES)?;
    parse_cifar10(path, &bytes)
}

/// Reads class names, one per line (`batches.meta.txt`): surrounding whitespace is trimmed and
/// trailing empty lines dropped; there must be `expected` names, none empty.
pub fn read_class_names(path: impl AsRef<Path>, expected: usize) -> Result<Vec<String>> {
    let path = path.as_ref();
    let bytes = read_regular_file(path, 1 << 20)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| DataError::format(path, format!("not UTF-8 text: {e}")))?;
    let mut names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while names.last().is_some_and(|l| l.is_empty()) {
        names.pop();
    }
    if let Some(i) = names.iter().position(|n| n.is_empty()) {
        return Err(DataError::parse(path, i + 1, "class name", "empty line"));
    }
    if names.len() != expected {
        return Err(DataError::format(
            path,
            format!("{} class names, expected {expected}", names.len()),
        ));
    }
    Ok(names)
}

/// CIFAR-10 from a `cifar-10-batches-bin` directory.
#[derive(Clone, Copy, Debug)]
pub struct Cifar10;

impl Cifar10 {
    /// 10 classes.
    pub const NUM_CLASSES: usize = 10;
    /// One sample, `[3, 32, 32]`.
    pub const SHAPE: [usize; 3] = [3, 32, 32];
    /// Pixel bytes per record.
    pub const PIXELS: usize = 3 * 32 * 32;
    /// Bytes per record (label and pixels).
    pub const RECORD: usize = 1 + Self::PIXELS;
    /// The class names, in label order (as `batches.meta.txt` lists them).
    pub const CLASS_NAMES: [&'static str; 10] = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];

    /// The binary files of `split` in `dir`: for the training set those of
    /// `data_batch_1.bin` ... `data_batch_5.bin` that exist (at least one; a subset of the
    /// official five is a smaller training set), for the test set `test_batch.bin`. Errors name
    /// the directory and the files looked for.
    pub fn files(dir: impl AsRef<Path>, split: Split) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        let names: Vec<String> = match split {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".into()],
        };
        let present: Vec<PathBuf> = names
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect();
        if present.is_empty() {
            return Err(DataError::MissingFile {
                dir: dir.into(),
                what: format!("CIFAR-10 {} batch", split.as_str()),
                tried: names,
            });
        }
        Ok(present)
    }

    /// Loads one binary file as a dataset: samples `(3, 32, 32)` in `[0, 1]`, labels `0..10`.
    pub fn load_file(path: impl AsRef<Path>) -> Result<InMemoryDataset> {
        let r = read_cifar10(path)?;
        InMemoryDataset::new(
            scale_u8(&r.images),
            Self::SHAPE.to_vec(),
            r.labels,
            Self::NUM_CLASSES,
        )
    }

    /// Loads `split` from `dir` (all its files, in order) as one dataset.
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<InMemoryDataset> {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for f in Self::files(dir, split)? {
            let r = read_cifar10(&f)?;
            images.extend_from_slice(&r.images);
            labels.extend(r.labels);
        }
        InMemoryDataset::new(
            scale_u8(&images),
            Self::SHAPE.to_vec(),
            labels,
            Self::NUM_CLASSES,
        )
    }

    /// The class names of `dir/batches.meta.txt` (10 of them).
    pub fn class_names(dir: impl AsRef<Path>) -> Result<Vec<String>> {
        read_class_names(dir.as_ref().join("batches.meta.txt"), Self::NUM_CLASSES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use crate::Dataset;

    /// `n` records: record i has label i % 10 and pixel j = (i + j) % 256.
    fn records(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                std::iter::once((i % 10) as u8)
                    .chain((0..Cifar10::PIXELS).map(move |j| ((i + j) % 256) as u8))
            })
            .collect()
    }

    #[test]
    fn records_parse_and_bad_sizes_and_labels_are_named() {
        let p = Path::new("x.bin");
        let r = parse_cifar10(p, &records(3)).unwrap();
        assert_eq!((r.len(), r.labels.clone()), (3, vec![0, 1, 2]));
        // the red plane first: pixel (c=0, y=0, x=1) of record 2 is byte 1 + 1 of the record
        assert_eq!(r.image(2)[1], 3);
        assert_eq!(r.image(1)[1024], ((1 + 1024) % 256) as u8);
        let e = parse_cifar10(p, &records(2)[..6000])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.bin: 6000 bytes are not a whole number of CIFAR-10 records of 3073 bytes \
             (1 label + 3072 pixels): 1 records and 2927 bytes over"
        );
        assert!(parse_cifar10(p, &[]).is_err());
        let mut bad = records(2);
        bad[3073] = 10;
        let e = parse_cifar10(p, &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("x.bin: record 1 (byte 3073): label 10 is not in 0..10"),
            "{e}"
        );
    }

    #[test]
    fn directories_files_and_class_names() {
        let dir = TempDir::new("cifar");
        let d = dir.path();
        std::fs::write(d.join("test_batch.bin"), records(4)).unwrap();
        let ds = Cifar10::load(d, Split::Test).unwrap();
        assert_eq!((ds.len(), ds.sample_shape()), (4, vec![3, 32, 32]));
        assert_eq!(ds.images()[1], 1.0 / 255.0);
        assert_eq!(Cifar10::load_file(d.join("test_batch.bin")).unwrap(), ds);
        let e = Cifar10::load(d, Split::Train).unwrap_err().to_string();
        assert!(
            e.contains("missing CIFAR-10 train batch: looked for data_batch_1.bin, "),
            "{e}"
        );
        // whichever training batches exist, in order
        std::fs::write(d.join("data_batch_3.bin"), records(3)).unwrap();
        std::fs::write(d.join("data_batch_1.bin"), records(2)).unwrap();
        let files = Cifar10::files(d, Split::Train).unwrap();
        assert_eq!(
            files,
            [d.join("data_batch_1.bin"), d.join("data_batch_3.bin")]
        );
        assert_eq!(Cifar10::load(d, Split::Train).unwrap().len(), 5);
        std::fs::write(d.join("batches.meta.txt"), "a\nb\n\n").unwrap();
        assert_eq!(
            read_class_names(d.join("batches.meta.txt"), 2).unwrap(),
            ["a", "b"]
        );
        let e = Cifar10::class_names(d).unwrap_err().to_string();
        assert!(
            e.ends_with("batches.meta.txt: 2 class names, expected 10"),
            "{e}"
        );
        std::fs::write(d.join("batches.meta.txt"), "a\n\nb\n").unwrap();
        let e = Cifar10::class_names(d).unwrap_err().to_string();
        assert!(
            e.ends_with("batches.meta.txt:2: class name: empty line"),
            "{e}"
        );
    }
}
