//! The transposed 2-d convolution layer (`torch.nn.ConvTranspose2d`), the learned upsampling of
//! DCGAN generators and convolutional decoders.

use super::conv::{conv_repr, tuple, ConvParams};
use super::in_module;
use crate::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The options of [`ConvTranspose2d`] besides the channel counts and kernel size, with
/// PyTorch's defaults (`ConvTranspose2dConfig::default()`: stride 1, padding 0, output padding 0,
/// dilation 1, groups 1, bias).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dConfig {
    /// upsampling step `(sh, sw)`: input pixels land this far apart in the output
    pub stride: (usize, usize),
    /// rows and columns removed from each side of the full output `(ph, pw)` (the padding of
    /// the convolution this layer is the transpose of)
    pub padding: (usize, usize),
    /// rows and columns added at the bottom and right `(oh, ow)`, each below the stride or the
    /// dilation: which of the input sizes that the convolution maps to `H` is produced
    pub output_padding: (usize, usize),
    /// spacing of the kernel taps `(dh, dw)`
    pub dilation: (usize, usize),
    /// channel groups (input and output channels must be multiples)
    pub groups: usize,
    /// whether the layer has a bias
    pub bias: bool,
}

impl Default for ConvTranspose2dConfig {
    fn default() -> Self {
        ConvTranspose2dConfig {
            stride: (1, 1),
            padding: (0, 0),
            output_padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            bias: true,
        }
    }
}

/// Transposed 2-d convolution, as `torch.nn.ConvTranspose2d` (zero padding).
///
/// Parameters: `weight: (in_channels, out_channels / groups, kH, kW)` (input channels first,
/// as PyTorch) and, with `bias`, `bias: (out_channels,)`, both uniform in `±1/sqrt(fan_in)` with
/// PyTorch's `fan_in = weight.size(1) * kH * kW = out_channels / groups * kH * kW` (its
/// `kaiming_uniform_(a=sqrt(5))` and bias rule applied to this weight's shape).
///
/// Shapes: `(N, in_channels, H, W)` -> `(N, out_channels, H_out, W_out)` with
/// `H_out = (H - 1) s - 2 p + d (kH - 1) + output_padding + 1`, see [`ConvTranspose2d::output_hw`].
pub struct ConvTranspose2d {
    weight: Tensor,
    bias: Option<Tensor>,
    in_channels: usize,
    out_channels: usize,
    kernel_size: (usize, usize),
    cfg: ConvTranspose2dConfig,
    path: String,
}

