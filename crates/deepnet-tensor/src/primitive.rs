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
///
/// `ho`/`wo` are the window formula's `(H + 2p - d (k - 1) - 1) / s + 1` except in one case:
/// the adjoint convolution of a transposed convolution whose `output_padding` is at least its
/// stride (allowed when the dilation is larger) has fewer outputs than fit, and a kernel must
/// then compute only the first `ho x wo` windows. That needs a dilation of 2 or more.
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

/// The geometry of a 2-d resize of `n` planes `(H, W)` -> `(H_out, W_out)`, as PyTorch's
/// `upsample_nearest2d` and `upsample_bilinear2d` receive it, validated by the front end (every
/// size but `n` at least 1). The coordinate maps are here, once, so that every device reads the
/// same input positions:
///
/// - nearest: output row `i` reads input row `floor(i * scale)`, computed in f32 as PyTorch
///   does (capped at `H - 1`; exact when `H_out` is `H` or `2 H`);
/// - bilinear: output row `i` sits at input coordinate `i * (H - 1) / (H_out - 1)` with
///   `align_corners`, else `max(scale * (i + 0.5) - 0.5, 0)`, and blends the two rows around
///   it ([`Resize::linear_row`]).
///
/// `scale` is `1 / scale_factor` where the caller gave a scale factor (PyTorch passes it down
/// rather than recomputing it from the rounded output size), `H / H_out` otherwise; columns
/// likewise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resize {
    /// planes (`N * C`)
    pub n: usize,
    /// input height
    pub h: usize,
    /// input width
    pub w: usize,
    /// output height
    pub ho: usize,
    /// output width
    pub wo: usize,
    /// the vertical scale factor the caller gave, if any
    pub scale_h: Option<f64>,
    /// the horizontal scale factor the caller gave, if any
    pub scale_w: Option<f64>,
    /// bilinear only: input and output corner pixels are aligned (their centres coincide)
    pub align_corners: bool,
}

/// One output position of a linear resize along an axis: the two input positions it blends
/// and the weight of the second, `out = (1 - lambda) in[i0] + lambda in[i1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearTap {
    /// the input position at or below the source coordinate
    pub i0: usize,
    /// the next input position (`i0` itself at the last one)
    pub i1: usize,
    /// the weight of `i1`, in `[0, 1]`
    pub lambda: f64,
}

impl Resize {
    /// Output positions per plane.
    pub fn out_len(&self) -> usize {
        self.ho * self.wo
    }
    /// Input positions per plane.
    pub fn in_len(&self) -> usize {
        self.h * self.w
    }
    /// The input row that nearest-neighbour output row `oh` copies.
    pub fn nearest_row(&self, oh: usize) -> usize {
        nearest_src(oh, self.h, self.ho, self.scale_h)
    }
    /// The input column that nearest-neighbour output column `ow` copies.
    pub fn nearest_col(&self, ow: usize) -> usize {
        nearest_src(ow, self.w, self.wo, self.scale_w)
    }
    /// The input rows that bilinear output row `oh` blends.
    pub fn linear_row(&self, oh: usize) -> LinearTap {
        linear_src(oh, self.h, self.ho, self.scale_h, self.align_corners)
    }
    /// The input columns that bilinear output column `ow` blends.
    pub fn linear_col(&self, ow: usize) -> LinearTap {
        linear_src(ow, self.w, self.wo, self.scale_w, self.align_corners)
    }
}

/// PyTorch's `nearest_idx`: the source of output `dst` along an axis of `input` -> `output`
/// elements, in f32 arithmetic as PyTorch computes it.
fn nearest_src(dst: usize, input: usize, output: usize, scale: Option<f64>) -> usize {
    if output == input {
        return dst;
    }
    if output == 2 * input {
        return dst / 2;
    }
    let s = match scale {
        Some(f) if f > 0.0 => (1.0 / f) as f32,
        _ => input as f32 / output as f32,
    };
    (((dst as f32) * s).floor() as usize).min(input - 1)
}

/// PyTorch's linear source index (`area_pixel_compute_source_index` and the CPU kernel's
/// neighbour and weight rule), in f64.
fn linear_src(
    dst: usize,
    input: usize,
    output: usize,
    scale: Option<f64>,
    align_corners: bool,
) -> LinearTap {
    let real = if align_corners {
        let s = if output > 1 {
            (input - 1) as f64 / (output - 1) as f64
        } else {
            0.0
        };
        s * dst as f64
    } else {
        let s = match scale {
            Some(f) if f > 0.0 => 1.0 / f,
            _ => input as f64 / output as f64,
        };
        (s * (dst as f64 + 0.5) - 0.5).max(0.0)
    };
    // `real >= 0`, so the cast floors; the cap only guards rounding at the far edge
    let i0 = (real as usize).min(input - 1);
    let i1 = if i0 + 1 < input { i0 + 1 } else { i0 };
    LinearTap {
        i0,
        i1,
        lambda: (real - i0 as f64).clamp(0.0, 1.0),
    }
}
