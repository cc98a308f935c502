//! The multi-layer recurrent sequence layers `RNN`, `LSTM` and `GRU` (`torch.nn.RNN`, `LSTM`,
//! `GRU`), their shared [`RnnConfig`], and the sequence runner that other recurrent cells (the
//! canon's in `rnn_canon.rs`) reuse through [`RecurrentCell`], [`SequenceRunner`] and [`Stack`].
//!
//! Shapes (`D = 2` if bidirectional else 1, `H_out = proj_size` if it is non-zero else
//! `hidden_size`):
//! - input `(L, N, H_in)`, `(N, L, H_in)` with `batch_first`, or unbatched `(L, H_in)`;
//! - output `(L, N, D*H_out)` (`(N, L, D*H_out)` with `batch_first`; unbatched `(L, D*H_out)`),
//!   the last layer's `h` at every step, both directions concatenated (forward first);
//! - `h_0`/`h_n: (D*num_layers, N, H_out)` and, for the LSTM, `c_0`/`c_n: (D*num_layers, N,
//!   hidden_size)`, never batch-first, without the `N` dim when unbatched; row `k*D + d` is layer
//!   `k`, direction `d` (0 forward, 1 reverse).
//!
//! Layer `k > 0` takes the `D*H_out` outputs of layer `k - 1`, with dropout on them in training
//! when `dropout > 0` (never after the last layer). Parameters are PyTorch's keys and shapes,
//! `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, `weight_hr_l{k}` (LSTM with
//! `proj_size`), with `_reverse` for the backward direction.
//!
//! Variable-length batches: `lengths[b]` (in `1..=L`, any order) is sequence `b`'s true length.
//! At steps `t >= lengths[b]` its outputs are zero and its state is held, so `h_n` is the state
//! after its own last step; the reverse direction starts at its own last step. The padding is
//! selected away (not multiplied by zero), so it never reaches the outputs, and the gradient with
//! respect to a padded input position is exactly zero.
//!
//! BPTT is autograd through the steps. Per layer and direction the input projection of all steps
//! is one matmul, `(L*N, H_in) @ W_ih^T`; each step then adds one recurrent matmul. Where every
//! sequence runs all `L` steps (no `lengths`, or all of them `L`), the LSTM without projection
//! and PyTorch's GRU run all steps as one fused op instead ([`Tensor::lstm_seq`],
//! [`Tensor::gru_seq`]: one pass over the threads for the whole sequence, forward and backward).
//! Truncated BPTT passes `h_n.detach()` as the next chunk's `h_0`.

use super::rnn::{CellCore, CellKind, GruForm, RnnNonlinearity};
use super::{in_module, py_float};
use crate::{functional, Module, ParamBuilder};
use deepnet_tensor::{Device, Error, Generator, Result, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The settings of a recurrent sequence layer, PyTorch's constructor arguments plus the canon's
/// options. [`RnnConfig::new`] gives PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnConfig {
    /// features of each input step, `H_in`
    pub input_size: usize,
    /// features of the hidden state (the LSTM's cell state with a projection)
    pub hidden_size: usize,
    /// stacked layers (1)
    pub num_layers: usize,
    /// whether the cells have `bias_ih`/`bias_hh` (true)
    pub bias: bool,
    /// inputs and outputs `(N, L, *)` instead of `(L, N, *)` (false); states are never batch-first
    pub batch_first: bool,
    /// dropout probability on the outputs of every layer but the last, in training (0.0)
    pub dropout: f64,
    /// run a second direction backwards through the sequence (false)
    pub bidirectional: bool,
    /// LSTM only: project `h` to this size with `weight_hr` (0 = no projection)
    pub proj_size: usize,
    /// RNN only: the nonlinearity (tanh)
    pub nonlinearity: RnnNonlinearity,
    /// GRU only: PyTorch's equations (default) or the canon's
    pub gru_form: GruForm,
}

