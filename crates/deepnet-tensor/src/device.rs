//! Devices. The CPU computes with the fast kernels; the reference device holds host memory too
//! but computes every primitive with plain scalar code in f64, as the oracle the fast kernels
//! are tested against. A CUDA device is added as a variant behind a cargo feature without
//! changing the user API.

use std::fmt;

/// Where a tensor's data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory, computed on the kernel threads with our own and the gemm crate's kernels.
    #[default]
    Cpu,
    /// Host memory, computed by the reference backend: plain scalar loops in f64, no threads, no
    /// SIMD. Slow by design; it exists to check the fast backends (`Tensor::to_device`).
    Reference,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Reference => f.write_str("reference"),
        }
    }
}
