//! The schema of the differential table: a row and its builder, input kinds, tolerances,
//! layout variants, known disagreements; and the seeded generator.

use deepnet_tensor::DType::{self, F32, F64, I64, U8};
use deepnet_tensor::{Result, Tensor};

/// splitmix64: a tiny deterministic generator, so that every run sees the same inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// FNV-1a, to derive a row's seed from its name.
pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What values an input holds.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// standard normal floats (i64: three times that, rounded; u8: 0..10)
    Normal,
    /// floats in [0.5, 2.5): the domain of log, sqrt, fractional powers, divisors
    Positive,
    /// a permutation of evenly spaced values: no ties (max pooling, argmax, max)
    Distinct,
    /// values from {-1, -0.5, 0, 0.5, 1}: many ties (comparisons, first-index rules)
    Few,
    /// normal floats with NaN, +-inf and +-0 mixed in (NaN propagation, signed zeros)
    Special,
    /// [-300, 300) with fractions: float-to-integer casts truncate and saturate
    Wide,
    /// i64 indices in `0..size` of dim `dim` of input `input` in the case
    IndexOf { input: usize, dim: usize },
    /// i64 values in `lo..hi` (error rows: out of range on purpose)
    Range(i64, i64),
    /// a u8 mask of 0 and 1
    Mask,
}

/// The dtype of an input: the row's dtype (each of `Row::dtypes` in turn) or a fixed one.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Main,
    Fixed(DType),
}

/// One input of a row.
#[derive(Clone, Copy, Debug)]
pub struct In {
    pub ty: Ty,
    pub kind: Kind,
    /// whether the broadcast layout variant may be used for it (an expanded size-1 dim)
    pub bcast: bool,
}

const fn main(kind: Kind) -> In {
    In {
        ty: Ty::Main,
        kind,
        bcast: true,
    }
}
pub const X: In = main(Kind::Normal);
pub const POS: In = main(Kind::Positive);
/// Never broadcast: an expanded dim repeats values, and these inputs exist to have no ties
/// (the `FEW` rows test ties).
pub const DISTINCT: In = In {
    bcast: false,
    ..main(Kind::Distinct)
};
pub const FEW: In = main(Kind::Few);
pub const SPECIAL: In = main(Kind::Special);
pub const WIDE: In = main(Kind::Wide);
pub const MASK: In = fixed(DType::U8, Kind::Mask);
pub const fn fixed(dtype: DType, kind: Kind) -> In {
    In {
        ty: Ty::Fixed(dtype),
        kind,
        bcast: true,
    }
}
/// An i64 index into dim `dim` of input `input`.
pub const fn idx(input: usize, dim: usize) -> In {
    fixed(DType::I64, Kind::IndexOf { input, dim })
}
/// i64 values in `lo..hi`.
pub const fn range(lo: i64, hi: i64) -> In {
    fixed(DType::I64, Kind::Range(lo, hi))
}

/// How closely the two devices must agree. `Close` is in units of the dtype's machine epsilon
/// (`f32::EPSILON` or `f64::EPSILON`): `|a - b| <= eps * (abs + rel * max(|a|, |b|))`, so one
/// constant states the f32 and the (much tighter) f64 tolerance at once. Inputs are O(1), so
/// `abs` is in units of eps at that scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tol {
    /// Bitwise equal (NaN equals NaN): ops that do not round.
    Exact,
    Close {
        rel: f64,
        abs: f64,
    },
}

impl Tol {
    /// The looser of two tolerances, componentwise.
    pub fn max(self, o: Tol) -> Tol {
        match (self, o) {
            (Tol::Exact, t) | (t, Tol::Exact) => t,
            (Tol::Close { rel: r1, abs: a1 }, Tol::Close { rel: r2, abs: a2 }) => Tol::Close {
                rel: r1.max(r2),
                abs: a1.max(a2),
            },
        }
    }
}

