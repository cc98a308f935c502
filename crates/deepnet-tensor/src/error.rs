//! Errors are values: every fallible public function returns [`Result`], and each message names the
//! op, the shapes involved and the offending dimension.

use crate::{DType, Device, Shape};

/// Everything that can go wrong in a tensor operation. Field names say what they hold.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two shapes that cannot be broadcast together (PyTorch rules, aligned from the right).
    #[error("{op}: shapes {lhs} and {rhs} cannot broadcast (dim {dim}: {l} vs {r})")]
    Broadcast {
        op: &'static str,
        lhs: Shape,
        rhs: Shape,
        dim: usize,
        l: usize,
        r: usize,
    },
    /// `a @ b` with `a.shape[-1] != b.shape[-2]`.
    #[error("matmul: inner dimensions differ, {lhs} @ {rhs} ({k_lhs} != {k_rhs})")]
    MatmulInner {
        lhs: Shape,
        rhs: Shape,
        k_lhs: usize,
        k_rhs: usize,
    },
    /// Two shapes that had to be equal (or agree on a dimension) but do not.
    #[error("{op}: shape mismatch, expected {expected}, got {got}")]
    ShapeMismatch {
        op: &'static str,
        expected: Shape,
        got: Shape,
    },
    /// Operands of one op on different devices (move one with `Tensor::to_device`).
    #[error("{op}: operands are on different devices ({a} and {b}); move one with to_device")]
    Device {
        op: &'static str,
        a: Device,
        b: Device,
    },
    /// A data buffer whose length does not match the requested shape.
    #[error("{op}: shape {shape} holds {expected} elements but {got} were given")]
    ElementCount {
        op: &'static str,
        shape: Shape,
        expected: usize,
        got: usize,
    },
    /// A dimension index outside `-rank..rank`.
    #[error("{op}: dimension {dim} is out of range for a tensor of rank {rank} (shape {shape})")]
    DimOutOfRange {
        op: &'static str,
        dim: isize,
        rank: usize,
        shape: Shape,
    },
    /// The same dimension given twice to an op that needs distinct dimensions.
    #[error("{op}: dimension {dim} appears more than once")]
    DuplicateDim { op: &'static str, dim: usize },
    /// A tensor of the wrong rank.
    #[error("{op}: expected {expected}, got shape {got}")]
    Rank {
        op: &'static str,
        expected: String,
        got: Shape,
    },
    /// An op called on a dtype it does not support.
    #[error("{op}: unsupported dtype {got} (expected {expected})")]
    DType {
        op: &'static str,
        expected: &'static str,
        got: DType,
    },
    /// A reshape whose element counts differ or whose `-1` cannot be inferred.
    #[error("reshape: cannot view shape {from} ({from_n} elements) as {to}")]
    Reshape {
        from: Shape,
        from_n: usize,
        to: String,
    },
    /// A range (narrow, slice, chunk) that does not fit the dimension.
    #[error("{op}: range start {start} length {len} does not fit dim {dim} of size {size}")]
    Range {
        op: &'static str,
        dim: usize,
        start: usize,
        len: usize,
        size: usize,
    },
    /// An index value outside the indexed dimension.
    #[error("{op}: index {index} is out of range for dim {dim} of size {size}")]
    IndexOutOfRange {
        op: &'static str,
        index: i64,
        dim: usize,
        size: usize,
    },
    /// A bad scalar argument (a negative size, zero chunks, a non-finite bound, ...).
    #[error("{op}: {msg}")]
    InvalidArgument { op: &'static str, msg: String },
    /// `backward()` without an explicit gradient on a non-scalar output.
    #[error("backward: grad can be implicitly created only for scalar outputs, got shape {shape}; use backward_with(grad)")]
    NonScalarBackward { shape: Shape },
    /// `backward()` on a tensor that is not connected to anything requiring a gradient.
    #[error("backward: the tensor does not require grad and has no grad_fn")]
    NoGraph,
    /// An op's backward produced a gradient of the wrong shape (an internal bug, reported not panicked).
    #[error("backward of {op}: gradient for input {input} has shape {got}, expected {expected}")]
    GradShape {
        op: &'static str,
        input: usize,
        expected: Shape,
        got: Shape,
    },
    /// A finite-difference check that disagrees with autograd.
    #[error("gradcheck `{op}` input {input} element {index}: numeric {numeric:.6e} vs autograd {analytic:.6e}")]
    GradCheck {
        op: String,
        input: usize,
        index: usize,
        numeric: f64,
        analytic: f64,
    },
    /// An error raised inside a module, labelled with its dotted path.
    #[error("in module \"{path}\": {source}")]
    InModule { path: String, source: Box<Error> },
    /// Anything else, with its own message.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// A free-form error message.
    pub fn msg(m: impl Into<String>) -> Self {
        Error::Msg(m.into())
    }

    /// Wraps an error with the dotted path of the module it happened in.
    pub fn in_module(self, path: impl Into<String>) -> Self {
        Error::InModule {
            path: path.into(),
            source: Box::new(self),
        }
    }

    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            msg: msg.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
