//! 2-d convolution (`torch.nn.functional.conv2d`), `unfold`/`fold` (im2col and its adjoint) and
//! the locally connected layer built from them.
//!
//! Shapes: input `(N, C_in, H, W)`; conv weight `(C_out, C_in / groups, kH, kW)`; output
//! `(N, C_out, H_out, W_out)` with `H_out = (H + 2 p - d (kH - 1) - 1) / s + 1` (floor), the
//! same for `W`.

use crate::autograd::Backward;
use crate::primitive::{ConvSpec, Geom};
use crate::{DType, Error, Result, Storage, Tensor};

/// `"5x3"`: a pair as `HxW`.
pub(super) fn pair(p: (usize, usize)) -> String {
    format!("{}x{}", p.0, p.1)
}

/// The float dtype shared by all `ts`, or an error naming `op`.
pub(super) fn common_float(op: &'static str, ts: &[&Tensor]) -> Result<DType> {
    let d = ts[0].dtype();
    for t in ts {
        if !t.dtype().is_float() || t.dtype() != d {
            return Err(Error::DType {
                op,
                expected: "float32 or float64, the same for every operand",
                got: if t.dtype().is_float() { d } else { t.dtype() },
            });
        }
    }
    Ok(d)
}

/// The geometry of a sliding `kernel` window over the `(N, C, H, W)` shape `x`, validated:
/// positive stride and dilation, and a window no larger than the padded input.
pub(crate) fn window_geom(
    op: &'static str,
    x: &[usize],
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> Result<Geom> {
    if stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 {
        return Err(Error::invalid(
            op,
            format!(
                "stride ({}, {}) and dilation ({}, {}) must be at least 1",
                stride.0, stride.1, dilation.0, dilation.1
            ),
        ));
    }
    if kernel.0 == 0 || kernel.1 == 0 {
        return Err(Error::invalid(
            op,
            format!("kernel {} is empty", pair(kernel)),
        ));
    }
    let (h, w) = (x[2], x[3]);
    let eff = |k: usize, d: usize| d * (k - 1) + 1;
    let (eh, ew) = (eff(kernel.0, dilation.0), eff(kernel.1, dilation.1));
    let (hp, wp) = (h + 2 * padding.0, w + 2 * padding.1);
    if eh > hp || ew > wp {
        let dil = if dilation.0 == dilation.1 {
            dilation.0.to_string()
        } else {
            pair(dilation)
        };
        return Err(Error::invalid(
            op,
            format!(
                "kernel {} (dilation {dil}) is larger than the padded input {}",
                pair(kernel),
                pair((hp, wp))
            ),
        ));
    }
    Ok(Geom {
        n: x[0],
        c: x[1],
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
        ho: (hp - eh) / stride.0 + 1,
        wo: (wp - ew) / stride.1 + 1,
    })
}

pub(super) fn rank4(op: &'static str, what: &str, t: &Tensor) -> Result<()> {
    if t.rank() != 4 {
        return Err(Error::Rank {
            op,
            expected: what.to_string(),
            got: t.shape().clone(),
        });
    }
    Ok(())
}

/// Appends the bias gradient of a convolution, `gy: (N, C_out, H, W)` summed over `(N, H, W)`,
/// to the gradients `out` when the op had a bias (`inputs[2]`): `None` unless it tracks
/// gradients.
pub(super) fn push_bias_grad(
    out: &mut Vec<Option<Tensor>>,
    inputs: &[Tensor],
    gy: &Tensor,
) -> Result<()> {
    if let Some(b) = inputs.get(2) {
        out.push(if b.tracks_grad() {
            Some(gy.sum([0, 2, 3], false)?)
        } else {
            None
        });
    }
    Ok(())
}

/// Backward of [`Tensor::conv2d`]: input and weight gradients from the device's fused kernel,
/// bias gradient by summing `gy` over `(N, H, W)`.
struct Conv2dBackward(ConvSpec);

impl Backward for Conv2dBackward {
    fn name(&self) -> &'static str {
        "conv2d"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let gy = gy.to_dtype(x.dtype())?;
        let need = (x.tracks_grad(), w.tracks_grad());
        let (dx, dw) = x.storage().conv2d_backward(
            x.layout(),
            (&w.storage(), w.layout()),
            (&gy.storage(), gy.layout()),
            &self.0,
            need,
        )?;
        let mut out = vec![
            dx.map(|s| Tensor::from_storage(s, x.shape().clone())),
            dw.map(|s| Tensor::from_storage(s, w.shape().clone())),
        ];
        push_bias_grad(&mut out, inputs, &gy)?;
        Ok(out)
    }
}

