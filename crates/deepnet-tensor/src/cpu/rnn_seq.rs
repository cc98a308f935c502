//! Whole-sequence LSTM and GRU (one layer, one direction): every time step of the forward, and
//! the whole reverse loop of the backward, in one call instead of a recurrent matmul and a fused
//! cell per step, each a graph node with its own pass over the thread pool.
//!
//! Batch rows never interact through time, so the batch is cut into at most one contiguous
//! slice of rows per thread and each thread runs all `L` steps of its slice on its own, with no
//! synchronization between steps. A step is a small product of the slice's previous states with
//! the recurrent weight ([`super::rnn_gemm`], the weight packed once per call and kept in L2),
//! then the gate nonlinearities and the state update over the slice's rows (vectorized as the
//! single-step cells in [`super::rnn`]). Every row's arithmetic is the same whatever slice it
//! falls in, so results do not depend on the thread count, and (the product being one fma
//! chain per element, the elementwise part the same IEEE operations) not on the instruction
//! set either.
//!
//! The forward keeps, for the backward, the activated gates and the cell state of every step
//! (LSTM: `i, f, g, o, c`, `5H` per row and step; GRU: `r, z, n` and the recurrent product of
//! the candidate, `4H`): the backward then needs one exp per cell (LSTM) or none (GRU) instead
//! of five. The weight gradient `sum_t dgates_t^T h_{t-1}` is one product over all steps after
//! the reverse loop (the crate's parallel GEMM), reading the states straight out of the
//! forward's output, whose rows hold `h0` next to `h_0 .. h_{L-1}` for exactly that.

use super::isa::Isa;
use super::rnn::{sigmoid, tanh, wide};
use super::rnn_gemm::Packed;
use super::{par, Float};
use crate::{Layout, Shape};
use std::mem::MaybeUninit;

/// Slices have at least this many rows: below, a second thread costs more than it saves.
const MIN_ROWS: usize = 4;

/// The sizes and direction of one call: `L` steps of `N` rows of `H` features.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seq {
    pub l: usize,
    pub n: usize,
    pub h: usize,
    pub reverse: bool,
}

impl Seq {
    /// The time of the `k`-th step run.
    fn time(&self, k: usize) -> usize {
        if self.reverse {
            self.l - 1 - k
        } else {
            k
        }
    }
    /// The row of the states (`(L + 1, N, H)`, time order) holding `h_t`.
    fn h_row(&self, t: usize) -> usize {
        t + usize::from(!self.reverse)
    }
    /// The row holding `h0`: before the first step in the order they run.
    pub(crate) fn h0_row(&self) -> usize {
        if self.reverse {
            self.l
        } else {
            0
        }
    }
    /// The row holding the state the step at time `t` starts from.
    fn prev_row(&self, t: usize) -> usize {
        t + usize::from(self.reverse)
    }
    /// The first of the `L` consecutive rows that hold the state each step starts from, in
    /// time order (what the weight gradient multiplies with).
    pub(crate) fn prev_rows(&self) -> usize {
        usize::from(self.reverse)
    }
}

/// The batch cut into at most one contiguous slice of rows per thread (`(first, end)`).
fn slices(n: usize) -> Vec<(usize, usize)> {
    let p = crate::num_threads().min(n.div_ceil(MIN_ROWS)).max(1);
    (0..p).map(|s| (s * n / p, (s + 1) * n / p)).collect()
}

/// A buffer that the slices fill, each through its own rows of every step, left uninitialized
/// until they do.
struct Rows<T> {
    ptr: *mut T,
    len: usize,
}
// SAFETY: the tasks that share a `Rows` access disjoint ranges of it (each its own batch rows).
unsafe impl<T: Send> Send for Rows<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Rows<T> {}

