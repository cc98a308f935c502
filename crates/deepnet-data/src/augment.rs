//! Data augmentation on image batches `(N, C, H, W)`, seeded: random crops after zero padding
//! and random horizontal flips (the CIFAR-10 recipe: pad 4, crop 32x32, flip half of the
//! images), as torchvision's `RandomCrop(size, padding)` and `RandomHorizontalFlip(p)` applied
//! to each sample. [`Augment::batch_transform`] gives a closure for
//! [`crate::DataLoader::with_batch_transform`], whose generator is derived from the loader's
//! seed, the epoch and the batch index, so runs and resumed runs see the same crops.
//!
//! ```
//! use deepnet_data::{augment::Augment, DataLoader, InMemoryDataset};
//! use std::sync::Arc;
//! let ds = InMemoryDataset::new(vec![0.5; 8 * 3 * 32 * 32], vec![3, 32, 32], vec![0; 8], 10)?;
//! let aug = Augment { crop_padding: 4, flip_prob: 0.5 };
//! let loader = DataLoader::new(Arc::new(ds), 4)?.seed(1).with_batch_transform(aug.batch_transform());
//! let (x, _) = loader.iter_epoch(0).next().unwrap()?;
//! assert_eq!(x.dims(), [4, 3, 32, 32]);
//! # Ok::<(), deepnet_data::DataError>(())
//! ```

use crate::error::{DataError, Result};
use crate::loader::Batch;
use deepnet_tensor::{DType, Generator, Tensor};

/// `(N, C, H, W)` of a batch, or an error naming `op`.
fn nchw(op: &'static str, x: &Tensor) -> Result<[usize; 4]> {
    match (x.dims(), x.dtype().is_float()) {
        (&[n, c, h, w], true) => Ok([n, c, h, w]),
        _ => Err(DataError::invalid(
            op,
            format!(
                "expected a float image batch (N, C, H, W), got {} {:?}",
                x.shape(),
                x.dtype()
            ),
        )),
    }
}

/// The batch's values, in f64.
fn values(x: &Tensor) -> Result<Vec<f64>> {
    Ok(x.to_dtype(DType::F64)?.to_vec::<f64>()?)
}

/// A tensor of `like`'s shape and dtype holding `v`.
fn rebuild(v: Vec<f64>, like: &Tensor) -> Result<Tensor> {
    Ok(Tensor::from_vec(v, like.shape().clone())?.to_dtype(like.dtype())?)
}

/// Pads every image of `x: (N, C, H, W)` with `padding` zeros on each side and crops an `H x W`
/// window at a random offset `(dy, dx)`, each uniform in `0..=2 padding`, drawn per sample from
/// `g` (`dy` then `dx`): the image moves by up to `padding` pixels, zeros filling in. Same shape
/// and dtype out; `padding = 0` returns the batch unchanged without drawing.
pub fn random_crop(x: &Tensor, padding: usize, g: &mut Generator) -> Result<Tensor> {
    let [n, c, h, w] = nchw("random_crop", x)?;
    if padding == 0 {
        return Ok(x.clone());
    }
    let src = values(x)?;
    let mut out = vec![0.0; src.len()];
    let span = 2 * padding as u64 + 1;
    for b in 0..n {
        let dy = g.next_below(span) as isize - padding as isize;
        let dx = g.next_below(span) as isize - padding as isize;
        for ch in 0..c {
            let base = (b * c + ch) * h * w;
            for y in 0..h {
                // output row y shows input row y + dy (zero outside the image)
                let sy = y as isize + dy;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                for xo in 0..w {
                    let sx = xo as isize + dx;
                    if sx >= 0 && sx < w as isize {
                        out[base + y * w + xo] = src[base + sy as usize * w + sx as usize];
                    }
                }
            }
        }
    }
    rebuild(out, x)
}

/// Mirrors each image of `x: (N, C, H, W)` left to right with probability `p` (one uniform draw
/// per sample from `g`, flipped when it is below `p`). Same shape and dtype out.
pub fn random_horizontal_flip(x: &Tensor, p: f64, g: &mut Generator) -> Result<Tensor> {
    let [n, c, h, w] = nchw("random_horizontal_flip", x)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(DataError::invalid(
            "random_horizontal_flip",
            format!("p = {p} must be in [0, 1]"),
        ));
    }
    let mut v = values(x)?;
    let per = c * h * w;
    for b in 0..n {
        if g.next_f64() < p {
            for row in v[b * per..(b + 1) * per].chunks_mut(w) {
                row.reverse();
            }
        }
    }
    rebuild(v, x)
}

/// A seeded augmentation of image batches: a random crop after `crop_padding` zeros of padding
/// (none when 0), then a horizontal flip with probability `flip_prob` (none when 0). The padding
/// is zero in whatever the batch holds: on normalized batches that is the mean, where
/// torchvision, cropping before `Normalize`, pads with black.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// zero padding on each side before the random crop (4 for CIFAR-10; 0: no crop)
    pub crop_padding: usize,
    /// the probability of mirroring an image (0.5; 0: no flip)
    pub flip_prob: f64,
}

