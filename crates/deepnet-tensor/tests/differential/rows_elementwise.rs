//! The table: elementwise ops (unary, binary with broadcasting, comparisons, where).
//! Every row names the `Tensor` method it tests; see `row.rs` for the fields.

use super::row::*;
use deepnet_tensor::DType::{F32, F64, I64, U8};
use deepnet_tensor::Tensor;

pub fn elementwise() -> Vec<Row> {
    vec![
        // neither rounds: exact, on every dtype with a kernel
        r("neg", NUM, vec![X], E).one(|t| t[0].neg()).unary(),
        r("neg", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].neg())
            .note("specials")
            .unary(),
        r("abs", NUM, vec![X], E).one(|t| t[0].abs()).unary(),
        r("abs", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].abs())
            .note("specials")
            .unary(),
        r("sign", NUM, vec![X], E).one(|t| t[0].sign()).unary(),
        r("sign", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].sign())
            .note("specials")
            .unary(),
        r("relu", NUM, vec![X], E).one(|t| t[0].relu()).unary(),
        r("relu", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].relu())
            .note("specials")
            .unary(),
        // one IEEE operation (x*x, 1/x, sqrt, x*s, x+c): f32 computed in f64 and rounded once
        // is the correctly rounded f32 result (53 >= 2*24 + 2 bits), so these are exact too
        r("square", NUM, vec![X], E).one(|t| t[0].square()).unary(),
        r("reciprocal", FLOAT, vec![POS], E)
            .one(|t| t[0].reciprocal())
            .unary(),
        r("sqrt", FLOAT, vec![POS], E).one(|t| t[0].sqrt()).unary(),
        r("leaky_relu", FLOAT, vec![X], E)
            .one(|t| t[0].leaky_relu(0.2))
            .unary(),
        r("add_scalar", NUM, vec![X], E)
            .one(|t| t[0].add_scalar(2.3))
            .unary(),
        r("sub_scalar", NUM, vec![X], E)
            .one(|t| t[0].sub_scalar(-1.7))
            .unary(),
        r("rsub_scalar", NUM, vec![X], E)
            .one(|t| t[0].rsub_scalar(0.3))
            .unary(),
        r("mul_scalar", NUM, vec![X], E)
            .one(|t| t[0].mul_scalar(-3.1))
            .unary(),
        r("div_scalar", FLOAT, vec![X], E)
            .one(|t| t[0].div_scalar(3.0))
            .unary(),
        r("clamp", NUM, vec![X], E)
            .one(|t| t[0].clamp(Some(-1.5), Some(0.8)))
            .unary(),
        r("clamp", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].clamp(Some(-0.5), None))
            .note("specials")
            .unary(),
        r("clamp_min", NUM, vec![X], E)
            .one(|t| t[0].clamp_min(0.2))
            .unary(),
        r("clamp_max", NUM, vec![X], E)
            .one(|t| t[0].clamp_max(-0.1))
            .unary(),
        r("pow_scalar", FLOAT, vec![POS], E)
            .one(|t| t[0].pow_scalar(0.5))
            .note("sqrt")
            .unary(),
        r("pow_scalar", FLOAT, vec![X], E)
            .one(|t| t[0].pow_scalar(2.0))
            .note("square")
            .unary(),
        // transcendental
        r("exp", FLOAT, vec![X], TRANSC).one(|t| t[0].exp()).unary(),
        r("exp", FLOAT, vec![WIDE], TRANSC)
            .one(|t| t[0].exp())
            .note("overflow")
            .unary(),
        r("log", FLOAT, vec![POS], TRANSC)
            .one(|t| t[0].log())
            .unary(),
        r("log1p", FLOAT, vec![POS], TRANSC)
            .one(|t| t[0].log1p())
            .unary(),
        r("sigmoid", FLOAT, vec![X], TRANSC)
            .one(|t| t[0].sigmoid())
            .unary(),
        r("tanh", FLOAT, vec![X], TRANSC)
            .one(|t| t[0].tanh())
            .unary(),
        r("softplus", FLOAT, vec![X], TRANSC)
            .one(|t| t[0].softplus())
            .unary(),
        r("softplus_with", FLOAT, vec![X], TRANSC)
            .one(|t| t[0].softplus_with(2.0, 1.0))
            .unary(),
        r("pow_scalar", FLOAT, vec![X], TRANSC)
            .one(|t| t[0].pow_scalar(3.0))
            .note("powi")
            .unary(),
        r("pow_scalar", FLOAT, vec![POS], TRANSC)
            .one(|t| t[0].pow_scalar(-1.5))
            .unary(),
        r("scalar_pow", FLOAT, vec![X], TRANSC)
            .one(|t| t[0].scalar_pow(1.7))
            .unary(),
        // the edges of each function's domain: NaN, +-inf, +-0 (log 0, sqrt -0, exp inf, ...)
        r("exp", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].exp())
            .note("specials")
            .unary(),
        r("log", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].log())
            .note("specials")
            .unary(),
        r("log1p", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].log1p())
            .note("specials")
            .unary(),
        r("sqrt", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].sqrt())
            .note("specials")
            .unary(),
        r("reciprocal", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].reciprocal())
            .note("specials")
            .unary(),
        r("sigmoid", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].sigmoid())
            .note("specials")
            .unary(),
        r("sigmoid", FLOAT, vec![WIDE], TRANSC)
            .one(|t| t[0].sigmoid())
            .note("wide")
            .unary(),
        r("tanh", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].tanh())
            .note("specials")
            .unary(),
        r("tanh", FLOAT, vec![WIDE], TRANSC)
            .one(|t| t[0].tanh())
            .note("wide")
            .unary(),
        r("softplus", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].softplus())
            .note("specials")
            .unary(),
        r("softplus", FLOAT, vec![WIDE], TRANSC)
            .one(|t| t[0].softplus())
            .note("wide")
            .unary(),
        r("leaky_relu", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].leaky_relu(0.2))
            .note("specials")
            .unary(),
        r("square", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].square())
            .note("specials")
            .unary(),
        r("pow_scalar", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].pow_scalar(-1.5))
            .note("specials")
            .unary(),
        r("pow_scalar", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].pow_scalar(0.5))
            .note("sqrt specials")
            .unary(),
        r("pow_scalar", FLOAT, vec![FEW], TRANSC)
            .one(|t| t[0].pow_scalar(-2.0))
            .note("powi of zero")
            .unary(),
        r("scalar_pow", FLOAT, vec![SPECIAL], TRANSC)
            .one(|t| t[0].scalar_pow(0.5))
            .note("specials")
            .unary(),
        r("mul_scalar", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].mul_scalar(0.0))
            .note("times zero")
            .unary(),
        // past the CPU's 2^17-element threshold: the threaded loops and the vector exp
        r("exp", &[F32], vec![X], TRANSC)
            .one(|t| t[0].exp())
            .note("threaded")
            .case(&[&[3, 50_000]])
            .no_empty("the small rows have them")
            .no_size1("the small rows have them"),
        r("add", &[F32], vec![X, X], E)
            .one(|t| t[0].add(&t[1]))
            .note("threaded")
            .case(&[&[3, 50_000], &[50_000]])
            .no_empty("the small rows have them")
            .no_size1("the small rows have them"),
        // binary, with broadcasting
        r("add", NUM, vec![X, X], E)
            .one(|t| t[0].add(&t[1]))
            .binary(),
        r("add", FLOAT, vec![X, fixed(I64, Kind::Normal)], E)
            .one(|t| t[0].add(&t[1]))
            .note("promote int64")
            .binary(),
        r("sub", NUM, vec![X, X], E)
            .one(|t| t[0].sub(&t[1]))
            .binary(),
        r("mul", NUM, vec![X, X], E)
            .one(|t| t[0].mul(&t[1]))
            .binary(),
        r("div", FLOAT, vec![X, POS], E)
            .one(|t| t[0].div(&t[1]))
            .binary(),
        // integers divide in f32: two exact casts, then one division
        r("div", INT, vec![X, POS], E)
            .one(|t| t[0].div(&t[1]))
            .note("int64")
            .binary(),
        r("add", &[F32], vec![X, fixed(F64, Kind::Normal)], E)
            .one(|t| t[0].add(&t[1]))
            .note("promote float64")
            .binary(),
        // zeros in both: x / 0 is +-inf, 0 / 0 NaN
        r("div", FLOAT, vec![FEW, FEW], E)
            .one(|t| t[0].div(&t[1]))
            .note("by zero")
            .binary(),
        r("div", INT, vec![FEW, FEW], E)
            .one(|t| t[0].div(&t[1]))
            .note("int64 by zero")
            .binary(),
        r("mul", FLOAT, vec![SPECIAL, SPECIAL], E)
            .one(|t| t[0].mul(&t[1]))
            .note("specials")
            .binary(),
        r("add", FLOAT, vec![SPECIAL, SPECIAL], E)
            .one(|t| t[0].add(&t[1]))
            .note("specials")
            .binary(),
        r("pow", FLOAT, vec![POS, X], TRANSC)
            .one(|t| t[0].pow(&t[1]))
            .binary(),
        r("pow", FLOAT, vec![FEW, FEW], TRANSC)
            .one(|t| t[0].pow(&t[1]))
            .note("zeros and negatives")
            .binary(),
        r("pow", INT, vec![POS, X], TRANSC)
            .one(|t| t[0].pow(&t[1]))
            .note("int64")
            .binary(),
        r("maximum", NUM, vec![FEW, FEW], E)
            .one(|t| t[0].maximum(&t[1]))
            .binary(),
        r("maximum", FLOAT, vec![SPECIAL, SPECIAL], E)
            .one(|t| t[0].maximum(&t[1]))
            .note("specials")
            .binary(),
        r("minimum", NUM, vec![FEW, FEW], E)
            .one(|t| t[0].minimum(&t[1]))
            .binary(),
        r("minimum", FLOAT, vec![SPECIAL, SPECIAL], E)
            .one(|t| t[0].minimum(&t[1]))
            .note("specials")
            .binary(),
        // comparisons: u8 masks, ties on purpose
        r("eq", ALL, vec![FEW, FEW], E)
            .one(|t| t[0].eq(&t[1]))
            .binary(),
        r("ne", ALL, vec![FEW, FEW], E)
            .one(|t| t[0].ne(&t[1]))
            .binary(),
        r("lt", ALL, vec![FEW, FEW], E)
            .one(|t| t[0].lt(&t[1]))
            .binary(),
        r("le", ALL, vec![FEW, FEW], E)
            .one(|t| t[0].le(&t[1]))
            .binary(),
        r("gt", ALL, vec![FEW, FEW], E)
            .one(|t| t[0].gt(&t[1]))
            .binary(),
        r("ge", ALL, vec![FEW, FEW], E)
            .one(|t| t[0].ge(&t[1]))
            .binary(),
        r("lt", FLOAT, vec![SPECIAL, SPECIAL], E)
            .one(|t| t[0].lt(&t[1]))
            .note("NaN")
            .binary(),
        r("ne", FLOAT, vec![SPECIAL, SPECIAL], E)
            .one(|t| t[0].ne(&t[1]))
            .note("NaN")
            .binary(),
        r("eq_scalar", ALL, vec![FEW], E)
            .one(|t| t[0].eq_scalar(0.5))
            .unary(),
        r("ne_scalar", ALL, vec![FEW], E)
            .one(|t| t[0].ne_scalar(0.0))
            .unary(),
        r("lt_scalar", ALL, vec![FEW], E)
            .one(|t| t[0].lt_scalar(0.5))
            .unary(),
        r("le_scalar", ALL, vec![FEW], E)
            .one(|t| t[0].le_scalar(0.0))
            .unary(),
        r("gt_scalar", ALL, vec![FEW], E)
            .one(|t| t[0].gt_scalar(-0.5))
            .unary(),
        r("ge_scalar", ALL, vec![FEW], E)
            .one(|t| t[0].ge_scalar(1.0))
            .unary(),
        r("where_cond", NUM, vec![MASK, X, X], E)
            .one(|t| Tensor::where_cond(&t[0], &t[1], &t[2]))
            .case(&[&[3, 4, 5], &[3, 4, 5], &[3, 4, 5]])
            .case(&[&[3, 1, 5], &[4, 1], &[5]])
            .case(&[&[0, 3], &[3], &[0, 3]])
            .case(&[&[1, 1], &[1, 1], &[1, 1]])
            .case(&[&[], &[2, 3], &[]])
            .err_case(&[&[2, 3], &[3, 2], &[2, 3]]),
        r("where_cond", FLOAT, vec![MASK, SPECIAL, SPECIAL], E)
            .one(|t| Tensor::where_cond(&t[0], &t[1], &t[2]))
            .note("specials")
            .case(&[&[3, 4, 5], &[3, 4, 5], &[4, 5]])
            .case(&[&[1], &[1], &[1]])
            .case(&[&[0], &[1], &[1]]),
        r(
            "where_cond",
            &[F32],
            vec![MASK, X, fixed(F64, Kind::Normal)],
            E,
        )
        .one(|t| Tensor::where_cond(&t[0], &t[1], &t[2]))
        .note("promote")
        .case(&[&[3, 4], &[3, 4], &[4]])
        .case(&[&[1], &[1], &[1]])
        .case(&[&[0, 4], &[1, 4], &[4]]),
        // a float condition is refused
        r("where_cond", FLOAT, vec![X, X, X], E)
            .one(|t| Tensor::where_cond(&t[0], &t[1], &t[2]))
            .note("float mask")
            .err_case(&[&[3], &[3], &[3]]),
        // backend-level dtype errors: no float kernel for int64, no arithmetic on u8
        r("exp", INT, vec![X], E)
            .one(|t| t[0].exp())
            .note("int64")
            .err_case(&[&[3]]),
        r("neg", &[U8], vec![X], E)
            .one(|t| t[0].neg())
            .note("uint8")
            .err_case(&[&[3]]),
        r("add", &[U8], vec![X, X], E)
            .one(|t| t[0].add(&t[1]))
            .note("uint8")
            .err_case(&[&[3], &[3]]),
    ]
}
