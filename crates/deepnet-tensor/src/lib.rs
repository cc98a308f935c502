//! # deepnet-tensor
//!
//! Tensors with PyTorch semantics, reverse-mode autograd and multi-threaded CPU kernels.
//!
//! ```
//! use deepnet_tensor::{DType, Tensor};
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3])?.requires_grad_(true)?;
//! let y = x.square()?.sum_all()?;
//! let grads = y.backward()?;
//! assert_eq!(grads.get(&x).unwrap().to_vec::<f32>()?, vec![2.0, 4.0, 6.0]);
//! # Ok::<(), deepnet_tensor::Error>(())
//! ```
//!
//! Shape letters used in doc comments: `N` batch, `C` channels, `H`/`W` height/width, `K` classes
//! or inner dimension, `M`/`N` matrix rows/columns.

#![warn(missing_docs)]
// Tests pass inputs as `&[x.clone()]` slices, which reads better than `slice::from_ref`.
#![cfg_attr(test, allow(clippy::cloned_ref_to_slice_refs))]

pub mod autograd;
mod cpu;
mod creation;
mod device;
mod display;
mod dtype;
mod error;
mod layout;
mod ops;
pub mod primitive;
mod random;
mod shape;
mod storage;
mod tensor;
pub mod testing;
mod threads;

pub use autograd::{
    is_grad_enabled, no_grad, set_grad_enabled, Backward, GradModeGuard, GradStore,
};
pub use cpu::CpuStorage;
pub use device::Device;
pub use dtype::{DType, Element, FloatElement};
pub use error::{Error, Result};
pub use layout::Layout;
pub use random::Generator;
pub use shape::{Dim, Dims, Shape, ShapeSpec};
pub use storage::Storage;
pub use tensor::{Tensor, TensorId};
pub use threads::{
    flush_denormal, num_threads, set_flush_denormal, set_num_threads, with_num_threads,
};
