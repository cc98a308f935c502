//! 2-d pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d` (PyTorch semantics). They
//! have no parameters; inside a `Sequential` their errors carry the child's path.

use super::conv::window_output_hw;
use crate::onnx::{Attr, OnnxGraph, OnnxValue};
use crate::Module;
use deepnet_tensor::{Error, Result, Tensor};

/// `2` for `(2, 2)`, `(2, 3)` otherwise (PyTorch prints what it was given; square sizes are
/// usually given as an int).
fn repr(p: (usize, usize)) -> String {
    if p.0 == p.1 {
        p.0.to_string()
    } else {
        format!("({}, {})", p.0, p.1)
    }
}

/// 2-d max pooling, as `torch.nn.MaxPool2d`: `(N, C, H, W)` -> `(N, C, H_out, W_out)` (or
/// without `N`). Padding counts as `-inf` and may be at most half the kernel.
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    kernel_size: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    ceil_mode: bool,
}

impl MaxPool2d {
    /// Max pooling over `kernel_size` windows moved by `stride` (PyTorch's default stride is the
    /// kernel size), no padding, dilation 1, floor mode.
    pub fn new(kernel_size: (usize, usize), stride: (usize, usize)) -> MaxPool2d {
        MaxPool2d {
            kernel_size,
            stride,
            padding: (0, 0),
            dilation: (1, 1),
            ceil_mode: false,
        }
    }
    /// With implicit `-inf` padding on both sides.
    pub fn padding(mut self, padding: (usize, usize)) -> Self {
        self.padding = padding;
        self
    }
    /// With dilated windows.
    pub fn dilation(mut self, dilation: (usize, usize)) -> Self {
        self.dilation = dilation;
        self
    }
    /// With the output size rounded up (a partial last window is kept when it starts inside the
    /// input or the left padding).
    pub fn ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
    /// The output size on an `h x w` input, or an error naming the arithmetic.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        window_output_hw(
            "MaxPool2d",
            (h, w),
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
        )
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.max_pool2d(
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
        )
    }
    fn describe(&self) -> String {
        format!(
            "MaxPool2d(kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={})",
            repr(self.kernel_size),
            repr(self.stride),
            repr(self.padding),
            repr(self.dilation),
            if self.ceil_mode { "True" } else { "False" }
        )
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        let mut attrs = window_attrs(self.kernel_size, self.stride, self.padding, self.ceil_mode);
        attrs.push(Attr::Ints(
            "dilations",
            vec![self.dilation.0 as i64, self.dilation.1 as i64],
        ));
        Ok(g.node("MaxPool", &[&x.name], &attrs, y))
    }
}

/// The ONNX attributes of a pooling window (symmetric pads).
fn window_attrs(
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    ceil_mode: bool,
) -> Vec<Attr> {
    let i = |v: usize| v as i64;
    vec![
        Attr::Ints("kernel_shape", vec![i(kernel.0), i(kernel.1)]),
        Attr::Ints("strides", vec![i(stride.0), i(stride.1)]),
        Attr::Ints(
            "pads",
            vec![i(padding.0), i(padding.1), i(padding.0), i(padding.1)],
        ),
        Attr::Int("ceil_mode", i64::from(ceil_mode)),
    ]
}

/// 2-d average pooling, as `torch.nn.AvgPool2d` (no `divisor_override`): `(N, C, H, W)` ->
/// `(N, C, H_out, W_out)` (or without `N`).
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    kernel_size: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    ceil_mode: bool,
    count_include_pad: bool,
}

impl AvgPool2d {
    /// Average pooling over `kernel_size` windows moved by `stride`, no padding, floor mode,
    /// `count_include_pad=True` (PyTorch's defaults).
    pub fn new(kernel_size: (usize, usize), stride: (usize, usize)) -> AvgPool2d {
        AvgPool2d {
            kernel_size,
            stride,
            padding: (0, 0),
            ceil_mode: false,
            count_include_pad: true,
        }
    }
    /// With zero padding on both sides.
    pub fn padding(mut self, padding: (usize, usize)) -> Self {
        self.padding = padding;
        self
    }
    /// With the output size rounded up.
    pub fn ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
    /// Whether padded positions count in the divisor.
    pub fn count_include_pad(mut self, on: bool) -> Self {
        self.count_include_pad = on;
        self
    }
    /// The output size on an `h x w` input, or an error naming the arithmetic.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        window_output_hw(
            "AvgPool2d",
            (h, w),
            self.kernel_size,
            self.stride,
            self.padding,
            (1, 1),
            self.ceil_mode,
        )
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.avg_pool2d(
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )
    }
    fn describe(&self) -> String {
        format!(
            "AvgPool2d(kernel_size={}, stride={}, padding={})",
            repr(self.kernel_size),
            repr(self.stride),
            repr(self.padding)
        )
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        let mut attrs = window_attrs(self.kernel_size, self.stride, self.padding, self.ceil_mode);
        attrs.push(Attr::Int(
            "count_include_pad",
            i64::from(self.count_include_pad),
        ));
        Ok(g.node("AveragePool", &[&x.name], &attrs, y))
    }
}

