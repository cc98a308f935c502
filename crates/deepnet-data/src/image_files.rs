//! Image files (PNG and JPEG, decoded by the `image` crate) as model inputs, and the
//! image-folder layout of a labelled dataset (one subfolder per class, as torchvision's
//! `ImageFolder`).
//!
//! An image becomes `(C, H, W)` planar pixels ([`PlanarImage`], u8) or an f32 tensor in `[0, 1]`
//! ([`load_image`]), converted to the channel count a model takes ([`ImageSpec::channels`]: 1 or
//! 3) and resized to its input size ([`ImageSpec::size`]):
//!
//! - gray to RGB repeats the gray value; RGB to gray is the ITU-R BT.601 luma
//!   `(299 R + 587 G + 114 B) / 1000`, rounded (as PIL's `convert("L")` and OpenCV's
//!   `COLOR_RGB2GRAY`); an alpha channel is dropped; 16-bit images are reduced to 8 bits;
//! - resizing is bilinear (the `image` crate's `Triangle` filter), done after the channel
//!   conversion, and skipped when the size already fits.
//!
//! Files are read through [`crate::read_regular_file`] and decoded under limits (at most
//! [`MAX_SIDE`] pixels a side, 512 MiB of decoder memory); every error names the file.

use crate::dataset::{batch_tensors, Dataset, InMemoryDataset};
use crate::error::{DataError, Result};
use crate::file::read_regular_file;
use crate::transforms::scale_u8;
use deepnet_tensor::Tensor;
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// The largest width or height accepted from a file.
pub const MAX_SIDE: u32 = 16_384;

/// The largest image file read, in bytes.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// The file extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Whether `path` has an image extension (`.png`, `.jpg`, `.jpeg`, any case).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// What images are turned into: `channels` (1 gray, 3 RGB) and, when given, the size
/// `(H, W)` they are resized to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    /// 1 (gray) or 3 (RGB)
    pub channels: usize,
    /// `(height, width)` to resize to, or `None` to keep each image's size
    pub size: Option<(usize, usize)>,
}

impl ImageSpec {
    /// The spec of a model input `[C, H, W]`.
    pub fn for_input(input: &[usize]) -> Result<Self> {
        match input {
            &[c, h, w] if (c == 1 || c == 3) && h > 0 && w > 0 => Ok(ImageSpec {
                channels: c,
                size: Some((h, w)),
            }),
            _ => Err(DataError::invalid(
                "ImageSpec::for_input",
                format!("images give inputs [1 or 3, H, W], not {input:?}"),
            )),
        }
    }

    fn check(&self, op: &'static str) -> Result<()> {
        let size_ok = self.size.is_none_or(|(h, w)| {
            h > 0 && w > 0 && h <= MAX_SIDE as usize && w <= MAX_SIDE as usize
        });
        if (self.channels == 1 || self.channels == 3) && size_ok {
            Ok(())
        } else {
            Err(DataError::invalid(
                op,
                format!("{self:?}: channels must be 1 or 3 and sizes in 1..={MAX_SIDE}"),
            ))
        }
    }
}

/// An 8-bit image in `(C, H, W)` planar order, as CIFAR-10 records and PyTorch tensors hold
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanarImage {
    /// 1 or 3
    pub channels: usize,
    /// rows
    pub height: usize,
    /// columns
    pub width: usize,
    /// `channels * height * width` bytes, channel after channel
    pub data: Vec<u8>,
}

