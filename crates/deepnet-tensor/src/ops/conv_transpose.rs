//! The transposed 2-d convolution (`torch.nn.functional.conv_transpose2d`), sometimes called a
//! fractionally strided convolution or, loosely, a deconvolution.
//!
//! Shapes: input `(N, C_in, H, W)`; weight `(C_in, C_out / groups, kH, kW)` (PyTorch's layout:
//! input channels first); bias `(C_out,)`; output `(N, C_out, H_out, W_out)` with
//! `H_out = (H - 1) s - 2 p + d (kH - 1) + output_padding + 1`, the same for `W`.
//!
//! It is the adjoint of the convolution from `(N, C_out, H_out, W_out)` to `(N, C_in, H, W)`
//! with the same weight, stride, padding, dilation and groups: its forward pass is that
//! convolution's input gradient (a device primitive), its input gradient is that convolution
//! (`conv2d`), and its weight gradient is that convolution's weight gradient with the roles of
//! input and output gradient exchanged. `output_padding` only resolves which of the `s`
//! input sizes that convolution maps to `H` is meant: it adds rows at the bottom (and
//! columns at the right) that no input reaches (they hold the bias).

use super::conv::{common_float, pair, push_bias_grad, rank4};
use crate::autograd::Backward;
use crate::primitive::{ConvSpec, Geom};
use crate::{Error, Result, Tensor};

/// Backward of [`Tensor::conv_transpose2d`]; holds the spec of the adjoint convolution (whose
/// input has this op's output shape).
struct ConvTranspose2dBackward(ConvSpec);

impl Backward for ConvTranspose2dBackward {
    fn name(&self) -> &'static str {
        "conv_transpose2d"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let gy = gy.to_dtype(x.dtype())?;
        let (gs, ws) = (gy.storage(), w.storage());
        // input gradient: the adjoint convolution applied to the output gradient
        let dx = if x.tracks_grad() {
            let s = gs.conv2d(gy.layout(), (&ws, w.layout()), None, &self.0)?;
            Some(Tensor::from_storage(s, x.shape().clone()))
        } else {
            None
        };
        // weight gradient: the convolution's weight gradient with `gy` as its input and `x` as
        // its output gradient
        let dw = if w.tracks_grad() {
            let (_, dw) = gs.conv2d_backward(
                gy.layout(),
                (&ws, w.layout()),
                (&x.storage(), x.layout()),
                &self.0,
                (false, true),
            )?;
            let dw = dw.ok_or_else(|| Error::msg("conv_transpose2d: no weight gradient"))?;
            Some(Tensor::from_storage(dw, w.shape().clone()))
        } else {
            None
        };
        let mut out = vec![dx, dw];
        push_bias_grad(&mut out, inputs, &gy)?;
        Ok(out)
    }
}

/// The output size along one axis, or an error naming the arithmetic (`axis`: "rows" or
/// "columns").
fn out_size(
    axis: &str,
    size: usize,
    (k, s, p, d, op): (usize, usize, usize, usize, usize),
) -> Result<usize> {
    let full = (size as i64 - 1) * s as i64 + (d * (k - 1)) as i64 + op as i64 + 1;
    let out = full - 2 * p as i64;
    if out < 1 {
        return Err(Error::invalid(
            "conv_transpose2d",
            format!(
                "({size} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {out} output {axis}, fewer \
                 than 1 (the padding {p} is too large for the input size {size})"
            ),
        ));
    }
    Ok(out as usize)
}

