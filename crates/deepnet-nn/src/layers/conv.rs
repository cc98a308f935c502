//! The 2-d convolution layer (`torch.nn.Conv2d`) and the output-size arithmetic shared by the
//! sliding-window layers.

use super::in_module;
use crate::{Init, Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The output size of a window of `kernel` (dilated by `dilation`) sliding with `stride` over
/// `input` elements padded by `padding` on both sides: `(input - f + 2p) / s + 1` with
/// `f = dilation (kernel - 1) + 1`, and whether the window tiles the padded input exactly (the
/// division leaves no remainder, so no input row or column is skipped at the end). The output
/// is 0 when the window does not fit. For build-time warnings.
///
/// ```
/// use deepnet_nn::layers::conv_arithmetic;
/// assert_eq!(conv_arithmetic(227, 11, 4, 0, 1), (55, true)); // AlexNet conv1
/// assert_eq!(conv_arithmetic(224, 11, 4, 2, 1), (55, false)); // (224 - 11 + 4) / 4 = 54.25
/// assert_eq!(conv_arithmetic(3, 5, 2, 0, 1), (0, false));
/// ```
#[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; the MSRV is 1.80
pub fn conv_arithmetic(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> (usize, bool) {
    let f = dilation * kernel.saturating_sub(1) + 1;
    if stride == 0 || input + 2 * padding < f {
        return (0, false);
    }
    let num = input + 2 * padding - f;
    (num / stride + 1, num % stride == 0)
}

/// `"5"` for `(5, 5)`, `"5x3"` otherwise.
fn short(p: (usize, usize)) -> String {
    if p.0 == p.1 {
        p.0.to_string()
    } else {
        format!("{}x{}", p.0, p.1)
    }
}

/// The output size `(h_out, w_out)` of a sliding-window layer called `name`, or an error naming
/// the arithmetic that gives an output smaller than 1
/// (`Conv2d 5x5, stride 2, pad 0 on 3x3: (3 - 5 + 0)/2 + 1 < 1`). With `ceil_mode` the division
/// rounds up and a last window starting in the right padding is dropped (PyTorch pooling).
#[allow(clippy::too_many_arguments)]
pub(crate) fn window_output_hw(
    name: &str,
    (h, w): (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    ceil_mode: bool,
) -> Result<(usize, usize)> {
    let axis = |size: usize, k: usize, s: usize, p: usize, d: usize| -> Option<usize> {
        let f = d * k.saturating_sub(1) + 1;
        if s == 0 || size + 2 * p < f {
            return None;
        }
        let num = size + 2 * p - f;
        let mut out = if ceil_mode { num.div_ceil(s) } else { num / s } + 1;
        if ceil_mode && (out - 1) * s >= size + p {
            out -= 1;
        }
        Some(out)
    };
    let oh = axis(h, kernel.0, stride.0, padding.0, dilation.0);
    let ow = axis(w, kernel.1, stride.1, padding.1, dilation.1);
    match (oh, ow) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => {
            let (size, k, s, p, d) = if oh.is_none() {
                (h, kernel.0, stride.0, padding.0, dilation.0)
            } else {
                (w, kernel.1, stride.1, padding.1, dilation.1)
            };
            let f = d * k.saturating_sub(1) + 1;
            let dil = if dilation == (1, 1) {
                String::new()
            } else {
                format!(", dilation {}", short(dilation))
            };
            Err(Error::msg(format!(
                "{name} {}x{}, stride {}, pad {}{dil} on {h}x{w}: ({size} - {f} + {})/{s} + 1 < 1",
                kernel.0,
                kernel.1,
                short(stride),
                short(padding),
                2 * p
            )))
        }
    }
}

/// The options of [`Conv2d`] besides the channel counts and kernel size, with PyTorch's
/// defaults (`Conv2dConfig::default()`: stride 1, padding 0, dilation 1, groups 1, bias).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// step of the window `(sh, sw)`
    pub stride: (usize, usize),
    /// zero padding on each side `(ph, pw)`
    pub padding: (usize, usize),
    /// spacing of the kernel taps `(dh, dw)`
    pub dilation: (usize, usize),
    /// channel groups (input and output channels must be multiples)
    pub groups: usize,
    /// whether the layer has a bias
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            bias: true,
        }
    }
}

