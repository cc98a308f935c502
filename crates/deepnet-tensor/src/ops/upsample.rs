//! 2-d upsampling (resizing) with PyTorch semantics: `upsample_nearest2d` and
//! `upsample_bilinear2d`, the kernels behind `torch.nn.functional.interpolate` and
//! `torch.nn.Upsample` for 4-d inputs (the `interpolate` front end, which turns a scale factor
//! into an output size, is `deepnet_nn::functional::interpolate`).
//!
//! Shapes: `(N, C, H, W)` -> `(N, C, H_out, W_out)`; every plane is resized independently. The
//! coordinate maps (which input rows and columns an output reads, and with what weights) are
//! [`Resize`]'s. Sizes may shrink as well as grow.

use crate::autograd::Backward;
use crate::primitive::Resize;
use crate::{Error, Result, Tensor};

/// Backward of both resizes: a fixed linear map, the adjoint of the forward one.
struct UpsampleBackward {
    r: Resize,
    bilinear: bool,
}

impl Backward for UpsampleBackward {
    fn name(&self) -> &'static str {
        if self.bilinear {
            "upsample_bilinear2d"
        } else {
            "upsample_nearest2d"
        }
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gy = gy.to_dtype(x[0].dtype())?;
        let s = if self.bilinear {
            gy.storage()
                .upsample_bilinear2d_backward(gy.layout(), &self.r)?
        } else {
            gy.storage()
                .upsample_nearest2d_backward(gy.layout(), &self.r)?
        };
        Ok(vec![Some(Tensor::from_storage(s, x[0].shape().clone()))])
    }
}

/// The resize of `x` to `size`, validated as PyTorch validates it: a float `(N, C, H, W)` input
/// with non-empty planes (only the batch may be empty), a non-empty output, positive finite
/// scale factors.
fn resize(
    op: &'static str,
    x: &Tensor,
    size: (usize, usize),
    scales: Option<(f64, f64)>,
    align_corners: bool,
) -> Result<Resize> {
    if x.rank() != 4 {
        return Err(Error::Rank {
            op,
            expected: "input of shape (N, C, H, W)".into(),
            got: x.shape().clone(),
        });
    }
    if !x.dtype().is_float() {
        return Err(Error::DType {
            op,
            expected: "float32 or float64",
            got: x.dtype(),
        });
    }
    let d = x.dims();
    let (h, w) = (d[2], d[3]);
    if h == 0 || w == 0 || d[1] == 0 || size.0 == 0 || size.1 == 0 {
        return Err(Error::invalid(
            op,
            format!(
                "input planes and the output size must not be empty (only the batch may), got \
                 input {} and output size {}x{}",
                x.shape(),
                size.0,
                size.1
            ),
        ));
    }
    if let Some((sh, sw)) = scales {
        if !(sh.is_finite() && sw.is_finite() && sh > 0.0 && sw > 0.0) {
            return Err(Error::invalid(
                op,
                format!("scale factors ({sh}, {sw}) must be positive and finite"),
            ));
        }
    }
    Ok(Resize {
        n: d[0] * d[1],
        h,
        w,
        ho: size.0,
        wo: size.1,
        scale_h: scales.map(|s| s.0),
        scale_w: scales.map(|s| s.1),
        align_corners,
    })
}

impl Tensor {
    /// Nearest-neighbour resize (`torch._C._nn.upsample_nearest2d`, what
    /// `F.interpolate(mode="nearest")` calls): `(N, C, H, W)` -> `(N, C, size.0, size.1)`.
    /// Output row `i` copies input row `floor(i * H / H_out)` (in f32, as PyTorch), or
    /// `floor(i / scale_h)` when the caller's scale factors `scales = (scale_h, scale_w)` are
    /// given, as `interpolate(scale_factor=...)` passes them; columns likewise.
    pub fn upsample_nearest2d(
        &self,
        size: (usize, usize),
        scales: Option<(f64, f64)>,
    ) -> Result<Tensor> {
        let r = resize("upsample_nearest2d", self, size, scales, false)?;
        let s = self.storage().upsample_nearest2d(self.layout(), &r)?;
        Ok(self.resized(s, r, false))
    }

    /// Bilinear resize (`torch._C._nn.upsample_bilinear2d`, what
    /// `F.interpolate(mode="bilinear")` calls): `(N, C, H, W)` -> `(N, C, size.0, size.1)`.
    /// Output row `i` sits at input coordinate `i (H - 1) / (H_out - 1)` with `align_corners`,
    /// else at `max((i + 0.5) H / H_out - 0.5, 0)` (with `1 / scale_h` for `H / H_out` when
    /// `scales` are given), and blends the two input rows around it linearly; columns likewise.
    pub fn upsample_bilinear2d(
        &self,
        size: (usize, usize),
        align_corners: bool,
        scales: Option<(f64, f64)>,
    ) -> Result<Tensor> {
        let r = resize("upsample_bilinear2d", self, size, scales, align_corners)?;
        let s = self.storage().upsample_bilinear2d(self.layout(), &r)?;
        Ok(self.resized(s, r, true))
    }

