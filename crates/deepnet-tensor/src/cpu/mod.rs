//! The CPU device: storage, strided iteration and kernels. Kernels see storages and layouts only,
//! never autograd.
//!
//! Parallelism: loops over more than [`MIN_TASK`] elements are split into fixed-size pieces
//! processed on the kernel threads ([`crate::threads`]). Pieces never depend on the number of threads, and every reduction combines
//! its partial results in a fixed order, so results are bit-identical for any thread count.

pub(crate) mod backend;
pub(crate) mod conv;
pub(crate) mod conv_direct;
pub(crate) mod conv_direct_wgrad;
pub(crate) mod conv_gemm;
pub(crate) mod elementwise;
pub(crate) mod im2col;
pub(crate) mod index;
pub(crate) mod isa;
pub(crate) mod matmul;
pub(crate) mod norm;
pub(crate) mod par;
pub(crate) mod pool;
pub(crate) mod reduce;
pub(crate) mod rnn;
pub(crate) mod rnn_gemm;
pub(crate) mod rnn_seq;
pub(crate) mod simd;
pub(crate) mod strided;
pub(crate) mod upsample;
pub(crate) mod vexp;

use crate::{Element, FloatElement, HostData, Layout};
use std::mem::MaybeUninit;
use strided::{rows_per_task, Plan};

/// Minimum number of elements per parallel task; smaller loops run on the calling thread.
/// Measured on the MLP step: 2^15 and 2^17 run at the same speed on the spinning pool (with
/// rayon, 2^15 spent a third of the step waking and parking workers).
pub(crate) const MIN_TASK: usize = 1 << 17;

/// The CPU backend keeps a tensor's data as plain host vectors: its storage is [`HostData`], so
/// host copies to and from it are moves or plain copies.
pub type CpuStorage = HostData;

/// Runs `$body` with `$v` bound to the storage's vector, whatever its dtype.
macro_rules! with_cpu {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            $crate::cpu::CpuStorage::F32($v) => $body,
            $crate::cpu::CpuStorage::F64($v) => $body,
            $crate::cpu::CpuStorage::I64($v) => $body,
            $crate::cpu::CpuStorage::U8($v) => $body,
        }
    };
}
pub(crate) use with_cpu;

