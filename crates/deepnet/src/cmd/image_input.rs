//! Images a user has, for `predict --images PATH`: a CIFAR-10 binary file, a PNG or JPEG file,
//! or a folder of them (image files directly inside, or one subfolder per class). Each image is
//! read as 8-bit planar pixels and converted to the model's input (channels, size) only when it
//! is used, so a 10,000-image CIFAR file costs its bytes and nothing more.

use super::common::{msg, CliResult};
use deepnet::data::cifar::read_class_names;
use deepnet::data::image_files::{is_image_file, list_image_folder, list_images};
use deepnet::data::{read_cifar10, Cifar10, Cifar10Records, ImageSpec, PlanarImage};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What `--images PATH` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagesKind {
    /// an IDX images file (raw or gzip), read by the IDX path of `predict`
    Idx,
    /// a CIFAR-10 binary file
    Cifar,
    /// one PNG or JPEG file
    Image,
    /// a folder of image files or of class subfolders
    Folder,
}

/// Tells the kind of `path`: a folder; by extension `.png`/`.jpg`/`.jpeg` and `.bin`; else by
/// content (PNG and JPEG signatures; a size that is a whole number of CIFAR-10 records and a
/// first byte that is a CIFAR label, with no IDX or gzip magic); anything else is read as IDX,
/// whose reader names what is wrong.
pub fn detect(path: &Path) -> CliResult<ImagesKind> {
    let meta = std::fs::metadata(path).map_err(|e| format!("--images {}: {e}", path.display()))?;
    if meta.is_dir() {
        return Ok(ImagesKind::Folder);
    }
    if is_image_file(path) {
        return Ok(ImagesKind::Image);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bin"))
    {
        return Ok(ImagesKind::Cifar);
    }
    if !meta.is_file() {
        // not sniffed: opening a FIFO or device would block; the IDX reader refuses it by name
        return Ok(ImagesKind::Idx);
    }
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|f| f.take(4).read(&mut head))
        .map_err(|e| format!("--images {}: {e}", path.display()))?;
    let head = &head[..n];
    Ok(
        if head.starts_with(b"\x89PNG") || head.starts_with(&[0xff, 0xd8, 0xff]) {
            ImagesKind::Image
        } else if head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0, 0, 8]) {
            ImagesKind::Idx
        } else if meta.len() > 0
            && meta.len().is_multiple_of(Cifar10::RECORD as u64)
            && head
                .first()
                .is_some_and(|&b| (b as usize) < Cifar10::NUM_CLASSES)
        {
            ImagesKind::Cifar
        } else {
            ImagesKind::Idx
        },
    )
}

enum Items {
    Cifar(Cifar10Records),
    /// image files with their label (an index into the label names), if known
    Files(Vec<(PathBuf, Option<i64>)>),
}

/// The images of a CIFAR file, an image file or a folder, listed but not yet decoded.
pub struct ImageList {
    /// the path given
    pub source: PathBuf,
    /// the names of the labels the source knows (CIFAR's classes, the class folders)
    pub label_names: Option<Vec<String>>,
    items: Items,
}

