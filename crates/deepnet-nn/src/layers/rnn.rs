//! The recurrent cells, one time step each (`torch.nn.RNNCell`, `LSTMCell`, `GRUCell`), and the
//! cell arithmetic that the sequence layers in [`super::recurrent`] run step after step.
//!
//! # The cells
//!
//! With `x: (N, H_in)` the step's input and `h: (N, H)` the previous state (PyTorch's gate
//! layout: the rows of `weight_ih: (G*H, H_in)` and `weight_hh: (G*H, H)` hold the gates one
//! after the other, in the order listed):
//!
//! - **RNN**: `h' = act(W_ih x + b_ih + W_hh h + b_hh)`, `act` tanh (default), ReLU, or the
//!   logistic sigmoid of the canon's early recurrent networks (no PyTorch form).
//! - **LSTM** (gates i, f, g, o): `i = σ(..)`, `f = σ(..)`, `g = tanh(..)`, `o = σ(..)` of
//!   `W_i* x + b_i* + W_h* h + b_h*`; `c' = f * c + i * g`, `h' = o * tanh(c')`.
//! - **GRU** (gates r, z, n): two forms, PyTorch's and the canon's, documented side by side on
//!   [`GruForm`].
//!
//! Shapes of every cell: `x: (N, H_in)` or unbatched `(H_in)`; the state `(N, H)` or `(H)` to
//! match, zeros when not given. Parameter keys are PyTorch's: `weight_ih`, `weight_hh`, `bias_ih`,
//! `bias_hh` (the sequence layers add `_l{k}` and `_reverse`), each initialized uniform in
//! `±1/sqrt(hidden_size)`.

use super::in_module;
use super::recurrent::RecurrentCell;
use crate::{Init, Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The RNN nonlinearity (RNN and RNNCell only): PyTorch's `nonlinearity` (`"tanh"`, `"relu"`),
/// plus the logistic sigmoid of the canon's early recurrent networks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RnnNonlinearity {
    /// `tanh` (PyTorch's default)
    #[default]
    Tanh,
    /// `relu`
    Relu,
    /// the logistic sigmoid (canon only; PyTorch has no such option)
    Sigmoid,
}

impl RnnNonlinearity {
    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            RnnNonlinearity::Tanh => x.tanh(),
            RnnNonlinearity::Relu => x.relu(),
            RnnNonlinearity::Sigmoid => x.sigmoid(),
        }
    }

    /// The name PyTorch's repr prints (`tanh`, `relu`; `sigmoid` for the canon's option).
    pub(crate) fn py_name(self) -> &'static str {
        match self {
            RnnNonlinearity::Tanh => "tanh",
            RnnNonlinearity::Relu => "relu",
            RnnNonlinearity::Sigmoid => "sigmoid",
        }
    }
}

/// Which GRU equations to run (gates r, z, n). The parameters, their keys, shapes and
/// initialization are the same in both forms:
///
/// | | [`GruForm::PyTorch`] (default) | [`GruForm::Canon`] (Cho et al., the course slides) |
/// |---|---|---|
/// | reset | `r = σ(W_ir x + b_ir + W_hr h + b_hr)` | the same |
/// | update | `z = σ(W_iz x + b_iz + W_hz h + b_hz)` | the same |
/// | candidate | `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))` | `n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)` |
/// | new state | `h' = (1 - z) * n + z * h` | `h' = (1 - z) * h + z * n` |
///
/// The forms differ in exactly two places. (1) *Where the reset gate acts*: PyTorch (and cuDNN)
/// resets the recurrent product after it is computed, so `W_hn h` can be one matmul with the other
/// gates; the canon resets the state before the product, which takes a second matmul per step.
/// (2) *Which side `z` weighs*: PyTorch's `z` keeps the old state, the canon's `z` admits the
/// candidate. Difference (2) is only a relabelling: since `σ(-a) = 1 - σ(a)`, negating `W_iz`,
/// `W_hz`, `b_iz` and `b_hz` turns one convention into the other, so for the same reset placement
/// the two are the same model with `z -> 1 - z` (a test shows it). Difference (1) changes the
/// model: no choice of parameters maps one placement onto the other in general.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GruForm {
    /// `torch.nn.GRU`: `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`, `h' = (1 - z) n + z h`
    #[default]
    PyTorch,
    /// Cho et al. / the canon: `n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)`,
    /// `h' = (1 - z) h + z n`
    Canon,
}