impl<T> Rows<T> {
    /// The spare capacity of `v` (at least `len`), to be written.
    fn new(v: &mut Vec<T>, len: usize) -> Rows<T> {
        assert!(v.capacity() >= len);
        Rows {
            ptr: v.as_mut_ptr(),
            len,
        }
    }
    /// Elements `start .. start + len`, to write.
    ///
    /// # Safety
    /// In bounds, and no other live borrow overlaps them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn put(&self, start: usize, len: usize) -> &mut [MaybeUninit<T>] {
        assert!(start + len <= self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(start).cast(), len)
    }
    /// Elements `start .. start + len`, already written.
    ///
    /// # Safety
    /// In bounds, written before, and not borrowed mutably meanwhile.
    unsafe fn get(&self, start: usize, len: usize) -> &[T] {
        assert!(start + len <= self.len);
        std::slice::from_raw_parts(self.ptr.add(start), len)
    }
}

/// A vector of `len` elements that `fill` writes whole through a [`Rows`].
fn filled<T: Send>(len: usize, fill: impl FnOnce(&Rows<T>)) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    fill(&Rows::new(&mut v, len));
    // SAFETY: every caller's `fill` writes every element (each slice its rows of each block).
    unsafe { v.set_len(len) };
    v
}

/// Copies `src` into `dst`.
fn write<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        d.write(s);
    }
}

/// `s` cut into its first `K` pieces of `h` (each of length exactly `h`, so the loops over them
/// need no bounds checks and vectorize).
#[inline(always)]
fn split<T, const K: usize>(mut s: &[T], h: usize) -> [&[T]; K] {
    std::array::from_fn(|_| {
        let (a, b) = s.split_at(h);
        s = b;
        a
    })
}

/// [`split`] of a mutable slice.
#[inline(always)]
fn split_mut<T, const K: usize>(mut s: &mut [T], h: usize) -> [&mut [T]; K] {
    std::array::from_fn(|_| {
        let (a, b) = std::mem::take(&mut s).split_at_mut(h);
        s = b;
        a
    })
}

/// Re-slices each named slice to its first `h` elements, shadowing it: inside a loop over
/// `0..h` the compiler then knows every index is in bounds, so the loop has no panic exits
/// and vectorizes without a scalar epilogue.
macro_rules! fit {
    ($h:expr; $($a:ident),*; mut $($m:ident),*) => {
        $(let $a = &$a[..$h];)*
        $(let $m = &mut $m[..$h];)*
    };
}

/// Runs `f(first, end)` for each slice of the batch, one slice per thread.
fn per_slice(n: usize, f: impl Fn(usize, usize) + Sync) {
    let parts = slices(n);
    par::for_each(parts.len(), |k| f(parts[k].0, parts[k].1));
}

