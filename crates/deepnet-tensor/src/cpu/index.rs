//! CPU kernels for gather, scatter_add and index_select. Inputs arrive contiguous; indices are
//! validated here, once, and an out-of-range index is an error naming it.

use super::{with_cpu, CpuStorage};
use crate::{Element, Error, Result};

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

fn outer_inner(dims: &[usize], dim: usize) -> (usize, usize) {
    (
        dims[..dim].iter().product(),
        dims[dim + 1..].iter().product(),
    )
}

/// `src: S` contiguous, `idx: (L,)` -> `S` with `S[dim] = L`.
pub(crate) fn index_select(
    src: &CpuStorage,
    dims: &[usize],
    dim: usize,
    idx: &[i64],
) -> Result<CpuStorage> {
    let (outer, inner) = outer_inner(dims, dim);
    let size = dims[dim];
    let idx: Vec<usize> = idx
        .iter()
        .map(|&i| check("index_select", i, dim, size))
        .collect::<Result<_>>()?;
    fn go<T: Element>(v: &[T], outer: usize, size: usize, inner: usize, idx: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(outer * idx.len() * inner);
        for o in 0..outer {
            for &j in idx {
                let s = (o * size + j) * inner;
                out.extend_from_slice(&v[s..s + inner]);
            }
        }
        out
    }
    Ok(with_cpu!(src, v => Element::into_host(go(v, outer, size, inner, &idx))))
}

/// Row-major coordinates of flat index `f` in `dims`, written into `coord`.
fn unravel(mut f: usize, dims: &[usize], coord: &mut [usize]) {
    for k in (0..dims.len()).rev() {
        coord[k] = f % dims[k];
        f /= dims[k];
    }
}

fn ravel(coord: &[usize], dims: &[usize]) -> usize {
    coord.iter().zip(dims).fold(0, |acc, (&c, &d)| acc * d + c)
}

/// `out[p] = src[p with p[dim] = index[p]]` for every position `p` of `index` (all contiguous).
pub(crate) fn gather(
    src: &CpuStorage,
    src_dims: &[usize],
    dim: usize,
    index: &[i64],
    index_dims: &[usize],
) -> Result<CpuStorage> {
    let mut offs = Vec::with_capacity(index.len());
    let mut coord = vec![0; index_dims.len()];
    for (f, &i) in index.iter().enumerate() {
        unravel(f, index_dims, &mut coord);
        coord[dim] = check("gather", i, dim, src_dims[dim])?;
        offs.push(ravel(&coord, src_dims));
    }
    Ok(with_cpu!(src, v => Element::into_host(offs.iter().map(|&o| v[o]).collect::<Vec<_>>())))
}

/// `out = base; out[p with p[dim] = index[p]] += src[p]` for every position `p` of `index`.
/// Accumulates in index order, so repeated indices give a deterministic sum.
pub(crate) fn scatter_add(
    base: &CpuStorage,
    base_dims: &[usize],
    dim: usize,
    index: &[i64],
    index_dims: &[usize],
    src: &CpuStorage,
) -> Result<CpuStorage> {
    let mut offs = Vec::with_capacity(index.len());
    let mut coord = vec![0; index_dims.len()];
    for (f, &i) in index.iter().enumerate() {
        unravel(f, index_dims, &mut coord);
        coord[dim] = check("scatter_add", i, dim, base_dims[dim])?;
        offs.push(ravel(&coord, base_dims));
    }
    fn go<T: Element>(base: &[T], src: &[T], offs: &[usize], add: impl Fn(T, T) -> T) -> Vec<T> {
        let mut out = base.to_vec();
        for (&o, &s) in offs.iter().zip(src) {
            out[o] = add(out[o], s);
        }
        out
    }
    Ok(match (base, src) {
        (CpuStorage::F32(b), CpuStorage::F32(s)) => CpuStorage::F32(go(b, s, &offs, |a, b| a + b)),
        (CpuStorage::F64(b), CpuStorage::F64(s)) => CpuStorage::F64(go(b, s, &offs, |a, b| a + b)),
        // integers wrap, as every other int64 op does (never an overflow panic)
        (CpuStorage::I64(b), CpuStorage::I64(s)) => {
            CpuStorage::I64(go(b, s, &offs, i64::wrapping_add))
        }
        _ => {
            return Err(Error::msg(format!(
                "scatter_add: self and src must have the same float or int64 dtype, got {} and {}",
                base.dtype(),
                src.dtype()
            )))
        }
    })
}
