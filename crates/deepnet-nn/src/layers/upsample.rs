//! The resizing layer `torch.nn.Upsample` (modes nearest and bilinear). It has no parameters;
//! inside a `Sequential` its errors carry the child's path.

use super::py_float;
use crate::functional::{interpolate, UpsampleMode, UpsampleSize};
use crate::Module;
use deepnet_tensor::{Error, Result, Tensor};

/// Resizes images, as `torch.nn.Upsample` (see [`interpolate`]): `(N, C, H, W)` ->
/// `(N, C, H_out, W_out)` with the output size given or scaled from the input.
///
/// ```
/// use deepnet_nn::functional::UpsampleMode;
/// use deepnet_nn::layers::Upsample;
/// use deepnet_nn::Module;
/// let up = Upsample::scale_factor(2.0, UpsampleMode::Nearest).unwrap();
/// assert_eq!(up.describe(), "Upsample(scale_factor=2.0, mode='nearest')");
/// ```
#[derive(Clone, Debug)]
pub struct Upsample {
    size: UpsampleSize,
    mode: UpsampleMode,
}

impl Upsample {
    /// A layer resizing to `size` (a fixed output size, or scale factors) with `mode`; the
    /// sizes or scale factors must be positive (scale factors finite).
    pub fn new(size: UpsampleSize, mode: UpsampleMode) -> Result<Upsample> {
        let ok = match size {
            UpsampleSize::Size(h, w) => h > 0 && w > 0,
            UpsampleSize::ScaleFactor(h, w) => h.is_finite() && w.is_finite() && h > 0.0 && w > 0.0,
        };
        if !ok {
            return Err(Error::msg(format!(
                "Upsample: {size:?} must be positive{}",
                if matches!(size, UpsampleSize::ScaleFactor(..)) {
                    " and finite"
                } else {
                    ""
                }
            )));
        }
        Ok(Upsample { size, mode })
    }

    /// Both sides scaled by `factor` (`nn.Upsample(scale_factor=2)`).
    pub fn scale_factor(factor: f64, mode: UpsampleMode) -> Result<Upsample> {
        Upsample::new(UpsampleSize::ScaleFactor(factor, factor), mode)
    }

    /// The output size or scale factors.
    pub fn size(&self) -> UpsampleSize {
        self.size
    }

    /// The mode.
    pub fn mode(&self) -> UpsampleMode {
        self.mode
    }
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        interpolate(x, self.size, self.mode)
    }

    /// PyTorch's repr: `Upsample(scale_factor=2.0, mode='nearest')`,
    /// `Upsample(size=(7, 5), mode='bilinear')` (a square size or equal factors print as one
    /// number; `align_corners` is not shown, as in PyTorch).
    fn describe(&self) -> String {
        let what = match self.size {
            UpsampleSize::Size(h, w) if h == w => format!("size={h}"),
            UpsampleSize::Size(h, w) => format!("size=({h}, {w})"),
            UpsampleSize::ScaleFactor(h, w) if h == w => format!("scale_factor={}", py_float(h)),
            UpsampleSize::ScaleFactor(h, w) => {
                format!("scale_factor=({}, {})", py_float(h), py_float(w))
            }
        };
        format!("Upsample({what}, mode='{}')", self.mode.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_tensor::testing::seeded;

    #[test]
    fn describe_forward_and_errors() {
        let bilinear = UpsampleMode::Bilinear {
            align_corners: true,
        };
        let up = Upsample::new(UpsampleSize::Size(7, 5), bilinear).unwrap();
        assert_eq!(up.describe(), "Upsample(size=(7, 5), mode='bilinear')");
        assert_eq!(
            up.forward(&seeded([2, 3, 4, 4], 1)).unwrap().dims(),
            [2, 3, 7, 5]
        );
        let up = Upsample::new(UpsampleSize::ScaleFactor(1.5, 2.0), UpsampleMode::Nearest).unwrap();
        assert_eq!(
            up.describe(),
            "Upsample(scale_factor=(1.5, 2.0), mode='nearest')"
        );
        assert_eq!(
            up.forward(&seeded([1, 1, 3, 3], 2)).unwrap().dims(),
            [1, 1, 4, 6]
        );
        assert_eq!(
            Upsample::new(UpsampleSize::Size(7, 7), UpsampleMode::Nearest)
                .unwrap()
                .describe(),
            "Upsample(size=7, mode='nearest')"
        );
        assert!(Upsample::scale_factor(0.0, UpsampleMode::Nearest).is_err());
        assert!(Upsample::new(UpsampleSize::Size(0, 3), UpsampleMode::Nearest).is_err());
        let e = Upsample::scale_factor(2.0, UpsampleMode::Nearest)
            .unwrap()
            .forward(&seeded([3, 4, 4], 3))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("interpolate(nearest)"), "{e}");
    }
}
