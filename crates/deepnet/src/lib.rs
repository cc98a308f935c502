//! deepnet facade
pub use deepnet_tensor as tensor;