/// Elementwise math through libm or the vectorized exp. f32: the CPU evaluates in f32 (exp
/// within 2 ulp; sigmoid, softplus and pow add the roundings of their f32 arithmetic, integer
/// powers go through `powi`) against the reference's f64 result rounded once. f64: the same libm
/// functions on both, apart from a formula evaluated another way (`powi` against `powf`).
pub const TRANSC: Tol = Tol::Close { rel: 8.0, abs: 4.0 };
/// Sums of up to ~1000 O(1) terms: reductions, matmul, conv, average pooling, the gradients of
/// broadcasting (`sum_to`) and of indexing (`scatter_add`), and what is built on sums (softmax,
/// log_softmax, logsumexp, var, std, norm, whose extra steps add little). The CPU sums f32 in
/// 64 lanes and blocks, or in the order of its GEMM and conv tiles, the reference in f64 in
/// row-major order and rounds once; for f64 both sum in f64 and only the order differs. The
/// error grows with the terms (about sqrt(n) eps times the partial sums, n eps sum|x| at
/// worst), hence the large absolute part: the ~760-term weight gradients of the large conv rows
/// use about a quarter of it, everything else less (`--nocapture` lists the closest rows).
pub const SUM: Tol = Tol::Close {
    rel: 256.0,
    abs: 2048.0,
};
/// `a * x + b * y` (`axpby_`): two products and a sum rounded in f32 on the CPU, one rounding on
/// the reference.
pub const AXPBY: Tol = Tol::Close { rel: 4.0, abs: 4.0 };

/// The layout an input is built with. Every variant holds the same logical values on both
/// devices, and is built on each device from the same host buffer with the same view ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// fresh row-major storage
    Contig,
    /// rank >= 2: storage with the last two dims swapped, transposed back
    Transposed,
    /// a larger 1-d buffer, narrowed and reshaped: contiguous at a non-zero offset
    Offset,
    /// a step-2 slice of a buffer twice as large along the last dim
    Strided,
    /// a size-1 dim expanded to the case's size (stride 0)
    Broadcast,
    /// input `i` gets `MIXED[i % 4]`: operands with different layouts in one op
    Mixed,
}
pub const VARIANTS: [Variant; 6] = [
    Variant::Contig,
    Variant::Transposed,
    Variant::Offset,
    Variant::Strided,
    Variant::Broadcast,
    Variant::Mixed,
];
pub const MIXED: [Variant; 4] = [
    Variant::Transposed,
    Variant::Strided,
    Variant::Offset,
    Variant::Broadcast,
];

/// What a known disagreement covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Forward,
    Grad,
}

/// A known CPU/reference disagreement (a library bug reported, not yet fixed): failures of
/// `part` matching every `Some` field are tolerated. An entry that no longer matches anything is
/// itself a failure, so the skip is removed once the bug is fixed.
#[derive(Clone, Copy, Debug)]
pub struct Known {
    pub dtype: Option<DType>,
    pub case: Option<usize>,
    pub variant: Option<Variant>,
    pub part: Part,
    pub why: &'static str,
}

/// The op under test: one output, or several (all compared).
#[derive(Clone, Copy)]
pub enum Op {
    One(fn(&[Tensor]) -> Result<Tensor>),
    Many(fn(&[Tensor]) -> Result<Vec<Tensor>>),
}

/// One set of input shapes; `err` cases must fail on both devices.
pub struct Case {
    pub shapes: Vec<Vec<usize>>,
    pub err: bool,
}

/// One row of the table: an op, its inputs, its shape cases, its tolerance.
pub struct Row {
    /// the `Tensor` method (or associated function) under test: the coverage key
    pub name: &'static str,
    /// tells apart several rows of one op (parameters, value kinds)
    pub note: &'static str,
    /// the row runs once per dtype; `Ty::Main` inputs take it
    pub dtypes: &'static [DType],
    pub inputs: Vec<In>,
    pub cases: Vec<Case>,
    /// set by [`Row::one`] or [`Row::many`]
    pub op: Option<Op>,
    pub tol: Tol,
    pub grad_tol: Tol,
    pub grad: bool,
    /// whether the non-contiguous layout variants run (not for constructors' dummy inputs)
    pub views: bool,
    /// why the row has no case with a 0-sized dim / with all sizes 1 (where the op forbids it)
    pub no_empty: Option<&'static str>,
    pub no_size1: Option<&'static str>,
    pub known: Vec<Known>,
}

