//! A packed f32 product for CPUs with AVX-512 (BLIS-style loops around a 12 x 32 register tile
//! written with AVX-512 intrinsics).
//!
//! Determinism: every element of the result is computed by one task, over the same blocks along
//! k (chosen from k alone), added in order, so it does not depend on the number of threads nor on
//! how the work is split into tasks.

use super::batch_offsets;
use crate::cpu::par;
use crate::Layout;
use std::arch::x86_64::*;
use std::sync::Mutex;

/// Rows of the register tile (12 x 2 zmm accumulators).
pub(crate) const MR: usize = 12;
/// Columns of the register tile (two 16-lane vectors).
pub(crate) const NR: usize = 32;

/// Blocking of one product. The result depends on `kc` alone, which is fixed by the shape;
/// `mc`, `nc` and `par` follow the thread count too.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    /// Maximum depth of a k block; k is cut into equal blocks of at most this size.
    pub kc: usize,
    /// Rows of C per task (rounded up to a multiple of [`MR`]).
    pub mc: usize,
    /// Columns of C per task (rounded up to a multiple of [`NR`]).
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

/// Whether this CPU has the instructions the kernels use.
fn detected() -> bool {
    crate::cpu::isa::has_avx512()
}

/// `a @ b` (f32, batched as in [`super::matmul`]), or `None` when this path does not apply.
pub(super) fn matmul(a: &[f32], al: &Layout, b: &[f32], bl: &Layout) -> Option<Vec<f32>> {
    let r = al.dims().len();
    let (m, k, n) = (al.dims()[r - 2], al.dims()[r - 1], bl.dims()[r - 1]);
    // narrow results (the last layer of a classifier) waste most of a 32-column tile
    if m * n * k < MIN_MACS || n < MIN_N || !detected() {
        return None;
    }
    Some(matmul_with(a, al, b, bl, params(m, k, n)))
}

/// [`matmul`] with the given blocking.
pub(super) fn matmul_with(a: &[f32], al: &Layout, b: &[f32], bl: &Layout, p: Params) -> Vec<f32> {
    assert!(detected());
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
        gemm(m, n, k, a, b, unsafe { c.get().add(i * m * n) }, p);
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

    #[inline]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[self.off + i * self.rs + j * self.cs]
    }

    /// Pointer to element (i, j); in bounds when (i, j) is an element of the view.
    #[inline]
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

