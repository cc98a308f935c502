//! Layout-only ops (views sharing storage): reshape/view, flatten, squeeze/unsqueeze, permute,
//! transpose, narrow/slice, expand/broadcast_to; and `contiguous`, which copies when needed.

use crate::autograd::Backward;
use crate::shape::{resolve_spec, ShapeSpec};
use crate::{Dim, Error, Layout, Result, Shape, Tensor};

/// Gradient of a reshape: reshape back.
struct ReshapeBackward;
impl Backward for ReshapeBackward {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.reshape(inputs[0].shape())?)])
    }
}

/// Gradient of a permutation: the inverse permutation.
struct PermuteBackward(Vec<usize>);
impl Backward for PermuteBackward {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn backward(&self, _inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut inv = vec![0; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inv[p] = i;
        }
        Ok(vec![Some(g.permute(inv)?)])
    }
}

/// Gradient of a (strided) slice: the gradient placed into zeros of the input's shape.
struct SliceBackward {
    dim: usize,
    start: usize,
    step: usize,
}
impl Backward for SliceBackward {
    fn name(&self) -> &'static str {
        "slice"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let out = Tensor::zeros_on(x.shape().clone(), g.dtype(), g.device())?;
        let region = out
            .layout()
            .slice(self.dim, self.start, g.dims()[self.dim], self.step);
        {
            let src = g.storage();
            out.storage_mut().copy_from(&region, &src, g.layout())?;
        }
        Ok(vec![Some(out)])
    }
}

/// Gradient of expand: sum over the broadcast dims.
struct ExpandBackward;
impl Backward for ExpandBackward {
    fn name(&self) -> &'static str {
        "expand"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.sum_to(inputs[0].shape())?)])
    }
}

/// Gradient of a copy: the identity.
struct CopyBackward;
impl Backward for CopyBackward {
    fn name(&self) -> &'static str {
        "contiguous"
    }
    fn backward(&self, _inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.clone())])
    }
}

impl Tensor {
    /// The same elements with another shape; one entry may be `-1` (inferred). A view when the
    /// strides allow it, a copy otherwise (PyTorch `reshape`).
    pub fn reshape(&self, shape: impl ShapeSpec) -> Result<Tensor> {
        let target = resolve_spec(&shape.to_spec(), self.shape())?;
        if &target == self.shape() {
            return Ok(self.clone());
        }
        match self.layout().view(&target) {
            Some(l) => Ok(self.view_op(l, ReshapeBackward)),
            None => self.contiguous()?.reshape(&target),
        }
    }

    /// Like `reshape`, but an error instead of a copy when the strides do not allow a view
    /// (PyTorch `view`).
    pub fn view(&self, shape: impl ShapeSpec) -> Result<Tensor> {
        let target = resolve_spec(&shape.to_spec(), self.shape())?;
        match self.layout().view(&target) {
            Some(l) => Ok(self.view_op(l, ReshapeBackward)),
            None => Err(Error::invalid(
                "view",
                format!(
                    "a tensor of shape {} with strides {:?} cannot be viewed as {target}; use reshape",
                    self.shape(),
                    self.stride()
                ),
            )),
        }
    }

