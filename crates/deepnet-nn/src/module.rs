//! The `Module` trait: a layer or a model maps a tensor to a tensor.

use deepnet_tensor::{Result, Tensor};

/// A layer or model. Parameters live in a [`crate::ParamStore`]; a module holds handles to them
/// (the same tensors), so an optimizer updating the store updates the module.
pub trait Module: Send + Sync {
    /// The forward pass.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Switches between training (true) and evaluation (false) behaviour, as PyTorch's
    /// `train()`/`eval()`. Only layers that behave differently (dropout, batch norm) and
    /// containers need to override it.
    fn set_training(&self, _training: bool) {}

    /// A one-line description for summaries, e.g. `Linear(in_features=784, out_features=256)`.
    fn describe(&self) -> String {
        std::any::type_name::<Self>()
            .rsplit("::")
            .next()
            .unwrap_or("Module")
            .to_string()
    }

    /// The direct sub-modules with their names, for summaries (empty for leaf layers).
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }
}