impl ConvTranspose2d {
    /// A new layer registering `weight` (and `bias`) under `pb`'s path.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: (usize, usize),
        cfg: ConvTranspose2dConfig,
        pb: &ParamBuilder,
    ) -> Result<ConvTranspose2d> {
        let (weight, bias) = ConvParams {
            name: "ConvTranspose2d",
            channels: (in_channels, out_channels),
            kernel: kernel_size,
            stride: cfg.stride,
            dilation: cfg.dilation,
            groups: cfg.groups,
            bias: cfg.bias,
            transposed: true,
        }
        .register(pb, |p| {
            let (op, s, d) = (cfg.output_padding, p.stride, p.dilation);
            if (op.0 >= s.0 && op.0 >= d.0) || (op.1 >= s.1 && op.1 >= d.1) {
                return Err(format!(
                    "output_padding {op:?} must be smaller than either the stride {s:?} or the dilation {d:?}"
                ));
            }
            Ok(())
        })?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size,
            cfg,
            path: pb.path().to_string(),
        })
    }

    /// The weight, `(in_channels, out_channels / groups, kH, kW)`.
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

    /// Stride, padding, output padding, dilation, groups and bias.
    pub fn config(&self) -> ConvTranspose2dConfig {
        self.cfg
    }

    /// The output size on an `h x w` input:
    /// `(h - 1) s - 2 p + d (k - 1) + output_padding + 1` per axis, or an error naming the
    /// arithmetic when it is below 1.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        self.output_hw_with((h, w), self.cfg.output_padding)
    }

    /// [`ConvTranspose2d::output_hw`] with another output padding.
    fn output_hw_with(&self, (h, w): (usize, usize), op: (usize, usize)) -> Result<(usize, usize)> {
        let c = &self.cfg;
        let axis = |size: usize, k: usize, s: usize, p: usize, d: usize, op: usize| {
            let out = (size as i64 - 1) * s as i64 - 2 * p as i64 + (d * (k - 1) + op + 1) as i64;
            usize::try_from(out).ok().filter(|&o| o >= 1).ok_or_else(|| {
                Error::msg(format!(
                    "ConvTranspose2d {}x{}, stride {:?}, pad {:?} on {h}x{w}: ({size} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 < 1",
                    self.kernel_size.0, self.kernel_size.1, c.stride, c.padding
                ))
            })
        };
        let (k, s, p, d) = (self.kernel_size, c.stride, c.padding, c.dilation);
        Ok((
            axis(h, k.0, s.0, p.0, d.0, op.0)?,
            axis(w, k.1, s.1, p.1, d.1, op.1)?,
        ))
    }

    /// The forward pass producing exactly `output_size` (PyTorch's
    /// `forward(input, output_size)`): a stride above 1 leaves `stride` possible output sizes
    /// per axis (the convolution this layer transposes maps all of them to `H`), and this picks
    /// the output padding that gives the requested one, overriding the configured one.
    pub fn forward_with_output_size(
        &self,
        x: &Tensor,
        output_size: (usize, usize),
    ) -> Result<Tensor> {
        let d = x.dims();
        if d.len() != 4 {
            return self.forward(x);
        }
        let min = self
            .output_hw_with((d[2], d[3]), (0, 0))
            .map_err(|e| in_module(e, &self.path))?;
        let s = self.cfg.stride;
        // as PyTorch: sizes from the smallest to the smallest + stride - 1
        let pick = |want: usize, min: usize, s: usize| want.checked_sub(min).filter(|&op| op < s);
        let op = match (
            pick(output_size.0, min.0, s.0),
            pick(output_size.1, min.1, s.1),
        ) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                let e = Error::msg(format!(
                    "ConvTranspose2d: requested output size {}x{} is not reachable from input {}x{}: each side must be between the smallest ({}x{}) and that plus the stride minus 1",
                    output_size.0, output_size.1, d[2], d[3], min.0, min.1
                ));
                return Err(in_module(e, &self.path));
            }
        };
        self.run(x, op)
    }

    /// The transposed convolution with output padding `op`.
    fn run(&self, x: &Tensor, op: (usize, usize)) -> Result<Tensor> {
        let c = &self.cfg;
        x.conv_transpose2d(
            &self.weight,
            self.bias.as_ref(),
            c.stride,
            c.padding,
            op,
            c.groups,
            c.dilation,
        )
        .map_err(|e| in_module(e, &self.path))
    }
}

