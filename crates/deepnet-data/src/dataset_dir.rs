//! A dataset directory as people have them, recognized by its content: IDX files (MNIST's
//! layout), an image-folder tree with a `train` and a `test` split (`DIR/train/<class>/*.png`,
//! `DIR/test/<class>/*.jpg`, classes as torchvision's `ImageFolder` sorts them), or CIFAR-10's
//! binary batches (`data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`).
//!
//! [`load_dir_split`] loads one split into memory with pixels in `[0, 1]`, `(C, H, W)` per
//! sample. Image folders and CIFAR-10 records can be converted ([`ImageOptions`]): to 1 or 3
//! channels and to another size. Without a size, every image of an image folder must have the
//! size of the first training image (an image of another size is an error naming the file). The
//! number of values is checked against [`MAX_DATASET_VALUES`] before anything is allocated.

use crate::cifar::{read_cifar10, Cifar10};
use crate::dataset::InMemoryDataset;
use crate::error::{DataError, Result};
use crate::image_files::{list_image_folder, load_image_native, ImageSpec, PlanarImage};
use crate::mnist::{Mnist, Split};
use crate::transforms::scale_u8;
use std::path::Path;

/// The most f32 values one split may hold in memory (2^30, 4 GiB; CIFAR-10's 50,000 training
/// images are 153.6 M).
pub const MAX_DATASET_VALUES: usize = 1 << 30;

/// What a dataset directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetFormat {
    /// MNIST's IDX files (`train-images-idx3-ubyte[.gz]`, ...)
    Idx,
    /// `train/<class>/<image>` and `test/<class>/<image>` (PNG or JPEG)
    ImageFolder,
    /// CIFAR-10's binary batches
    Cifar10,
}

impl DatasetFormat {
    /// A short name: `idx`, `image-folder` or `cifar10`.
    pub fn name(self) -> &'static str {
        match self {
            DatasetFormat::Idx => "idx",
            DatasetFormat::ImageFolder => "image-folder",
            DatasetFormat::Cifar10 => "cifar10",
        }
    }
}

/// What the three formats look like, for errors.
const EXPECTED: &str = "expected IDX files (train-images-idx3-ubyte[.gz], \
train-labels-idx1-ubyte[.gz], t10k-...), an image folder (DIR/train/<class>/*.png|jpg and \
DIR/test/<class>/...), or CIFAR-10 binaries (data_batch_1.bin ... data_batch_5.bin, \
test_batch.bin)";

/// Recognizes the format of `dir` by the files in it; an error names the directory and the
/// three layouts it could have.
pub fn detect_format(dir: &Path) -> Result<DatasetFormat> {
    if !dir.is_dir() {
        return Err(DataError::format(
            dir,
            format!("not a directory: {EXPECTED}"),
        ));
    }
    if [Split::Train, Split::Test]
        .iter()
        .any(|&s| Mnist::files(dir, s).is_ok())
    {
        return Ok(DatasetFormat::Idx);
    }
    if [Split::Train, Split::Test]
        .iter()
        .any(|&s| Cifar10::files(dir, s).is_ok())
    {
        return Ok(DatasetFormat::Cifar10);
    }
    if dir.join("train").is_dir() || dir.join("test").is_dir() {
        return Ok(DatasetFormat::ImageFolder);
    }
    Err(DataError::format(
        dir,
        format!("holds no dataset I recognize: {EXPECTED}"),
    ))
}

/// How images become samples: `None` keeps what the data has (an image folder: the first
/// training image's channels and size; CIFAR-10: 3 x 32 x 32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// 1 (gray) or 3 (RGB)
    pub channels: Option<usize>,
    /// `(height, width)` every image is resized to
    pub size: Option<(usize, usize)>,
}

impl ImageOptions {
    /// Whether nothing is asked for.
    pub fn is_default(&self) -> bool {
        self.channels.is_none() && self.size.is_none()
    }
}

/// One split of a dataset directory, in memory.
#[derive(Clone, Debug)]
pub struct DirSplit {
    /// the samples, `(C, H, W)` in `[0, 1]`
    pub data: InMemoryDataset,
    /// the class names, class `i` first (IDX files: `"0"` to `"9"`)
    pub classes: Vec<String>,
    /// what the directory holds
    pub format: DatasetFormat,
}

/// Loads `split` of the dataset directory `dir` (format recognized by [`detect_format`]),
/// converted by `opts`, which IDX files do not take (an error). Errors name the directory or
/// the file.
pub fn load_dir_split(dir: &Path, split: Split, opts: ImageOptions) -> Result<DirSplit> {
    let format = detect_format(dir)?;
    let (data, classes) = match format {
        DatasetFormat::Idx => {
            if !opts.is_default() {
                return Err(DataError::invalid(
                    "load_dir_split",
                    format!(
                        "{}: IDX files are read as they are; image options {opts:?} apply to \
                         image folders and CIFAR-10 binaries",
                        dir.display()
                    ),
                ));
            }
            let classes = (0..Mnist::NUM_CLASSES).map(|c| c.to_string()).collect();
            (Mnist::load(dir, split)?, classes)
        }
        DatasetFormat::Cifar10 => (load_cifar(dir, split, opts)?, cifar_classes(dir)),
        DatasetFormat::ImageFolder => load_image_folder_split(dir, split, opts)?,
    };
    Ok(DirSplit {
        data,
        classes,
        format,
    })
}

