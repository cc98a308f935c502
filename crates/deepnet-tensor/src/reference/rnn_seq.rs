//! The whole-sequence LSTM and GRU by their equations, one element at a time in f64: the
//! forward step by step, the backward as textbook backpropagation through time over a forward
//! recomputed in f64 (the reference keeps no reserve; its forward returns an empty one).
//! Shapes as in the device contract ([`crate::backend::SeqOperands`]).

use super::RefStorage;
use crate::backend::{SeqGrads, SeqOperands};
use crate::{DType, Error, Layout, Result};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The operands' values row-major, checked to share one float dtype.
struct Vals {
    dtype: DType,
    xp: Vec<f64>,
    w: Vec<f64>,
    bi: Option<Vec<f64>>,
    b: Option<Vec<f64>>,
    h0: Vec<f64>,
    c0: Option<Vec<f64>>,
    l: usize,
    n: usize,
    h: usize,
    reverse: bool,
}

impl Vals {
    fn new(op: &'static str, x: &SeqOperands<'_, RefStorage>) -> Result<Vals> {
        x.xp.0.expect_float(op)?;
        let dtype = x.xp.0.dtype;
        let get = |o: (&RefStorage, &Layout)| -> Result<Vec<f64>> {
            o.0.expect_dtype(op, dtype)?;
            Ok(o.0.values(o.1))
        };
        let (l, n, h) = x.sizes();
        Ok(Vals {
            dtype,
            xp: get(x.xp)?,
            w: get(x.w_hh)?,
            bi: x.b_ih.map(get).transpose()?,
            b: x.b_hh.map(get).transpose()?,
            h0: get(x.h0)?,
            c0: x.c0.map(get).transpose()?,
            l,
            n,
            h,
            reverse: x.reverse,
        })
    }

    /// The times in the order the steps run.
    fn order(&self) -> Vec<usize> {
        if self.reverse {
            (0..self.l).rev().collect()
        } else {
            (0..self.l).collect()
        }
    }

    /// The row of the states holding `h_t`, and the one holding `h0`.
    fn h_row(&self, t: usize) -> usize {
        if self.reverse {
            t
        } else {
            t + 1
        }
    }
    fn h0_row(&self) -> usize {
        if self.reverse {
            self.l
        } else {
            0
        }
    }

    /// `xp[t][r][q] + b_ih[q]`.
    fn x(&self, t: usize, r: usize, q: usize, g: usize) -> f64 {
        self.xp[(t * self.n + r) * g + q] + self.bi.as_ref().map_or(0.0, |b| b[q])
    }

    /// `h W^T (+ b_hh)` for one step: `(N, G*H)`.
    fn recurrent(&self, hp: &[f64], g: usize) -> Vec<f64> {
        let (n, h) = (self.n, self.h);
        let mut out = vec![0.0; n * g];
        for r in 0..n {
            for q in 0..g {
                let s: f64 = (0..h).map(|p| hp[r * h + p] * self.w[q * h + p]).sum();
                out[r * g + q] = s + self.b.as_ref().map_or(0.0, |b| b[q]);
            }
        }
        out
    }

    /// Accumulates `dW += d^T hp` and `d h_prev = d W` for one step's gates' gradient `d`.
    fn back_product(&self, d: &[f64], hp: &[f64], g: usize, dw: &mut [f64]) -> Vec<f64> {
        let (n, h) = (self.n, self.h);
        let mut dh = vec![0.0; n * h];
        for r in 0..n {
            for q in 0..g {
                for p in 0..h {
                    dw[q * h + p] += d[r * g + q] * hp[r * h + p];
                    dh[r * h + p] += d[r * g + q] * self.w[q * h + p];
                }
            }
        }
        dh
    }

    /// The states `((L + extra), N, H)` with `h0` and each `h_t` in their rows.
    fn states(&self, hs: &[Vec<f64>], extra: &[f64]) -> Vec<f64> {
        let nh = self.n * self.h;
        let mut out = vec![0.0; (self.l + 1) * nh];
        out[self.h0_row() * nh..(self.h0_row() + 1) * nh].copy_from_slice(&self.h0);
        for (t, ht) in hs.iter().enumerate() {
            out[self.h_row(t) * nh..(self.h_row(t) + 1) * nh].copy_from_slice(ht);
        }
        out.extend_from_slice(extra);
        out
    }
}

/// One LSTM step's saved values: activated gates, previous and new cell state, previous `h`.
struct LstmStep {
    gates: Vec<f64>,
    c_prev: Vec<f64>,
    c: Vec<f64>,
    h_prev: Vec<f64>,
}

