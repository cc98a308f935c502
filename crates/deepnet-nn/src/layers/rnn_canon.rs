//! The canon's gated recurrent cells that PyTorch does not have: the original LSTM without a
//! forget gate, the peephole LSTM, and the Minimal Gated Unit, each as a cell
//! ([`LSTMNoForgetCell`], [`PeepholeLSTMCell`], [`MGUCell`]) and as a sequence layer used like
//! `torch.nn.LSTM` ([`LSTMNoForget`], [`PeepholeLSTM`], [`MGU`]).
//!
//! Everything is composed from tensor ops, so autograd gives backpropagation through time.
//! Parameters follow PyTorch's recurrent layers: the gates' input and recurrent weights are
//! stacked row-wise into `weight_ih: (G*H, H_in)` and `weight_hh: (G*H, H)`, with optional
//! `bias_ih`, `bias_hh: (G*H,)`, all initialized uniform in `±1/sqrt(H)`. Below, `W_k x` is the
//! gate's slice of `x @ weight_ih^T + bias_ih` and `U_k h` that of `h @ weight_hh^T + bias_hh`
//! (two biases per gate, as in PyTorch: redundant, but it keeps the `state_dict` layout).
//!
//! ## LSTM without a forget gate (Hochreiter & Schmidhuber 1997), gate order `(i, g, o)`
//!
//! ```text
//! i   = σ(W_i x + U_i h_{t-1})
//! C~  = tanh(W_g x + U_g h_{t-1})
//! o   = σ(W_o x + U_o h_{t-1})
//! C_t = C_{t-1} + i ⊙ C~          (the cell only accumulates: the "constant error carousel")
//! h_t = o ⊙ tanh(C_t)
//! ```
//!
//! ## Peephole LSTM (Gers & Schmidhuber 2000), gate order `(i, f, g, o)` as `torch.nn.LSTM`
//!
//! The peepholes are diagonal: vectors `weight_ci`, `weight_cf` (and `weight_co`) of shape `(H,)`.
//!
//! ```text
//! i   = σ(W_i x + U_i h_{t-1} + P_i ⊙ C_{t-1})
//! f   = σ(W_f x + U_f h_{t-1} + P_f ⊙ C_{t-1})
//! C~  = tanh(W_g x + U_g h_{t-1})
//! C_t = f ⊙ C_{t-1} + i ⊙ C~
//! o   = σ(W_o x + U_o h_{t-1})                 (PeepholeVariant::Canon, the default)
//! o   = σ(W_o x + U_o h_{t-1} + P_o ⊙ C_t)     (PeepholeVariant::Full)
//! h_t = o ⊙ tanh(C_t)
//! ```
//!
//! The canon's slide gives peepholes into the forget and input gates only, which is the default
//! ([`PeepholeVariant::Canon`]); the full form of Gers, Schraudolph & Schmidhuber (2002), where the
//! output gate also looks at the *new* cell state, is [`PeepholeVariant::Full`]. The slide writes
//! the cell update as `C_t = C_{t-1} + i ⊙ C~`, without a forget term, although it defines the
//! forget gate `f` on the same slide: read literally, `f` would be computed and never used. We
//! take that as a slip (the 1997 update carried over) and implement the standard
//! `C_t = f ⊙ C_{t-1} + i ⊙ C~`; the slide's literal update is available with
//! `PeepholeOptions { forget_term: false, .. }` (then `f` and its weights get no gradient).
//!
//! ## Minimal Gated Unit (Zhou, Wu, Zhang & Zhou 2016), gate order `(f, h)`
//!
//! As the canon writes it, one forget gate does the work of the GRU's two gates:
//!
//! ```text
//! f   = σ(W_f x + U_f h_{t-1})
//! h~  = tanh(W_h x + U_h (f ⊙ h_{t-1}))
//! h_t = (1 - f) ⊙ h_{t-1} + f ⊙ h~
//! ```
//!
//! ## Sequence layers
//!
//! `forward_with_state(x, state, lengths)` takes `x: (L, N, H_in)` (`(N, L, H_in)` with
//! `batch_first`, `(L, H_in)` unbatched) and returns the last layer's outputs `(L, N, D*H)` and
//! the final state of every layer and direction, `(D*num_layers, N, H)` per state part, ordered
//! as PyTorch's (`layer0 forward, layer0 reverse, layer1 forward, ...`). Parameter names are
//! PyTorch's (`weight_ih_l0`, `bias_hh_l1_reverse`, `weight_ci_l0`). With `lengths` (each in
//! `1..=L`), steps at or past a sequence's length give zero outputs and leave its state unchanged
//! (selected with `where`, so padding gets exactly zero gradient), which is what PyTorch computes
//! for a packed sequence; the reverse direction then starts at each sequence's last real step.
//!
//! The layers take the same [`crate::layers::RnnConfig`] as `torch.nn.LSTM`'s port
//! (`num_layers`, `bias`, `batch_first`, `dropout` between layers in training, `bidirectional`);
//! `proj_size` must be 0 (an error otherwise), and `nonlinearity` and `gru_form`, which belong to
//! `RNN` and `GRU`, are ignored. They run on that port's sequence runner (`recurrent.rs`), so the
//! layouts, checks, error messages, masking and dropout are the same as `LSTM`'s; a cell is
//! plugged in through its input projection and its recurrent step.

