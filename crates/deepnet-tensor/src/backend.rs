//! # The device contract
//!
//! Everything that touches element data is a method of [`BackendStorage`], reached only through
//! [`crate::Storage`], the one enum that names devices. The tensor front end (`ops/`, autograd,
//! constructors) validates shapes and dtypes, builds layouts and records the graph; it never sees
//! a device's memory. Adding a device is therefore: one type that implements this trait, one
//! `Storage` variant, one arm in each match of `storage.rs`, and one `Device` variant.
//!
//! ## What a backend implements
//!
//! | group | methods |
//! |---|---|
//! | identity | `device`, `dtype`, `len` |
//! | allocation and host copies | `full`, `from_host`, `to_host` |
//! | elementwise | `unary`, `binary`, `cmp`, `where_cond` |
//! | reduction | `reduce` |
//! | linear algebra | `matmul` |
//! | movement | `contiguous`, `cast`, `copy_from` |
//! | in-place updates (optimizers) | `axpby_`, `scale_` |
//! | indexing | `index_select`, `gather`, `scatter_add` |
//! | convolution (fused) | `conv2d`, `conv2d_backward`, `conv_transpose2d`, `unfold2d`, `fold2d` |
//! | pooling (fused) | `max_pool2d`, `max_pool2d_backward`, `avg_pool2d`, `avg_pool2d_backward`, `adaptive_avg_pool2d`, `adaptive_avg_pool2d_backward` |
//! | upsampling | `upsample_nearest2d`, `upsample_nearest2d_backward`, `upsample_bilinear2d`, `upsample_bilinear2d_backward` |
//! | recurrent cells (fused) | `lstm_cell`, `lstm_cell_backward`, `gru_cell`, `gru_cell_backward` |
//! | recurrent sequences (fused, one layer and direction) | `lstm_seq`, `lstm_seq_backward`, `gru_seq`, `gru_seq_backward` |
//!
//! Every operand comes with its [`Layout`] (shape, strides, offset): a backend must accept any
//! view (transposed, broadcast with zero strides, offset, empty) and return new contiguous data
//! of the documented shape. The front end has already checked dtypes and shapes; a backend
//! still returns an error rather than panicking if handed something it cannot do (an unsupported
//! dtype), naming the op.
//!
//! Two backends exist: `cpu` (threads, SIMD, packed GEMM, direct convolutions) and `reference`
//! (plain scalar loops, f64 inside, no threads). The reference backend is the oracle: the
//! differential test (`tests/differential.rs`) runs every op, forward and backward, on both.
//!
//! ## What a GPU backend will need beyond this contract
//!
//! - **Asynchrony.** The contract is written as if every call completes before it returns. A
//!   CUDA backend enqueues kernels on a per-device stream instead and returns at once; the only
//!   points that must synchronize are `to_host` (and so `Tensor::to_vec`, `item`) and moves
//!   between devices, which copy on the stream and wait for it. Because every primitive takes
//!   its inputs by reference and returns new storage, ordering on a single stream is enough:
//!   no other fences are needed for the ops here.
//! - **In-place updates.** `copy_from`, `axpby_` and `scale_` mutate a storage behind the
//!   tensor's write lock; on one stream they are ordered after every earlier read of it, so
//!   the lock keeps its meaning. With several streams, a storage would record the event of its
//!   last write and readers on other streams would wait on it.
//! - **Allocation.** `full` and every op result allocate. A GPU backend keeps a caching
//!   allocator per device (freed blocks reused by size, as PyTorch does) so that a training step
//!   does not call `cudaMalloc`; dropping a storage returns its block to the cache.
//! - **Device identity.** `Device` would carry an ordinal (`Cuda(0)`); ops on storages of
//!   different devices are refused by `Storage` with an error naming both (already the case for
//!   `Cpu` against `Reference`).
//! - **Dtypes.** A backend may support fewer dtypes for some ops (the GPU matmul f32 and f64
//!   only, as here); it says so with an error, and the front end never falls back silently.
//! - **Small host values.** Scalars (`mul_scalar`, `clamp`) travel inside the op enums, never as
//!   device tensors, so a kernel launch carries them as arguments.

use crate::primitive::{BinaryOp, CmpOp, ConvSpec, Geom, ReduceOp, Resize, UnaryOp};
use crate::{DType, Device, HostData, Layout, Result};