impl ImageList {
    /// Lists `path` of kind `kind` (not [`ImagesKind::Idx`]). A CIFAR file's class names come
    /// from `batches.meta.txt` beside it when there, else CIFAR-10's; a folder with subfolders
    /// is an image-folder dataset (labels from the sorted folder names), one without holds
    /// unlabelled images. Errors name the file or folder.
    pub fn read(path: &Path, kind: ImagesKind) -> CliResult<ImageList> {
        let (items, label_names) = match kind {
            ImagesKind::Cifar => {
                let r = read_cifar10(path).map_err(msg)?;
                let meta = path.with_file_name("batches.meta.txt");
                let names = if meta.is_file() {
                    read_class_names(&meta, Cifar10::NUM_CLASSES).map_err(msg)?
                } else {
                    Cifar10::CLASS_NAMES.iter().map(|s| s.to_string()).collect()
                };
                (Items::Cifar(r), Some(names))
            }
            ImagesKind::Image => (Items::Files(vec![(path.to_path_buf(), None)]), None),
            ImagesKind::Folder => {
                let has_classes = std::fs::read_dir(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .any(|e| e.is_ok_and(|e| e.path().is_dir()));
                if has_classes {
                    let (classes, samples) = list_image_folder(path).map_err(msg)?;
                    let files = samples.into_iter().map(|(p, l)| (p, Some(l))).collect();
                    (Items::Files(files), Some(classes))
                } else {
                    let files: Vec<_> = list_images(path)
                        .map_err(msg)?
                        .into_iter()
                        .map(|p| (p, None))
                        .collect();
                    if files.is_empty() {
                        return Err(format!(
                            "--images {}: the folder has no PNG or JPEG file and no class \
                             subfolder",
                            path.display()
                        ));
                    }
                    (Items::Files(files), None)
                }
            }
            ImagesKind::Idx => unreachable!("IDX files are read by predict's IDX path"),
        };
        Ok(ImageList {
            source: path.to_path_buf(),
            label_names,
            items,
        })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        match &self.items {
            Items::Cifar(r) => r.len(),
            Items::Files(f) => f.len(),
        }
    }

    /// Image `i` converted by `spec`.
    pub fn image(&self, i: usize, spec: ImageSpec) -> CliResult<PlanarImage> {
        match &self.items {
            Items::Cifar(r) => {
                let [c, h, w] = Cifar10::SHAPE;
                let img = PlanarImage::new(c, h, w, r.image(i).to_vec()).map_err(msg)?;
                img.convert(spec)
                    .map_err(|e| format!("{} record {i}: {e}", self.source.display()))
            }
            Items::Files(f) => deepnet::data::load_image_u8(&f[i].0, spec).map_err(msg),
        }
    }

    /// The label of image `i` (an index into [`ImageList::label_names`]), if known.
    pub fn label(&self, i: usize) -> Option<i64> {
        match &self.items {
            Items::Cifar(r) => Some(r.labels[i]),
            Items::Files(f) => f[i].1,
        }
    }

    /// The file of image `i`, for image files.
    pub fn file(&self, i: usize) -> Option<&Path> {
        match &self.items {
            Items::Cifar(_) => None,
            Items::Files(f) => Some(&f[i].0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension_and_content() {
        let dir = std::env::temp_dir().join(format!("deepnet-imgkind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(detect(&dir).unwrap(), ImagesKind::Folder);
        assert_eq!(detect(&write("a.PNG", b"x")).unwrap(), ImagesKind::Image);
        assert_eq!(detect(&write("a.bin", b"x")).unwrap(), ImagesKind::Cifar);
        assert_eq!(
            detect(&write("p", b"\x89PNG\r\n")).unwrap(),
            ImagesKind::Image
        );
        assert_eq!(
            detect(&write("j", &[0xff, 0xd8, 0xff, 0xe0])).unwrap(),
            ImagesKind::Image
        );
        assert_eq!(
            detect(&write("g", &[0x1f, 0x8b, 8, 0])).unwrap(),
            ImagesKind::Idx
        );
        let mut rec = vec![3u8; 2 * Cifar10::RECORD];
        assert_eq!(detect(&write("c", &rec)).unwrap(), ImagesKind::Cifar);
        rec[0] = 200;
        assert_eq!(detect(&write("c2", &rec)).unwrap(), ImagesKind::Idx);
        let e = detect(&dir.join("missing")).unwrap_err();
        assert!(e.contains("missing"), "{e}");
        // a folder of image files lists them (by extension); decoding names the bad file
        let list = ImageList::read(&dir, ImagesKind::Folder).unwrap();
        assert_eq!((list.len(), list.label(0)), (1, None));
        let spec = ImageSpec::for_input(&[1, 4, 4]).unwrap();
        let e = list.image(0, spec).unwrap_err();
        assert!(e.contains("a.PNG: not a PNG or JPEG image"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
