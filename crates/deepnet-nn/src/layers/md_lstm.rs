//! The two-dimensional LSTM (MD-LSTM; Graves, Fernández and Schmidhuber 2007, "Multi-dimensional
//! recurrent neural networks"): an LSTM that scans an image in both of its dimensions at once,
//! from each of the four corners, so that every output cell has seen the whole image.
//!
//! # The cell
//!
//! The input `x: (N, C, H, W)` is cut into non-overlapping `ph x pw` patches (the patch size;
//! `1 x 1` reads single pixels), giving a grid of `Hg x Wg = H/ph x W/pw` cells, each with
//! `F = C*ph*pw` features in `(c, py, px)` order (as `torch.nn.functional.unfold` with stride =
//! kernel). One direction scans the grid from one corner; in its scan coordinates `(a, b)` (row and
//! column counted from that corner) the cell at `(a, b)` has two predecessors, the cell before it
//! along each dimension, `(a-1, b)` ("vertical") and `(a, b-1)` ("horizontal"), whose states are
//! zero outside the grid. With `h_1, c_1` the vertical and `h_2, c_2` the horizontal predecessor's
//! state and `x` the cell's patch:
//!
//! ```text
//! [i; f_1; f_2; g; o] = W_ih x + W_hh [h_1; h_2] + b        (5 gates of H rows each)
//! c = σ(i) * tanh(g) + σ(f_1) * c_1 + σ(f_2) * c_2         one forget gate per dimension
//! h = σ(o) * tanh(c)
//! ```
//!
//! With one dimension (`Hg = 1` or `Wg = 1`) this is the LSTM of `torch.nn.LSTMCell` with the
//! unused forget gate's pre-activation discarded (a test shows it).
//!
//! # Directions, parameters, shapes
//!
//! The four directions, in this order, start at the top-left (`tl`, scanning right and down),
//! top-right (`tr`), bottom-left (`bl`) and bottom-right (`br`) corner; each has its own
//! parameters, under the suffix `_tl`, `_tr`, `_bl`, `_br`:
//!
//! - `weight_ih_{d}: (5H, F)`, rows the gates `i, f_1, f_2, g, o` in that order;
//! - `weight_hh_{d}: (5H, 2H)`, columns `0..H` applied to the vertical predecessor's `h`,
//!   `H..2H` to the horizontal one's;
//! - `bias_{d}: (5H,)` with `bias` (one vector: a second, as PyTorch's LSTM keeps for cuDNN,
//!   would add nothing);
//!
//! all uniform in `±1/sqrt(H)` as PyTorch's recurrent layers. Shapes: `x: (N, C, H, W)` with `H`
//! and `W` multiples of the patch size -> `(N, 4*hidden_size, Hg, Wg)`, the `h` of every cell,
//! channels `d*H .. (d+1)*H` holding direction `d` (`tl`, `tr`, `bl`, `br`).
//!
//! # Computation
//!
//! The cells of one anti-diagonal (`a + b = k` in scan coordinates) depend only on the diagonal
//! before, so each diagonal is one step: the `Hg + Wg - 1` steps each gather the previous
//! diagonal's states (a shifted view, padded with the zero state at the border), make one batched
//! matmul `(4, L*N, F + 1 + 2H) @ (4, F + 1 + 2H, 5H)` of every cell's `[x; 1; h_1; h_2]` with
//! `[W_ih | b | W_hh]^T` for all four directions and all `L` cells of the diagonal, and one set
//! of elementwise gate ops. The directions share the schedule: each reads the grid through its own
//! flip, which is folded into one gather of the patches before the scan and one of the states
//! after it. Gradients flow through autograd (the ops are ordinary tensor ops).

use super::in_module;
use crate::{Init, Module, ParamBuilder};
use deepnet_tensor::{Device, Error, Result, Tensor};

/// The directions' parameter suffixes, in output-channel order: the scan from the top-left,
/// top-right, bottom-left and bottom-right corner.
pub const MD_LSTM_DIRECTIONS: [&str; 4] = ["tl", "tr", "bl", "br"];

const OP: &str = "md_lstm2d";

/// The settings of an [`MdLstm2d`].
#[derive(Clone, Debug, PartialEq)]
pub struct MdLstm2dConfig {
    /// channels `C` of the input
    pub input_channels: usize,
    /// features `H` of each direction's state; the output has `4*hidden_size` channels
    pub hidden_size: usize,
    /// `(ph, pw)`: each grid cell reads a `ph x pw` patch of every channel (`(1, 1)`)
    pub patch_size: (usize, usize),
    /// whether each direction has a `bias` vector (true)
    pub bias: bool,
}

impl MdLstm2dConfig {
    /// One pixel per cell, with biases.
    pub fn new(input_channels: usize, hidden_size: usize) -> Self {
        MdLstm2dConfig {
            input_channels,
            hidden_size,
            patch_size: (1, 1),
            bias: true,
        }
    }

