//! A packed f32 product (BLIS-style loops around a register tile), one source for every vector
//! instruction set: the kernel and the packing are generic over [`Simd`] and instantiated in one
//! `#[target_feature]` entry point per instruction set ([`Entry`]): AVX-512 (12 x 32 tile), AVX2+FMA
//! (6 x 16) and, on aarch64, NEON (12 x 8). See `simd.rs` for why this is a small trait of our
//! own rather than `pulp`. The AVX-512 instantiation runs the same instructions in the same
//! order as the AVX-512-only kernel it replaced, so its results are the same bits.
//!
//! Determinism: every element of the result is computed by one task, over the same blocks along
//! k (chosen from k alone), added in order, so it does not depend on the number of threads nor on
//! how the work is split into tasks.

use super::batch_offsets;
use crate::cpu::isa::{isa, Isa};
use crate::cpu::par;
#[cfg(target_arch = "aarch64")]
use crate::cpu::simd::Neon;
use crate::cpu::simd::Simd;
#[cfg(target_arch = "x86_64")]
use crate::cpu::simd::{Avx2, Avx512};
use crate::Layout;
use std::sync::Mutex;

/// Blocking of one product. The result depends on `kc` alone, which is fixed by the shape;
/// `mc`, `nc` and `par` follow the thread count too.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    /// Maximum depth of a k block; k is cut into equal blocks of at most this size.
    pub kc: usize,
    /// Rows of C per task (rounded up to a multiple of the tile's rows).
    pub mc: usize,
    /// Columns of C per task (rounded up to a multiple of the tile's columns).
    pub nc: usize,
    /// Whether to run the packing and the tasks on the thread pool.
    pub par: bool,
}

/// Products with fewer multiply-adds go to gemm.
const MIN_MACS: usize = 32 * 32 * 32;
/// Products with fewer columns go to gemm.
const MIN_N: usize = 16;

/// Products with fewer multiply-adds run on one thread: below about 4M, handing packed panels
/// from one core's cache to the other costs more than the second core saves (measured on the
/// MLP's shapes: 64x256x128 takes 37 us on one thread and 47-60 us on two).
const PAR_MIN_MACS: usize = 1 << 22;

/// Products from this many multiply-adds on use k blocks of 512 instead of 256.
const BIG_MACS: usize = 1 << 27;

/// The blocking used for an (m x k) @ (k x n) product: tasks of up to 96 x 256, narrowed (first
/// the columns, to 64, then the rows, to 24) until there are at least two per thread.
pub(super) fn params(m: usize, k: usize, n: usize) -> Params {
    let threads = crate::num_threads();
    let par = m * n * k >= PAR_MIN_MACS && threads > 1;
    let (mut mc, mut nc) = (96, 256);
    if par {
        let want = 2 * threads;
        let tasks = |mc: usize, nc: usize| m.div_ceil(mc) * n.div_ceil(nc);
        while tasks(mc, nc) < want && nc > 64 {
            nc /= 2;
        }
        while tasks(mc, nc) < want && mc > 24 {
            mc /= 2;
        }
    }
    // deeper k blocks halve the passes over c in large products (1024^3 on 2 threads: about
    // 275 -> 290 GFLOP/s); the MLP's products measured no better with them
    let kc = if m * n * k >= BIG_MACS { 512 } else { 256 };
    Params { kc, mc, nc, par }
}

/// The entry points of `isa`, or `None` where it has no packed kernel (scalar).
pub(crate) fn entry(isa: Isa) -> Option<Entry> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(avx512::ENTRY),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(avx2::ENTRY),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => Some(neon::ENTRY),
        _ => None,
    }
}

