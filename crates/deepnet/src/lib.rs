//! # deepnet
//!
//! The facade crate: `use deepnet::prelude::*` brings the tensor, the layers, the losses and the
//! optimizers into scope; the sub-crates are re-exported by name.

pub use deepnet_data as data;
pub use deepnet_models as models;
pub use deepnet_nn as nn;
pub use deepnet_tensor as tensor;
pub use deepnet_train as train;

/// The names most programs need.
pub mod prelude {
    pub use deepnet_nn::loss::Reduction;
    pub use deepnet_nn::optim::Optimizer;
    pub use deepnet_nn::{Init, Module, ParamBuilder, ParamStore};
    pub use deepnet_tensor::{no_grad, DType, Device, Error, Generator, GradStore, Result, Tensor};
}