/// What a convolution layer's constructor checks and registers (PyTorch's `_ConvNd`).
pub(crate) struct ConvParams {
    /// the layer's name in errors (`Conv2d`)
    pub name: &'static str,
    /// `(in_channels, out_channels)`
    pub channels: (usize, usize),
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
    pub bias: bool,
    /// the weight is `(in, out / groups, kH, kW)` (a transposed convolution), not
    /// `(out, in / groups, kH, kW)`
    pub transposed: bool,
}

impl ConvParams {
    /// Checks the sizes (positive channels, kernel, stride and dilation; groups dividing both
    /// channel counts), then `more` (a layer's own checks, returning the message), and registers
    /// `weight` with PyTorch's default init and `bias: (out_channels,)` uniform in
    /// `±1/sqrt(fan_in)`, `fan_in` being the weight's dim 1 times the kernel size, as PyTorch
    /// computes it. Errors are `name: ...` at `pb`'s path.
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; the MSRV is 1.80
    pub fn register(
        &self,
        pb: &ParamBuilder,
        more: impl FnOnce(&Self) -> std::result::Result<(), String>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let bad = |m: String| {
            Err(in_module(
                Error::msg(format!("{}: {m}", self.name)),
                pb.path(),
            ))
        };
        let ((cin, cout), k) = (self.channels, self.kernel);
        if cin == 0 || cout == 0 || k.0 == 0 || k.1 == 0 {
            return bad(format!(
                "channels ({cin}, {cout}) and kernel size {k:?} must be at least 1"
            ));
        }
        let (s, d, g) = (self.stride, self.dilation, self.groups);
        if s.0 == 0 || s.1 == 0 || d.0 == 0 || d.1 == 0 {
            return bad(format!(
                "stride {s:?} and dilation {d:?} must be at least 1"
            ));
        }
        if g == 0 || cin % g != 0 || cout % g != 0 {
            return bad(format!(
                "groups {g} must divide in_channels ({cin}) and out_channels ({cout})"
            ));
        }
        if let Err(m) = more(self) {
            return bad(m);
        }
        let shape = if self.transposed {
            [cin, cout / g, k.0, k.1]
        } else {
            [cout, cin / g, k.0, k.1]
        };
        let weight = pb.param("weight", shape, Init::TORCH_DEFAULT_WEIGHT)?;
        let bias = if self.bias {
            let fan_in = (shape[1] * k.0 * k.1) as f64;
            let bound = 1.0 / fan_in.sqrt();
            Some(pb.param(
                "bias",
                [cout],
                Init::Uniform {
                    low: -bound,
                    high: bound,
                },
            )?)
        } else {
            None
        };
        Ok((weight, bias))
    }
}

/// 2-d convolution, as `torch.nn.Conv2d` (zero padding).
///
/// Parameters: `weight: (out_channels, in_channels / groups, kH, kW)` and, with `bias`,
/// `bias: (out_channels,)`, both uniform in `±1/sqrt(fan_in)` with
/// `fan_in = in_channels / groups * kH * kW` (PyTorch's `kaiming_uniform_(a=sqrt(5))`).
///
/// Shapes: `(N, in_channels, H, W)` -> `(N, out_channels, H_out, W_out)`, see
/// [`Conv2d::output_hw`].
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    in_channels: usize,
    out_channels: usize,
    kernel_size: (usize, usize),
    cfg: Conv2dConfig,
    path: String,
}