/// The data of one device and every primitive computed on it. See the module docs for the
/// contract; each method's doc gives its shapes.
pub trait BackendStorage: Sized + Clone + std::fmt::Debug + Send + Sync {
    /// The device this storage lives on.
    fn device(&self) -> Device;
    /// The element type.
    fn dtype(&self) -> DType;
    /// Number of elements held.
    fn len(&self) -> usize;
    /// Whether no element is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` elements equal to `v` converted to `dtype` (as `as` converts).
    fn full(dtype: DType, n: usize, v: f64) -> Self;
    /// The host data, moved onto the device.
    fn from_host(data: HostData) -> Self;
    /// The elements of `l`, copied to the host in row-major order (synchronizes a device).
    fn to_host(&self, l: &Layout) -> HostData;

    /// `op` applied to every element of `l`; the result has `l`'s shape, contiguous.
    fn unary(&self, l: &Layout, op: UnaryOp) -> Result<Self>;
    /// `op(self[i], rhs[i])` over two layouts of the same (already broadcast) shape and dtype.
    fn binary(&self, l: &Layout, rhs: &Self, rl: &Layout, op: BinaryOp) -> Result<Self>;
    /// A u8 mask of `op(self[i], rhs[i])`, same shape and dtype rules as `binary`.
    fn cmp(&self, l: &Layout, rhs: &Self, rl: &Layout, op: CmpOp) -> Result<Self>;
    /// `t[i]` where the u8 mask `self[i] != 0`, else `f[i]`; all of one shape, `t` and `f` of one
    /// dtype.
    fn where_cond(&self, l: &Layout, t: (&Self, &Layout), f: (&Self, &Layout)) -> Result<Self>;
    /// Reduces the sorted, distinct `dims` of `l`: one result per position of the kept dims, in
    /// row-major order (the front end gives it the shape, with or without `keepdim`). Sum, max
    /// and min keep the dtype (u8 has no sum), arg-reductions give the i64 index of the first
    /// extreme within the reduced dims flattened; max and min propagate NaN.
    fn reduce(&self, l: &Layout, op: ReduceOp, dims: &[usize]) -> Result<Self>;
    /// Batched matrix product: `l` is `(B..., M, K)`, `rl` is `(B..., K, N)` with equal batch
    /// dims (already broadcast), the result `(B..., M, N)`.
    fn matmul(&self, l: &Layout, rhs: &Self, rl: &Layout) -> Result<Self>;

    /// The elements of `l`, copied in row-major order into new storage.
    fn contiguous(&self, l: &Layout) -> Self;
    /// The elements of `l` converted to `to` (float to integer truncates and saturates).
    fn cast(&self, l: &Layout, to: DType) -> Self;
    /// Writes `src` seen through `sl` into `self` seen through `dl` (same shape, same dtype).
    fn copy_from(&mut self, dl: &Layout, src: &Self, sl: &Layout) -> Result<()>;
    /// `self = a * self + b * src` over `dl` and `sl` (same shape, same float dtype).
    fn axpby_(&mut self, dl: &Layout, src: &Self, sl: &Layout, a: f64, b: f64) -> Result<()>;
    /// `self *= c` over `dl` (a float dtype).
    fn scale_(&mut self, dl: &Layout, c: f64) -> Result<()>;

    /// The slices at the 1-d i64 `index` along `dim`: the result has `l`'s shape with
    /// `dim` replaced by the index length. Indices are range-checked (negative ones refused).
    fn index_select(&self, l: &Layout, dim: usize, index: (&Self, &Layout)) -> Result<Self>;
    /// `out[p] = self[p with p[dim] = index[p]]` for every position `p` of the i64 `index`
    /// (same rank as `l`, no larger except along `dim`); the result has the index's shape.
    fn gather(&self, l: &Layout, dim: usize, index: (&Self, &Layout)) -> Result<Self>;
    /// A contiguous copy of `self` with `src[p]` added at `p with p[dim] = index[p]` for every
    /// position `p` of `index` (`src` has the index's shape and `self`'s dtype). Repeated
    /// indices accumulate in row-major order of `p`.
    fn scatter_add(
        &self,
        l: &Layout,
        dim: usize,
        index: (&Self, &Layout),
        src: (&Self, &Layout),
    ) -> Result<Self>;