/// The two independent choices behind a [`GruForm`], kept apart so that tests can show what
/// each one does on its own (the `z` mirroring is a reparametrization, the reset placement is
/// not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GruVariant {
    /// reset the state before the recurrent product (`W_hn (r * h)`, canon) instead of after it
    /// (`r * (W_hn h + b_hn)`, PyTorch)
    pub reset_before_product: bool,
    /// `h' = (1 - z) h + z n` (canon) instead of `(1 - z) n + z h` (PyTorch)
    pub z_admits_candidate: bool,
}

impl From<GruForm> for GruVariant {
    fn from(f: GruForm) -> GruVariant {
        let canon = f == GruForm::Canon;
        GruVariant {
            reset_before_product: canon,
            z_admits_candidate: canon,
        }
    }
}

/// The parameters of one cell (one layer and direction of a sequence layer).
#[derive(Clone)]
pub(crate) struct CellWeights {
    /// `(G*H, input)`
    pub w_ih: Tensor,
    /// `(G*H, H_out)`
    pub w_hh: Tensor,
    /// `(G*H,)`
    pub b_ih: Option<Tensor>,
    /// `(G*H,)`
    pub b_hh: Option<Tensor>,
    /// LSTM projection `(proj_size, H)`
    pub w_hr: Option<Tensor>,
}

impl CellWeights {
    /// Registers `weight_ih{suffix}: (rows, input)`, `weight_hh{suffix}: (rows, h_out)`,
    /// `bias_ih{suffix}`, `bias_hh{suffix}: (rows,)` with `bias`, and `weight_hr{suffix}:
    /// (proj, hidden)` when `proj > 0` (`h_out = proj` then, else `hidden`), in PyTorch's order,
    /// each uniform in `±1/sqrt(hidden)` as PyTorch's `RNNBase.reset_parameters`.
    pub(crate) fn register(
        pb: &ParamBuilder,
        suffix: &str,
        rows: usize,
        input: usize,
        hidden: usize,
        proj: usize,
        bias: bool,
    ) -> Result<CellWeights> {
        let bound = 1.0 / (hidden.max(1) as f64).sqrt();
        let init = Init::Uniform {
            low: -bound,
            high: bound,
        };
        let h_out = if proj > 0 { proj } else { hidden };
        let w_ih = pb.param(&format!("weight_ih{suffix}"), [rows, input], init)?;
        let w_hh = pb.param(&format!("weight_hh{suffix}"), [rows, h_out], init)?;
        let (b_ih, b_hh) = if bias {
            (
                Some(pb.param(&format!("bias_ih{suffix}"), [rows], init)?),
                Some(pb.param(&format!("bias_hh{suffix}"), [rows], init)?),
            )
        } else {
            (None, None)
        };
        let w_hr = if proj > 0 {
            Some(pb.param(&format!("weight_hr{suffix}"), [proj, hidden], init)?)
        } else {
            None
        };
        Ok(CellWeights {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            w_hr,
        })
    }

    /// The tensors in registration order.
    #[cfg(test)]
    pub(crate) fn tensors(&self) -> Vec<Tensor> {
        let mut v = vec![self.w_ih.clone(), self.w_hh.clone()];
        v.extend(self.b_ih.iter().cloned());
        v.extend(self.b_hh.iter().cloned());
        v.extend(self.w_hr.iter().cloned());
        v
    }

    /// The same layout with other tensors taken from the front of `ts` (in [`Self::tensors`]
    /// order), e.g. the leaves of a gradient check; also returns how many were taken.
    #[cfg(test)]
    pub(crate) fn replaced(&self, ts: &[Tensor]) -> (CellWeights, usize) {
        let mut n = 0;
        let mut next = || {
            n += 1;
            ts[n - 1].clone()
        };
        let w_ih = next();
        let w_hh = next();
        let b_ih = self.b_ih.as_ref().map(|_| next());
        let b_hh = self.b_hh.as_ref().map(|_| next());
        let w_hr = self.w_hr.as_ref().map(|_| next());
        let w = CellWeights {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            w_hr,
        };
        (w, n)
    }
}