/// The float types the CPU kernels run on (f32 and f64), with what the kernels specialize: the
/// f32 fast paths and per-thread scratch buffers.
// the f32 views are what the x86 kernels dispatch on; other targets use the generic paths
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) trait Float: FloatElement {
    /// e^x as the `exp` kernel computes it (f32: a vectorizable polynomial within 2 ulp).
    fn exp_kernel(self) -> Self;
    /// e^x for gate nonlinearities (f32: [`vexp::exp_gate_f32`], the argument clamped to ±87;
    /// f64: libm's).
    fn exp_gate(self) -> Self;
    /// `dst[i] = src[i].exp_kernel()`, vectorized where the type has a fast path.
    fn exp_slice(src: &[Self], dst: &mut [MaybeUninit<Self>]);
    /// The slice as f32, when the elements are f32 (the packed AVX-512 product applies).
    fn as_f32(s: &[Self]) -> Option<&[f32]>;
    /// The mutable slice as f32, when the elements are f32.
    fn as_f32_mut(s: &mut [Self]) -> Option<&mut [f32]>;
    /// The vector itself, when the elements are f32 (what the f32-only kernels return).
    fn from_f32_vec(v: Vec<f32>) -> Option<Vec<Self>>;
    /// Runs `f` on a scratch buffer of `len` elements (contents unspecified) that is kept by the
    /// calling thread between calls, so column matrices are not allocated and zeroed per image.
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

macro_rules! float_impl {
    ($t:ty, $scratch:ident, $exp:expr, $exp_gate:expr, $exp_slice:expr, $f32:expr, $f32_mut:expr,
     $from_f32:expr) => {
        thread_local! {
            static $scratch: std::cell::RefCell<Vec<$t>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        impl Float for $t {
            #[inline(always)]
            fn exp_kernel(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn exp_gate(self) -> Self {
                $exp_gate(self)
            }
            fn exp_slice(src: &[Self], dst: &mut [MaybeUninit<Self>]) {
                $exp_slice(src, dst)
            }
            fn as_f32(s: &[Self]) -> Option<&[f32]> {
                $f32(s)
            }
            fn as_f32_mut(s: &mut [Self]) -> Option<&mut [f32]> {
                $f32_mut(s)
            }
            fn from_f32_vec(v: Vec<f32>) -> Option<Vec<Self>> {
                $from_f32(v)
            }
            fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                $scratch.with(|c| match c.try_borrow_mut() {
                    Ok(mut v) => {
                        if v.len() < len {
                            v.resize(len, 0.0);
                        }
                        f(&mut v[..len])
                    }
                    // a nested use on the same thread: a buffer of its own
                    Err(_) => f(&mut vec![0.0; len]),
                })
            }
        }
    };
}
float_impl!(
    f32,
    SCRATCH_F32,
    vexp::exp_f32,
    vexp::exp_gate_f32,
    vexp::exp_slice_f32,
    Some,
    Some,
    Some
);
float_impl!(
    f64,
    SCRATCH_F64,
    f64::exp,
    f64::exp,
    |src: &[f64], dst: &mut [MaybeUninit<f64>]| {
        for (o, &x) in dst.iter_mut().zip(src) {
            o.write(x.exp());
        }
    },
    |_: &[f64]| None,
    |_: &mut [f64]| None,
    |_: Vec<f32>| None
);

/// Builds a vector of `n` elements by filling fixed-size chunks in parallel; `fill(start, chunk)`
/// writes the elements `start..start + chunk.len()`.
pub(crate) fn build<U: Send>(
    n: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync,
) -> Vec<U> {
    let mut out: Vec<U> = Vec::with_capacity(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    let chunk = chunk.max(1);
    if n <= chunk {
        fill(0, spare);
    } else {
        par::chunks_mut(spare, chunk, |i, c| fill(i * chunk, c));
    }
    // SAFETY: every element 0..n was written by `fill` (each chunk covers its range entirely).
    unsafe { out.set_len(n) };
    out
}

/// `f` applied to every element of `l`, in row-major order.
pub(crate) fn map<T: Element, U: Send + Copy>(
    src: &[T],
    l: &Layout,
    f: impl Fn(T) -> U + Sync,
) -> Vec<U> {
    let n = l.elem_count();
    if let Some(r) = l.contiguous_range() {
        let src = &src[r];
        return build(n, MIN_TASK, |start, out| {
            let end = start + out.len();
            for (o, &x) in out.iter_mut().zip(&src[start..end]) {
                o.write(f(x));
            }
        });
    }
    if n == 0 {
        return Vec::new();
    }
    let plan = Plan::new([l]);
    let inner = plan.inner();
    let [s] = plan.inner_strides();
    let rpt = rows_per_task(inner);
    build(n, rpt * inner, |start, out| {
        for (k, row) in out.chunks_mut(inner).enumerate() {
            let [o] = plan.row_offsets(start / inner + k);
            for (i, w) in row.iter_mut().enumerate() {
                w.write(f(src[o + i * s]));
            }
        }
    })
}

/// `f(a, b)` over two layouts of the same shape (already broadcast), in row-major order.
pub(crate) fn zip<A: Element, B: Element, U: Send + Copy>(
    a: &[A],
    al: &Layout,
    b: &[B],
    bl: &Layout,
    f: impl Fn(A, B) -> U + Sync,
) -> Vec<U> {
    let n = al.elem_count();
    if n == 0 {
        return Vec::new();
    }
    if let (Some(ra), Some(rb)) = (al.contiguous_range(), bl.contiguous_range()) {
        let (a, b) = (&a[ra], &b[rb]);
        return build(n, MIN_TASK, |start, out| {
            let end = start + out.len();
            for ((o, &x), &y) in out.iter_mut().zip(&a[start..end]).zip(&b[start..end]) {
                o.write(f(x, y));
            }
        });
    }
    let plan = Plan::new([al, bl]);
    let inner = plan.inner();
    let [sa, sb] = plan.inner_strides();
    let rpt = rows_per_task(inner);
    build(n, rpt * inner, |start, out| {
        for (k, row) in out.chunks_mut(inner).enumerate() {
            let [oa, ob] = plan.row_offsets(start / inner + k);
            match (sa, sb) {
                // the common broadcast shapes get loops the compiler can vectorize
                (1, 1) => {
                    for ((w, &x), &y) in row
                        .iter_mut()
                        .zip(&a[oa..oa + inner])
                        .zip(&b[ob..ob + inner])
                    {
                        w.write(f(x, y));
                    }
                }
                (1, 0) => {
                    let y = b[ob];
                    for (w, &x) in row.iter_mut().zip(&a[oa..oa + inner]) {
                        w.write(f(x, y));
                    }
                }
                (0, 1) => {
                    let x = a[oa];
                    for (w, &y) in row.iter_mut().zip(&b[ob..ob + inner]) {
                        w.write(f(x, y));
                    }
                }
                _ => {
                    for (i, w) in row.iter_mut().enumerate() {
                        w.write(f(a[oa + i * sa], b[ob + i * sb]));
                    }
                }
            }
        }
    })
}

/// `f(a, b, c)` over three layouts of the same shape, in row-major order.
pub(crate) fn zip3<A: Element, B: Element, C: Element, U: Send + Copy>(
    (a, al): (&[A], &Layout),
    (b, bl): (&[B], &Layout),
    (c, cl): (&[C], &Layout),
    f: impl Fn(A, B, C) -> U + Sync,
) -> Vec<U> {
    let n = al.elem_count();
    if n == 0 {
        return Vec::new();
    }
    let plan = Plan::new([al, bl, cl]);
    let inner = plan.inner();
    let [sa, sb, sc] = plan.inner_strides();
    let rpt = rows_per_task(inner);
    build(n, rpt * inner, |start, out| {
        for (k, row) in out.chunks_mut(inner).enumerate() {
            let [oa, ob, oc] = plan.row_offsets(start / inner + k);
            for (i, w) in row.iter_mut().enumerate() {
                w.write(f(a[oa + i * sa], b[ob + i * sb], c[oc + i * sc]));
            }
        }
    })
}

/// Copies the elements of `src` viewed through `sl` into `dst` viewed through `dl` (same shape).
pub(crate) fn copy_into<T: Element>(src: &[T], sl: &Layout, dst: &mut [T], dl: &Layout) {
    if sl.elem_count() == 0 {
        return;
    }
    if let (Some(rs), Some(rd)) = (sl.contiguous_range(), dl.contiguous_range()) {
        dst[rd].copy_from_slice(&src[rs]);
        return;
    }
    let plan = Plan::new([sl, dl]);
    let inner = plan.inner();
    let [ss, sd] = plan.inner_strides();
    for r in 0..plan.rows() {
        let [os, od] = plan.row_offsets(r);
        if ss == 1 && sd == 1 {
            dst[od..od + inner].copy_from_slice(&src[os..os + inner]);
        } else {
            for i in 0..inner {
                dst[od + i * sd] = src[os + i * ss];
            }
        }
    }
}

/// `dst = a * dst + b * src` over two layouts of the same shape (in place, for optimizers).
pub(crate) fn axpby<T: crate::FloatElement>(
    dst: &mut [T],
    dl: &Layout,
    src: &[T],
    sl: &Layout,
    a: T,
    b: T,
) {
    if dl.elem_count() == 0 {
        return;
    }
    if let (Some(rd), Some(rs)) = (dl.contiguous_range(), sl.contiguous_range()) {
        let (d, s) = (&mut dst[rd], &src[rs]);
        let f = |d: &mut [T], s: &[T]| {
            for (x, &y) in d.iter_mut().zip(s) {
                *x = a * *x + b * y;
            }
        };
        if d.len() <= INPLACE_TASK {
            f(d, s);
        } else {
            par::chunks_mut(d, INPLACE_TASK, |i, d| {
                f(d, &s[i * INPLACE_TASK..][..d.len()])
            });
        }
        return;
    }
    let plan = Plan::new([dl, sl]);
    let inner = plan.inner();
    let [sd, ss] = plan.inner_strides();
    for r in 0..plan.rows() {
        let [od, os] = plan.row_offsets(r);
        for i in 0..inner {
            let x = &mut dst[od + i * sd];
            *x = a * *x + b * src[os + i * ss];
        }
    }
}

/// `dst *= c` over a layout (in place).
pub(crate) fn scale<T: crate::FloatElement>(dst: &mut [T], dl: &Layout, c: T) {
    if let Some(r) = dl.contiguous_range() {
        let d = &mut dst[r];
        if d.len() <= INPLACE_TASK {
            d.iter_mut().for_each(|x| *x = *x * c);
        } else {
            par::chunks_mut(d, INPLACE_TASK, |_, d| {
                d.iter_mut().for_each(|x| *x = *x * c)
            });
        }
        return;
    }
    for o in dl.offsets() {
        dst[o] = dst[o] * c;
    }
}

/// In-place updates (optimizer steps) split into pieces of this many elements: the MLP's
/// 200k-weight layer then updates on both threads.
const INPLACE_TASK: usize = 1 << 16;
