//! Whole-sequence LSTM and GRU: one layer and direction of `torch.nn.LSTM` / `torch.nn.GRU`
//! over all `L` steps as one op, forward and backward, instead of a recurrent matmul and a fused
//! cell ([`super::rnn`]) per step. The input projection of all steps (`x W_ih^T`, one matmul)
//! stays outside, so its gradients flow as usual; the biases are the op's operands (added as the
//! gates are formed instead of in a pass over the projection of its own).
//!
//! The op's single output is the sequence of states in time order with the initial state at the
//! end the steps start from (`(L + 1, N, H)`, and for the LSTM one more row, the final cell
//! state); the methods return views of it. The device keeps what its backward needs in a
//! reserve (a storage the backward node holds), and the backward, one primitive too, returns
//! the gradients of the projection, the weight (summed over all steps), the biases and the
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

/// Which optional operands a sequence op has: the op's inputs are `[xp, w_hh, b_ih?, b_hh?,
/// h0, c0?]`.
#[derive(Clone, Copy, Debug)]
struct Inputs {
    cell: Cell,
    b_ih: bool,
    b_hh: bool,
}

impl Inputs {
    /// The device operands from the inputs' storages (read guards) and layouts.
    fn operands<'a>(
        self,
        st: &'a [std::sync::RwLockReadGuard<'a, Storage>],
        x: &'a [&'a Tensor],
        reverse: bool,
    ) -> SeqOperands<'a, Storage> {
        let at = |i: usize| (&*st[i], x[i].layout());
        let (bi, bh) = (usize::from(self.b_ih), usize::from(self.b_hh));
        SeqOperands {
            xp: at(0),
            w_hh: at(1),
            b_ih: self.b_ih.then(|| at(2)),
            b_hh: self.b_hh.then(|| at(2 + bi)),
            h0: at(2 + bi + bh),
            c0: (self.cell == Cell::Lstm).then(|| at(3 + bi + bh)),
            reverse,
        }
    }
}

/// The backward of a sequence op, output the states.
struct SeqBackward {
    inputs: Inputs,
    reserve: Storage,
    reverse: bool,
}

impl Backward for SeqBackward {
    fn name(&self) -> &'static str {
        self.inputs.cell.name()
    }
    fn backward(&self, x: &[Tensor], y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let gy = gy.to_dtype(x[0].dtype())?;
        let xs: Vec<&Tensor> = x.iter().collect();
        let st: Vec<_> = x.iter().map(|t| t.storage()).collect();
        let ops = self.inputs.operands(&st, &xs, self.reverse);
        let (ys, gs) = (y.storage(), gy.storage());
        let (out, g) = ((&*ys, y.layout()), (&*gs, gy.layout()));
        let grads = match self.inputs.cell {
            Cell::Lstm => Storage::lstm_seq_backward(&ops, out, &self.reserve, g)?,
            Cell::Gru => Storage::gru_seq_backward(&ops, out, &self.reserve, g)?,
        };
        // in the inputs' order, each in its input's shape
        let mut shapes = x.iter().map(|t| t.shape().clone());
        let mut like = |s: Storage| Some(Tensor::from_storage(s, shapes.next().expect("an input")));
        let mut v = vec![like(grads.dxp), like(grads.dw_hh)];
        v.extend(grads.db_ih.map(&mut like));
        v.extend(grads.db_hh.map(&mut like));
        v.push(like(grads.dh0));
        v.extend(grads.dc0.map(&mut like));
        Ok(v)
    }
}

/// Checks the operands of a sequence op; returns `(L, N, H)`.
fn check(
    cell: Cell,
    xp: &Tensor,
    w_hh: &Tensor,
    (b_ih, b_hh): (Option<&Tensor>, Option<&Tensor>),
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
    for (name, b) in [("b_ih", b_ih), ("b_hh", b_hh)] {
        let Some(b) = b else { continue };
        if b.dims() != [g * h] {
            return Err(Error::invalid(
                op,
                format!(
                    "{name} must be ({}) for w_hh {}, got {}",
                    g * h,
                    w_hh.shape(),
                    b.shape()
                ),
            ));
        }
        all.push((name, b));
    }
    check_dtypes(op, &all)?;
    Ok((l, n, h))
}

