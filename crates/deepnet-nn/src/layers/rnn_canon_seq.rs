//! The sequence layers over the canon's cells: a stack of `num_layers` cells per direction run
//! over time, as `torch.nn.LSTM` runs its cells (see the parent module's docs).

use super::{
    in_module, CanonCell, LSTMNoForgetCell, MGUCell, PeepholeLSTMCell, PeepholeOptions,
    PeepholeVariant,
};
use crate::layers::{py_float, RnnConfig};
use crate::{functional, Module, ParamBuilder};
use deepnet_tensor::{Error, Generator, Result, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// PyTorch's `extra_repr` of a recurrent layer: the sizes, then the non-default options, then
/// `extra` (the peephole options).
fn repr(cfg: &RnnConfig, name: &str, extra: &str) -> String {
    let mut s = format!("{name}({}, {}", cfg.input_size, cfg.hidden_size);
    if cfg.num_layers != 1 {
        s += &format!(", num_layers={}", cfg.num_layers);
    }
    if !cfg.bias {
        s += ", bias=False";
    }
    if cfg.batch_first {
        s += ", batch_first=True";
    }
    if cfg.dropout != 0.0 {
        s += &format!(", dropout={}", py_float(cfg.dropout));
    }
    if cfg.bidirectional {
        s += ", bidirectional=True";
    }
    s + extra + ")"
}

/// The shared machinery: cells indexed `layer * D + direction`, the dropout between layers.
pub(super) struct Stack<C: CanonCell> {
    pub(super) cfg: RnnConfig,
    pub(super) cells: Vec<C>,
    pub(super) training: AtomicBool,
    /// drawn from only with dropout > 0; seeded from the store's generator at construction
    pub(super) gen: Mutex<Generator>,
    pub(super) path: String,
}

impl<C: CanonCell> Stack<C> {
    fn new(cfg: &RnnConfig, opts: C::Opts, pb: &ParamBuilder) -> Result<Self> {
        let bad = |msg: String| in_module(Error::msg(format!("{}: {msg}", C::SEQ_NAME)), pb.path());
        if cfg.num_layers == 0 {
            return Err(bad("num_layers must be at least 1".into()));
        }
        // the projection (`weight_hr`) is PyTorch's LSTM's; these cells have none.
        // `nonlinearity` and `gru_form` belong to RNN and GRU and are ignored here.
        if cfg.proj_size != 0 {
            return Err(bad(format!(
                "proj_size = {} is not supported (only LSTM projects its output)",
                cfg.proj_size
            )));
        }
        functional::check_dropout_p(cfg.dropout).map_err(|e| in_module(e, pb.path()))?;
        let d = cfg.num_directions();
        let mut cells = Vec::with_capacity(cfg.num_layers * d);
        for layer in 0..cfg.num_layers {
            let input = if layer == 0 {
                cfg.input_size
            } else {
                d * cfg.hidden_size
            };
            for dir in 0..d {
                let suffix = format!("_l{layer}{}", if dir == 1 { "_reverse" } else { "" });
                let cell =
                    C::build(input, cfg.hidden_size, cfg.bias, opts, &suffix, pb).map_err(|e| {
                        match e {
                            // the cell's message names the cell type; say which layer it was
                            Error::InModule { .. } => e,
                            e => bad(format!("layer {layer}: {e}")),
                        }
                    })?;
                cells.push(cell);
            }
        }
        let seed = if cfg.dropout > 0.0 {
            pb.with_generator(|g| g.next_u64())
        } else {
            0
        };
        Ok(Stack {
            cfg: cfg.clone(),
            cells,
            training: AtomicBool::new(true),
            gen: Mutex::new(Generator::new(seed)),
            path: pb.path().to_string(),
        })
    }

    fn err(&self, msg: String) -> Error {
        in_module(Error::msg(format!("{}: {msg}", C::SEQ_NAME)), &self.path)
    }

    /// `x` as documented on the public layers; `state`: `C::PARTS.len()` tensors of
    /// `(D*num_layers, N, H)` (or `(D*num_layers, H)` unbatched). Returns the output and the
    /// final state parts, shaped as the input and the given state.
    fn run(
        &self,
        x: &Tensor,
        state: Option<&[&Tensor]>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let cfg = &self.cfg;
        let (hin, hs, d) = (cfg.input_size, cfg.hidden_size, cfg.num_directions());
        let ok = matches!(x.rank(), 2 | 3) && x.dims()[x.rank() - 1] == hin;
        if !ok {
            let want = if cfg.batch_first {
                format!("(N, L, {hin}) or (L, {hin})")
            } else {
                format!("(L, N, {hin}) or (L, {hin})")
            };
            return Err(self.err(format!("expected input {want}, got {}", x.shape())));
        }
        let batched = x.rank() == 3;
        // everything below runs on (L, N, *)
        let xs = match (batched, cfg.batch_first) {
            (false, _) => x.unsqueeze(1)?,
            (true, true) => x.transpose(0, 1)?,
            (true, false) => x.clone(),
        };
        let (l, n) = (xs.dims()[0], xs.dims()[1]);
        let rows = d * cfg.num_layers;
        let dtype = self.cells[0].weights().weight_ih.dtype();
        let state: Vec<Tensor> = match state {
            Some(s) => {
                let want: Vec<usize> = if batched {
                    vec![rows, n, hs]
                } else {
                    vec![rows, hs]
                };
                s.iter()
                    .zip(C::PARTS)
                    .map(|(t, part)| {
                        if t.dims() != want.as_slice() {
                            return Err(self.err(format!(
                                "expected {part} of shape {want:?} for input {}, got {}",
                                x.shape(),
                                t.shape()
                            )));
                        }
                        if batched {
                            Ok((*t).clone())
                        } else {
                            t.unsqueeze(1)
                        }
                    })
                    .collect::<Result<_>>()?
            }
            None => (0..C::PARTS.len())
                .map(|_| Tensor::zeros([rows, n, hs], dtype))
                .collect::<Result<_>>()?,
        };
        let masks = match lengths {
            Some(lens) => self.masks(lens, l, n)?,
            None => None,
        };
        let (out, finals) = self
            .layers(&xs, &state, masks.as_deref())
            .map_err(|e| in_module(e, &self.path))?;
        let out = match (batched, cfg.batch_first) {
            (false, _) => out.squeeze(1)?,
            (true, true) => out.transpose(0, 1)?,
            (true, false) => out,
        };
        let finals = if batched {
            finals
        } else {
            finals.iter().map(|t| t.squeeze(1)).collect::<Result<_>>()?
        };
        Ok((out, finals))
    }

    /// One `(N, 1)` u8 mask per step, 1 where the step is inside its sequence; `None` when every
    /// sequence has the full length (nothing to mask).
    fn masks(&self, lens: &[usize], l: usize, n: usize) -> Result<Option<Vec<Tensor>>> {
        if lens.len() != n {
            return Err(self.err(format!(
                "got {} lengths for a batch of {n} sequences",
                lens.len()
            )));
        }
        if let Some(&bad) = lens.iter().find(|&&k| k > l) {
            return Err(self.err(format!(
                "length {bad} is longer than the input's {l} steps (lengths {lens:?})"
            )));
        }
        if lens.iter().all(|&k| k == l) {
            return Ok(None);
        }
        (0..l)
            .map(|t| {
                let m: Vec<u8> = lens.iter().map(|&k| u8::from(t < k)).collect();
                Tensor::from_vec(m, [n, 1])
            })
            .collect::<Result<_>>()
            .map(Some)
    }

    /// `xs: (L, N, H_in)`, `state`: parts `(D*layers, N, H)` -> `((L, N, D*H), final parts)`.
    fn layers(
        &self,
        xs: &Tensor,
        state: &[Tensor],
        masks: Option<&[Tensor]>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let d = self.cfg.num_directions();
        let mut input = xs.clone();
        // finals[part][layer * D + dir]
        let mut finals: Vec<Vec<Tensor>> = vec![Vec::new(); state.len()];
        for layer in 0..self.cfg.num_layers {
            let mut outs = Vec::with_capacity(d);
            for dir in 0..d {
                let row = layer * d + dir;
                let init: Vec<Tensor> = state
                    .iter()
                    .map(|s| s.narrow(0, row, 1)?.squeeze(0))
                    .collect::<Result<_>>()?;
                let (out, last) =
                    self.direction(&self.cells[row], &input, init, dir == 1, masks)?;
                outs.push(out);
                for (k, t) in last.into_iter().enumerate() {
                    finals[k].push(t);
                }
            }
            input = if d == 1 {
                outs.pop().expect("one direction")
            } else {
                Tensor::cat(&outs, 2)?
            };
            let training = self.training.load(Ordering::Relaxed);
            if layer + 1 < self.cfg.num_layers && training && self.cfg.dropout > 0.0 {
                let mut g = self.gen.lock().unwrap_or_else(|e| e.into_inner());
                input = functional::dropout(&input, self.cfg.dropout, true, &mut g)?;
            }
        }
        let finals = finals
            .iter()
            .map(|parts| Tensor::stack(parts, 0))
            .collect::<Result<_>>()?;
        Ok((input, finals))
    }

    /// One cell over the whole sequence, forwards or backwards: `input: (L, N, H_in)` ->
    /// `((L, N, H), final state parts (N, H))`.
    fn direction(
        &self,
        cell: &C,
        input: &Tensor,
        mut state: Vec<Tensor>,
        reverse: bool,
        masks: Option<&[Tensor]>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let l = input.dims()[0];
        // the input projections of all steps in one product
        let xw = cell.weights().project_input(input)?;
        let zeros = match masks {
            Some(_) => Some(state[0].zeros_like()?),
            None => None,
        };
        let mut outs: Vec<Option<Tensor>> = vec![None; l];
        for step in 0..l {
            let t = if reverse { l - 1 - step } else { step };
            let new = cell.core(&xw.narrow(0, t, 1)?.squeeze(0)?, &state)?;
            let out = match (masks, &zeros) {
                (Some(m), Some(z)) => {
                    // past a sequence's end: keep the state and emit zeros; `where` routes no
                    // gradient to the unselected side, so padding cannot leak into it
                    let m = &m[t];
                    let out = Tensor::where_cond(m, &new[0], z)?;
                    state = new
                        .iter()
                        .zip(&state)
                        .map(|(a, b)| Tensor::where_cond(m, a, b))
                        .collect::<Result<_>>()?;
                    out
                }
                _ => {
                    state = new;
                    state[0].clone()
                }
            };
            outs[t] = Some(out);
        }
        let outs: Vec<Tensor> = outs.into_iter().map(|o| o.expect("every step")).collect();
        Ok((Tensor::stack(&outs, 0)?, state))
    }

    fn cell(&self, layer: usize, reverse: bool) -> Option<&C> {
        let d = self.cfg.num_directions();
        if layer >= self.cfg.num_layers || (reverse && d == 1) {
            return None;
        }
        self.cells.get(layer * d + usize::from(reverse))
    }
}

macro_rules! seq_common {
    ($ty:ident, $cell:ty) => {
        impl $ty {
            /// The configuration the layer was built with.
            pub fn config(&self) -> &RnnConfig {
                &self.inner.cfg
            }

            /// The cell of `layer` (reverse direction with `reverse`), for its weights; `None`
            /// outside the stack.
            pub fn cell(&self, layer: usize, reverse: bool) -> Option<&$cell> {
                self.inner.cell(layer, reverse)
            }
        }
    };
}

/// A stack of [`LSTMNoForgetCell`]s run over sequences, used like `torch.nn.LSTM`.
///
/// Parameters per layer `k` (and `_reverse`): `weight_ih_lk: (3*H, H_in or D*H)`,
/// `weight_hh_lk: (3*H, H)`, `bias_ih_lk`, `bias_hh_lk: (3*H,)`, gates `(i, g, o)`.
///
/// Shapes: `x: (L, N, H_in)` (`(N, L, H_in)` with `batch_first`, or `(L, H_in)`) -> output
/// `(L, N, D*H)`; state `(h, c)` each `(D*num_layers, N, H)`.
pub struct LSTMNoForget {
    pub(super) inner: Stack<LSTMNoForgetCell>,
}

impl LSTMNoForget {
    /// A new layer registering its parameters under `pb`'s path.
    pub fn new(cfg: &RnnConfig, pb: &ParamBuilder) -> Result<Self> {
        Ok(LSTMNoForget {
            inner: Stack::new(cfg, (), pb)?,
        })
    }

    /// The outputs of the last layer at every step and the final `(h_n, c_n)`; the initial
    /// state is zero when `None`. `lengths` (one per sequence, at most `L`) marks the padding.
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let s = state.map(|(h, c)| [h, c]);
        let (out, mut f) = self.inner.run(x, s.as_ref().map(|s| &s[..]), lengths)?;
        let c = f.pop().expect("two state parts");
        let h = f.pop().expect("two state parts");
        Ok((out, (h, c)))
    }
}
seq_common!(LSTMNoForget, LSTMNoForgetCell);

