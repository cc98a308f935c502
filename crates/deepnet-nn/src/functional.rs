//! Stateless forms of the layers (PyTorch `torch.nn.functional`): the module types in
//! [`crate::layers`] hold parameters and settings and call these.

use deepnet_tensor::{Error, Generator, Result, Tensor};

/// The affine map `y = x @ w^T + b` (`torch.nn.functional.linear`).
///
/// Shapes: `x: (*, in_features)`, `w: (out_features, in_features)`, `b: (out_features,)`,
/// result `(*, out_features)`. A 1-d `x` of shape `(in_features,)` gives `(out_features,)`.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if w.rank() != 2 {
        return Err(Error::msg(format!(
            "linear: weight must be (out_features, in_features), got {}",
            w.shape()
        )));
    }
    let (out_f, in_f) = (w.dims()[0], w.dims()[1]);
    if x.rank() == 0 || x.dims()[x.rank() - 1] != in_f {
        return Err(Error::msg(format!(
            "linear: expected input (*, {in_f}), got {}",
            x.shape()
        )));
    }
    if let Some(b) = b {
        if b.dims() != [out_f] {
            return Err(Error::msg(format!(
                "linear: bias must be ({out_f},) to match weight {}, got {}",
                w.shape(),
                b.shape()
            )));
        }
    }
    let y = x.matmul(&w.t()?)?;
    match b {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// Inverted dropout (`torch.nn.functional.dropout`): in training, each element is zeroed with
/// probability `p` and the kept ones are scaled by `1 / (1 - p)`, so the expected value is
/// unchanged; with `training = false` (or `p = 0`) it is the identity.
///
/// Shapes: `x: (*)`, result `(*)`. `p` must be in `[0, 1)`; the mask is drawn from `gen`.
pub fn dropout(x: &Tensor, p: f64, training: bool, gen: &mut Generator) -> Result<Tensor> {
    check_dropout_p(p)?;
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    float_only("dropout", x)?;
    let keep = 1.0 - p;
    let mask = Tensor::bernoulli(x.shape().clone(), keep, x.dtype(), gen)?.to_device(x.device())?;
    x.mul(&mask.mul_scalar(1.0 / keep)?)
}

/// `p` is a probability in `[0, 1)`: `p = 1` would drop everything and divide by zero.
pub(crate) fn check_dropout_p(p: f64) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            op: "dropout",
            msg: format!("probability p = {p} must be in [0, 1)"),
        })
    }
}

/// How [`interpolate`] (and [`crate::layers::Upsample`]) computes the new pixels: PyTorch's
/// `mode="nearest"` and `mode="bilinear"` with its `align_corners` (PyTorch's default when not
/// given is `false`; nearest has no such option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsampleMode {
    /// each output pixel copies the input pixel `floor(i * in / out)` (PyTorch's `nearest`, not
    /// `nearest-exact`)
    Nearest,
    /// the linear blend of the four input pixels around the output's source coordinate
    Bilinear {
        /// whether the corner pixels' centres of input and output coincide (source coordinate
        /// `i (in - 1) / (out - 1)`) rather than their outer edges (`(i + 0.5) in / out - 0.5`)
        align_corners: bool,
    },
}

impl UpsampleMode {
    /// PyTorch's name of the mode.
    pub fn name(&self) -> &'static str {
        match self {
            UpsampleMode::Nearest => "nearest",
            UpsampleMode::Bilinear { .. } => "bilinear",
        }
    }
}

/// The output size of [`interpolate`]: given, or the input size times scale factors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpsampleSize {
    /// `(H_out, W_out)`
    Size(usize, usize),
    /// `(scale_h, scale_w)`: `H_out = floor(H * scale_h)`, and the coordinate maps use
    /// `1 / scale_h` rather than `H / H_out` (PyTorch's `recompute_scale_factor=None`)
    ScaleFactor(f64, f64),
}

/// Resizes images (`torch.nn.functional.interpolate` for 4-d inputs, modes `nearest` and
/// `bilinear`): `x: (N, C, H, W)` -> `(N, C, H_out, W_out)`, growing or shrinking each plane to
/// `size`. See [`Tensor::upsample_nearest2d`] and [`Tensor::upsample_bilinear2d`] for the
/// coordinate maps; differentiable with respect to `x`.
pub fn interpolate(x: &Tensor, size: UpsampleSize, mode: UpsampleMode) -> Result<Tensor> {
    let op = match mode {
        UpsampleMode::Nearest => "interpolate(nearest)",
        UpsampleMode::Bilinear { .. } => "interpolate(bilinear)",
    };
    if x.rank() != 4 {
        return Err(Error::Rank {
            op,
            expected: "input of shape (N, C, H, W)".into(),
            got: x.shape().clone(),
        });
    }
    let (h, w) = (x.dims()[2], x.dims()[3]);
    let (out, scales) = match size {
        UpsampleSize::Size(ho, wo) => ((ho, wo), None),
        UpsampleSize::ScaleFactor(sh, sw) => {
            if !(sh.is_finite() && sw.is_finite() && sh > 0.0 && sw > 0.0) {
                return Err(Error::InvalidArgument {
                    op,
                    msg: format!("scale factors ({sh}, {sw}) must be positive and finite"),
                });
            }
            let grow = |n: usize, s: f64| (n as f64 * s).floor() as usize;
            ((grow(h, sh), grow(w, sw)), Some((sh, sw)))
        }
    };
    match mode {
        UpsampleMode::Nearest => x.upsample_nearest2d(out, scales),
        UpsampleMode::Bilinear { align_corners } => {
            x.upsample_bilinear2d(out, align_corners, scales)
        }
    }
}

