//! Graph recurrent networks: the [`Graph`] they run on, and the gated graph layer
//! ([`GatedGraph`], GGNN; Li, Tarlow, Brockschmidt and Zemel 2016, "Gated graph sequence neural
//! networks"). The Child-Sum Tree-LSTM, the recurrent network of trees, is in
//! [`super::tree_lstm`].
//!
//! # The gated graph layer
//!
//! Every node `v` holds a state `h_v` of `D` features, starting from its input features padded
//! with zeros to `D` (`h_v^0 = [x_v, 0]`). Each of `K` propagation steps sends a message along
//! every edge `u -> v` of type `t`, sums the messages arriving at each node, and updates the node
//! with a GRU cell whose input is the summed message:
//!
//! ```text
//! m_v = Σ_{(u -> v, t)} (h_u W_t + b_t)          W_t = weight[t]: (D, D), b_t = bias[t]: (D,)
//! h_v' = GRUCell(m_v, h_v)                       torch.nn.GRUCell(D, D), PyTorch's equations
//! ```
//!
//! The parameters are shared by the `K` steps, so information travels at most `K` edges: after
//! `K` steps `h_v` depends only on the nodes within `K` edges upstream of `v`. Edges are
//! directed; to let information flow both ways, list each edge in both directions, with different
//! types when the direction matters (Li et al. use one type per edge label and direction).
//!
//! Parameters: `weight: (T, D, D)` (`T` edge types; a message is `h_u @ weight[t]`, as PyTorch
//! Geometric's `GatedGraphConv` multiplies `x @ weight`), uniform in `±1/sqrt(D)`; `bias: (T, D)`
//! with `bias`, uniform in `±1/sqrt(D)`; `rnn.weight_ih`, `rnn.weight_hh: (3D, D)`,
//! `rnn.bias_ih`, `rnn.bias_hh: (3D,)`, PyTorch's `GRUCell(D, D)`.
//!
//! Shapes: `x: (V, F)` with `F <= D`, one row per node of the graph -> `(V, D)`, every node's
//! state after `K` steps. Several graphs run as one batch by taking their disjoint union
//! ([`Graph::disjoint_union`]): no edge joins two of them, so none sees another.
//!
//! Per step the work is one matmul for the messages of every node and edge type
//! (`h @ [W_0 | ... | W_{T-1}]: (V, T*D)`), one `index_select` of the `E` edges' messages, one
//! `scatter_add` of them into their targets and one GRU step for all nodes; the biases' sum at
//! each node (`Σ b_t` over its incoming edges) is the same every step and made once.

use super::in_module;
use super::recurrent::RecurrentCell;
use super::rnn::{CellCore, CellKind, GruForm};
use crate::{Init, ParamBuilder};
use deepnet_tensor::{Device, Error, Result, Tensor};

/// A directed graph with typed edges: `num_nodes` nodes `0..num_nodes` and a list of edges
/// `(source, target, edge type)`. Parallel edges and self-loops are allowed (each sends its own
/// message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    num_nodes: usize,
    edges: Vec<(usize, usize, usize)>,
}

impl Graph {
    /// A graph of `num_nodes` nodes and `edges` `(source, target, edge type)`; an edge that
    /// names a node outside `0..num_nodes` is an error naming the edge.
    pub fn new(num_nodes: usize, edges: &[(usize, usize, usize)]) -> Result<Graph> {
        for (e, &(s, t, ty)) in edges.iter().enumerate() {
            if s >= num_nodes || t >= num_nodes {
                return Err(Error::InvalidArgument {
                    op: "graph",
                    msg: format!(
                        "edge {e} ({s} -> {t}, type {ty}) references node {}, but the graph has \
                         {num_nodes} nodes (0..{num_nodes})",
                        if s >= num_nodes { s } else { t }
                    ),
                });
            }
        }
        Ok(Graph {
            num_nodes,
            edges: edges.to_vec(),
        })
    }

