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
//! ## Devices
//!
//! A tensor lives on a [`Device`]: `Cpu` (the fast kernels: threads, SIMD, packed GEMM) or
//! `Reference` (every primitive in plain scalar f64 code: the oracle the fast kernels are tested
//! against). Constructors put tensors on the CPU unless given a device (`Tensor::zeros_on`,
//! `Tensor::from_vec_on`); `Tensor::to_device` moves one (differentiably); ops refuse operands on
//! different devices. Every op runs on every device: the front end never touches element data,
//! only the device contract does ([`backend`] lists what a new device implements).
//!
//! ```
//! use deepnet_tensor::{Device, Tensor};
//! let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0], [3])?;
//! let r = x.to_device(Device::Reference)?;
//! assert_eq!(r.relu()?.to_vec::<f32>()?, x.relu()?.to_vec::<f32>()?);
//! # Ok::<(), deepnet_tensor::Error>(())
//! ```
//!
//! Shape letters used in doc comments: `N` batch, `C` channels, `H`/`W` height/width, `K` classes
//! or inner dimension, `M`/`N` matrix rows/columns.

#![warn(missing_docs)]
// Tests pass inputs as `&[x.clone()]` slices, which reads better than `slice::from_ref`.
#![cfg_attr(test, allow(clippy::cloned_ref_to_slice_refs))]

pub mod autograd;
pub mod backend;
mod cpu;
mod creation;
mod device;
mod display;
mod dtype;
mod error;
mod host;
mod layout;
mod ops;
pub mod primitive;
mod random;
mod reference;
mod shape;
mod storage;
mod tensor;
pub mod testing;
mod threads;
mod threads_adapt;

pub use autograd::{
    is_grad_enabled, no_grad, set_grad_enabled, Backward, GradModeGuard, GradStore,
};
pub use cpu::isa::isa_name as cpu_isa;
pub use device::Device;
pub use dtype::{DType, Element, FloatElement};
pub use error::{Error, Result};
pub use host::HostData;
pub use layout::Layout;
pub use random::Generator;
pub use reference::RefStorage;
pub use shape::{Dim, Dims, Shape, ShapeSpec};
pub use storage::Storage;
pub use tensor::{Tensor, TensorId};
pub use threads::{
    flush_denormal, num_threads, set_flush_denormal, set_num_threads, with_num_threads,
};