/// `a @ b` (f32, batched as in [`super::matmul`]), or `None` when this path does not apply.
pub(super) fn matmul(a: &[f32], al: &Layout, b: &[f32], bl: &Layout) -> Option<Vec<f32>> {
    let r = al.dims().len();
    let (m, k, n) = (al.dims()[r - 2], al.dims()[r - 1], bl.dims()[r - 1]);
    // narrow results (the last layer of a classifier) waste most of a wide tile
    if m * n * k < MIN_MACS || n < MIN_N {
        return None;
    }
    let e = entry(isa())?;
    Some(matmul_with(e, a, al, b, bl, params(m, k, n)))
}

/// [`matmul`] on the kernels `e` (which the CPU must have: [`entry`] of a supported [`Isa`])
/// with the given blocking.
pub(super) fn matmul_with(
    e: Entry,
    a: &[f32],
    al: &Layout,
    b: &[f32],
    bl: &Layout,
    p: Params,
) -> Vec<f32> {
    assert!(crate::cpu::isa::supported(e.isa));
    let r = al.dims().len();
    let (m, k, n) = (al.dims()[r - 2], al.dims()[r - 1], bl.dims()[r - 1]);
    let a_s = (al.strides()[r - 2], al.strides()[r - 1]);
    let b_s = (bl.strides()[r - 2], bl.strides()[r - 1]);
    let (ao, bo) = (batch_offsets(al), batch_offsets(bl));
    let len = ao.len() * m * n;
    if m * n == 0 || k == 0 {
        return vec![0f32; len];
    }
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let c = CPtr(out.as_mut_ptr());
    let run = |i: usize| {
        let a = Mat::new(a, ao[i], a_s, m, k);
        let b = Mat::new(b, bo[i], b_s, k, n);
        // SAFETY: product i writes only its own m * n elements of the buffer.
        gemm(e, m, n, k, a, b, unsafe { c.get().add(i * m * n) }, p);
    };
    if ao.len() == 1 || !p.par {
        (0..ao.len()).for_each(run);
    } else {
        // one product per task (the loops inside then run on that task's thread)
        par::for_each(ao.len(), run);
    }
    // SAFETY: `gemm` wrote every element of each product (k > 0: the first k block stores
    // all the tiles, which cover the m x n result).
    unsafe { out.set_len(len) };
    out
}

/// A strided matrix view: element (i, j) is `data[off + i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    off: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// A `rows x cols` view; panics unless every element lies inside `data` (the packing
    /// below reads through raw pointers on the strength of this check).
    pub(crate) fn new(
        data: &'a [f32],
        off: usize,
        (rs, cs): (usize, usize),
        rows: usize,
        cols: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            assert!(off + (rows - 1) * rs + (cols - 1) * cs < data.len());
        }
        Mat { data, off, rs, cs }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[self.off + i * self.rs + j * self.cs]
    }

    /// Pointer to element (i, j); in bounds when (i, j) is an element of the view.
    #[inline(always)]
    fn ptr(&self, i: usize, j: usize) -> *const f32 {
        self.data
            .as_ptr()
            .wrapping_add(self.off + i * self.rs + j * self.cs)
    }
}

/// A raw pointer to the result that tasks writing disjoint parts of it share.
#[derive(Clone, Copy)]
struct CPtr(*mut f32);
impl CPtr {
    /// The pointer (a method, so that closures capture the whole `CPtr`, which is `Sync`).
    fn get(self) -> *mut f32 {
        self.0
    }
}
// SAFETY: the tasks that share a CPtr write disjoint elements (see `gemm`).
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

/// Packing buffer kept between products (a product that finds it taken allocates its own).
static PACK: Mutex<Vec<f32>> = Mutex::new(Vec::new());
/// Largest packing buffer kept (elements, 16 MiB).
const KEEP_MAX: usize = 1 << 22;

/// The k blocks `(start, len)`: k cut into equal blocks of at most `kc` (the last one may be
/// shorter); a function of k and kc only.
fn k_blocks(k: usize, kc: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = k.div_ceil(k.div_ceil(kc.max(1)).max(1)).max(1);
    (0..k).step_by(step).map(move |pc| (pc, step.min(k - pc)))
}

