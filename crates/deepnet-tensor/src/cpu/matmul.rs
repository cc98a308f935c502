//! Matrix products on the CPU through the `gemm` crate, which takes arbitrary row and column
//! strides, so transposed views are multiplied without a copy.
//!
//! Large f32 products on x86-64 CPUs with AVX-512 take a packed kernel of our own instead
//! ([`avx512`]): gemm 0.18 only ships its AVX-512 kernels behind its `nightly` feature, so on a
//! stable toolchain it runs 256-bit AVX2 kernels at about half of such a CPU's peak.

use super::{strided::for_each_offset, CpuStorage};
use crate::{Error, Layout, Result, Shape};
use gemm::{gemm, Parallelism};

/// Below this many multiply-adds per matrix a product runs as one task.
const PAR_MIN_MACS: usize = 48 * 48 * 48;
/// Rows of the result per task of a split product.
const ROW_BLOCK: usize = 64;

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
    // SAFETY: the pointers cover a (rows x k) block of a starting at row `r0`, b (k x n) and
    // dst (rows x n), inside their buffers, as laid out by the strides of layouts the front end
    // validated.
    let run = |dst: &mut [T], i: usize, r0: usize| unsafe {
        gemm(
            dst.len() / n,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr().offset(ao[i] as isize + r0 as isize * a_rs),
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
            Parallelism::None,
        )
    };
    // A large product is split into blocks of rows, one per task; a batch runs one product per
    // task (a product's row blocks then run on that task's thread). The split depends on the
    // shape alone, so results do not depend on the thread count.
    let product = |i: usize, dst: &mut [T]| {
        if macs < PAR_MIN_MACS || m <= ROW_BLOCK {
            run(dst, i, 0)
        } else {
            super::par::chunks_mut(dst, ROW_BLOCK * n, |t, d| run(d, i, t * ROW_BLOCK))
        }
    };
    super::par::chunks_mut(&mut out, m * n, product);
    out
}

