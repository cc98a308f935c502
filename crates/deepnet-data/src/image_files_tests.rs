//! Tests of image files and the image-folder dataset, on small images the tests write.

use super::*;
use crate::testutil::TempDir;
use image::{ImageBuffer, Luma, Rgb, Rgba};

const GRAY: ImageSpec = ImageSpec {
    channels: 1,
    size: None,
};
const RGB: ImageSpec = ImageSpec {
    channels: 3,
    size: None,
};

/// A 3x2 (W x H) RGB PNG with distinct pixels: (x, y) -> (40x + 10, 100y + 5, 200).
fn write_rgb(path: &Path) {
    ImageBuffer::from_fn(3, 2, |x, y| {
        Rgb([40 * x as u8 + 10, 100 * y as u8 + 5, 200])
    })
    .save(path)
    .unwrap();
}

#[test]
fn png_pixels_come_out_planar_and_convert_between_gray_and_rgb() {
    let dir = TempDir::new("img-png");
    let p = dir.path().join("rgb.png");
    write_rgb(&p);
    let img = load_image_u8(&p, RGB).unwrap();
    assert_eq!(img.shape(), [3, 2, 3]);
    // red plane row 0, then row 1; green plane; blue plane
    assert_eq!(&img.data[..6], &[10, 50, 90, 10, 50, 90]);
    assert_eq!(&img.data[6..12], &[5, 5, 5, 105, 105, 105]);
    assert_eq!(&img.data[12..], &[200; 6]);
    // RGB to gray: BT.601, rounded: (299 * 10 + 587 * 5 + 114 * 200) / 1000 = 28.725 -> 29
    let g = load_image_u8(&p, GRAY).unwrap();
    assert_eq!(g.shape(), [1, 2, 3]);
    assert_eq!(g.data[0], 29);
    assert_eq!(luma601(255, 0, 0), 76);
    assert_eq!(luma601(255, 255, 255), 255);
    // a gray PNG read as RGB repeats the value; as gray it is unchanged
    let gp = dir.path().join("gray.png");
    ImageBuffer::from_fn(2, 2, |x, y| Luma([(x + 2 * y) as u8 * 60]))
        .save(&gp)
        .unwrap();
    assert_eq!(load_image_u8(&gp, GRAY).unwrap().data, [0, 60, 120, 180]);
    let as_rgb = load_image_u8(&gp, RGB).unwrap();
    assert_eq!(as_rgb.data, [0, 60, 120, 180].repeat(3));
    // alpha is dropped; 16-bit gray is reduced to 8 bits
    let ap = dir.path().join("alpha.png");
    ImageBuffer::from_fn(1, 1, |_, _| Rgba([1u8, 2, 3, 0]))
        .save(&ap)
        .unwrap();
    assert_eq!(load_image_u8(&ap, RGB).unwrap().data, [1, 2, 3]);
    let wide = dir.path().join("g16.png");
    ImageBuffer::from_fn(1, 1, |_, _| Luma([65535u16]))
        .save(&wide)
        .unwrap();
    assert_eq!(load_image_u8(&wide, GRAY).unwrap().data, [255]);
    // the f32 tensor is the bytes over 255
    let t = load_image(&gp, GRAY).unwrap();
    assert_eq!(t.dims(), [1, 2, 2]);
    assert_eq!(t.to_vec::<f32>().unwrap()[1], 60.0 / 255.0);
}

