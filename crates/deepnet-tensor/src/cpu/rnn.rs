//! Fused recurrent cells: the gate nonlinearities and the state update of one LSTM or GRU step
//! in one pass over `(N, H)`, and their backwards in one pass in reverse. The matrix products
//! that feed the gates stay outside (they are GEMMs); what is fused here is the ~15 elementwise
//! ops per step that would otherwise each read and write `(N, H)` and leave a graph node.
//!
//! Every operand is a contiguous row-major slice (the backend adapter copies views once). The
//! backwards recompute the activations from the pre-activations instead of storing them.
//! Measured on the MNIST LSTM (N = 64, H = 128, f32, one thread): the fused forward takes about
//! 28 us, under 4% of a ~790 us training step, so storing the activations could save at most
//! that, at the price of another `(N, 4H)` buffer per step kept alive until the backward.
//!
//! Parallelism: rows are split into tasks of a fixed number of rows that depends on `H` only,
//! and every row is computed on its own, so results do not depend on the thread count.

use super::isa::Isa;
use super::{par, Float};

/// Cells per parallel task: each cell costs about five exps, so tasks are much smaller than the
/// elementwise kernels' [`super::MIN_TASK`]; an MNIST-sized step (64 x 128) is one task.
const CELLS_PER_TASK: usize = 1 << 14;

/// Rows per task for a hidden size `h`.
fn rows_per_task(h: usize) -> usize {
    (CELLS_PER_TASK / h.max(1)).max(1)
}

/// The logistic sigmoid `1 / (1 + e^-x)` of the recurrent cells, with the gate exp
/// ([`Float::exp_gate`]: for f32 a fused multiply-add polynomial on an argument clamped to
/// ±87, about half the work of the general exp, which made the cell nonlinearities cost nearly
/// as much as the recurrent products). No branch, so the loops over it vectorize. The per-step
/// cells here and the whole-sequence kernels ([`super::rnn_seq`]) share it, so that the two
/// paths give the same bits.
#[inline(always)]
pub(super) fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp_gate())
}

/// `tanh x = 1 - 2 / (1 + e^2x)` with the gate exp: ±1 at the extremes without a branch. Near
/// 0 it is accurate to a few ulp of 1 rather than of `x`, an absolute error far below what the
/// state's sums round anyway.
#[inline(always)]
pub(super) fn tanh<T: Float>(x: T) -> T {
    let two = T::one() + T::one();
    T::one() - two / (T::one() + (two * x).exp_gate())
}

/// Splits a row of three gates `(3h)` into its gates.
fn thirds<T>(row: &[T], h: usize) -> (&[T], &[T], &[T]) {
    let (a, rest) = row.split_at(h);
    let (b, c) = rest.split_at(h);
    (a, b, c)
}

/// [`thirds`] of a mutable row.
fn thirds_mut<T>(row: &mut [T], h: usize) -> (&mut [T], &mut [T], &mut [T]) {
    let (a, rest) = row.split_at_mut(h);
    let (b, c) = rest.split_at_mut(h);
    (a, b, c)
}

/// Runs `f` compiled for the widest vectors the CPU has, so that the loop inside vectorizes with
/// them (the crate is built for the baseline x86-64). Every instruction set performs the same
/// IEEE operations (Rust never fuses a multiply and an add; an explicit `mul_add` is one
/// rounding everywhere, a single instruction with FMA), so results are the same bits.
#[inline(always)]
pub(super) fn wide<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if isa >= Isa::Avx512 {
            // SAFETY: the CPU has AVX-512F (checked above).
            return unsafe { wide_avx512(f) };
        }
        if isa >= Isa::Avx2 {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { wide_avx2(f) };
        }
    }
    let _ = isa;
    f()
}

/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn wide_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// # Safety
/// The CPU has AVX2 and FMA (what [`Isa::Avx2`] stands for).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn wide_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The LSTM step. `gates: (n, 4h)` holds the pre-activations of i, f, g, o (PyTorch's order),
/// `cp: (n, h)` the previous cell state. Returns `[h' | c']` as one `(n, 2h)` buffer:
/// `c' = σ(f) c + σ(i) tanh(g)`, `h' = σ(o) tanh(c')`.
pub(crate) fn lstm_cell<T: Float>(gates: &[T], cp: &[T], n: usize, h: usize, isa: Isa) -> Vec<T> {
    debug_assert!(gates.len() == n * 4 * h && cp.len() == n * h);
    let rpt = rows_per_task(h);
    par::filled(n * 2 * h, rpt * 2 * h, |task, out| {
        for (k, orow) in out.chunks_mut(2 * h).enumerate() {
            let r = task * rpt + k;
            let g = &gates[r * 4 * h..(r + 1) * 4 * h];
            let (gi, rest) = g.split_at(h);
            let (gf, rest) = rest.split_at(h);
            let (gg, go) = rest.split_at(h);
            let c0 = &cp[r * h..(r + 1) * h];
            let (ho, co) = orow.split_at_mut(h);
            wide(
                isa,
                #[inline(always)]
                || {
                    let gates = gi.iter().zip(gf).zip(gg).zip(go);
                    let outs = ho.iter_mut().zip(co.iter_mut());
                    for ((((&i, &f), &g), &o), (&c0, (ho, co))) in gates.zip(c0.iter().zip(outs)) {
                        let c = sigmoid(f) * c0 + sigmoid(i) * tanh(g);
                        *co = c;
                        *ho = sigmoid(o) * tanh(c);
                    }
                },
            );
        }
    })
}

