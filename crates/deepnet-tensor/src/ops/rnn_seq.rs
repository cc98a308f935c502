//! Whole-sequence LSTM and GRU: one layer and direction of `torch.nn.LSTM` / `torch.nn.GRU`
//! over all `L` steps as one op, forward and backward, instead of a recurrent matmul and a fused
//! cell ([`super::rnn`]) per step. The input projection of all steps (`x W_ih^T + b_ih`, one
//! matmul) stays outside, as in the per-step composition, so its gradients flow as usual.
//!
//! The op's single output is the sequence of states in time order with the initial state at the
//! end the steps start from (`(L + 1, N, H)`, and for the LSTM one more row, the final cell
//! state); the methods return views of it. The device keeps what its backward needs in a
//! reserve (a storage the backward node holds), and the backward, one primitive too, returns
//! the gradients of the projection, the weight (summed over all steps), the bias and the
//! initial states.

use super::rnn::{check_2d, check_dtypes};
use crate::autograd::Backward;
use crate::backend::SeqOperands;
use crate::{is_grad_enabled, Error, Result, Storage, Tensor};

/// Which recurrence a sequence op runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    Lstm,
    Gru,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm_seq",
            Cell::Gru => "gru_seq",
        }
    }
}

/// The backward of a sequence op: inputs `[xp, w_hh, b_hh?, h0, c0?]` (the bias for the GRU
/// when it has one, `c0` for the LSTM), output the states.
struct SeqBackward {
    cell: Cell,
    reserve: Storage,
    has_bias: bool,
    reverse: bool,
}

impl Backward for SeqBackward {
    fn name(&self) -> &'static str {
        self.cell.name()
    }
    fn backward(&self, x: &[Tensor], y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gy = gy.to_dtype(x[0].dtype())?;
        let st: Vec<_> = x.iter().map(|t| t.storage()).collect();
        let at = |i: usize| (&*st[i], x[i].layout());
        let b = usize::from(self.has_bias);
        let ops = SeqOperands {
            xp: at(0),
            w_hh: at(1),
            b_hh: self.has_bias.then(|| at(2)),
            h0: at(2 + b),
            c0: (self.cell == Cell::Lstm).then(|| at(3)),
            reverse: self.reverse,
        };
        let (ys, gs) = (y.storage(), gy.storage());
        let (out, g) = ((&*ys, y.layout()), (&*gs, gy.layout()));
        let grads = match self.cell {
            Cell::Lstm => Storage::lstm_seq_backward(&ops, out, &self.reserve, g)?,
            Cell::Gru => Storage::gru_seq_backward(&ops, out, &self.reserve, g)?,
        };
        let like = |s: Storage, t: &Tensor| Some(Tensor::from_storage(s, t.shape().clone()));
        let mut v = vec![like(grads.dxp, &x[0]), like(grads.dw_hh, &x[1])];
        if let Some(db) = grads.db_hh {
            v.push(like(db, &x[2]));
        }
        v.push(like(grads.dh0, &x[2 + b]));
        if let Some(dc) = grads.dc0 {
            v.push(like(dc, &x[3]));
        }
        Ok(v)
    }
}

/// Checks the operands of a sequence op; returns `(L, N, H)`.
fn check(
    cell: Cell,
    xp: &Tensor,
    w_hh: &Tensor,
    b_hh: Option<&Tensor>,
    h0: &Tensor,
    c0: Option<&Tensor>,
) -> Result<(usize, usize, usize)> {
    let (op, g) = (cell.name(), cell.gates());
    if w_hh.rank() != 2 || w_hh.dims()[0] != g * w_hh.dims()[1] {
        return Err(Error::invalid(
            op,
            format!(
                "w_hh must be ({g}*H, H), the gates' rows stacked, got {}",
                w_hh.shape()
            ),
        ));
    }
    let h = w_hh.dims()[1];
    if xp.rank() != 3 || xp.dims()[2] != g * h {
        return Err(Error::invalid(
            op,
            format!(
                "xp must be (L, N, {g}*H) = (L, N, {}) for w_hh {}, got {}",
                g * h,
                w_hh.shape(),
                xp.shape()
            ),
        ));
    }
    let (l, n) = (xp.dims()[0], xp.dims()[1]);
    check_2d(op, "h0", h0, (n, h))?;
    let mut all = vec![("xp", xp), ("w_hh", w_hh), ("h0", h0)];
    if let Some(c0) = c0 {
        check_2d(op, "c0", c0, (n, h))?;
        all.push(("c0", c0));
    }
    if let Some(b) = b_hh {
        if b.dims() != [g * h] {
            return Err(Error::invalid(
                op,
                format!(
                    "b_hh must be ({}) for w_hh {}, got {}",
                    g * h,
                    w_hh.shape(),
                    b.shape()
                ),
            ));
        }
        all.push(("b_hh", b));
    }
    check_dtypes(op, &all)?;
    Ok((l, n, h))
}

