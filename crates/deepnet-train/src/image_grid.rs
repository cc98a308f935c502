//! Image grids as PNG: a stack of small images (a convolution's filters, the feature maps of one
//! input) laid out in rows, each image scaled to its own full range, enlarged by repeating
//! pixels so that a 5x5 filter is visible, and separated by 1-pixel borders. Written through
//! plotters' bitmap backend, atomically.

use crate::atomic::write_atomic_with;
use crate::error::{Result, TrainError};
use deepnet_tensor::{DType, Tensor};
use plotters::prelude::*;
use std::path::Path;

/// How a grid is laid out. `Default`: as square as possible, each image enlarged to about 40
/// pixels, 1-pixel dark blue borders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridOptions {
    /// images per row; 0 chooses `ceil(sqrt(n))`
    pub cols: usize,
    /// every pixel becomes a `scale x scale` block; 0 chooses the smallest scale that makes an
    /// image at least 40 pixels on its longer side
    pub scale: usize,
    /// border width in pixels, around and between the images
    pub border: usize,
    /// border colour (RGB); also fills the empty cells of the last row. Not black or white,
    /// which the images themselves use.
    pub border_rgb: [u8; 3],
    /// `Some((lo, hi))` draws every image on this fixed scale (`lo` black, `hi` white, values
    /// outside clamped), as generated samples must be to be compared; `None` scales each image
    /// to its own range (filters, feature maps)
    pub value_range: Option<(f64, f64)>,
}

impl Default for GridOptions {
    fn default() -> Self {
        GridOptions {
            cols: 0,
            scale: 0,
            border: 1,
            border_rgb: [40, 70, 140],
            value_range: None,
        }
    }
}

/// What [`save_image_grid`] drew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridInfo {
    /// images drawn
    pub count: usize,
    /// rows of the grid
    pub rows: usize,
    /// columns of the grid
    pub cols: usize,
    /// one image's size before scaling `(h, w)`
    pub tile: (usize, usize),
    /// the enlargement used
    pub scale: usize,
    /// the PNG's size in pixels `(width, height)`
    pub size: (u32, u32),
}

/// Draws `images` (`(N, C, H, W)`, `C` = 1 for gray or 3 for RGB, any float dtype) as a grid
/// and writes the PNG to `path` atomically. Each image is min-max normalized on its own (over
/// all its channels, so an RGB filter keeps its colour balance), or mapped from
/// `opts.value_range` when given; a constant image is black and non-finite values are drawn as
/// its minimum. Errors name the file, or the shape that is not an image stack.
pub fn save_image_grid(
    path: impl AsRef<Path>,
    images: &Tensor,
    opts: &GridOptions,
) -> Result<GridInfo> {
    let path = path.as_ref();
    let (rgb, info) = render(path, images, opts)?;
    let size = info.size;
    let mut draw_err = None;
    let res = write_atomic_with(path, |tmp| {
        let r = (|| -> std::result::Result<(), String> {
            let mut backend = BitMapBackend::new(tmp, size);
            backend
                .blit_bitmap((0, 0), size, &rgb)
                .map_err(|e| e.to_string())?;
            backend.present().map_err(|e| e.to_string())
        })();
        r.map_err(|msg| {
            draw_err = Some(msg);
            std::io::Error::other("drawing failed")
        })
    });
    match (res, draw_err) {
        (_, Some(msg)) => Err(TrainError::Plot {
            path: path.to_path_buf(),
            msg,
        }),
        (Err(e), None) => Err(TrainError::io(path, e)),
        (Ok(()), None) => Ok(info),
    }
}

