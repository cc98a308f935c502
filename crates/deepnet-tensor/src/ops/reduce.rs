//! Reductions over chosen dims (`keepdim` as in PyTorch) and over all elements: sum, mean,
//! amax/amin, max/min with indices, argmax/argmin; and `sum_to`, the inverse of broadcasting.

use crate::autograd::Backward;
use crate::primitive::ReduceOp;
use crate::shape::resolve_dims;
use crate::{DType, Dim, Dims, Error, Result, Shape, Tensor};

/// The output shape of reducing `dims` (sorted) of `shape`.
fn reduced_shape(shape: &Shape, dims: &[usize], keepdim: bool) -> Shape {
    let mut out = Vec::new();
    for (i, &d) in shape.dims().iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(d);
        }
    }
    Shape::new(out)
}

/// Sum: the gradient is broadcast back over the reduced dims.
struct SumBackward {
    keep_shape: Shape,
}

impl Backward for SumBackward {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let g = g
            .reshape(&self.keep_shape)?
            .broadcast_to(inputs[0].shape())?;
        Ok(vec![Some(g)])
    }
}

/// amax/amin: the gradient goes to the elements equal to the extreme, shared equally among ties
/// (PyTorch's rule for amax).
struct ExtremeBackward {
    keep_shape: Shape,
    op: &'static str,
}

impl Backward for ExtremeBackward {
    fn name(&self) -> &'static str {
        self.op
    }
    fn backward(&self, inputs: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let y = y.reshape(&self.keep_shape)?;
        let hit = x.eq(&y)?.to_dtype(x.dtype())?;
        let dims: Vec<isize> = (0..x.rank() as isize)
            .filter(|&d| self.keep_shape.dims()[d as usize] == 1 && x.dims()[d as usize] != 1)
            .collect();
        let count = if dims.is_empty() {
            hit.clone()
        } else {
            hit.sum(&dims[..], true)?
        };
        let g = g.reshape(&self.keep_shape)?.div(&count)?;
        Ok(vec![Some(hit.mul(&g)?)])
    }
}

impl Tensor {
    fn reduce_raw(&self, op: ReduceOp, dims: &[usize]) -> Result<crate::Storage> {
        let x = if self.dtype() == DType::U8 && op == ReduceOp::Sum {
            // summing a mask counts its ones, in int64 as PyTorch does
            self.to_dtype(DType::I64)?
        } else {
            self.clone()
        };
        let s = x.storage().reduce(x.layout(), op, dims)?;
        Ok(s)
    }

    /// Sum over `dims` (an int or a list; negative counts from the end), as `torch.sum(dim,
    /// keepdim)`. Masks (u8) are summed as int64.
    pub fn sum(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let d = resolve_dims("sum", &dims.to_isizes(), self.shape())?;
        self.sum_resolved(&d, keepdim)
    }

    fn sum_resolved(&self, d: &[usize], keepdim: bool) -> Result<Tensor> {
        let s = self.reduce_raw(ReduceOp::Sum, d)?;
        let keep_shape = reduced_shape(self.shape(), d, true);
        let out = reduced_shape(self.shape(), d, keepdim);
        Ok(Tensor::from_op(s, out, SumBackward { keep_shape }, &[self]))
    }