impl Conv2d {
    /// A new layer registering `weight` (and `bias`) under `pb`'s path.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: (usize, usize),
        cfg: Conv2dConfig,
        pb: &ParamBuilder,
    ) -> Result<Conv2d> {
        let (weight, bias) = ConvParams {
            name: "Conv2d",
            channels: (in_channels, out_channels),
            kernel: kernel_size,
            stride: cfg.stride,
            dilation: cfg.dilation,
            groups: cfg.groups,
            bias: cfg.bias,
            transposed: false,
        }
        .register(pb, |_| Ok(()))?;
        Ok(Conv2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size,
            cfg,
            path: pb.path().to_string(),
        })
    }

    /// The weight, `(out_channels, in_channels / groups, kH, kW)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(out_channels,)`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The number of input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// The number of output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The kernel size `(kH, kW)`.
    pub fn kernel_size(&self) -> (usize, usize) {
        self.kernel_size
    }

    /// Stride, padding, dilation, groups and bias.
    pub fn config(&self) -> Conv2dConfig {
        self.cfg
    }

    /// The output size on an `h x w` input: `(h - f + 2p)/s + 1` per axis with the dilated
    /// kernel size `f`, or an error naming the arithmetic when it is below 1.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let c = &self.cfg;
        window_output_hw(
            "Conv2d",
            (h, w),
            self.kernel_size,
            c.stride,
            c.padding,
            c.dilation,
            false,
        )
    }
}

impl Module for Conv2d {
    /// `(N, in_channels, H, W)` -> `(N, out_channels, H_out, W_out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        x.conv2d(
            &self.weight,
            self.bias.as_ref(),
            c.stride,
            c.padding,
            c.dilation,
            c.groups,
        )
        .map_err(|e| in_module(e, &self.path))
    }

    fn describe(&self) -> String {
        let c = &self.cfg;
        let head = format!(
            "Conv2d({}, {}, kernel_size={}, stride={}",
            self.in_channels,
            self.out_channels,
            tuple(self.kernel_size),
            tuple(c.stride)
        );
        let bias = self.bias.is_some();
        conv_repr(head, c.padding, c.dilation, (0, 0), c.groups, bias)
    }
}

/// `"(5, 3)"`: a pair as Python prints a tuple.
pub(crate) fn tuple(p: (usize, usize)) -> String {
    format!("({}, {})", p.0, p.1)
}

