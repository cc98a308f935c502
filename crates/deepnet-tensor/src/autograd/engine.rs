//! The backward pass. Tensor ids grow monotonically and every op's output is created after its
//! inputs, so visiting the reachable nodes by decreasing id is a topological order. Collection uses
//! an explicit stack: no recursion, however deep the graph.

use crate::{no_grad, Error, Result, Tensor, TensorId};
use std::collections::{HashMap, HashSet};

/// Gradients returned by `backward()`, keyed by tensor: one for every leaf tensor that requires
/// a gradient and was reached.
#[derive(Default, Clone)]
pub struct GradStore {
    map: HashMap<TensorId, Tensor>,
}

impl GradStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// The gradient of `t`, if it was computed.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.map.get(&t.id())
    }
    /// Takes the gradient of `t` out of the store.
    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.map.remove(&t.id())
    }
    /// Sets the gradient of `t` (gradient clipping replaces gradients this way).
    pub fn insert(&mut self, t: &Tensor, grad: Tensor) {
        self.map.insert(t.id(), grad);
    }
    /// Number of gradients held.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether no gradient is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Adds another store's gradients into this one (micro-batching).
    pub fn accumulate(&mut self, other: GradStore) -> Result<()> {
        let _g = no_grad();
        for (id, g) in other.map {
            let v = match self.map.remove(&id) {
                Some(prev) => prev.add(&g)?,
                None => g,
            };
            self.map.insert(id, v);
        }
        Ok(())
    }
    /// Iterates over (tensor id, gradient).
    pub fn iter(&self) -> impl Iterator<Item = (&TensorId, &Tensor)> {
        self.map.iter()
    }
}

impl Tensor {
    /// Back-propagates from this scalar (PyTorch `loss.backward()`), returning the gradient of
    /// every leaf tensor that requires one.
    pub fn backward(&self) -> Result<GradStore> {
        if self.numel() != 1 {
            return Err(Error::NonScalarBackward {
                shape: self.shape().clone(),
            });
        }
        let g = self.ones_like()?;
        self.backward_with(&g)
    }

    /// Back-propagates with an explicit gradient of this tensor (same shape).
    pub fn backward_with(&self, grad: &Tensor) -> Result<GradStore> {
        if !self.tracks_grad() {
            return Err(Error::NoGraph);
        }
        if grad.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "backward",
                expected: self.shape().clone(),
                got: grad.shape().clone(),
            });
        }
        let _g = no_grad();
        // Every non-leaf tensor reachable from the root through tensors that track gradients.
        let mut order: Vec<Tensor> = Vec::new();
        let mut seen: HashSet<TensorId> = HashSet::new();
        let mut stack = vec![self.clone()];
        while let Some(t) = stack.pop() {
            if !seen.insert(t.id()) {
                continue;
            }
            if let Some(node) = t.node() {
                stack.extend(node.inputs.iter().filter(|i| i.tracks_grad()).cloned());
                order.push(t);
            }
        }
        order.sort_unstable_by_key(|t| std::cmp::Reverse(t.id()));

        let mut grads: HashMap<TensorId, Tensor> = HashMap::new();
        grads.insert(self.id(), grad.to_dtype(self.dtype())?.detach());
        for t in &order {
            let Some(g) = grads.remove(&t.id()) else {
                continue;
            };
            let node = t.node().expect("ordered tensors have nodes");
            let gs = node.op.backward(&node.inputs, t, &g)?;
            for (i, (input, gi)) in node.inputs.iter().zip(gs).enumerate() {
                let Some(gi) = gi else { continue };
                if !input.tracks_grad() {
                    continue;
                }
                if gi.shape() != input.shape() {
                    return Err(Error::GradShape {
                        op: node.op.name(),
                        input: i,
                        expected: input.shape().clone(),
                        got: gi.shape().clone(),
                    });
                }
                let acc = match grads.remove(&input.id()) {
                    Some(prev) => prev.add(&gi)?,
                    None => gi,
                };
                grads.insert(input.id(), acc);
            }
        }
        // What is left are the gradients of leaves (tensors without a node).
        let mut map = HashMap::new();
        let mut leaves = vec![self.clone()];
        for t in &order {
            leaves.extend(t.node().unwrap().inputs.iter().cloned());
        }
        for l in leaves {
            if l.node().is_none() && l.requires_grad() {
                if let Some(g) = grads.remove(&l.id()) {
                    map.insert(l.id(), g);
                }
            }
        }
        Ok(GradStore { map })
    }
}