/// Runs the forward of `cell` on `inputs` (`[xp, w_hh, b_hh?, h0, c0?]`) and records the node.
fn run(
    cell: Cell,
    inputs: &[&Tensor],
    has_bias: bool,
    reverse: bool,
    rows: usize,
) -> Result<Tensor> {
    let save = is_grad_enabled() && inputs.iter().any(|t| t.tracks_grad());
    let (out, reserve) = {
        let st: Vec<_> = inputs.iter().map(|t| t.storage()).collect();
        let at = |i: usize| (&*st[i], inputs[i].layout());
        let b = usize::from(has_bias);
        let ops = SeqOperands {
            xp: at(0),
            w_hh: at(1),
            b_hh: has_bias.then(|| at(2)),
            h0: at(2 + b),
            c0: (cell == Cell::Lstm).then(|| at(3)),
            reverse,
        };
        match cell {
            Cell::Lstm => Storage::lstm_seq(&ops, save)?,
            Cell::Gru => Storage::gru_seq(&ops, save)?,
        }
    };
    let (n, h) = (inputs[0].dims()[1], inputs[1].dims()[1]);
    let node = SeqBackward {
        cell,
        reserve,
        has_bias,
        reverse,
    };
    Ok(Tensor::from_op(out, [rows, n, h], node, inputs))
}

/// The per-step outputs `(L, N, H)` and the final hidden state `(N, H)`, views of the states.
fn outputs(states: &Tensor, l: usize, reverse: bool) -> Result<(Tensor, Tensor)> {
    let first = usize::from(!reverse);
    let last = if reverse { 0 } else { l };
    Ok((
        states.narrow(0, first, l)?,
        states.narrow(0, last, 1)?.squeeze(0)?,
    ))
}

impl Tensor {
    /// One LSTM layer and direction over a whole sequence, as one op (`torch.nn.LSTM` with one
    /// layer, no projection, every sequence of full length). `self = xp: (L, N, 4H)` is the
    /// input projection of every step, `x_t W_ih^T + b_ih` (gates i, f, g, o); `w_hh: (4H, H)`,
    /// `b_hh: (4H)` (or `None`), `h0`, `c0: (N, H)`, all of one float dtype. Step `t` (from
    /// `t = 0`, or from `L - 1` down with `reverse`) runs [`Tensor::lstm_cell`] on the gates
    /// `xp[t] + b_hh + h W_hh^T`. Returns the output `(L, N, H)` (`h_t` of every step, in time
    /// order), and the final `h_n`, `c_n: (N, H)`; differentiable with respect to every
    /// operand.
    pub fn lstm_seq(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (l, ..) = check(Cell::Lstm, self, w_hh, b_hh, h0, Some(c0))?;
        // the bias adds to every step's gates: fold it into the projection
        let xp = match b_hh {
            Some(b) => self.add(b)?,
            None => self.clone(),
        };
        let states = run(Cell::Lstm, &[&xp, w_hh, h0, c0], false, reverse, l + 2)?;
        let (out, h_n) = outputs(&states, l, reverse)?;
        Ok((out, h_n, states.narrow(0, l + 1, 1)?.squeeze(0)?))
    }

    /// One GRU layer and direction over a whole sequence in PyTorch's form, as one op
    /// (`torch.nn.GRU` with one layer, every sequence of full length). `self = xp: (L, N, 3H)`
    /// is `x_t W_ih^T + b_ih` of every step (gates r, z, n); `w_hh: (3H, H)`, `b_hh: (3H)` (or
    /// `None`), `h0: (N, H)`, all of one float dtype. Step `t` (from `t = 0`, or from `L - 1`
    /// down with `reverse`) runs [`Tensor::gru_cell`] on `xp[t]` and `h W_hh^T + b_hh`.
    /// Returns the output `(L, N, H)` (`h_t` of every step, in time order) and the final
    /// `h_n: (N, H)`; differentiable with respect to every operand.
    pub fn gru_seq(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        reverse: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (l, ..) = check(Cell::Gru, self, w_hh, b_hh, h0, None)?;
        let mut inputs = vec![self, w_hh];
        inputs.extend(b_hh);
        inputs.push(h0);
        let states = run(Cell::Gru, &inputs, b_hh.is_some(), reverse, l + 1)?;
        outputs(&states, l, reverse)
    }
}

#[cfg(test)]
#[path = "rnn_seq_tests.rs"]
mod tests;