/// Which recurrence a cell runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CellKind {
    Rnn(RnnNonlinearity),
    Lstm,
    Gru(GruVariant),
}

impl CellKind {
    /// Gates stacked in the rows of the weights.
    pub(crate) fn gates(self) -> usize {
        match self {
            CellKind::Rnn(_) => 1,
            CellKind::Lstm => 4,
            CellKind::Gru(_) => 3,
        }
    }
}

/// One cell's arithmetic: the kind, its weights and its sizes. The public cells wrap one; the
/// sequence layers hold one per layer and direction.
#[derive(Clone)]
pub(crate) struct CellCore {
    pub kind: CellKind,
    pub w: CellWeights,
    pub input_size: usize,
    pub hidden_size: usize,
}

impl CellCore {
    pub(crate) fn new(
        kind: CellKind,
        pb: &ParamBuilder,
        suffix: &str,
        input_size: usize,
        hidden_size: usize,
        proj: usize,
        bias: bool,
    ) -> Result<CellCore> {
        let rows = kind.gates() * hidden_size;
        let w = CellWeights::register(pb, suffix, rows, input_size, hidden_size, proj, bias)?;
        Ok(CellCore {
            kind,
            w,
            input_size,
            hidden_size,
        })
    }

    fn h_out(&self) -> usize {
        self.w
            .w_hr
            .as_ref()
            .map_or(self.hidden_size, |w| w.dims()[0])
    }

    /// Rows `k*H .. (k+1)*H` of `t` along `dim`: gate `k`.
    fn gate(&self, t: &Tensor, dim: usize, k: usize) -> Result<Tensor> {
        t.narrow(dim, k * self.hidden_size, self.hidden_size)
    }
}

impl RecurrentCell for CellCore {
    fn state_sizes(&self) -> Vec<usize> {
        match self.kind {
            CellKind::Lstm => vec![self.h_out(), self.hidden_size],
            _ => vec![self.hidden_size],
        }
    }