    /// Sum of all elements, as a 0-d tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.rank()).collect();
        self.sum_resolved(&all, false)
    }

    /// Mean over `dims`, as `torch.mean(dim, keepdim)`.
    pub fn mean(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let d = resolve_dims("mean", &dims.to_isizes(), self.shape())?;
        let n: usize = d.iter().map(|&i| self.dims()[i]).product();
        self.float_only("mean")?
            .sum_resolved(&d, keepdim)?
            .div_scalar(n as f64)
    }

    /// Mean of all elements, as a 0-d tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        let n = self.numel();
        self.float_only("mean")?.sum_all()?.div_scalar(n as f64)
    }

    pub(crate) fn float_only(&self, op: &'static str) -> Result<&Tensor> {
        if self.dtype().is_float() {
            Ok(self)
        } else {
            Err(Error::DType {
                op,
                expected: "a float tensor",
                got: self.dtype(),
            })
        }
    }

    fn extreme(
        &self,
        op: ReduceOp,
        name: &'static str,
        dims: &[isize],
        keepdim: bool,
    ) -> Result<Tensor> {
        let d = resolve_dims(name, dims, self.shape())?;
        let s = self.reduce_raw(op, &d)?;
        let keep_shape = reduced_shape(self.shape(), &d, true);
        let out = reduced_shape(self.shape(), &d, keepdim);
        Ok(Tensor::from_op(
            s,
            out,
            ExtremeBackward {
                keep_shape,
                op: name,
            },
            &[self],
        ))
    }

    /// The largest value over `dims`, as `torch.amax` (NaN propagates; ties share the gradient).
    pub fn amax(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        self.extreme(ReduceOp::Max, "amax", &dims.to_isizes(), keepdim)
    }
    /// The smallest value over `dims`, as `torch.amin`.
    pub fn amin(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        self.extreme(ReduceOp::Min, "amin", &dims.to_isizes(), keepdim)
    }
    /// The largest element, as a 0-d tensor (`torch.max(x)`).
    pub fn max_all(&self) -> Result<Tensor> {
        let all: Vec<isize> = (0..self.rank() as isize).collect();
        self.extreme(ReduceOp::Max, "max", &all, false)
    }
    /// The smallest element, as a 0-d tensor (`torch.min(x)`).
    pub fn min_all(&self) -> Result<Tensor> {
        let all: Vec<isize> = (0..self.rank() as isize).collect();
        self.extreme(ReduceOp::Min, "min", &all, false)
    }

    fn arg(&self, op: ReduceOp, name: &'static str, dim: isize, keepdim: bool) -> Result<Tensor> {
        let d = self.shape().dim(name, dim)?;
        let s = self.reduce_raw(op, &[d])?;
        Ok(Tensor::from_storage(
            s,
            reduced_shape(self.shape(), &[d], keepdim),
        ))
    }

    /// Index (int64) of the first largest element along `dim`, as `torch.argmax`.
    pub fn argmax(&self, dim: impl Dim, keepdim: bool) -> Result<Tensor> {
        self.arg(ReduceOp::ArgMax, "argmax", dim.to_isize(), keepdim)
    }
    /// Index (int64) of the first smallest element along `dim`, as `torch.argmin`.
    pub fn argmin(&self, dim: impl Dim, keepdim: bool) -> Result<Tensor> {
        self.arg(ReduceOp::ArgMin, "argmin", dim.to_isize(), keepdim)
    }
    /// Flat index of the first largest element, as `torch.argmax(x)`.
    pub fn argmax_all(&self) -> Result<Tensor> {
        self.flatten_all()?.argmax(0, false)
    }
    /// Flat index of the first smallest element, as `torch.argmin(x)`.
    pub fn argmin_all(&self) -> Result<Tensor> {
        self.flatten_all()?.argmin(0, false)
    }

    fn extreme_with_index(
        &self,
        op: ReduceOp,
        name: &'static str,
        dim: isize,
        keepdim: bool,
    ) -> Result<(Tensor, Tensor)> {
        let d = self.shape().dim(name, dim)?;
        let idx = self.arg(op, name, d as isize, true)?;
        // gathering the values makes the gradient flow to the returned index only, as in PyTorch
        let vals = self.gather(d as isize, &idx)?;
        if keepdim {
            Ok((vals, idx))
        } else {
            Ok((vals.squeeze(d as isize)?, idx.squeeze(d as isize)?))
        }
    }

    /// `(values, indices)` of the largest element along `dim`, as `torch.max(x, dim, keepdim)`.
    pub fn max(&self, dim: impl Dim, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_with_index(ReduceOp::ArgMax, "max", dim.to_isize(), keepdim)
    }
    /// `(values, indices)` of the smallest element along `dim`, as `torch.min(x, dim, keepdim)`.
    pub fn min(&self, dim: impl Dim, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_with_index(ReduceOp::ArgMin, "min", dim.to_isize(), keepdim)
    }

    /// Sums a (broadcast) tensor down to `shape`, the inverse of broadcasting: leading extra dims
    /// are summed away and dims where `shape` has size 1 are summed with keepdim.
    pub fn sum_to(&self, shape: &Shape) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let r = self.rank();
        if shape.rank() > r {
            return Err(Error::ShapeMismatch {
                op: "sum_to",
                expected: shape.clone(),
                got: self.shape().clone(),
            });
        }
        let lead = r - shape.rank();
        let mut dims: Vec<usize> = (0..lead).collect();
        for (i, &d) in shape.dims().iter().enumerate() {
            let own = self.dims()[lead + i];
            if d == 1 && own != 1 {
                dims.push(lead + i);
            } else if d != own {
                return Err(Error::ShapeMismatch {
                    op: "sum_to",
                    expected: shape.clone(),
                    got: self.shape().clone(),
                });
            }
        }
        let s = if dims.is_empty() {
            self.clone()
        } else {
            self.sum_resolved(&dims, true)?
        };
        s.reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Error, Tensor};

    fn t(v: Vec<f32>, s: &[usize]) -> Tensor {
        Tensor::from_vec(v, s.to_vec()).unwrap()
    }

    #[test]
    fn sums_over_dims() {
        let x = t((0..24).map(|v| v as f32).collect(), &[2, 3, 4]);
        assert_eq!(x.sum_all().unwrap().to_scalar::<f32>().unwrap(), 276.0);
        let s = x.sum(1, false).unwrap();
        assert_eq!(s.dims(), &[2, 4]);
        assert_eq!(
            s.to_vec::<f32>().unwrap(),
            vec![12., 15., 18., 21., 48., 51., 54., 57.]
        );
        let s = x.sum([0, 2], true).unwrap();
        assert_eq!(s.dims(), &[1, 3, 1]);
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![60., 92., 124.]);
        let s = x.sum(-1, false).unwrap();
        assert_eq!(
            s.to_vec::<f32>().unwrap(),
            vec![6., 22., 38., 54., 70., 86.]
        );
        // a transposed view reduces the same numbers
        let st = x.transpose(0, 2).unwrap().sum(2, false).unwrap();
        assert_eq!(
            st.to_vec::<f32>().unwrap(),
            x.sum(0, false)
                .unwrap()
                .t()
                .unwrap()
                .to_vec::<f32>()
                .unwrap()
        );
        assert!(matches!(x.sum(3, false), Err(Error::DimOutOfRange { .. })));
        assert!(matches!(
            x.sum([1, 1], false),
            Err(Error::DuplicateDim { .. })
        ));
        let m = x.gt_scalar(10.0).unwrap().sum_all().unwrap();
        assert_eq!(m.dtype(), DType::I64);
        assert_eq!(m.to_scalar::<i64>().unwrap(), 13);
        let e = Tensor::zeros([0, 3], DType::F32).unwrap();
        assert_eq!(
            e.sum(0, false).unwrap().to_vec::<f32>().unwrap(),
            vec![0.0; 3]
        );
        assert!(e.amax(0, false).is_err());
        // kept dims in the middle of a contiguous tensor (a conv bias gradient), against the
        // sum through a permuted copy, and the same bits on 1 and 2 threads
        let x = seeded([5, 3, 4, 70], 2);
        for (dims, kept) in [(vec![0, 2, 3], vec![1]), (vec![0, 3], vec![1, 2])] {
            let s = x.sum(dims.clone(), false).unwrap().to_vec::<f64>().unwrap();
            let perm: Vec<usize> = kept.iter().chain(&dims).copied().collect();
            let flat = x.permute(perm).unwrap().contiguous().unwrap();
            let n: usize = kept.iter().map(|&d| x.dims()[d]).product();
            let want = flat
                .reshape([n, x.numel() / n])
                .unwrap()
                .sum(1, false)
                .unwrap();
            for (a, b) in s.iter().zip(want.to_vec::<f64>().unwrap()) {
                assert!(
                    (a - b).abs() < 1e-12 * (1.0 + b.abs()),
                    "{dims:?}: {a} vs {b}"
                );
            }
            let xf = x.to_dtype(DType::F32).unwrap();
            let run = || {
                xf.sum(dims.clone(), false)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap()
            };
            let one = crate::with_num_threads(1, run).unwrap();
            assert_eq!(one, crate::with_num_threads(2, run).unwrap());
        }
    }

    #[test]
    fn extremes_and_indices() {
        let x = t(vec![1., 5., 3., 7., 2., 7.], &[2, 3]);
        let (v, i) = x.max(1, false).unwrap();
        assert_eq!(v.to_vec::<f32>().unwrap(), vec![5., 7.]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 0]);
        let (v, i) = x.min(0, true).unwrap();
        assert_eq!(v.dims(), &[1, 3]);
        assert_eq!(v.to_vec::<f32>().unwrap(), vec![1., 2., 3.]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 1, 0]);
        assert_eq!(x.argmax_all().unwrap().to_scalar::<i64>().unwrap(), 3);
        assert_eq!(
            x.argmin(1, false).unwrap().to_vec::<i64>().unwrap(),
            vec![0, 1]
        );
        assert_eq!(x.max_all().unwrap().to_scalar::<f32>().unwrap(), 7.0);
        let n = t(vec![1., f32::NAN, 3.], &[3]);
        assert!(n.max_all().unwrap().to_scalar::<f32>().unwrap().is_nan());
        assert_eq!(n.argmax_all().unwrap().to_scalar::<i64>().unwrap(), 1);
    }

    #[test]
    fn reduction_gradients() {
        let x = seeded([2, 3, 4], 1);
        gradcheck("sum", |t| t[0].sum(1, false), &[x.clone()]).unwrap();
        gradcheck("sum_keep", |t| t[0].sum([0, 2], true), &[x.clone()]).unwrap();
        gradcheck("sum_all", |t| t[0].sum_all(), &[x.clone()]).unwrap();
        gradcheck(
            "sum_view",
            |t| t[0].permute([2, 0, 1])?.sum(-1, false),
            &[x.clone()],
        )
        .unwrap();
        gradcheck("mean", |t| t[0].mean(-1, false), &[x.clone()]).unwrap();
        gradcheck("mean_all", |t| t[0].mean_all(), &[x.clone()]).unwrap();
        gradcheck("amax", |t| t[0].amax([0, 1], false), &[x.clone()]).unwrap();
        gradcheck("amin", |t| t[0].amin(2, true), &[x.clone()]).unwrap();
        gradcheck("max_dim", |t| Ok(t[0].max(1, false)?.0), &[x.clone()]).unwrap();
        gradcheck("min_dim", |t| Ok(t[0].min(2, true)?.0), &[x.clone()]).unwrap();
        gradcheck("max_all", |t| t[0].max_all(), &[x.clone()]).unwrap();
        gradcheck("sum_to", |t| t[0].sum_to(&crate::Shape::from([3, 1])), &[x]).unwrap();
    }
}
