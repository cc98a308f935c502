//! 2-d pooling with PyTorch semantics: `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`.
//!
//! Inputs are `(N, C, H, W)` or `(C, H, W)`; every plane is pooled independently, in parallel.
//! Output size along each axis: `(H + 2 p - d (k - 1) - 1) / s + 1`, rounded down, or up with
//! `ceil_mode` (then the last window must start inside the input or the left padding:
//! if `(H_out - 1) s >= H + p` the last one is dropped).

use crate::autograd::Backward;
use crate::primitive::Geom;
use crate::{Error, Result, Shape, Tensor};

/// The output size of a pooling window along one axis, or an error naming the arithmetic.
fn pool_out(
    op: &'static str,
    size: usize,
    (k, s, p, d): (usize, usize, usize, usize),
    ceil_mode: bool,
) -> Result<usize> {
    let eff = d * (k - 1) + 1;
    if size + 2 * p < eff {
        return Err(Error::invalid(
            op,
            format!(
                "kernel {k} (dilation {d}) is larger than the padded input: {size} + 2*{p} < {eff}"
            ),
        ));
    }
    let num = size + 2 * p - eff;
    let mut out = if ceil_mode { num.div_ceil(s) } else { num / s } + 1;
    if ceil_mode && (out - 1) * s >= size + p {
        out -= 1;
    }
    Ok(out)
}

/// The pooling geometry of `x` (planes in `n`), validated as PyTorch does.
fn pool_geom(
    op: &'static str,
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    ceil_mode: bool,
) -> Result<Geom> {
    let r = x.rank();
    if r != 3 && r != 4 {
        return Err(Error::Rank {
            op,
            expected: "input of shape (N, C, H, W) or (C, H, W)".into(),
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
    if kernel.0 == 0
        || kernel.1 == 0
        || stride.0 == 0
        || stride.1 == 0
        || dilation.0 == 0
        || dilation.1 == 0
    {
        return Err(Error::invalid(
            op,
            format!("kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must all be at least 1"),
        ));
    }
    if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
        return Err(Error::invalid(
            op,
            format!("padding {padding:?} must be at most half the kernel {kernel:?}"),
        ));
    }
    let d = x.dims();
    let (h, w) = (d[r - 2], d[r - 1]);
    if h == 0 || w == 0 {
        // as PyTorch: only the batch may be empty (a window over padding alone has no maximum)
        return Err(Error::invalid(
            op,
            format!(
                "input planes must not be empty, got {h}x{w} (input {})",
                x.shape()
            ),
        ));
    }
    let ho = pool_out(
        op,
        h,
        (kernel.0, stride.0, padding.0, dilation.0),
        ceil_mode,
    )?;
    let wo = pool_out(
        op,
        w,
        (kernel.1, stride.1, padding.1, dilation.1),
        ceil_mode,
    )?;
    Ok(Geom {
        n: d[..r - 2].iter().product(),
        c: 1,
        h,
        w,
        kh: kernel.0,
        kw: kernel.1,
        sh: stride.0,
        sw: stride.1,
        ph: padding.0,
        pw: padding.1,
        dh: dilation.0,
        dw: dilation.1,
        ho,
        wo,
    })
}

/// The shape of `x` with the last two dims replaced.
fn out_shape(x: &Tensor, ho: usize, wo: usize) -> Shape {
    let mut d = x.dims().to_vec();
    let r = d.len();
    d[r - 2] = ho;
    d[r - 1] = wo;
    Shape::new(d)
}

/// Backward of max pooling: each output gradient goes to the input element that was the max.
struct MaxPoolBackward {
    g: Geom,
    /// the i64 index of each maximum in its plane, on the input's device
    idx: Tensor,
}

impl Backward for MaxPoolBackward {
    fn name(&self) -> &'static str {
        "max_pool2d"
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gy = gy.to_dtype(x[0].dtype())?;
        let i = &self.idx;
        let s =
            gy.storage()
                .max_pool2d_backward(gy.layout(), (&i.storage(), i.layout()), &self.g)?;
        Ok(vec![Some(Tensor::from_storage(s, x[0].shape().clone()))])
    }
}

/// Backward of average pooling (a fixed linear map).
struct AvgPoolBackward {
    g: Geom,
    include_pad: bool,
}

impl Backward for AvgPoolBackward {
    fn name(&self) -> &'static str {
        "avg_pool2d"
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gy = gy.to_dtype(x[0].dtype())?;
        let s = gy
            .storage()
            .avg_pool2d_backward(gy.layout(), &self.g, self.include_pad)?;
        Ok(vec![Some(Tensor::from_storage(s, x[0].shape().clone()))])
    }
}

