//! Two Keras layers that PyTorch has no single module for, built from deepnet's ops:
//! [`SeparableConv2d`] (Keras `SeparableConv2D`: a depthwise convolution, `groups` = channels,
//! then a 1x1 pointwise one) and [`MaxPool2dSame`] (Keras/TensorFlow `MaxPooling2D` with
//! `padding="same"`, whose padding can be uneven).

use crate::join;
use crate::shape_check::forward_child;
use deepnet_nn::layers::{Conv2d, Conv2dConfig};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// TensorFlow's `"same"` padding of one axis of `n` elements for a window `k` moved by `s`:
/// the output has `ceil(n / s)` elements and the total padding `max((out - 1) s + k - n, 0)` is
/// split `(total / 2, total - total / 2)`: an odd extra element goes at the end (bottom, right),
/// where PyTorch's symmetric padding would put it on both sides.
///
/// ```
/// use deepnet_models::keras_layers::tf_same_padding;
/// assert_eq!(tf_same_padding(60, 3, 2), (0, 1)); // 30 outputs: windows start at 0, 2, ..., 58
/// assert_eq!(tf_same_padding(15, 3, 2), (1, 1));
/// assert_eq!(tf_same_padding(64, 3, 1), (1, 1));
/// assert_eq!(tf_same_padding(60, 1, 2), (0, 0));
/// ```
pub fn tf_same_padding(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s.max(1));
    let total = ((out.saturating_sub(1)) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// A depthwise-separable convolution, as Keras's `SeparableConv2D` with `depth_multiplier` 1:
/// `depthwise` = `Conv2d(C, C, k, padding, groups=C, bias=False)` (one `k x k` filter per
/// channel), then `pointwise` = `Conv2d(C, out, 1, bias)` mixing the channels.
///
/// Parameters: `depthwise.weight (C, 1, k, k)`, `pointwise.weight (out, C, 1, 1)` (and
/// `pointwise.bias (out,)`). Shapes: `(N, C, H, W)` -> `(N, out, H', W')` with the depthwise
/// convolution's output size (stride 1: `H + 2 padding - k + 1`).
pub struct SeparableConv2d {
    depthwise: Conv2d,
    pointwise: Conv2d,
    path: String,
}

impl SeparableConv2d {
    /// A new layer under `pb` (`<path>.depthwise`, `<path>.pointwise`).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        padding: usize,
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let depthwise = Conv2d::new(
            in_channels,
            in_channels,
            (kernel, kernel),
            Conv2dConfig {
                padding: (padding, padding),
                groups: in_channels,
                bias: false,
                ..Default::default()
            },
            &pb.push("depthwise"),
        )?;
        let pointwise = Conv2d::new(
            in_channels,
            out_channels,
            (1, 1),
            Conv2dConfig {
                bias,
                ..Default::default()
            },
            &pb.push("pointwise"),
        )?;
        Ok(SeparableConv2d {
            depthwise,
            pointwise,
            path: pb.path().to_string(),
        })
    }
}

impl Module for SeparableConv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = forward_child(&self.depthwise, &join(&self.path, "depthwise"), x)?;
        forward_child(&self.pointwise, &join(&self.path, "pointwise"), &h)
    }
    fn describe(&self) -> String {
        "SeparableConv2d".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("depthwise".into(), &self.depthwise),
            ("pointwise".into(), &self.pointwise),
        ]
    }
}

/// Max pooling with TensorFlow's `"same"` padding (see [`tf_same_padding`]): the input is
/// padded with `-inf`, unevenly where needed, then pooled without padding. `(N, C, H, W)` ->
/// `(N, C, ceil(H / sh), ceil(W / sw))`.
#[derive(Clone, Debug)]
pub struct MaxPool2dSame {
    kernel_size: (usize, usize),
    stride: (usize, usize),
}

impl MaxPool2dSame {
    /// Pooling over `kernel_size` windows moved by `stride`.
    pub fn new(kernel_size: (usize, usize), stride: (usize, usize)) -> Self {
        MaxPool2dSame {
            kernel_size,
            stride,
        }
    }
}