    /// The number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.num_nodes
    }

    /// The edges `(source, target, edge type)`.
    pub fn edges(&self) -> &[(usize, usize, usize)] {
        &self.edges
    }

    /// One more than the largest edge type (0 without edges).
    pub fn num_edge_types(&self) -> usize {
        self.edges.iter().map(|e| e.2 + 1).max().unwrap_or(0)
    }

    /// The disjoint union of `graphs`, for running them as one batch: graph `g`'s node `i`
    /// becomes node `offsets[g] + i`. Returns the union and `offsets` (`graphs.len() + 1`
    /// entries, the last the total node count), so that graph `g`'s rows of a `(V, *)` result
    /// are `offsets[g]..offsets[g + 1]`.
    pub fn disjoint_union(graphs: &[Graph]) -> (Graph, Vec<usize>) {
        let mut offsets = vec![0];
        let mut edges = Vec::new();
        for g in graphs {
            let o = *offsets.last().expect("offsets starts non-empty");
            edges.extend(g.edges.iter().map(|&(s, t, ty)| (s + o, t + o, ty)));
            offsets.push(o + g.num_nodes);
        }
        let num_nodes = *offsets.last().expect("offsets starts non-empty");
        (Graph { num_nodes, edges }, offsets)
    }

    /// The edges' sources, targets and types as int64 tensors for the gathers of a step:
    /// `source * types + type` (a row of the `(V*T, D)` messages), the targets broadcast to
    /// `(E, d)`, and the `(V, T)` count of each node's incoming edges by type.
    fn index_tensors(&self, types: usize, d: usize, device: Device) -> Result<GraphIndex> {
        let e = self.edges.len();
        let src: Vec<i64> = self
            .edges
            .iter()
            .map(|&(s, _, ty)| (s * types + ty) as i64)
            .collect();
        let dst: Vec<i64> = self.edges.iter().map(|&(_, t, _)| t as i64).collect();
        let mut counts = vec![0.0f64; self.num_nodes * types];
        for &(_, t, ty) in &self.edges {
            counts[t * types + ty] += 1.0;
        }
        Ok(GraphIndex {
            src: Tensor::from_vec_on(src, [e], device)?,
            dst: Tensor::from_vec_on(dst, [e, 1], device)?.broadcast_to([e, d])?,
            counts: Tensor::from_vec_on(counts, [self.num_nodes, types], device)?,
        })
    }
}

/// The index tensors of one graph for a layer with `T` edge types and `D` features.
struct GraphIndex {
    /// `(E,)`: `source * T + type`
    src: Tensor,
    /// `(E, D)`: each edge's target, broadcast along the features
    dst: Tensor,
    /// `(V, T)` f64: incoming edges of each type at each node
    counts: Tensor,
}

/// The settings of a [`GatedGraph`].
#[derive(Clone, Debug, PartialEq)]
pub struct GatedGraphConfig {
    /// features `D` of every node state; node inputs may have fewer (padded with zeros)
    pub hidden_size: usize,
    /// edge types `T`, each with its own message weight
    pub num_edge_types: usize,
    /// propagation steps `K`
    pub num_steps: usize,
    /// whether each edge type has a message bias, and the GRU its biases (true)
    pub bias: bool,
}

impl GatedGraphConfig {
    /// `D` features, `T` edge types, `K` steps, with biases.
    pub fn new(hidden_size: usize, num_edge_types: usize, num_steps: usize) -> Self {
        GatedGraphConfig {
            hidden_size,
            num_edge_types,
            num_steps,
            bias: true,
        }
    }
}

const GGNN: &str = "gated_graph";

/// The gated graph layer (GGNN): `K` steps of typed message passing, each followed by a GRU
/// update of every node. See the docs of `layers/graph_rnn.rs` for the equations, parameters and shapes.
pub struct GatedGraph {
    cfg: GatedGraphConfig,
    weight: Tensor,
    bias: Option<Tensor>,
    rnn: CellCore,
    path: String,
}

impl GatedGraph {
    /// A new layer registering `weight`, `bias` and `rnn.*` under `pb`'s path.
    pub fn new(cfg: &GatedGraphConfig, pb: &ParamBuilder) -> Result<GatedGraph> {
        let build = || -> Result<GatedGraph> {
            let (d, t) = (cfg.hidden_size, cfg.num_edge_types);
            if d == 0 || t == 0 {
                return Err(Error::InvalidArgument {
                    op: GGNN,
                    msg: format!(
                        "hidden_size and num_edge_types must be at least 1, got {d} and {t}"
                    ),
                });
            }
            let bound = 1.0 / (d as f64).sqrt();
            let init = Init::Uniform {
                low: -bound,
                high: bound,
            };
            let weight = pb.param("weight", [t, d, d], init)?;
            let bias = if cfg.bias {
                Some(pb.param("bias", [t, d], init)?)
            } else {
                None
            };
            let kind = CellKind::Gru(GruForm::PyTorch.into());
            let rnn = CellCore::new(kind, &pb.push("rnn"), "", d, d, 0, cfg.bias)?;
            Ok(GatedGraph {
                cfg: cfg.clone(),
                weight,
                bias,
                rnn,
                path: pb.path().to_string(),
            })
        };
        build().map_err(|e| in_module(e, pb.path()))
    }