impl RnnConfig {
    /// PyTorch's defaults: one layer, biases, sequence-first, no dropout, one direction, no
    /// projection, tanh, PyTorch's GRU.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            proj_size: 0,
            nonlinearity: RnnNonlinearity::Tanh,
            gru_form: GruForm::PyTorch,
        }
    }

    /// `D`: 2 if bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// `H_out`: `proj_size` if non-zero, else `hidden_size`.
    pub fn output_size(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }

    /// The input features of layer `k`: `input_size`, then `D*H_out`.
    pub fn layer_input_size(&self, layer: usize) -> usize {
        if layer == 0 {
            self.input_size
        } else {
            self.num_directions() * self.output_size()
        }
    }

    /// The parameter-key suffix of layer `k`, direction `dir`: `_l0`, `_l1_reverse`.
    pub(crate) fn suffix(layer: usize, dir: usize) -> String {
        format!("_l{layer}{}", if dir == 1 { "_reverse" } else { "" })
    }

    /// Checks the sizes, the dropout and (unless `allow_proj`) that `proj_size` is zero.
    pub(crate) fn validate(&self, op: &'static str, allow_proj: bool) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument { op, msg });
        if self.input_size == 0 || self.hidden_size == 0 || self.num_layers == 0 {
            return bad(format!(
                "input_size, hidden_size and num_layers must be at least 1, got {}, {} and {}",
                self.input_size, self.hidden_size, self.num_layers
            ));
        }
        functional::check_dropout_p(self.dropout)?;
        if self.proj_size > 0 && !allow_proj {
            return bad(format!(
                "proj_size = {} is only supported by LSTM",
                self.proj_size
            ));
        }
        if self.proj_size >= self.hidden_size && self.proj_size > 0 {
            return bad(format!(
                "proj_size = {} must be smaller than hidden_size = {}",
                self.proj_size, self.hidden_size
            ));
        }
        Ok(())
    }
}

/// One layer and direction of a recurrent network, as [`SequenceRunner`] drives it.
pub(crate) trait RecurrentCell: Send + Sync {
    /// The feature sizes of the state tensors, `h` first: `[H_out]`, or `[H_out, H_cell]`.
    fn state_sizes(&self) -> Vec<usize>;
    /// Everything of a step that depends on the input alone, for all steps at once:
    /// `x: (M, in)` -> `(M, P)`.
    fn project_input(&self, x: &Tensor) -> Result<Tensor>;
    /// One step: `xp: (N, P)` (this step's rows of [`Self::project_input`]) and the state (each
    /// `(N, size)`) -> the new state, `h` first.
    fn step(&self, xp: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>>;
    /// All steps at once, where the cell has a fused whole-sequence op: the layer's input
    /// `x: (L*N, in)` with `(L, N)`, the initial state, and whether the steps run from `t = L -
    /// 1` down -> the output `(L, N, H_out)` in time order and the final state. `None` where
    /// the cell has no such op (the runner then projects and steps); it equals stepping, to
    /// rounding.
    fn run_sequence(
        &self,
        _x: &Tensor,
        _ln: (usize, usize),
        _state: &[Tensor],
        _reverse: bool,
    ) -> Option<Result<(Tensor, Vec<Tensor>)>> {
        None
    }
}

/// Runs stacked, optionally bidirectional cells over a sequence (the layout, masking, dropout
/// and state handling every sequence layer shares), and holds the layer's mode, dropout
/// generator (seeded from the store's) and path.
pub(crate) struct SequenceRunner {
    cfg: RnnConfig,
    op: &'static str,
    training: AtomicBool,
    gen: Arc<Mutex<Generator>>,
    path: String,
}

impl SequenceRunner {
    /// A runner for `cfg` (validated by the caller), starting in training mode like PyTorch's
    /// modules. `op` names the layer in messages (`"lstm"`).
    ///
    /// The dropout seed is drawn whatever the dropout, so that the parameters of modules
    /// built after this one do not depend on the setting.
    pub(crate) fn new(op: &'static str, cfg: &RnnConfig, pb: &ParamBuilder) -> SequenceRunner {
        SequenceRunner::from_parts(op, cfg, pb.generator(), pb.path().to_string())
    }