use super::in_module;
use super::recurrent::RecurrentCell;
use crate::{functional, Init, Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The stacked gate weights every cell here has, plus what its errors need.
struct GateWeights {
    /// `(G*H, H_in)`, gates stacked in the cell's documented order
    weight_ih: Tensor,
    /// `(G*H, H)`
    weight_hh: Tensor,
    /// `(G*H,)`
    bias_ih: Option<Tensor>,
    /// `(G*H,)`
    bias_hh: Option<Tensor>,
    input_size: usize,
    hidden_size: usize,
    /// the cell's type name, for errors and `describe()`
    name: &'static str,
    path: String,
}

/// PyTorch's recurrent initialization: every parameter uniform in `±1/sqrt(H)`.
fn recurrent_init(hidden_size: usize) -> Init {
    let k = 1.0 / (hidden_size as f64).sqrt();
    Init::Uniform { low: -k, high: k }
}

impl GateWeights {
    /// Registers `weight_ih{suffix}`, `weight_hh{suffix}` (and the biases) for `gates` gates.
    /// The suffix is empty for a cell and `_l0`, `_l1_reverse`, ... inside a sequence layer.
    fn new(
        name: &'static str,
        gates: usize,
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        suffix: &str,
        pb: &ParamBuilder,
    ) -> Result<GateWeights> {
        if input_size == 0 || hidden_size == 0 {
            let e = Error::msg(format!(
                "{name}: input_size and hidden_size must be at least 1, got {input_size} and \
                 {hidden_size}"
            ));
            return Err(in_module(e, pb.path()));
        }
        let init = recurrent_init(hidden_size);
        let gh = gates * hidden_size;
        let weight_ih = pb.param(&format!("weight_ih{suffix}"), [gh, input_size], init)?;
        let weight_hh = pb.param(&format!("weight_hh{suffix}"), [gh, hidden_size], init)?;
        let (bias_ih, bias_hh) = if bias {
            (
                Some(pb.param(&format!("bias_ih{suffix}"), [gh], init)?),
                Some(pb.param(&format!("bias_hh{suffix}"), [gh], init)?),
            )
        } else {
            (None, None)
        };
        Ok(GateWeights {
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
            input_size,
            hidden_size,
            name,
            path: pb.path().to_string(),
        })
    }

    /// A diagonal peephole weight `(H,)`, initialized like the other parameters.
    fn peephole(&self, name: &str, suffix: &str, pb: &ParamBuilder) -> Result<Tensor> {
        pb.param(
            &format!("{name}{suffix}"),
            [self.hidden_size],
            recurrent_init(self.hidden_size),
        )
    }

    /// `x: (*, H_in)` -> `(*, G*H)`: every gate's input term with `bias_ih`.
    fn project_input(&self, x: &Tensor) -> Result<Tensor> {
        functional::linear(x, &self.weight_ih, self.bias_ih.as_ref())
    }

    /// `h: (N, H)` -> `(N, G*H)`: every gate's recurrent term with `bias_hh`.
    fn project_hidden(&self, h: &Tensor) -> Result<Tensor> {
        functional::linear(h, &self.weight_hh, self.bias_hh.as_ref())
    }

    /// Gate `k` of a stacked pre-activation `(N, G*H)` -> `(N, H)`.
    fn gate(&self, z: &Tensor, k: usize) -> Result<Tensor> {
        z.narrow(1, k * self.hidden_size, self.hidden_size)
    }

    fn describe(&self) -> String {
        let bias = if self.bias_ih.is_some() {
            ""
        } else {
            ", bias=False"
        };
        format!(
            "{}({}, {}{bias})",
            self.name, self.input_size, self.hidden_size
        )
    }

    /// Runs one step of a cell on a user's input: checks `x: (N, H_in)` or `(H_in)` and each
    /// state part (`(N, H)`, or `(H)` when unbatched; zeros when absent), then calls `core` on
    /// the batched input projection and state, and unbatches the result. `parts` names the state
    /// parts for errors (`hx`, `cx`).
    fn step(
        &self,
        x: &Tensor,
        state: Option<&[&Tensor]>,
        parts: &[&str],
        core: impl FnOnce(&Tensor, &[Tensor]) -> Result<Vec<Tensor>>,
    ) -> Result<Vec<Tensor>> {
        let (name, hin, h) = (self.name, self.input_size, self.hidden_size);
        let ok = matches!(x.rank(), 1 | 2) && x.dims()[x.rank() - 1] == hin;
        if !ok {
            let e = Error::msg(format!(
                "{name}: expected input (N, {hin}) or ({hin}), got {}",
                x.shape()
            ));
            return Err(in_module(e, &self.path));
        }
        let batched = x.rank() == 2;
        let xb = if batched { x.clone() } else { x.unsqueeze(0)? };
        let n = xb.dims()[0];
        let want: Vec<usize> = if batched { vec![n, h] } else { vec![h] };
        let state: Vec<Tensor> = match state {
            Some(s) => s
                .iter()
                .zip(parts)
                .map(|(t, part)| {
                    if t.dims() != want.as_slice() {
                        let e = Error::msg(format!(
                            "{name}: expected {part} of shape {want:?} for input {}, got {}",
                            x.shape(),
                            t.shape()
                        ));
                        return Err(in_module(e, &self.path));
                    }
                    if batched {
                        Ok((*t).clone())
                    } else {
                        t.unsqueeze(0)
                    }
                })
                .collect::<Result<_>>()?,
            None => (0..parts.len())
                .map(|_| Tensor::zeros_on([n, h], self.weight_ih.dtype(), x.device()))
                .collect::<Result<_>>()?,
        };
        let run = || -> Result<Vec<Tensor>> {
            let out = core(&self.project_input(&xb)?, &state)?;
            if batched {
                Ok(out)
            } else {
                out.iter().map(|t| t.squeeze(0)).collect()
            }
        };
        run().map_err(|e| in_module(e, &self.path))
    }
}

/// What the sequence layers need from a cell: how to build it, its weights and one batched
/// step on a precomputed input projection (which makes it a [`RecurrentCell`]).
trait CanonCell: Send + Sync + Sized {
    /// the sequence layer's name (`PeepholeLSTM`), the `op` of its errors
    const SEQ_NAME: &'static str;
    /// the names of the state parts (`hx`, `cx`) in a cell's errors; the first one is the output
    const PARTS: &'static [&'static str];
    /// per-cell options (the peephole variant)
    type Opts: Copy;
    fn build(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        opts: Self::Opts,
        suffix: &str,
        pb: &ParamBuilder,
    ) -> Result<Self>;
    fn weights(&self) -> &GateWeights;
    /// `xw: (N, G*H)` (the input projection with `bias_ih`), `state`: `PARTS.len()` tensors
    /// `(N, H)` -> the new state, same shapes.
    fn core(&self, xw: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>>;
}

/// The canon's cells run in `torch.nn.LSTM`'s sequence runner: the input projection of all
/// steps at once, then [`CanonCell::core`] step by step. Every state part is `(N, H)`.
impl<C: CanonCell> RecurrentCell for C {
    fn state_sizes(&self) -> Vec<usize> {
        vec![self.weights().hidden_size; C::PARTS.len()]
    }

    fn project_input(&self, x: &Tensor) -> Result<Tensor> {
        self.weights().project_input(x)
    }

    fn step(&self, xp: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>> {
        self.core(xp, state)
    }
}

// ---------------------------------------------------------------------------------------------

/// The original LSTM (Hochreiter & Schmidhuber 1997): input and output gates, no forget gate,
/// so the cell state only accumulates, `C_t = C_{t-1} + i ⊙ C~` (see the module docs).
///
/// Parameters: `weight_ih: (3*H, H_in)`, `weight_hh: (3*H, H)`, `bias_ih`, `bias_hh: (3*H,)`,
/// gates stacked `(i, g, o)`, uniform in `±1/sqrt(H)`.
///
/// Shapes: `x: (N, H_in)` or `(H_in)`, state `(h, c)` each `(N, H)` or `(H)`.
pub struct LSTMNoForgetCell {
    w: GateWeights,
}

impl LSTMNoForgetCell {
    /// A new cell registering its parameters under `pb`'s path.
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        Self::build(input_size, hidden_size, bias, (), "", pb)
    }

    /// One step: `(h_t, c_t)` from `x` and `(h_{t-1}, c_{t-1})` (zeros when `None`).
    pub fn step(&self, x: &Tensor, state: Option<(&Tensor, &Tensor)>) -> Result<(Tensor, Tensor)> {
        let s = state.map(|(h, c)| [h, c]);
        let mut out = self
            .w
            .step(x, s.as_ref().map(|s| &s[..]), Self::PARTS, |xw, st| {
                self.core(xw, st)
            })?;
        let c = out.pop().expect("two state parts");
        let h = out.pop().expect("two state parts");
        Ok((h, c))
    }
}

impl CanonCell for LSTMNoForgetCell {
    const SEQ_NAME: &'static str = "LSTMNoForget";
    const PARTS: &'static [&'static str] = &["hx", "cx"];
    type Opts = ();

    fn build(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        _: (),
        suffix: &str,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let w = GateWeights::new(
            "LSTMNoForgetCell",
            3,
            input_size,
            hidden_size,
            bias,
            suffix,
            pb,
        )?;
        Ok(LSTMNoForgetCell { w })
    }

    fn weights(&self) -> &GateWeights {
        &self.w
    }

    fn core(&self, xw: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>> {
        let (h, c) = (&state[0], &state[1]);
        let z = xw.add(&self.w.project_hidden(h)?)?;
        let i = self.w.gate(&z, 0)?.sigmoid()?;
        let g = self.w.gate(&z, 1)?.tanh()?;
        let o = self.w.gate(&z, 2)?.sigmoid()?;
        let c = c.add(&i.mul(&g)?)?;
        let h = o.mul(&c.tanh()?)?;
        Ok(vec![h, c])
    }
}

// ---------------------------------------------------------------------------------------------

/// Which gates of a [`PeepholeLSTMCell`] look at the cell state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PeepholeVariant {
    /// the canon's slide: the input and forget gates see `C_{t-1}`
    #[default]
    Canon,
    /// Gers, Schraudolph & Schmidhuber (2002): also the output gate, which sees `C_t`
    Full,
}

