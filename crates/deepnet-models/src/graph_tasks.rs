//! Models and seeded toy tasks for the graph recurrent layers, each task built so that the answer
//! needs information from several edges away.
//!
//! # Gated graph network: [`GgnnNodeClassifier`] on [`BroadcastBit`]
//!
//! | layer | module | output (`V` nodes) |
//! |---|---|---|
//! | `ggnn` | GatedGraph(D, T edge types, K steps) | `(V, D)` |
//! | `out` | Linear(D, classes) | logits `(V, classes)`, one row per node |
//!
//! The task: a random tree of 5..=8 nodes, each edge listed in both directions (type 0 from
//! parent to child, type 1 back). One node, chosen at random, holds a random bit (its input is
//! the one-hot bit; every other node's input is zero) and every node must output that bit. A node
//! `r` edges from the marked one gets the bit only through `r` propagation steps, so with `K`
//! steps the nodes further than `K` are at chance (their states do not depend on the bit at
//! all). The trees are deep rather than bushy (node `i` hangs under one of the two nodes before
//! it), so distances up to 7 occur.
//!
//! # Child-Sum Tree-LSTM: [`TreeLstmClassifier`] on [`BoolExpr`]
//!
//! | layer | module | output (`V` nodes) |
//! |---|---|---|
//! | `embed` | Embedding(5, E) | `(V, E)` |
//! | `tree` | ChildSumTreeLSTM(E, H) | `h: (V, H)` |
//! | `out` | Linear(H, 2) | logits `(V, 2)`, every subtree's value |
//!
//! The task: random boolean expression trees of height 3..=4 (leaves `0`, `1`; binary `AND`,
//! `OR`, `XOR`, all symmetric, as the child sum cannot tell its children apart), every node
//! labelled with the value of its subtree; the model is trained on every node and scored on the
//! roots, whose value depends on all the leaves, up to four levels down. The operator alone
//! predicts the root far worse ([`BoolExpr::operator_baseline`]).

use crate::join;
use crate::shape_check::label;
use deepnet_nn::layers::{
    ChildSumTreeLSTM, Embedding, Forest, GatedGraph, GatedGraphConfig, Graph, Linear,
};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Generator, Result, Tensor};

/// A [`GatedGraph`] and a per-node `Linear` head: node features `(V, F)` -> logits
/// `(V, classes)`. See the [module docs](self).
pub struct GgnnNodeClassifier {
    ggnn: GatedGraph,
    out: Linear,
    path: String,
}

impl GgnnNodeClassifier {
    /// `ggnn` (with `cfg`) and `out: Linear(cfg.hidden_size, classes)` under `pb`.
    pub fn new(cfg: &GatedGraphConfig, classes: usize, pb: &ParamBuilder) -> Result<Self> {
        Ok(GgnnNodeClassifier {
            ggnn: GatedGraph::new(cfg, &pb.push("ggnn"))?,
            out: Linear::new(cfg.hidden_size, classes, true, &pb.push("out"))?,
            path: pb.path().to_string(),
        })
    }

    /// The gated graph layer.
    pub fn ggnn(&self) -> &GatedGraph {
        &self.ggnn
    }

    /// Per-node logits `(V, classes)` for node features `x: (V, F)` on `graph`.
    pub fn forward(&self, x: &Tensor, graph: &Graph) -> Result<Tensor> {
        let h = self.ggnn.forward(x, graph)?;
        self.out
            .forward(&h)
            .map_err(|e| label(e, &join(&self.path, "out")))
    }
}

/// One sample of [`BroadcastBit`].
#[derive(Clone, Debug)]
pub struct BitGraph {
    /// the tree, both edge directions
    pub graph: Graph,
    /// `(V, 2)` row-major: the marked node's one-hot bit, zeros elsewhere
    pub features: Vec<f32>,
    /// every node's label: the marked node's bit
    pub labels: Vec<i64>,
    /// each node's distance (in edges) from the marked node
    pub distance: Vec<usize>,
}

/// The broadcast-a-bit task of the [module docs](self): every node of a random tree must output
/// the bit held by one marked node.
#[derive(Clone, Copy, Debug)]
pub struct BroadcastBit {
    /// fewest nodes per tree (5)
    pub min_nodes: usize,
    /// most nodes per tree (8)
    pub max_nodes: usize,
}

impl Default for BroadcastBit {
    fn default() -> Self {
        BroadcastBit {
            min_nodes: 5,
            max_nodes: 8,
        }
    }
}