    /// Merges dims `start_dim..=end_dim` into one, as `torch.flatten`.
    pub fn flatten(&self, start_dim: impl Dim, end_dim: impl Dim) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape([1usize]);
        }
        let s = self.shape().dim("flatten", start_dim.to_isize())?;
        let e = self.shape().dim("flatten", end_dim.to_isize())?;
        if s > e {
            return Err(Error::invalid(
                "flatten",
                format!("start_dim {s} comes after end_dim {e}"),
            ));
        }
        let d = self.dims();
        let mut out: Vec<usize> = d[..s].to_vec();
        out.push(d[s..=e].iter().product());
        out.extend_from_slice(&d[e + 1..]);
        self.reshape(out)
    }

    /// All elements as a 1-d tensor.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape([self.numel()])
    }

    /// Removes dimension `dim` if its size is 1 (otherwise returns the tensor unchanged, as
    /// PyTorch does).
    pub fn squeeze(&self, dim: impl Dim) -> Result<Tensor> {
        let d = self.shape().dim("squeeze", dim.to_isize())?;
        if self.dims()[d] != 1 {
            return Ok(self.clone());
        }
        let mut s = self.dims().to_vec();
        s.remove(d);
        self.reshape(s)
    }

    /// Removes every dimension of size 1.
    pub fn squeeze_all(&self) -> Result<Tensor> {
        let s: Vec<usize> = self.dims().iter().copied().filter(|&d| d != 1).collect();
        self.reshape(s)
    }

    /// Inserts a dimension of size 1 at `dim` (`-1` appends), as `torch.unsqueeze`.
    pub fn unsqueeze(&self, dim: impl Dim) -> Result<Tensor> {
        let r = self.rank() as isize;
        let d = dim.to_isize();
        let d = if d < 0 { d + r + 1 } else { d };
        if d < 0 || d > r {
            return Err(Error::DimOutOfRange {
                op: "unsqueeze",
                dim: dim.to_isize(),
                rank: self.rank() + 1,
                shape: self.shape().clone(),
            });
        }
        let mut s = self.dims().to_vec();
        s.insert(d as usize, 1);
        self.reshape(s)
    }

    /// Reorders the dimensions: output dim `i` is input dim `dims[i]` (`torch.permute`).
    pub fn permute(&self, dims: impl crate::Dims) -> Result<Tensor> {
        let dims = dims.to_isizes();
        if dims.len() != self.rank() {
            return Err(Error::invalid(
                "permute",
                format!(
                    "got {} dims {dims:?} for a tensor of shape {}",
                    dims.len(),
                    self.shape()
                ),
            ));
        }
        let mut perm = Vec::with_capacity(dims.len());
        for &d in &dims {
            let r = self.shape().dim("permute", d)?;
            if perm.contains(&r) {
                return Err(Error::DuplicateDim {
                    op: "permute",
                    dim: r,
                });
            }
            perm.push(r);
        }
        let l = self.layout().permute(&perm);
        Ok(self.view_op(l, PermuteBackward(perm)))
    }

    /// Swaps two dimensions (`torch.transpose`).
    pub fn transpose(&self, dim0: impl Dim, dim1: impl Dim) -> Result<Tensor> {
        let a = self.shape().dim("transpose", dim0.to_isize())?;
        let b = self.shape().dim("transpose", dim1.to_isize())?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(perm)
    }

    /// The transpose of a matrix (a 0-d or 1-d tensor is returned as is), as `Tensor.t()`.
    pub fn t(&self) -> Result<Tensor> {
        match self.rank() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            _ => Err(Error::Rank {
                op: "t",
                expected: "a tensor with at most 2 dims (use transpose)".into(),
                got: self.shape().clone(),
            }),
        }
    }

    /// The elements `start..start + length` of `dim`, as a view (`torch.narrow`).
    pub fn narrow(&self, dim: impl Dim, start: usize, length: usize) -> Result<Tensor> {
        let d = self.shape().dim("narrow", dim.to_isize())?;
        let size = self.dims()[d];
        if start.checked_add(length).is_none_or(|e| e > size) {
            return Err(Error::Range {
                op: "narrow",
                dim: d,
                start,
                len: length,
                size,
            });
        }
        if start == 0 && length == size {
            return Ok(self.clone());
        }
        let l = self.layout().slice(d, start, length, 1);
        Ok(self.view_op(
            l,
            SliceBackward {
                dim: d,
                start,
                step: 1,
            },
        ))
    }

    /// The elements `start, start + step, ...` before `end` of `dim`, as a view (Python's
    /// `x[..., start:end:step]`; `end` is clipped to the size).
    pub fn slice(&self, dim: impl Dim, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let d = self.shape().dim("slice", dim.to_isize())?;
        if step == 0 {
            return Err(Error::invalid("slice", "step must be positive"));
        }
        let size = self.dims()[d];
        let end = end.min(size);
        if start > end {
            return Err(Error::Range {
                op: "slice",
                dim: d,
                start,
                len: 0,
                size,
            });
        }
        let len = (end - start).div_ceil(step);
        let l = self.layout().slice(d, start, len, step);
        Ok(self.view_op(
            l,
            SliceBackward {
                dim: d,
                start,
                step,
            },
        ))
    }

    /// The tensor broadcast to `shape` without copying (`torch.expand` / `broadcast_to`): size-1
    /// dims stretch, new leading dims are added.
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        let l = self.layout().broadcast_as("broadcast_to", &shape)?;
        Ok(self.view_op(l, ExpandBackward))
    }

    /// Same as [`Tensor::broadcast_to`] (PyTorch `expand`).
    pub fn expand(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        self.broadcast_to(shape)
    }

    /// The tensor with a row-major layout: itself when already contiguous, else a copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let s = self.storage().contiguous(self.layout());
        Ok(Tensor::from_op(
            s,
            self.shape().clone(),
            CopyBackward,
            &[self],
        ))
    }

    /// A view with an explicit layout over this tensor's storage (advanced; the layout must stay
    /// inside the storage). Not differentiable.
    pub fn as_strided(&self, layout: Layout) -> Result<Tensor> {
        let max = layout
            .dims()
            .iter()
            .zip(layout.strides())
            .map(|(&d, &s)| d.saturating_sub(1) * s)
            .sum::<usize>()
            + layout.offset();
        let len = self.storage().len();
        if layout.elem_count() > 0 && max >= len {
            return Err(Error::invalid(
                "as_strided",
                format!("layout reaches element {max} of a storage of {len}"),
            ));
        }
        Ok(self.detach().view_op(layout, CopyBackward).detach())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Error, Tensor};

    fn iota(s: &[usize]) -> Tensor {
        let n: usize = s.iter().product();
        Tensor::from_vec((0..n).map(|v| v as f32).collect(), s.to_vec()).unwrap()
    }

    #[test]
    fn views_share_storage_and_reorder() {
        let x = iota(&[2, 3, 4]);
        let p = x.permute([0, 2, 1]).unwrap();
        assert!(p.same_storage(&x));
        assert_eq!(p.dims(), &[2, 4, 3]);
        assert_eq!(p.to_vec::<f32>().unwrap()[..4], [0., 4., 8., 1.]);
        let r = x.reshape([4, -1]).unwrap();
        assert!(r.same_storage(&x));
        assert_eq!(r.dims(), &[4, 6]);
        let f = p.flatten(1, 2).unwrap();
        assert!(!f.same_storage(&x), "flattening a permuted view copies");
        assert_eq!(f.to_vec::<f32>().unwrap()[..4], [0., 4., 8., 1.]);
        assert!(p.view([2, 12]).is_err());
        let n = x.narrow(2, 1, 2).unwrap();
        assert_eq!(n.to_vec::<f32>().unwrap()[..4], [1., 2., 5., 6.]);
        let s = x.slice(2, 0, 4, 2).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap()[..4], [0., 2., 4., 6.]);
        let u = x.unsqueeze(-1).unwrap();
        assert_eq!(u.dims(), &[2, 3, 4, 1]);
        assert_eq!(u.squeeze(3).unwrap().dims(), &[2, 3, 4]);
        assert_eq!(
            u.unsqueeze(0).unwrap().squeeze_all().unwrap().dims(),
            &[2, 3, 4]
        );
        let e = Tensor::from_vec(vec![1.0f32, 2.0], [2, 1])
            .unwrap()
            .expand([3, 2, 4])
            .unwrap();
        assert_eq!(e.dims(), &[3, 2, 4]);
        assert_eq!(
            e.to_vec::<f32>().unwrap()[..8],
            [1., 1., 1., 1., 2., 2., 2., 2.]
        );
        assert!(x.t().is_err());
        assert_eq!(iota(&[2, 3]).t().unwrap().dims(), &[3, 2]);
        let c = p.contiguous().unwrap();
        assert!(c.is_contiguous() && !p.is_contiguous());
        assert_eq!(c.to_vec::<f32>().unwrap(), p.to_vec::<f32>().unwrap());
    }

    #[test]
    fn movement_errors_name_the_problem() {
        let x = Tensor::zeros([2, 3], DType::F32).unwrap();
        assert!(matches!(x.reshape([4, 2]), Err(Error::Reshape { .. })));
        assert!(matches!(
            x.narrow(1, 2, 2),
            Err(Error::Range { op: "narrow", .. })
        ));
        assert!(matches!(x.permute([0, 0]), Err(Error::DuplicateDim { .. })));
        assert!(matches!(x.permute([0]), Err(Error::InvalidArgument { .. })));
        assert!(matches!(x.unsqueeze(4), Err(Error::DimOutOfRange { .. })));
        assert!(matches!(x.expand([3, 3]), Err(Error::Broadcast { .. })));
        let msg = x.reshape([4, 2]).unwrap_err().to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[4, 2]"), "{msg}");
    }

    #[test]
    fn movement_gradients() {
        let x = seeded([2, 3, 4], 1);
        gradcheck("reshape", |t| t[0].reshape([4, 6]), &[x.clone()]).unwrap();
        gradcheck("permute", |t| t[0].permute([2, 0, 1]), &[x.clone()]).unwrap();
        gradcheck(
            "transpose_flatten",
            |t| t[0].transpose(0, 2)?.flatten(0, 1),
            &[x.clone()],
        )
        .unwrap();
        gradcheck("narrow", |t| t[0].narrow(1, 1, 2), &[x.clone()]).unwrap();
        gradcheck("slice_step", |t| t[0].slice(2, 1, 4, 2), &[x.clone()]).unwrap();
        gradcheck("unsqueeze", |t| t[0].unsqueeze(1)?.squeeze(1), &[x.clone()]).unwrap();
        gradcheck("expand", |t| t[0].expand([5, 3, 1]), &[seeded([3, 1], 2)]).unwrap();
        gradcheck(
            "contiguous",
            |t| t[0].t()?.contiguous(),
            &[seeded([3, 4], 3)],
        )
        .unwrap();
    }
}