/// Errors unless `x` is a float tensor.
fn float_only(op: &'static str, x: &Tensor) -> Result<()> {
    if x.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::DType {
            op,
            expected: "float32 or float64",
            got: x.dtype(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    #[test]
    fn linear_values_shapes_and_errors() {
        // x = [[1, 2]], w = [[1, 0], [1, 1], [0, -1]], b = [0.5, 0, 1]
        // y = [1*1 + 2*0 + 0.5, 1 + 2 + 0, -2 + 1] = [1.5, 3, -1]
        let x = Tensor::from_vec(vec![1.0f64, 2.0], [1, 2]).unwrap();
        let w = Tensor::from_vec(vec![1.0f64, 0.0, 1.0, 1.0, 0.0, -1.0], [3, 2]).unwrap();
        let b = Tensor::from_vec(vec![0.5f64, 0.0, 1.0], [3]).unwrap();
        let y = linear(&x, &w, Some(&b)).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.5, 3.0, -1.0]);
        assert_eq!(
            linear(&x, &w, None).unwrap().to_vec::<f64>().unwrap(),
            vec![1.0, 3.0, -2.0]
        );
        // (*, in) -> (*, out) for any leading dims, and 1-d inputs
        assert_eq!(
            linear(&seeded([4, 5, 2], 1), &w, Some(&b)).unwrap().dims(),
            [4, 5, 3]
        );
        assert_eq!(linear(&seeded([2], 1), &w, None).unwrap().dims(), [3]);
        let e = linear(&seeded([4, 3], 1), &w, None)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "linear: expected input (*, 2), got [4, 3]");
        let e = linear(&x, &w, Some(&seeded([2], 1)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bias must be (3,)"), "{e}");
        assert!(linear(&x, &seeded([3], 1), None).is_err());
        assert!(linear(&Tensor::scalar(1.0f64), &w, None).is_err());
    }

    #[test]
    fn linear_gradcheck() {
        gradcheck(
            "linear",
            |t| linear(&t[0], &t[1], Some(&t[2])),
            &[seeded([2, 3, 4], 1), seeded([5, 4], 2), seeded([5], 3)],
        )
        .unwrap();
    }

    #[test]
    fn dropout_scales_kept_units_and_is_identity_in_eval() {
        let x = Tensor::ones([1000], DType::F64).unwrap();
        let y = dropout(&x, 0.25, true, &mut Generator::new(1)).unwrap();
        let v = y.to_vec::<f64>().unwrap();
        // every element is 0 or 1 / (1 - 0.25) = 4/3
        assert!(v.iter().all(|&e| e == 0.0 || (e - 4.0 / 3.0).abs() < 1e-12));
        let dropped = v.iter().filter(|&&e| e == 0.0).count();
        assert!((200..300).contains(&dropped), "{dropped}");
        let mean = v.iter().sum::<f64>() / 1000.0;
        assert!((mean - 1.0).abs() < 0.1, "{mean}");
        // same seed, same mask
        let y2 = dropout(&x, 0.25, true, &mut Generator::new(1)).unwrap();
        assert_eq!(v, y2.to_vec::<f64>().unwrap());
        let e = dropout(&x, 0.25, false, &mut Generator::new(1)).unwrap();
        assert!(e.same_storage(&x));
        assert!(dropout(&x, 1.0, true, &mut Generator::new(1)).is_err());
        assert!(dropout(&x, -0.1, true, &mut Generator::new(1)).is_err());
        assert!(dropout(&x, f64::NAN, false, &mut Generator::new(1)).is_err());
    }

    #[test]
    fn interpolate_sizes_modes_and_errors() {
        let x = seeded([2, 3, 5, 4], 1);
        let bilinear = UpsampleMode::Bilinear {
            align_corners: false,
        };
        let y = interpolate(
            &x,
            UpsampleSize::ScaleFactor(1.7, 2.5),
            UpsampleMode::Nearest,
        )
        .unwrap();
        // floor(5 * 1.7) = 8, floor(4 * 2.5) = 10, with the factors passed down
        assert_eq!(y.dims(), [2, 3, 8, 10]);
        let want = x.upsample_nearest2d((8, 10), Some((1.7, 2.5))).unwrap();
        assert_eq!(y.to_vec_f64(), want.to_vec_f64());
        // the same size given directly maps with 5 / 8 instead of 1 / 1.7: other rows
        let z = interpolate(&x, UpsampleSize::Size(8, 10), UpsampleMode::Nearest).unwrap();
        assert_ne!(y.to_vec_f64(), z.to_vec_f64());
        let b = interpolate(&x, UpsampleSize::Size(3, 7), bilinear).unwrap();
        assert_eq!(b.dims(), [2, 3, 3, 7]);
        gradcheck(
            "interpolate",
            |t| interpolate(&t[0], UpsampleSize::ScaleFactor(2.0, 1.5), bilinear),
            &[seeded([1, 2, 3, 3], 2)],
        )
        .unwrap();
        let e = |s: UpsampleSize| interpolate(&x, s, bilinear).unwrap_err().to_string();
        assert!(e(UpsampleSize::ScaleFactor(f64::NAN, 2.0)).contains("positive and finite"));
        assert!(e(UpsampleSize::ScaleFactor(0.1, 2.0)).contains("must not be empty"));
        let e = interpolate(&seeded([3, 5, 4], 3), UpsampleSize::Size(6, 6), bilinear)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("interpolate(bilinear)") && e.contains("(N, C, H, W)"),
            "{e}"
        );
    }

    #[test]
    fn dropout_gradcheck_with_a_fixed_mask() {
        // the same seed on every call gives the same mask, so the function is deterministic
        gradcheck(
            "dropout",
            |t| dropout(&t[0], 0.5, true, &mut Generator::new(9)),
            &[seeded([3, 4], 1)],
        )
        .unwrap();
    }
}