    fn from_parts(
        op: &'static str,
        cfg: &RnnConfig,
        gen: Arc<Mutex<Generator>>,
        path: String,
    ) -> SequenceRunner {
        SequenceRunner {
            cfg: cfg.clone(),
            op,
            training: AtomicBool::new(true),
            gen,
            path,
        }
    }

    pub(crate) fn config(&self) -> &RnnConfig {
        &self.cfg
    }

    pub(crate) fn set_training(&self, on: bool) {
        self.training.store(on, Ordering::Relaxed);
    }

    pub(crate) fn is_training(&self) -> bool {
        self.training.load(Ordering::Relaxed)
    }

    /// Runs `cells` (`num_layers * D` of them, layer-major, forward before reverse) over `x`.
    /// `state0[k]` is the initial state tensor `k` (`h_0`, `c_0`) for all layers, zeros when
    /// `None`. Returns the output and the final states, shaped as in the module docs. Errors
    /// carry the layer's path.
    pub(crate) fn run(
        &self,
        cells: &[&dyn RecurrentCell],
        x: &Tensor,
        state0: &[Option<&Tensor>],
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        self.run_inner(cells, x, state0, lengths)
            .map_err(|e| in_module(e, &self.path))
    }

    fn run_inner(
        &self,
        cells: &[&dyn RecurrentCell],
        x: &Tensor,
        state0: &[Option<&Tensor>],
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (cfg, op) = (&self.cfg, self.op);
        let (d, nl) = (cfg.num_directions(), cfg.num_layers);
        debug_assert_eq!(cells.len(), d * nl);
        let h_in = cfg.input_size;
        if !(2..=3).contains(&x.rank()) || x.dims()[x.rank() - 1] != h_in {
            let layout = if cfg.batch_first { "(N, L" } else { "(L, N" };
            return Err(Error::Rank {
                op,
                expected: format!("an input {layout}, {h_in}) or unbatched (L, {h_in})"),
                got: x.shape().clone(),
            });
        }
        let unbatched = x.rank() == 2;
        // internally always (L, N, features)
        let x3 = if unbatched {
            x.unsqueeze(1)?
        } else if cfg.batch_first {
            x.transpose(0, 1)?
        } else {
            x.clone()
        };
        let (l, n) = (x3.dims()[0], x3.dims()[1]);
        if l == 0 || n == 0 {
            return Err(Error::InvalidArgument {
                op,
                msg: format!("empty input {} (L and N must be at least 1)", x.shape()),
            });
        }
        let masks = step_masks(op, lengths, l, n, x.device())?;

        let sizes = cells[0].state_sizes();
        let mut init: Vec<Vec<Tensor>> = vec![Vec::new(); d * nl];
        for (k, &size) in sizes.iter().enumerate() {
            let name = ["h0", "c0"].get(k).copied().unwrap_or("state");
            let rows = match state0.get(k).copied().flatten() {
                Some(t) => {
                    let want: Vec<usize> = if unbatched {
                        vec![d * nl, size]
                    } else {
                        vec![d * nl, n, size]
                    };
                    if t.dims() != want.as_slice() {
                        return Err(Error::InvalidArgument {
                            op,
                            msg: format!(
                                "{name} must be (D*num_layers{}, {}) = {want:?} for input {}, got {}",
                                if unbatched { "" } else { ", N" },
                                if k == 0 { "H_out" } else { "hidden_size" },
                                x.shape(),
                                t.shape()
                            ),
                        });
                    }
                    let t3 = if unbatched {
                        t.unsqueeze(1)?
                    } else {
                        t.clone()
                    };
                    (0..d * nl)
                        .map(|i| t3.narrow(0, i, 1)?.squeeze(0))
                        .collect::<Result<Vec<_>>>()?
                }
                None => vec![Tensor::zeros_on([n, size], x.dtype(), x.device())?; d * nl],
            };
            for (i, r) in rows.into_iter().enumerate() {
                init[i].push(r);
            }
        }

        let mut finals: Vec<Vec<Tensor>> = vec![Vec::new(); sizes.len()];
        let mut inp = x3;
        let mut zero: Option<Tensor> = None;
        for layer in 0..nl {
            if layer > 0 && cfg.dropout > 0.0 && self.is_training() {
                let mut g = crate::params::lock(&self.gen);
                inp = functional::dropout(&inp, cfg.dropout, true, &mut g)?;
            }
            let width = inp.dims()[2];
            let flat = inp.reshape([l * n, width])?;
            let mut dir_outs = Vec::with_capacity(d);
            for dir in 0..d {
                let i = layer * d + dir;
                let cell = cells[i];
                let mut st = std::mem::take(&mut init[i]);
                // every sequence runs all L steps: the whole sequence in one op where the cell
                // has one (the LSTM without projection, PyTorch's GRU)
                if masks.iter().all(Option::is_none) {
                    if let Some(r) = cell.run_sequence(&flat, (l, n), &st, dir == 1) {
                        let (out, fin) = r?;
                        dir_outs.push(out);
                        for (k, s) in fin.into_iter().enumerate() {
                            finals[k].push(s);
                        }
                        continue;
                    }
                }
                let xp = cell.project_input(&flat)?;
                let xp = xp.reshape([l, n, xp.dims()[1]])?;
                let mut outs: Vec<Option<Tensor>> = vec![None; l];
                let order: Box<dyn Iterator<Item = usize>> = if dir == 0 {
                    Box::new(0..l)
                } else {
                    Box::new((0..l).rev())
                };
                for t in order {
                    let new = cell.step(&xp.narrow(0, t, 1)?.squeeze(0)?, &st)?;
                    match &masks[t] {
                        None => {
                            outs[t] = Some(new[0].clone());
                            st = new;
                        }
                        Some(m) => {
                            // select, not multiply: the padding's values (and their gradients)
                            // never mix in
                            if zero.is_none() {
                                zero =
                                    Some(Tensor::zeros_on([1], new[0].dtype(), new[0].device())?);
                            }
                            let z = zero.as_ref().expect("just set");
                            outs[t] = Some(Tensor::where_cond(m, &new[0], z)?);
                            st = new
                                .iter()
                                .zip(&st)
                                .map(|(a, b)| Tensor::where_cond(m, a, b))
                                .collect::<Result<_>>()?;
                        }
                    }
                }
                let outs: Vec<Tensor> = outs
                    .into_iter()
                    .map(|o| o.expect("every step ran"))
                    .collect();
                dir_outs.push(Tensor::stack(&outs, 0)?);
                for (k, s) in st.into_iter().enumerate() {
                    finals[k].push(s);
                }
            }
            inp = if d == 1 {
                dir_outs.remove(0)
            } else {
                Tensor::cat(&dir_outs, 2)?
            };
        }
        let out = if unbatched {
            inp.squeeze(1)?
        } else if cfg.batch_first {
            inp.transpose(0, 1)?.contiguous()?
        } else {
            inp
        };
        let states = finals
            .iter()
            .map(|v| {
                let s = Tensor::stack(v, 0)?;
                if unbatched {
                    s.squeeze(1)
                } else {
                    Ok(s)
                }
            })
            .collect::<Result<_>>()?;
        Ok((out, states))
    }

