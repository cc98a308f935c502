//! The sequence layers over the canon's cells: a stack of `num_layers` cells per direction run
//! over time, as `torch.nn.LSTM` runs its cells (see the parent module's docs).

use super::{
    CanonCell, LSTMNoForgetCell, MGUCell, PeepholeLSTMCell, PeepholeOptions, PeepholeVariant,
};
use crate::layers::recurrent::Stack;
use crate::layers::RnnConfig;
use crate::{Module, ParamBuilder};
use deepnet_tensor::{Result, Tensor};

/// The stack of `C` cells for `cfg`, each with `opts`. The checks, the layout, the masks for
/// `lengths`, the dropout and the states are those of `torch.nn.LSTM`'s port, whose runner
/// this is; the projection (`weight_hr`) is the LSTM's alone, so `proj_size` must be 0.
fn stack<C: CanonCell>(cfg: &RnnConfig, opts: C::Opts, pb: &ParamBuilder) -> Result<Stack<C>> {
    Stack::new(C::SEQ_NAME, cfg, pb, false, |input, suffix| {
        C::build(input, cfg.hidden_size, cfg.bias, opts, suffix, pb)
    })
}

macro_rules! seq_common {
    ($ty:ident, $cell:ty) => {
        impl $ty {
            /// The configuration the layer was built with.
            pub fn config(&self) -> &RnnConfig {
                self.inner.runner.config()
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
            inner: stack(cfg, (), pb)?,
        })
    }

    /// The outputs of the last layer at every step and the final `(h_n, c_n)`; the initial
    /// state is zero when `None`. `lengths` (one per sequence, each in `1..=L`) marks the
    /// padding.
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let st0 = [state.map(|s| s.0), state.map(|s| s.1)];
        let (out, mut f) = self.inner.run(&self.inner.cells, x, &st0, lengths)?;
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
            inner: stack(cfg, opts, pb)?,
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
        let st0 = [state.map(|s| s.0), state.map(|s| s.1)];
        let (out, mut f) = self.inner.run(&self.inner.cells, x, &st0, lengths)?;
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
            inner: stack(cfg, (), pb)?,
        })
    }

    /// The outputs of the last layer at every step and the final `h_n`; the initial state is
    /// zero when `None`. `lengths` (one per sequence, each in `1..=L`) marks the padding.
    pub fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<&Tensor>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Tensor)> {
        let (out, mut f) = self.inner.run(&self.inner.cells, x, &[state], lengths)?;
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
                self.inner.runner.set_training(training);
            }

            fn describe(&self) -> String {
                #[allow(clippy::redundant_closure_call)]
                let extra: Vec<String> = ($extra)(self);
                self.inner.runner.describe(stringify!($ty), &extra)
            }
        }
    };
}

seq_module!(LSTMNoForget, |_: &LSTMNoForget| Vec::new());
seq_module!(MGU, |_: &MGU| Vec::new());
seq_module!(PeepholeLSTM, |m: &PeepholeLSTM| {
    let mut extra = Vec::new();
    if m.opts.variant == PeepholeVariant::Full {
        extra.push("variant=Full".to_string());
    }
    if !m.opts.forget_term {
        extra.push("forget_term=False".to_string());
    }
    extra
});