    /// 2-d convolution (cross-correlation) of the input `self` with `w` and optional `b`; see
    /// [`ConvSpec`] for the shapes. Float dtypes only, the same for every operand.
    fn conv2d(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Self>;
    /// The gradients of [`BackendStorage::conv2d`] with respect to the input (`need.0`) and the
    /// weight (`need.1`), given the output gradient `gy: (N, C_out, H_out, W_out)`. The bias
    /// gradient is a reduction the front end takes itself.
    fn conv2d_backward(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        gy: (&Self, &Layout),
        spec: &ConvSpec,
        need: (bool, bool),
    ) -> Result<(Option<Self>, Option<Self>)>;
    /// The transposed convolution (`conv_transpose2d`), the adjoint of [`BackendStorage::conv2d`]
    /// with `spec`: `self: (N, spec.cout, H_out, W_out)` (the adjoint convolution's output
    /// shape, `g.ho x g.wo`) gives `(N, g.c, g.h, g.w)`, equal to the input gradient of that
    /// convolution for the output gradient `self`, plus `b: (g.c,)` when given. `w` is the
    /// convolution's weight `(spec.cout, g.c / groups, kH, kW)`, which is PyTorch's transposed
    /// convolution weight `(C_in, C_out / groups, kH, kW)`. Its backward needs no method of
    /// its own: the input gradient is `conv2d` of the output gradient, the weight gradient
    /// `conv2d_backward`'s, with the roles of input and output gradient exchanged.
    fn conv_transpose2d(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Self>;
    /// im2col: `(N, C, H, W)` -> `(N, C * kH * kW, H_out * W_out)`, zeros over padding.
    fn unfold2d(&self, l: &Layout, g: &Geom) -> Result<Self>;
    /// col2im, the adjoint of `unfold2d`: overlapping contributions are summed.
    fn fold2d(&self, l: &Layout, g: &Geom) -> Result<Self>;

    /// Max pooling of `g.n` planes `(H, W)` -> `(H_out, W_out)` with `-inf` padding: the values
    /// and, as i64, the index `h * W + w` of each window's first maximum (NaN counts as the
    /// maximum) in its plane.
    fn max_pool2d(&self, l: &Layout, g: &Geom) -> Result<(Self, Self)>;
    /// The input gradient of max pooling: each output gradient `self` added at its index.
    fn max_pool2d_backward(&self, l: &Layout, idx: (&Self, &Layout), g: &Geom) -> Result<Self>;
    /// Average pooling of `g.n` planes; with `include_pad` the divisor counts the padding inside
    /// the window (clipped to `H + padding`), without, only the input elements covered.
    fn avg_pool2d(&self, l: &Layout, g: &Geom, include_pad: bool) -> Result<Self>;
    /// The input gradient of average pooling from the output gradient `self`.
    fn avg_pool2d_backward(&self, l: &Layout, g: &Geom, include_pad: bool) -> Result<Self>;
    /// Adaptive average pooling of `g.n` planes to `(g.ho, g.wo)`: output `i` averages rows
    /// `floor(i H / H_out) .. ceil((i + 1) H / H_out)`, likewise columns.
    fn adaptive_avg_pool2d(&self, l: &Layout, g: &Geom) -> Result<Self>;
    /// The input gradient of adaptive average pooling from the output gradient `self`.
    fn adaptive_avg_pool2d_backward(&self, l: &Layout, g: &Geom) -> Result<Self>;

    /// Nearest-neighbour resize of `r.n` planes `(H, W)` -> `(H_out, W_out)`: output `(i, j)`
    /// is input `(r.nearest_row(i), r.nearest_col(j))`.
    fn upsample_nearest2d(&self, l: &Layout, r: &Resize) -> Result<Self>;
    /// The input gradient `(P, H, W)` of the nearest resize from the output gradient `self`
    /// `(P, H_out, W_out)`: each output's gradient added to the input it copied.
    fn upsample_nearest2d_backward(&self, l: &Layout, r: &Resize) -> Result<Self>;
    /// Bilinear resize of `r.n` planes `(H, W)` -> `(H_out, W_out)`: with the row taps
    /// `(h0, h1, a) = r.linear_row(i)` and column taps `(w0, w1, b) = r.linear_col(j)`, output
    /// `(i, j)` is `(1-a) ((1-b) x[h0, w0] + b x[h0, w1]) + a ((1-b) x[h1, w0] + b x[h1, w1])`.
    fn upsample_bilinear2d(&self, l: &Layout, r: &Resize) -> Result<Self>;
    /// The input gradient `(P, H, W)` of the bilinear resize from the output gradient `self`:
    /// each output's gradient shared among its four inputs with their weights.
    fn upsample_bilinear2d_backward(&self, l: &Layout, r: &Resize) -> Result<Self>;

    /// Batch normalization with batch statistics (training mode) of `self: (N, C, *)`, a
    /// float tensor: per channel, the mean and the biased variance over every dim but 1, and
    /// `y = (x - mean) / sqrt(var + eps) * w + b` with `w`, `b: (C,)` of the same dtype.
    /// Returns `(y, mean, var)`, contiguous.
    fn batch_norm(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)>;
    /// Batch normalization with given statistics (evaluation mode): `self: (N, C, *)`,
    /// `stats = (mean, var)` contiguous `(C,)`, `y = (x - mean) / sqrt(var + eps) * w + b`.
    fn batch_norm_eval(
        &self,
        l: &Layout,
        stats: (&Self, &Self),
        w: (&Self, &Layout),
        b: (&Self, &Layout),
        eps: f64,
    ) -> Result<Self>;
    /// The gradients `(dx, dw, db)` of [`BackendStorage::batch_norm`] or of
    /// [`BackendStorage::batch_norm_eval`] from `gy` (`self`), the forward's `x`, its
    /// `(mean, var)` (contiguous `(C,)`) and `w`. `flags = (batch_stats, need_dx)`:
    /// `batch_stats` when the statistics were the batch's (they then depend on `x`); `dx` is
    /// empty unless `need_dx`.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        l: &Layout,
        x: (&Self, &Layout),
        stats: (&Self, &Self),
        w: (&Self, &Layout),
        eps: f64,
        flags: (bool, bool),
    ) -> Result<(Self, Self, Self)>;

    /// One LSTM step's elementwise part: `self: (N, 4H)` the gate pre-activations i, f, g, o
    /// (PyTorch's order: `x W_ih^T + b_ih + h W_hh^T + b_hh`), `c_prev: (N, H)`, both of one
    /// float dtype. Returns `[h' | c']` as one `(N, 2H)` tensor, with `c' = σ(f) c_prev +
    /// σ(i) tanh(g)` and `h' = σ(o) tanh(c')`.
    fn lstm_cell(&self, l: &Layout, c_prev: (&Self, &Layout)) -> Result<Self>;
    /// The gradients of [`BackendStorage::lstm_cell`] with respect to the gates `(N, 4H)` and
    /// `c_prev` `(N, H)`, given the gradient `gy: (N, 2H)` of `[h' | c']` and the forward's
    /// operands (a backend recomputes the activations; it need not keep them).
    fn lstm_cell_backward(
        &self,
        l: &Layout,
        c_prev: (&Self, &Layout),
        gy: (&Self, &Layout),
    ) -> Result<(Self, Self)>;
    /// One GRU step in PyTorch's form: `self = x W_ih^T + b_ih` and `gh = h W_hh^T + b_hh`, both
    /// `(N, 3H)` with gates r, z, n, and `h_prev: (N, H)`, all of one float dtype. Returns
    /// `h' = (1 - z) n + z h_prev: (N, H)` with `r = σ(gi_r + gh_r)`, `z = σ(gi_z + gh_z)`,
    /// `n = tanh(gi_n + r gh_n)`.
    fn gru_cell(&self, l: &Layout, gh: (&Self, &Layout), h_prev: (&Self, &Layout)) -> Result<Self>;
    /// The gradients of [`BackendStorage::gru_cell`] given `gy: (N, H)`: `[d gi | d gh]` as one
    /// `(N, 6H)` tensor (row `k` holds row `k` of each), and `d h_prev: (N, H)`.
    fn gru_cell_backward(
        &self,
        l: &Layout,
        gh: (&Self, &Layout),
        h_prev: (&Self, &Layout),
        gy: (&Self, &Layout),
    ) -> Result<(Self, Self)>;

    /// A whole LSTM sequence (one layer, one direction; see [`SeqOperands`] for the operands,
    /// `x.c0` is given). Step `t` computes the gates `xp[t] + (b_ih + b_hh) + h W_hh^T` (i, f,
    /// g, o; a missing bias counts as zero) and the update of [`BackendStorage::lstm_cell`]. Returns the states `(L + 2, N, H)`: rows
    /// `0..=L` are the hidden states in time order with `h0` at the end the steps start from
    /// (row 0, or row L with `x.reverse`; `h_t` is row `t + 1`, or row `t` reversed), row
    /// `L + 1` is the final cell state; and a reserve, what the backward needs in a layout of
    /// the backend's choosing (empty unless `save`).
    fn lstm_seq(x: &SeqOperands<'_, Self>, save: bool) -> Result<(Self, Self)>;
    /// The gradients of [`BackendStorage::lstm_seq`] given `gy: (L + 2, N, H)`, the gradient
    /// of its states (any row may carry one), with the forward's operands, states `out` and
    /// reserve (taken with `save`). `db_ih` and `db_hh` (equal) are there for the biases given.
    fn lstm_seq_backward(
        x: &SeqOperands<'_, Self>,
        out: (&Self, &Layout),
        reserve: &Self,
        gy: (&Self, &Layout),
    ) -> Result<SeqGrads<Self>>;
    /// A whole GRU sequence in PyTorch's form (one layer, one direction; `x.c0` is `None`):
    /// step `t` runs [`BackendStorage::gru_cell`] on `gi = xp[t] + b_ih` and `gh = h W_hh^T +
    /// b_hh` (a missing bias counts as zero).
    /// Returns the hidden states `(L + 1, N, H)` laid out as the first `L + 1` rows of
    /// [`BackendStorage::lstm_seq`]'s, and a reserve (empty unless `save`).
    fn gru_seq(x: &SeqOperands<'_, Self>, save: bool) -> Result<(Self, Self)>;
    /// The gradients of [`BackendStorage::gru_seq`] given `gy: (L + 1, N, H)`; `db_ih` and
    /// `db_hh` are there for the biases given, `dc0` is `None`.
    fn gru_seq_backward(
        x: &SeqOperands<'_, Self>,
        out: (&Self, &Layout),
        reserve: &Self,
        gy: (&Self, &Layout),
    ) -> Result<SeqGrads<Self>>;
}

/// The operands of a whole-sequence recurrent primitive (one layer, one direction, every
/// sequence of the batch running all `L` steps), each with its layout, all of one float dtype.
/// `G` is the number of gates (LSTM 4, GRU 3).
#[derive(Clone, Copy, Debug)]
pub struct SeqOperands<'a, S> {
    /// `(L, N, G*H)`: the input projection of every step, `x_t W_ih^T`
    pub xp: (&'a S, &'a Layout),
    /// `(G*H, H)`: the recurrent weight, gates stacked in its rows
    pub w_hh: (&'a S, &'a Layout),
    /// `(G*H,)`: the input bias, added to every step's `xp` (`None` for none)
    pub b_ih: Option<(&'a S, &'a Layout)>,
    /// `(G*H,)`: the recurrent bias, added to every step's `h W_hh^T` (`None` for none)
    pub b_hh: Option<(&'a S, &'a Layout)>,
    /// `(N, H)`: the initial hidden state
    pub h0: (&'a S, &'a Layout),
    /// `(N, H)`: the initial cell state (LSTM only)
    pub c0: Option<(&'a S, &'a Layout)>,
    /// run the steps from `t = L - 1` down to 0 (the reverse direction of a bidirectional layer)
    pub reverse: bool,
}

impl<'a, S> SeqOperands<'a, S> {
    /// Every storage of the operands, `xp` first.
    pub fn storages(&self) -> Vec<&'a S> {
        let mut v = vec![self.xp.0, self.w_hh.0];
        v.extend(self.b_ih.map(|b| b.0));
        v.extend(self.b_hh.map(|b| b.0));
        v.push(self.h0.0);
        v.extend(self.c0.map(|c| c.0));
        v
    }

    /// The same operands with each storage mapped by `f` (from the device enum to a device).
    pub fn map<U>(&self, f: impl Fn(&'a S) -> &'a U) -> SeqOperands<'a, U> {
        SeqOperands {
            xp: (f(self.xp.0), self.xp.1),
            w_hh: (f(self.w_hh.0), self.w_hh.1),
            b_ih: self.b_ih.map(|b| (f(b.0), b.1)),
            b_hh: self.b_hh.map(|b| (f(b.0), b.1)),
            h0: (f(self.h0.0), self.h0.1),
            c0: self.c0.map(|c| (f(c.0), c.1)),
            reverse: self.reverse,
        }
    }

    /// `(L, N, H)` from the layouts of `xp` and `h0`.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.xp.1.dims()[0],
            self.h0.1.dims()[0],
            self.h0.1.dims()[1],
        )
    }
}

/// The gradients a whole-sequence backward returns, each contiguous in its operand's shape.
#[derive(Clone, Debug)]
pub struct SeqGrads<S> {
    /// `(L, N, G*H)`
    pub dxp: S,
    /// `(G*H, H)`: summed over all steps
    pub dw_hh: S,
    /// `(G*H,)`, where the operands have `b_ih`
    pub db_ih: Option<S>,
    /// `(G*H,)`, where the operands have `b_hh`
    pub db_hh: Option<S>,
    /// `(N, H)`
    pub dh0: S,
    /// `(N, H)` (LSTM)
    pub dc0: Option<S>,
}

impl<S> SeqGrads<S> {
    /// Each gradient mapped by `f` (from a device back to the device enum).
    pub fn map<U>(self, f: impl Fn(S) -> U) -> SeqGrads<U> {
        SeqGrads {
            dxp: f(self.dxp),
            dw_hh: f(self.dw_hh),
            db_ih: self.db_ih.map(&f),
            db_hh: self.db_hh.map(&f),
            dh0: f(self.dh0),
            dc0: self.dc0.map(&f),
        }
    }
}
