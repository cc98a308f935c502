//! Reductions and the matrix product: sums of products accumulated in f64 and rounded once.

use super::RefStorage;
use crate::primitive::ReduceOp;
use crate::{DType, Error, Layout, Result};

/// The first NaN of `row` if it holds one, else its first maximum (`max`) or minimum, as
/// `(index, value)`. `row` is not empty.
fn extreme(row: &[f64], max: bool) -> (usize, f64) {
    if let Some(i) = row.iter().position(|v| v.is_nan()) {
        return (i, row[i]);
    }
    let mut best = (0, row[0]);
    for (i, &v) in row.iter().enumerate() {
        // strictly better only, so that ties keep the first
        if (max && v > best.1) || (!max && v < best.1) {
            best = (i, v);
        }
    }
    best
}

/// Reduces the sorted, distinct `dims` of `l`: one value per position of the kept dims, in
/// row-major order. Sum keeps the dtype (f32 sums in f64 and rounds once; i64 wraps; u8 is an
/// error); max and min keep the dtype and propagate NaN; the arg-reductions give the i64 index
/// of the first extreme (the first NaN if any) within the reduced dims flattened row-major.
/// Reducing an empty set sums to 0 and is an error for the other ops.
pub(super) fn reduce(
    s: &RefStorage,
    l: &Layout,
    op: ReduceOp,
    dims: &[usize],
) -> Result<RefStorage> {
    if s.dtype == DType::U8 && op == ReduceOp::Sum {
        return Err(Error::DType {
            op: "sum",
            expected: "a float or int64 tensor (cast masks first)",
            got: DType::U8,
        });
    }
    let kept: Vec<usize> = (0..l.dims().len()).filter(|d| !dims.contains(d)).collect();
    let outer: usize = kept.iter().map(|&d| l.dims()[d]).product();
    let red: usize = dims.iter().map(|&d| l.dims()[d]).product();
    if red == 0 && op != ReduceOp::Sum {
        return Err(Error::invalid(
            "reduce",
            format!(
                "cannot compute {op:?} over an empty dimension (shape {})",
                l.shape()
            ),
        ));
    }
    if red == 0 {
        return Ok(RefStorage::rounded(s.dtype, vec![0.0; outer]));
    }
    // With the reduced dims moved last, the elements of each output are `red` consecutive
    // values in row-major order, in the row-major order of the reduced dims themselves.
    let perm: Vec<usize> = kept.iter().chain(dims).copied().collect();
    let x = s.values(&l.permute(&perm));
    let rows = x.chunks(red);
    let (dtype, out): (DType, Vec<f64>) = match op {
        ReduceOp::Sum if s.dtype == DType::I64 => {
            let sum = |r: &[f64]| r.iter().fold(0i64, |a, &v| a.wrapping_add(v as i64)) as f64;
            (DType::I64, rows.map(sum).collect())
        }
        ReduceOp::Sum => (s.dtype, rows.map(|r| r.iter().sum()).collect()),
        ReduceOp::Max => (s.dtype, rows.map(|r| extreme(r, true).1).collect()),
        ReduceOp::Min => (s.dtype, rows.map(|r| extreme(r, false).1).collect()),
        ReduceOp::ArgMax => (
            DType::I64,
            rows.map(|r| extreme(r, true).0 as f64).collect(),
        ),
        ReduceOp::ArgMin => (
            DType::I64,
            rows.map(|r| extreme(r, false).0 as f64).collect(),
        ),
    };
    Ok(RefStorage::rounded(dtype, out))
}

