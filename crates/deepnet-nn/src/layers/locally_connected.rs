//! The locally connected 2-d layer: a convolution without weight sharing.

use super::conv::window_output_hw;
use super::in_module;
use crate::{Init, Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// A 2-d layer with a separate filter bank at every output position (no weight sharing, as in
/// DeepFace and Keras' `LocallyConnected2D`; PyTorch has no such layer).
///
/// Parameters: `weight: (H_out, W_out, out_channels, in_channels, kH, kW)` (position first, then
/// a conv2d weight per position) and, with `bias`, `bias: (out_channels, H_out, W_out)` (one bias
/// per output element), both uniform in `±1/sqrt(in_channels * kH * kW)` as a convolution's.
///
/// Shapes: `(N, in_channels, H, W)` with `(H, W) = input_hw` -> `(N, out_channels, H_out,
/// W_out)`, sizes as a convolution's (`(H - kH + 2 pH) / sH + 1`).
pub struct LocallyConnected2d {
    weight: Tensor,
    bias: Option<Tensor>,
    in_channels: usize,
    out_channels: usize,
    input_hw: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    path: String,
}

impl LocallyConnected2d {
    /// A new layer for `input_hw` inputs, registering `weight` (and `bias`) under `pb`'s path.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        input_hw: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<LocallyConnected2d> {
        let (ho, wo) =
            Self::shape_check(in_channels, out_channels, input_hw, kernel, stride, padding)
                .map_err(|e| in_module(e, pb.path()))?;
        let bound = 1.0 / ((in_channels * kernel.0 * kernel.1) as f64).sqrt();
        let init = Init::Uniform {
            low: -bound,
            high: bound,
        };
        let shape = [ho, wo, out_channels, in_channels, kernel.0, kernel.1];
        let weight = pb.param("weight", shape, init)?;
        let bias = if bias {
            Some(pb.param("bias", [out_channels, ho, wo], init)?)
        } else {
            None
        };
        Ok(LocallyConnected2d {
            weight,
            bias,
            in_channels,
            out_channels,
            input_hw,
            kernel,
            stride,
            padding,
            path: pb.path().to_string(),
        })
    }

    fn shape_check(
        in_channels: usize,
        out_channels: usize,
        input_hw: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<(usize, usize)> {
        if in_channels == 0 || out_channels == 0 || kernel.0 == 0 || kernel.1 == 0 {
            return Err(Error::msg(format!(
                "LocallyConnected2d: channels ({in_channels}, {out_channels}) and kernel {kernel:?} must be at least 1"
            )));
        }
        window_output_hw(
            "LocallyConnected2d",
            input_hw,
            kernel,
            stride,
            padding,
            (1, 1),
            false,
        )
    }

    /// The number of parameters such a layer has, without building it:
    /// `H_out W_out C_out C_in kH kW` weights plus `C_out H_out W_out` biases.
    pub fn parameter_count(
        in_channels: usize,
        out_channels: usize,
        input_hw: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        bias: bool,
    ) -> Result<usize> {
        let (ho, wo) =
            Self::shape_check(in_channels, out_channels, input_hw, kernel, stride, padding)?;
        let per_position =
            out_channels * in_channels * kernel.0 * kernel.1 + usize::from(bias) * out_channels;
        Ok(ho * wo * per_position)
    }

    /// The weight, `(H_out, W_out, out_channels, in_channels, kH, kW)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(out_channels, H_out, W_out)`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The output size on an `h x w` input (an error unless it is the `input_hw` the layer was
    /// built for, or when the arithmetic gives less than 1).
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        if (h, w) != self.input_hw {
            return Err(Error::msg(format!(
                "LocallyConnected2d built for {}x{} inputs got {h}x{w}",
                self.input_hw.0, self.input_hw.1
            )));
        }
        window_output_hw(
            "LocallyConnected2d",
            (h, w),
            self.kernel,
            self.stride,
            self.padding,
            (1, 1),
            false,
        )
    }
}