impl PlanarImage {
    /// An image from planar bytes; the length must be `channels * height * width` (1 or 3
    /// channels).
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<u8>) -> Result<Self> {
        let n = channels
            .checked_mul(height)
            .and_then(|v| v.checked_mul(width));
        if !(channels == 1 || channels == 3) || n != Some(data.len()) || data.is_empty() {
            return Err(DataError::invalid(
                "PlanarImage::new",
                format!(
                    "{} bytes for a {channels} x {height} x {width} image (1 or 3 channels)",
                    data.len()
                ),
            ));
        }
        Ok(PlanarImage {
            channels,
            height,
            width,
            data,
        })
    }

    /// `[C, H, W]`.
    pub fn shape(&self) -> Vec<usize> {
        vec![self.channels, self.height, self.width]
    }

    /// The image converted to `spec.channels` and resized to `spec.size` (see the module docs).
    pub fn convert(&self, spec: ImageSpec) -> Result<PlanarImage> {
        spec.check("PlanarImage::convert")?;
        let (h, w) = (self.height, self.width);
        let plane = h * w;
        let gray = |i: usize| -> u8 {
            if self.channels == 1 {
                self.data[i]
            } else {
                luma601(self.data[i], self.data[plane + i], self.data[2 * plane + i])
            }
        };
        let dims = (w as u32, h as u32);
        let size = spec.size.unwrap_or((h, w));
        let data = if spec.channels == 1 {
            let img = GrayImage::from_fn(dims.0, dims.1, |x, y| {
                image::Luma([gray(y as usize * w + x as usize)])
            });
            resize(DynamicImage::ImageLuma8(img), size)
                .to_luma8()
                .into_raw()
        } else {
            let img = RgbImage::from_fn(dims.0, dims.1, |x, y| {
                let i = y as usize * w + x as usize;
                if self.channels == 1 {
                    image::Rgb([self.data[i]; 3])
                } else {
                    image::Rgb([self.data[i], self.data[plane + i], self.data[2 * plane + i]])
                }
            });
            let rgb = resize(DynamicImage::ImageRgb8(img), size)
                .to_rgb8()
                .into_raw();
            // interleaved RGB to planar
            (0..3)
                .flat_map(|c| rgb.iter().skip(c).step_by(3).copied().collect::<Vec<_>>())
                .collect()
        };
        PlanarImage::new(spec.channels, size.0, size.1, data)
    }

    /// The pixels scaled to `[0, 1]` as a `(C, H, W)` f32 tensor.
    pub fn to_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_vec(scale_u8(&self.data), self.shape())?)
    }
}

/// BT.601 luma of 8-bit RGB, rounded to the nearest integer.
fn luma601(r: u8, g: u8, b: u8) -> u8 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u8
}

/// `img` resized to `(h, w)` bilinearly, or itself when it has that size.
fn resize(img: DynamicImage, (h, w): (usize, usize)) -> DynamicImage {
    if (img.height() as usize, img.width() as usize) == (h, w) {
        img
    } else {
        img.resize_exact(w as u32, h as u32, FilterType::Triangle)
    }
}

/// Decodes PNG or JPEG `bytes` (`path` labels errors; the format is recognized from the bytes)
/// and converts the image by `spec`.
pub fn decode_image(path: &Path, bytes: &[u8], spec: ImageSpec) -> Result<PlanarImage> {
    if spec != NATIVE {
        spec.check("decode_image")?;
    }
    let bad = |m: String| DataError::format(path, m);
    let mut reader = image::io::Reader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(format!("cannot read the image: {e}")))?;
    match reader.format() {
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg) => {}
        other => {
            return Err(bad(format!(
                "not a PNG or JPEG image (recognized: {})",
                other.map_or("nothing".to_string(), |f| format!("{f:?}"))
            )))
        }
    }
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| bad(format!("cannot decode the image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(bad(format!("the image is {w}x{h}")));
    }
    let gray_source = !img.color().has_color();
    // both source kinds go through planar u8 so that the conversions are those of `convert`
    let planar = if gray_source {
        PlanarImage::new(1, h, w, img.to_luma8().into_raw())?
    } else {
        let rgb = img.to_rgb8().into_raw();
        let data = (0..3)
            .flat_map(|c| rgb.iter().skip(c).step_by(3).copied().collect::<Vec<_>>())
            .collect();
        PlanarImage::new(3, h, w, data)?
    };
    match spec {
        NATIVE => Ok(planar),
        spec => planar.convert(spec),
    }
}

/// Marks "no conversion" for [`decode_image`] (channels 0 is no valid spec otherwise).
const NATIVE: ImageSpec = ImageSpec {
    channels: 0,
    size: None,
};

/// Reads and decodes the PNG or JPEG file `path` as it is stored: 1 channel for a gray image, 3
/// for a color one (alpha dropped, 16 bits reduced to 8), at its own size.
pub fn load_image_native(path: impl AsRef<Path>) -> Result<PlanarImage> {
    let path = path.as_ref();
    let bytes = read_regular_file(path, MAX_IMAGE_FILE_BYTES)?;
    decode_image(path, &bytes, NATIVE)
}

/// Reads and decodes the PNG or JPEG file `path`, converted by `spec`.
pub fn load_image_u8(path: impl AsRef<Path>, spec: ImageSpec) -> Result<PlanarImage> {
    let path = path.as_ref();
    let bytes = read_regular_file(path, MAX_IMAGE_FILE_BYTES)?;
    decode_image(path, &bytes, spec)
}

/// Reads the PNG or JPEG file `path` as a `(C, H, W)` f32 tensor in `[0, 1]`, converted by
/// `spec`.
pub fn load_image(path: impl AsRef<Path>, spec: ImageSpec) -> Result<Tensor> {
    load_image_u8(path, spec)?.to_tensor()
}