    /// The result of a resize of `self` as a tensor recording its backward.
    fn resized(&self, s: crate::Storage, r: Resize, bilinear: bool) -> Tensor {
        let d = self.dims();
        Tensor::from_op(
            s,
            [d[0], d[1], r.ho, r.wo],
            UpsampleBackward { r, bilinear },
            &[self],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Tensor};

    #[test]
    fn gradients() {
        let x = seeded([2, 2, 3, 4], 1);
        for (size, scales) in [
            ((6, 8), None),
            ((7, 5), None),
            ((2, 3), None),
            ((7, 10), Some((2.5, 2.5))),
        ] {
            gradcheck(
                "upsample_nearest2d",
                |t| t[0].upsample_nearest2d(size, scales),
                &[x.clone()],
            )
            .unwrap();
            for ac in [false, true] {
                gradcheck(
                    "upsample_bilinear2d",
                    |t| t[0].upsample_bilinear2d(size, ac, scales),
                    &[x.clone()],
                )
                .unwrap();
            }
        }
        // a transposed (non-contiguous) input
        gradcheck(
            "upsample_bilinear2d_t",
            |t| {
                t[0].transpose(2, 3)?
                    .upsample_bilinear2d((5, 7), false, None)
            },
            &[seeded([1, 2, 3, 2], 2)],
        )
        .unwrap();
    }

    #[test]
    fn index_maps_follow_pytorch() {
        let x = Tensor::from_vec((0..5).map(|v| v as f64).collect(), [1, 1, 1, 5]).unwrap();
        let row = |t: Tensor| t.to_vec::<f64>().unwrap();
        // 5 -> 7: floor(j * 5 / 7)
        assert_eq!(
            row(x.upsample_nearest2d((1, 7), None).unwrap()),
            [0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0]
        );
        // 5 -> 8 maps with 5 / 8; a scale factor of 1.7 also gives 8 columns (floor(8.5)) but
        // maps with 1 / 1.7, as PyTorch
        let y = row(x.upsample_nearest2d((1, 8), None).unwrap());
        assert_eq!(y, [0.0, 0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0]);
        let y = row(x.upsample_nearest2d((1, 8), Some((1.0, 1.7))).unwrap());
        assert_eq!(y, [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0]);
        // 5 -> 2: floor(j * 2.5)
        assert_eq!(row(x.upsample_nearest2d((1, 2), None).unwrap()), [0.0, 2.0]);
        // a scale factor barely above 1 keeps the size (floor(5 * 1.01) = 5): the identity
        assert_eq!(
            row(x.upsample_nearest2d((1, 5), Some((1.0, 1.01))).unwrap()),
            [0.0, 1.0, 2.0, 3.0, 4.0]
        );
        // bilinear on a ramp is the source coordinate itself: align_corners 5 -> 9 steps by 0.5
        let y = row(x.upsample_bilinear2d((1, 9), true, None).unwrap());
        assert_eq!(y, (0..9).map(|j| j as f64 * 0.5).collect::<Vec<_>>());
        // half-pixel centres, 5 -> 10: (j + 0.5) / 2 - 0.5, clamped to [0, 4]
        let y = row(x.upsample_bilinear2d((1, 10), false, None).unwrap());
        let want: Vec<f64> = (0..10)
            .map(|j| ((j as f64 + 0.5) / 2.0 - 0.5).clamp(0.0, 4.0))
            .collect();
        assert_eq!(y, want);
    }

    #[test]
    fn errors_and_empty_batch() {
        let z = |s: &[usize]| Tensor::zeros(s.to_vec(), DType::F32).unwrap();
        let e = |r: crate::Result<Tensor>| r.unwrap_err().to_string();
        assert!(e(z(&[3, 4, 4]).upsample_nearest2d((8, 8), None)).contains("(N, C, H, W)"));
        assert_eq!(
            e(z(&[2, 3, 4, 4]).upsample_bilinear2d((0, 3), false, None)),
            "upsample_bilinear2d: input planes and the output size must not be empty (only the \
             batch may), got input [2, 3, 4, 4] and output size 0x3"
        );
        assert!(e(z(&[2, 0, 4, 4]).upsample_nearest2d((8, 8), None)).contains("must not be empty"));
        assert!(
            e(z(&[1, 1, 4, 4]).upsample_nearest2d((8, 8), Some((0.0, 2.0)))).contains("positive")
        );
        let i = Tensor::zeros([1, 1, 2, 2], DType::I64).unwrap();
        assert!(e(i.upsample_nearest2d((4, 4), None)).contains("dtype"));
        assert_eq!(
            z(&[0, 3, 4, 4])
                .upsample_bilinear2d((8, 8), true, None)
                .unwrap()
                .dims(),
            [0, 3, 8, 8]
        );
    }
}