/// The grid's RGB pixels, row-major, and its layout (`path` only names the file in errors).
fn render(path: &Path, images: &Tensor, opts: &GridOptions) -> Result<(Vec<u8>, GridInfo)> {
    let bad = |m: String| TrainError::Config(format!("{}: {m}", path.display()));
    let &[n, c, h, w] = images.dims() else {
        return Err(bad(format!(
            "an image grid needs (N, C, H, W) images, got shape {:?}",
            images.dims()
        )));
    };
    if c != 1 && c != 3 {
        return Err(bad(format!(
            "images have {c} channels; a grid draws 1 (gray) or 3 (RGB)"
        )));
    }
    if n == 0 || h == 0 || w == 0 {
        return Err(bad(format!(
            "no pixels to draw in shape {:?}",
            images.dims()
        )));
    }
    let cols = if opts.cols == 0 {
        (1..=n).find(|k| k * k >= n).unwrap_or(n)
    } else {
        opts.cols.min(n)
    };
    let rows = n.div_ceil(cols);
    let scale = if opts.scale == 0 {
        40usize.div_ceil(h.max(w)).max(1)
    } else {
        opts.scale
    };
    let b = opts.border;
    let (tw, th) = (w * scale, h * scale);
    let (width, height) = (cols * (tw + b) + b, rows * (th + b) + b);
    if width > 16_384 || height > 16_384 {
        return Err(bad(format!(
            "a {rows}x{cols} grid of {h}x{w} images at scale {scale} would be {width}x{height} \
             pixels; use a smaller scale or fewer images"
        )));
    }
    if let Some((lo, hi)) = opts.value_range {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(bad(format!(
                "value range [{lo}, {hi}] is not an interval of finite numbers"
            )));
        }
    }
    let values = images.to_dtype(DType::F64)?.contiguous()?.to_vec::<f64>()?;

    let mut rgb = vec![0u8; width * height * 3];
    for px in rgb.chunks_exact_mut(3) {
        px.copy_from_slice(&opts.border_rgb);
    }
    let per = c * h * w;
    for (i, img) in values.chunks_exact(per).enumerate() {
        let (lo, hi) = opts.value_range.unwrap_or_else(|| {
            let finite = img.iter().copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f64::INFINITY, f64::min);
            (lo, finite.fold(f64::NEG_INFINITY, f64::max))
        });
        let level = |v: f64| -> u8 {
            if hi <= lo || !v.is_finite() {
                0
            } else {
                (255.0 * ((v - lo) / (hi - lo)).clamp(0.0, 1.0)).round() as u8
            }
        };
        let (x0, y0) = (b + (i % cols) * (tw + b), b + (i / cols) * (th + b));
        for y in 0..th {
            for x in 0..tw {
                let (sy, sx) = (y / scale, x / scale);
                let at = ((y0 + y) * width + x0 + x) * 3;
                for ch in 0..3 {
                    // gray images put their one channel in all three
                    let src = if c == 1 { 0 } else { ch };
                    rgb[at + ch] = level(img[(src * h + sy) * w + sx]);
                }
            }
        }
    }

    let info = GridInfo {
        count: n,
        rows,
        cols,
        tile: (h, w),
        scale,
        size: (width as u32, height as u32),
    };
    Ok((rgb, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width and height from a PNG's IHDR chunk.
    fn png_size(path: &Path) -> (u32, u32) {
        let b = std::fs::read(path).unwrap();
        assert_eq!(&b[1..4], b"PNG");
        let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn grids_have_the_size_their_layout_says_and_bad_shapes_are_named() {
        let dir = std::env::temp_dir().join(format!("deepnet-grid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // 6 gray 5x5 filters: 3 columns, 2 rows, scale 8 -> 3*(40+1)+1 by 2*(40+1)+1
        let data: Vec<f32> = (0..150).map(|i| (i % 7) as f32).collect();
        let t = Tensor::from_vec(data, [6, 1, 5, 5]).unwrap();
        let p = dir.join("g.png");
        let info = save_image_grid(&p, &t, &GridOptions::default()).unwrap();
        assert_eq!((info.rows, info.cols, info.scale), (2, 3, 8));
        assert_eq!(info.size, (124, 83));
        assert_eq!(png_size(&p), info.size);
        // RGB, one row of 4, scale 2
        let t = Tensor::from_vec(vec![0.5f64; 4 * 3 * 2 * 3], [4, 3, 2, 3]).unwrap();
        let opts = GridOptions {
            cols: 4,
            scale: 2,
            ..Default::default()
        };
        let info = save_image_grid(&p, &t, &opts).unwrap();
        assert_eq!(png_size(&p), (4 * 7 + 1, 4 + 2));
        assert_eq!(info.rows, 1);
        let t = Tensor::from_vec(vec![0f32; 2 * 2 * 4], [2, 2, 2, 2]).unwrap();
        let e = save_image_grid(&p, &t, &opts).unwrap_err().to_string();
        assert!(e.contains("g.png") && e.contains("2 channels"), "{e}");
        let opts = GridOptions {
            value_range: Some((1.0, 1.0)),
            ..Default::default()
        };
        let t = Tensor::from_vec(vec![0f32; 4], [1, 1, 2, 2]).unwrap();
        let e = save_image_grid(&p, &t, &opts).unwrap_err().to_string();
        assert!(e.contains("value range [1, 1]"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_fixed_value_range_draws_every_image_on_one_scale() {
        // two 1x2 images: (0, 0.5) and (0.25, 2); scale 1, no border
        let t = Tensor::from_vec(vec![0.0f32, 0.5, 0.25, 2.0], [2, 1, 1, 2]).unwrap();
        let mut opts = GridOptions {
            cols: 2,
            scale: 1,
            border: 0,
            ..Default::default()
        };
        let gray = |rgb: &[u8]| rgb.chunks(3).map(|p| p[0]).collect::<Vec<u8>>();
        // each on its own range: both stretched to black..white
        let (rgb, info) = render(Path::new("g.png"), &t, &opts).unwrap();
        assert_eq!(info.size, (4, 1));
        assert_eq!(gray(&rgb), [0, 255, 0, 255]);
        // on [0, 1]: 0.5 is mid-gray, 2 is clamped to white
        opts.value_range = Some((0.0, 1.0));
        let (rgb, _) = render(Path::new("g.png"), &t, &opts).unwrap();
        assert_eq!(gray(&rgb), [0, 128, 64, 255]);
    }
}