/// The class names of a CIFAR-10 directory: its `batches.meta.txt` when readable, else the
/// official ten.
fn cifar_classes(dir: &Path) -> Vec<String> {
    Cifar10::class_names(dir)
        .unwrap_or_else(|_| Cifar10::CLASS_NAMES.iter().map(|s| s.to_string()).collect())
}

/// Checks that `count` samples of `shape` fit [`MAX_DATASET_VALUES`]; returns the values per
/// sample.
fn check_size(what: &Path, count: usize, shape: &[usize]) -> Result<usize> {
    let per = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match per.and_then(|p| p.checked_mul(count).map(|n| (p, n))) {
        Some((p, n)) if n <= MAX_DATASET_VALUES => Ok(p),
        _ => Err(DataError::format(
            what,
            format!(
                "{count} samples of shape {shape:?} are more than the {MAX_DATASET_VALUES} \
                 values a split may hold in memory"
            ),
        )),
    }
}

/// CIFAR-10's split, converted by `opts` when it asks for anything.
fn load_cifar(dir: &Path, split: Split, opts: ImageOptions) -> Result<InMemoryDataset> {
    if opts.is_default() {
        return Cifar10::load(dir, split);
    }
    let spec = ImageSpec {
        channels: opts.channels.unwrap_or(3),
        size: Some(opts.size.unwrap_or((32, 32))),
    };
    let (h, w) = spec.size.unwrap_or((32, 32));
    let shape = vec![spec.channels, h, w];
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for f in Cifar10::files(dir, split)? {
        let r = read_cifar10(&f)?;
        let per = check_size(&f, labels.len() + r.len(), &shape)?;
        images.reserve(r.len() * per);
        for i in 0..r.len() {
            let img = PlanarImage::new(3, 32, 32, r.image(i).to_vec())?.convert(spec)?;
            images.extend(scale_u8(&img.data));
        }
        labels.extend(r.labels);
    }
    InMemoryDataset::new(images, shape, labels, Cifar10::NUM_CLASSES)
}

/// The image-folder split `dir/<split>` (`train` or `test`): class names sorted; when both
/// splits are there their class lists must be equal. Channels and size default to those of the
/// first training image (the first test image when there is no `train`); without a size in
/// `opts`, an image of another size is an error naming it.
fn load_image_folder_split(
    dir: &Path,
    split: Split,
    opts: ImageOptions,
) -> Result<(InMemoryDataset, Vec<String>)> {
    let root = dir.join(split.as_str());
    if !root.is_dir() {
        return Err(DataError::format(
            dir,
            format!(
                "an image folder without its {} split: expected {}/<class>/<image>.png",
                split.as_str(),
                root.display()
            ),
        ));
    }
    let (classes, samples) = list_image_folder(&root)?;
    let train_root = dir.join(Split::Train.as_str());
    let first = if split == Split::Test && train_root.is_dir() {
        let (train_classes, train_samples) = list_image_folder(&train_root)?;
        if train_classes != classes {
            return Err(DataError::format(
                &root,
                format!(
                    "its classes {classes:?} differ from those of {} {train_classes:?}: both \
                     splits need the same class folders",
                    train_root.display()
                ),
            ));
        }
        train_samples[0].0.clone()
    } else {
        samples[0].0.clone()
    };
    let reference = load_image_native(&first)?;
    let channels = opts.channels.unwrap_or(reference.channels);
    let (h, w) = opts.size.unwrap_or((reference.height, reference.width));
    let spec = ImageSpec {
        channels,
        size: Some((h, w)),
    };
    let shape = vec![channels, h, w];
    let per = check_size(&root, samples.len(), &shape)?;
    let mut images = Vec::with_capacity(samples.len() * per);
    for (path, _) in &samples {
        let img = load_image_native(path)?;
        if opts.size.is_none() && (img.height, img.width) != (h, w) {
            return Err(DataError::format(
                path,
                format!(
                    "the image is {}x{} (HxW) but {} is {h}x{w}: give a size to resize every \
                     image to (--image-size HxW)",
                    img.height,
                    img.width,
                    first.display()
                ),
            ));
        }
        images.extend(scale_u8(&img.convert(spec)?.data));
    }
    let labels = samples.iter().map(|(_, l)| *l).collect();
    let n = classes.len();
    Ok((InMemoryDataset::new(images, shape, labels, n)?, classes))
}

#[cfg(test)]
#[path = "dataset_dir_tests.rs"]
mod tests;