/// One piece of packing work: a (kc x MR) panel of a or a (kc x NR) panel of b.
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
/// Both operands are packed whole first (a as (kc x MR) panels per k block, b as (kc x NR)
/// panels), then tasks of `mc x nc` of c each run all the k blocks in order.
fn gemm(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: *mut f32, p: Params) {
    let (tiles, panels) = (m.div_ceil(MR), n.div_ceil(NR));
    let (alen, blen) = (k * tiles * MR, k * panels * NR);
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
            let (ab, rest) = ar.split_at_mut(kc * tiles * MR);
            ar = rest;
            for (t, dst) in ab.chunks_exact_mut(kc * MR).enumerate() {
                jobs.push(PackJob {
                    pc,
                    kc,
                    at: t * MR,
                    is_a: true,
                    dst,
                });
            }
            let (bb, rest) = br.split_at_mut(kc * panels * NR);
            br = rest;
            for (j, dst) in bb.chunks_mut(B_GROUP * kc * NR).enumerate() {
                jobs.push(PackJob {
                    pc,
                    kc,
                    at: j * B_GROUP * NR,
                    is_a: false,
                    dst,
                });
            }
        }
        let pack = |j: PackJob| {
            // SAFETY: avx512f was detected (`matmul_with`); the panels lie inside a and b.
            unsafe {
                if j.is_a {
                    pack_a(&a, j.at, MR.min(m - j.at), j.pc, j.kc, j.dst)
                } else {
                    pack_b_group(&b, j.pc, j.kc, j.at, n - j.at, j.dst)
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
    let mc = p.mc.div_ceil(MR).max(1) * MR;
    let nc = p.nc.div_ceil(NR).max(1) * NR;
    let (row_blocks, col_blocks) = (m.div_ceil(mc), n.div_ceil(nc));
    let c = CPtr(c);
    let task = |t: usize| {
        let (r0, c0) = (t / col_blocks * mc, t % col_blocks * nc);
        let (rows, cols) = (mc.min(m - r0), nc.min(n - c0));
        for (pc, kc) in k_blocks(k, p.kc) {
            let ap = &apack[pc * tiles * MR + r0 * kc..];
            let bp = &bpack[pc * panels * NR + c0 * kc..];
            // SAFETY: avx512f was detected; the task writes only the block (r0.., c0..)
            // of c, which no other task touches, and c outlives the tasks.
            unsafe { block(kc, ap, rows, bp, cols, c.get().add(r0 * n + c0), n, pc == 0) };
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

/// `c (rows x cols, row stride ldc) (=|+=) apack @ bpack` for one k block: `apack` holds
/// `rows.div_ceil(MR)` packed (kc x MR) panels, `bpack` `cols.div_ceil(NR)` (kc x NR) ones.
///
/// # Safety
/// avx512f is available; `c` points to a `rows x cols` block (row stride `ldc`) that only
/// this call accesses; the packs hold at least the panels named above.
#[target_feature(enable = "avx512f")]
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
    let tiles = rows.div_ceil(MR);
    let panels = cols.div_ceil(NR);
    assert!(apack.len() >= tiles * kc * MR && bpack.len() >= panels * kc * NR);
    for jb in 0..panels {
        let bp = bpack.as_ptr().add(jb * kc * NR);
        let w = NR.min(cols - jb * NR);
        for t in 0..tiles {
            let ap = apack.as_ptr().add(t * kc * MR);
            let h = MR.min(rows - t * MR);
            let ct = c.add(t * MR * ldc + jb * NR);
            // SAFETY: the panels are inside the packs (asserted above) and the tile
            // (h x w at ct) inside this call's block of c.
            match (h.div_ceil(4), w > 16) {
                (3, true) => tile::<12, 2>(kc, ap, bp, ct, ldc, h, w, first),
                (2, true) => tile::<8, 2>(kc, ap, bp, ct, ldc, h, w, first),
                (1, true) => tile::<4, 2>(kc, ap, bp, ct, ldc, h, w, first),
                (3, false) => tile::<12, 1>(kc, ap, bp, ct, ldc, h, w, first),
                (2, false) => tile::<8, 1>(kc, ap, bp, ct, ldc, h, w, first),
                _ => tile::<4, 1>(kc, ap, bp, ct, ldc, h, w, first),
            }
        }
    }
}

/// The register tile: `c[..h, ..w] (=|+=) a (R x kc) @ b (kc x 16V)`, with `a` packed by k
/// with row stride [`MR`] and `b` with row stride [`NR`]; h <= R, w <= 16 V.
///
/// # Safety
/// avx512f is available; `a` and `b` hold kc packed rows; `c` points to an h x w block with
/// row stride `ldc` that nothing else accesses during the call.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile<const R: usize, const V: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    h: usize,
    w: usize,
    first: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let mut bv = [_mm512_setzero_ps(); V];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = _mm512_loadu_ps(b.add(16 * v));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm512_set1_ps(*a.add(i));
            for (x, &y) in row.iter_mut().zip(&bv) {
                *x = _mm512_fmadd_ps(ai, y, *x);
            }
        }
        a = a.add(MR);
        b = b.add(NR);
    }
    if h == R && w == 16 * V {
        for (i, row) in acc.iter().enumerate() {
            let cr = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let p = cr.add(16 * v);
                let y = if first {
                    x
                } else {
                    _mm512_add_ps(_mm512_loadu_ps(p), x)
                };
                _mm512_storeu_ps(p, y);
            }
        }
    } else {
        for (i, row) in acc.iter().enumerate().take(h) {
            let cr = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let lanes = w.saturating_sub(16 * v).min(16);
                if lanes == 0 {
                    break;
                }
                let mask: __mmask16 = ((1u32 << lanes) - 1) as u16;
                let p = cr.add(16 * v);
                let y = if first {
                    x
                } else {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(mask, p), x)
                };
                _mm512_mask_storeu_ps(p, mask, y);
            }
        }
    }
}