/// Panels of b per packing job.
const B_GROUP: usize = 8;

/// One piece of packing work: a (kc x mr) panel of a or a group of (kc x nr) panels of b.
struct PackJob<'a> {
    pc: usize,
    kc: usize,
    /// First row (of a) or column (of b).
    at: usize,
    is_a: bool,
    dst: &'a mut [f32],
}

/// `c (m x n, row-major, written whole) = a (m x k) @ b (k x n)`, k > 0.
///
/// Both operands are packed whole first (a as (kc x mr) panels per k block, b as (kc x nr)
/// panels), then tasks of `mc x nc` of c each run all the k blocks in order.
#[allow(clippy::too_many_arguments)]
fn gemm(e: Entry, m: usize, n: usize, k: usize, a: Mat, b: Mat, c: *mut f32, p: Params) {
    let (mr, nr) = (e.mr, e.nr);
    let (tiles, panels) = (m.div_ceil(mr), n.div_ceil(nr));
    let (alen, blen) = (k * tiles * mr, k * panels * nr);
    let mut buf = PACK
        .try_lock()
        .map(|mut g| std::mem::take(&mut *g))
        .unwrap_or_default();
    if buf.len() < alen + blen {
        buf.resize(alen + blen, 0.0);
    }
    {
        let (apack, bpack) = buf[..alen + blen].split_at_mut(alen);
        let mut jobs = Vec::with_capacity(k.div_ceil(p.kc) * (tiles + panels));
        let (mut ar, mut br) = (&mut apack[..], &mut bpack[..]);
        for (pc, kc) in k_blocks(k, p.kc) {
            let (ab, rest) = ar.split_at_mut(kc * tiles * mr);
            ar = rest;
            for (t, dst) in ab.chunks_exact_mut(kc * mr).enumerate() {
                jobs.push(PackJob {
                    pc,
                    kc,
                    at: t * mr,
                    is_a: true,
                    dst,
                });
            }
            let (bb, rest) = br.split_at_mut(kc * panels * nr);
            br = rest;
            for (j, dst) in bb.chunks_mut(B_GROUP * kc * nr).enumerate() {
                jobs.push(PackJob {
                    pc,
                    kc,
                    at: j * B_GROUP * nr,
                    is_a: false,
                    dst,
                });
            }
        }
        let pack = |j: PackJob| {
            // SAFETY: the CPU has e's instructions (`matmul_with`); the panels lie inside a
            // and b.
            unsafe {
                if j.is_a {
                    (e.pack_a)(&a, j.at, mr.min(m - j.at), j.pc, j.kc, j.dst)
                } else {
                    (e.pack_b_group)(&b, j.pc, j.kc, j.at, n - j.at, j.dst)
                }
            }
        };
        if p.par {
            par::items(jobs, pack);
        } else {
            jobs.into_iter().for_each(pack);
        }
    }
    let (apack, bpack) = buf[..alen + blen].split_at(alen);
    let mc = p.mc.div_ceil(mr).max(1) * mr;
    let nc = p.nc.div_ceil(nr).max(1) * nr;
    let (row_blocks, col_blocks) = (m.div_ceil(mc), n.div_ceil(nc));
    let c = CPtr(c);
    let task = |t: usize| {
        let (r0, c0) = (t / col_blocks * mc, t % col_blocks * nc);
        let (rows, cols) = (mc.min(m - r0), nc.min(n - c0));
        for (pc, kc) in k_blocks(k, p.kc) {
            let ap = &apack[pc * tiles * mr + r0 * kc..];
            let bp = &bpack[pc * panels * nr + c0 * kc..];
            // SAFETY: the CPU has e's instructions; the task writes only the block (r0..,
            // c0..) of c, which no other task touches, and c outlives the tasks.
            unsafe { (e.block)(kc, ap, rows, bp, cols, c.get().add(r0 * n + c0), n, pc == 0) };
        }
    };
    if p.par {
        par::for_each(row_blocks * col_blocks, task);
    } else {
        (0..row_blocks * col_blocks).for_each(task);
    }
    if let Ok(mut g) = PACK.try_lock() {
        if g.is_empty() && buf.len() <= KEEP_MAX {
            *g = buf;
        }
    }
}

