//! Reverse-mode automatic differentiation, define-by-run: every op that has an input requiring a
//! gradient (while grad mode is on) records a [`Node`] on its output with the op's [`Backward`]
//! and its inputs. `loss.backward()` walks the graph and returns a [`GradStore`].

mod engine;

pub use engine::GradStore;

use crate::{Result, Tensor};
use std::cell::Cell;

/// The gradient of one op, defined next to the op and written in tensor ops.
///
/// `inputs` are the op's inputs, `output` the tensor it produced, `grad` the gradient of the
/// final result with respect to `output` (same shape). Return one entry per input: its gradient
/// (with the input's shape) or `None` when the input is not differentiable. Implementations must
/// not keep tensors that carry a graph (store plain values or detached tensors), so that dropping
/// a graph never recurses.
pub trait Backward: Send + Sync {
    /// The op's name, shown as `grad_fn`.
    fn name(&self) -> &'static str;
    /// The gradients of the inputs.
    fn backward(
        &self,
        inputs: &[Tensor],
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>>;
}

/// The record an op leaves on its output: how to differentiate it, and what it was applied to.
pub struct Node {
    pub(crate) op: Box<dyn Backward>,
    pub(crate) inputs: Vec<Tensor>,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread currently record the graph.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Restores the previous grad mode when dropped.
#[must_use = "grad mode is restored when the guard is dropped"]
pub struct GradModeGuard {
    prev: bool,
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// Disables graph recording on this thread until the returned guard is dropped
/// (PyTorch's `torch.no_grad()`).
pub fn no_grad() -> GradModeGuard {
    set_grad_enabled(false)
}

/// Sets grad mode on this thread until the returned guard is dropped.
pub fn set_grad_enabled(on: bool) -> GradModeGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(on));
    GradModeGuard { prev }
}
