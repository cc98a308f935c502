//! Bounded, seeded fuzzing of the image-file decoder (PNG and JPEG through the `image` crate and
//! our conversion): every truncation of a valid file and 20,000 random byte edits of it must give
//! an image or an error, never a panic or an allocation beyond the side limit.

use deepnet_data::image_files::{decode_image, ImageSpec};
use deepnet_tensor::testing::fuzz_bytes;
use std::io::Cursor;
use std::path::Path;

/// A 7x5 RGB gradient encoded as `format`.
fn encoded(format: image::ImageOutputFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 50, 99]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

fn decode_all_ways(bytes: &[u8]) {
    for spec in [
        ImageSpec {
            channels: 3,
            size: Some((4, 6)),
        },
        ImageSpec {
            channels: 1,
            size: None,
        },
    ] {
        if let Ok(img) = decode_image(Path::new("f"), bytes, spec) {
            assert_eq!(img.data.len(), img.channels * img.height * img.width);
        }
    }
}

#[test]
fn png_never_panics() {
    let good = encoded(image::ImageOutputFormat::Png);
    let spec = ImageSpec {
        channels: 3,
        size: None,
    };
    assert_eq!(
        decode_image(Path::new("f.png"), &good, spec)
            .unwrap()
            .shape(),
        [3, 5, 7]
    );
    fuzz_bytes(&good, 20_000, 11, decode_all_ways);
}

#[test]
fn jpeg_never_panics() {
    let good = encoded(image::ImageOutputFormat::Jpeg(90));
    let spec = ImageSpec {
        channels: 1,
        size: Some((10, 10)),
    };
    assert_eq!(
        decode_image(Path::new("f.jpg"), &good, spec)
            .unwrap()
            .shape(),
        [1, 10, 10]
    );
    fuzz_bytes(&good, 20_000, 12, decode_all_ways);
}
