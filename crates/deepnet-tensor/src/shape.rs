//! Shapes, dimension arguments and PyTorch broadcasting.

use crate::{Error, Result};
use std::fmt;

/// The sizes of a tensor's dimensions. A scalar has the empty shape `[]`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// The shape with the given sizes.
    pub fn new(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
    /// The empty shape of a 0-d (scalar) tensor.
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }
    /// The sizes.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// The number of elements (1 for a scalar).
    pub fn elem_count(&self) -> usize {
        self.0.iter().product()
    }
    /// Row-major (C-contiguous) strides for this shape.
    pub fn contiguous_strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.0.len()];
        let mut acc = 1;
        for (s, &d) in strides.iter_mut().zip(&self.0).rev() {
            *s = acc;
            acc *= d.max(1);
        }
        strides
    }
    /// Resolves a possibly negative dimension index (`-1` is the last dimension).
    pub fn dim(&self, op: &'static str, dim: isize) -> Result<usize> {
        resolve_dim(op, dim, self.rank(), self)
    }
    /// The size of dimension `dim` (negative counts from the end).
    pub fn size(&self, op: &'static str, dim: isize) -> Result<usize> {
        Ok(self.0[self.dim(op, dim)?])
    }

    /// The shape both operands broadcast to, by PyTorch's rules (aligned from the right; a size
    /// of 1 stretches).
    pub fn broadcast(op: &'static str, lhs: &Shape, rhs: &Shape) -> Result<Shape> {
        let rank = lhs.rank().max(rhs.rank());
        let mut out = vec![0; rank];
        for (i, o) in out.iter_mut().enumerate() {
            let l = dim_from_right(lhs, rank - 1 - i);
            let r = dim_from_right(rhs, rank - 1 - i);
            *o = match (l, r) {
                (a, b) if a == b => a,
                (1, b) => b,
                (a, 1) => a,
                (a, b) => {
                    return Err(Error::Broadcast {
                        op,
                        lhs: lhs.clone(),
                        rhs: rhs.clone(),
                        dim: i,
                        l: a,
                        r: b,
                    })
                }
            };
        }
        Ok(Shape(out))
    }
}

fn dim_from_right(s: &Shape, k: usize) -> usize {
    if k < s.rank() {
        s.0[s.rank() - 1 - k]
    } else {
        1
    }
}

pub(crate) fn resolve_dim(
    op: &'static str,
    dim: isize,
    rank: usize,
    shape: &Shape,
) -> Result<usize> {
    let r = rank as isize;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r {
        return Err(Error::DimOutOfRange {
            op,
            dim,
            rank,
            shape: shape.clone(),
        });
    }
    Ok(d as usize)
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v)
    }
}
impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape(v.to_vec())
    }
}
impl From<&Vec<usize>> for Shape {
    fn from(v: &Vec<usize>) -> Self {
        Shape(v.clone())
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Self {
        Shape(v.to_vec())
    }
}
impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(v: &[usize; N]) -> Self {
        Shape(v.to_vec())
    }
}
impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}
impl From<()> for Shape {
    fn from(_: ()) -> Self {
        Shape(Vec::new())
    }
}
impl From<usize> for Shape {
    fn from(d: usize) -> Self {
        Shape(vec![d])
    }
}
macro_rules! shape_tuple {
    ($($n:ident),+) => {
        impl From<($(shape_tuple!(@u $n),)+)> for Shape {
            #[allow(non_snake_case)]
            fn from(($($n,)+): ($(shape_tuple!(@u $n),)+)) -> Self {
                Shape(vec![$($n),+])
            }
        }
    };
    (@u $n:ident) => { usize };
}
shape_tuple!(A);
shape_tuple!(A, B);
shape_tuple!(A, B, C);
shape_tuple!(A, B, C, D);
shape_tuple!(A, B, C, D, E);
shape_tuple!(A, B, C, D, E, F);

/// One dimension index (negative counts from the end), as `dim=` in PyTorch.
pub trait Dim: Copy {
    /// The index as a signed integer.
    fn to_isize(self) -> isize;
}
impl Dim for isize {
    fn to_isize(self) -> isize {
        self
    }
}
impl Dim for i32 {
    fn to_isize(self) -> isize {
        self as isize
    }
}
impl Dim for i64 {
    fn to_isize(self) -> isize {
        self as isize
    }
}
impl Dim for usize {
    fn to_isize(self) -> isize {
        self as isize
    }
}

/// One or several dimension indices, as `dim=` (int or tuple) in PyTorch reductions.
pub trait Dims {
    /// The indices as signed integers.
    fn to_isizes(&self) -> Vec<isize>;
}
macro_rules! dims_for_int {
    ($($t:ty),*) => {$(
        impl Dims for $t {
            fn to_isizes(&self) -> Vec<isize> {
                vec![self.to_isize()]
            }
        }
    )*};
}
dims_for_int!(isize, i32, i64, usize);