impl Augment {
    /// Applies the augmentation to a batch `(N, C, H, W)`, drawing from `g`: all crop offsets
    /// first, then the flips.
    pub fn apply(&self, x: &Tensor, g: &mut Generator) -> Result<Tensor> {
        let x = random_crop(x, self.crop_padding, g)?;
        if self.flip_prob > 0.0 {
            random_horizontal_flip(&x, self.flip_prob, g)
        } else {
            Ok(x)
        }
    }

    /// The augmentation as a batch transform for [`crate::DataLoader::with_batch_transform`]
    /// (labels pass through).
    pub fn batch_transform(
        self,
    ) -> impl Fn(Tensor, Tensor, &mut Generator) -> Result<Batch> + Send + Sync + 'static {
        move |x, y, g| Ok((self.apply(&x, g)?, y))
    }

    /// No augmentation (what `none` parses to).
    pub const NONE: Augment = Augment {
        crop_padding: 0,
        flip_prob: 0.0,
    };

    /// Whether it changes nothing.
    pub fn is_none(&self) -> bool {
        self.crop_padding == 0 && self.flip_prob == 0.0
    }

    /// Parses a command-line spec: `none`, or comma-separated `crop=P` (pad P pixels, crop
    /// back), `flip` (probability 0.5) or `flip=P` (probability P in [0, 1]), each at most once,
    /// e.g. `crop=4,flip`. Errors name the item and what was expected.
    pub fn parse(spec: &str) -> Result<Augment> {
        let bad = |m: String| DataError::invalid("augment", m);
        let spec = spec.trim();
        if spec == "none" {
            return Ok(Augment::NONE);
        }
        let mut a = Augment::NONE;
        let (mut crop, mut flip) = (false, false);
        for item in spec.split(',').map(str::trim) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            match (key, value) {
                ("crop", Some(v)) if !crop => {
                    crop = true;
                    a.crop_padding = v.parse::<usize>().ok().filter(|&p| p <= 4096).ok_or_else(|| {
                        bad(format!(
                            "\"{item}\": crop takes the padding in pixels, a whole number from 0 to 4096"
                        ))
                    })?;
                }
                ("flip", v) if !flip => {
                    flip = true;
                    a.flip_prob = match v {
                        None => 0.5,
                        Some(v) => v
                            .parse::<f64>()
                            .ok()
                            .filter(|p| (0.0..=1.0).contains(p))
                            .ok_or_else(|| {
                                bad(format!(
                                    "\"{item}\": flip takes a probability from 0 to 1 (flip alone is 0.5)"
                                ))
                            })?,
                    };
                }
                ("crop" | "flip", _) if crop && key == "crop" || flip && key == "flip" => {
                    return Err(bad(format!("\"{spec}\": {key} given twice")));
                }
                _ => {
                    return Err(bad(format!(
                        "\"{item}\" in \"{spec}\": expected none, or crop=P and/or flip[=P] \
                         separated by commas (e.g. crop=4,flip)"
                    )))
                }
            }
        }
        Ok(a)
    }

    /// Checks that images of `(H, W)` can take it: the crop's padding must be less than each
    /// side, or a crop could hold nothing of the image.
    pub fn check_image(&self, (h, w): (usize, usize)) -> Result<()> {
        if self.crop_padding > 0 && (self.crop_padding >= h || self.crop_padding >= w) {
            return Err(DataError::invalid(
                "augment",
                format!(
                    "crop={} moves the image by up to {} pixels, but it is only {h}x{w} (HxW): \
                     the padding must be less than each side",
                    self.crop_padding, self.crop_padding
                ),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Augment {
    /// The canonical spec [`Augment::parse`] reads back: `none` or e.g. `crop=4,flip=0.5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut items = Vec::new();
        if self.crop_padding > 0 {
            items.push(format!("crop={}", self.crop_padding));
        }
        if self.flip_prob > 0.0 {
            items.push(format!("flip={}", self.flip_prob));
        }
        if items.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", items.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataLoader, InMemoryDataset};
    use std::sync::Arc;

    /// A batch of `n` 2x3x4 images, image b holding b * 100 + index + 1 (no zeros).
    fn batch(n: usize) -> Tensor {
        let v: Vec<f32> = (0..n * 24)
            .map(|i| ((i / 24) * 100 + i % 24 + 1) as f32)
            .collect();
        Tensor::from_vec(v, [n, 2, 3, 4]).unwrap()
    }

    #[test]
    fn crops_shift_with_zero_fill_and_are_seeded() {
        let x = batch(64);
        let y = random_crop(&x, 2, &mut Generator::new(5)).unwrap();
        assert_eq!((y.dims(), y.dtype()), (x.dims(), DType::F32));
        let again = random_crop(&x, 2, &mut Generator::new(5)).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), again.to_vec::<f32>().unwrap());
        // replay the draws: each output is the input moved by (dy, dx) in -2..=2
        let mut g = Generator::new(5);
        let (xv, yv) = (x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
        let mut shifts = std::collections::HashSet::new();
        for b in 0..64 {
            let dy = g.next_below(5) as isize - 2;
            let dx = g.next_below(5) as isize - 2;
            shifts.insert((dy, dx));
            for i in 0..24 {
                let (ch, r, col) = (i / 12, (i / 4) % 3, i % 4);
                let (sr, sc) = (r as isize + dy, col as isize + dx);
                let want = if (0..3).contains(&sr) && (0..4).contains(&sc) {
                    xv[b * 24 + ch * 12 + sr as usize * 4 + sc as usize]
                } else {
                    0.0
                };
                assert_eq!(yv[b * 24 + i], want, "image {b} element {i}");
            }
        }
        assert!(shifts.len() > 15, "offsets cover the range: {shifts:?}");
        assert_eq!(
            random_crop(&x, 0, &mut g).unwrap().to_vec::<f32>().unwrap(),
            xv
        );
        let e = random_crop(&Tensor::zeros([3, 4], DType::F32).unwrap(), 1, &mut g).unwrap_err();
        assert!(
            e.to_string()
                .contains("expected a float image batch (N, C, H, W)"),
            "{e}"
        );
    }

    #[test]
    fn flips_mirror_rows_about_half_the_time() {
        let x = batch(400);
        let y = random_horizontal_flip(&x, 0.5, &mut Generator::new(9)).unwrap();
        let (xv, yv) = (x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
        let mut flipped = 0;
        for b in 0..400 {
            let (xi, yi) = (&xv[b * 24..(b + 1) * 24], &yv[b * 24..(b + 1) * 24]);
            let mirrored: Vec<f32> = xi.chunks(4).flat_map(|r| r.iter().rev().copied()).collect();
            if yi == mirrored.as_slice() {
                flipped += 1;
            } else {
                assert_eq!(yi, xi, "image {b} is either kept or mirrored");
            }
        }
        assert!((160..240).contains(&flipped), "{flipped} of 400");
        let all = random_horizontal_flip(&x, 1.0, &mut Generator::new(0)).unwrap();
        assert_eq!(all.to_vec::<f32>().unwrap()[..4], [4.0, 3.0, 2.0, 1.0]);
        assert!(random_horizontal_flip(&x, 1.5, &mut Generator::new(0)).is_err());
    }

    #[test]
    fn specs_parse_print_back_and_bad_ones_are_named() {
        let a = Augment::parse("crop=4,flip").unwrap();
        assert_eq!(
            a,
            Augment {
                crop_padding: 4,
                flip_prob: 0.5
            }
        );
        assert_eq!(a.to_string(), "crop=4,flip=0.5");
        assert_eq!(Augment::parse(&a.to_string()).unwrap(), a);
        assert_eq!(Augment::parse("none").unwrap(), Augment::NONE);
        assert!(Augment::NONE.is_none() && !a.is_none());
        assert_eq!(Augment::NONE.to_string(), "none");
        assert_eq!(Augment::parse(" flip=0.25 ").unwrap().flip_prob, 0.25);
        for (spec, want) in [
            ("crop=-1", "crop takes the padding in pixels"),
            ("crop=x", "crop takes the padding in pixels"),
            ("flip=2", "flip takes a probability from 0 to 1"),
            ("rotate=10", "\"rotate=10\" in \"rotate=10\": expected none"),
            ("crop", "expected none, or crop=P"),
            ("", "expected none"),
            ("crop=2,crop=3", "crop given twice"),
            ("flip,flip", "flip given twice"),
        ] {
            let e = Augment::parse(spec).unwrap_err().to_string();
            assert!(e.contains("augment") && e.contains(want), "{spec}: {e}");
        }
        a.check_image((32, 32)).unwrap();
        let e = Augment::parse("crop=8")
            .unwrap()
            .check_image((8, 20))
            .unwrap_err();
        assert!(e.to_string().contains("only 8x20"), "{e}");
        Augment::parse("flip").unwrap().check_image((1, 1)).unwrap();
    }

    #[test]
    fn the_loader_transform_is_seeded_per_epoch_and_batch() {
        let ds = InMemoryDataset::new(
            batch(12).to_vec::<f32>().unwrap(),
            vec![2, 3, 4],
            vec![0; 12],
            1,
        )
        .unwrap();
        let aug = Augment {
            crop_padding: 1,
            flip_prob: 0.5,
        };
        let l = DataLoader::new(Arc::new(ds), 4)
            .unwrap()
            .seed(3)
            .with_batch_transform(aug.batch_transform());
        let epoch = |l: &DataLoader, e| -> Vec<f32> {
            l.iter_epoch(e)
                .flat_map(|b| b.unwrap().0.to_vec::<f32>().unwrap())
                .collect()
        };
        let a = epoch(&l, 0);
        assert_eq!(a, epoch(&l.clone().prefetch(0), 0));
        assert_ne!(a, epoch(&l, 1));
        assert_ne!(a, batch(12).to_vec::<f32>().unwrap());
    }
}