/// The whole-sequence LSTM forward. `xp: (L, N, 4H)` the gates' input part, `b: (4H)` the sum
/// of the biases (or none), `w: (4H, H)` the recurrent weight, `h0`, `c0: (N, H)`. Returns the states `(L + 2, N, H)`
/// (`h0` and `h_t` in time order, see [`Seq::h0_row`], then the final cell state) and, with
/// `save`, the reserve `(L, N, 5H)`: the activated gates `i, f, g, o` and `c_t` of each step.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lstm_seq<T: Float>(
    xp: &[T],
    w: &[T],
    b: Option<&[T]>,
    h0: &[T],
    c0: &[T],
    s: Seq,
    save: bool,
    isa: Isa,
) -> (Vec<T>, Vec<T>) {
    let (l, n, h) = (s.l, s.n, s.h);
    let g = 4 * h;
    debug_assert!(xp.len() == l * n * g && w.len() == g * h && h0.len() == n * h);
    // the gates are h @ W^T: b[p][j] = w[j][p]
    let wt = Packed::new(w, h, g, (1, h), isa);
    let ldc = wt.ldc();
    let zeros = vec![T::zero(); g];
    let b = b.unwrap_or(&zeros);
    let mut res = Vec::new();
    let out = filled((l + 2) * n * h, |o| {
        res = filled(if save { l * n * 5 * h } else { 0 }, |r| {
            per_slice(n, |r0, r1| {
                let rows = r1 - r0;
                let mut gates = vec![T::zero(); rows * ldc];
                let mut act = vec![T::zero(); 4 * h];
                let mut c = c0[r0 * h..r1 * h].to_vec();
                // SAFETY (every `put`/`get` below): the slice touches only its rows r0..r1 of
                // each step's block, and reads a state row only after writing it.
                write(
                    unsafe { o.put((s.h0_row() * n + r0) * h, rows * h) },
                    &h0[r0 * h..r1 * h],
                );
                for k in 0..l {
                    let t = s.time(k);
                    let hp = unsafe { o.get((s.prev_row(t) * n + r0) * h, rows * h) };
                    wt.product(hp, h, rows, &mut gates);
                    let ho = unsafe { o.put((s.h_row(t) * n + r0) * h, rows * h) };
                    let x = &xp[(t * n + r0) * g..(t * n + r1) * g];
                    if save {
                        let rs = unsafe { r.put((t * n + r0) * 5 * h, rows * 5 * h) };
                        let gl = (&gates[..], ldc);
                        lstm_rows::<T, true>(isa, h, gl, (x, b), &mut c, ho, rs, &mut act);
                    } else {
                        let (gl, none) = ((&gates[..], ldc), &mut []);
                        lstm_rows::<T, false>(isa, h, gl, (x, b), &mut c, ho, none, &mut act);
                    }
                }
                write(unsafe { o.put(((l + 1) * n + r0) * h, rows * h) }, &c);
            });
        });
    });
    (out, res)
}

/// `out[j] = f(a[j] + (x[j] + b[j]))`: one activation over a gate's pre-activations. A loop of its own,
/// so that the exps of many cells are in flight at once: within one cell, the LSTM's five
/// exps and divisions form a chain that left the vector units mostly waiting (measured: about
/// 4 ns per cell with the whole cell in one loop, AVX-512).
#[inline(always)]
fn activate<T: Float>(out: &mut [T], a: &[T], (x, b): (&[T], &[T]), f: impl Fn(T) -> T) {
    for (((o, &a), &x), &b) in out.iter_mut().zip(a).zip(x).zip(b) {
        *o = f(a + (x + b));
    }
}

/// One LSTM step over a slice's rows: `pre = gates + (x + b)` (i, f, g, o), `c = σ(f) c + σ(i)
/// tanh(g)`, `h = σ(o) tanh(c)`; with `SAVE`, `[σ(i), σ(f), tanh(g), σ(o), c]` into `res`.
/// `act` is scratch for one row's four activations.
#[allow(clippy::too_many_arguments)]
fn lstm_rows<T: Float, const SAVE: bool>(
    isa: Isa,
    h: usize,
    (gates, ldc): (&[T], usize),
    (x, b): (&[T], &[T]),
    c: &mut [T],
    ho: &mut [MaybeUninit<T>],
    res: &mut [MaybeUninit<T>],
    act: &mut [T],
) {
    let rows = c.len() / h.max(1);
    for r in 0..rows {
        let a = &gates[r * ldc..r * ldc + 4 * h];
        let x = &x[r * 4 * h..(r + 1) * 4 * h];
        let [c] = split_mut(&mut c[r * h..], h);
        let [ho] = split_mut(&mut ho[r * h..], h);
        let [si, sf, sg, so, sc] = if SAVE {
            split_mut(&mut res[r * 5 * h..], h)
        } else {
            Default::default()
        };
        wide(
            isa,
            #[inline(always)]
            || {
                let (sig, th) = (sigmoid::<T>, tanh::<T>);
                let act = &mut act[..4 * h];
                let (ifg, o) = act.split_at_mut(3 * h);
                let (if_, g) = ifg.split_at_mut(2 * h);
                let part = |k: usize, e: usize| (&x[k * h..e * h], &b[k * h..e * h]);
                activate(if_, &a[..2 * h], part(0, 2), sig);
                activate(g, &a[2 * h..3 * h], part(2, 3), th);
                activate(o, &a[3 * h..], part(3, 4), sig);
                let [ai, af, ag, ao] = split(act, h);
                fit!(h; ai, af, ag, ao; mut c, ho);
                let (si, sf, sg, so, sc) = if SAVE {
                    (
                        &mut si[..h],
                        &mut sf[..h],
                        &mut sg[..h],
                        &mut so[..h],
                        &mut sc[..h],
                    )
                } else {
                    (si, sf, sg, so, sc)
                };
                for j in 0..h {
                    let (i, f, gg, o) = (ai[j], af[j], ag[j], ao[j]);
                    let cn = f * c[j] + i * gg;
                    c[j] = cn;
                    ho[j].write(o * tanh(cn));
                    if SAVE {
                        si[j].write(i);
                        sf[j].write(f);
                        sg[j].write(gg);
                        so[j].write(o);
                        sc[j].write(cn);
                    }
                }
            },
        );
    }
}