    /// PyTorch's repr: `LSTM(28, 128, num_layers=2, batch_first=True, bidirectional=True)`, then
    /// `extra` (the canon's options, which PyTorch has no words for).
    pub(crate) fn describe(&self, name: &str, extra: &[String]) -> String {
        let c = &self.cfg;
        let mut s = format!("{name}({}, {}", c.input_size, c.hidden_size);
        if c.proj_size != 0 {
            s += &format!(", proj_size={}", c.proj_size);
        }
        if c.num_layers != 1 {
            s += &format!(", num_layers={}", c.num_layers);
        }
        if !c.bias {
            s += ", bias=False";
        }
        if c.batch_first {
            s += ", batch_first=True";
        }
        if c.dropout != 0.0 {
            s += &format!(", dropout={}", py_float(c.dropout));
        }
        if c.bidirectional {
            s += ", bidirectional=True";
        }
        for e in extra {
            s += ", ";
            s += e;
        }
        s + ")"
    }
}

/// For each step, `None` when every sequence is still running, else the `(N, 1)` u8 mask of those
/// that are. Checks the lengths.
fn step_masks(
    op: &'static str,
    lengths: Option<&[usize]>,
    l: usize,
    n: usize,
    device: Device,
) -> Result<Vec<Option<Tensor>>> {
    let Some(lens) = lengths else {
        return Ok(vec![None; l]);
    };
    if lens.len() != n {
        return Err(Error::InvalidArgument {
            op,
            msg: format!(
                "lengths has {} entries for a batch of {n} sequences",
                lens.len()
            ),
        });
    }
    if let Some((b, &len)) = lens.iter().enumerate().find(|(_, &v)| v == 0 || v > l) {
        return Err(Error::InvalidArgument {
            op,
            msg: format!("lengths[{b}] = {len} is not in 1..={l} (the sequence length L)"),
        });
    }
    (0..l)
        .map(|t| {
            if lens.iter().all(|&v| v > t) {
                return Ok(None);
            }
            let m: Vec<u8> = lens.iter().map(|&v| u8::from(v > t)).collect();
            Tensor::from_vec_on(m, [n, 1], device).map(Some)
        })
        .collect()
}

/// The cells of a sequence layer (`num_layers * D` of them, layer-major, forward before
/// reverse) and the runner that drives them; PyTorch's layers hold [`CellCore`]s, the canon's
/// (`rnn_canon.rs`) their own cells.
pub(crate) struct Stack<C> {
    pub(crate) runner: SequenceRunner,
    pub(crate) cells: Vec<C>,
}

impl<C: RecurrentCell> Stack<C> {
    /// Validates `cfg` (`proj_size` only with `allow_proj`) and builds the cells in PyTorch's
    /// registration order with `build(layer_input_size, key_suffix)`; errors carry `pb`'s path.
    pub(crate) fn new(
        op: &'static str,
        cfg: &RnnConfig,
        pb: &ParamBuilder,
        allow_proj: bool,
        mut build: impl FnMut(usize, &str) -> Result<C>,
    ) -> Result<Stack<C>> {
        let mut build_all = || -> Result<Stack<C>> {
            cfg.validate(op, allow_proj)?;
            let mut cells = Vec::new();
            for layer in 0..cfg.num_layers {
                for dir in 0..cfg.num_directions() {
                    let suffix = RnnConfig::suffix(layer, dir);
                    cells.push(build(cfg.layer_input_size(layer), &suffix)?);
                }
            }
            // the runner draws its dropout seed from the store's generator after the cells, so
            // that the layer's own parameters do not depend on it
            Ok(Stack {
                runner: SequenceRunner::new(op, cfg, pb),
                cells,
            })
        };
        build_all().map_err(|e| in_module(e, pb.path()))
    }