impl BroadcastBit {
    /// Input features per node (the one-hot bit).
    pub const FEATURES: usize = 2;
    /// Edge types: 0 parent to child, 1 child to parent.
    pub const EDGE_TYPES: usize = 2;

    /// One random tree with its marked node and labels.
    pub fn sample(&self, g: &mut Generator) -> BitGraph {
        let span = (self.max_nodes.max(self.min_nodes) - self.min_nodes + 1) as u64;
        let n = self.min_nodes.max(1) + g.next_below(span) as usize;
        let mut adj = vec![Vec::new(); n];
        let mut edges = Vec::new();
        for i in 1..n {
            // under one of the two nodes before it: a deep, thin tree
            let p = i - 1 - g.next_below(i.min(2) as u64) as usize;
            edges.push((p, i, 0));
            edges.push((i, p, 1));
            adj[p].push(i);
            adj[i].push(p);
        }
        let marked = g.next_below(n as u64) as usize;
        let bit = g.next_below(2) as usize;
        let mut features = vec![0.0f32; n * Self::FEATURES];
        features[marked * Self::FEATURES + bit] = 1.0;
        // breadth-first distances from the marked node
        let mut distance = vec![usize::MAX; n];
        distance[marked] = 0;
        let mut queue = std::collections::VecDeque::from([marked]);
        while let Some(u) = queue.pop_front() {
            for &w in &adj[u] {
                if distance[w] == usize::MAX {
                    distance[w] = distance[u] + 1;
                    queue.push_back(w);
                }
            }
        }
        BitGraph {
            graph: Graph::new(n, &edges).expect("the edges join nodes of the tree"),
            features,
            labels: vec![bit as i64; n],
            distance,
        }
    }

    /// `n` samples.
    pub fn samples(&self, n: usize, g: &mut Generator) -> Vec<BitGraph> {
        (0..n).map(|_| self.sample(g)).collect()
    }

    /// The samples as one batch: features `(V, 2)` f32, their disjoint union, labels `(V,)`
    /// int64 and every node's distance from its graph's marked node.
    pub fn batch(samples: &[BitGraph]) -> Result<(Tensor, Graph, Tensor, Vec<usize>)> {
        let graphs: Vec<Graph> = samples.iter().map(|s| s.graph.clone()).collect();
        let (graph, _) = Graph::disjoint_union(&graphs);
        let v = graph.num_nodes();
        let x = Tensor::from_vec(
            samples.iter().flat_map(|s| s.features.clone()).collect(),
            [v, Self::FEATURES],
        )?;
        let y = Tensor::from_vec(samples.iter().flat_map(|s| s.labels.clone()).collect(), [v])?;
        let d = samples.iter().flat_map(|s| s.distance.clone()).collect();
        Ok((x, graph, y, d))
    }
}

/// An [`Embedding`] of node kinds, a [`ChildSumTreeLSTM`] and a per-node `Linear` head: node
/// kinds `(V,)` int64 -> logits `(V, classes)`. See the [module docs](self).
pub struct TreeLstmClassifier {
    embed: Embedding,
    tree: ChildSumTreeLSTM,
    out: Linear,
    path: String,
}

impl TreeLstmClassifier {
    /// `embed: Embedding(kinds, embed)`, `tree: ChildSumTreeLSTM(embed, hidden)` and `out:
    /// Linear(hidden, classes)` under `pb`.
    pub fn new(
        kinds: usize,
        embed: usize,
        hidden: usize,
        classes: usize,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        Ok(TreeLstmClassifier {
            embed: Embedding::new(kinds, embed, None, &pb.push("embed"))?,
            tree: ChildSumTreeLSTM::new(embed, hidden, true, &pb.push("tree"))?,
            out: Linear::new(hidden, classes, true, &pb.push("out"))?,
            path: pb.path().to_string(),
        })
    }

    /// Per-node logits `(V, classes)` for node kinds `(V,)` on `forest`.
    pub fn forward(&self, kinds: &Tensor, forest: &Forest) -> Result<Tensor> {
        let x = self
            .embed
            .forward(kinds)
            .map_err(|e| label(e, &join(&self.path, "embed")))?;
        let (h, _) = self.tree.forward(&x, forest)?;
        self.out
            .forward(&h)
            .map_err(|e| label(e, &join(&self.path, "out")))
    }
}

/// One boolean expression tree of [`BoolExpr`].
#[derive(Clone, Debug)]
pub struct ExprTree {
    /// each node's parent (`None` for the root)
    pub parents: Vec<Option<usize>>,
    /// each node's kind: [`BoolExpr::FALSE`], [`BoolExpr::TRUE`], [`BoolExpr::AND`],
    /// [`BoolExpr::OR`] or [`BoolExpr::XOR`]
    pub kinds: Vec<i64>,
    /// each node's value, 0 or 1
    pub values: Vec<i64>,
    /// the root's index
    pub root: usize,
}