impl<D: Dim> Dims for [D] {
    fn to_isizes(&self) -> Vec<isize> {
        self.iter().map(|d| d.to_isize()).collect()
    }
}
impl<D: Dim> Dims for &[D] {
    fn to_isizes(&self) -> Vec<isize> {
        self.iter().map(|d| d.to_isize()).collect()
    }
}
impl<D: Dim, const N: usize> Dims for [D; N] {
    fn to_isizes(&self) -> Vec<isize> {
        self.iter().map(|d| d.to_isize()).collect()
    }
}
impl<D: Dim, const N: usize> Dims for &[D; N] {
    fn to_isizes(&self) -> Vec<isize> {
        self.iter().map(|d| d.to_isize()).collect()
    }
}
impl<D: Dim> Dims for Vec<D> {
    fn to_isizes(&self) -> Vec<isize> {
        self.iter().map(|d| d.to_isize()).collect()
    }
}
impl<D: Dim> Dims for &Vec<D> {
    fn to_isizes(&self) -> Vec<isize> {
        self.iter().map(|d| d.to_isize()).collect()
    }
}

/// Resolves a list of dims against a rank: negative indices wrap, duplicates are an error, the
/// result is sorted.
pub(crate) fn resolve_dims(op: &'static str, dims: &[isize], shape: &Shape) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let r = shape.dim(op, d)?;
        if out.contains(&r) {
            return Err(Error::DuplicateDim { op, dim: r });
        }
        out.push(r);
    }
    out.sort_unstable();
    Ok(out)
}

/// A target shape for `reshape`/`view`, where one entry may be `-1` (inferred).
pub trait ShapeSpec {
    /// The entries, with `-1` meaning "infer".
    fn to_spec(&self) -> Vec<isize>;
}
impl ShapeSpec for Shape {
    fn to_spec(&self) -> Vec<isize> {
        self.0.iter().map(|&d| d as isize).collect()
    }
}
impl ShapeSpec for &Shape {
    fn to_spec(&self) -> Vec<isize> {
        self.0.iter().map(|&d| d as isize).collect()
    }
}
macro_rules! shape_spec {
    ($($t:ty),*) => {$(
        impl<const N: usize> ShapeSpec for [$t; N] {
            fn to_spec(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
        impl<const N: usize> ShapeSpec for &[$t; N] {
            fn to_spec(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
        impl ShapeSpec for &[$t] {
            fn to_spec(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
        impl ShapeSpec for Vec<$t> {
            fn to_spec(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
        impl ShapeSpec for &Vec<$t> {
            fn to_spec(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
    )*};
}
shape_spec!(usize, isize, i32, i64);

/// Resolves a reshape target against an element count.
pub(crate) fn resolve_spec(spec: &[isize], from: &Shape) -> Result<Shape> {
    let n = from.elem_count();
    let err = || Error::Reshape {
        from: from.clone(),
        from_n: n,
        to: format!("{spec:?}"),
    };
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in spec.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                return Err(err());
            }
            infer = Some(i);
        } else if d < 0 {
            return Err(err());
        } else {
            known *= d as usize;
        }
    }
    let mut dims: Vec<usize> = spec.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(err());
        }
        dims[i] = n / known;
    } else if known != n {
        return Err(err());
    }
    Ok(Shape(dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_pytorch() {
        let s = Shape::broadcast("add", &Shape::from([2, 1, 4]), &Shape::from([3, 1])).unwrap();
        assert_eq!(s.dims(), &[2, 3, 4]);
        let e = Shape::broadcast("add", &Shape::from([2, 3]), &Shape::from([4])).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Broadcast {
                    dim: 1,
                    l: 3,
                    r: 4,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn dims_resolve_and_reject() {
        let s = Shape::from([2, 3, 4]);
        assert_eq!(s.dim("t", -1).unwrap(), 2);
        assert!(matches!(s.dim("t", 3), Err(Error::DimOutOfRange { .. })));
        assert!(matches!(s.dim("t", -4), Err(Error::DimOutOfRange { .. })));
        assert!(matches!(
            resolve_dims("t", &[0, -3], &s),
            Err(Error::DuplicateDim { .. })
        ));
    }

    #[test]
    fn reshape_spec_infers_minus_one() {
        let s = Shape::from([2, 3, 4]);
        assert_eq!(resolve_spec(&[4, -1], &s).unwrap().dims(), &[4, 6]);
        assert!(resolve_spec(&[5, -1], &s).is_err());
        assert!(resolve_spec(&[-1, -1], &s).is_err());
    }
}
