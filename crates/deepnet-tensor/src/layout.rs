//! A layout maps a tensor's multi-index to a position in its storage: `offset + sum(i_k * stride_k)`.
//! Views (reshape, permute, narrow, expand) only rewrite the layout; the storage is shared.

use crate::{Error, Result, Shape};

/// Shape, strides (in elements) and offset of a view into a storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Shape,
    strides: Vec<usize>,
    offset: usize,
}

impl Layout {
    /// A row-major layout starting at offset 0.
    pub fn contiguous(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        let strides = shape.contiguous_strides();
        Layout {
            shape,
            strides,
            offset: 0,
        }
    }

    /// A layout from raw parts. The caller guarantees every index stays inside the storage.
    pub fn new(shape: Shape, strides: Vec<usize>, offset: usize) -> Self {
        debug_assert_eq!(shape.rank(), strides.len());
        Layout {
            shape,
            strides,
            offset,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    /// The sizes.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }
    /// The strides in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    /// The position of element `[0, 0, ...]` in the storage.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// The number of elements.
    pub fn elem_count(&self) -> usize {
        self.shape.elem_count()
    }

    /// Whether the elements are stored row-major without gaps (dims of size 1 may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for (&d, &s) in self.dims().iter().zip(&self.strides).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc *= d;
        }
        true
    }