/// The reverse loop of the LSTM backward. `w: (4H, H)`, `c0: (N, H)`, the forward's reserve
/// `res` and `gy: (L + 2, N, H)`, the gradient of its states. Returns `d xp: (L, N, 4H)` (the
/// gradients of the gate pre-activations), `d h0` and `d c0: (N, H)`.
pub(crate) fn lstm_seq_backward<T: Float>(
    w: &[T],
    c0: &[T],
    res: &[T],
    gy: &[T],
    s: Seq,
    isa: Isa,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (l, n, h) = (s.l, s.n, s.h);
    let g = 4 * h;
    debug_assert!(res.len() == l * n * 5 * h && gy.len() == (l + 2) * n * h);
    // d h_prev = dgates @ W: b[p][j] = w[p][j]
    let wp = Packed::new(w, g, h, (h, 1), isa);
    let ldc = wp.ldc();
    let (mut dh0, mut dc0) = (Vec::new(), Vec::new());
    let dxp = filled(l * n * g, |dx| {
        dh0 = filled(n * h, |dh0_rows| {
            dc0 = filled(n * h, |dc0_rows| {
                per_slice(n, |r0, r1| {
                    let rows = r1 - r0;
                    let mut dh = vec![T::zero(); rows * ldc];
                    let mut dc = gy[((l + 1) * n + r0) * h..((l + 1) * n + r1) * h].to_vec();
                    for k in (0..l).rev() {
                        let t = s.time(k);
                        let rt = &res[(t * n + r0) * 5 * h..(t * n + r1) * 5 * h];
                        // c_{t-1}: the previous step's reserve, or c0 (stride, offset)
                        let (cp, stride, off) = if k == 0 {
                            (&c0[r0 * h..r1 * h], h, 0)
                        } else {
                            let tp = s.time(k - 1);
                            (
                                &res[(tp * n + r0) * 5 * h..(tp * n + r1) * 5 * h],
                                5 * h,
                                4 * h,
                            )
                        };
                        let gh = &gy[(s.h_row(t) * n + r0) * h..(s.h_row(t) * n + r1) * h];
                        // SAFETY: the slice's own rows of step t, written here, read below.
                        let d = unsafe { dx.put((t * n + r0) * g, rows * g) };
                        lstm_back_rows(isa, h, (&dh, ldc), gh, rt, (cp, stride, off), &mut dc, d);
                        let d = unsafe { dx.get((t * n + r0) * g, rows * g) };
                        wp.product(d, g, rows, &mut dh);
                    }
                    let g0 = &gy[(s.h0_row() * n + r0) * h..(s.h0_row() * n + r1) * h];
                    // SAFETY: the slice's own rows.
                    let (o, oc) = unsafe {
                        (
                            dh0_rows.put(r0 * h, rows * h),
                            dc0_rows.put(r0 * h, rows * h),
                        )
                    };
                    for r in 0..rows {
                        for j in 0..h {
                            o[r * h + j].write(g0[r * h + j] + dh[r * ldc + j]);
                        }
                    }
                    write(oc, &dc);
                });
            });
        });
    });
    (dxp, dh0, dc0)
}

