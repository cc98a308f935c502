//! Tests of dataset directories: detection, image folders (sizes, channels, class lists) and
//! CIFAR-10 batches, on small files the tests write.

use super::*;
use crate::testutil::TempDir;
use crate::Dataset;
use image::{ImageBuffer, Luma, Rgb};

/// Writes `dir/<split>/<class>/<i>.png`: RGB `w x h` images whose red value is `10 * class + i`.
fn write_rgb(dir: &Path, split: &str, class: &str, n: usize, (w, h): (u32, u32), c: u8) {
    let d = dir.join(split).join(class);
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..n {
        ImageBuffer::from_fn(w, h, |x, _| Rgb([10 * c + i as u8, x as u8, 200]))
            .save(d.join(format!("{i}.png")))
            .unwrap();
    }
}

#[test]
fn an_image_folder_loads_with_sorted_classes_and_the_first_images_shape() {
    let dir = TempDir::new("dir-folder");
    let d = dir.path();
    // class folders created out of order: "bird" must be class 0
    write_rgb(d, "train", "cat", 2, (4, 3), 1);
    write_rgb(d, "train", "bird", 3, (4, 3), 0);
    write_rgb(d, "test", "bird", 1, (4, 3), 0);
    write_rgb(d, "test", "cat", 1, (4, 3), 1);
    std::fs::write(d.join("train/cat/notes.txt"), "not an image").unwrap();
    assert_eq!(detect_format(d).unwrap(), DatasetFormat::ImageFolder);
    let s = load_dir_split(d, Split::Train, ImageOptions::default()).unwrap();
    assert_eq!(s.classes, ["bird", "cat"]);
    assert_eq!(s.format, DatasetFormat::ImageFolder);
    assert_eq!((s.data.len(), s.data.sample_shape()), (5, vec![3, 3, 4]));
    assert_eq!(s.data.labels(), [0, 0, 0, 1, 1]);
    // sample 3 is cat/0.png: red 10, green = x in row 0, blue 200
    let per = 3 * 3 * 4;
    let x = &s.data.images()[3 * per..4 * per];
    assert_eq!(x[0], 10.0 / 255.0);
    assert_eq!(x[12 + 2], 2.0 / 255.0);
    assert_eq!(x[24], 200.0 / 255.0);
    let t = load_dir_split(d, Split::Test, ImageOptions::default()).unwrap();
    assert_eq!((t.data.len(), t.data.labels()), (2, &[0i64, 1][..]));
    // converted: gray, resized
    let opts = ImageOptions {
        channels: Some(1),
        size: Some((6, 5)),
    };
    let g = load_dir_split(d, Split::Test, opts).unwrap();
    assert_eq!(g.data.sample_shape(), [1, 6, 5]);
}

#[test]
fn image_folder_errors_name_the_file_the_split_or_the_classes() {
    let dir = TempDir::new("dir-folder-bad");
    let d = dir.path();
    write_rgb(d, "train", "a", 2, (4, 3), 0);
    write_rgb(d, "train", "b", 1, (5, 3), 1);
    // b/0.png is 3x5 while the first image is 3x4: named, with the way out
    let e = load_dir_split(d, Split::Train, ImageOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("b/0.png") && e.contains("3x5") && e.contains("--image-size"),
        "{e}"
    );
    let resized = ImageOptions {
        size: Some((3, 4)),
        channels: None,
    };
    assert_eq!(
        load_dir_split(d, Split::Train, resized).unwrap().data.len(),
        3
    );
    // no test split
    let e = load_dir_split(d, Split::Test, resized)
        .unwrap_err()
        .to_string();
    assert!(e.contains("without its test split"), "{e}");
    // a test split with other classes
    write_rgb(d, "test", "a", 1, (4, 3), 0);
    write_rgb(d, "test", "c", 1, (4, 3), 1);
    let e = load_dir_split(d, Split::Test, resized)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("[\"a\", \"c\"]") && e.contains("[\"a\", \"b\"]") && e.contains("same class"),
        "{e}"
    );
    // a gray first image sets one channel by default; a corrupt file is named
    let g = TempDir::new("dir-folder-gray");
    let gd = g.path().join("train/x");
    std::fs::create_dir_all(&gd).unwrap();
    ImageBuffer::from_fn(2, 2, |_, _| Luma([7u8]))
        .save(gd.join("0.png"))
        .unwrap();
    let s = load_dir_split(g.path(), Split::Train, ImageOptions::default()).unwrap();
    assert_eq!(s.data.sample_shape(), [1, 2, 2]);
    std::fs::write(gd.join("1.png"), b"\x89PNG broken").unwrap();
    let e = load_dir_split(g.path(), Split::Train, ImageOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("1.png"), "{e}");
}

#[test]
fn detection_names_the_three_layouts_and_idx_takes_no_image_options() {
    let dir = TempDir::new("dir-detect");
    let d = dir.path();
    let e = detect_format(d).unwrap_err().to_string();
    for want in [
        "train-images-idx3-ubyte",
        "DIR/train/<class>",
        "data_batch_1.bin",
    ] {
        assert!(e.contains(want), "{e}");
    }
    assert!(detect_format(&d.join("nope")).is_err());
    // one CIFAR batch makes a CIFAR directory
    let rec: Vec<u8> = std::iter::once(3u8)
        .chain((0..Cifar10::PIXELS).map(|j| (j % 256) as u8))
        .collect();
    std::fs::write(d.join("test_batch.bin"), rec.repeat(2)).unwrap();
    assert_eq!(detect_format(d).unwrap(), DatasetFormat::Cifar10);
    let s = load_dir_split(d, Split::Test, ImageOptions::default()).unwrap();
    assert_eq!((s.data.len(), s.classes.len()), (2, 10));
    assert_eq!(s.classes[3], "cat");
    // converted records: the same path as image files (gray by BT.601, resized)
    let opts = ImageOptions {
        channels: Some(1),
        size: Some((16, 16)),
    };
    let g = load_dir_split(d, Split::Test, opts).unwrap();
    assert_eq!(g.data.sample_shape(), [1, 16, 16]);
    let e = load_dir_split(d, Split::Train, ImageOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("CIFAR-10 train batch"), "{e}");
    // IDX: the shipped MNIST
    let mnist = Mnist::shipped_dir();
    if mnist.is_dir() {
        assert_eq!(detect_format(&mnist).unwrap(), DatasetFormat::Idx);
        let e = load_dir_split(&mnist, Split::Test, opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("IDX files are read as they are"), "{e}");
    }
}

#[test]
fn sizes_are_checked_before_allocating() {
    let e = check_size(Path::new("big"), 1 << 20, &[3, 1024, 1024])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("big: 1048576 samples of shape [3, 1024, 1024]"),
        "{e}"
    );
    assert!(check_size(Path::new("x"), usize::MAX, &[2]).is_err());
    assert_eq!(check_size(Path::new("x"), 10, &[3, 32, 32]).unwrap(), 3072);
}
