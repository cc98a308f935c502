//! # deepnet-models
//!
//! The model zoo. Each model is a config, a constructor taking a `ParamBuilder`, and a
//! `Module::forward`; `state_dict` keys equal the PyTorch reference implementation's.

#![warn(missing_docs)]

pub mod mlp;

pub use mlp::{Activation, Mlp, MlpConfig, WeightInit};