    /// Features of one cell's input, `C*ph*pw`.
    pub fn cell_features(&self) -> usize {
        self.input_channels * self.patch_size.0 * self.patch_size.1
    }

    fn validate(&self) -> Result<()> {
        let (ph, pw) = self.patch_size;
        if self.input_channels == 0 || self.hidden_size == 0 || ph == 0 || pw == 0 {
            return Err(Error::InvalidArgument {
                op: OP,
                msg: format!(
                    "input_channels, hidden_size and the patch size must be at least 1, got {}, \
                     {} and {ph}x{pw}",
                    self.input_channels, self.hidden_size
                ),
            });
        }
        Ok(())
    }
}

/// The parameters of the four directions, each list in [`MD_LSTM_DIRECTIONS`] order.
#[derive(Clone)]
pub(crate) struct MdWeights {
    /// `(5H, F)` each
    pub w_ih: Vec<Tensor>,
    /// `(5H, 2H)` each
    pub w_hh: Vec<Tensor>,
    /// `(5H,)` each
    pub bias: Option<Vec<Tensor>>,
}

/// The anti-diagonal schedule of an `hg x wg` grid in scan coordinates `(a, b)`, shared by the
/// four directions.
struct Schedule {
    hg: usize,
    wg: usize,
    /// per diagonal `k = a + b`: its first row `a0`, its length, and its offset in the
    /// diagonal-major order of all cells
    diags: Vec<(usize, usize, usize)>,
}

impl Schedule {
    fn new(hg: usize, wg: usize) -> Schedule {
        let mut diags = Vec::with_capacity(hg + wg - 1);
        let mut off = 0;
        for k in 0..hg + wg - 1 {
            let a0 = k.saturating_sub(wg - 1);
            let a1 = k.min(hg - 1);
            diags.push((a0, a1 - a0 + 1, off));
            off += a1 - a0 + 1;
        }
        Schedule { hg, wg, diags }
    }

    /// The position of scan cell `(a, b)` in diagonal-major order.
    fn pos(&self, a: usize, b: usize) -> usize {
        let (a0, _, off) = self.diags[a + b];
        off + a - a0
    }

    /// The row-major grid cell that direction `d` (bit 1: starts at the bottom, bit 0: starts at
    /// the right) reads at scan coordinates `(a, b)`.
    fn cell(&self, d: usize, a: usize, b: usize) -> usize {
        let i = if d & 2 != 0 { self.hg - 1 - a } else { a };
        let j = if d & 1 != 0 { self.wg - 1 - b } else { b };
        i * self.wg + j
    }

    /// Every scan cell `(a, b)` in diagonal-major order.
    fn cells(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.diags
            .iter()
            .enumerate()
            .flat_map(|(k, &(a0, len, _))| (a0..a0 + len).map(move |a| (a, k - a)))
    }

    /// `index[d*HW + pos]`: the grid cell direction `d` reads at diagonal-major position `pos`.
    fn input_index(&self, device: Device) -> Result<Tensor> {
        let mut v = Vec::with_capacity(4 * self.hg * self.wg);
        for d in 0..4 {
            v.extend(self.cells().map(|(a, b)| self.cell(d, a, b) as i64));
        }
        let n = v.len();
        Tensor::from_vec_on(v, [n], device)
    }

    /// `index[d*HW + cell]`: the row `d*HW + pos` holding direction `d`'s state of grid `cell`.
    fn output_index(&self, device: Device) -> Result<Tensor> {
        let hw = self.hg * self.wg;
        let mut v = vec![0i64; 4 * hw];
        for d in 0..4 {
            for (a, b) in self.cells() {
                v[d * hw + self.cell(d, a, b)] = (d * hw + self.pos(a, b)) as i64;
            }
        }
        Tensor::from_vec_on(v, [4 * hw], device)
    }
}

/// Rows `start..start + count` of `prev: (4, L', N, S)` along dim 1, with `before` zero rows in
/// front and zero rows after, up to `len` rows: the predecessors' states of one diagonal, the zero
/// state standing for the cells outside the grid.
fn shifted(prev: &Tensor, start: usize, count: usize, before: usize, len: usize) -> Result<Tensor> {
    let d = prev.dims();
    if count == 0 {
        return Tensor::zeros_on([4, len, d[2], d[3]], prev.dtype(), prev.device());
    }
    let t = prev.narrow(1, start, count)?;
    let after = len - before - count;
    if before == 0 && after == 0 {
        return Ok(t);
    }
    t.pad(&[0, 0, 0, 0, before, after], 0.0)
}

