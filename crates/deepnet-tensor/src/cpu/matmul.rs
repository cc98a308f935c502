//! Matrix products on the CPU through the `gemm` crate, which takes arbitrary row and column
//! strides, so transposed views are multiplied without a copy.

use super::{strided::for_each_offset, CpuStorage};
use crate::{DType, Error, Layout, Result, Shape};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// Below this many multiply-adds per matrix a product runs on one thread.
const PAR_MIN_MACS: usize = 48 * 48 * 48;

/// `a: (*, m, k) @ b: (*, k, n) -> (*, m, n)` contiguous; the batch dims `*` of both layouts
/// are already broadcast to the same shape.
pub(crate) fn matmul(
    a: &CpuStorage,
    al: &Layout,
    b: &CpuStorage,
    bl: &Layout,
) -> Result<CpuStorage> {
    match (a, b) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => Ok(CpuStorage::F32(typed(a, al, b, bl))),
        (CpuStorage::F64(a), CpuStorage::F64(b)) => Ok(CpuStorage::F64(typed(a, al, b, bl))),
        _ => Err(Error::DType {
            op: "matmul",
            expected: "two float32 or two float64 tensors",
            got: if a.dtype().is_float() {
                b.dtype()
            } else {
                a.dtype()
            },
        }),
    }
}

/// Storage offsets of each matrix in a batched layout (row-major over the batch dims).
fn batch_offsets(l: &Layout) -> Vec<usize> {
    let r = l.dims().len();
    let bl = Layout::new(
        Shape::new(l.dims()[..r - 2].to_vec()),
        l.strides()[..r - 2].to_vec(),
        l.offset(),
    );
    let mut v = Vec::new();
    for_each_offset(&bl, |o| v.push(o));
    v
}

fn typed<T: 'static + Copy + Send + Sync + num_traits::Zero + num_traits::One>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
) -> Vec<T> {
    let r = al.dims().len();
    let (m, k) = (al.dims()[r - 2], al.dims()[r - 1]);
    let n = bl.dims()[r - 1];
    let (a_rs, a_cs) = (al.strides()[r - 2] as isize, al.strides()[r - 1] as isize);
    let (b_rs, b_cs) = (bl.strides()[r - 2] as isize, bl.strides()[r - 1] as isize);
    let ao = batch_offsets(al);
    let bo = batch_offsets(bl);
    let batch = ao.len();
    let mut out = vec![T::zero(); batch * m * n];
    if m * n == 0 {
        return out;
    }
    let macs = m * n * k;
    let threads = rayon::current_num_threads();
    // SAFETY (both calls below): the pointers cover a (m x k), b (k x n) and dst (m x n) matrices
    // inside their buffers, as laid out by the strides of layouts the front end validated.
    let run = |dst: &mut [T], i: usize, par: Parallelism| unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr().add(ao[i]),
            a_cs,
            a_rs,
            b.as_ptr().add(bo[i]),
            b_cs,
            b_rs,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            par,
        )
    };
    if batch > 1 && (macs < PAR_MIN_MACS || batch >= 2 * threads) {
        // Many small products: one product per task.
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, dst)| run(dst, i, Parallelism::None));
    } else {
        let par = if macs >= PAR_MIN_MACS && threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        for (i, dst) in out.chunks_mut(m * n).enumerate() {
            run(dst, i, par);
        }
    }
    out
}

/// The dtype check shared by the front end.
pub(crate) fn check_dtype(d: DType) -> Result<()> {
    if d.is_float() {
        Ok(())
    } else {
        Err(Error::DType {
            op: "matmul",
            expected: "float32 or float64 (cast integer tensors first)",
            got: d,
        })
    }
}