impl Module for LocallyConnected2d {
    /// `(N, in_channels, H, W)` -> `(N, out_channels, H_out, W_out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.locally_connected2d(&self.weight, self.bias.as_ref(), self.stride, self.padding)
            .map_err(|e| in_module(e, &self.path))
    }

    fn describe(&self) -> String {
        let t = |p: (usize, usize)| format!("({}, {})", p.0, p.1);
        let mut s = format!(
            "LocallyConnected2d({}, {}, input_size={}, kernel_size={}, stride={}",
            self.in_channels,
            self.out_channels,
            t(self.input_hw),
            t(self.kernel),
            t(self.stride)
        );
        if self.padding != (0, 0) {
            s += &format!(", padding={}", t(self.padding));
        }
        if self.bias.is_none() {
            s += ", bias=False";
        }
        s + ")"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    #[test]
    fn alexnet_first_layer_parameter_count() {
        // 55*55*96*(11*11*3) + 55*55*96
        let n =
            LocallyConnected2d::parameter_count(3, 96, (227, 227), (11, 11), (4, 4), (0, 0), true)
                .unwrap();
        assert_eq!(n, 105_705_600);
        assert_eq!(n, 55 * 55 * 96 * (11 * 11 * 3) + 55 * 55 * 96);
        // a built layer registers exactly that many
        let store = ParamStore::new(0);
        let l = LocallyConnected2d::new(
            3,
            4,
            (9, 9),
            (3, 3),
            (2, 2),
            (1, 1),
            true,
            &store.root().push("lc"),
        )
        .unwrap();
        assert_eq!(store.keys(), ["lc.weight", "lc.bias"]);
        assert_eq!(l.weight().dims(), [5, 5, 4, 3, 3, 3]);
        assert_eq!(l.bias().unwrap().dims(), [4, 5, 5]);
        let want = LocallyConnected2d::parameter_count(3, 4, (9, 9), (3, 3), (2, 2), (1, 1), true)
            .unwrap();
        assert_eq!(store.num_params(), want);
        assert_eq!(
            l.describe(),
            "LocallyConnected2d(3, 4, input_size=(9, 9), kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))"
        );
        assert_eq!(l.output_hw(9, 9).unwrap(), (5, 5));
        assert!(l.output_hw(8, 9).is_err());
        let e = LocallyConnected2d::new(
            3,
            4,
            (3, 3),
            (5, 5),
            (2, 2),
            (0, 0),
            true,
            &store.root().push("x"),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "in module \"x\": LocallyConnected2d 5x5, stride 2, pad 0 on 3x3: (3 - 5 + 0)/2 + 1 < 1"
        );
    }

    #[test]
    fn forward_shapes_errors_and_gradients() {
        let store = ParamStore::with_dtype(2, DType::F64);
        let l = LocallyConnected2d::new(
            2,
            3,
            (5, 4),
            (3, 2),
            (1, 2),
            (1, 0),
            true,
            &store.root().push("lc"),
        )
        .unwrap();
        let x = seeded([2, 2, 5, 4], 1);
        assert_eq!(l.forward(&x).unwrap().dims(), [2, 3, 5, 2]);
        let e = l.forward(&seeded([2, 2, 6, 4], 1)).unwrap_err().to_string();
        assert!(
            e.starts_with("in module \"lc\": locally_connected2d: weight"),
            "{e}"
        );
        gradcheck(
            "LocallyConnected2d(x)",
            |t| l.forward(&t[0]),
            std::slice::from_ref(&x),
        )
        .unwrap();
        let g = l
            .forward(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(g.get(l.weight()).unwrap().dims(), [5, 2, 3, 2, 3, 2]);
        assert_eq!(
            g.get(l.bias().unwrap()).unwrap().to_vec::<f64>().unwrap(),
            vec![2.0; 30]
        );
    }
}