    /// `x: (M, H_in)` -> `(M, G*H)`: `x W_ih^T + b_ih`, plus `b_hh` where it adds to the same
    /// pre-activation (RNN, LSTM; not the GRU, whose `b_hn` sits inside the reset product).
    fn project_input(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.w.w_ih.t()?)?;
        let fold = !matches!(self.kind, CellKind::Gru(_));
        match (&self.w.b_ih, &self.w.b_hh) {
            (Some(bi), Some(bh)) if fold => y.add(&bi.add(bh)?),
            (Some(bi), _) => y.add(bi),
            _ => Ok(y),
        }
    }

    /// `xp: (N, G*H)` from [`Self::project_input`], `state`: `[h (N, H_out)]` or, for the LSTM,
    /// `[h (N, H_out), c (N, H)]` -> the new state, in the same layout.
    fn step(&self, xp: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>> {
        let h = &state[0];
        let w = &self.w;
        match self.kind {
            CellKind::Rnn(act) => {
                let pre = xp.add(&h.matmul(&w.w_hh.t()?)?)?;
                Ok(vec![act.apply(&pre)?])
            }
            CellKind::Lstm => {
                // the gates' nonlinearities and the state update in one fused op
                let g = xp.add(&h.matmul(&w.w_hh.t()?)?)?;
                let (mut h, c) = g.lstm_cell(&state[1])?;
                if let Some(w_hr) = &w.w_hr {
                    h = h.matmul(&w_hr.t()?)?;
                }
                Ok(vec![h, c])
            }
            CellKind::Gru(v) if v == GruForm::PyTorch.into() => {
                // PyTorch's form: one product for all three gates, the rest fused
                let mut hh = h.matmul(&w.w_hh.t()?)?;
                if let Some(b) = &w.b_hh {
                    hh = hh.add(b)?;
                }
                Ok(vec![xp.gru_cell(&hh, h)?])
            }
            CellKind::Gru(v) => {
                // the canon's form, and the mixed variants the tests use, composed
                let hsz = self.hidden_size;
                let (xr, xz, xn) = (
                    self.gate(xp, 1, 0)?,
                    self.gate(xp, 1, 1)?,
                    self.gate(xp, 1, 2)?,
                );
                let (z, n) = if v.reset_before_product {
                    // r and z from one product; the candidate's product takes the reset state
                    let mut hrz = h.matmul(&w.w_hh.narrow(0, 0, 2 * hsz)?.t()?)?;
                    if let Some(b) = &w.b_hh {
                        hrz = hrz.add(&b.narrow(0, 0, 2 * hsz)?)?;
                    }
                    let r = xr.add(&hrz.narrow(1, 0, hsz)?)?.sigmoid()?;
                    let z = xz.add(&hrz.narrow(1, hsz, hsz)?)?.sigmoid()?;
                    let mut hn = r.mul(h)?.matmul(&self.gate(&w.w_hh, 0, 2)?.t()?)?;
                    if let Some(b) = &w.b_hh {
                        hn = hn.add(&self.gate(b, 0, 2)?)?;
                    }
                    (z, xn.add(&hn)?.tanh()?)
                } else {
                    let mut hh = h.matmul(&w.w_hh.t()?)?;
                    if let Some(b) = &w.b_hh {
                        hh = hh.add(b)?;
                    }
                    let r = xr.add(&self.gate(&hh, 1, 0)?)?.sigmoid()?;
                    let z = xz.add(&self.gate(&hh, 1, 1)?)?.sigmoid()?;
                    let n = xn.add(&r.mul(&self.gate(&hh, 1, 2)?)?)?.tanh()?;
                    (z, n)
                };
                // (1 - z) a + z b = a + z (b - a), one product fewer
                let h_new = if v.z_admits_candidate {
                    h.add(&z.mul(&n.sub(h)?)?)?
                } else {
                    n.add(&z.mul(&h.sub(&n)?)?)?
                };
                Ok(vec![h_new])
            }
        }
    }

    /// The LSTM without projection and PyTorch's GRU as one op over the whole sequence; the
    /// input projection is one matmul without the biases, which the op adds as it forms the
    /// gates (saving a pass over the projection).
    fn run_sequence(
        &self,
        x: &Tensor,
        (l, n): (usize, usize),
        state: &[Tensor],
        reverse: bool,
    ) -> Option<Result<(Tensor, Vec<Tensor>)>> {
        let w = &self.w;
        let fused = match self.kind {
            CellKind::Lstm => w.w_hr.is_none(),
            CellKind::Gru(v) => v == GruForm::PyTorch.into(),
            CellKind::Rnn(_) => false,
        };
        if !fused {
            return None;
        }
        let run = || {
            let xp = x.matmul(&w.w_ih.t()?)?;
            let xp = xp.reshape([l, n, xp.dims()[1]])?;
            let b = (w.b_ih.as_ref(), w.b_hh.as_ref());
            if self.kind == CellKind::Lstm {
                let (out, h, c) = xp.lstm_seq(&w.w_hh, b, &state[0], &state[1], reverse)?;
                Ok((out, vec![h, c]))
            } else {
                let (out, h) = xp.gru_seq(&w.w_hh, b, &state[0], reverse)?;
                Ok((out, vec![h]))
            }
        };
        Some(run())
    }
}

/// Checks a cell's input `(N, H_in)` / `(H_in)` and state `(N, size)` / `(size)` (zeros when
/// absent, in the input's dtype); returns the input and state as 2-d and whether the input was
/// unbatched.
fn batch_cell_args(
    op: &'static str,
    core: &CellCore,
    x: &Tensor,
    state: &[Option<&Tensor>],
) -> Result<(Tensor, Vec<Tensor>, bool)> {
    let h_in = core.input_size;
    if !(1..=2).contains(&x.rank()) || x.dims()[x.rank() - 1] != h_in {
        return Err(Error::Rank {
            op,
            expected: format!("an input (N, {h_in}) or unbatched ({h_in})"),
            got: x.shape().clone(),
        });
    }
    let unbatched = x.rank() == 1;
    let x2 = if unbatched {
        x.unsqueeze(0)?
    } else {
        x.clone()
    };
    let n = x2.dims()[0];
    let names = ["h", "c"];
    let mut out = Vec::new();
    for ((s, size), name) in state.iter().zip(core.state_sizes()).zip(names) {
        let want: Vec<usize> = if unbatched { vec![size] } else { vec![n, size] };
        match s {
            Some(t) if t.dims() != want.as_slice() => {
                return Err(Error::InvalidArgument {
                    op,
                    msg: format!(
                        "state {name} must be {want:?} for input {}, got {}",
                        x.shape(),
                        t.shape()
                    ),
                })
            }
            Some(t) if unbatched => out.push(t.unsqueeze(0)?),
            Some(t) => out.push((*t).clone()),
            None => out.push(Tensor::zeros_on([n, size], x.dtype(), x.device())?),
        }
    }
    Ok((x2, out, unbatched))
}