/// Random boolean expression trees; see the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub struct BoolExpr {
    /// lowest tree height (3)
    pub min_height: usize,
    /// highest tree height (4)
    pub max_height: usize,
}

impl Default for BoolExpr {
    fn default() -> Self {
        BoolExpr {
            min_height: 3,
            max_height: 4,
        }
    }
}

impl BoolExpr {
    /// The leaf `0`.
    pub const FALSE: i64 = 0;
    /// The leaf `1`.
    pub const TRUE: i64 = 1;
    /// Binary and.
    pub const AND: i64 = 2;
    /// Binary or.
    pub const OR: i64 = 3;
    /// Binary exclusive or.
    pub const XOR: i64 = 4;
    /// The number of node kinds.
    pub const KINDS: usize = 5;

    /// One tree of a random height in `min_height..=max_height`: an operator node has two
    /// children, one of height exactly one less, the other of a random lower height.
    pub fn sample(&self, g: &mut Generator) -> ExprTree {
        let span = (self.max_height.max(self.min_height) - self.min_height + 1) as u64;
        let height = self.min_height + g.next_below(span) as usize;
        let mut t = ExprTree {
            parents: Vec::new(),
            kinds: Vec::new(),
            values: Vec::new(),
            root: 0,
        };
        t.root = Self::grow(&mut t, None, height, g);
        t
    }

    /// Adds a subtree of height `h` under `parent`; returns its root.
    fn grow(t: &mut ExprTree, parent: Option<usize>, h: usize, g: &mut Generator) -> usize {
        let me = t.parents.len();
        t.parents.push(parent);
        t.kinds.push(0);
        t.values.push(0);
        if h == 0 {
            let bit = g.next_below(2) as i64;
            t.kinds[me] = bit;
            t.values[me] = bit;
            return me;
        }
        let op = Self::AND + g.next_below(3) as i64;
        let other = g.next_below(h as u64) as usize;
        let (hl, hr) = if g.next_below(2) == 0 {
            (h - 1, other)
        } else {
            (other, h - 1)
        };
        let a = Self::grow(t, Some(me), hl, g);
        let b = Self::grow(t, Some(me), hr, g);
        let (va, vb) = (t.values[a], t.values[b]);
        t.kinds[me] = op;
        t.values[me] = match op {
            Self::AND => va & vb,
            Self::OR => va | vb,
            _ => va ^ vb,
        };
        me
    }

    /// `n` trees.
    pub fn samples(&self, n: usize, g: &mut Generator) -> Vec<ExprTree> {
        (0..n).map(|_| self.sample(g)).collect()
    }

    /// The trees as one batch: node kinds `(V,)` int64, the forest, every node's value `(V,)`
    /// int64, and the roots' node indices.
    pub fn batch(trees: &[ExprTree]) -> Result<(Tensor, Forest, Tensor, Vec<usize>)> {
        let forests = trees
            .iter()
            .map(|t| Forest::from_parents(&t.parents))
            .collect::<Result<Vec<_>>>()?;
        let (forest, offsets) = Forest::union(&forests);
        let v = forest.num_nodes();
        let kinds = Tensor::from_vec(trees.iter().flat_map(|t| t.kinds.clone()).collect(), [v])?;
        let values = Tensor::from_vec(trees.iter().flat_map(|t| t.values.clone()).collect(), [v])?;
        let roots = trees
            .iter()
            .zip(&offsets)
            .map(|(t, o)| o + t.root)
            .collect();
        Ok((kinds, forest, values, roots))
    }

    /// The best accuracy on `test`'s roots of a rule that sees only the root's operator: the
    /// majority value of each operator's roots in `train`.
    pub fn operator_baseline(train: &[ExprTree], test: &[ExprTree]) -> Result<f64> {
        if test.is_empty() {
            return Err(Error::msg("bool_expr: operator_baseline of no test trees"));
        }
        let mut counts = [[0usize; 2]; BoolExpr::KINDS];
        for t in train {
            counts[t.kinds[t.root] as usize][t.values[t.root] as usize] += 1;
        }
        let right = test
            .iter()
            .filter(|t| {
                let c = counts[t.kinds[t.root] as usize];
                let guess = i64::from(c[1] > c[0]);
                guess == t.values[t.root]
            })
            .count();
        Ok(right as f64 / test.len() as f64)
    }
}