#[test]
fn resizing_and_jpeg() {
    let dir = TempDir::new("img-resize");
    let p = dir.path().join("const.jpg");
    // a uniform JPEG stays close to its colour through the lossy codec and any resize
    ImageBuffer::from_fn(20, 10, |_, _| Rgb([200u8, 100, 50]))
        .save(&p)
        .unwrap();
    let spec = ImageSpec {
        channels: 3,
        size: Some((32, 16)),
    };
    let img = load_image_u8(&p, spec).unwrap();
    assert_eq!(img.shape(), [3, 32, 16]);
    for (c, want) in [200i32, 100, 50].iter().enumerate() {
        let plane = &img.data[c * 512..(c + 1) * 512];
        assert!(
            plane.iter().all(|&v| (v as i32 - want).abs() <= 3),
            "channel {c}"
        );
    }
    // bilinear 2 -> 4 of a two-pixel ramp stays monotonic and keeps the ends' order
    let ramp = PlanarImage::new(1, 1, 2, vec![0, 200]).unwrap();
    let r = ramp
        .convert(ImageSpec {
            channels: 1,
            size: Some((1, 4)),
        })
        .unwrap();
    assert_eq!(r.shape(), [1, 1, 4]);
    assert!(
        r.data.windows(2).all(|p| p[0] <= p[1]) && r.data[0] < r.data[3],
        "{:?}",
        r.data
    );
    // a CIFAR-like planar RGB image to a 2x larger gray one
    let rgb = PlanarImage::new(3, 2, 2, vec![255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255, 0]).unwrap();
    let g = rgb
        .convert(ImageSpec {
            channels: 1,
            size: None,
        })
        .unwrap();
    assert_eq!(g.data, [76, 150, 29, 0]);
    let big = rgb
        .convert(ImageSpec::for_input(&[1, 4, 4]).unwrap())
        .unwrap();
    assert_eq!(big.shape(), [1, 4, 4]);
    assert!(PlanarImage::new(2, 1, 1, vec![0, 0]).is_err());
    assert!(ImageSpec::for_input(&[2, 4, 4]).is_err());
    assert!(rgb
        .convert(ImageSpec {
            channels: 3,
            size: Some((0, 4))
        })
        .is_err());
}

#[test]
fn bad_files_are_named() {
    let dir = TempDir::new("img-bad");
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not an image at all").unwrap();
    let e = load_image(&text, RGB).unwrap_err().to_string();
    assert!(e.contains("notes.png: not a PNG or JPEG image"), "{e}");
    let good = dir.path().join("ok.png");
    write_rgb(&good);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_image(&cut, RGB).unwrap_err().to_string();
    assert!(e.contains("cut.png: cannot decode the image"), "{e}");
    let e = load_image(dir.path(), RGB).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
    let e = load_image(dir.path().join("none.png"), RGB)
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.png"), "{e}");
    assert!(is_image_file(Path::new("a/B.JPEG")) && !is_image_file(Path::new("a.bin")));
}

#[test]
fn image_folders_have_sorted_classes_and_named_errors() {
    let dir = TempDir::new("img-folder");
    let root = dir.path();
    for (class, n) in [("cat", 2), ("ant", 1)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..n {
            ImageBuffer::from_fn(4, 4, |_, _| Luma([(i * 50 + 10) as u8]))
                .save(root.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    std::fs::write(root.join("cat").join("readme.txt"), "ignored").unwrap();
    let spec = ImageSpec {
        channels: 3,
        size: Some((8, 8)),
    };
    let f = ImageFolder::new(root, spec).unwrap();
    assert_eq!(f.classes(), ["ant", "cat"]);
    let labels: Vec<i64> = f.samples().iter().map(|(_, l)| *l).collect();
    assert_eq!(labels, [0, 1, 1]);
    assert!(f.samples()[2].0.ends_with("cat/1.png"));
    assert_eq!((f.len(), f.sample_shape()), (3, vec![3, 8, 8]));
    let (x, y) = f.get_batch(&[2, 0]).unwrap();
    assert_eq!(x.dims(), [2, 3, 8, 8]);
    assert_eq!(y.to_vec::<i64>().unwrap(), [1, 0]);
    assert_eq!(x.to_vec::<f32>().unwrap()[0], 60.0 / 255.0);
    let all = f.load_all().unwrap();
    assert_eq!((all.len(), all.classes()), (3, 2));
    assert_eq!(f.get(0).unwrap().0.dims(), [3, 8, 8]);
    assert!(f.get(3).is_err());

    // a broken image is named when it is read
    std::fs::write(root.join("cat").join("2.png"), "broken").unwrap();
    let f = ImageFolder::new(root, spec).unwrap();
    let e = f.load_all().unwrap_err().to_string();
    assert!(e.contains("2.png: not a PNG or JPEG image"), "{e}");
    // no sizes, no classes, no images
    assert!(ImageFolder::new(root, RGB).is_err());
    let empty = TempDir::new("img-folder-empty");
    let e = ImageFolder::new(empty.path(), spec)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no class subfolders"), "{e}");
    std::fs::create_dir_all(empty.path().join("a")).unwrap();
    let e = ImageFolder::new(empty.path(), spec)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no PNG or JPEG images in its 1 class folders"),
        "{e}"
    );
}