/// The LSTM step's backward from `gy: (n, 2h)`, the gradient of `[h' | c']`, with the forward's
/// `gates` and `cp` (the activations and `c'` are recomputed). Returns the gradients of the
/// gates `(n, 4h)` and of `cp` `(n, h)`.
pub(crate) fn lstm_cell_backward<T: Float>(
    gates: &[T],
    cp: &[T],
    gy: &[T],
    n: usize,
    h: usize,
    isa: Isa,
) -> (Vec<T>, Vec<T>) {
    debug_assert!(gates.len() == n * 4 * h && cp.len() == n * h && gy.len() == n * 2 * h);
    let rpt = rows_per_task(h);
    let one = T::one();
    par::filled2(
        (n * 4 * h, rpt * 4 * h),
        (n * h, rpt * h),
        |task, dg, dcp| {
            let rows = dcp.len() / h.max(1);
            for k in 0..rows {
                let r = task * rpt + k;
                let g = &gates[r * 4 * h..(r + 1) * 4 * h];
                let c0 = &cp[r * h..(r + 1) * h];
                let (gh, gc) = gy[r * 2 * h..(r + 1) * 2 * h].split_at(h);
                let dgr = &mut dg[k * 4 * h..(k + 1) * 4 * h];
                let (di, rest) = dgr.split_at_mut(h);
                let (df, rest) = rest.split_at_mut(h);
                let (dgg, dgo) = rest.split_at_mut(h);
                let dc0 = &mut dcp[k * h..(k + 1) * h];
                let (gi, rest) = g.split_at(h);
                let (gf, rest) = rest.split_at(h);
                let (gg, go) = rest.split_at(h);
                wide(
                    isa,
                    #[inline(always)]
                    || {
                        let ins = gi
                            .iter()
                            .zip(gf)
                            .zip(gg)
                            .zip(go)
                            .zip(c0)
                            .zip(gh.iter().zip(gc));
                        let outs = di.iter_mut().zip(df.iter_mut()).zip(dgg.iter_mut());
                        let outs = outs.zip(dgo.iter_mut()).zip(dc0.iter_mut());
                        for (x, y) in ins.zip(outs) {
                            let (((((&pi, &pf), &pg), &po), &c0), (&gh, &gc)) = x;
                            let ((((di, df), dg), dgo), dc0) = y;
                            let (i, f, cand, o) = (sigmoid(pi), sigmoid(pf), tanh(pg), sigmoid(po));
                            let tc = tanh(f * c0 + i * cand);
                            // dL/dc' gathers the direct gradient and the one through h' = o tanh(c')
                            let dc = gc + gh * o * (one - tc * tc);
                            *di = dc * cand * i * (one - i);
                            *df = dc * c0 * f * (one - f);
                            *dg = dc * i * (one - cand * cand);
                            *dgo = gh * tc * o * (one - o);
                            *dc0 = dc * f;
                        }
                    },
                );
            }
        },
    )
}

/// The GRU step in PyTorch's form. `gi = x W_ih^T + b_ih` and `gh = h W_hh^T + b_hh`, both
/// `(n, 3h)` with gates r, z, n; `hp: (n, h)` the previous state. Returns `h': (n, h)`:
/// `r = σ(gi_r + gh_r)`, `z = σ(gi_z + gh_z)`, `n = tanh(gi_n + r gh_n)`,
/// `h' = (1 - z) n + z hp`, computed as `n + z (hp - n)`.
pub(crate) fn gru_cell<T: Float>(
    gi: &[T],
    gh: &[T],
    hp: &[T],
    n: usize,
    h: usize,
    isa: Isa,
) -> Vec<T> {
    debug_assert!(gi.len() == n * 3 * h && gh.len() == n * 3 * h && hp.len() == n * h);
    let rpt = rows_per_task(h);
    par::filled(n * h, rpt * h, |task, out| {
        for (k, orow) in out.chunks_mut(h.max(1)).enumerate() {
            let r = task * rpt + k;
            let (a, b) = (
                &gi[r * 3 * h..(r + 1) * 3 * h],
                &gh[r * 3 * h..(r + 1) * 3 * h],
            );
            let h0 = &hp[r * h..(r + 1) * h];
            let (ar, az, an) = thirds(a, h);
            let (br, bz, bn) = thirds(b, h);
            wide(
                isa,
                #[inline(always)]
                || {
                    let ins = ar.iter().zip(az).zip(an).zip(br.iter().zip(bz).zip(bn));
                    for ((((&ar, &az), &an), ((&br, &bz), &bn)), (&h0, o)) in
                        ins.zip(h0.iter().zip(orow.iter_mut()))
                    {
                        let rg = sigmoid(ar + br);
                        let z = sigmoid(az + bz);
                        let nn = tanh(an + rg * bn);
                        *o = nn + z * (h0 - nn);
                    }
                },
            );
        }
    })
}