/// The packed product's entry points compiled for one instruction set (function pointers to
/// `#[target_feature]` instantiations of the generic kernels below), with its tile shape.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    /// The instruction set the functions need.
    pub isa: Isa,
    /// Rows of the register tile.
    pub mr: usize,
    /// Columns of the register tile.
    pub nr: usize,
    /// [`pack_a`] instantiated for `isa`.
    pub pack_a: unsafe fn(&Mat, usize, usize, usize, usize, &mut [f32]),
    /// [`pack_b_group`] instantiated for `isa`.
    pub pack_b_group: unsafe fn(&Mat, usize, usize, usize, usize, &mut [f32]),
    /// [`block`] instantiated for `isa`.
    #[allow(clippy::type_complexity)]
    pub block: unsafe fn(usize, &[f32], usize, &[f32], usize, *mut f32, usize, bool),
}

/// Defines module `$m` with the entry points of vector type `$s` compiled with `$feat`.
macro_rules! entry_points {
    ($m:ident, $s:ty, $isa:expr, $feat:literal) => {
        mod $m {
            use super::*;

            /// # Safety
            /// The CPU has the instruction set; see [`super::pack_a`].
            #[target_feature(enable = $feat)]
            unsafe fn pack_a(
                a: &Mat,
                r0: usize,
                rows: usize,
                pc: usize,
                kc: usize,
                ap: &mut [f32],
            ) {
                super::pack_a::<$s>(a, r0, rows, pc, kc, ap)
            }

            /// # Safety
            /// The CPU has the instruction set; see [`super::pack_b_group`].
            #[target_feature(enable = $feat)]
            unsafe fn pack_b_group(
                b: &Mat,
                pc: usize,
                kc: usize,
                j0: usize,
                left: usize,
                dst: &mut [f32],
            ) {
                super::pack_b_group::<$s>(b, pc, kc, j0, left, dst)
            }

            /// # Safety
            /// The CPU has the instruction set; see [`super::block`].
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn block(
                kc: usize,
                apack: &[f32],
                rows: usize,
                bpack: &[f32],
                cols: usize,
                c: *mut f32,
                ldc: usize,
                first: bool,
            ) {
                super::block::<$s>(kc, apack, rows, bpack, cols, c, ldc, first)
            }

            /// The entry points.
            pub(crate) const ENTRY: Entry = Entry {
                isa: $isa,
                mr: <$s as Simd>::MR,
                nr: <$s as Simd>::NV * <$s as Simd>::LANES,
                pack_a,
                pack_b_group,
                block,
            };
        }
    };
}

#[cfg(target_arch = "x86_64")]
entry_points!(avx512, Avx512, Isa::Avx512, "avx512f");
#[cfg(target_arch = "x86_64")]
entry_points!(avx2, Avx2, Isa::Avx2, "avx2,fma");
#[cfg(target_arch = "aarch64")]
entry_points!(neon, Neon, Isa::Neon, "neon");

/// Columns of `S`'s register tile.
#[inline(always)]
pub(crate) const fn nr<S: Simd>() -> usize {
    S::NV * S::LANES
}