    /// `Some(start..end)` of the storage when the layout is contiguous; `0..0` when it has no
    /// elements (a view into an empty tensor may have an offset past the end of its storage:
    /// zero-sized dims count as 1 in the strides).
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        if self.elem_count() == 0 {
            return Some(0..0);
        }
        self.is_contiguous()
            .then(|| self.offset..self.offset + self.elem_count())
    }

    /// The layout with dimensions reordered: output dim `i` is input dim `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Layout {
        Layout {
            shape: Shape::new(perm.iter().map(|&p| self.dims()[p]).collect()),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// The sub-range `start..start + len` of dimension `dim`, taking every `step`-th element.
    pub fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        let offset = if len == 0 {
            self.offset
        } else {
            self.offset + start * self.strides[dim]
        };
        dims[dim] = len;
        strides[dim] *= step;
        Layout {
            shape: Shape::new(dims),
            strides,
            offset,
        }
    }

    /// The layout broadcast to `target` (PyTorch `expand`): new leading dims and stretched
    /// size-1 dims get stride 0.
    pub fn broadcast_as(&self, op: &'static str, target: &Shape) -> Result<Layout> {
        let rank = target.rank();
        if rank < self.shape.rank() {
            return Err(Error::ShapeMismatch {
                op,
                expected: target.clone(),
                got: self.shape.clone(),
            });
        }
        let lead = rank - self.shape.rank();
        let mut strides = vec![0; rank];
        for (i, s) in strides.iter_mut().enumerate().skip(lead) {
            let d = self.dims()[i - lead];
            let t = target.dims()[i];
            if d == t {
                *s = self.strides[i - lead];
            } else if d == 1 {
                *s = 0;
            } else {
                return Err(Error::Broadcast {
                    op,
                    lhs: self.shape.clone(),
                    rhs: target.clone(),
                    dim: i,
                    l: d,
                    r: t,
                });
            }
        }
        Ok(Layout {
            shape: target.clone(),
            strides,
            offset: self.offset,
        })
    }

    /// The layout viewed with another shape of the same element count, without copying, when
    /// the strides allow it (PyTorch's `view` rule); `None` when a copy is needed.
    pub fn view(&self, target: &Shape) -> Option<Layout> {
        if self.is_contiguous() || target.elem_count() == 0 {
            return Some(Layout {
                shape: target.clone(),
                strides: target.contiguous_strides(),
                offset: self.offset,
            });
        }
        // Split the old dims into chunks that are contiguous among themselves, then match the
        // new dims chunk by chunk (the algorithm of at::detail::computeStride).
        let old_dims: Vec<(usize, usize)> = self
            .dims()
            .iter()
            .zip(&self.strides)
            .filter(|(&d, _)| d != 1)
            .map(|(&d, &s)| (d, s))
            .collect();
        let mut new_strides = vec![0; target.rank()];
        let mut ti = 0;
        let tdims = target.dims();
        let mut oi = 0;
        while oi < old_dims.len() {
            // a chunk: old dims oi..oj where stride[k] == stride[k+1] * size[k+1]
            let mut oj = oi;
            while oj + 1 < old_dims.len()
                && old_dims[oj].1 == old_dims[oj + 1].1 * old_dims[oj + 1].0
            {
                oj += 1;
            }
            let chunk: usize = old_dims[oi..=oj].iter().map(|d| d.0).product();
            let base = old_dims[oj].1;
            let mut acc = 1;
            // skip size-1 target dims before the chunk
            while ti < tdims.len() && tdims[ti] == 1 && acc == 1 && chunk != 1 {
                new_strides[ti] = base * chunk;
                ti += 1;
            }
            let start = ti;
            while ti < tdims.len() && acc < chunk {
                acc *= tdims[ti];
                ti += 1;
            }
            if acc != chunk {
                return None;
            }
            // assign strides right to left within the chunk
            let mut s = base;
            for k in (start..ti).rev() {
                new_strides[k] = s;
                s *= tdims[k];
            }
            oi = oj + 1;
        }
        while ti < tdims.len() {
            if tdims[ti] != 1 {
                return None;
            }
            new_strides[ti] = 1;
            ti += 1;
        }
        Some(Layout {
            shape: target.clone(),
            strides: new_strides,
            offset: self.offset,
        })
    }

    /// Storage index of every element in row-major order (slow path; tests, small tensors and
    /// the reference backend).
    pub fn offsets(&self) -> Vec<usize> {
        let n = self.elem_count();
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        // an odometer over the coordinates, last dim fastest
        let dims = self.dims();
        let mut coord = vec![0usize; dims.len()];
        let mut off = self.offset;
        for _ in 0..n {
            out.push(off);
            for k in (0..dims.len()).rev() {
                coord[k] += 1;
                off += self.strides[k];
                if coord[k] < dims[k] {
                    break;
                }
                off -= self.strides[k] * dims[k];
                coord[k] = 0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_of_transposed_needs_copy_but_split_works() {
        let l = Layout::contiguous([4, 6]);
        let t = l.permute(&[1, 0]);
        assert!(t.view(&Shape::from([24])).is_none());
        // (6, 4) transposed viewed as (6, 2, 2): the last dim of length 4 is contiguous.
        let v = t.view(&Shape::from([3, 2, 4])).unwrap();
        assert_eq!(v.strides(), &[2, 1, 6]);
        let n = l.slice(1, 1, 4, 1);
        let v = n.view(&Shape::from([4, 2, 2])).unwrap();
        assert_eq!(v.strides(), &[6, 2, 1]);
        assert_eq!(v.offset(), 1);
    }

    #[test]
    fn an_empty_view_is_the_empty_range() {
        // (3, 0, 2) has strides (2, 2, 1): its last row starts at 4, past the empty storage
        let l = Layout::contiguous([3, 0, 2]).slice(0, 2, 1, 1);
        assert_eq!(l.offset(), 4);
        assert_eq!(l.contiguous_range(), Some(0..0));
        let t = crate::Tensor::zeros([3, 0, 2], crate::DType::F32).unwrap();
        assert!(t
            .narrow(0, 2, 1)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn broadcast_strides_are_zero() {
        let l = Layout::contiguous([3, 1]);
        let b = l.broadcast_as("expand", &Shape::from([2, 3, 4])).unwrap();
        assert_eq!(b.strides(), &[0, 1, 0]);
        assert!(l.broadcast_as("expand", &Shape::from([3, 2])).is_ok());
        assert!(l.broadcast_as("expand", &Shape::from([2, 2])).is_err());
    }
}