/// One step of the LSTM backward over a slice's rows: from `dh_rec` (the recurrent part of
/// `dL/dh_t`, row stride given), `gh` (its direct part), the step's reserve `rt` and `c_{t-1}`
/// (`(values, row stride, offset)`), and `dc` (`dL/dc_t` from later steps, updated to
/// `dL/dc_{t-1}`), writes the gate pre-activations' gradients `d`.
#[allow(clippy::too_many_arguments)]
fn lstm_back_rows<T: Float>(
    isa: Isa,
    h: usize,
    (dh_rec, ldc): (&[T], usize),
    gh: &[T],
    rt: &[T],
    (cp, stride, off): (&[T], usize, usize),
    dc: &mut [T],
    d: &mut [MaybeUninit<T>],
) {
    let one = T::one();
    let rows = dc.len() / h.max(1);
    for r in 0..rows {
        let [dr] = split(&dh_rec[r * ldc..], h);
        let [gh] = split(&gh[r * h..], h);
        let [ai, af, ag, ao, ac] = split(&rt[r * 5 * h..], h);
        let [cp] = split(&cp[r * stride + off..], h);
        let [dc] = split_mut(&mut dc[r * h..], h);
        let [di, df, dg, dout] = split_mut(&mut d[r * 4 * h..], h);
        wide(
            isa,
            #[inline(always)]
            || {
                fit!(h; dr, gh, ai, af, ag, ao, ac, cp; mut dc, di, df, dg, dout);
                for j in 0..h {
                    let (i, f, gg, o) = (ai[j], af[j], ag[j], ao[j]);
                    let dh = gh[j] + dr[j];
                    let tc = tanh(ac[j]);
                    // dL/dc_t gathers the later steps' gradient and the one through h_t
                    let dcv = dc[j] + dh * o * (one - tc * tc);
                    di[j].write(dcv * gg * i * (one - i));
                    df[j].write(dcv * cp[j] * f * (one - f));
                    dg[j].write(dcv * i * (one - gg * gg));
                    dout[j].write(dh * tc * o * (one - o));
                    dc[j] = dcv * f;
                }
            },
        );
    }
}

/// The whole-sequence GRU forward (PyTorch's form). `xp: (L, N, 3H)` (`x W_ih^T`), `w:
/// (3H, H)`, the biases `b_ih`, `b_hh: (3H)` (or none), `h0: (N, H)`. Returns the states `(L + 1, N, H)` (as
/// [`lstm_seq`]'s first rows) and, with `save`, the reserve `(L, N, 4H)`: `r, z, n` and the
/// candidate's recurrent part `gh_n = (h W_hn^T + b_hn)` of each step.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gru_seq<T: Float>(
    xp: &[T],
    w: &[T],
    (bi, bh): (Option<&[T]>, Option<&[T]>),
    h0: &[T],
    s: Seq,
    save: bool,
    isa: Isa,
) -> (Vec<T>, Vec<T>) {
    let (l, n, h) = (s.l, s.n, s.h);
    let g = 3 * h;
    debug_assert!(xp.len() == l * n * g && w.len() == g * h && h0.len() == n * h);
    let wt = Packed::new(w, h, g, (1, h), isa);
    let ldc = wt.ldc();
    let zeros = vec![T::zero(); g];
    let b = (bi.unwrap_or(&zeros), bh.unwrap_or(&zeros));
    let mut res = Vec::new();
    let out = filled((l + 1) * n * h, |o| {
        res = filled(if save { l * n * 4 * h } else { 0 }, |r| {
            per_slice(n, |r0, r1| {
                let rows = r1 - r0;
                let mut gates = vec![T::zero(); rows * ldc];
                let mut act = vec![T::zero(); 2 * h];
                // SAFETY (every `put`/`get` below): as in `lstm_seq`.
                write(
                    unsafe { o.put((s.h0_row() * n + r0) * h, rows * h) },
                    &h0[r0 * h..r1 * h],
                );
                for k in 0..l {
                    let t = s.time(k);
                    let hp = unsafe { o.get((s.prev_row(t) * n + r0) * h, rows * h) };
                    wt.product(hp, h, rows, &mut gates);
                    let ho = unsafe { o.put((s.h_row(t) * n + r0) * h, rows * h) };
                    let x = &xp[(t * n + r0) * g..(t * n + r1) * g];
                    if save {
                        let rs = unsafe { r.put((t * n + r0) * 4 * h, rows * 4 * h) };
                        let (gl, a) = ((&gates[..], ldc), &mut act[..]);
                        gru_rows::<T, true>(isa, h, gl, (x, b), hp, (ho, rs), a);
                    } else {
                        let (gl, a) = ((&gates[..], ldc), &mut act[..]);
                        gru_rows::<T, false>(isa, h, gl, (x, b), hp, (ho, &mut []), a);
                    }
                }
            });
        });
    });
    (out, res)
}

