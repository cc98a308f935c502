//! Matrix products on the CPU through the `gemm` crate, which takes arbitrary row and column
//! strides, so transposed views are multiplied without a copy.
//!
//! Large f32 products on x86-64 CPUs with AVX-512 take a packed kernel of our own instead
//! ([`avx512`]): gemm 0.18 only ships its AVX-512 kernels behind its `nightly` feature, so on a
//! stable toolchain it runs 256-bit AVX2 kernels at about half of such a CPU's peak.

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
        (CpuStorage::F32(a), CpuStorage::F32(b)) => {
            #[cfg(target_arch = "x86_64")]
            if let Some(out) = avx512::matmul(a, al, b, bl) {
                return Ok(CpuStorage::F32(out));
            }
            Ok(CpuStorage::F32(typed(a, al, b, bl)))
        }
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

/// A packed f32 product for CPUs with AVX-512 (BLIS-style loops around a 12 x 32 register tile).
///
/// Determinism: every element of the result is computed by one task, over the same fixed blocks
/// of [`KC`](avx512) along k, added in order, so it does not depend on the number of threads.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::batch_offsets;
    use crate::Layout;
    use rayon::prelude::*;

    /// Rows of the register tile (12 x 2 zmm accumulators).
    const MR: usize = 12;
    /// Columns of the register tile (two 16-lane vectors).
    const NR: usize = 32;
    /// Depth of a packed block: a (KC x NR) panel of b (32 KiB) stays in L1.
    const KC: usize = 256;
    /// Rows of a per-task block of a (MC x KC, 96 KiB in L2), a multiple of [`MR`].
    const MC: usize = 96;
    /// Products with fewer multiply-adds go to gemm (packing does not pay off).
    const MIN_MACS: usize = 64 * 64 * 64;

    /// `a @ b` (f32, batched as in [`super::matmul`]), or `None` when this path does not apply.
    pub(super) fn matmul(a: &[f32], al: &Layout, b: &[f32], bl: &Layout) -> Option<Vec<f32>> {
        let r = al.dims().len();
        let (m, k, n) = (al.dims()[r - 2], al.dims()[r - 1], bl.dims()[r - 1]);
        if m * n * k < MIN_MACS
            || !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma"))
        {
            return None;
        }
        let a_s = (al.strides()[r - 2], al.strides()[r - 1]);
        let b_s = (bl.strides()[r - 2], bl.strides()[r - 1]);
        let (ao, bo) = (batch_offsets(al), batch_offsets(bl));
        let mut out = vec![0f32; ao.len() * m * n];
        if m * n > 0 {
            // products of a batch in parallel too (the loops inside nest in the same pool)
            out.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| {
                let a = Mat {
                    data: a,
                    off: ao[i],
                    rs: a_s.0,
                    cs: a_s.1,
                };
                let b = Mat {
                    data: b,
                    off: bo[i],
                    rs: b_s.0,
                    cs: b_s.1,
                };
                gemm(n, k, a, b, c);
            });
        }
        Some(out)
    }

    /// A strided matrix view: element (i, j) is `data[off + i * rs + j * cs]`.
    #[derive(Clone, Copy)]
    struct Mat<'a> {
        data: &'a [f32],
        off: usize,
        rs: usize,
        cs: usize,
    }

    impl Mat<'_> {
        #[inline]
        fn at(&self, i: usize, j: usize) -> f32 {
            self.data[self.off + i * self.rs + j * self.cs]
        }
    }

    /// `c (m x n, row-major) = a (m x k) @ b (k x n)`, with m = `c.len() / n`.
    fn gemm(n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32]) {
        let panels = n.div_ceil(NR);
        let mut bpack = vec![0f32; KC.min(k) * NR * panels];
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            // b[pc.., ..] packed as `panels` (kc x NR) row-major panels, zero-padded past n.
            bpack[..kc * NR * panels]
                .par_chunks_mut(kc * NR)
                .enumerate()
                .for_each(|(jb, panel)| {
                    for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
                        for (j, w) in row.iter_mut().enumerate() {
                            let col = jb * NR + j;
                            *w = if col < n { b.at(pc + p, col) } else { 0.0 };
                        }
                    }
                });
            let bpack = &bpack[..kc * NR * panels];
            c.par_chunks_mut(MC * n)
                .enumerate()
                .for_each(|(ib, cblock)| {
                    let rows = cblock.len() / n;
                    let tiles = rows.div_ceil(MR);
                    // a[ib * MC.., pc..] packed as `tiles` (kc x MR) panels, zero-padded past m.
                    let mut apack = vec![0f32; kc * MR * tiles];
                    for (t, panel) in apack.chunks_exact_mut(kc * MR).enumerate() {
                        for (p, col) in panel.chunks_exact_mut(MR).enumerate() {
                            for (i, w) in col.iter_mut().enumerate() {
                                let row = t * MR + i;
                                if row < rows {
                                    *w = a.at(ib * MC + row, pc + p);
                                }
                            }
                        }
                    }
                    let mut tile = [[0f32; NR]; MR];
                    for (jb, bp) in bpack.chunks_exact(kc * NR).enumerate() {
                        let cols = NR.min(n - jb * NR);
                        for (t, ap) in apack.chunks_exact(kc * MR).enumerate() {
                            // SAFETY: `matmul` checked that the CPU supports avx512f and fma.
                            unsafe { kernel(kc, ap, bp, &mut tile) };
                            for (i, trow) in
                                tile.iter().enumerate().take(rows.saturating_sub(t * MR))
                            {
                                let start = (t * MR + i) * n + jb * NR;
                                let crow = &mut cblock[start..start + cols];
                                if pc == 0 {
                                    crow.copy_from_slice(&trow[..cols]);
                                } else {
                                    for (w, &x) in crow.iter_mut().zip(trow) {
                                        *w += x;
                                    }
                                }
                            }
                        }
                    }
                });
        }
    }

    /// The register tile: `tile = a (MR x kc, packed by k) @ b (kc x NR, packed by k)`. Plain
    /// loops over fixed-size arrays, which LLVM keeps in 24 zmm registers with fused multiply-adds.
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn kernel(kc: usize, a: &[f32], b: &[f32], tile: &mut [[f32; NR]; MR]) {
        let mut acc = [[0f32; NR]; MR];
        for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
            let ap: &[f32; MR] = ap.try_into().unwrap();
            let bp: &[f32; NR] = bp.try_into().unwrap();
            for i in 0..MR {
                for j in 0..NR {
                    acc[i][j] = ap[i].mul_add(bp[j], acc[i][j]);
                }
            }
        }
        *tile = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Generator;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        let mut g = Generator::new(seed);
        (0..n).map(|_| g.next_f64() as f32 - 0.5).collect()
    }

    /// The packed f32 path (where the CPU has it) against gemm and an f64 reference, on shapes
    /// that are not multiples of the tiles, with transposed and offset views and a batch.
    #[test]
    fn packed_f32_matches_gemm() {
        for &(batch, m, k, n, bt) in &[
            (1, 300, 700, 500, false),
            (1, 13, 520, 33, true),
            (3, 97, 64, 161, true),
            (2, 128, 300, 64, false),
        ] {
            let a = rand(batch * m * k + 5, 1);
            let b = rand(batch * k * n, 2);
            let al = Layout::new(Shape::new(vec![batch, m, k]), vec![m * k, k, 1], 5);
            let bl = if bt {
                // b stored as (batch, n, k), viewed transposed
                Layout::new(Shape::new(vec![batch, k, n]), vec![k * n, 1, k], 0)
            } else {
                Layout::contiguous(Shape::new(vec![batch, k, n]))
            };
            let got = match matmul(
                &CpuStorage::F32(a.clone()),
                &al,
                &CpuStorage::F32(b.clone()),
                &bl,
            ) {
                Ok(CpuStorage::F32(v)) => v,
                _ => panic!("f32 matmul failed"),
            };
            let via_gemm = typed(&a, &al, &b, &bl);
            for bi in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let mut r = 0f64;
                        for p in 0..k {
                            let x = a[5 + bi * m * k + i * k + p] as f64;
                            let y = b[bi * k * n + if bt { j * k + p } else { p * n + j }] as f64;
                            r += x * y;
                        }
                        let o = bi * m * n + i * n + j;
                        assert!(
                            (got[o] as f64 - r).abs() < 1e-4 * (k as f64).sqrt(),
                            "{m}x{k}x{n}"
                        );
                        assert!((via_gemm[o] as f64 - r).abs() < 1e-4 * (k as f64).sqrt());
                    }
                }
            }
        }
    }
}