/// Options of the peephole LSTM; `PeepholeOptions::default()` is the canon's cell with the
/// standard (forget-gated) cell update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeepholeOptions {
    /// which gates have peepholes
    pub variant: PeepholeVariant,
    /// `true` (default): `C_t = f ⊙ C_{t-1} + i ⊙ C~`; `false`: the slide's literal
    /// `C_t = C_{t-1} + i ⊙ C~` (the forget gate is then unused)
    pub forget_term: bool,
}

impl Default for PeepholeOptions {
    fn default() -> Self {
        PeepholeOptions {
            variant: PeepholeVariant::Canon,
            forget_term: true,
        }
    }
}

/// The LSTM with diagonal peephole connections from the cell state into its gates (see the
/// module docs for the equations and the canon's variant).
///
/// Parameters: `weight_ih: (4*H, H_in)`, `weight_hh: (4*H, H)`, `bias_ih`, `bias_hh: (4*H,)`,
/// gates stacked `(i, f, g, o)` as `torch.nn.LSTM`; `weight_ci`, `weight_cf: (H,)` and, for
/// [`PeepholeVariant::Full`], `weight_co: (H,)`; all uniform in `±1/sqrt(H)`. With zero
/// peephole weights it computes `torch.nn.LSTMCell`.
///
/// Shapes: `x: (N, H_in)` or `(H_in)`, state `(h, c)` each `(N, H)` or `(H)`.
pub struct PeepholeLSTMCell {
    w: GateWeights,
    weight_ci: Tensor,
    weight_cf: Tensor,
    weight_co: Option<Tensor>,
    opts: PeepholeOptions,
}