    /// [`SequenceRunner::run`] with `cells` (the layer's own, or stand-ins in tests).
    pub(crate) fn run(
        &self,
        cells: &[C],
        x: &Tensor,
        state0: &[Option<&Tensor>],
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let refs: Vec<&dyn RecurrentCell> = cells.iter().map(|c| c as &dyn RecurrentCell).collect();
        self.runner.run(&refs, x, state0, lengths)
    }

    /// The cell of `layer` (the reverse direction's with `reverse`); `None` outside the stack.
    pub(crate) fn cell(&self, layer: usize, reverse: bool) -> Option<&C> {
        let cfg = self.runner.config();
        let d = cfg.num_directions();
        if layer >= cfg.num_layers || (reverse && d == 1) {
            return None;
        }
        self.cells.get(layer * d + usize::from(reverse))
    }

    /// The same layer with other cells (e.g. rebound to gradient-check leaves), in evaluation
    /// mode and with a fresh dropout generator.
    #[cfg(test)]
    pub(crate) fn with_cells<D>(&self, cells: Vec<D>) -> Stack<D> {
        let r = &self.runner;
        let gen = Arc::new(Mutex::new(Generator::new(0)));
        let runner = SequenceRunner::from_parts(r.op, &r.cfg, gen, r.path.clone());
        runner.set_training(false);
        Stack { runner, cells }
    }
}

impl Stack<CellCore> {
    /// Every parameter in registration (`state_dict`) order.
    #[cfg(test)]
    fn params(&self) -> Vec<Tensor> {
        self.cells.iter().flat_map(|c| c.w.tensors()).collect()
    }