/// The packed f32 product for CPUs with AVX-512.
#[cfg(target_arch = "x86_64")]
#[path = "matmul_avx512.rs"]
pub(crate) mod avx512;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Generator;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        let mut g = Generator::new(seed);
        (0..n).map(|_| g.next_f64() as f32 - 0.5).collect()
    }

    /// How an operand is stored: row-major, transposed (column-major), or with both strides > 1.
    #[derive(Clone, Copy, Debug)]
    enum Store {
        Rows,
        Cols,
        Strided,
    }

    /// A (batch, r, c) operand stored as `s`, after a 3-element offset; element (bi, i, j) is
    /// `data[idx(bi, i, j)]`.
    fn operand(batch: usize, r: usize, c: usize, s: Store, seed: u64) -> (Vec<f32>, Layout) {
        let off = 3;
        let (rs, cs, bs) = match s {
            Store::Rows => (c, 1, r * c),
            Store::Cols => (1, r, r * c),
            // every other column of a (r, 2c + 1) row-major matrix
            Store::Strided => (2 * c + 1, 2, r * (2 * c + 1)),
        };
        let data = rand(off + batch * bs + 1, seed);
        let l = Layout::new(Shape::new(vec![batch, r, c]), vec![bs, rs, cs], off);
        (data, l)
    }

    fn at(d: &[f32], l: &Layout, bi: usize, i: usize, j: usize) -> f64 {
        let s = l.strides();
        d[l.offset() + bi * s[0] + i * s[1] + j * s[2]] as f64
    }

    fn f32s(s: Result<CpuStorage>) -> Vec<f32> {
        match s {
            Ok(CpuStorage::F32(v)) => v,
            _ => panic!("f32 matmul failed"),
        }
    }

    /// The packed f32 path (where the CPU has it, with the blocking it picks and with other
    /// blockings) against gemm and an f64 reference, on shapes that are not multiples of the
    /// tiles, with transposed, strided and offset views and batches; and 1 vs 2 threads.
    #[test]
    fn packed_f32_matches_gemm() {
        use Store::*;
        let shapes = [
            (1, 300, 700, 500, Rows, Rows),
            (1, 13, 520, 33, Rows, Cols),
            (3, 97, 64, 161, Cols, Cols),
            (2, 128, 300, 64, Rows, Rows),
            (1, 64, 784, 256, Rows, Cols),
            (1, 784, 64, 256, Cols, Rows),
            (1, 64, 256, 784, Rows, Rows),
            (1, 64, 128, 10, Rows, Cols),
            (1, 37, 45, 29, Strided, Strided),
            (2, 50, 33, 70, Strided, Cols),
            (1, 1, 300, 200, Rows, Rows),
            (1, 200, 300, 1, Cols, Rows),
            (1, 25, 17, 47, Cols, Strided),
            (1, 130, 1000, 100, Rows, Rows),
        ];
        for &(batch, m, k, n, sa, sb) in &shapes {
            let (a, al) = operand(batch, m, k, sa, 1);
            let (b, bl) = operand(batch, k, n, sb, 2);
            let got = f32s(matmul(
                &CpuStorage::F32(a.clone()),
                &al,
                &CpuStorage::F32(b.clone()),
                &bl,
            ));
            let via_gemm = typed(&a, &al, &b, &bl);
            #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
            let mut outs = vec![("chosen", got), ("gemm", via_gemm)];
            #[cfg(target_arch = "x86_64")]
            if crate::cpu::isa::has_avx512() {
                let p0 = avx512::params(m, k, n);
                let mut same_kc: Option<Vec<u32>> = None;
                for (kc, mc, nc) in [(p0.kc, 12, 32), (p0.kc, 1000, 1000), (100, 24, 64)] {
                    let p = avx512::Params {
                        kc,
                        mc,
                        nc,
                        par: true,
                    };
                    let one =
                        crate::with_num_threads(1, || avx512::matmul_with(&a, &al, &b, &bl, p))
                            .unwrap();
                    let two =
                        crate::with_num_threads(2, || avx512::matmul_with(&a, &al, &b, &bl, p))
                            .unwrap();
                    assert!(one
                        .iter()
                        .zip(&two)
                        .all(|(x, y)| x.to_bits() == y.to_bits()));
                    let bits: Vec<u32> = one.iter().map(|x| x.to_bits()).collect();
                    if kc == p0.kc {
                        // how the work is split into tasks does not change the bits
                        if let Some(prev) = &same_kc {
                            assert!(prev == &bits, "task split changed the result");
                        }
                        same_kc = Some(bits);
                    }
                    outs.push(("packed", one));
                }
            }
            for bi in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let r: f64 = (0..k)
                            .map(|p| at(&a, &al, bi, i, p) * at(&b, &bl, bi, p, j))
                            .sum();
                        let o = bi * m * n + i * n + j;
                        for (name, v) in &outs {
                            assert!(
                                (v[o] as f64 - r).abs() < 1e-4 * (k as f64).sqrt(),
                                "{name} {batch}x{m}x{k}x{n} {sa:?} {sb:?}: {} vs {r} at {o}",
                                v[o]
                            );
                        }
                    }
                }
            }
        }
    }

    /// Timings of the MLP shapes and of 1024^3 on the gemm crate and on the packed path, on 1
    /// and 2 threads:
    /// `cargo test --release -p deepnet-tensor --lib matmul_timings -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn matmul_timings() {
        use std::time::Instant;
        use Store::*;
        let shapes = [
            (64, 784, 256, Rows, Cols),
            (64, 256, 128, Rows, Cols),
            (64, 128, 10, Rows, Cols),
            (64, 10, 128, Rows, Rows),
            (64, 128, 256, Rows, Rows),
            (64, 256, 784, Rows, Rows),
            (784, 64, 256, Cols, Rows),
            (256, 64, 128, Cols, Rows),
            (128, 64, 10, Cols, Rows),
            (256, 784, 256, Rows, Cols),
            (256, 256, 128, Rows, Cols),
            (256, 256, 784, Rows, Rows),
            (784, 256, 256, Cols, Rows),
            (256, 256, 256, Rows, Rows),
            (1024, 1024, 1024, Rows, Rows),
        ];
        #[cfg(target_arch = "x86_64")]
        if std::env::var("KERNEL").is_ok() {
            let (kc, reps) = (256, 2000);
            let (ap, bp) = (rand(kc * 12, 1), rand(kc * 32, 2));
            let mut c = vec![0f32; 12 * 32];
            let mut s = f64::MAX;
            for _ in 0..50 {
                let t = Instant::now();
                for _ in 0..reps {
                    avx512::bench_tile(kc, &ap, &bp, &mut c);
                }
                s = s.min(t.elapsed().as_secs_f64());
            }
            println!(
                "tile 12x32 kc={kc}: {:.1} GFLOP/s",
                2.0 * (kc * 12 * 32 * reps) as f64 / s / 1e9
            );
        }
        let filter = std::env::var("SHAPES").ok();
        for &(m, k, n, sa, sb) in &shapes {
            if let Some(f) = &filter {
                if !f.split(',').any(|s| s == format!("{m}x{k}x{n}")) {
                    continue;
                }
            }
            let (a, al) = operand(1, m, k, sa, 1);
            let (b, bl) = operand(1, k, n, sb, 2);
            let flop = 2.0 * (m * n * k) as f64;
            let reps = ((3e10 / flop) as usize).clamp(5, 200000);
            let time = |f: &(dyn Fn() -> Vec<f32> + Sync), threads: usize| {
                crate::with_num_threads(threads, || {
                    let mut best = f64::MAX;
                    for _ in 0..3 {
                        let t = Instant::now();
                        for _ in 0..reps {
                            std::hint::black_box(f());
                        }
                        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
                    }
                    best
                })
                .unwrap()
            };
            let mut line = format!("{m:>5}x{k:>4}x{n:>4} {sa:?}/{sb:?}");
            let g = |t| time(&|| typed(&a, &al, &b, &bl), t);
            let (sa_, sb_) = (CpuStorage::F32(a.clone()), CpuStorage::F32(b.clone()));
            let c = |t| time(&|| f32s(matmul(&sa_, &al, &sb_, &bl)), t);
            for (name, f) in [("gemm", &g as &dyn Fn(usize) -> f64), ("chosen", &c)] {
                if std::env::var("ONLY").is_ok() && name != "chosen" {
                    continue;
                }
                for t in [1, 2] {
                    let s = f(t);
                    line += &format!("  {name}/{t}t {:7.1}us {:5.0}GF", s * 1e6, flop / s / 1e9);
                }
            }
            #[cfg(target_arch = "x86_64")]
            if let Ok(v) = std::env::var("PARAMS") {
                // PARAMS="kc,mc,nc,shared;..." times the packed path with these blockings
                for spec in v.split(';') {
                    let x: Vec<usize> = spec.split(',').map(|s| s.parse().unwrap()).collect();
                    let p = avx512::Params {
                        kc: x[0],
                        mc: x[1],
                        nc: x[2],
                        par: x[3] == 1,
                    };
                    for t in [1, 2] {
                        let s = time(&|| avx512::matmul_with(&a, &al, &b, &bl, p), t);
                        line +=
                            &format!("  [{spec}]/{t}t {:7.1}us {:5.0}GF", s * 1e6, flop / s / 1e9);
                    }
                }
            }
            println!("{line}");
        }
    }
}