    /// The configuration.
    pub fn config(&self) -> &GatedGraphConfig {
        &self.cfg
    }

    /// `weight: (T, D, D)`, the message weight of each edge type.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The node states after `num_steps` steps on `graph`, from inputs `x: (V, F)`, `F <= D`:
    /// `(V, D)`.
    pub fn forward(&self, x: &Tensor, graph: &Graph) -> Result<Tensor> {
        self.forward_steps(x, graph, self.cfg.num_steps)
    }

    /// The node states after `steps` steps (instead of the configured number; 0 gives the padded
    /// inputs): `(V, D)`.
    pub fn forward_steps(&self, x: &Tensor, graph: &Graph, steps: usize) -> Result<Tensor> {
        self.check(x, graph)
            .and_then(|_| {
                let p = GgnnParams {
                    weight: &self.weight,
                    bias: self.bias.as_ref(),
                    rnn: &self.rnn,
                };
                propagate(x, graph, &p, steps)
            })
            .map_err(|e| in_module(e, &self.path))
    }

    fn check(&self, x: &Tensor, graph: &Graph) -> Result<()> {
        let (d, t) = (self.cfg.hidden_size, self.cfg.num_edge_types);
        let v = graph.num_nodes();
        if x.rank() != 2 || x.dims()[0] != v || x.dims()[1] > d {
            return Err(Error::InvalidArgument {
                op: GGNN,
                msg: format!(
                    "expected node features (V, F) with V = {v} (the graph's nodes) and \
                     F <= {d} (hidden_size), got {}",
                    x.shape()
                ),
            });
        }
        if let Some((e, &(s, dst, ty))) = graph.edges().iter().enumerate().find(|(_, e)| e.2 >= t) {
            return Err(Error::InvalidArgument {
                op: GGNN,
                msg: format!(
                    "edge {e} ({s} -> {dst}) has type {ty}, but the layer has {t} edge types \
                     (0..{t})"
                ),
            });
        }
        Ok(())
    }
}

/// The parameters [`propagate`] runs with (the layer's, or a gradient check's leaves).
pub(crate) struct GgnnParams<'a> {
    /// `(T, D, D)`
    pub weight: &'a Tensor,
    /// `(T, D)`
    pub bias: Option<&'a Tensor>,
    /// `GRUCell(D, D)`
    pub rnn: &'a CellCore,
}

/// `steps` propagation steps from `x: (V, F)` (checked by the caller) -> `(V, D)`.
pub(crate) fn propagate(x: &Tensor, graph: &Graph, p: &GgnnParams, steps: usize) -> Result<Tensor> {
    let (t, d) = (p.weight.dims()[0], p.weight.dims()[1]);
    let v = graph.num_nodes();
    let mut h = x.pad(&[0, d - x.dims()[1]], 0.0)?;
    if steps == 0 {
        return Ok(h);
    }
    let idx = graph.index_tensors(t, d, x.device())?;
    // [W_0 | ... | W_{T-1}]: (D, T*D), so that row u of h @ it holds h_u W_t in block t
    let w = p.weight.permute([1, 0, 2])?.reshape([d, t * d])?;
    // the incoming edges' biases, summed at each node: the same every step
    let bias_sum = match p.bias {
        Some(b) => Some(idx.counts.to_dtype(b.dtype())?.matmul(b)?),
        None => None,
    };
    let zeros = Tensor::zeros_on([v, d], x.dtype(), x.device())?;
    for _ in 0..steps {
        let mut m = if graph.edges().is_empty() {
            zeros.clone()
        } else {
            let all = h.matmul(&w)?.reshape([v * t, d])?;
            zeros.scatter_add(0, &idx.dst, &all.index_select(0, &idx.src)?)?
        };
        if let Some(b) = &bias_sum {
            m = m.add(b)?;
        }
        let xp = p.rnn.project_input(&m)?;
        h = p.rnn.step(&xp, &[h])?.remove(0);
    }
    Ok(h)
}

#[cfg(test)]
#[path = "graph_rnn_tests.rs"]
mod tests;