/// One GRU step over a slice's rows, with `x' = x + b_ih` and `gh = gates + b_hh`: `r =
/// σ(x'_r + gh_r)`, `z = σ(x'_z + gh_z)`, `n = tanh(x'_n + r gh_n)`, `h = n + z (h_prev - n)`;
/// with `SAVE`, `[r, z, n, gh_n]` into `res`. `act` is scratch for one row's `r` and `z`.
fn gru_rows<T: Float, const SAVE: bool>(
    isa: Isa,
    h: usize,
    (gates, ldc): (&[T], usize),
    (x, (bi, bh)): (&[T], (&[T], &[T])),
    hp: &[T],
    (ho, res): (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]),
    act: &mut [T],
) {
    let rows = hp.len() / h.max(1);
    let [_, _, bin] = split(bi, h);
    let [_, _, bhn] = split(bh, h);
    for r in 0..rows {
        let a = &gates[r * ldc..r * ldc + 3 * h];
        let x = &x[r * 3 * h..(r + 1) * 3 * h];
        let [hp] = split(&hp[r * h..], h);
        let [ho] = split_mut(&mut ho[r * h..], h);
        let [sr, sz, sn, sg] = if SAVE {
            split_mut(&mut res[r * 4 * h..], h)
        } else {
            Default::default()
        };
        wide(
            isa,
            #[inline(always)]
            || {
                // r and z first, each cell's two exps apart from its third (see `activate`)
                let act = &mut act[..2 * h];
                let (x2, a2) = ((&x[..2 * h], &bi[..2 * h]), (&a[..2 * h], &bh[..2 * h]));
                for ((o, (&x, &bx)), (&a, &ba)) in act
                    .iter_mut()
                    .zip(x2.0.iter().zip(x2.1))
                    .zip(a2.0.iter().zip(a2.1))
                {
                    *o = sigmoid((x + bx) + (a + ba));
                }
                let [rr, zz] = split(act, h);
                let (an, xn) = (&a[2 * h..], &x[2 * h..]);
                fit!(h; rr, zz, an, xn, bin, bhn, hp; mut ho);
                let (sr, sz, sn, sg) = if SAVE {
                    (&mut sr[..h], &mut sz[..h], &mut sn[..h], &mut sg[..h])
                } else {
                    (sr, sz, sn, sg)
                };
                for j in 0..h {
                    let (rg, z) = (rr[j], zz[j]);
                    let ghn = an[j] + bhn[j];
                    let nn = tanh((xn[j] + bin[j]) + rg * ghn);
                    ho[j].write(nn + z * (hp[j] - nn));
                    if SAVE {
                        sr[j].write(rg);
                        sz[j].write(z);
                        sn[j].write(nn);
                        sg[j].write(ghn);
                    }
                }
            },
        );
    }
}