/// `c (rows x cols, row stride ldc) (=|+=) apack @ bpack` for one k block: `apack` holds
/// `rows.div_ceil(MR)` packed (kc x MR) panels, `bpack` `cols.div_ceil(NR)` (kc x NR) ones.
///
/// # Safety
/// The CPU runs `S`, and this is inlined into a function compiled for it (see `simd.rs`); `c`
/// points to a `rows x cols` block (row stride `ldc`) that only this call accesses; the packs
/// hold at least the panels named above.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<S: Simd>(
    kc: usize,
    apack: &[f32],
    rows: usize,
    bpack: &[f32],
    cols: usize,
    c: *mut f32,
    ldc: usize,
    first: bool,
) {
    let (mr, nr) = (S::MR, nr::<S>());
    let tiles = rows.div_ceil(mr);
    let panels = cols.div_ceil(nr);
    assert!(apack.len() >= tiles * kc * mr && bpack.len() >= panels * kc * nr);
    for jb in 0..panels {
        let bp = bpack.as_ptr().add(jb * kc * nr);
        let w = nr.min(cols - jb * nr);
        for t in 0..tiles {
            let ap = apack.as_ptr().add(t * kc * mr);
            let h = mr.min(rows - t * mr);
            let ct = c.add(t * mr * ldc + jb * nr);
            // SAFETY: the panels are inside the packs (asserted above) and the tile
            // (h x w at ct) inside this call's block of c.
            tile_any::<S>(kc, ap, bp, ct, ldc, h, w, first);
        }
    }
}

/// [`tile`] with the fewest rows (a third, half, two thirds or all of `S::MR`) and vectors that
/// cover `h x w` (rows are independent, so the choice never changes a result).
///
/// # Safety
/// As for [`tile`], with `h <= S::MR` and `w <= NV * LANES`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile_any<S: Simd>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    h: usize,
    w: usize,
    first: bool,
) {
    let args = (kc, a, b, c, ldc, h, w, first);
    macro_rules! go {
        ($($mr:literal: $r1:literal $r2:literal $r3:literal $r4:literal),*) => {
            match (S::MR, w > S::LANES) {
                $(($mr, true) if h <= $r1 => tile::<S, $r1, 2>(args),
                  ($mr, true) if h <= $r2 => tile::<S, $r2, 2>(args),
                  ($mr, true) if h <= $r3 => tile::<S, $r3, 2>(args),
                  ($mr, true) => tile::<S, $r4, 2>(args),
                  ($mr, false) if h <= $r1 => tile::<S, $r1, 1>(args),
                  ($mr, false) if h <= $r2 => tile::<S, $r2, 1>(args),
                  ($mr, false) if h <= $r3 => tile::<S, $r3, 1>(args),
                  ($mr, false) => tile::<S, $r4, 1>(args),)*
                _ => unreachable!("no register tile for {} rows", S::MR),
            }
        };
    }
    go!(12: 4 6 8 12, 6: 2 3 4 6)
}

/// The register tile: `c[..h, ..w] (=|+=) a (R x kc) @ b (kc x V LANES)`, with `a` packed by k
/// with row stride `S::MR` and `b` with row stride `S::NV * S::LANES`; h <= R, w <= V LANES.
/// (The arguments come as one tuple: `(kc, a, b, c, ldc, h, w, first)`.)
///
/// # Safety
/// As for [`block`]; `a` and `b` hold kc packed rows; `c` points to an h x w block with row
/// stride `ldc` that nothing else accesses during the call.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn tile<S: Simd, const R: usize, const V: usize>(
    (kc, a, b, c, ldc, h, w, first): (
        usize,
        *const f32,
        *const f32,
        *mut f32,
        usize,
        usize,
        usize,
        bool,
    ),
) {
    let l = S::LANES;
    let mut acc = [[S::zero(); V]; R];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let mut bv = [S::zero(); V];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = S::load(b.add(l * v));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = S::splat(*a.add(i));
            for (x, &y) in row.iter_mut().zip(&bv) {
                *x = S::fma(ai, y, *x);
            }
        }
        a = a.add(S::MR);
        b = b.add(nr::<S>());
    }
    if h == R && w == l * V {
        for (i, row) in acc.iter().enumerate() {
            let cr = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let p = cr.add(l * v);
                let y = if first { x } else { S::add(S::load(p), x) };
                S::store(p, y);
            }
        }
    } else {
        for (i, row) in acc.iter().enumerate().take(h) {
            let cr = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let lanes = w.saturating_sub(l * v).min(l);
                if lanes == 0 {
                    break;
                }
                let p = cr.add(l * v);
                let y = if first {
                    x
                } else {
                    S::add(S::load_partial(p, lanes), x)
                };
                S::store_partial(p, lanes, y);
            }
        }
    }
}