/// The LSTM forward: each time's step (indexed by time) and the new `h` of each time.
fn lstm_run(v: &Vals) -> Result<(Vec<LstmStep>, Vec<Vec<f64>>)> {
    let (n, h) = (v.n, v.h);
    let g = 4 * h;
    let mut hc = v.h0.clone();
    let mut c =
        v.c0.clone()
            .ok_or_else(|| Error::invalid("lstm_seq", "the LSTM needs c0"))?;
    let mut steps: Vec<Option<LstmStep>> = (0..v.l).map(|_| None).collect();
    let mut hs = vec![Vec::new(); v.l];
    for t in v.order() {
        let pre = v.recurrent(&hc, g);
        let mut gates = vec![0.0; n * g];
        let (mut c2, mut h2) = (vec![0.0; n * h], vec![0.0; n * h]);
        for r in 0..n {
            for j in 0..h {
                let at = |k: usize| pre[r * g + k * h + j] + v.x(t, r, k * h + j, g);
                let (i, f, gg, o) = (sigmoid(at(0)), sigmoid(at(1)), at(2).tanh(), sigmoid(at(3)));
                for (k, a) in [i, f, gg, o].into_iter().enumerate() {
                    gates[r * g + k * h + j] = a;
                }
                c2[r * h + j] = f * c[r * h + j] + i * gg;
                h2[r * h + j] = o * c2[r * h + j].tanh();
            }
        }
        steps[t] = Some(LstmStep {
            gates,
            c_prev: std::mem::replace(&mut c, c2.clone()),
            c: c2,
            h_prev: std::mem::replace(&mut hc, h2.clone()),
        });
        hs[t] = h2;
    }
    let steps = steps
        .into_iter()
        .map(|s| s.expect("every time ran"))
        .collect();
    Ok((steps, hs))
}

/// The states `(L + 2, N, H)` (`h0`, `h_t` in time order, the final `c`) and an empty reserve.
pub(super) fn lstm_seq(x: &SeqOperands<'_, RefStorage>) -> Result<(RefStorage, RefStorage)> {
    let v = Vals::new("lstm_seq", x)?;
    let (steps, hs) = lstm_run(&v)?;
    let last = v.order().last().map(|&t| steps[t].c.clone());
    let c = last.unwrap_or_else(|| v.c0.clone().expect("checked by lstm_run"));
    let out = v.states(&hs, &c);
    Ok((
        RefStorage::rounded(v.dtype, out),
        RefStorage::rounded(v.dtype, vec![]),
    ))
}

/// The LSTM's gradients from `gy: (L + 2, N, H)`.
pub(super) fn lstm_seq_backward(
    x: &SeqOperands<'_, RefStorage>,
    gy: (&RefStorage, &Layout),
) -> Result<SeqGrads<RefStorage>> {
    let v = Vals::new("lstm_seq_backward", x)?;
    gy.0.expect_dtype("lstm_seq_backward", v.dtype)?;
    let dy = gy.0.values(gy.1);
    let (steps, _) = lstm_run(&v)?;
    let (n, h) = (v.n, v.h);
    let (g, nh) = (4 * h, n * h);
    let mut dxp = vec![0.0; v.l * n * g];
    let mut dw = vec![0.0; g * h];
    let mut db = vec![0.0; g];
    let mut dh_next = vec![0.0; nh];
    let mut dc = dy[(v.l + 1) * nh..(v.l + 2) * nh].to_vec();
    for &t in v.order().iter().rev() {
        let s = &steps[t];
        let mut d = vec![0.0; n * g];
        for r in 0..n {
            for j in 0..h {
                let at = |k: usize| s.gates[r * g + k * h + j];
                let (i, f, gg, o) = (at(0), at(1), at(2), at(3));
                let e = r * h + j;
                let dh = dy[v.h_row(t) * nh + e] + dh_next[e];
                let tc = s.c[e].tanh();
                let dcv = dc[e] + dh * o * (1.0 - tc * tc);
                d[r * g + j] = dcv * gg * i * (1.0 - i);
                d[r * g + h + j] = dcv * s.c_prev[e] * f * (1.0 - f);
                d[r * g + 2 * h + j] = dcv * i * (1.0 - gg * gg);
                d[r * g + 3 * h + j] = dh * tc * o * (1.0 - o);
                dc[e] = dcv * f;
            }
        }
        dh_next = v.back_product(&d, &s.h_prev, g, &mut dw);
        for (q, x) in d.iter().enumerate() {
            db[q % g] += x;
        }
        dxp[t * n * g..(t + 1) * n * g].copy_from_slice(&d);
    }
    let dh0: Vec<f64> = (0..nh)
        .map(|e| dy[v.h0_row() * nh + e] + dh_next[e])
        .collect();
    let dt = v.dtype;
    // both biases add to the gates: each takes their gradient
    let bias = |b: &Option<Vec<f64>>| b.as_ref().map(|_| RefStorage::rounded(dt, db.clone()));
    Ok(SeqGrads {
        db_ih: bias(&v.bi),
        db_hh: bias(&v.b),
        dxp: RefStorage::rounded(dt, dxp),
        dw_hh: RefStorage::rounded(dt, dw),
        dh0: RefStorage::rounded(dt, dh0),
        dc0: Some(RefStorage::rounded(dt, dc)),
    })
}

/// One GRU step's saved values: `r, z, n`, the candidate's recurrent part, previous `h`.
struct GruStep {
    rzn: Vec<f64>,
    ghn: Vec<f64>,
    h_prev: Vec<f64>,
}

