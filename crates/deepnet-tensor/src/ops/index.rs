//! Indexing with integer tensors: index_select, gather, scatter_add and one_hot. Index tensors
//! are int64; an index outside the dimension is an error naming it.

use crate::autograd::Backward;
use crate::{DType, Dim, Error, Result, Shape, Tensor};

fn check_index(op: &'static str, index: &Tensor) -> Result<()> {
    if index.dtype() != DType::I64 {
        return Err(Error::DType {
            op,
            expected: "an int64 index tensor",
            got: index.dtype(),
        });
    }
    Ok(())
}

/// Gradient of index_select: the gradient rows added back at their indices.
struct IndexSelectBackward {
    dim: usize,
}
impl Backward for IndexSelectBackward {
    fn name(&self) -> &'static str {
        "index_select"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, idx) = (&inputs[0], &inputs[1]);
        // the index broadcast along the other dims, so scatter_add adds whole slices
        let mut s = vec![1; g.rank()];
        s[self.dim] = idx.numel();
        let full = idx.reshape(s)?.broadcast_to(g.shape().clone())?;
        let z = x.zeros_like()?;
        Ok(vec![Some(z.scatter_add(self.dim, &full, g)?), None])
    }
}

/// Gradient of gather: scatter the gradient back.
struct GatherBackward {
    dim: usize,
}
impl Backward for GatherBackward {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, idx) = (&inputs[0], &inputs[1]);
        Ok(vec![
            Some(x.zeros_like()?.scatter_add(self.dim, idx, g)?),
            None,
        ])
    }
}

/// Gradient of scatter_add: the identity for the base, a gather for the source.
struct ScatterAddBackward {
    dim: usize,
}
impl Backward for ScatterAddBackward {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let idx = &inputs[1];
        Ok(vec![Some(g.clone()), None, Some(g.gather(self.dim, idx)?)])
    }
}

impl Tensor {
    /// The slices at `index` (1-d int64) along `dim`, as `torch.index_select`.
    pub fn index_select(&self, dim: impl Dim, index: &Tensor) -> Result<Tensor> {
        check_index("index_select", index)?;
        if index.rank() != 1 {
            return Err(Error::Rank {
                op: "index_select",
                expected: "a 1-d index".into(),
                got: index.shape().clone(),
            });
        }
        let d = self.shape().dim("index_select", dim.to_isize())?;
        let s =
            self.storage()
                .index_select(self.layout(), d, (&index.storage(), index.layout()))?;
        let mut shape = self.dims().to_vec();
        shape[d] = index.numel();
        Ok(Tensor::from_op(
            s,
            shape,
            IndexSelectBackward { dim: d },
            &[self, &index.detach()],
        ))
    }

    /// `out[i][j] = self[index[i][j]][j]` for `dim = 0` (and so on), as `torch.gather`. `index`
    /// has the rank of `self` and no dim larger than `self`'s, except along `dim`.
    pub fn gather(&self, dim: impl Dim, index: &Tensor) -> Result<Tensor> {
        check_index("gather", index)?;
        let d = self.shape().dim("gather", dim.to_isize())?;
        self.check_index_shape("gather", d, index)?;
        let s = self
            .storage()
            .gather(self.layout(), d, (&index.storage(), index.layout()))?;
        Ok(Tensor::from_op(
            s,
            index.shape().clone(),
            GatherBackward { dim: d },
            &[self, &index.detach()],
        ))
    }

    /// A copy of `self` with `src[p]` added at `p` with `p[dim] = index[p]`, for every position
    /// `p` of `index` (`torch.scatter_add`). Repeated indices accumulate.
    pub fn scatter_add(&self, dim: impl Dim, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        check_index("scatter_add", index)?;
        let d = self.shape().dim("scatter_add", dim.to_isize())?;
        self.check_index_shape("scatter_add", d, index)?;
        if src.rank() != index.rank() || src.dims().iter().zip(index.dims()).any(|(s, i)| s < i) {
            return Err(Error::ShapeMismatch {
                op: "scatter_add",
                expected: index.shape().clone(),
                got: src.shape().clone(),
            });
        }
        let src = src.to_dtype(self.dtype())?;
        // only the part of src covered by index takes part, as in PyTorch
        let mut part = src.clone();
        for (i, &n) in index.dims().iter().enumerate() {
            part = part.narrow(i, 0, n)?;
        }
        let s = self.storage().scatter_add(
            self.layout(),
            d,
            (&index.storage(), index.layout()),
            (&part.storage(), part.layout()),
        )?;
        Ok(Tensor::from_op(
            s,
            self.shape().clone(),
            ScatterAddBackward { dim: d },
            &[self, &index.detach(), &part],
        ))
    }

    fn check_index_shape(&self, op: &'static str, d: usize, index: &Tensor) -> Result<()> {
        let ok = index.rank() == self.rank()
            && index
                .dims()
                .iter()
                .zip(self.dims())
                .enumerate()
                .all(|(i, (a, b))| i == d || a <= b);
        if !ok {
            return Err(Error::ShapeMismatch {
                op,
                expected: self.shape().clone(),
                got: index.shape().clone(),
            });
        }
        Ok(())
    }

