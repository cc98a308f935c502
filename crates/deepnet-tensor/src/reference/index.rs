//! Indexing primitives: `index_select`, `gather`, `scatter_add`, by coordinates. Every operand is
//! first read in row-major order, so a position is found by raveling its coordinates in the
//! operand's shape. Indices are i64 storages (held as f64 here); each one is range-checked, a
//! negative one included, with the CPU's error.

use super::RefStorage;
use crate::{DType, Error, Layout, Result};

/// The i64 indices of `(s, l)` in row-major order.
fn indices(op: &'static str, (s, l): (&RefStorage, &Layout)) -> Result<Vec<i64>> {
    s.expect_dtype(op, DType::I64)?;
    Ok(s.values(l).into_iter().map(|v| v as i64).collect())
}

/// `i` as a position along `dim` of size `size`, or the out-of-range error.
fn check(op: &'static str, i: i64, dim: usize, size: usize) -> Result<usize> {
    if i < 0 || i as usize >= size {
        return Err(Error::IndexOutOfRange {
            op,
            index: i,
            dim,
            size,
        });
    }
    Ok(i as usize)
}

/// The row-major coordinates of flat position `f` in `dims`.
fn unravel(mut f: usize, dims: &[usize]) -> Vec<usize> {
    let mut coord = vec![0; dims.len()];
    for k in (0..dims.len()).rev() {
        coord[k] = f % dims[k];
        f /= dims[k];
    }
    coord
}

/// The flat row-major position of `coord` in `dims`.
fn ravel(coord: &[usize], dims: &[usize]) -> usize {
    coord.iter().zip(dims).fold(0, |acc, (&c, &d)| acc * d + c)
}

/// `(S...)` indexed along `dim` by the 1-d `index` of length `L`: `out[p] = x[p with p[dim] =
/// index[p[dim]]]`, of shape `S` with `S[dim] = L`. Every index is checked, even where the
/// result is empty.
pub(super) fn index_select(
    (s, l): (&RefStorage, &Layout),
    dim: usize,
    index: (&RefStorage, &Layout),
) -> Result<RefStorage> {
    let size = l.dims()[dim];
    let idx = indices("index_select", index)?
        .into_iter()
        .map(|i| check("index_select", i, dim, size))
        .collect::<Result<Vec<usize>>>()?;
    let x = s.values(l);
    let mut out_dims = l.dims().to_vec();
    out_dims[dim] = idx.len();
    let n: usize = out_dims.iter().product();
    let out = (0..n)
        .map(|f| {
            let mut c = unravel(f, &out_dims);
            c[dim] = idx[c[dim]];
            x[ravel(&c, l.dims())]
        })
        .collect();
    Ok(RefStorage::rounded(s.dtype, out))
}

/// The flat positions in `dims` that `index` (same rank) points at: for each position `p` of
/// the index, row-major, `p` with `p[dim]` replaced by the index value, range-checked.
fn targets(
    op: &'static str,
    dims: &[usize],
    dim: usize,
    index: (&RefStorage, &Layout),
) -> Result<Vec<usize>> {
    let idx = indices(op, index)?;
    let idims = index.1.dims();
    idx.into_iter()
        .enumerate()
        .map(|(f, i)| {
            let mut c = unravel(f, idims);
            c[dim] = check(op, i, dim, dims[dim])?;
            Ok(ravel(&c, dims))
        })
        .collect()
}

/// `out[p] = x[p with p[dim] = index[p]]` for every position `p` of `index`; the result has the
/// index's shape and `x`'s dtype.
pub(super) fn gather(
    (s, l): (&RefStorage, &Layout),
    dim: usize,
    index: (&RefStorage, &Layout),
) -> Result<RefStorage> {
    let at = targets("gather", l.dims(), dim, index)?;
    let x = s.values(l);
    Ok(RefStorage::rounded(
        s.dtype,
        at.into_iter().map(|o| x[o]).collect(),
    ))
}

