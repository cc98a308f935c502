//! The Child-Sum Tree-LSTM (Tai, Socher and Manning 2015, "Improved semantic representations
//! from tree-structured long short-term memory networks"), and the [`Forest`] it runs on.
//!
//! # The cell
//!
//! Node `j` with input `x_j` and children `C(j)` (leaves have none):
//!
//! ```text
//! h~_j  = Σ_{k ∈ C(j)} h_k
//! i_j   = σ(W_i x_j + b_i + U_i h~_j)            (b = bias_ih + bias_hh, as in LSTMCell)
//! f_jk  = σ(W_f x_j + b_f + U_f h_k)             one forget gate per child k
//! u_j   = tanh(W_g x_j + b_g + U_g h~_j)
//! o_j   = σ(W_o x_j + b_o + U_o h~_j)
//! c_j   = i_j * u_j + Σ_{k ∈ C(j)} f_jk * c_k
//! h_j   = o_j * tanh(c_j)
//! ```
//!
//! The children's order does not matter (sums), and any number of children is allowed. The
//! parameters are those of `torch.nn.LSTMCell(F, H)`, with the same keys, shapes, gate order
//! `(i, f, g = u, o)` and initialization (uniform in `±1/sqrt(H)`): `weight_ih: (4H, F)`,
//! `weight_hh: (4H, H)`, `bias_ih`, `bias_hh: (4H,)`. A node with exactly one child is an LSTM
//! step, so on a chain the layer is `LSTMCell` run from the leaf up (a test shows it).
//!
//! Shapes: `x: (V, F)`, one row per node of the forest -> `(h, c)`, each `(V, H)`, every node's
//! state in node order; a tree's root state summarizes the tree.
//!
//! # Computation
//!
//! Level by level: a node's height is 0 for a leaf and one more than its highest child's, so all
//! nodes of one height depend only on lower ones and run as one batch. Per level: one
//! `index_select` of the children's `h` and `c`, `scatter_add`s summing them (and the forget
//! gates' products) into their parents, and two matmuls (`h~ @ U^T` for the parents, `h_k @
//! U_f^T` for the children). The input projections of all nodes are one matmul before the levels.
//! Several trees run as one batch as one [`Forest`] ([`Forest::union`]).

use super::in_module;
use super::rnn::CellWeights;
use crate::ParamBuilder;
use deepnet_tensor::{Device, Error, Result, Tensor};

/// A forest of rooted trees over the nodes `0..n`, given by each node's parent (`None` for a
/// root), with the level schedule the Tree-LSTM runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forest {
    parents: Vec<Option<usize>>,
    heights: Vec<usize>,
    /// the nodes sorted by height (ties by index): each level is a contiguous range
    order: Vec<usize>,
    /// `level_starts[l]..level_starts[l + 1]` is level `l`'s range of `order`
    level_starts: Vec<usize>,
}

impl Forest {
    /// The forest where node `i`'s parent is `parents[i]` (`None` for a root). A parent outside
    /// `0..n`, or parents that form a cycle (a node its own ancestor, itself included), is an
    /// error naming the nodes.
    pub fn from_parents(parents: &[Option<usize>]) -> Result<Forest> {
        let n = parents.len();
        let bad = |msg: String| Error::InvalidArgument { op: "tree", msg };
        let mut pending = vec![0usize; n];
        for (i, p) in parents.iter().enumerate() {
            match *p {
                Some(p) if p >= n => {
                    return Err(bad(format!(
                        "node {i}'s parent is {p}, but the tree has {n} nodes (0..{n})"
                    )))
                }
                Some(p) => pending[p] += 1,
                None => {}
            }
        }
        // leaves first; a parent is ready once all its children are done (Kahn's order)
        let mut heights = vec![0usize; n];
        let mut ready: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
        let mut done = 0;
        while let Some(i) = ready.pop() {
            done += 1;
            if let Some(p) = parents[i] {
                heights[p] = heights[p].max(heights[i] + 1);
                pending[p] -= 1;
                if pending[p] == 0 {
                    ready.push(p);
                }
            }
        }
        if done < n {
            // the nodes never done are exactly those on cycles: follow one round
            let start = (0..n)
                .find(|&i| pending[i] > 0)
                .expect("a node was not done");
            let mut cycle = vec![start];
            let mut at = parents[start].expect("a node on a cycle has a parent");
            while at != start {
                cycle.push(at);
                at = parents[at].expect("a node on a cycle has a parent");
            }
            cycle.push(start);
            let path: Vec<String> = cycle.iter().map(|c| c.to_string()).collect();
            return Err(bad(format!(
                "the parents form a cycle {} (following each node's parent): not a tree",
                path.join(" -> ")
            )));
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (heights[i], i));
        let levels = heights.iter().max().map_or(0, |h| h + 1);
        let mut level_starts = vec![0; levels + 1];
        for &h in &heights {
            level_starts[h + 1] += 1;
        }
        for l in 0..levels {
            level_starts[l + 1] += level_starts[l];
        }
        Ok(Forest {
            parents: parents.to_vec(),
            heights,
            order,
            level_starts,
        })
    }