    /// One-hot encoding of an int64 tensor of class indices: shape `(*, num_classes)`, int64,
    /// as `torch.nn.functional.one_hot`.
    pub fn one_hot(&self, num_classes: usize) -> Result<Tensor> {
        check_index("one_hot", self)?;
        let idx = self.to_vec::<i64>()?;
        let mut v = vec![0i64; idx.len() * num_classes];
        for (r, &i) in idx.iter().enumerate() {
            if i < 0 || i as usize >= num_classes {
                return Err(Error::IndexOutOfRange {
                    op: "one_hot",
                    index: i,
                    dim: self.rank(),
                    size: num_classes,
                });
            }
            v[r * num_classes + i as usize] = 1;
        }
        let mut shape = self.dims().to_vec();
        shape.push(num_classes);
        Tensor::from_vec_on(v, Shape::new(shape), self.device())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{Error, Tensor};

    fn idx(v: Vec<i64>, s: &[usize]) -> Tensor {
        Tensor::from_vec(v, s.to_vec()).unwrap()
    }

    #[test]
    fn indexing_values() {
        let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), [3, 4]).unwrap();
        let s = x.index_select(0, &idx(vec![2, 0, 2], &[3])).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap()[..4], [8., 9., 10., 11.]);
        let s = x.index_select(1, &idx(vec![3], &[1])).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![3., 7., 11.]);
        let g = x.gather(1, &idx(vec![0, 3, 1, 1, 2, 0], &[3, 2])).unwrap();
        assert_eq!(g.to_vec::<f32>().unwrap(), vec![0., 3., 5., 5., 10., 8.]);
        let z = Tensor::zeros([2, 3], crate::DType::F32).unwrap();
        let src = Tensor::ones([2, 3], crate::DType::F32).unwrap();
        let sa = z
            .scatter_add(0, &idx(vec![1, 0, 1, 1, 1, 1], &[2, 3]), &src)
            .unwrap();
        assert_eq!(sa.to_vec::<f32>().unwrap(), vec![0., 1., 0., 2., 1., 2.]);
        let oh = idx(vec![0, 2], &[2]).one_hot(3).unwrap();
        assert_eq!(oh.to_vec::<i64>().unwrap(), vec![1, 0, 0, 0, 0, 1]);
    }

    /// A row range of a matrix is contiguous but starts past the storage's first element: the
    /// kernels must read from the view's offset (they once read from element 0).
    #[test]
    fn offset_views_are_indexed_from_their_offset() {
        let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), [3, 4]).unwrap();
        let rows = x.narrow(0, 1, 2).unwrap();
        let s = rows.index_select(0, &idx(vec![1], &[1])).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![8., 9., 10., 11.]);
        let g = rows.gather(1, &idx(vec![0, 3], &[2, 1])).unwrap();
        assert_eq!(g.to_vec::<f32>().unwrap(), vec![4., 11.]);
        let ones = Tensor::ones([1, 4], crate::DType::F32).unwrap();
        let sa = rows
            .scatter_add(0, &idx(vec![1, 1, 1, 1], &[1, 4]), &ones)
            .unwrap();
        assert_eq!(
            sa.to_vec::<f32>().unwrap(),
            vec![4., 5., 6., 7., 9., 10., 11., 12.]
        );
    }

    #[test]
    fn bad_indices_are_errors() {
        let x = Tensor::zeros([3, 4], crate::DType::F32).unwrap();
        let e = x.index_select(0, &idx(vec![3], &[1])).unwrap_err();
        assert!(
            matches!(
                e,
                Error::IndexOutOfRange {
                    index: 3,
                    size: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(matches!(
            x.gather(1, &idx(vec![-1], &[1, 1])),
            Err(Error::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            x.gather(1, &idx(vec![0], &[1])),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            idx(vec![5], &[1]).one_hot(3),
            Err(Error::IndexOutOfRange { .. })
        ));
        let f = Tensor::zeros([2], crate::DType::F32).unwrap();
        assert!(matches!(x.index_select(0, &f), Err(Error::DType { .. })));
    }

    #[test]
    fn indexing_gradients() {
        let x = seeded([4, 3], 1);
        let i = idx(vec![3, 0, 3, 1, 2], &[5]);
        gradcheck("index_select", |t| t[0].index_select(0, &i), &[x.clone()]).unwrap();
        let gi = idx(vec![2, 0, 0, 2, 1, 1], &[3, 2]);
        gradcheck("gather", |t| t[0].gather(1, &gi), &[seeded([3, 4], 2)]).unwrap();
        let si = idx(vec![0, 1, 2, 0, 2, 1, 0, 1], &[2, 4]);
        gradcheck(
            "scatter_add",
            |t| t[0].scatter_add(0, &si, &t[1]),
            &[seeded([3, 4], 3), seeded([2, 4], 4)],
        )
        .unwrap();
    }
}