/// The scan of all four directions; see the module docs. `x: (N, C, H, W)` (checked by the
/// caller) -> `(N, 4H, Hg, Wg)`.
pub(crate) fn md_lstm2d_scan(
    x: &Tensor,
    w: &MdWeights,
    hidden: usize,
    patch: (usize, usize),
) -> Result<Tensor> {
    let &[n, c, h, wd] = x.dims() else {
        return Err(Error::Rank {
            op: OP,
            expected: "an input (N, C, H, W)".into(),
            got: x.shape().clone(),
        });
    };
    let (ph, pw) = patch;
    let (hg, wg) = (h / ph, wd / pw);
    let (hw, f, hs) = (hg * wg, c * ph * pw, hidden);
    let sched = Schedule::new(hg, wg);
    // patches: (N, C, Hg, ph, Wg, pw) -> (Hg, Wg, N, C, ph, pw) -> (HW, N, F)
    let p = x
        .reshape([n, c, hg, ph, wg, pw])?
        .permute([2, 4, 0, 1, 3, 5])?
        .reshape([hw, n, f])?;
    // each direction's cells in diagonal-major order, with a column of ones that takes the bias:
    // (4, HW, N, F + 1)
    let p = p
        .index_select(0, &sched.input_index(x.device())?)?
        .reshape([4, hw, n, f])?;
    let ones = Tensor::ones_on([4, hw, n, 1], x.dtype(), x.device())?;
    let p = Tensor::cat(&[p, ones], 3)?;
    // every weight of a direction in one matrix, transposed: (4, F + 1 + 2H, 5H), rows in the
    // order of a cell's input [x; 1; h_1; h_2]
    let bias = match &w.bias {
        Some(b) => Tensor::stack(b, 0)?,
        None => Tensor::zeros_on([4, 5 * hs], x.dtype(), x.device())?,
    };
    let w_all = Tensor::cat(
        &[
            Tensor::stack(&w.w_ih, 0)?,
            bias.unsqueeze(2)?,
            Tensor::stack(&w.w_hh, 0)?,
        ],
        2,
    )?
    .transpose(1, 2)?;

    let mut outs: Vec<Tensor> = Vec::with_capacity(sched.diags.len());
    let mut prev: Option<(Tensor, Tensor)> = None;
    for (k, &(a0, len, off)) in sched.diags.iter().enumerate() {
        let m = len * n;
        let xk = p.narrow(1, off, len)?;
        // the input of every cell of the diagonal: (4, L*N, F + 1 + 2H)
        let (inp, carry) = match &prev {
            None => {
                let z = Tensor::zeros_on([4, len, n, 2 * hs], x.dtype(), x.device())?;
                (Tensor::cat(&[xk, z], 3)?, None)
            }
            Some((hp, cp)) => {
                let ap0 = sched.diags[k - 1].0;
                // vertical predecessor (a-1, b): exists for a >= 1
                let first_up = a0.max(1);
                let up = (
                    first_up - 1 - ap0,
                    a0 + len - first_up,
                    usize::from(a0 == 0),
                );
                // horizontal predecessor (a, b-1): exists for b >= 1, i.e. a <= k - 1
                let last_left = (a0 + len - 1).min(k - 1);
                let left = (a0 - ap0, last_left + 1 - a0, 0);
                let pred = |t: &Tensor, (s, cnt, before): (usize, usize, usize)| {
                    shifted(t, s, cnt, before, len)
                };
                let inp = Tensor::cat(&[xk, pred(hp, up)?, pred(hp, left)?], 3)?;
                let c1 = pred(cp, up)?.reshape([4, m, hs])?;
                let c2 = pred(cp, left)?.reshape([4, m, hs])?;
                (inp, Some((c1, c2)))
            }
        };
        let pre = inp.reshape([4, m, f + 1 + 2 * hs])?.matmul(&w_all)?;
        let s = pre.sigmoid()?;
        let gate = |t: &Tensor, j: usize| t.narrow(2, j * hs, hs);
        let mut cell = gate(&s, 0)?.mul(&gate(&pre, 3)?.tanh()?)?;
        if let Some((c1, c2)) = carry {
            cell = cell
                .add(&gate(&s, 1)?.mul(&c1)?)?
                .add(&gate(&s, 2)?.mul(&c2)?)?;
        }
        let hn = gate(&s, 4)?.mul(&cell.tanh()?)?;
        let hn = hn.reshape([4, len, n, hs])?;
        outs.push(hn.clone());
        prev = Some((hn, cell.reshape([4, len, n, hs])?));
    }
    // back to grid order: (4, HW, N, H) -> (4, Hg, Wg, N, H) -> (N, 4, H, Hg, Wg)
    let all = Tensor::cat(&outs, 1)?.reshape([4 * hw, n, hs])?;
    all.index_select(0, &sched.output_index(x.device())?)?
        .reshape([4, hg, wg, n, hs])?
        .permute([3, 0, 4, 1, 2])?
        .reshape([n, 4 * hs, hg, wg])
}

