//! Element data in host memory: what host copies produce (`Tensor::to_vec`, moving a tensor to
//! another device) and what constructors hand to a device (`Tensor::from_vec`). Every backend
//! converts from and to it; the CPU backend keeps its data in exactly this form, so for it both
//! directions are a move or a plain copy.

use crate::DType;

/// A vector of elements of one dtype, in host memory, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// f32 elements.
    F32(Vec<f32>),
    /// f64 elements.
    F64(Vec<f64>),
    /// i64 elements.
    I64(Vec<i64>),
    /// u8 elements.
    U8(Vec<u8>),
}

/// Runs `$body` with `$v` bound to the data's vector, whatever its dtype.
macro_rules! with_host {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            $crate::HostData::F32($v) => $body,
            $crate::HostData::F64($v) => $body,
            $crate::HostData::I64($v) => $body,
            $crate::HostData::U8($v) => $body,
        }
    };
}

impl HostData {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F32(_) => DType::F32,
            HostData::F64(_) => DType::F64,
            HostData::I64(_) => DType::I64,
            HostData::U8(_) => DType::U8,
        }
    }

    /// Number of elements held.
    pub fn len(&self) -> usize {
        with_host!(self, v => v.len())
    }

    /// Whether no element is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` copies of `v` (converted from f64 as `as` does).
    pub fn full(dtype: DType, n: usize, v: f64) -> HostData {
        match dtype {
            DType::F32 => HostData::F32(vec![v as f32; n]),
            DType::F64 => HostData::F64(vec![v; n]),
            DType::I64 => HostData::I64(vec![v as i64; n]),
            DType::U8 => HostData::U8(vec![v as u8; n]),
        }
    }

    /// The elements converted to f64 (exact for f32, f64, u8; i64 up to 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        use crate::Element;
        with_host!(self, v => v.iter().map(|x| x.to_f64()).collect())
    }
}