impl Row {
    /// A row with no op and no cases yet. Gradients are checked for float dtypes, to the
    /// looser of `tol` and [`SUM`]: they always may pass through a summation (the broadcast
    /// variant's `sum_to`, an input used twice).
    pub fn new(name: &'static str, dtypes: &'static [DType], inputs: Vec<In>, tol: Tol) -> Row {
        Row {
            name,
            note: "",
            dtypes,
            inputs,
            cases: Vec::new(),
            op: None,
            tol,
            grad_tol: tol.max(SUM),
            grad: dtypes.iter().any(|d| d.is_float()),
            views: true,
            no_empty: None,
            no_size1: None,
            known: Vec::new(),
        }
    }
    /// The op, with one output.
    pub fn one(mut self, f: fn(&[Tensor]) -> Result<Tensor>) -> Row {
        self.op = Some(Op::One(f));
        self
    }
    /// The op, with several outputs (or a list of views, as `chunk`).
    pub fn many(mut self, f: fn(&[Tensor]) -> Result<Vec<Tensor>>) -> Row {
        self.op = Some(Op::Many(f));
        self
    }
    pub fn case(mut self, shapes: &[&[usize]]) -> Row {
        self.cases.push(Case {
            shapes: shapes.iter().map(|s| s.to_vec()).collect(),
            err: false,
        });
        self
    }
    pub fn err_case(mut self, shapes: &[&[usize]]) -> Row {
        self.cases.push(Case {
            shapes: shapes.iter().map(|s| s.to_vec()).collect(),
            err: true,
        });
        self
    }
    pub fn note(mut self, note: &'static str) -> Row {
        self.note = note;
        self
    }
    pub fn no_grad(mut self) -> Row {
        self.grad = false;
        self
    }
    pub fn no_views(mut self) -> Row {
        self.views = false;
        self
    }
    pub fn no_empty(mut self, why: &'static str) -> Row {
        self.no_empty = Some(why);
        self
    }
    pub fn no_size1(mut self, why: &'static str) -> Row {
        self.no_size1 = Some(why);
        self
    }
    pub fn known(mut self, k: Known) -> Row {
        self.known.push(k);
        self
    }
    pub fn label(&self) -> String {
        if self.note.is_empty() {
            self.name.to_string()
        } else {
            format!("{}[{}]", self.name, self.note)
        }
    }
}

// Dtype sets and the shape cases shared by many rows.
pub const FLOAT: &[DType] = &[F32, F64];
/// float and int64: the ops with integer kernels
pub const NUM: &[DType] = &[F32, F64, I64];
pub const ALL: &[DType] = &[F32, F64, I64, U8];
pub const INT: &[DType] = &[I64];
/// Exact agreement (the short name keeps the table readable).
pub const E: Tol = Tol::Exact;

/// A row (the short name keeps the table readable).
pub fn r(name: &'static str, dtypes: &'static [DType], inputs: Vec<In>, tol: Tol) -> Row {
    Row::new(name, dtypes, inputs, tol)
}

impl Row {
    /// One input: 60 elements (a vector body and a remainder), empty, size 1, 0-d, odd 1-d.
    pub fn unary(self) -> Row {
        self.case(&[&[3, 4, 5]])
            .case(&[&[0, 3]])
            .case(&[&[1, 1]])
            .case(&[&[]])
            .case(&[&[7]])
    }

    /// Two inputs: equal shapes, broadcast both ways, a row against a matrix, empty, size 1, 0-d
    /// against a matrix; and a pair that cannot broadcast.
    pub fn binary(self) -> Row {
        self.case(&[&[3, 4, 5], &[3, 4, 5]])
            .case(&[&[3, 1, 5], &[4, 1]])
            .case(&[&[2, 3], &[3]])
            .case(&[&[0, 3], &[3]])
            .case(&[&[1, 1], &[1, 1]])
            .case(&[&[], &[2, 3]])
            .err_case(&[&[2, 3], &[4]])
    }

    /// Rank 3 for reductions: small, a last dim past the CPU's 64 sum lanes, size 1, an empty
    /// middle dim.
    pub fn rank3(self) -> Row {
        self.case(&[&[2, 3, 4]])
            .case(&[&[3, 5, 70]])
            .case(&[&[1, 1, 1]])
            .case(&[&[2, 0, 3]])
    }

    /// Reductions over all elements: no empty case but an error one (no extreme of nothing).
    pub fn whole(self) -> Row {
        self.case(&[&[2, 3, 4]])
            .case(&[&[3, 5, 70]])
            .case(&[&[1, 1, 1]])
            .case(&[&[]])
            .err_case(&[&[2, 0, 3]])
    }
}