/// Packs the `dst.len() / (kc * NR)` panels of b from column j0 on (see [`pack_b`]); `left`
/// columns of b are left from j0 on.
///
/// # Safety
/// As for [`block`]; the block lies inside `b` (checked by [`Mat::new`]).
#[inline(always)]
unsafe fn pack_b_group<S: Simd>(
    b: &Mat,
    pc: usize,
    kc: usize,
    j0: usize,
    left: usize,
    dst: &mut [f32],
) {
    let nr = nr::<S>();
    let np = dst.len() / (kc * nr);
    let full = np.min(left / nr);
    if b.cs == 1 && full > 0 {
        // row by row: reads of b stay sequential
        let out = dst.as_mut_ptr();
        for p in 0..kc {
            let src = b.ptr(pc + p, j0);
            for q in 0..full {
                // SAFETY: row pc + p, columns j0 + nr q .. + nr are inside b; panel q of
                // dst holds kc rows of nr.
                let (s, d) = (src.add(q * nr), out.add(q * kc * nr + p * nr));
                for v in 0..S::NV {
                    S::store(d.add(v * S::LANES), S::load(s.add(v * S::LANES)));
                }
            }
        }
        for (q, panel) in dst.chunks_exact_mut(kc * nr).enumerate().skip(full) {
            pack_b::<S>(b, pc, kc, j0 + q * nr, nr.min(left - q * nr), panel);
        }
    } else {
        for (q, panel) in dst.chunks_exact_mut(kc * nr).enumerate() {
            pack_b::<S>(b, pc, kc, j0 + q * nr, nr.min(left - q * nr), panel);
        }
    }
}

/// Packs `b[pc .. pc + kc, j0 .. j0 + cols]` as a (kc x NR) row-major panel, zero past `cols`.
///
/// # Safety
/// As for [`block`]; the block lies inside `b` (checked by [`Mat::new`]).
#[inline(always)]
pub(crate) unsafe fn pack_b<S: Simd>(
    b: &Mat,
    pc: usize,
    kc: usize,
    j0: usize,
    cols: usize,
    panel: &mut [f32],
) {
    let (l, nr) = (S::LANES, nr::<S>());
    let panel = &mut panel[..kc * nr];
    let out = panel.as_mut_ptr();
    if b.cs == 1 && cols == nr {
        for p in 0..kc {
            let src = b.ptr(pc + p, j0);
            // SAFETY: row pc + p, columns j0 .. j0 + nr are inside b; the panel row too.
            for v in 0..S::NV {
                S::store(out.add(p * nr + v * l), S::load(src.add(v * l)));
            }
        }
        return;
    }
    if b.rs == 1 && b.cs != 1 {
        // b[p, j] = data[off + p + j * cs]: columns of b are contiguous; LANES x LANES
        // transposes.
        let full = cols / l;
        let kfull = kc / l * l;
        let mut r = [S::zero(); 16];
        let r = &mut r[..l];
        for hv in 0..full {
            for p0 in (0..kfull).step_by(l) {
                for (j, x) in r.iter_mut().enumerate() {
                    // SAFETY: column j0 + l hv + j, rows pc + p0 .. + l are inside b.
                    *x = S::load(b.ptr(pc + p0, j0 + l * hv + j));
                }
                S::transpose(r);
                for (q, &x) in r.iter().enumerate() {
                    S::store(out.add((p0 + q) * nr + l * hv), x);
                }
            }
            for p in kfull..kc {
                for j in 0..l {
                    panel[p * nr + l * hv + j] = b.at(pc + p, j0 + l * hv + j);
                }
            }
        }
        for p in 0..kc {
            for j in l * full..nr {
                panel[p * nr + j] = if j < cols { b.at(pc + p, j0 + j) } else { 0.0 };
            }
        }
        return;
    }
    for p in 0..kc {
        for j in 0..nr {
            panel[p * nr + j] = if j < cols { b.at(pc + p, j0 + j) } else { 0.0 };
        }
    }
}