/// Backward of [`Tensor::unfold2d`]: fold the gradient back.
struct UnfoldBackward(Geom);
/// Backward of [`Tensor::fold2d`]: unfold the gradient.
struct FoldBackward(Geom);

fn unfold_storage(g: &Geom, x: &Tensor) -> Result<Storage> {
    x.storage().unfold2d(x.layout(), g)
}

fn fold_storage(g: &Geom, c: &Tensor) -> Result<Storage> {
    c.storage().fold2d(c.layout(), g)
}

impl Backward for UnfoldBackward {
    fn name(&self) -> &'static str {
        "unfold2d"
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let s = fold_storage(&self.0, &gy.to_dtype(x[0].dtype())?)?;
        Ok(vec![Some(Tensor::from_op(
            s,
            x[0].shape().clone(),
            FoldBackward(self.0),
            &[gy],
        ))])
    }
}

impl Backward for FoldBackward {
    fn name(&self) -> &'static str {
        "fold2d"
    }
    fn backward(&self, c: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let s = unfold_storage(&self.0, &gy.to_dtype(c[0].dtype())?)?;
        Ok(vec![Some(Tensor::from_op(
            s,
            c[0].shape().clone(),
            UnfoldBackward(self.0),
            &[gy],
        ))])
    }
}

impl Tensor {
    /// 2-d convolution (`torch.nn.functional.conv2d`; strictly a cross-correlation).
    ///
    /// Shapes: `self: (N, C_in, H, W)`, `weight: (C_out, C_in / groups, kH, kW)`,
    /// `bias: (C_out,)` -> `(N, C_out, H_out, W_out)` with
    /// `H_out = (H + 2 padding.0 - dilation.0 (kH - 1) - 1) / stride.0 + 1`, likewise `W_out`.
    /// Input channels are split into `groups` groups, each convolved with its own `C_out / groups`
    /// filters. Computed by im2col + GEMM with the batch split across threads; float32 or float64
    /// (the same for all operands).
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        groups: usize,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d";
        rank4(OP, "input of shape (N, C_in, H, W)", self)?;
        rank4(OP, "weight of shape (C_out, C_in / groups, kH, kW)", weight)?;
        let mut all = vec![self, weight];
        all.extend(bias);
        common_float(OP, &all)?;
        let (c_in, wd) = (self.dims()[1], weight.dims());
        let cout = wd[0];
        if groups == 0 || c_in % groups != 0 || cout % groups != 0 {
            return Err(Error::invalid(
                OP,
                format!("groups {groups} must divide both the input channels ({c_in}) and the output channels ({cout})"),
            ));
        }
        if wd[1] * groups != c_in {
            let gs = if groups > 1 {
                format!(", groups {groups}")
            } else {
                String::new()
            };
            return Err(Error::invalid(
                OP,
                format!(
                    "input has {c_in} channels but weight expects {} (weight {}{gs})",
                    wd[1] * groups,
                    weight.shape()
                ),
            ));
        }
        if let Some(b) = bias {
            if b.dims() != [cout] {
                return Err(Error::invalid(
                    OP,
                    format!("bias has shape {} but the weight has {cout} output channels (expected [{cout}])", b.shape()),
                ));
            }
        }
        let g = window_geom(OP, self.dims(), (wd[2], wd[3]), stride, padding, dilation)?;
        let spec = ConvSpec { g, groups, cout };
        let s = {
            let (ws, bs) = (weight.storage(), bias.map(|b| b.storage()));
            let b = bias.zip(bs.as_deref()).map(|(b, s)| (s, b.layout()));
            self.storage()
                .conv2d(self.layout(), (&ws, weight.layout()), b, &spec)?
        };
        Ok(Tensor::from_op(
            s,
            [g.n, cout, g.ho, g.wo],
            Conv2dBackward(spec),
            &all,
        ))
    }

    /// Sliding local blocks, im2col (`torch.nn.functional.unfold`):
    /// `(N, C, H, W)` -> `(N, C * kH * kW, L)` with `L = H_out * W_out` (conv2d's output size);
    /// row `(c * kH + i) * kW + j` holds input channel `c` at kernel offset `(i, j)`, zero where the
    /// window covers padding.
    pub fn unfold2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Tensor> {
        rank4("unfold2d", "input of shape (N, C, H, W)", self)?;
        common_float("unfold2d", &[self])?;
        let g = window_geom("unfold2d", self.dims(), kernel, stride, padding, dilation)?;
        let s = unfold_storage(&g, self)?;
        Ok(Tensor::from_op(
            s,
            [g.n, g.k(g.c), g.l()],
            UnfoldBackward(g),
            &[self],
        ))
    }

    /// The adjoint of [`Tensor::unfold2d`] (`torch.nn.functional.fold`): `(N, C * kH * kW, L)` ->
    /// `(N, C, H, W)` with `(H, W) = output_size`, overlapping entries summed.
    pub fn fold2d(
        &self,
        output_size: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Tensor> {
        const OP: &str = "fold2d";
        if self.rank() != 3 {
            return Err(Error::Rank {
                op: OP,
                expected: "input of shape (N, C * kH * kW, L)".into(),
                got: self.shape().clone(),
            });
        }
        common_float(OP, &[self])?;
        let (n, ck, l) = (self.dims()[0], self.dims()[1], self.dims()[2]);
        let kk = kernel.0 * kernel.1;
        if kk == 0 || ck % kk != 0 {
            return Err(Error::invalid(
                OP,
                format!(
                    "dim 1 ({ck}) is not a multiple of the kernel size {}",
                    pair(kernel)
                ),
            ));
        }
        let shape = [n, ck / kk, output_size.0, output_size.1];
        let g = window_geom(OP, &shape, kernel, stride, padding, dilation)?;
        if g.l() != l {
            return Err(Error::invalid(
                OP,
                format!(
                    "dim 2 ({l}) must be the number of windows {}x{} = {} over {}",
                    g.ho,
                    g.wo,
                    g.l(),
                    pair(output_size)
                ),
            ));
        }
        let s = fold_storage(&g, self)?;
        Ok(Tensor::from_op(s, shape, FoldBackward(g), &[self]))
    }

    /// A locally connected 2-d layer: a convolution whose filters are not shared, a separate
    /// filter at every output position.
    ///
    /// Shapes: `self: (N, C_in, H, W)`, `weight: (H_out, W_out, C_out, C_in, kH, kW)` (position
    /// first, then a conv2d weight per position, so `weight[i, j]` is the filter bank of output
    /// position `(i, j)`), `bias: (C_out, H_out, W_out)` -> `(N, C_out, H_out, W_out)`, with
    /// `H_out`/`W_out` as conv2d's. Computed as [`Tensor::unfold2d`] and one batched product
    /// over the positions, `(L, N, C_in kH kW) @ (L, C_in kH kW, C_out)`; differentiable
    /// through those ops.
    pub fn locally_connected2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Tensor> {
        const OP: &str = "locally_connected2d";
        rank4(OP, "input of shape (N, C_in, H, W)", self)?;
        if weight.rank() != 6 {
            return Err(Error::Rank {
                op: OP,
                expected: "weight of shape (H_out, W_out, C_out, C_in, kH, kW)".into(),
                got: weight.shape().clone(),
            });
        }
        let mut all = vec![self, weight];
        all.extend(bias);
        common_float(OP, &all)?;
        let wd = weight.dims();
        let (c_in, cout) = (self.dims()[1], wd[2]);
        if wd[3] != c_in {
            return Err(Error::invalid(
                OP,
                format!(
                    "input has {c_in} channels but weight expects {} (weight {})",
                    wd[3],
                    weight.shape()
                ),
            ));
        }
        let g = window_geom(OP, self.dims(), (wd[4], wd[5]), stride, padding, (1, 1))?;
        if (wd[0], wd[1]) != (g.ho, g.wo) {
            return Err(Error::invalid(
                OP,
                format!(
                    "weight {} has {}x{} positions but input {}x{} with kernel {}, stride {}, padding {} gives ({} - {} + {})/{} + 1 = {} by {}",
                    weight.shape(), wd[0], wd[1], g.h, g.w, pair((g.kh, g.kw)), pair(stride), pair(padding),
                    g.h, g.kh, 2 * g.ph, g.sh, g.ho, g.wo
                ),
            ));
        }
        if let Some(b) = bias {
            if b.dims() != [cout, g.ho, g.wo] {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "bias has shape {} but expected [{cout}, {}, {}] (C_out, H_out, W_out)",
                        b.shape(),
                        g.ho,
                        g.wo
                    ),
                ));
            }
        }
        let (l, k) = (g.l(), g.k(c_in));
        let cols = self.unfold2d((g.kh, g.kw), stride, padding, (1, 1))?; // (N, K, L)
        let a = cols.permute([2, 0, 1])?; // (L, N, K)
        let wm = weight.reshape([l, cout, k])?.transpose(1, 2)?; // (L, K, C_out)
        let y = a
            .matmul(&wm)?
            .permute([1, 2, 0])?
            .reshape([g.n, cout, g.ho, g.wo])?;
        match bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Tensor};

    fn conv_case(
        t: &[Tensor],
        s: usize,
        p: usize,
        d: usize,
        groups: usize,
    ) -> crate::Result<Tensor> {
        t[0].conv2d(&t[1], t.get(2), (s, s), (p, p), (d, d), groups)
    }

    #[test]
    fn conv2d_gradients() {
        // (x, weight, bias, stride, padding, dilation, groups)
        type Case<'a> = (&'a [usize], &'a [usize], bool, usize, usize, usize, usize);
        let cases: [Case; 6] = [
            (&[2, 2, 5, 5], &[3, 2, 3, 3], true, 1, 0, 1, 1),
            (&[2, 3, 6, 5], &[2, 3, 3, 2], true, 2, 1, 1, 1),
            (&[1, 2, 7, 7], &[2, 2, 3, 3], false, 1, 2, 2, 1),
            (&[2, 4, 5, 5], &[4, 2, 2, 2], true, 1, 1, 1, 2),
            (&[3, 2, 4, 4], &[3, 2, 1, 1], true, 1, 0, 1, 1),
            (&[2, 4, 6, 6], &[6, 2, 3, 3], false, 2, 1, 2, 2),
        ];
        for (i, &(xs, ws, bias, s, p, d, g)) in cases.iter().enumerate() {
            let i = i as u64;
            let mut inputs = vec![seeded(xs.to_vec(), i), seeded(ws.to_vec(), 10 + i)];
            if bias {
                inputs.push(seeded([ws[0]], 20 + i));
            }
            gradcheck("conv2d", |t| conv_case(t, s, p, d, g), &inputs).unwrap();
        }
        // a non-contiguous input (a permuted view)
        let x = seeded([2, 5, 5, 3], 7);
        gradcheck(
            "conv2d_noncontig",
            |t| {
                t[0].permute([0, 3, 1, 2])?
                    .conv2d(&t[1], None, (2, 1), (1, 0), (1, 1), 1)
            },
            &[x, seeded([2, 3, 3, 3], 8)],
        )
        .unwrap();
    }

    #[test]
    fn conv2d_equals_weight_times_unfold_and_f32_agrees() {
        let x = seeded([3, 4, 9, 8], 1);
        let w = seeded([6, 2, 3, 3], 2);
        let b = seeded([6], 3);
        let y = x.conv2d(&w, Some(&b), (2, 1), (1, 2), (2, 1), 2).unwrap();
        assert_eq!(y.dims(), [3, 6, 4, 10]);
        // per group: W_g (3 x 18) @ unfold(x_g) + b
        let parts: Vec<Tensor> = (0..2)
            .map(|gi| {
                let cols = x
                    .narrow(1, gi * 2, 2)
                    .unwrap()
                    .unfold2d((3, 3), (2, 1), (1, 2), (2, 1))
                    .unwrap();
                let wg = w.narrow(0, gi * 3, 3).unwrap().reshape([3, 18]).unwrap();
                wg.matmul(&cols).unwrap()
            })
            .collect();
        let want = Tensor::cat(&parts, 1)
            .unwrap()
            .reshape([3, 6, 4, 10])
            .unwrap();
        let want = want.add(&b.reshape([1, 6, 1, 1]).unwrap()).unwrap();
        let (a, r) = (y.to_vec::<f64>().unwrap(), want.to_vec::<f64>().unwrap());
        assert!(a.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-10));
        let y32 = x
            .to_f32()
            .unwrap()
            .conv2d(
                &w.to_f32().unwrap(),
                Some(&b.to_f32().unwrap()),
                (2, 1),
                (1, 2),
                (2, 1),
                2,
            )
            .unwrap();
        assert_eq!(y32.dtype(), DType::F32);
        assert!(y32
            .to_vec_f64()
            .iter()
            .zip(&a)
            .all(|(p, q)| (p - q).abs() < 1e-4));
    }

    #[test]
    fn conv2d_errors_name_op_shapes_and_arithmetic() {
        let z = |s: &[usize]| Tensor::zeros(s.to_vec(), DType::F32).unwrap();
        let e = |r: crate::Result<Tensor>| r.unwrap_err().to_string();
        assert_eq!(
            e(z(&[2, 3, 28, 28]).conv2d(&z(&[6, 1, 5, 5]), None, (1, 1), (0, 0), (1, 1), 1)),
            "conv2d: input has 3 channels but weight expects 1 (weight [6, 1, 5, 5])"
        );
        assert_eq!(
            e(z(&[1, 1, 3, 3]).conv2d(&z(&[6, 1, 5, 5]), None, (1, 1), (0, 0), (1, 1), 1)),
            "conv2d: kernel 5x5 (dilation 1) is larger than the padded input 3x3"
        );
        assert!(
            e(z(&[1, 3, 8, 8]).conv2d(&z(&[4, 1, 3, 3]), None, (1, 1), (0, 0), (1, 1), 2))
                .contains("groups 2 must divide")
        );
        assert!(
            e(z(&[3, 8, 8]).conv2d(&z(&[4, 3, 3, 3]), None, (1, 1), (0, 0), (1, 1), 1))
                .contains("(N, C_in, H, W)")
        );
        assert!(e(z(&[1, 3, 8, 8]).conv2d(
            &z(&[4, 3, 3, 3]),
            Some(&z(&[5])),
            (1, 1),
            (0, 0),
            (1, 1),
            1
        ))
        .contains("bias has shape [5]"));
        assert!(
            e(z(&[1, 3, 8, 8]).conv2d(&z(&[4, 3, 3, 3]), None, (0, 1), (0, 0), (1, 1), 1))
                .contains("at least 1")
        );
        let w64 = Tensor::zeros([4, 3, 3, 3], DType::F64).unwrap();
        assert!(
            e(z(&[1, 3, 8, 8]).conv2d(&w64, None, (1, 1), (0, 0), (1, 1), 1)).contains("dtype")
        );
        // an empty batch is fine
        assert_eq!(
            z(&[0, 3, 8, 8])
                .conv2d(&z(&[4, 3, 3, 3]), None, (1, 1), (1, 1), (1, 1), 1)
                .unwrap()
                .dims(),
            [0, 4, 8, 8]
        );
    }

    #[test]
    fn unfold_fold_gradients() {
        gradcheck(
            "unfold2d",
            |t| t[0].unfold2d((2, 3), (2, 1), (1, 1), (1, 2)),
            &[seeded([2, 2, 5, 6], 1)],
        )
        .unwrap();
        gradcheck(
            "fold2d",
            |t| t[0].fold2d((5, 6), (2, 3), (2, 1), (1, 1), (1, 2)),
            &[seeded([2, 12, 12], 2)],
        )
        .unwrap();
        // second order: the gradient of unfold is itself differentiable (fold)
        let x = seeded([1, 1, 4, 4], 3).requires_grad_(true).unwrap();
        let c = x.unfold2d((2, 2), (1, 1), (0, 0), (1, 1)).unwrap();
        assert_eq!(c.dims(), [1, 4, 9]);
        assert!(seeded([1, 4, 8], 4)
            .fold2d((4, 4), (2, 2), (1, 1), (0, 0), (1, 1))
            .is_err());
    }

    #[test]
    fn locally_connected_with_shared_filters_is_a_convolution() {
        let x = seeded([2, 3, 7, 6], 1);
        let w = seeded([4, 3, 3, 2], 2);
        let y = x.conv2d(&w, None, (2, 2), (1, 0), (1, 1), 1).unwrap();
        assert_eq!(y.dims(), [2, 4, 4, 3]);
        let lw = w
            .unsqueeze(0)
            .unwrap()
            .unsqueeze(0)
            .unwrap()
            .expand([4, 3, 4, 3, 3, 2])
            .unwrap();
        let bias = seeded([4, 4, 3], 3);
        let z = x
            .locally_connected2d(&lw, Some(&bias), (2, 2), (1, 0))
            .unwrap();
        let want = y.add(&bias).unwrap().to_vec::<f64>().unwrap();
        assert!(z
            .to_vec::<f64>()
            .unwrap()
            .iter()
            .zip(&want)
            .all(|(a, b)| (a - b).abs() < 1e-10));
        let e = x
            .locally_connected2d(&seeded([3, 3, 4, 3, 3, 2], 4), None, (2, 2), (1, 0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gives (7 - 3 + 2)/2 + 1 = 4 by 3"), "{e}");
    }

    #[test]
    fn locally_connected_gradients() {
        gradcheck(
            "locally_connected2d",
            |t| t[0].locally_connected2d(&t[1], Some(&t[2]), (1, 2), (1, 1)),
            &[
                seeded([2, 2, 4, 5], 1),
                seeded([4, 3, 3, 2, 3, 2], 2),
                seeded([3, 4, 3], 3),
            ],
        )
        .unwrap();
    }
}
