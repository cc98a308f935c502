//! # deepnet-nn
//!
//! Modules, parameters (`ParamStore` = PyTorch `state_dict`), initialization, layers, losses,
//! regularizers and optimizers.

#![warn(missing_docs)]

pub mod functional;
pub mod init;
pub mod layers;
pub mod loss;
mod module;
pub mod onnx;
pub mod optim;
mod params;
pub mod regularize;

pub use init::{FanMode, Init, Nonlinearity};
pub use loss::Reduction;
pub use module::{record_output, trace_layers, LayerRecord, Module};
pub use params::{Kind, ParamBuilder, ParamStore};