/// A stack of [`PeepholeLSTMCell`]s run over sequences, used like `torch.nn.LSTM`.
///
/// Parameters per layer `k` (and `_reverse`): `weight_ih_lk: (4*H, H_in or D*H)`,
/// `weight_hh_lk: (4*H, H)`, `bias_ih_lk`, `bias_hh_lk: (4*H,)` with gates `(i, f, g, o)`,
/// `weight_ci_lk`, `weight_cf_lk` (and with [`PeepholeVariant::Full`] `weight_co_lk`): `(H,)`.
///
/// Shapes: as [`LSTMNoForget`].
pub struct PeepholeLSTM {
    pub(super) inner: Stack<PeepholeLSTMCell>,
    pub(super) opts: PeepholeOptions,
}

impl PeepholeLSTM {
    /// The canon's peephole LSTM (see [`PeepholeOptions::default`]).
    pub fn new(cfg: &RnnConfig, pb: &ParamBuilder) -> Result<Self> {
        Self::with_options(cfg, PeepholeOptions::default(), pb)
    }

    /// A layer whose cells all have `opts`.
    pub fn with_options(cfg: &RnnConfig, opts: PeepholeOptions, pb: &ParamBuilder) -> Result<Self> {
        Ok(PeepholeLSTM {
            inner: Stack::new(cfg, opts, pb)?,
            opts,
        })
    }