    /// The number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.parents.len()
    }

    /// Each node's parent (`None` for a root).
    pub fn parents(&self) -> &[Option<usize>] {
        &self.parents
    }

    /// Each node's height: 0 for a leaf, else one more than its highest child's.
    pub fn heights(&self) -> &[usize] {
        &self.heights
    }

    /// The roots, in increasing order.
    pub fn roots(&self) -> Vec<usize> {
        (0..self.num_nodes())
            .filter(|&i| self.parents[i].is_none())
            .collect()
    }

    /// The forest of all of `forests` side by side, for running them as one batch: forest `g`'s
    /// node `i` becomes node `offsets[g] + i`. Returns it and `offsets` (`forests.len() + 1`
    /// entries, the last the total node count).
    pub fn union(forests: &[Forest]) -> (Forest, Vec<usize>) {
        let mut offsets = vec![0];
        let mut parents = Vec::new();
        for f in forests {
            let o = *offsets.last().expect("offsets starts non-empty");
            parents.extend(f.parents.iter().map(|p| p.map(|p| p + o)));
            offsets.push(o + f.num_nodes());
        }
        let f = Forest::from_parents(&parents).expect("a union of forests is a forest");
        (f, offsets)
    }

    /// The number of levels (the largest height + 1; 0 for no nodes).
    fn levels(&self) -> usize {
        self.level_starts.len() - 1
    }

    /// `(child positions, parent positions within the level)` of level `l`'s children, both
    /// as int64 tensors `(E,)`, positions meaning indices into `order`.
    fn level_edges(&self, l: usize, pos: &[usize], device: Device) -> Result<(Tensor, Tensor)> {
        let start = self.level_starts[l];
        let (mut child, mut parent) = (Vec::new(), Vec::new());
        for (c, p) in self.parents.iter().enumerate() {
            if let Some(p) = *p {
                if self.heights[p] == l {
                    child.push(pos[c] as i64);
                    parent.push((pos[p] - start) as i64);
                }
            }
        }
        let e = child.len();
        Ok((
            Tensor::from_vec_on(child, [e], device)?,
            Tensor::from_vec_on(parent, [e], device)?,
        ))
    }
}

const OP: &str = "child_sum_tree_lstm";

/// The Child-Sum Tree-LSTM; see the docs of `layers/tree_lstm.rs` for the equations, parameters and
/// shapes.
pub struct ChildSumTreeLSTM {
    w: CellWeights,
    input_size: usize,
    hidden_size: usize,
    path: String,
}

impl ChildSumTreeLSTM {
    /// A new layer registering `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (with `bias`)
    /// under `pb`'s path, uniform in `±1/sqrt(hidden_size)`.
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<ChildSumTreeLSTM> {
        let build = || {
            if input_size == 0 || hidden_size == 0 {
                return Err(Error::InvalidArgument {
                    op: OP,
                    msg: format!(
                        "input_size and hidden_size must be at least 1, got {input_size} and \
                         {hidden_size}"
                    ),
                });
            }
            let rows = 4 * hidden_size;
            CellWeights::register(pb, "", rows, input_size, hidden_size, 0, bias)
        };
        Ok(ChildSumTreeLSTM {
            w: build().map_err(|e| in_module(e, pb.path()))?,
            input_size,
            hidden_size,
            path: pb.path().to_string(),
        })
    }

    /// The state size `H`.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// `weight_ih: (4H, F)`, gates `i, f, g, o`.
    pub fn weight_ih(&self) -> &Tensor {
        &self.w.w_ih
    }

    /// `weight_hh: (4H, H)`, gates `i, f, g, o`.
    pub fn weight_hh(&self) -> &Tensor {
        &self.w.w_hh
    }