/// The image files (by extension) directly in `dir`, sorted by name. Errors name the folder.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| p.is_file() && is_image_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// The image-folder layout of `root` (`root/<class>/<image>`): the class names (the
/// subfolders, sorted) and every image file with its class index (classes in order, files sorted
/// within each). Errors name the folder when it has no class subfolder or no image.
#[allow(clippy::type_complexity)]
pub fn list_image_folder(root: &Path) -> Result<(Vec<String>, Vec<(PathBuf, i64)>)> {
    let mut classes: Vec<String> = Vec::new();
    for e in std::fs::read_dir(root).map_err(|e| DataError::io(root, e))? {
        let p = e.map_err(|e| DataError::io(root, e))?.path();
        if p.is_dir() {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| DataError::format(&p, "a class folder name must be UTF-8"))?;
            classes.push(name.to_string());
        }
    }
    classes.sort();
    if classes.is_empty() {
        return Err(DataError::format(
            root,
            "no class subfolders (expected root/<class>/<image>.png)",
        ));
    }
    let mut samples = Vec::new();
    for (i, c) in classes.iter().enumerate() {
        for f in list_images(&root.join(c))? {
            samples.push((f, i as i64));
        }
    }
    if samples.is_empty() {
        return Err(DataError::format(
            root,
            format!(
                "no PNG or JPEG images in its {} class folders",
                classes.len()
            ),
        ));
    }
    Ok((classes, samples))
}

/// A labelled dataset in the image-folder layout: `root/<class>/<image>`, one subfolder per
/// class. Classes are the subfolder names sorted (class `i` is the `i`-th name), images within
/// a class are sorted by file name; files other than PNG/JPEG are ignored. Images are decoded
/// when asked for ([`Dataset::get`]) or all at once ([`ImageFolder::load_all`]), each converted
/// by the spec, which must give a size so that every sample has the same shape.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    samples: Vec<(PathBuf, i64)>,
    spec: ImageSpec,
    shape: Vec<usize>,
}

impl ImageFolder {
    /// Lists `root`: an error names the folder when it has no class subfolder or no image.
    pub fn new(root: impl AsRef<Path>, spec: ImageSpec) -> Result<Self> {
        let root = root.as_ref();
        spec.check("ImageFolder::new")?;
        let Some((h, w)) = spec.size else {
            return Err(DataError::invalid(
                "ImageFolder::new",
                "the spec must give a size (H, W): a dataset's samples share one shape",
            ));
        };
        let (classes, samples) = list_image_folder(root)?;
        Ok(ImageFolder {
            root: root.into(),
            classes,
            samples,
            spec,
            shape: vec![spec.channels, h, w],
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The class names, sorted; class `i` is `classes()[i]`.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }
    /// Every image file with its class, in dataset order.
    pub fn samples(&self) -> &[(PathBuf, i64)] {
        &self.samples
    }

    /// Decodes every image into an [`InMemoryDataset`] (pixels in `[0, 1]`); the first file that
    /// fails is the error.
    pub fn load_all(&self) -> Result<InMemoryDataset> {
        let per: usize = self.shape.iter().product();
        let mut images = Vec::with_capacity(self.samples.len() * per);
        for (p, _) in &self.samples {
            images.extend(scale_u8(&load_image_u8(p, self.spec)?.data));
        }
        let labels = self.samples.iter().map(|(_, l)| *l).collect();
        InMemoryDataset::new(images, self.shape.clone(), labels, self.classes.len())
    }
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn sample_shape(&self) -> Vec<usize> {
        self.shape.clone()
    }
    fn num_classes(&self) -> Option<usize> {
        Some(self.classes.len())
    }
    fn get(&self, i: usize) -> Result<(Tensor, i64)> {
        let (p, label) = self.samples.get(i).ok_or(DataError::IndexOutOfRange {
            op: "get",
            index: i,
            len: self.samples.len(),
        })?;
        Ok((load_image(p, self.spec)?, *label))
    }
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let mut images = Vec::new();
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let (p, label) = self.samples.get(i).ok_or(DataError::IndexOutOfRange {
                op: "get_batch",
                index: i,
                len: self.samples.len(),
            })?;
            images.extend(scale_u8(&load_image_u8(p, self.spec)?.data));
            labels.push(*label);
        }
        batch_tensors(images, &self.shape, labels)
    }
}

#[cfg(test)]
#[path = "image_files_tests.rs"]
mod tests;