    /// As [`LSTMNoForget::forward_with_state`].
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let s = state.map(|(h, c)| [h, c]);
        let (out, mut f) = self.inner.run(x, s.as_ref().map(|s| &s[..]), lengths)?;
        let c = f.pop().expect("two state parts");
        let h = f.pop().expect("two state parts");
        Ok((out, (h, c)))
    }
}
seq_common!(PeepholeLSTM, PeepholeLSTMCell);

/// A stack of [`MGUCell`]s run over sequences, used like `torch.nn.GRU`.
///
/// Parameters per layer `k` (and `_reverse`): `weight_ih_lk: (2*H, H_in or D*H)`,
/// `weight_hh_lk: (2*H, H)`, `bias_ih_lk`, `bias_hh_lk: (2*H,)`, gates `(f, h)`.
///
/// Shapes: `x` as [`LSTMNoForget`]; state `h: (D*num_layers, N, H)`.
pub struct MGU {
    pub(super) inner: Stack<MGUCell>,
}

impl MGU {
    /// A new layer registering its parameters under `pb`'s path.
    pub fn new(cfg: &RnnConfig, pb: &ParamBuilder) -> Result<Self> {
        Ok(MGU {
            inner: Stack::new(cfg, (), pb)?,
        })
    }

    /// The outputs of the last layer at every step and the final `h_n`; the initial state is
    /// zero when `None`. `lengths` (one per sequence, at most `L`) marks the padding.
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<&Tensor>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Tensor)> {
        let s = state.map(|h| [h]);
        let (out, mut f) = self.inner.run(x, s.as_ref().map(|s| &s[..]), lengths)?;
        Ok((out, f.pop().expect("one state part")))
    }
}
seq_common!(MGU, MGUCell);

macro_rules! seq_module {
    ($ty:ident, $extra:expr) => {
        impl Module for $ty {
            /// The outputs only, from a zero state.
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                Ok(self.forward_with_state(x, None, None)?.0)
            }

            fn set_training(&self, training: bool) {
                self.inner.training.store(training, Ordering::Relaxed);
            }

            fn describe(&self) -> String {
                #[allow(clippy::redundant_closure_call)]
                let extra: String = ($extra)(self);
                repr(&self.inner.cfg, stringify!($ty), &extra)
            }
        }
    };
}

seq_module!(LSTMNoForget, |_: &LSTMNoForget| String::new());
seq_module!(MGU, |_: &MGU| String::new());
seq_module!(PeepholeLSTM, |m: &PeepholeLSTM| {
    let mut s = String::new();
    if m.opts.variant == PeepholeVariant::Full {
        s += ", variant=Full";
    }
    if !m.opts.forget_term {
        s += ", forget_term=False";
    }
    s
});
