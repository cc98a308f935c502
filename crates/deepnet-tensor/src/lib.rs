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

/// Sets the number of threads of the global rayon pool used by the kernels. Must be called before
/// any parallel kernel runs; later calls return an error.
pub fn set_num_threads(n: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| Error::msg(format!("set_num_threads({n}): {e}")))
}

/// The number of threads kernels run on.
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `f` with kernels on a pool of `n` threads (for tests and benchmarks that compare thread
/// counts).
pub fn with_num_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Error::msg(format!("with_num_threads({n}): {e}")))?;
    // grad mode is per thread: carry the caller's into the pool
    let grad = is_grad_enabled();
    Ok(pool.install(move || {
        let _g = set_grad_enabled(grad);
        f()
    }))
}