/// Runs the forward on `inputs` (`[xp, w_hh, b_ih?, b_hh?, h0, c0?]`) and records the node;
/// the states have `rows` rows.
fn run(which: Inputs, inputs: &[&Tensor], reverse: bool, rows: usize) -> Result<Tensor> {
    let save = is_grad_enabled() && inputs.iter().any(|t| t.tracks_grad());
    let (out, reserve) = {
        let st: Vec<_> = inputs.iter().map(|t| t.storage()).collect();
        let ops = which.operands(&st, inputs, reverse);
        match which.cell {
            Cell::Lstm => Storage::lstm_seq(&ops, save)?,
            Cell::Gru => Storage::gru_seq(&ops, save)?,
        }
    };
    let (n, h) = (inputs[0].dims()[1], inputs[1].dims()[1]);
    let node = SeqBackward {
        inputs: which,
        reserve,
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
    /// input projection of every step, `x_t W_ih^T` (gates i, f, g, o); `w_hh: (4H, H)`, the
    /// biases `b_ih`, `b_hh: (4H)` (each optional), `h0`, `c0: (N, H)`, all of one float
    /// dtype. Step `t` (from `t = 0`, or from `L - 1` down with `reverse`) runs
    /// [`Tensor::lstm_cell`] on the gates `xp[t] + (b_ih + b_hh) + h W_hh^T`. Returns the
    /// output `(L, N, H)` (`h_t` of every step, in time order), and the final `h_n`, `c_n:
    /// (N, H)`; differentiable with respect to every operand.
    pub fn lstm_seq(
        &self,
        w_hh: &Tensor,
        (b_ih, b_hh): (Option<&Tensor>, Option<&Tensor>),
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (l, ..) = check(Cell::Lstm, self, w_hh, (b_ih, b_hh), h0, Some(c0))?;
        let which = Inputs {
            cell: Cell::Lstm,
            b_ih: b_ih.is_some(),
            b_hh: b_hh.is_some(),
        };
        let mut inputs = vec![self, w_hh];
        inputs.extend(b_ih.into_iter().chain(b_hh));
        inputs.extend([h0, c0]);
        let states = run(which, &inputs, reverse, l + 2)?;
        let (out, h_n) = outputs(&states, l, reverse)?;
        Ok((out, h_n, states.narrow(0, l + 1, 1)?.squeeze(0)?))
    }

    /// One GRU layer and direction over a whole sequence in PyTorch's form, as one op
    /// (`torch.nn.GRU` with one layer, every sequence of full length). `self = xp: (L, N, 3H)`
    /// is `x_t W_ih^T` of every step (gates r, z, n); `w_hh: (3H, H)`, the biases `b_ih`,
    /// `b_hh: (3H)` (each optional), `h0: (N, H)`, all of one float dtype. Step `t` (from
    /// `t = 0`, or from `L - 1` down with `reverse`) runs [`Tensor::gru_cell`] on `xp[t] +
    /// b_ih` and `h W_hh^T + b_hh`. Returns the output `(L, N, H)` (`h_t` of every step, in
    /// time order) and the final `h_n: (N, H)`; differentiable with respect to every operand.
    pub fn gru_seq(
        &self,
        w_hh: &Tensor,
        (b_ih, b_hh): (Option<&Tensor>, Option<&Tensor>),
        h0: &Tensor,
        reverse: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (l, ..) = check(Cell::Gru, self, w_hh, (b_ih, b_hh), h0, None)?;
        let which = Inputs {
            cell: Cell::Gru,
            b_ih: b_ih.is_some(),
            b_hh: b_hh.is_some(),
        };
        let mut inputs = vec![self, w_hh];
        inputs.extend(b_ih.into_iter().chain(b_hh));
        inputs.push(h0);
        let states = run(which, &inputs, reverse, l + 1)?;
        outputs(&states, l, reverse)
    }
}

#[cfg(test)]
#[path = "rnn_seq_tests.rs"]
mod tests;