/// 2-d adaptive average pooling, as `torch.nn.AdaptiveAvgPool2d`: `(N, C, H, W)` ->
/// `(N, C, oH, oW)` whatever `H` and `W`.
#[derive(Clone, Debug)]
pub struct AdaptiveAvgPool2d {
    output_size: (usize, usize),
}

impl AdaptiveAvgPool2d {
    /// Pooling to `output_size = (oH, oW)`.
    pub fn new(output_size: (usize, usize)) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d { output_size }
    }
    /// The output size: `output_size`, for any non-empty input.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let (oh, ow) = self.output_size;
        if h == 0 || w == 0 || oh == 0 || ow == 0 {
            return Err(Error::msg(format!(
                "AdaptiveAvgPool2d to {oh}x{ow} on {h}x{w}: sizes must be at least 1"
            )));
        }
        Ok(self.output_size)
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.adaptive_avg_pool2d(self.output_size)
    }
    fn describe(&self) -> String {
        format!(
            "AdaptiveAvgPool2d(output_size=({}, {}))",
            self.output_size.0, self.output_size.1
        )
    }

    /// `GlobalAveragePool` to 1x1; otherwise the fixed `AveragePool` these input sizes make,
    /// which exists when the output size divides the input size.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        if self.output_size == (1, 1) {
            return Ok(g.node("GlobalAveragePool", &[&x.name], &[], y));
        }
        let d = x.example.dims();
        let (h, w) = (d[d.len() - 2], d[d.len() - 1]);
        let (oh, ow) = self.output_size;
        if h % oh != 0 || w % ow != 0 {
            return Err(crate::onnx::unsupported(
                &self.describe(),
                &format!("on {h}x{w} its windows overlap unevenly; ONNX has no adaptive pooling"),
            ));
        }
        let k = (h / oh, w / ow);
        let attrs = window_attrs(k, k, (0, 0), false);
        Ok(g.node("AveragePool", &[&x.name], &attrs, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    #[test]
    fn describe_and_output_sizes() {
        let m = MaxPool2d::new((3, 3), (2, 2));
        assert_eq!(
            m.describe(),
            "MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)"
        );
        // AlexNet: 55 -> 27 -> 13 -> 6
        assert_eq!(m.output_hw(55, 55).unwrap(), (27, 27));
        assert_eq!(m.output_hw(13, 13).unwrap(), (6, 6));
        assert_eq!(
            m.output_hw(1, 1).unwrap_err().to_string(),
            "MaxPool2d 3x3, stride 2, pad 0 on 1x1: (1 - 3 + 0)/2 + 1 < 1"
        );
        let c = MaxPool2d::new((2, 2), (2, 2)).ceil_mode(true);
        assert_eq!(c.output_hw(5, 7).unwrap(), (3, 4));
        let a = AvgPool2d::new((2, 3), (2, 2)).padding((1, 1));
        assert_eq!(
            a.describe(),
            "AvgPool2d(kernel_size=(2, 3), stride=2, padding=1)"
        );
        assert_eq!(
            AdaptiveAvgPool2d::new((6, 6)).describe(),
            "AdaptiveAvgPool2d(output_size=(6, 6))"
        );
        assert!(AdaptiveAvgPool2d::new((1, 1)).output_hw(0, 3).is_err());
        // the formulas agree with the ops
        for size in 4..10 {
            let x = Tensor::zeros([1, 2, size, size + 2], DType::F32).unwrap();
            for (m, name) in [
                (Box::new(c.clone()) as Box<dyn Module>, "max"),
                (Box::new(a.clone()), "avg"),
                (
                    Box::new(
                        MaxPool2d::new((3, 3), (2, 2))
                            .padding((1, 1))
                            .ceil_mode(true),
                    ),
                    "max_p1",
                ),
            ] {
                let y = m.forward(&x).unwrap();
                let want = match name {
                    "max" => c.output_hw(size, size + 2),
                    "avg" => a.output_hw(size, size + 2),
                    _ => MaxPool2d::new((3, 3), (2, 2))
                        .padding((1, 1))
                        .ceil_mode(true)
                        .output_hw(size, size + 2),
                }
                .unwrap();
                assert_eq!((y.dims()[2], y.dims()[3]), want, "{name} on {size}");
            }
        }
    }

    #[test]
    fn layers_are_differentiable() {
        let x = seeded([2, 2, 6, 5], 1);
        let m = MaxPool2d::new((2, 2), (2, 2));
        gradcheck("MaxPool2d", |t| m.forward(&t[0]), std::slice::from_ref(&x)).unwrap();
        let a = AvgPool2d::new((3, 3), (2, 2))
            .padding((1, 1))
            .count_include_pad(false);
        gradcheck("AvgPool2d", |t| a.forward(&t[0]), std::slice::from_ref(&x)).unwrap();
        let p = AdaptiveAvgPool2d::new((3, 2));
        gradcheck("AdaptiveAvgPool2d", |t| p.forward(&t[0]), &[x]).unwrap();
    }
}