impl PeepholeLSTMCell {
    /// The canon's cell (peepholes into `i` and `f`, forget-gated update).
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        Self::with_options(
            input_size,
            hidden_size,
            bias,
            PeepholeOptions::default(),
            pb,
        )
    }

    /// A cell with explicit options (the full variant, or the slide's literal update).
    pub fn with_options(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        opts: PeepholeOptions,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        Self::build(input_size, hidden_size, bias, opts, "", pb)
    }

    /// One step: `(h_t, c_t)` from `x` and `(h_{t-1}, c_{t-1})` (zeros when `None`).
    pub fn step(&self, x: &Tensor, state: Option<(&Tensor, &Tensor)>) -> Result<(Tensor, Tensor)> {
        let s = state.map(|(h, c)| [h, c]);
        let mut out = self
            .w
            .step(x, s.as_ref().map(|s| &s[..]), Self::PARTS, |xw, st| {
                self.core(xw, st)
            })?;
        let c = out.pop().expect("two state parts");
        let h = out.pop().expect("two state parts");
        Ok((h, c))
    }

    /// The options the cell was built with.
    pub fn options(&self) -> PeepholeOptions {
        self.opts
    }
}

impl CanonCell for PeepholeLSTMCell {
    const SEQ_NAME: &'static str = "PeepholeLSTM";
    const PARTS: &'static [&'static str] = &["hx", "cx"];
    type Opts = PeepholeOptions;

    fn build(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        opts: PeepholeOptions,
        suffix: &str,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let w = GateWeights::new(
            "PeepholeLSTMCell",
            4,
            input_size,
            hidden_size,
            bias,
            suffix,
            pb,
        )?;
        let weight_ci = w.peephole("weight_ci", suffix, pb)?;
        let weight_cf = w.peephole("weight_cf", suffix, pb)?;
        let weight_co = match opts.variant {
            PeepholeVariant::Canon => None,
            PeepholeVariant::Full => Some(w.peephole("weight_co", suffix, pb)?),
        };
        Ok(PeepholeLSTMCell {
            w,
            weight_ci,
            weight_cf,
            weight_co,
            opts,
        })
    }

    fn weights(&self) -> &GateWeights {
        &self.w
    }

    fn core(&self, xw: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>> {
        let (h, c) = (&state[0], &state[1]);
        let z = xw.add(&self.w.project_hidden(h)?)?;
        // the (H,) peephole vectors broadcast over the batch: a diagonal matrix times c
        let i = self
            .w
            .gate(&z, 0)?
            .add(&self.weight_ci.mul(c)?)?
            .sigmoid()?;
        let g = self.w.gate(&z, 2)?.tanh()?;
        let c_new = if self.opts.forget_term {
            let f = self
                .w
                .gate(&z, 1)?
                .add(&self.weight_cf.mul(c)?)?
                .sigmoid()?;
            f.mul(c)?.add(&i.mul(&g)?)?
        } else {
            c.add(&i.mul(&g)?)?
        };
        let zo = self.w.gate(&z, 3)?;
        let o = match &self.weight_co {
            Some(p) => zo.add(&p.mul(&c_new)?)?.sigmoid()?,
            None => zo.sigmoid()?,
        };
        let h = o.mul(&c_new.tanh()?)?;
        Ok(vec![h, c_new])
    }
}