/// The reverse loop of the GRU backward. `w: (3H, H)`, the forward's states `out` and reserve
/// `res`, `gy: (L + 1, N, H)`. Returns `d xp: (L, N, 3H)`, `d gh: (L, N, 3H)` (the gradient of
/// `h W_hh^T + b_hh`, which differs from `d xp` in the candidate's third: `d gh_n = r d xp_n`)
/// and `d h0: (N, H)`.
pub(crate) fn gru_seq_backward<T: Float>(
    w: &[T],
    out: &[T],
    res: &[T],
    gy: &[T],
    s: Seq,
    isa: Isa,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (l, n, h) = (s.l, s.n, s.h);
    let g = 3 * h;
    debug_assert!(res.len() == l * n * 4 * h && gy.len() == (l + 1) * n * h);
    let wp = Packed::new(w, g, h, (h, 1), isa);
    let ldc = wp.ldc();
    let (mut dgh, mut dh0) = (Vec::new(), Vec::new());
    let dxp = filled(l * n * g, |dx| {
        dgh = filled(l * n * g, |dg_rows| {
            dh0 = filled(n * h, |dh0_rows| {
                per_slice(n, |r0, r1| {
                    let rows = r1 - r0;
                    let mut dh = vec![T::zero(); rows * ldc];
                    // dL/dh_t through h_{t+1} = n + z (h_t - n) directly, beside the product
                    let mut carry = vec![T::zero(); rows * h];
                    for k in (0..l).rev() {
                        let t = s.time(k);
                        let rt = &res[(t * n + r0) * 4 * h..(t * n + r1) * 4 * h];
                        let hp = &out[(s.prev_row(t) * n + r0) * h..(s.prev_row(t) * n + r1) * h];
                        let gh = &gy[(s.h_row(t) * n + r0) * h..(s.h_row(t) * n + r1) * h];
                        // SAFETY: the slice's own rows of step t, written here, read below.
                        let (a, b) = unsafe {
                            let at = (t * n + r0) * g;
                            (dx.put(at, rows * g), dg_rows.put(at, rows * g))
                        };
                        gru_back_rows(isa, h, (&dh, ldc), gh, rt, hp, &mut carry, (a, b));
                        let d = unsafe { dg_rows.get((t * n + r0) * g, rows * g) };
                        wp.product(d, g, rows, &mut dh);
                    }
                    let g0 = &gy[(s.h0_row() * n + r0) * h..(s.h0_row() * n + r1) * h];
                    // SAFETY: the slice's own rows.
                    let o = unsafe { dh0_rows.put(r0 * h, rows * h) };
                    for r in 0..rows {
                        for j in 0..h {
                            let rec = dh[r * ldc + j] + carry[r * h + j];
                            o[r * h + j].write(g0[r * h + j] + rec);
                        }
                    }
                });
            });
        });
    });
    (dxp, dgh, dh0)
}