impl Tensor {
    /// Transposed 2-d convolution (`torch.nn.functional.conv_transpose2d`, same argument
    /// order): the adjoint of [`Tensor::conv2d`], which upsamples by `stride`.
    ///
    /// Shapes: `self: (N, C_in, H, W)`, `weight: (C_in, C_out / groups, kH, kW)`,
    /// `bias: (C_out,)` -> `(N, C_out, H_out, W_out)` with
    /// `H_out = (H - 1) stride.0 - 2 padding.0 + dilation.0 (kH - 1) + output_padding.0 + 1`,
    /// likewise `W_out`. Input element `(h, w)` of channel `c` adds `x * weight[c, o, i, j]` to
    /// output `(h stride - padding + i dilation, w stride - padding + j dilation)` of each
    /// output channel `o` of its group. `output_padding` (less than the stride or the dilation)
    /// extends the output at the bottom and right. Float32 or float64, the same for all.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: (usize, usize),
        padding: (usize, usize),
        output_padding: (usize, usize),
        groups: usize,
        dilation: (usize, usize),
    ) -> Result<Tensor> {
        const OP: &str = "conv_transpose2d";
        rank4(OP, "input of shape (N, C_in, H, W)", self)?;
        rank4(OP, "weight of shape (C_in, C_out / groups, kH, kW)", weight)?;
        let mut all = vec![self, weight];
        all.extend(bias);
        common_float(OP, &all)?;
        let (xd, wd) = (self.dims(), weight.dims());
        let c_in = xd[1];
        if groups == 0 || c_in % groups != 0 {
            return Err(Error::invalid(
                OP,
                format!("groups {groups} must divide the input channels ({c_in})"),
            ));
        }
        if wd[0] != c_in {
            return Err(Error::invalid(
                OP,
                format!(
                    "input {} has {c_in} channels but weight {} expects {} (a transposed \
                     convolution's weight is (C_in, C_out / groups, kH, kW))",
                    self.shape(),
                    weight.shape(),
                    wd[0]
                ),
            ));
        }
        let cout = wd[1] * groups;
        if let Some(b) = bias {
            if b.dims() != [cout] {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "bias has shape {} but weight {} with groups {groups} gives {cout} \
                         output channels (expected [{cout}])",
                        b.shape(),
                        weight.shape()
                    ),
                ));
            }
        }
        let (k, s, d, op) = ((wd[2], wd[3]), stride, dilation, output_padding);
        if s.0 == 0 || s.1 == 0 || d.0 == 0 || d.1 == 0 || k.0 == 0 || k.1 == 0 {
            return Err(Error::invalid(
                OP,
                format!(
                    "stride {}, dilation {} and kernel {} must be at least 1",
                    pair(s),
                    pair(d),
                    pair(k)
                ),
            ));
        }
        if (op.0 >= s.0 && op.0 >= d.0) || (op.1 >= s.1 && op.1 >= d.1) {
            return Err(Error::invalid(
                OP,
                format!(
                    "output_padding {} must be smaller than either the stride {} or the \
                     dilation {} (along each axis)",
                    pair(op),
                    pair(s),
                    pair(d)
                ),
            ));
        }
        let (h, w) = (xd[2], xd[3]);
        if h == 0 || w == 0 {
            return Err(Error::invalid(
                OP,
                format!(
                    "input planes must not be empty, got {h}x{w} (input {})",
                    self.shape()
                ),
            ));
        }
        let ho = out_size("rows", h, (k.0, s.0, padding.0, d.0, op.0))?;
        let wo = out_size("columns", w, (k.1, s.1, padding.1, d.1, op.1))?;
        // the adjoint convolution: (N, C_out, H_out, W_out) -> (N, C_in, H, W)
        let g = Geom {
            n: xd[0],
            c: cout,
            h: ho,
            w: wo,
            kh: k.0,
            kw: k.1,
            sh: s.0,
            sw: s.1,
            ph: padding.0,
            pw: padding.1,
            dh: d.0,
            dw: d.1,
            ho: h,
            wo: w,
        };
        let spec = ConvSpec {
            g,
            groups,
            cout: c_in,
        };
        let out = {
            let (ws, bs) = (weight.storage(), bias.map(|b| b.storage()));
            let b = bias.zip(bs.as_deref()).map(|(b, s)| (s, b.layout()));
            self.storage()
                .conv_transpose2d(self.layout(), (&ws, weight.layout()), b, &spec)?
        };
        Ok(Tensor::from_op(
            out,
            [xd[0], cout, ho, wo],
            ConvTranspose2dBackward(spec),
            &all,
        ))
    }
}

#[cfg(test)]
#[path = "conv_transpose_tests.rs"]
mod tests;