/// A contiguous copy of `x` with `src[p]` added at `p with p[dim] = index[p]` for every position
/// `p` of `index` (`src` has the index's shape). Float or i64, `src` of `x`'s dtype. Repeated
/// targets accumulate in row-major order of `p`, in f64, rounded once at the end.
pub(super) fn scatter_add(
    (s, l): (&RefStorage, &Layout),
    dim: usize,
    index: (&RefStorage, &Layout),
    (src, sl): (&RefStorage, &Layout),
) -> Result<RefStorage> {
    let at = targets("scatter_add", l.dims(), dim, index)?;
    if s.dtype != src.dtype || s.dtype == DType::U8 {
        return Err(Error::msg(format!(
            "scatter_add: self and src must have the same float or int64 dtype, got {} and {}",
            s.dtype, src.dtype
        )));
    }
    let mut out = s.values(l);
    for (o, v) in at.into_iter().zip(src.values(sl)) {
        out[o] += v;
    }
    Ok(RefStorage::rounded(s.dtype, out))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{t, vals};
    use super::*;
    use crate::Shape;

    fn idx(v: &[f64], dims: &[usize]) -> (RefStorage, Layout) {
        t(DType::I64, v, dims)
    }

    #[test]
    fn index_select_rows_and_range_errors() {
        // [[1, 2], [3, 4], [5, 6]]: rows 2, 0, 2
        let (x, xl) = t(DType::F32, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
        let (i, il) = idx(&[2.0, 0.0, 2.0], &[3]);
        let r = index_select((&x, &xl), 0, (&i, &il)).unwrap();
        assert_eq!(vals(&r), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        // columns of the transposed view [[1, 3, 5], [2, 4, 6]]: column 1 then 0
        let tr = Layout::new(Shape::new(vec![2, 3]), vec![1, 2], 0);
        let (j, jl) = idx(&[1.0, 0.0], &[2]);
        let c = index_select((&x, &tr), 1, (&j, &jl)).unwrap();
        assert_eq!(vals(&c), vec![3.0, 1.0, 4.0, 2.0]);
        let (bad, bl) = idx(&[0.0, 3.0], &[2]);
        assert!(matches!(
            index_select((&x, &xl), 0, (&bad, &bl)),
            Err(Error::IndexOutOfRange {
                op: "index_select",
                index: 3,
                dim: 0,
                size: 3
            })
        ));
        let (neg, nl) = idx(&[-1.0], &[1]);
        assert!(matches!(
            index_select((&x, &xl), 1, (&neg, &nl)),
            Err(Error::IndexOutOfRange { index: -1, .. })
        ));
        // indices must be i64
        assert!(index_select((&x, &xl), 0, (&x, &xl)).is_err());
    }

    #[test]
    fn gather_along_each_dim() {
        // x = [[1, 2, 3], [4, 5, 6]]
        let (x, xl) = t(DType::I64, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let (i, il) = idx(&[2.0, 0.0, 1.0, 1.0], &[2, 2]);
        assert_eq!(
            vals(&gather((&x, &xl), 1, (&i, &il)).unwrap()),
            vec![3.0, 1.0, 5.0, 5.0]
        );
        // along dim 0, an index narrower than x: out[0][j] = x[i[0][j]][j]
        let (k, kl) = idx(&[1.0, 0.0], &[1, 2]);
        assert_eq!(
            vals(&gather((&x, &xl), 0, (&k, &kl)).unwrap()),
            vec![4.0, 2.0]
        );
        let (bad, bl) = idx(&[0.0, 2.0], &[1, 2]);
        assert!(matches!(
            gather((&x, &xl), 0, (&bad, &bl)),
            Err(Error::IndexOutOfRange {
                op: "gather",
                index: 2,
                size: 2,
                ..
            })
        ));
    }

    #[test]
    fn scatter_add_accumulates_repeated_targets() {
        let (x, xl) = t(DType::F64, &[0.0; 6], &[2, 3]);
        // row 0 sends everything to column 1, row 1 to columns 0, 2, 0
        let (i, il) = idx(&[1.0, 1.0, 1.0, 0.0, 2.0, 0.0], &[2, 3]);
        let (s, sl) = t(DType::F64, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let r = scatter_add((&x, &xl), 1, (&i, &il), (&s, &sl)).unwrap();
        assert_eq!(vals(&r), vec![0.0, 6.0, 0.0, 10.0, 0.0, 5.0]);
        let (u, ul) = t(DType::U8, &[0.0; 6], &[2, 3]);
        assert!(scatter_add((&u, &ul), 1, (&i, &il), (&u, &ul)).is_err());
        assert!(scatter_add((&x, &xl), 1, (&i, &il), (&u, &ul)).is_err());
        let (bad, bl) = idx(&[3.0], &[1, 1]);
        assert!(matches!(
            scatter_add((&x, &xl), 1, (&bad, &bl), (&s, &sl)),
            Err(Error::IndexOutOfRange {
                op: "scatter_add",
                ..
            })
        ));
    }
}