/// Runs one step of `core` on a cell's arguments; the new state in the input's batchedness.
fn cell_step(
    op: &'static str,
    core: &CellCore,
    x: &Tensor,
    state: &[Option<&Tensor>],
) -> Result<Vec<Tensor>> {
    let (x2, st, unbatched) = batch_cell_args(op, core, x, state)?;
    let xp = core.project_input(&x2)?;
    let new = core.step(&xp, &st)?;
    if unbatched {
        new.iter().map(|t| t.squeeze(0)).collect()
    } else {
        Ok(new)
    }
}

/// PyTorch's cell repr: `RNNCell(3, 4)`, `LSTMCell(3, 4, bias=False)`.
fn cell_describe(name: &str, core: &CellCore, extra: Option<String>) -> String {
    let mut s = format!("{name}({}, {}", core.input_size, core.hidden_size);
    if core.w.b_ih.is_none() {
        s.push_str(", bias=False");
    }
    if let Some(e) = extra {
        s.push_str(", ");
        s.push_str(&e);
    }
    s.push(')');
    s
}

fn check_sizes(op: &'static str, input_size: usize, hidden_size: usize) -> Result<()> {
    if input_size == 0 || hidden_size == 0 {
        return Err(Error::InvalidArgument {
            op,
            msg: format!(
                "input_size and hidden_size must be at least 1, got {input_size} and {hidden_size}"
            ),
        });
    }
    Ok(())
}

/// The Elman cell, `h' = act(W_ih x + b_ih + W_hh h + b_hh)` (`torch.nn.RNNCell`).
///
/// Parameters: `weight_ih: (H, H_in)`, `weight_hh: (H, H)`, `bias_ih`, `bias_hh: (H,)`.
/// Shapes: `x: (N, H_in)` or `(H_in)`, `h: (N, H)` or `(H)` -> `(N, H)` or `(H)`.
pub struct RNNCell {
    core: CellCore,
    path: String,
}

impl RNNCell {
    /// A new cell registering its parameters under `pb`'s path, uniform in `±1/sqrt(H)`.
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        nonlinearity: RnnNonlinearity,
        pb: &ParamBuilder,
    ) -> Result<RNNCell> {
        let build = || {
            check_sizes("rnn_cell", input_size, hidden_size)?;
            let kind = CellKind::Rnn(nonlinearity);
            CellCore::new(kind, pb, "", input_size, hidden_size, 0, bias)
        };
        Ok(RNNCell {
            core: build().map_err(|e| in_module(e, pb.path()))?,
            path: pb.path().to_string(),
        })
    }

    /// One step; `h` defaults to zeros.
    pub fn step(&self, x: &Tensor, h: Option<&Tensor>) -> Result<Tensor> {
        let mut s =
            cell_step("rnn_cell", &self.core, x, &[h]).map_err(|e| in_module(e, &self.path))?;
        Ok(s.remove(0))
    }

    /// `weight_ih: (H, H_in)`.
    pub fn weight_ih(&self) -> &Tensor {
        &self.core.w.w_ih
    }

    /// `weight_hh: (H, H)`.
    pub fn weight_hh(&self) -> &Tensor {
        &self.core.w.w_hh
    }
}

impl Module for RNNCell {
    /// One step from a zero state.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.step(x, None)
    }

    fn describe(&self) -> String {
        let extra = match self.core.kind {
            CellKind::Rnn(a) if a != RnnNonlinearity::Tanh => {
                Some(format!("nonlinearity={}", a.py_name()))
            }
            _ => None,
        };
        cell_describe("RNNCell", &self.core, extra)
    }
}

