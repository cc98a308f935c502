//! `Storage` is the only enum that names devices: each primitive is matched here, once, and
//! forwarded to the device's kernels. A CUDA backend adds a variant behind a cargo feature.

use crate::cpu::{self, CpuStorage};
use crate::primitive::{BinaryOp, CmpOp, ReduceOp, UnaryOp};
use crate::{DType, Device, Layout, Result};

/// The data behind one or more tensor views.
#[derive(Clone, Debug)]
pub enum Storage {
    /// Host memory.
    Cpu(CpuStorage),
}

impl Storage {
    /// The device holding the data.
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
        }
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
        }
    }
    /// The CPU data (a device-to-host copy for other devices, later).
    pub fn as_cpu(&self) -> &CpuStorage {
        match self {
            Storage::Cpu(s) => s,
        }
    }
    pub(crate) fn unary(&self, l: &Layout, op: UnaryOp) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(cpu::elementwise::unary(s, l, op)?)),
        }
    }
    pub(crate) fn binary(
        &self,
        l: &Layout,
        rhs: &Storage,
        rl: &Layout,
        op: BinaryOp,
    ) -> Result<Storage> {
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => {
                Ok(Storage::Cpu(cpu::elementwise::binary(a, l, b, rl, op)?))
            }
        }
    }
    pub(crate) fn cmp(&self, l: &Layout, rhs: &Storage, rl: &Layout, op: CmpOp) -> Result<Storage> {
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => {
                Ok(Storage::Cpu(cpu::elementwise::cmp(a, l, b, rl, op)?))
            }
        }
    }
    pub(crate) fn where_cond(
        &self,
        l: &Layout,
        t: (&Storage, &Layout),
        f: (&Storage, &Layout),
    ) -> Result<Storage> {
        match (self, t.0, f.0) {
            (Storage::Cpu(m), Storage::Cpu(ts), Storage::Cpu(fs)) => Ok(Storage::Cpu(
                cpu::elementwise::where_cond((m, l), (ts, t.1), (fs, f.1))?,
            )),
        }
    }
    pub(crate) fn reduce(&self, l: &Layout, op: ReduceOp, dims: &[usize]) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(cpu::reduce::reduce(s, l, op, dims)?)),
        }
    }
    pub(crate) fn matmul(&self, l: &Layout, rhs: &Storage, rl: &Layout) -> Result<Storage> {
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => {
                Ok(Storage::Cpu(cpu::matmul::matmul(a, l, b, rl)?))
            }
        }
    }
    pub(crate) fn contiguous(&self, l: &Layout) -> Storage {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.contiguous(l)),
        }
    }
    pub(crate) fn cast(&self, l: &Layout, to: DType) -> Storage {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.cast(l, to)),
        }
    }
    /// Copies `src` seen through `sl` into `self` seen through `dl` (same shape, same dtype).
    pub(crate) fn copy_from(&mut self, dl: &Layout, src: &Storage, sl: &Layout) -> Result<()> {
        match (self, src) {
            (Storage::Cpu(d), Storage::Cpu(s)) => match (d, s) {
                (CpuStorage::F32(d), CpuStorage::F32(s)) => cpu::copy_into(s, sl, d, dl),
                (CpuStorage::F64(d), CpuStorage::F64(s)) => cpu::copy_into(s, sl, d, dl),
                (CpuStorage::I64(d), CpuStorage::I64(s)) => cpu::copy_into(s, sl, d, dl),
                (CpuStorage::U8(d), CpuStorage::U8(s)) => cpu::copy_into(s, sl, d, dl),
                (d, s) => {
                    return Err(crate::Error::msg(format!(
                        "copy: destination is {} but source is {}",
                        d.dtype(),
                        s.dtype()
                    )))
                }
            },
        }
        Ok(())
    }
}
