//! # deepnet-nn
//!
//! Modules, parameters (`ParamStore` = PyTorch `state_dict`), initialization, layers, losses,
//! regularizers and optimizers.

#![warn(missing_docs)]

pub mod init;
mod module;
mod params;

pub use init::{FanMode, Init, Nonlinearity};
pub use module::Module;
pub use params::{Kind, ParamBuilder, ParamStore};