    /// The cells with their parameters taken from `ts`, in [`Self::params`] order.
    #[cfg(test)]
    fn replaced(&self, ts: &[Tensor]) -> Vec<CellCore> {
        let mut at = 0;
        self.cells
            .iter()
            .map(|c| {
                let (w, k) = c.w.replaced(&ts[at..]);
                at += k;
                CellCore { w, ..c.clone() }
            })
            .collect()
    }

    /// A PyTorch layer of `kind`.
    fn of_kind(
        op: &'static str,
        kind: CellKind,
        cfg: &RnnConfig,
        pb: &ParamBuilder,
        allow_proj: bool,
    ) -> Result<Stack<CellCore>> {
        Stack::new(op, cfg, pb, allow_proj, |input, suffix| {
            CellCore::new(
                kind,
                pb,
                suffix,
                input,
                cfg.hidden_size,
                cfg.proj_size,
                cfg.bias,
            )
        })
    }
}

/// The multi-layer Elman network (`torch.nn.RNN`): each layer runs
/// `h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)` over the sequence; `proj_size` must be 0,
/// `nonlinearity` picks `act`.
///
/// Shapes (`D = 2` if bidirectional, `H_out = proj_size` or `hidden_size`): input `(L, N, H_in)`,
/// `(N, L, H_in)` with `batch_first`, or unbatched `(L, H_in)`; output `(L, N, D*H_out)`
/// (`(N, L, D*H_out)`, `(L, D*H_out)`); states `(D*num_layers, N, H_out)` (unbatched without `N`),
/// never batch-first. With `lengths`, steps past a sequence's length give zero outputs and leave
/// its state alone. Keys `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`
/// (`_reverse` for the backward direction).
pub struct RNN {
    stack: Stack<CellCore>,
}

impl RNN {
    /// A new layer registering its parameters under `pb`'s path, each uniform in
    /// `±1/sqrt(hidden_size)`.
    pub fn new(cfg: &RnnConfig, pb: &ParamBuilder) -> Result<RNN> {
        let kind = CellKind::Rnn(cfg.nonlinearity);
        Stack::of_kind("rnn", kind, cfg, pb, false).map(|stack| RNN { stack })
    }

    /// `(output, h_n)` for input `x` from `h0` (zeros when `None`), with optional per-sequence
    /// `lengths`.
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        h0: Option<&Tensor>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Tensor)> {
        let s = &self.stack;
        let (out, mut st) = s.run(&s.cells, x, &[h0], lengths)?;
        Ok((out, st.remove(0)))
    }

    /// The configuration.
    pub fn config(&self) -> &RnnConfig {
        self.stack.runner.config()
    }

    /// Whether the layer is in training mode (inter-layer dropout on).
    pub fn is_training(&self) -> bool {
        self.stack.runner.is_training()
    }
}

/// The multi-layer LSTM (`torch.nn.LSTM`), gates i, f, g, o; with `proj_size > 0` each layer's
/// `h` is projected by `weight_hr_l{k}: (proj_size, hidden_size)`, and `c_0`/`c_n` are
/// `(D*num_layers, N, hidden_size)`.
///
/// Shapes (`D = 2` if bidirectional, `H_out = proj_size` or `hidden_size`): input `(L, N, H_in)`,
/// `(N, L, H_in)` with `batch_first`, or unbatched `(L, H_in)`; output `(L, N, D*H_out)`
/// (`(N, L, D*H_out)`, `(L, D*H_out)`); states `(D*num_layers, N, H_out)` (unbatched without `N`),
/// never batch-first. With `lengths`, steps past a sequence's length give zero outputs and leave
/// its state alone. Keys `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`
/// (`_reverse` for the backward direction).
pub struct LSTM {
    stack: Stack<CellCore>,
}

impl LSTM {
    /// A new layer registering its parameters under `pb`'s path, each uniform in
    /// `±1/sqrt(hidden_size)`.
    pub fn new(cfg: &RnnConfig, pb: &ParamBuilder) -> Result<LSTM> {
        Stack::of_kind("lstm", CellKind::Lstm, cfg, pb, true).map(|stack| LSTM { stack })
    }

