//! Element types. f32 is the default compute type, f64 serves gradient checks and precision work,
//! i64 holds indices and labels, u8 holds masks (0 or 1) and raw bytes.

use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float (the default).
    F32,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer: indices, labels.
    I64,
    /// 8-bit unsigned integer: masks produced by comparisons (0 or 1), and raw bytes.
    U8,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::U8 => 1,
        }
    }

    /// Whether the dtype is a floating-point type (differentiable).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// The PyTorch-style name (`float32`, `int64`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::U8 => "uint8",
        }
    }

    /// The dtype two operands are computed in (PyTorch promotion: float beats integer,
    /// wider float beats narrower).
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        match (a, b) {
            (x, y) if x == y => x,
            (F64, _) | (_, F64) => F64,
            (F32, _) | (_, F32) => F32,
            (I64, _) | (_, I64) => I64,
            _ => U8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Rust type that can be a tensor element.
pub trait Element:
    Copy + Send + Sync + 'static + PartialOrd + PartialEq + fmt::Debug + fmt::Display + Default
{
    /// The matching [`DType`].
    const DTYPE: DType;
    /// Converts to f64 (exact for f32, f64, u8; for i64 exact up to 2^53).
    fn to_f64(self) -> f64;
    /// Converts from f64 (rounding toward zero and saturating for integers, as `as` does).
    fn from_f64(v: f64) -> Self;
    /// Borrows the matching vector out of host data, if the dtype agrees.
    fn slice(s: &crate::HostData) -> Option<&[Self]>;
    /// Mutably borrows the matching vector out of host data, if the dtype agrees.
    fn slice_mut(s: &mut crate::HostData) -> Option<&mut [Self]>;
    /// Takes the matching vector out of host data, if the dtype agrees.
    fn from_host(s: crate::HostData) -> Option<Vec<Self>>;
    /// Wraps a vector into host data.
    fn into_host(v: Vec<Self>) -> crate::HostData;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn slice(s: &crate::HostData) -> Option<&[Self]> {
                match s {
                    crate::HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(s: &mut crate::HostData) -> Option<&mut [Self]> {
                match s {
                    crate::HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn from_host(s: crate::HostData) -> Option<Vec<Self>> {
                match s {
                    crate::HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn into_host(v: Vec<Self>) -> crate::HostData {
                crate::HostData::$variant(v)
            }
        }
    };
}
element!(f32, F32);
element!(f64, F64);
element!(i64, I64);
element!(u8, U8);

/// Element types with floating-point math (f32 and f64).
pub trait FloatElement: Element + num_traits::Float + std::iter::Sum + std::ops::AddAssign {}
impl FloatElement for f32 {}
impl FloatElement for f64 {}