// ---------------------------------------------------------------------------------------------

/// The Minimal Gated Unit (Zhou et al. 2016): a single forget gate both resets the recurrent
/// input of the candidate and interpolates the state (see the module docs).
///
/// Parameters: `weight_ih: (2*H, H_in)`, `weight_hh: (2*H, H)`, `bias_ih`, `bias_hh: (2*H,)`,
/// gates stacked `(f, h)`, uniform in `±1/sqrt(H)`.
///
/// Shapes: `x: (N, H_in)` or `(H_in)`, state `h: (N, H)` or `(H)`.
pub struct MGUCell {
    w: GateWeights,
}

impl MGUCell {
    /// A new cell registering its parameters under `pb`'s path.
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        Self::build(input_size, hidden_size, bias, (), "", pb)
    }

    /// One step: `h_t` from `x` and `h_{t-1}` (zeros when `None`).
    pub fn step(&self, x: &Tensor, state: Option<&Tensor>) -> Result<Tensor> {
        let s = state.map(|h| [h]);
        let mut out = self
            .w
            .step(x, s.as_ref().map(|s| &s[..]), Self::PARTS, |xw, st| {
                self.core(xw, st)
            })?;
        Ok(out.pop().expect("one state part"))
    }
}

impl CanonCell for MGUCell {
    const SEQ_NAME: &'static str = "MGU";
    const PARTS: &'static [&'static str] = &["hx"];
    type Opts = ();

    fn build(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        _: (),
        suffix: &str,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let w = GateWeights::new("MGUCell", 2, input_size, hidden_size, bias, suffix, pb)?;
        Ok(MGUCell { w })
    }

    fn weights(&self) -> &GateWeights {
        &self.w
    }

    fn core(&self, xw: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>> {
        let h = &state[0];
        let hs = self.w.hidden_size;
        // the candidate's recurrent product needs f first, so the two halves of weight_hh
        // are applied separately: U_f to h, U_h to f ⊙ h
        let u = |k: usize| self.w.weight_hh.narrow(0, k * hs, hs);
        let b = |k: usize| -> Result<Option<Tensor>> {
            self.w
                .bias_hh
                .as_ref()
                .map(|b| b.narrow(0, k * hs, hs))
                .transpose()
        };
        let f = self
            .w
            .gate(xw, 0)?
            .add(&functional::linear(h, &u(0)?, b(0)?.as_ref())?)?
            .sigmoid()?;
        let fh = f.mul(h)?;
        let cand = self
            .w
            .gate(xw, 1)?
            .add(&functional::linear(&fh, &u(1)?, b(1)?.as_ref())?)?
            .tanh()?;
        let h_new = f.rsub_scalar(1.0)?.mul(h)?.add(&f.mul(&cand)?)?;
        Ok(vec![h_new])
    }
}