/// The LSTM cell (`torch.nn.LSTMCell`), gates i, f, g, o in the rows of the weights:
/// `c' = σ(f) * c + σ(i) * tanh(g)`, `h' = σ(o) * tanh(c')`.
///
/// Parameters: `weight_ih: (4H, H_in)`, `weight_hh: (4H, H)`, `bias_ih`, `bias_hh: (4H,)`.
/// Shapes: `x: (N, H_in)` or `(H_in)`, `(h, c)` each `(N, H)` or `(H)` -> `(h', c')`.
pub struct LSTMCell {
    core: CellCore,
    path: String,
}

impl LSTMCell {
    /// A new cell registering its parameters under `pb`'s path, uniform in `±1/sqrt(H)`.
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<LSTMCell> {
        let build = || {
            check_sizes("lstm_cell", input_size, hidden_size)?;
            CellCore::new(CellKind::Lstm, pb, "", input_size, hidden_size, 0, bias)
        };
        Ok(LSTMCell {
            core: build().map_err(|e| in_module(e, pb.path()))?,
            path: pb.path().to_string(),
        })
    }

    /// One step; the state `(h, c)` defaults to zeros. Returns `(h', c')`.
    pub fn step(&self, x: &Tensor, state: Option<(&Tensor, &Tensor)>) -> Result<(Tensor, Tensor)> {
        let st = [state.map(|s| s.0), state.map(|s| s.1)];
        let mut s =
            cell_step("lstm_cell", &self.core, x, &st).map_err(|e| in_module(e, &self.path))?;
        let c = s.pop().expect("an LSTM state has h and c");
        Ok((s.remove(0), c))
    }

    /// `weight_ih: (4H, H_in)`.
    pub fn weight_ih(&self) -> &Tensor {
        &self.core.w.w_ih
    }

    /// `weight_hh: (4H, H)`.
    pub fn weight_hh(&self) -> &Tensor {
        &self.core.w.w_hh
    }
}

impl Module for LSTMCell {
    /// One step from a zero state; returns `h'`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.step(x, None)?.0)
    }

    fn describe(&self) -> String {
        cell_describe("LSTMCell", &self.core, None)
    }
}

/// The GRU cell (`torch.nn.GRUCell`, or the canon's equations with [`GruForm::Canon`]; see the
/// [`GruForm`]), gates r, z, n in the rows of the weights.
///
/// Parameters: `weight_ih: (3H, H_in)`, `weight_hh: (3H, H)`, `bias_ih`, `bias_hh: (3H,)`.
/// Shapes: `x: (N, H_in)` or `(H_in)`, `h: (N, H)` or `(H)` -> `(N, H)` or `(H)`.
pub struct GRUCell {
    core: CellCore,
    form: GruForm,
    path: String,
}

impl GRUCell {
    /// A new cell registering its parameters under `pb`'s path, uniform in `±1/sqrt(H)`.
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        form: GruForm,
        pb: &ParamBuilder,
    ) -> Result<GRUCell> {
        let build = || {
            check_sizes("gru_cell", input_size, hidden_size)?;
            let kind = CellKind::Gru(form.into());
            CellCore::new(kind, pb, "", input_size, hidden_size, 0, bias)
        };
        Ok(GRUCell {
            core: build().map_err(|e| in_module(e, pb.path()))?,
            form,
            path: pb.path().to_string(),
        })
    }

    /// One step; `h` defaults to zeros.
    pub fn step(&self, x: &Tensor, h: Option<&Tensor>) -> Result<Tensor> {
        let mut s =
            cell_step("gru_cell", &self.core, x, &[h]).map_err(|e| in_module(e, &self.path))?;
        Ok(s.remove(0))
    }

    /// The form of the equations.
    pub fn form(&self) -> GruForm {
        self.form
    }

    /// `weight_ih: (3H, H_in)`.
    pub fn weight_ih(&self) -> &Tensor {
        &self.core.w.w_ih
    }

    /// `weight_hh: (3H, H)`.
    pub fn weight_hh(&self) -> &Tensor {
        &self.core.w.w_hh
    }
}

impl Module for GRUCell {
    /// One step from a zero state.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.step(x, None)
    }

    fn describe(&self) -> String {
        let extra = (self.form == GruForm::Canon).then(|| "gru_form=canon".to_string());
        cell_describe("GRUCell", &self.core, extra)
    }
}

#[cfg(test)]
#[path = "rnn_tests.rs"]
mod tests;