impl Module for MaxPool2dSame {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let &[_, _, h, w] = x.dims() else {
            return Err(Error::msg(format!(
                "MaxPool2dSame: expected input (N, C, H, W), got {}",
                x.shape()
            )));
        };
        let (k, s) = (self.kernel_size, self.stride);
        if k.0 == 0 || k.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(Error::msg(format!(
                "MaxPool2dSame: kernel {k:?} and stride {s:?} must be at least 1"
            )));
        }
        let (t, b) = tf_same_padding(h, k.0, s.0);
        let (l, r) = tf_same_padding(w, k.1, s.1);
        let padded = if (t, b, l, r) == (0, 0, 0, 0) {
            x.clone()
        } else {
            x.pad(&[l, r, t, b], f64::NEG_INFINITY)?
        };
        padded.max_pool2d(k, s, (0, 0), (1, 1), false)
    }
    fn describe(&self) -> String {
        format!(
            "MaxPool2dSame(kernel_size={:?}, stride={:?})",
            self.kernel_size, self.stride
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_nn::ParamStore;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    #[test]
    fn same_pooling_pads_at_the_end_and_has_gradients() {
        // 1x1x4x4 holding 0..16: windows 3x3 stride 2 start at rows/cols 0 and 2, the second
        // one reaching into one row/column of -inf padding at the end
        let x = Tensor::from_vec((0..16).map(|v| v as f32).collect(), [1, 1, 4, 4]).unwrap();
        let y = MaxPool2dSame::new((3, 3), (2, 2)).forward(&x).unwrap();
        assert_eq!(y.dims(), [1, 1, 2, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![10.0, 11.0, 14.0, 15.0]);
        // PyTorch's symmetric padding 1 would start the windows at -1 and 1: 5, 7, 13, 15
        let sym = x.max_pool2d((3, 3), (2, 2), (1, 1), (1, 1), false).unwrap();
        assert_eq!(sym.to_vec::<f32>().unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
        // odd sizes pad both sides; a 5x6 input gives ceil(5/2) x ceil(6/2)
        let z = MaxPool2dSame::new((3, 3), (2, 2))
            .forward(&Tensor::zeros([2, 3, 5, 6], DType::F32).unwrap())
            .unwrap();
        assert_eq!(z.dims(), [2, 3, 3, 3]);
        let e = MaxPool2dSame::new((3, 3), (2, 2))
            .forward(&Tensor::zeros([3, 5, 6], DType::F32).unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("expected input (N, C, H, W)"), "{e}");
        let pool = MaxPool2dSame::new((3, 3), (2, 2));
        gradcheck(
            "max_pool2d_same",
            |t| pool.forward(&t[0]),
            &[seeded([1, 2, 6, 5], 3)],
        )
        .unwrap();
    }

    #[test]
    fn separable_conv_is_depthwise_then_pointwise() {
        let store = ParamStore::with_dtype(1, DType::F64);
        let sep = SeparableConv2d::new(3, 4, 3, 1, true, &store.root().push("sep")).unwrap();
        assert_eq!(
            store.keys(),
            [
                "sep.depthwise.weight",
                "sep.pointwise.weight",
                "sep.pointwise.bias"
            ]
        );
        assert_eq!(store.num_params(), 3 * 9 + 4 * 3 + 4);
        let x = seeded([2, 3, 5, 5], 7);
        let y = sep.forward(&x).unwrap();
        assert_eq!(y.dims(), [2, 4, 5, 5]);
        // the depthwise step convolves each channel with its own filter only
        let dw = store.get("sep.depthwise.weight").unwrap();
        let pw = store.get("sep.pointwise.weight").unwrap();
        let pb = store.get("sep.pointwise.bias").unwrap();
        let per_channel: Vec<Tensor> = (0..3)
            .map(|c| {
                let xc = x.narrow(1, c, 1).unwrap();
                let wc = dw.narrow(0, c, 1).unwrap();
                xc.conv2d(&wc, None, (1, 1), (1, 1), (1, 1), 1).unwrap()
            })
            .collect();
        let d = Tensor::cat(&per_channel, 1).unwrap();
        let want = d.conv2d(&pw, Some(&pb), (1, 1), (0, 0), (1, 1), 1).unwrap();
        let diff = y.sub(&want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f64>().unwrap() < 1e-12);
        gradcheck(
            "separable_conv2d",
            |t| sep.forward(&t[0]),
            &[seeded([1, 3, 4, 4], 2)],
        )
        .unwrap();
    }
}