/// The GRU forward (PyTorch's form): each time's step and new `h`.
fn gru_run(v: &Vals) -> (Vec<GruStep>, Vec<Vec<f64>>) {
    let (n, h) = (v.n, v.h);
    let g = 3 * h;
    let mut hc = v.h0.clone();
    let mut steps: Vec<Option<GruStep>> = (0..v.l).map(|_| None).collect();
    let mut hs = vec![Vec::new(); v.l];
    for t in v.order() {
        let gh = v.recurrent(&hc, g);
        let (mut rzn, mut ghn, mut h2) = (vec![0.0; n * g], vec![0.0; n * h], vec![0.0; n * h]);
        for r in 0..n {
            for j in 0..h {
                let xi = |k: usize| v.x(t, r, k * h + j, g);
                let hh = |k: usize| gh[r * g + k * h + j];
                let rg = sigmoid(xi(0) + hh(0));
                let z = sigmoid(xi(1) + hh(1));
                let nn = (xi(2) + rg * hh(2)).tanh();
                for (k, a) in [rg, z, nn].into_iter().enumerate() {
                    rzn[r * g + k * h + j] = a;
                }
                ghn[r * h + j] = hh(2);
                h2[r * h + j] = (1.0 - z) * nn + z * hc[r * h + j];
            }
        }
        let h_prev = std::mem::replace(&mut hc, h2.clone());
        steps[t] = Some(GruStep { rzn, ghn, h_prev });
        hs[t] = h2;
    }
    let steps = steps
        .into_iter()
        .map(|s| s.expect("every time ran"))
        .collect();
    (steps, hs)
}

/// The states `(L + 1, N, H)` and an empty reserve.
pub(super) fn gru_seq(x: &SeqOperands<'_, RefStorage>) -> Result<(RefStorage, RefStorage)> {
    let v = Vals::new("gru_seq", x)?;
    let (_, hs) = gru_run(&v);
    let out = v.states(&hs, &[]);
    Ok((
        RefStorage::rounded(v.dtype, out),
        RefStorage::rounded(v.dtype, vec![]),
    ))
}

/// The GRU's gradients from `gy: (L + 1, N, H)`.
pub(super) fn gru_seq_backward(
    x: &SeqOperands<'_, RefStorage>,
    gy: (&RefStorage, &Layout),
) -> Result<SeqGrads<RefStorage>> {
    let v = Vals::new("gru_seq_backward", x)?;
    gy.0.expect_dtype("gru_seq_backward", v.dtype)?;
    let dy = gy.0.values(gy.1);
    let (steps, _) = gru_run(&v);
    let (n, h) = (v.n, v.h);
    let (g, nh) = (3 * h, n * h);
    let mut dxp = vec![0.0; v.l * n * g];
    let mut dw = vec![0.0; g * h];
    let (mut db, mut dbi) = (vec![0.0; g], vec![0.0; g]);
    let mut dh_next = vec![0.0; nh];
    for &t in v.order().iter().rev() {
        let s = &steps[t];
        let mut dgh = vec![0.0; n * g];
        let mut through_z = vec![0.0; nh];
        for r in 0..n {
            for j in 0..h {
                let at = |k: usize| s.rzn[r * g + k * h + j];
                let (rg, z, nn) = (at(0), at(1), at(2));
                let e = r * h + j;
                // h_t = (1 - z) n + z h_{t-1}
                let dh = dy[v.h_row(t) * nh + e] + dh_next[e];
                let dn = dh * (1.0 - z) * (1.0 - nn * nn);
                let dz = dh * (s.h_prev[e] - nn) * z * (1.0 - z);
                let dr = dn * s.ghn[e] * rg * (1.0 - rg);
                let base = (t * n + r) * g;
                for (k, a) in [dr, dz, dn].into_iter().enumerate() {
                    dxp[base + k * h + j] = a;
                    dbi[k * h + j] += a;
                }
                for (k, a) in [dr, dz, dn * rg].into_iter().enumerate() {
                    dgh[r * g + k * h + j] = a;
                    db[k * h + j] += a;
                }
                through_z[e] = dh * z;
            }
        }
        let through_w = v.back_product(&dgh, &s.h_prev, g, &mut dw);
        dh_next = through_z
            .iter()
            .zip(&through_w)
            .map(|(a, b)| a + b)
            .collect();
    }
    let dh0: Vec<f64> = (0..nh)
        .map(|e| dy[v.h0_row() * nh + e] + dh_next[e])
        .collect();
    let dt = v.dtype;
    Ok(SeqGrads {
        dxp: RefStorage::rounded(dt, dxp),
        dw_hh: RefStorage::rounded(dt, dw),
        db_ih: v.bi.as_ref().map(|_| RefStorage::rounded(dt, dbi)),
        db_hh: v.b.as_ref().map(|_| RefStorage::rounded(dt, db)),
        dh0: RefStorage::rounded(dt, dh0),
        dc0: None,
    })
}