/// One step of the GRU backward over a slice's rows: `dL/dh_t = gh + (dh_rec + carry)`, then
/// the gates' gradients into `d xp` and `d gh`, and `carry = dL/dh_t z` for the step before.
#[allow(clippy::too_many_arguments)]
fn gru_back_rows<T: Float>(
    isa: Isa,
    h: usize,
    (dh_rec, ldc): (&[T], usize),
    gh: &[T],
    rt: &[T],
    hp: &[T],
    carry: &mut [T],
    (dx, dg): (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]),
) {
    let one = T::one();
    let rows = carry.len() / h.max(1);
    for r in 0..rows {
        let [dr] = split(&dh_rec[r * ldc..], h);
        let [gh] = split(&gh[r * h..], h);
        let [ar, az, an, ag] = split(&rt[r * 4 * h..], h);
        let [hp] = split(&hp[r * h..], h);
        let [carry] = split_mut(&mut carry[r * h..], h);
        let [xr, xz, xn] = split_mut(&mut dx[r * 3 * h..], h);
        let [gr, gz, gn] = split_mut(&mut dg[r * 3 * h..], h);
        wide(
            isa,
            #[inline(always)]
            || {
                fit!(h; dr, gh, ar, az, an, ag, hp; mut carry, xr, xz, xn, gr, gz, gn);
                for j in 0..h {
                    let (rg, z, nn, ghn) = (ar[j], az[j], an[j], ag[j]);
                    let dh = gh[j] + (dr[j] + carry[j]);
                    // through n's pre-activation x_n + r gh_n
                    let dn = dh * (one - z) * (one - nn * nn);
                    let drg = dn * ghn * rg * (one - rg);
                    let dz = dh * (hp[j] - nn) * z * (one - z);
                    xr[j].write(drg);
                    xz[j].write(dz);
                    xn[j].write(dn);
                    gr[j].write(drg);
                    gz[j].write(dz);
                    gn[j].write(dn * rg);
                    carry[j] = dh * z;
                }
            },
        );
    }
}

/// The recurrent weight's gradient `sum_t dg_t^T h_prev_t: (G*H, H)` from the gates'
/// gradients `dg: (L, N, G*H)` and the forward's states `out` (the `L` rows from
/// [`Seq::prev_rows`] on are each step's previous state): one product over all steps, the
/// crate's parallel GEMM. It is computed transposed, `H_prev^T dg: (H, G*H)`, and transposed
/// back: that way the long operand, `dg`, is packed by reading its rows in order (measured,
/// 1 thread, the benchmark's LSTM: about 2.7 ms, against 3.2 ms for a kernel that read `dg`
/// in place, whose 2 KiB row stride maps a tile's column onto two sets of the L1 cache).
pub(crate) fn weight_grad<T: Float>(dg: &[T], g: usize, out: &[T], s: Seq) -> Vec<T> {
    let (m, h) = (s.l * s.n, s.h);
    if m == 0 || h == 0 || g == 0 {
        return vec![T::zero(); g * h];
    }
    let al = Layout::new(Shape::new(vec![h, m]), vec![1, h], s.prev_rows() * s.n * h);
    let bl = Layout::new(Shape::new(vec![m, g]), vec![g, 1], 0);
    let wt = super::matmul::matmul_slices(out, &al, dg, &bl);
    // w[q][p] = wt[p][q], in 16 x 16 blocks (both strides are powers of two in practice)
    let mut w = vec![T::zero(); g * h];
    const B: usize = 16;
    for q0 in (0..g).step_by(B) {
        for p0 in (0..h).step_by(B) {
            for q in q0..(q0 + B).min(g) {
                for p in p0..(p0 + B).min(h) {
                    w[q * h + p] = wt[p * g + q];
                }
            }
        }
    }
    w
}

/// `sum_r m[r][..]` over the rows of `m: (rows, cols)`, each column in row order (the biases'
/// gradients), blocks of columns in parallel.
pub(crate) fn column_sums<T: Float>(m: &[T], cols: usize, isa: Isa) -> Vec<T> {
    const BLOCK: usize = 128;
    let mut s = vec![T::zero(); cols];
    if cols == 0 {
        return s;
    }
    par::chunks_mut(&mut s, BLOCK, |k, out| {
        let c0 = k * BLOCK;
        wide(
            isa,
            #[inline(always)]
            || {
                for row in m.chunks_exact(cols) {
                    for (a, &v) in out.iter_mut().zip(&row[c0..]) {
                        *a += v;
                    }
                }
            },
        );
    });
    s
}

#[cfg(test)]
#[path = "rnn_seq_tests.rs"]
mod tests;
