//! # deepnet
//!
//! Deep networks in Rust: tensors with reverse-mode autograd, the canon's layers, losses and
//! optimizers, a model zoo with PyTorch's parameter names, a general training loop, and the
//! `deepnet` command line. This facade re-exports the sub-crates by name; `use
//! deepnet::prelude::*` brings the names most programs need into scope.
//!
//! ## A tour
//!
//! **Tensors and autograd** ([`tensor`]): PyTorch's broadcasting and names; `backward` returns
//! the gradients of every leaf that requires them.
//!
//! ```
//! use deepnet::prelude::*;
//! # fn main() -> deepnet::tensor::Result<()> {
//! let w = Tensor::from_vec(vec![1.0f32, -2.0, 0.5], [3])?.requires_grad_(true)?;
//! let x = Tensor::from_vec(vec![3.0f32, 1.0, 4.0], [3])?;
//! let loss = w.mul(&x)?.sum_all()?.square()?; // (w . x)^2 = 9
//! let grads = loss.backward()?;
//! assert_eq!(loss.item()?, 9.0);
//! assert_eq!(grads.get(&w).unwrap().to_vec::<f32>()?, vec![18.0, 6.0, 24.0]); // 2 (w.x) x
//! # Ok(())
//! # }
//! ```
//!
//! **Layers and models** ([`nn`], [`models`]): a [`nn::ParamStore`] owns every parameter under
//! its PyTorch `state_dict` name (`features.0.weight`), so weights load by key; layers are built
//! from a [`nn::ParamBuilder`] and run through [`nn::Module::forward`]. The zoo has the canon's
//! networks: MLPs, LeNet-5, AlexNet, ZF Net, VGG, GoogLeNet, ResNet, recurrent classifiers and
//! an encoder-decoder.
//!
//! **Training** ([`train`]): [`train::fit`] trains a classifier in one call and writes a run
//! folder (metrics.csv, plots, checkpoints, model.safetensors, TensorBoard events on request);
//! [`train::run_loop()`] runs any [`train::TrainStep`] (an autoencoder's objective, a GAN's two
//! optimizers) with the same folder, Ctrl-C checkpoints and bit-exact resume.
//!
//! **Data** ([`data`]): MNIST/Fashion-MNIST IDX files, UCR/UEA time series, text corpora for
//! character models, the fine-food reviews; a seeded, prefetching [`data::DataLoader`].
//!
//! **Weights in and out**: safetensors ([`train::load_safetensors`]) and PyTorch checkpoints
//! read without running code ([`train::load_torch_checkpoint`]).
//!
//! ## Examples
//!
//! In the canon's order, each runnable with `cargo run --release -p deepnet --example NAME`:
//! `mlp_mnist` (the training loop written out), `custom_cnn` (your own module with `fit`),
//! `fine_tune` (a frozen backbone and a new head), `rnn_time_gradients` (vanishing gradients
//! through time, Elman RNN against LSTM), `seq2seq` (a GRU encoder-decoder).

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