/// One 12 x 32 tile (for a timing test): `c = a @ b` with packed `a` and `b` of depth kc.
#[cfg(test)]
pub(super) fn bench_tile(kc: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(detected() && a.len() >= kc * MR && b.len() >= kc * NR && c.len() >= MR * NR);
    // SAFETY: checked above.
    unsafe { tile::<12, 2>(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), NR, MR, NR, true) }
}

/// Transposes 16 vectors (rows) in place: `r[i][j]` becomes `r[j][i]`.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn transpose16(r: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for i in 0..4 {
        r[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
    }
    for h in 0..2 {
        for j in 0..4 {
            t[8 * h + j] = _mm512_shuffle_f32x4::<0x88>(r[8 * h + j], r[8 * h + 4 + j]);
            t[8 * h + 4 + j] = _mm512_shuffle_f32x4::<0xDD>(r[8 * h + j], r[8 * h + 4 + j]);
        }
    }
    for j in 0..8 {
        r[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
        r[8 + j] = _mm512_shuffle_f32x4::<0xDD>(t[j], t[8 + j]);
    }
}

/// Packs the `dst.len() / (kc * NR)` panels of b from column j0 on (see [`pack_b`]); `left`
/// columns of b are left from j0 on.
///
/// # Safety
/// avx512f is available; the block lies inside `b` (checked by [`Mat::new`]).
#[target_feature(enable = "avx512f")]
unsafe fn pack_b_group(b: &Mat, pc: usize, kc: usize, j0: usize, left: usize, dst: &mut [f32]) {
    let np = dst.len() / (kc * NR);
    let full = np.min(left / NR);
    if b.cs == 1 && full > 0 {
        // row by row: reads of b stay sequential
        let out = dst.as_mut_ptr();
        for p in 0..kc {
            let src = b.ptr(pc + p, j0);
            for q in 0..full {
                // SAFETY: row pc + p, columns j0 + 32 q .. + 32 are inside b; panel q of
                // dst holds kc rows of NR.
                let (s, d) = (src.add(q * NR), out.add(q * kc * NR + p * NR));
                _mm512_storeu_ps(d, _mm512_loadu_ps(s));
                _mm512_storeu_ps(d.add(16), _mm512_loadu_ps(s.add(16)));
            }
        }
        for (q, panel) in dst.chunks_exact_mut(kc * NR).enumerate().skip(full) {
            pack_b(b, pc, kc, j0 + q * NR, NR.min(left - q * NR), panel);
        }
    } else {
        for (q, panel) in dst.chunks_exact_mut(kc * NR).enumerate() {
            pack_b(b, pc, kc, j0 + q * NR, NR.min(left - q * NR), panel);
        }
    }
}

