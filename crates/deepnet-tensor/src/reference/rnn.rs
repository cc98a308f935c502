//! The fused recurrent cells by their equations, one element at a time in f64: the LSTM and
//! GRU steps and their backwards written out with the textbook derivatives (`σ' = σ (1 - σ)`,
//! `tanh' = 1 - tanh²`). Shapes as in the device contract: gates `(N, G*H)` row-major, states
//! `(N, H)`.

use super::RefStorage;
use crate::{Layout, Result};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The operands' values row-major, after checking that `s` is a float and the others share its
/// dtype; and `(N, H)` from the state's layout `hl`.
fn operands(
    op: &'static str,
    s: (&RefStorage, &Layout),
    others: &[(&RefStorage, &Layout)],
    hl: &Layout,
) -> Result<(Vec<Vec<f64>>, usize, usize)> {
    s.0.expect_float(op)?;
    let mut v = vec![s.0.values(s.1)];
    for o in others {
        o.0.expect_dtype(op, s.0.dtype)?;
        v.push(o.0.values(o.1));
    }
    Ok((v, hl.dims()[0], hl.dims()[1]))
}

/// `[h' | c']` `(N, 2H)` from gates i, f, g, o `(N, 4H)` and `c_prev: (N, H)`.
pub(super) fn lstm_cell(
    g: (&RefStorage, &Layout),
    cp: (&RefStorage, &Layout),
) -> Result<RefStorage> {
    let (v, n, h) = operands("lstm_cell", g, &[cp], cp.1)?;
    let (gs, c0) = (&v[0], &v[1]);
    let mut out = vec![0.0; n * 2 * h];
    for r in 0..n {
        for j in 0..h {
            let at = |k: usize| gs[r * 4 * h + k * h + j];
            let (i, f, cand, o) = (sigmoid(at(0)), sigmoid(at(1)), at(2).tanh(), sigmoid(at(3)));
            let c = f * c0[r * h + j] + i * cand;
            out[r * 2 * h + j] = o * c.tanh();
            out[r * 2 * h + h + j] = c;
        }
    }
    Ok(RefStorage::rounded(g.0.dtype, out))
}

/// The gradients of the gates `(N, 4H)` and of `c_prev` `(N, H)` from `gy: (N, 2H)`.
pub(super) fn lstm_cell_backward(
    g: (&RefStorage, &Layout),
    cp: (&RefStorage, &Layout),
    gy: (&RefStorage, &Layout),
) -> Result<(RefStorage, RefStorage)> {
    let (v, n, h) = operands("lstm_cell_backward", g, &[cp, gy], cp.1)?;
    let (gs, c0, dy) = (&v[0], &v[1], &v[2]);
    let (mut dg, mut dc0) = (vec![0.0; n * 4 * h], vec![0.0; n * h]);
    for r in 0..n {
        for j in 0..h {
            let at = |k: usize| gs[r * 4 * h + k * h + j];
            let (i, f, cand, o) = (sigmoid(at(0)), sigmoid(at(1)), at(2).tanh(), sigmoid(at(3)));
            let cprev = c0[r * h + j];
            let tc = (f * cprev + i * cand).tanh();
            let (dh, dcn) = (dy[r * 2 * h + j], dy[r * 2 * h + h + j]);
            let dc = dcn + dh * o * (1.0 - tc * tc);
            let d = &mut dg[r * 4 * h..(r + 1) * 4 * h];
            d[j] = dc * cand * i * (1.0 - i);
            d[h + j] = dc * cprev * f * (1.0 - f);
            d[2 * h + j] = dc * i * (1.0 - cand * cand);
            d[3 * h + j] = dh * tc * o * (1.0 - o);
            dc0[r * h + j] = dc * f;
        }
    }
    let dt = g.0.dtype;
    Ok((RefStorage::rounded(dt, dg), RefStorage::rounded(dt, dc0)))
}

/// `h' = (1 - z) n + z h_prev` `(N, H)` from `gi`, `gh` (gates r, z, n, `(N, 3H)`) and `h_prev`.
pub(super) fn gru_cell(
    gi: (&RefStorage, &Layout),
    gh: (&RefStorage, &Layout),
    hp: (&RefStorage, &Layout),
) -> Result<RefStorage> {
    let (v, n, h) = operands("gru_cell", gi, &[gh, hp], hp.1)?;
    let (a, b, h0) = (&v[0], &v[1], &v[2]);
    let mut out = vec![0.0; n * h];
    for r in 0..n {
        for j in 0..h {
            let at = |t: &[f64], k: usize| t[r * 3 * h + k * h + j];
            let rg = sigmoid(at(a, 0) + at(b, 0));
            let z = sigmoid(at(a, 1) + at(b, 1));
            let nn = (at(a, 2) + rg * at(b, 2)).tanh();
            out[r * h + j] = (1.0 - z) * nn + z * h0[r * h + j];
        }
    }
    Ok(RefStorage::rounded(gi.0.dtype, out))
}

/// `[d gi | d gh]` `(N, 6H)` and `d h_prev` `(N, H)` from `gy: (N, H)`.
pub(super) fn gru_cell_backward(
    gi: (&RefStorage, &Layout),
    gh: (&RefStorage, &Layout),
    hp: (&RefStorage, &Layout),
    gy: (&RefStorage, &Layout),
) -> Result<(RefStorage, RefStorage)> {
    let (v, n, h) = operands("gru_cell_backward", gi, &[gh, hp, gy], hp.1)?;
    let (a, b, h0, dy) = (&v[0], &v[1], &v[2], &v[3]);
    let (mut dg, mut dh0) = (vec![0.0; n * 6 * h], vec![0.0; n * h]);
    for r in 0..n {
        for j in 0..h {
            let at = |t: &[f64], k: usize| t[r * 3 * h + k * h + j];
            let rg = sigmoid(at(a, 0) + at(b, 0));
            let z = sigmoid(at(a, 1) + at(b, 1));
            let nn = (at(a, 2) + rg * at(b, 2)).tanh();
            let g = dy[r * h + j];
            // h' = (1 - z) n + z h_prev
            let dn = g * (1.0 - z) * (1.0 - nn * nn);
            let dz = g * (h0[r * h + j] - nn) * z * (1.0 - z);
            let dr = dn * at(b, 2) * rg * (1.0 - rg);
            let d = &mut dg[r * 6 * h..(r + 1) * 6 * h];
            for (k, x) in [dr, dz, dn, dr, dz, dn * rg].into_iter().enumerate() {
                d[k * h + j] = x;
            }
            dh0[r * h + j] = g * z;
        }
    }
    let dt = gi.0.dtype;
    Ok((RefStorage::rounded(dt, dg), RefStorage::rounded(dt, dh0)))
}