    /// Every node's `(h, c)`, each `(V, H)` in node order, from `x: (V, F)` (row `i` node `i`'s
    /// input).
    pub fn forward(&self, x: &Tensor, forest: &Forest) -> Result<(Tensor, Tensor)> {
        let f = self.input_size;
        let v = forest.num_nodes();
        if x.rank() != 2 || x.dims() != [v, f] {
            return Err(in_module(
                Error::InvalidArgument {
                    op: OP,
                    msg: format!(
                        "expected node inputs ({v}, {f}) for a forest of {v} nodes, got {}",
                        x.shape()
                    ),
                },
                &self.path,
            ));
        }
        tree_lstm(x, forest, &self.w, self.hidden_size).map_err(|e| in_module(e, &self.path))
    }
}

/// The level-by-level evaluation; see the module docs. `x: (V, F)` checked by the caller.
pub(crate) fn tree_lstm(
    x: &Tensor,
    forest: &Forest,
    w: &CellWeights,
    hs: usize,
) -> Result<(Tensor, Tensor)> {
    let v = forest.num_nodes();
    let dev = x.device();
    if v == 0 {
        let z = Tensor::zeros_on([0, hs], x.dtype(), dev)?;
        return Ok((z.clone(), z));
    }
    // pos[node] = its row in level order
    let mut pos = vec![0; v];
    for (r, &node) in forest.order.iter().enumerate() {
        pos[node] = r;
    }
    let order: Vec<i64> = forest.order.iter().map(|&i| i as i64).collect();
    let mut xp = x.matmul(&w.w_ih.t()?)?;
    for b in [&w.b_ih, &w.b_hh].into_iter().flatten() {
        xp = xp.add(b)?;
    }
    // (V, 4H) in level order
    let xp = xp.index_select(0, &Tensor::from_vec_on(order, [v], dev)?)?;
    let gate = |t: &Tensor, k: usize| t.narrow(1, k * hs, hs);
    // U_i, U_g, U_o apply to h~, U_f to each child's h
    let u = w.w_hh.t()?;
    let u_f = w.w_hh.narrow(0, hs, hs)?.t()?;
    let (mut hs_done, mut cs_done): (Vec<Tensor>, Vec<Tensor>) = (Vec::new(), Vec::new());
    for l in 0..forest.levels() {
        let (start, end) = (forest.level_starts[l], forest.level_starts[l + 1]);
        let len = end - start;
        let xl = xp.narrow(0, start, len)?;
        let (h, c) = if l == 0 {
            let c = gate(&xl, 0)?.sigmoid()?.mul(&gate(&xl, 2)?.tanh()?)?;
            (gate(&xl, 3)?.sigmoid()?.mul(&c.tanh()?)?, c)
        } else {
            let (child, parent) = forest.level_edges(l, &pos, dev)?;
            let e = child.numel();
            let parent_b = parent.reshape([e, 1])?.broadcast_to([e, hs])?;
            let h_all = Tensor::cat(&hs_done, 0)?;
            let c_all = Tensor::cat(&cs_done, 0)?;
            let hk = h_all.index_select(0, &child)?;
            let ck = c_all.index_select(0, &child)?;
            let zeros = Tensor::zeros_on([len, hs], x.dtype(), dev)?;
            let h_sum = zeros.scatter_add(0, &parent_b, &hk)?;
            let pre = xl.add(&h_sum.matmul(&u)?)?;
            let f = gate(&xl, 1)?
                .index_select(0, &parent)?
                .add(&hk.matmul(&u_f)?)?
                .sigmoid()?;
            let fc = zeros.scatter_add(0, &parent_b, &f.mul(&ck)?)?;
            let c = gate(&pre, 0)?
                .sigmoid()?
                .mul(&gate(&pre, 2)?.tanh()?)?
                .add(&fc)?;
            (gate(&pre, 3)?.sigmoid()?.mul(&c.tanh()?)?, c)
        };
        hs_done.push(h);
        cs_done.push(c);
    }
    // back to node order
    let back: Vec<i64> = pos.iter().map(|&r| r as i64).collect();
    let back = Tensor::from_vec_on(back, [v], dev)?;
    let h = Tensor::cat(&hs_done, 0)?.index_select(0, &back)?;
    let c = Tensor::cat(&cs_done, 0)?.index_select(0, &back)?;
    Ok((h, c))
}

#[cfg(test)]
#[path = "tree_lstm_tests.rs"]
mod tests;
