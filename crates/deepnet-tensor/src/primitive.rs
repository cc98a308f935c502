//! The primitive contract between the tensor front end and a device: the few elementwise,
//! reduction and structural operations every device implements. Everything else is composed.

/// Elementwise operations with one tensor operand (scalar parameters are carried in the variant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// natural log
    Log,
    /// `ln(1 + x)`, accurate for small x
    Log1p,
    /// square root
    Sqrt,
    /// `|x|`
    Abs,
    /// -1, 0 or 1
    Sign,
    /// `x * x`
    Square,
    /// `1 / x`
    Recip,
    /// `1 / (1 + e^-x)`, computed without overflow for large |x|
    Sigmoid,
    /// hyperbolic tangent
    Tanh,
    /// `max(x, 0)`
    Relu,
    /// `x` if `x > 0` else `slope * x`
    LeakyRelu(f64),
    /// `ln(1 + e^(beta x)) / beta`, linear above `threshold` (PyTorch's softplus)
    Softplus {
        /// scale of the input
        beta: f64,
        /// above `beta * x > threshold` the function is linear
        threshold: f64,
    },
    /// `x + c`
    AddScalar(f64),
    /// `x * c`
    MulScalar(f64),
    /// `x ^ c`
    PowScalar(f64),
    /// `c ^ x`
    ScalarPow(f64),
    /// `min(max(x, lo), hi)`; either bound may be absent
    Clamp(Option<f64>, Option<f64>),
}

/// Elementwise operations with two operands of the same (broadcast) shape and dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b`
    Pow,
    /// the larger (NaN propagates)
    Maximum,
    /// the smaller (NaN propagates)
    Minimum,
    /// `a` where `b > 0`, else 0: ReLU's backward with `a` the output gradient and `b` the
    /// input (PyTorch's `threshold_backward`: a NaN input passes the gradient), in one pass
    /// instead of a comparison, a cast and a product.
    ReluBackward,
}

/// Elementwise comparisons; the result is a u8 mask of 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Reductions over a set of dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// sum of the elements
    Sum,
    /// the largest element (NaN propagates)
    Max,
    /// the smallest element (NaN propagates)
    Min,
    /// index of the first largest element (as i64)
    ArgMax,
    /// index of the first smallest element (as i64)
    ArgMin,
}

impl UnaryOp {
    /// The op's name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Square => "square",
            UnaryOp::Recip => "reciprocal",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Softplus { .. } => "softplus",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::MulScalar(_) => "mul_scalar",
            UnaryOp::PowScalar(_) => "pow_scalar",
            UnaryOp::ScalarPow(_) => "scalar_pow",
            UnaryOp::Clamp(..) => "clamp",
        }
    }
}

impl BinaryOp {
    /// The op's name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::ReluBackward => "relu_backward",
        }
    }
}

impl CmpOp {
    /// The op's name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }
}

/// The geometry of a 2-d sliding window over an `(N, C, H, W)` input: what convolution, unfold,
/// fold and pooling kernels receive, already validated (positive kernel, stride and dilation;
/// the dilated window fits the padded input). Pooling sees every plane as an image of one
/// channel (`c = 1`, `n` = number of planes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    /// images
    pub n: usize,
    /// channels per image
    pub c: usize,
    /// input height
    pub h: usize,
    /// input width
    pub w: usize,
    /// kernel height
    pub kh: usize,
    /// kernel width
    pub kw: usize,
    /// vertical stride
    pub sh: usize,
    /// horizontal stride
    pub sw: usize,
    /// zero padding above and below
    pub ph: usize,
    /// zero padding left and right
    pub pw: usize,
    /// vertical dilation
    pub dh: usize,
    /// horizontal dilation
    pub dw: usize,
    /// output height
    pub ho: usize,
    /// output width
    pub wo: usize,
}

impl Geom {
    /// Output positions per image and channel.
    pub fn l(&self) -> usize {
        self.ho * self.wo
    }
    /// Rows of the column matrix for `c` channels.
    pub fn k(&self, c: usize) -> usize {
        c * self.kh * self.kw
    }
    /// Elements of one input image.
    pub fn chw(&self) -> usize {
        self.c * self.h * self.w
    }
}

/// A 2-d convolution: the window geometry, the channel groups and the output channels.
/// Operands: input `(N, C, H, W)`, weight `(C_out, C / groups, kH, kW)`, bias `(C_out,)`,
/// output `(N, C_out, H_out, W_out)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// the window over the input
    pub g: Geom,
    /// channel groups (divides `C` and `C_out`)
    pub groups: usize,
    /// output channels
    pub cout: usize,
}