/// PyTorch's convolution repr (`_ConvNd.extra_repr`) after its `head`
/// (`Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1)`): padding, dilation, output padding,
/// groups and `bias=False` where not the default, in that order, and the closing parenthesis.
pub(crate) fn conv_repr(
    mut head: String,
    padding: (usize, usize),
    dilation: (usize, usize),
    output_padding: (usize, usize),
    groups: usize,
    bias: bool,
) -> String {
    if padding != (0, 0) {
        head += &format!(", padding={}", tuple(padding));
    }
    if dilation != (1, 1) {
        head += &format!(", dilation={}", tuple(dilation));
    }
    if output_padding != (0, 0) {
        head += &format!(", output_padding={}", tuple(output_padding));
    }
    if groups != 1 {
        head += &format!(", groups={groups}");
    }
    if !bias {
        head += ", bias=False";
    }
    head + ")"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    #[test]
    fn parameters_init_and_describe() {
        let store = ParamStore::new(0);
        let cfg = Conv2dConfig {
            stride: (4, 4),
            ..Default::default()
        };
        let c = Conv2d::new(3, 96, (11, 11), cfg, &store.root().push("features").push(0)).unwrap();
        assert_eq!(store.keys(), ["features.0.weight", "features.0.bias"]);
        assert_eq!(c.weight().dims(), [96, 3, 11, 11]);
        assert_eq!(store.num_params(), 96 * 3 * 121 + 96);
        assert_eq!(
            c.describe(),
            "Conv2d(3, 96, kernel_size=(11, 11), stride=(4, 4))"
        );
        // uniform in ±1/sqrt(363)
        let bound = 1.0 / 363f64.sqrt();
        for t in [c.weight(), c.bias().unwrap()] {
            let max = t.to_vec_f64().iter().fold(0f64, |m, v| m.max(v.abs()));
            assert!(max <= bound && max > 0.8 * bound, "{max}");
        }
        let cfg = Conv2dConfig {
            padding: (1, 1),
            dilation: (2, 2),
            groups: 2,
            bias: false,
            ..Default::default()
        };
        let g = Conv2d::new(4, 6, (3, 3), cfg, &store.root().push("g")).unwrap();
        assert_eq!(g.weight().dims(), [6, 2, 3, 3]);
        assert!(g.bias().is_none());
        assert_eq!(
            g.describe(),
            "Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(2, 2), groups=2, bias=False)"
        );
        let bad = Conv2dConfig {
            groups: 4,
            ..Default::default()
        };
        let e = Conv2d::new(6, 8, (3, 3), bad, &store.root().push("bad"))
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("in module \"bad\": Conv2d: groups 4 must divide"),
            "{e}"
        );
    }

    #[test]
    fn output_size_arithmetic() {
        let store = ParamStore::new(0);
        let cfg = Conv2dConfig {
            stride: (2, 2),
            ..Default::default()
        };
        let c = Conv2d::new(1, 1, (5, 5), cfg, &store.root()).unwrap();
        assert_eq!(c.output_hw(13, 13).unwrap(), (5, 5));
        assert_eq!(
            c.output_hw(3, 3).unwrap_err().to_string(),
            "Conv2d 5x5, stride 2, pad 0 on 3x3: (3 - 5 + 0)/2 + 1 < 1"
        );
        assert_eq!(conv_arithmetic(13, 5, 2, 0, 1), (5, true));
        assert_eq!(conv_arithmetic(14, 5, 2, 0, 1), (5, false));
        assert_eq!(conv_arithmetic(7, 3, 1, 0, 2), (3, true));
        assert_eq!(conv_arithmetic(4, 3, 1, 0, 2), (0, false));
        // the formula agrees with the tensor op on a range of sizes
        for size in 5..12 {
            let y = Tensor::zeros([1, 1, size, size + 1], DType::F32).unwrap();
            let y = c.forward(&y).unwrap();
            let (h, w) = c.output_hw(size, size + 1).unwrap();
            assert_eq!(y.dims(), [1, 1, h, w]);
        }
    }

    #[test]
    fn forward_errors_carry_the_path_and_gradients_flow() {
        let store = ParamStore::with_dtype(1, DType::F64);
        let cfg = Conv2dConfig {
            padding: (2, 2),
            ..Default::default()
        };
        let c = Conv2d::new(1, 6, (5, 5), cfg, &store.root().push("features").push(0)).unwrap();
        let x = Tensor::zeros([2, 3, 28, 28], DType::F64).unwrap();
        assert_eq!(
            c.forward(&x).unwrap_err().to_string(),
            "in module \"features.0\": conv2d: input has 3 channels but weight expects 1 (weight [6, 1, 5, 5])"
        );
        assert_eq!(
            c.forward(&seeded([2, 1, 28, 28], 1)).unwrap().dims(),
            [2, 6, 28, 28]
        );
        gradcheck(
            "Conv2d(x)",
            |t| c.forward(&t[0]),
            &[seeded([1, 1, 4, 3], 2)],
        )
        .unwrap();
        let y = c
            .forward(&seeded([2, 1, 6, 6], 3))
            .unwrap()
            .sum_all()
            .unwrap();
        let g = y.backward().unwrap();
        assert_eq!(g.get(c.weight()).unwrap().dims(), [6, 1, 5, 5]);
        // d(sum y)/db = N * H_out * W_out
        assert_eq!(
            g.get(c.bias().unwrap()).unwrap().to_vec::<f64>().unwrap(),
            vec![72.0; 6]
        );
    }
}