/// Packs `b[pc .. pc + kc, j0 .. j0 + cols]` as a (kc x NR) row-major panel, zero past `cols`.
///
/// # Safety
/// avx512f is available; the block lies inside `b` (checked by [`Mat::new`]).
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn pack_b(
    b: &Mat,
    pc: usize,
    kc: usize,
    j0: usize,
    cols: usize,
    panel: &mut [f32],
) {
    let panel = &mut panel[..kc * NR];
    let out = panel.as_mut_ptr();
    if b.cs == 1 && cols == NR {
        for p in 0..kc {
            let src = b.ptr(pc + p, j0);
            // SAFETY: row pc + p, columns j0 .. j0 + 32 are inside b; the panel row too.
            _mm512_storeu_ps(out.add(p * NR), _mm512_loadu_ps(src));
            _mm512_storeu_ps(out.add(p * NR + 16), _mm512_loadu_ps(src.add(16)));
        }
        return;
    }
    if b.rs == 1 && b.cs != 1 {
        // b[p, j] = data[off + p + j * cs]: columns of b are contiguous; 16 x 16 transposes.
        let full = cols / 16;
        let kfull = kc / 16 * 16;
        for hv in 0..full {
            for p0 in (0..kfull).step_by(16) {
                let mut r = [_mm512_setzero_ps(); 16];
                for (j, x) in r.iter_mut().enumerate() {
                    // SAFETY: column j0 + 16 hv + j, rows pc + p0 .. + 16 are inside b.
                    *x = _mm512_loadu_ps(b.ptr(pc + p0, j0 + 16 * hv + j));
                }
                transpose16(&mut r);
                for (q, &x) in r.iter().enumerate() {
                    _mm512_storeu_ps(out.add((p0 + q) * NR + 16 * hv), x);
                }
            }
            for p in kfull..kc {
                for j in 0..16 {
                    panel[p * NR + 16 * hv + j] = b.at(pc + p, j0 + 16 * hv + j);
                }
            }
        }
        for p in 0..kc {
            for j in 16 * full..NR {
                panel[p * NR + j] = if j < cols { b.at(pc + p, j0 + j) } else { 0.0 };
            }
        }
        return;
    }
    for p in 0..kc {
        for j in 0..NR {
            panel[p * NR + j] = if j < cols { b.at(pc + p, j0 + j) } else { 0.0 };
        }
    }
}

/// Packs `a[r0 .. r0 + rows, pc .. pc + kc]` as `rows.div_ceil(MR)` (kc x MR) panels (row
/// stride MR), zero past `rows`.
///
/// # Safety
/// avx512f is available; the block lies inside `a` (checked by [`Mat::new`]).
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn pack_a(a: &Mat, r0: usize, rows: usize, pc: usize, kc: usize, ap: &mut [f32]) {
    let tiles = rows.div_ceil(MR);
    for t in 0..tiles {
        let panel = &mut ap[t * kc * MR..(t + 1) * kc * MR];
        let out = panel.as_mut_ptr();
        let i0 = r0 + t * MR;
        let h = MR.min(rows - t * MR);
        if a.cs == 1 && a.rs != 1 {
            // rows of a are contiguous: 16 x 16 transposes of (h rows, 16 k) blocks.
            let kfull = kc / 16 * 16;
            for p0 in (0..kfull).step_by(16) {
                let mut r = [_mm512_setzero_ps(); 16];
                for (i, x) in r.iter_mut().enumerate().take(h) {
                    // SAFETY: row i0 + i, columns pc + p0 .. + 16 are inside a.
                    *x = _mm512_loadu_ps(a.ptr(i0 + i, pc + p0));
                }
                transpose16(&mut r);
                for (q, &x) in r.iter().enumerate() {
                    // 16 lanes to the panel row p0 + q of MR = 12 elements: the last 4 are
                    // overwritten by the next row (stores in order); the very last row of
                    // the panel takes a masked store so as not to write past it.
                    if p0 + q + 1 < kc {
                        _mm512_storeu_ps(out.add((p0 + q) * MR), x);
                    } else {
                        _mm512_mask_storeu_ps(out.add((p0 + q) * MR), 0x0fff, x);
                    }
                }
            }
            for p in kfull..kc {
                for i in 0..MR {
                    panel[p * MR + i] = if i < h { a.at(i0 + i, pc + p) } else { 0.0 };
                }
            }
        } else if a.rs == 1 {
            // columns of a are contiguous: one masked copy per k.
            let mask: __mmask16 = ((1u32 << h) - 1) as u16;
            for p in 0..kc {
                // SAFETY: rows i0 .. i0 + h of column pc + p are inside a; masked lanes
                // are not accessed.
                let x = _mm512_maskz_loadu_ps(mask, a.ptr(i0, pc + p));
                _mm512_mask_storeu_ps(out.add(p * MR), 0x0fff, x);
            }
        } else {
            for p in 0..kc {
                for i in 0..MR {
                    panel[p * MR + i] = if i < h { a.at(i0 + i, pc + p) } else { 0.0 };
                }
            }
        }
    }
}