macro_rules! cell_accessors_and_module {
    ($cell:ty) => {
        impl $cell {
            /// The stacked input weights `(G*H, H_in)`.
            pub fn weight_ih(&self) -> &Tensor {
                &self.w.weight_ih
            }
            /// The stacked recurrent weights `(G*H, H)`.
            pub fn weight_hh(&self) -> &Tensor {
                &self.w.weight_hh
            }
            /// The input bias `(G*H,)`, if the cell has biases.
            pub fn bias_ih(&self) -> Option<&Tensor> {
                self.w.bias_ih.as_ref()
            }
            /// The recurrent bias `(G*H,)`, if the cell has biases.
            pub fn bias_hh(&self) -> Option<&Tensor> {
                self.w.bias_hh.as_ref()
            }
            /// The size of each input sample.
            pub fn input_size(&self) -> usize {
                self.w.input_size
            }
            /// The size of the state.
            pub fn hidden_size(&self) -> usize {
                self.w.hidden_size
            }
        }

        impl Module for $cell {
            /// One step from a zero state; returns `h_t`.
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                Ok(self.step(x, None)?.into_h())
            }

            fn describe(&self) -> String {
                self.w.describe()
            }
        }
    };
}

/// The output part of a step's result.
trait IntoH {
    fn into_h(self) -> Tensor;
}
impl IntoH for Tensor {
    fn into_h(self) -> Tensor {
        self
    }
}
impl IntoH for (Tensor, Tensor) {
    fn into_h(self) -> Tensor {
        self.0
    }
}

cell_accessors_and_module!(LSTMNoForgetCell);
cell_accessors_and_module!(PeepholeLSTMCell);
cell_accessors_and_module!(MGUCell);

impl PeepholeLSTMCell {
    /// The input gate's peephole `(H,)`.
    pub fn weight_ci(&self) -> &Tensor {
        &self.weight_ci
    }
    /// The forget gate's peephole `(H,)`.
    pub fn weight_cf(&self) -> &Tensor {
        &self.weight_cf
    }
    /// The output gate's peephole `(H,)`, with [`PeepholeVariant::Full`].
    pub fn weight_co(&self) -> Option<&Tensor> {
        self.weight_co.as_ref()
    }
}

#[path = "rnn_canon_seq.rs"]
mod seq;
pub use seq::{LSTMNoForget, PeepholeLSTM, MGU};

#[cfg(test)]
#[path = "rnn_canon_seq_tests.rs"]
mod seq_tests;
#[cfg(test)]
#[path = "rnn_canon_tests.rs"]
mod tests;
