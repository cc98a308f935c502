//! Strided iteration over one or more layouts of the same shape.
//!
//! The dims are first coalesced (adjacent dims that are contiguous with each other in every
//! operand are merged, size-1 dims dropped), so the innermost loop is as long as possible. Work is
//! then split into rows (all dims but the last) that threads process independently.

use crate::Layout;

/// A coalesced iteration plan for `N` operands sharing one shape.
pub(crate) struct Plan<const N: usize> {
    /// Coalesced sizes; never empty (a scalar becomes `[1]`).
    dims: Vec<usize>,
    strides: [Vec<usize>; N],
    offsets: [usize; N],
}

impl<const N: usize> Plan<N> {
    pub(crate) fn new(layouts: [&Layout; N]) -> Self {
        let shape = layouts[0].dims();
        let mut dims: Vec<usize> = Vec::new();
        let mut strides: [Vec<usize>; N] = std::array::from_fn(|_| Vec::new());
        for (k, &d) in shape.iter().enumerate() {
            if d == 1 {
                continue;
            }
            let mergeable = !dims.is_empty()
                && (0..N).all(|j| {
                    let prev = *strides[j].last().unwrap();
                    prev == layouts[j].strides()[k] * d
                });
            if mergeable {
                *dims.last_mut().unwrap() *= d;
                for j in 0..N {
                    *strides[j].last_mut().unwrap() = layouts[j].strides()[k];
                }
            } else {
                dims.push(d);
                for j in 0..N {
                    strides[j].push(layouts[j].strides()[k]);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            for s in strides.iter_mut() {
                s.push(1);
            }
        }
        Plan {
            dims,
            strides,
            offsets: std::array::from_fn(|j| layouts[j].offset()),
        }
    }

    /// Length of the innermost loop.
    pub(crate) fn inner(&self) -> usize {
        *self.dims.last().unwrap()
    }
    /// Stride of each operand along the innermost loop.
    pub(crate) fn inner_strides(&self) -> [usize; N] {
        std::array::from_fn(|j| *self.strides[j].last().unwrap())
    }
    /// Number of rows (product of all but the innermost dim).
    pub(crate) fn rows(&self) -> usize {
        self.dims[..self.dims.len() - 1].iter().product()
    }
    /// Storage offset of each operand at the start of row `row`.
    #[inline]
    pub(crate) fn row_offsets(&self, mut row: usize) -> [usize; N] {
        let mut offs = self.offsets;
        for k in (0..self.dims.len() - 1).rev() {
            let d = self.dims[k];
            let i = row % d;
            row /= d;
            for (o, s) in offs.iter_mut().zip(&self.strides) {
                *o += i * s[k];
            }
        }
        offs
    }
}

/// Calls `f` with the storage offset of every element of `l`, in row-major order.
pub(crate) fn for_each_offset(l: &Layout, mut f: impl FnMut(usize)) {
    if l.elem_count() == 0 {
        return;
    }
    let plan = Plan::new([l]);
    let inner = plan.inner();
    let [s] = plan.inner_strides();
    for r in 0..plan.rows() {
        let [o] = plan.row_offsets(r);
        for i in 0..inner {
            f(o + i * s);
        }
    }
}

/// Rows per parallel task so that each task touches at least `MIN_TASK` elements.
pub(crate) fn rows_per_task(inner: usize) -> usize {
    (super::MIN_TASK / inner.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    #[test]
    fn coalesces_contiguous_dims() {
        let l = Layout::contiguous([2, 3, 4]);
        let p = Plan::new([&l]);
        assert_eq!(p.dims, vec![24]);
        let t = l.permute(&[0, 2, 1]);
        let p = Plan::new([&t]);
        assert_eq!(p.dims, vec![2, 4, 3]);
        assert_eq!(p.rows(), 8);
        let b = Layout::contiguous([3, 1])
            .broadcast_as("t", &Shape::from([2, 3, 4]))
            .unwrap();
        let p = Plan::new([&b, &Layout::contiguous([2, 3, 4])]);
        assert_eq!(p.dims, vec![2, 3, 4]);
    }

    #[test]
    fn offsets_follow_row_major_order() {
        let t = Layout::contiguous([2, 3]).permute(&[1, 0]);
        assert_eq!(t.offsets(), vec![0, 3, 1, 4, 2, 5]);
    }
}