/// `a: (B..., M, K) @ b: (B..., K, N) -> (B..., M, N)`, the batch dims equal (already
/// broadcast); f32 or f64 only, both of one dtype. Each element sums its K products in f64 in
/// order and is rounded once.
pub(super) fn matmul(
    (a, al): (&RefStorage, &Layout),
    (b, bl): (&RefStorage, &Layout),
) -> Result<RefStorage> {
    if !a.dtype.is_float() || a.dtype != b.dtype {
        return Err(Error::DType {
            op: "matmul",
            expected: "two float32 or two float64 tensors",
            got: if a.dtype.is_float() { b.dtype } else { a.dtype },
        });
    }
    let (ad, bd) = (al.dims(), bl.dims());
    let r = ad.len();
    if r < 2 || bd.len() != r || ad[..r - 2] != bd[..r - 2] {
        return Err(Error::ShapeMismatch {
            op: "matmul",
            expected: al.shape().clone(),
            got: bl.shape().clone(),
        });
    }
    let (m, k, n) = (ad[r - 2], ad[r - 1], bd[r - 1]);
    if bd[r - 2] != k {
        return Err(Error::MatmulInner {
            lhs: al.shape().clone(),
            rhs: bl.shape().clone(),
            k_lhs: k,
            k_rhs: bd[r - 2],
        });
    }
    let batch: usize = ad[..r - 2].iter().product();
    let (x, y) = (a.values(al), b.values(bl));
    let mut out = Vec::with_capacity(batch * m * n);
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|p| x[(bi * m + i) * k + p] * y[(bi * k + p) * n + j])
                    .sum();
                out.push(dot);
            }
        }
    }
    Ok(RefStorage::rounded(a.dtype, out))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ints, t, vals};
    use super::*;
    use crate::Shape;

    #[test]
    fn arg_reductions_pick_the_first_extreme() {
        // (2, 4): rows [1, 3, 3, 2] and [5, NaN, 7, NaN]
        let nan = f64::NAN;
        let (s, l) = t(
            DType::F32,
            &[1.0, 3.0, 3.0, 2.0, 5.0, nan, 7.0, nan],
            &[2, 4],
        );
        assert_eq!(
            ints(&reduce(&s, &l, ReduceOp::ArgMax, &[1]).unwrap()),
            vec![1, 1]
        );
        assert_eq!(
            ints(&reduce(&s, &l, ReduceOp::ArgMin, &[1]).unwrap()),
            vec![0, 1]
        );
        let mx = vals(&reduce(&s, &l, ReduceOp::Max, &[1]).unwrap());
        assert_eq!(mx[0], 3.0);
        assert!(mx[1].is_nan());
        // over dim 0: columns (1, 5), (3, NaN), (3, 7), (2, NaN)
        assert_eq!(
            ints(&reduce(&s, &l, ReduceOp::ArgMax, &[0]).unwrap()),
            vec![1, 1, 1, 1]
        );
        let mn = vals(&reduce(&s, &l, ReduceOp::Min, &[0]).unwrap());
        assert_eq!((mn[0], mn[2]), (1.0, 3.0));
        // over both dims: the flattened row-major index of the first NaN
        assert_eq!(
            ints(&reduce(&s, &l, ReduceOp::ArgMax, &[0, 1]).unwrap()),
            vec![5]
        );
    }

    #[test]
    fn reduce_views_and_empty_sets() {
        // the (3, 2) transpose of [[1, 2, 3], [4, 5, 6]], summed over dim 0: (1+2+3, 4+5+6)
        let (s, _) = t(DType::I64, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let tr = Layout::new(Shape::new(vec![3, 2]), vec![1, 3], 0);
        assert_eq!(
            ints(&reduce(&s, &tr, ReduceOp::Sum, &[0]).unwrap()),
            vec![6, 15]
        );
        // argmin of the transposed rows (1, 4), (2, 5), (3, 6) over dim 1
        assert_eq!(
            ints(&reduce(&s, &tr, ReduceOp::ArgMin, &[1]).unwrap()),
            vec![0, 0, 0]
        );
        // f32 sums are rounded once: 2^24 + 1 + 1 is exact in f64 and rounds to 2^24 + 2
        let big = 16777216.0;
        let (f, fl) = t(DType::F32, &[big, 1.0, 1.0], &[3]);
        assert_eq!(
            vals(&reduce(&f, &fl, ReduceOp::Sum, &[0]).unwrap()),
            vec![big + 2.0]
        );
        // an empty reduced dim: sum 0, max an error
        let (e, el) = t(DType::F64, &[], &[2, 0]);
        assert_eq!(
            vals(&reduce(&e, &el, ReduceOp::Sum, &[1]).unwrap()),
            vec![0.0, 0.0]
        );
        assert!(reduce(&e, &el, ReduceOp::Max, &[1]).is_err());
        let (u, ul) = t(DType::U8, &[1.0], &[1]);
        assert!(matches!(
            reduce(&u, &ul, ReduceOp::Sum, &[0]),
            Err(Error::DType { op: "sum", .. })
        ));
        assert_eq!(
            ints(&reduce(&u, &ul, ReduceOp::ArgMax, &[0]).unwrap()),
            vec![0]
        );
    }

    #[test]
    fn matmul_by_hand_with_a_transposed_operand() {
        // a = [[1, 2], [3, 4]]; b stored as [[5, 6], [7, 8]] and read transposed: [[5, 7], [6, 8]]
        let (a, al) = t(DType::F64, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let (b, _) = t(DType::F64, &[5.0, 6.0, 7.0, 8.0], &[2, 2]);
        let bt = Layout::new(Shape::new(vec![2, 2]), vec![1, 2], 0);
        let c = matmul((&a, &al), (&b, &bt)).unwrap();
        assert_eq!(vals(&c), vec![17.0, 23.0, 39.0, 53.0]);
        // a batch of two (1, 3) @ (3, 1), the rhs broadcast over the batch
        let (x, xl) = t(DType::F32, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 1, 3]);
        let (y, _) = t(DType::F32, &[1.0, 0.5, 0.25], &[3, 1]);
        let yl = Layout::new(Shape::new(vec![2, 3, 1]), vec![0, 1, 1], 0);
        let z = matmul((&x, &xl), (&y, &yl)).unwrap();
        assert_eq!(vals(&z), vec![2.75, 8.0]);
        let (i, il) = t(DType::I64, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        assert!(matches!(
            matmul((&i, &il), (&i, &il)),
            Err(Error::DType { op: "matmul", .. })
        ));
        assert!(matmul((&a, &al), (&x, &xl)).is_err());
    }
}