/// Backward of adaptive average pooling.
struct AdaptiveAvgPoolBackward(Geom);

impl Backward for AdaptiveAvgPoolBackward {
    fn name(&self) -> &'static str {
        "adaptive_avg_pool2d"
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gy = gy.to_dtype(x[0].dtype())?;
        let s = gy
            .storage()
            .adaptive_avg_pool2d_backward(gy.layout(), &self.0)?;
        Ok(vec![Some(Tensor::from_storage(s, x[0].shape().clone()))])
    }
}

impl Tensor {
    /// 2-d max pooling (`torch.nn.functional.max_pool2d`): `(N, C, H, W)` -> `(N, C, H_out, W_out)`
    /// (or without `N`). Padding counts as `-inf`; `padding` may be at most half the kernel.
    /// The gradient flows to the first maximum of each window.
    pub fn max_pool2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        ceil_mode: bool,
    ) -> Result<Tensor> {
        Ok(self
            .max_pool2d_impl(kernel, stride, padding, dilation, ceil_mode, false)?
            .0)
    }

    /// [`Tensor::max_pool2d`] that also returns the argmax of each window as int64 indices
    /// `h * W + w` into its input plane (`return_indices=True`).
    pub fn max_pool2d_with_indices(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        ceil_mode: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (y, i) = self.max_pool2d_impl(kernel, stride, padding, dilation, ceil_mode, true)?;
        Ok((y, i.expect("indices were asked for")))
    }

    /// Max pooling, with the int64 indices tensor only when `with_indices` (the backward keeps
    /// a handle to the same indices either way).
    fn max_pool2d_impl(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        ceil_mode: bool,
        with_indices: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let g = pool_geom(
            "max_pool2d",
            self,
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode,
        )?;
        if g.h * g.w >= u32::MAX as usize {
            return Err(Error::invalid(
                "max_pool2d",
                "planes must hold fewer than 2^32 elements",
            ));
        }
        let (s, idx) = self.storage().max_pool2d(self.layout(), &g)?;
        let shape = out_shape(self, g.ho, g.wo);
        let idx = Tensor::from_storage(idx, shape.clone());
        let indices = with_indices.then(|| idx.clone());
        let y = Tensor::from_op(s, shape, MaxPoolBackward { g, idx }, &[self]);
        Ok((y, indices))
    }

    /// 2-d average pooling (`torch.nn.functional.avg_pool2d` without `divisor_override`):
    /// `(N, C, H, W)` -> `(N, C, H_out, W_out)` (or without `N`). With `count_include_pad` the
    /// divisor counts the padding inside the window (windows are clipped to `H + padding` first);
    /// without, only the input elements covered.
    pub fn avg_pool2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        ceil_mode: bool,
        count_include_pad: bool,
    ) -> Result<Tensor> {
        let g = pool_geom(
            "avg_pool2d",
            self,
            kernel,
            stride,
            padding,
            (1, 1),
            ceil_mode,
        )?;
        let s = self
            .storage()
            .avg_pool2d(self.layout(), &g, count_include_pad)?;
        let op = AvgPoolBackward {
            g,
            include_pad: count_include_pad,
        };
        Ok(Tensor::from_op(s, out_shape(self, g.ho, g.wo), op, &[self]))
    }

    /// 2-d adaptive average pooling (`torch.nn.functional.adaptive_avg_pool2d`):
    /// `(N, C, H, W)` -> `(N, C, oH, oW)` (or without `N`), output `i` averaging rows
    /// `floor(i H / oH) .. ceil((i + 1) H / oH)`, likewise columns.
    pub fn adaptive_avg_pool2d(&self, output_size: (usize, usize)) -> Result<Tensor> {
        const OP: &str = "adaptive_avg_pool2d";
        let r = self.rank();
        if r != 3 && r != 4 {
            return Err(Error::Rank {
                op: OP,
                expected: "input of shape (N, C, H, W) or (C, H, W)".into(),
                got: self.shape().clone(),
            });
        }
        if !self.dtype().is_float() {
            return Err(Error::DType {
                op: OP,
                expected: "float32 or float64",
                got: self.dtype(),
            });
        }
        let d = self.dims();
        let (h, w) = (d[r - 2], d[r - 1]);
        if output_size.0 == 0 || output_size.1 == 0 || h == 0 || w == 0 {
            return Err(Error::invalid(
                OP,
                format!("input {h}x{w} and output size {output_size:?} must be non-empty"),
            ));
        }
        let g = Geom {
            n: d[..r - 2].iter().product(),
            c: 1,
            h,
            w,
            kh: 1,
            kw: 1,
            sh: 1,
            sw: 1,
            ph: 0,
            pw: 0,
            dh: 1,
            dw: 1,
            ho: output_size.0,
            wo: output_size.1,
        };
        let s = self.storage().adaptive_avg_pool2d(self.layout(), &g)?;
        let shape = out_shape(self, g.ho, g.wo);
        Ok(Tensor::from_op(
            s,
            shape,
            AdaptiveAvgPoolBackward(g),
            &[self],
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Tensor};

    /// Distinct values (no ties, so max pooling is differentiable everywhere nearby).
    fn distinct(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut g = crate::Generator::new(seed);
        let perm = g.permutation(n);
        let v: Vec<f64> = perm
            .iter()
            .map(|&p| p as f64 * 0.1 - n as f64 * 0.05)
            .collect();
        Tensor::from_vec(v, shape.to_vec()).unwrap()
    }

    #[test]
    fn max_pool_values_indices_and_ceil_mode() {
        let x = Tensor::arange(0.0, 25.0, 1.0, DType::F32)
            .unwrap()
            .reshape([1, 1, 5, 5])
            .unwrap();
        let (y, i) = x
            .max_pool2d_with_indices((2, 2), (2, 2), (0, 0), (1, 1), false)
            .unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![6., 8., 16., 18.]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![6, 8, 16, 18]);
        // ceil_mode keeps the partial last window: 3x3
        let y = x.max_pool2d((2, 2), (2, 2), (0, 0), (1, 1), true).unwrap();
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![6., 8., 9., 16., 18., 19., 21., 23., 24.]
        );
        // k3 s2 p1 on 5: (5 + 2 - 3)/2 + 1 = 3; the -inf padding is never selected
        let y = x
            .neg()
            .unwrap()
            .max_pool2d((3, 3), (2, 2), (1, 1), (1, 1), false)
            .unwrap();
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![0., -1., -3., -5., -6., -8., -15., -16., -18.]
        );
        // the ceil_mode rule: on 6 with k2 s2 p1, ceil gives (6+2-2)/2+1 = 4 and the 4th window
        // starts at 6 - 1 = 5 < 6 + 1, so it stays; on 5 with k2 s2 p1 ceil gives 4 but the last
        // window would start at 6 >= 5 + 1, so it is dropped
        let o = |h: usize| {
            Tensor::zeros([1, h, h], DType::F32)
                .unwrap()
                .max_pool2d((2, 2), (2, 2), (1, 1), (1, 1), true)
                .unwrap()
                .dims()[1]
        };
        assert_eq!((o(6), o(5)), (4, 3));
        // NaN propagates
        let n = Tensor::from_vec(vec![1.0f32, f32::NAN, 3.0, 0.0], [1, 2, 2]).unwrap();
        assert!(n
            .max_pool2d((2, 2), (2, 2), (0, 0), (1, 1), false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()[0]
            .is_nan());
    }

    #[test]
    fn avg_and_adaptive_values() {
        let x = Tensor::arange(0.0, 16.0, 1.0, DType::F64)
            .unwrap()
            .reshape([1, 1, 4, 4])
            .unwrap();
        let y = x.avg_pool2d((2, 2), (2, 2), (0, 0), false, true).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![2.5, 4.5, 10.5, 12.5]);
        // padding 1, k3 s2: corner window covers 4 inputs {0,1,4,5} = 10, divided by 9 or 4
        let inc = x
            .avg_pool2d((3, 3), (2, 2), (1, 1), false, true)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        let exc = x
            .avg_pool2d((3, 3), (2, 2), (1, 1), false, false)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        assert!((inc[0] - 10.0 / 9.0).abs() < 1e-12 && (exc[0] - 2.5).abs() < 1e-12);
        // adaptive 4 -> 3: windows [0,2), [1,3), [2,4)
        let a = x
            .adaptive_avg_pool2d((3, 1))
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        assert_eq!(a, vec![3.5, 7.5, 11.5]);
        assert_eq!(
            x.adaptive_avg_pool2d((1, 1))
                .unwrap()
                .to_vec::<f64>()
                .unwrap(),
            vec![7.5]
        );
    }

    #[test]
    fn pool_gradients() {
        let x = distinct(&[2, 3, 7, 6], 1);
        gradcheck(
            "max_pool2d",
            |t| t[0].max_pool2d((2, 2), (2, 2), (0, 0), (1, 1), false),
            std::slice::from_ref(&x),
        )
        .unwrap();
        gradcheck(
            "max_pool2d_p1",
            |t| t[0].max_pool2d((3, 3), (2, 2), (1, 1), (1, 1), true),
            std::slice::from_ref(&x),
        )
        .unwrap();
        gradcheck(
            "max_pool2d_dil",
            |t| t[0].max_pool2d((2, 3), (1, 2), (1, 1), (2, 1), false),
            std::slice::from_ref(&x),
        )
        .unwrap();
        gradcheck(
            "avg_pool2d",
            |t| t[0].avg_pool2d((3, 3), (2, 2), (1, 1), true, true),
            std::slice::from_ref(&x),
        )
        .unwrap();
        gradcheck(
            "avg_pool2d_excl",
            |t| t[0].avg_pool2d((3, 2), (2, 1), (1, 1), false, false),
            std::slice::from_ref(&x),
        )
        .unwrap();
        gradcheck("adaptive", |t| t[0].adaptive_avg_pool2d((3, 4)), &[x]).unwrap();
        gradcheck(
            "adaptive_3d",
            |t| t[0].adaptive_avg_pool2d((2, 3)),
            &[seeded([2, 5, 4], 2)],
        )
        .unwrap();
    }

    #[test]
    fn pool_errors() {
        let x = Tensor::zeros([1, 1, 3, 3], DType::F32).unwrap();
        let e = x
            .max_pool2d((5, 5), (1, 1), (0, 0), (1, 1), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "max_pool2d: kernel 5 (dilation 1) is larger than the padded input: 3 + 2*0 < 5"
        );
        assert!(x
            .max_pool2d((2, 2), (2, 2), (2, 2), (1, 1), false)
            .unwrap_err()
            .to_string()
            .contains("at most half"));
        assert!(x.avg_pool2d((2, 2), (0, 2), (0, 0), false, true).is_err());
        assert!(x.reshape([9]).unwrap().adaptive_avg_pool2d((1, 1)).is_err());
        assert!(x.adaptive_avg_pool2d((0, 1)).is_err());
        assert!(x
            .to_dtype(DType::I64)
            .unwrap()
            .max_pool2d((2, 2), (1, 1), (0, 0), (1, 1), false)
            .is_err());
    }
}