    /// `(output, (h_n, c_n))` for input `x` from `state = (h0, c0)` (zeros when `None`), with
    /// optional per-sequence `lengths`.
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let s = &self.stack;
        let st0 = [state.map(|s| s.0), state.map(|s| s.1)];
        let (out, mut st) = s.run(&s.cells, x, &st0, lengths)?;
        let c = st.pop().expect("an LSTM state has h and c");
        Ok((out, (st.remove(0), c)))
    }

    /// The configuration.
    pub fn config(&self) -> &RnnConfig {
        self.stack.runner.config()
    }

    /// Whether the layer is in training mode (inter-layer dropout on).
    pub fn is_training(&self) -> bool {
        self.stack.runner.is_training()
    }
}

/// The multi-layer GRU (`torch.nn.GRU`, or the canon's equations with `gru_form:
/// GruForm::Canon`; see [`GruForm`] for both), gates r, z, n. `proj_size` must be 0.
///
/// Shapes (`D = 2` if bidirectional, `H_out = proj_size` or `hidden_size`): input `(L, N, H_in)`,
/// `(N, L, H_in)` with `batch_first`, or unbatched `(L, H_in)`; output `(L, N, D*H_out)`
/// (`(N, L, D*H_out)`, `(L, D*H_out)`); states `(D*num_layers, N, H_out)` (unbatched without `N`),
/// never batch-first. With `lengths`, steps past a sequence's length give zero outputs and leave
/// its state alone. Keys `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`
/// (`_reverse` for the backward direction).
pub struct GRU {
    stack: Stack<CellCore>,
}

impl GRU {
    /// A new layer registering its parameters under `pb`'s path, each uniform in
    /// `±1/sqrt(hidden_size)`.
    pub fn new(cfg: &RnnConfig, pb: &ParamBuilder) -> Result<GRU> {
        let kind = CellKind::Gru(cfg.gru_form.into());
        Stack::of_kind("gru", kind, cfg, pb, false).map(|stack| GRU { stack })
    }

    /// `(output, h_n)` for input `x` from `h0` (zeros when `None`), with optional per-sequence
    /// `lengths`.
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        h0: Option<&Tensor>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Tensor)> {
        let s = &self.stack;
        let (out, mut st) = s.run(&s.cells, x, &[h0], lengths)?;
        Ok((out, st.remove(0)))
    }

    /// The configuration.
    pub fn config(&self) -> &RnnConfig {
        self.stack.runner.config()
    }

    /// Whether the layer is in training mode (inter-layer dropout on).
    pub fn is_training(&self) -> bool {
        self.stack.runner.is_training()
    }
}

impl Module for RNN {
    /// The output sequence only.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_state(x, None, None)?.0)
    }

    fn set_training(&self, training: bool) {
        self.stack.runner.set_training(training);
    }

    fn describe(&self) -> String {
        let a = self.config().nonlinearity;
        let extra: Vec<String> = (a != RnnNonlinearity::Tanh)
            .then(|| format!("nonlinearity={}", a.py_name()))
            .into_iter()
            .collect();
        self.stack.runner.describe("RNN", &extra)
    }
}

impl Module for LSTM {
    /// The output sequence only.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_state(x, None, None)?.0)
    }

    fn set_training(&self, training: bool) {
        self.stack.runner.set_training(training);
    }

    fn describe(&self) -> String {
        self.stack.runner.describe("LSTM", &[])
    }
}

impl Module for GRU {
    /// The output sequence only.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_state(x, None, None)?.0)
    }

    fn set_training(&self, training: bool) {
        self.stack.runner.set_training(training);
    }

    fn describe(&self) -> String {
        let extra: Vec<String> = (self.config().gru_form == GruForm::Canon)
            .then(|| "gru_form=canon".to_string())
            .into_iter()
            .collect();
        self.stack.runner.describe("GRU", &extra)
    }
}

#[cfg(test)]
#[path = "recurrent_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "recurrent_error_tests.rs"]
mod error_tests;