/// The two-dimensional LSTM over four scan directions; see the docs of `layers/md_lstm.rs` for the
/// equations, parameters and shapes.
///
/// Shapes: `x: (N, C, H, W)`, `H` and `W` multiples of the patch size -> `(N, 4*hidden_size,
/// H/ph, W/pw)`.
pub struct MdLstm2d {
    cfg: MdLstm2dConfig,
    w: MdWeights,
    path: String,
}

impl MdLstm2d {
    /// A new layer registering `weight_ih_tl`, `weight_hh_tl`, `bias_tl`, then those of `tr`,
    /// `bl` and `br` under `pb`'s path, uniform in `±1/sqrt(hidden_size)`.
    pub fn new(cfg: &MdLstm2dConfig, pb: &ParamBuilder) -> Result<MdLstm2d> {
        let build = || -> Result<MdWeights> {
            cfg.validate()?;
            let hs = cfg.hidden_size;
            let bound = 1.0 / (hs as f64).sqrt();
            let init = Init::Uniform {
                low: -bound,
                high: bound,
            };
            let mut w = MdWeights {
                w_ih: Vec::new(),
                w_hh: Vec::new(),
                bias: cfg.bias.then(Vec::new),
            };
            for d in MD_LSTM_DIRECTIONS {
                let f = cfg.cell_features();
                w.w_ih
                    .push(pb.param(&format!("weight_ih_{d}"), [5 * hs, f], init)?);
                w.w_hh
                    .push(pb.param(&format!("weight_hh_{d}"), [5 * hs, 2 * hs], init)?);
                if let Some(b) = &mut w.bias {
                    b.push(pb.param(&format!("bias_{d}"), [5 * hs], init)?);
                }
            }
            Ok(w)
        };
        Ok(MdLstm2d {
            w: build().map_err(|e| in_module(e, pb.path()))?,
            cfg: cfg.clone(),
            path: pb.path().to_string(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MdLstm2dConfig {
        &self.cfg
    }

    /// Output channels, `4*hidden_size`.
    pub fn out_channels(&self) -> usize {
        4 * self.cfg.hidden_size
    }

    /// The output grid `(H/ph, W/pw)` of an `h x w` input, or an error when the patch size does
    /// not tile it.
    pub fn grid_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let (ph, pw) = self.cfg.patch_size;
        if h == 0 || w == 0 || !h.is_multiple_of(ph) || !w.is_multiple_of(pw) {
            return Err(in_module(
                Error::InvalidArgument {
                    op: OP,
                    msg: format!(
                        "an input of {h}x{w} is not tiled by {ph}x{pw} patches: height and width \
                         must be positive multiples of the patch size"
                    ),
                },
                &self.path,
            ));
        }
        Ok((h / ph, w / pw))
    }

    /// The parameters of direction `d` (an index into [`MD_LSTM_DIRECTIONS`]): `weight_ih:
    /// (5H, F)`, `weight_hh: (5H, 2H)` and `bias: (5H,)` if there is one.
    pub fn direction_params(&self, d: usize) -> Option<(&Tensor, &Tensor, Option<&Tensor>)> {
        (d < 4).then(|| {
            let b = self.w.bias.as_ref().map(|b| &b[d]);
            (&self.w.w_ih[d], &self.w.w_hh[d], b)
        })
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let c = self.cfg.input_channels;
        if x.rank() != 4 {
            return Err(in_module(
                Error::Rank {
                    op: OP,
                    expected: format!("an input (N, {c}, H, W)"),
                    got: x.shape().clone(),
                },
                &self.path,
            ));
        }
        if x.dims()[1] != c {
            return Err(in_module(
                Error::InvalidArgument {
                    op: OP,
                    msg: format!(
                        "expected an input (N, {c}, H, W) with {c} channels, got {}",
                        x.shape()
                    ),
                },
                &self.path,
            ));
        }
        self.grid_size(x.dims()[2], x.dims()[3]).map(|_| ())
    }
}

impl Module for MdLstm2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        md_lstm2d_scan(x, &self.w, self.cfg.hidden_size, self.cfg.patch_size)
            .map_err(|e| in_module(e, &self.path))
    }

    fn describe(&self) -> String {
        let c = &self.cfg;
        let mut s = format!("MdLstm2d({}, {}", c.input_channels, c.hidden_size);
        if c.patch_size != (1, 1) {
            s.push_str(&format!(", patch_size={:?}", c.patch_size));
        }
        if !c.bias {
            s.push_str(", bias=False");
        }
        s.push(')');
        s
    }
}

#[cfg(test)]
#[path = "md_lstm_tests.rs"]
mod tests;