/// Packs `a[r0 .. r0 + rows, pc .. pc + kc]` as `rows.div_ceil(MR)` (kc x MR) panels (row
/// stride MR), zero past `rows`.
///
/// # Safety
/// As for [`block`]; the block lies inside `a` (checked by [`Mat::new`]).
#[inline(always)]
pub(crate) unsafe fn pack_a<S: Simd>(
    a: &Mat,
    r0: usize,
    rows: usize,
    pc: usize,
    kc: usize,
    ap: &mut [f32],
) {
    let (l, mr) = (S::LANES, S::MR);
    // the tile's rows as groups of up to LANES (one group unless LANES < MR)
    let groups = mr.div_ceil(l);
    let tiles = rows.div_ceil(mr);
    for t in 0..tiles {
        let panel = &mut ap[t * kc * mr..(t + 1) * kc * mr];
        let out = panel.as_mut_ptr();
        let i0 = r0 + t * mr;
        let h = mr.min(rows - t * mr);
        if a.cs == 1 && a.rs != 1 {
            // rows of a are contiguous: LANES x LANES transposes of (rows, LANES k) blocks.
            let kfull = kc / l * l;
            let mut r = [S::zero(); 16];
            let r = &mut r[..l];
            for p0 in (0..kfull).step_by(l) {
                for g in 0..groups {
                    let (g0, gw) = (g * l, l.min(mr - g * l));
                    for (i, x) in r.iter_mut().enumerate() {
                        // SAFETY: row i0 + g0 + i, columns pc + p0 .. + l are inside a.
                        *x = if g0 + i < h {
                            S::load(a.ptr(i0 + g0 + i, pc + p0))
                        } else {
                            S::zero()
                        };
                    }
                    S::transpose(r);
                    for (q, &x) in r.iter().enumerate() {
                        // a group narrower than LANES (MR < LANES) stores whole vectors, whose
                        // tail the next panel row overwrites (stores in order); the very last
                        // row of the panel takes a partial store so as not to write past it.
                        let d = out.add((p0 + q) * mr + g0);
                        if gw == l || (groups == 1 && p0 + q + 1 < kc) {
                            S::store(d, x);
                        } else {
                            S::store_partial(d, gw, x);
                        }
                    }
                }
            }
            for p in kfull..kc {
                for i in 0..mr {
                    panel[p * mr + i] = if i < h { a.at(i0 + i, pc + p) } else { 0.0 };
                }
            }
        } else if a.rs == 1 {
            // columns of a are contiguous: one partial copy per k and group of rows.
            for p in 0..kc {
                for g in 0..groups {
                    let (g0, gw) = (g * l, l.min(mr - g * l));
                    let n = h.saturating_sub(g0).min(l);
                    // SAFETY: rows i0 + g0 .. + n of column pc + p are inside a; the lanes
                    // past n are not read.
                    let x = if n > 0 {
                        S::load_partial(a.ptr(i0 + g0, pc + p), n)
                    } else {
                        S::zero()
                    };
                    S::store_partial(out.add(p * mr + g0), gw, x);
                }
            }
        } else {
            for p in 0..kc {
                for i in 0..mr {
                    panel[p * mr + i] = if i < h { a.at(i0 + i, pc + p) } else { 0.0 };
                }
            }
        }
    }
}