impl Module for ConvTranspose2d {
    /// `(N, in_channels, H, W)` -> `(N, out_channels, H_out, W_out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, self.cfg.output_padding)
    }

    /// PyTorch's repr: `ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=(2, 2),
    /// padding=(1, 1))`, then dilation, output_padding, groups and bias where not the default.
    fn describe(&self) -> String {
        let c = &self.cfg;
        let head = format!(
            "ConvTranspose2d({}, {}, kernel_size={}, stride={}",
            self.in_channels,
            self.out_channels,
            tuple(self.kernel_size),
            tuple(c.stride)
        );
        let bias = self.bias.is_some();
        conv_repr(
            head,
            c.padding,
            c.dilation,
            c.output_padding,
            c.groups,
            bias,
        )
    }
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
        let cfg = ConvTranspose2dConfig {
            stride: (2, 2),
            padding: (1, 1),
            ..Default::default()
        };
        let c =
            ConvTranspose2d::new(128, 64, (4, 4), cfg, &store.root().push("gen").push(3)).unwrap();
        assert_eq!(store.keys(), ["gen.3.weight", "gen.3.bias"]);
        assert_eq!(c.weight().dims(), [128, 64, 4, 4]);
        assert_eq!(store.num_params(), 128 * 64 * 16 + 64);
        assert_eq!(
            c.describe(),
            "ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))"
        );
        // PyTorch's fan_in is weight.size(1) * kH * kW = 64 * 16, not in_channels * 16: both
        // tensors are uniform in ±1/32
        let bound = 1.0 / 1024f64.sqrt();
        for t in [c.weight(), c.bias().unwrap()] {
            let max = t.to_vec_f64().iter().fold(0f64, |m, v| m.max(v.abs()));
            assert!(max <= bound && max > 0.8 * bound, "{max}");
        }
        let cfg = ConvTranspose2dConfig {
            stride: (2, 1),
            padding: (1, 1),
            output_padding: (1, 1),
            dilation: (2, 2),
            groups: 2,
            bias: false,
        };
        let g = ConvTranspose2d::new(4, 6, (3, 2), cfg, &store.root().push("g")).unwrap();
        assert_eq!(g.weight().dims(), [4, 3, 3, 2]);
        assert_eq!(
            g.describe(),
            "ConvTranspose2d(4, 6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 2), output_padding=(1, 1), groups=2, bias=False)"
        );
        let bad = |cfg: ConvTranspose2dConfig| {
            ConvTranspose2d::new(6, 8, (3, 3), cfg, &store.root().push("bad"))
                .err()
                .unwrap()
                .to_string()
        };
        let e = bad(ConvTranspose2dConfig {
            groups: 4,
            ..Default::default()
        });
        assert!(
            e.contains("in module \"bad\": ConvTranspose2d: groups 4 must divide"),
            "{e}"
        );
        let e = bad(ConvTranspose2dConfig {
            stride: (2, 2),
            output_padding: (0, 2),
            ..Default::default()
        });
        assert!(e.contains("output_padding (0, 2) must be smaller"), "{e}");
    }

    #[test]
    fn output_size_and_requested_output_size() {
        let store = ParamStore::with_dtype(0, DType::F64);
        let cfg = ConvTranspose2dConfig {
            stride: (2, 2),
            padding: (1, 1),
            ..Default::default()
        };
        let c = ConvTranspose2d::new(2, 3, (3, 3), cfg, &store.root().push("up")).unwrap();
        // (7 - 1) * 2 - 2 + 2 + 1 = 13: a stride-2 convolution maps 13 and 14 to 7
        assert_eq!(c.output_hw(7, 5).unwrap(), (13, 9));
        let x = seeded([2, 2, 7, 5], 1);
        assert_eq!(c.forward(&x).unwrap().dims(), [2, 3, 13, 9]);
        let y = c.forward_with_output_size(&x, (14, 9)).unwrap();
        assert_eq!(y.dims(), [2, 3, 14, 9]);
        // the extra row is the output padding: the first 13 rows are the plain output
        let plain = c.forward(&x).unwrap().to_vec_f64();
        let cropped = y.narrow(2, 0, 13).unwrap().to_vec_f64();
        assert_eq!(plain, cropped);
        let e = c
            .forward_with_output_size(&x, (15, 9))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("in module \"up\"") && e.contains("between the smallest (13x9)"),
            "{e}"
        );
        let tiny = ConvTranspose2d::new(
            2,
            3,
            (1, 1),
            ConvTranspose2dConfig {
                padding: (1, 1),
                ..Default::default()
            },
            &store.root().push("tiny"),
        )
        .unwrap();
        assert!(tiny
            .output_hw(1, 1)
            .unwrap_err()
            .to_string()
            .contains("< 1"));
        assert!(tiny
            .forward(&seeded([1, 2, 1, 1], 2))
            .unwrap_err()
            .to_string()
            .contains("in module \"tiny\": conv_transpose2d"));
    }

    #[test]
    fn gradients_flow_to_input_and_parameters() {
        let store = ParamStore::with_dtype(1, DType::F64);
        let cfg = ConvTranspose2dConfig {
            stride: (2, 2),
            padding: (1, 1),
            output_padding: (1, 1),
            ..Default::default()
        };
        let c = ConvTranspose2d::new(3, 2, (3, 3), cfg, &store.root()).unwrap();
        gradcheck(
            "ConvTranspose2d(x)",
            |t| c.forward(&t[0]),
            &[seeded([2, 3, 3, 2], 3)],
        )
        .unwrap();
        let y = c.forward(&seeded([2, 3, 3, 3], 4)).unwrap();
        assert_eq!(y.dims(), [2, 2, 6, 6]);
        let g = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(g.get(c.weight()).unwrap().dims(), [3, 2, 3, 3]);
        // d(sum y)/db = N * H_out * W_out
        assert_eq!(
            g.get(c.bias().unwrap()).unwrap().to_vec::<f64>().unwrap(),
            vec![72.0; 2]
        );
    }
}