/// The GRU step's backward from `gy: (n, h)`, with the forward's operands (the gates are
/// recomputed). Returns `[d gi | d gh]` as one `(n, 6h)` buffer (the two differ only in the
/// candidate's third, where `d gh_n = r d gi_n`) and `d hp: (n, h)`.
pub(crate) fn gru_cell_backward<T: Float>(
    gi: &[T],
    gh: &[T],
    hp: &[T],
    gy: &[T],
    n: usize,
    h: usize,
    isa: Isa,
) -> (Vec<T>, Vec<T>) {
    debug_assert!(gi.len() == n * 3 * h && hp.len() == n * h && gy.len() == n * h);
    let rpt = rows_per_task(h);
    let one = T::one();
    par::filled2(
        (n * 6 * h, rpt * 6 * h),
        (n * h, rpt * h),
        |task, dg, dhp| {
            let rows = dhp.len() / h.max(1);
            for k in 0..rows {
                let r = task * rpt + k;
                let (a, b) = (
                    &gi[r * 3 * h..(r + 1) * 3 * h],
                    &gh[r * 3 * h..(r + 1) * 3 * h],
                );
                let h0 = &hp[r * h..(r + 1) * h];
                let g = &gy[r * h..(r + 1) * h];
                let (dgi, dgh) = dg[k * 6 * h..(k + 1) * 6 * h].split_at_mut(3 * h);
                let dh0 = &mut dhp[k * h..(k + 1) * h];
                let (ar, az, an) = thirds(a, h);
                let (br, bz, bn) = thirds(b, h);
                let (dar, daz, dan) = thirds_mut(dgi, h);
                let (dbr, dbz, dbn) = thirds_mut(dgh, h);
                wide(
                    isa,
                    #[inline(always)]
                    || {
                        let ins = ar.iter().zip(az).zip(an).zip(br.iter().zip(bz).zip(bn));
                        let ins = ins.zip(h0.iter().zip(g));
                        let da = dar.iter_mut().zip(daz.iter_mut()).zip(dan.iter_mut());
                        let db = dbr.iter_mut().zip(dbz.iter_mut()).zip(dbn.iter_mut());
                        let outs = da.zip(db).zip(dh0.iter_mut());
                        for (x, y) in ins.zip(outs) {
                            let ((((&ar, &az), &an), ((&br, &bz), &bn)), (&h0, &g)) = x;
                            let ((((dar, daz), dan), ((dbr, dbz), dbn)), dh0) = y;
                            let rg = sigmoid(ar + br);
                            let z = sigmoid(az + bz);
                            let nn = tanh(an + rg * bn);
                            // through n's pre-activation gi_n + r gh_n
                            let dn = g * (one - z) * (one - nn * nn);
                            let dr = dn * bn * rg * (one - rg);
                            let dz = g * (h0 - nn) * z * (one - z);
                            (*dar, *daz, *dan) = (dr, dz, dn);
                            (*dbr, *dbz, *dbn) = (dr, dz, dn * rg);
                            *dh0 = g * z;
                        }
                    },
                );
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded values in about [-4, 4], with exact zeros and large magnitudes mixed in (the
    /// saturated ends of the sigmoid and tanh).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut g = crate::Generator::new(seed);
        (0..n)
            .map(|i| match i % 17 {
                0 => 0.0,
                1 => 40.0,
                2 => -40.0,
                _ => (g.next_f64() * 8.0 - 4.0) as f32,
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Every instruction set the CPU has computes the same IEEE operations, so every kernel
    /// gives the scalar path's bits, forward and backward (tails of every vector width: h = 13).
    #[test]
    fn every_instruction_set_gives_the_scalar_bits() {
        let (n, h) = (5, 13);
        let (gates, cp) = (values(n * 4 * h, 1), values(n * h, 2));
        let (gi, gh, hp) = (values(n * 3 * h, 3), values(n * 3 * h, 4), values(n * h, 5));
        let (gy2, gy1) = (values(n * 2 * h, 6), values(n * h, 7));
        let run = |isa: Isa| {
            let a = lstm_cell(&gates, &cp, n, h, isa);
            let (b, c) = lstm_cell_backward(&gates, &cp, &gy2, n, h, isa);
            let d = gru_cell(&gi, &gh, &hp, n, h, isa);
            let (e, f) = gru_cell_backward(&gi, &gh, &hp, &gy1, n, h, isa);
            [a, b, c, d, e, f].map(|v| bits(&v))
        };
        let scalar = run(Isa::Scalar);
        for isa in Isa::available() {
            assert_eq!(run(isa), scalar, "{isa:?}");
        }
    }
}
