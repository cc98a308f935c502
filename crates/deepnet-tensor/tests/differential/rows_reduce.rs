//! The table: reductions, movement and views, casts, moves between devices, joins.

use super::row::*;
use deepnet_tensor::DType::{F32, F64, I64, U8};
use deepnet_tensor::{Device, Layout, Shape, Tensor};

pub fn reductions() -> Vec<Row> {
    vec![
        // the CPU's three paths: reduced dims last (after a permuted copy), leading (by
        // columns), around a kept block (runs in place)
        r("sum", ALL, vec![X], SUM)
            .many(|t| {
                Ok(vec![
                    t[0].sum(1, false)?,
                    t[0].sum([0, 1], false)?,
                    t[0].sum([0, 2], true)?,
                ])
            })
            .rank3()
            .err_case(&[&[2, 3]]),
        r("sum_all", ALL, vec![X], SUM)
            .one(|t| t[0].sum_all())
            .rank3()
            .case(&[&[]]),
        r("sum_all", FLOAT, vec![SPECIAL], SUM)
            .one(|t| t[0].sum_all())
            .note("specials")
            .rank3(),
        // a kept block in the middle of a 4-d tensor (a conv bias gradient)
        r("sum", FLOAT, vec![X], SUM)
            .many(|t| Ok(vec![t[0].sum([0, 2, 3], false)?, t[0].sum([0, 3], true)?]))
            .note("kept block")
            .case(&[&[5, 3, 4, 70]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[2, 3, 0, 5]]),
        // rows past the CPU's 2^17-element block: blocks summed in parallel, then in order
        r("sum", &[F32], vec![X], SUM)
            .one(|t| t[0].sum(-1, false))
            .note("long rows")
            .case(&[&[2, 140_000]])
            .no_empty("the small rows have them")
            .no_size1("the small rows have them"),
        // the sum, then a multiplication by 1/n: SUM
        r("mean", FLOAT, vec![X], SUM)
            .many(|t| Ok(vec![t[0].mean(-1, false)?, t[0].mean([0, 1], true)?]))
            .rank3(),
        r("mean_all", FLOAT, vec![X], SUM)
            .one(|t| t[0].mean_all())
            .rank3()
            .case(&[&[]]),
        r("sum_to", NUM, vec![X], SUM)
            .one(|t| t[0].sum_to(&Shape::from(vec![t[0].dims()[1], 1])))
            .rank3(),
        // extremes select, never round: exact, gradients included (ties share by `eq`)
        r("amax", NUM, vec![DISTINCT], E)
            .many(|t| {
                Ok(vec![
                    t[0].amax(-1, false)?,
                    t[0].amax([0, 2], true)?,
                    t[0].amax(0, false)?,
                ])
            })
            .rank3()
            .err_case(&[&[0, 3, 4]]),
        r("amax", NUM, vec![FEW], E)
            .many(|t| Ok(vec![t[0].amax(-1, false)?, t[0].amax([0, 2], true)?]))
            .note("ties")
            .rank3(),
        r("amax", FLOAT, vec![SPECIAL], E)
            .many(|t| Ok(vec![t[0].amax(-1, false)?, t[0].amax(0, true)?]))
            .note("specials")
            .rank3(),
        r("amin", NUM, vec![FEW], E)
            .many(|t| Ok(vec![t[0].amin(2, true)?, t[0].amin(0, false)?]))
            .rank3()
            .err_case(&[&[0, 3, 4]]),
        r("max_all", NUM, vec![FEW], E)
            .one(|t| t[0].max_all())
            .whole(),
        r("min_all", NUM, vec![SPECIAL], E)
            .one(|t| t[0].min_all())
            .whole(),
        r("argmax", ALL, vec![FEW], E)
            .many(|t| Ok(vec![t[0].argmax(-1, false)?, t[0].argmax(0, true)?]))
            .rank3()
            .err_case(&[&[0, 3, 4]]),
        r("argmax", FLOAT, vec![SPECIAL], E)
            .many(|t| Ok(vec![t[0].argmax(-1, false)?, t[0].argmax(0, true)?]))
            .note("specials")
            .rank3(),
        r("argmin", ALL, vec![FEW], E)
            .many(|t| Ok(vec![t[0].argmin(0, false)?, t[0].argmin(2, true)?]))
            .rank3()
            .err_case(&[&[0, 3, 4]]),
        r("argmax_all", ALL, vec![FEW], E)
            .one(|t| t[0].argmax_all())
            .whole(),
        r("argmin_all", ALL, vec![DISTINCT], E)
            .one(|t| t[0].argmin_all())
            .whole(),
        r("max", NUM, vec![FEW], E)
            .many(|t| {
                let (a, b) = t[0].max(0, false)?;
                let (c, d) = t[0].max(-1, true)?;
                Ok(vec![a, b, c, d])
            })
            .rank3(),
        r("max", FLOAT, vec![SPECIAL], E)
            .many(|t| {
                let (a, b) = t[0].max(0, false)?;
                let (c, d) = t[0].max(-1, true)?;
                Ok(vec![a, b, c, d])
            })
            .note("specials")
            .rank3(),
        r("min", NUM, vec![DISTINCT], E)
            .many(|t| {
                let (a, b) = t[0].min(2, false)?;
                let (c, d) = t[0].min(0, true)?;
                Ok(vec![a, b, c, d])
            })
            .rank3(),
        // sums feeding a division, a square root, a log, an exp
        r("var", FLOAT, vec![X], SUM)
            .many(|t| {
                Ok(vec![
                    t[0].var(-1, true, false)?,
                    t[0].var([0, 2], false, true)?,
                ])
            })
            .rank3(),
        r("var_all", FLOAT, vec![X], SUM)
            .many(|t| Ok(vec![t[0].var_all(true)?, t[0].var_all(false)?]))
            .rank3(),
        r("std", FLOAT, vec![X], SUM)
            .many(|t| {
                Ok(vec![
                    t[0].std(1, true, true)?,
                    t[0].std([0, 1, 2], false, false)?,
                ])
            })
            .rank3(),
        r("std_all", FLOAT, vec![X], SUM)
            .many(|t| Ok(vec![t[0].std_all(true)?, t[0].std_all(false)?]))
            .rank3(),
        r("logsumexp", FLOAT, vec![X], SUM)
            .many(|t| {
                Ok(vec![
                    t[0].logsumexp(-1, false)?,
                    t[0].logsumexp([0, 2], true)?,
                ])
            })
            .rank3()
            .err_case(&[&[0, 3, 4]]),
        r("norm", FLOAT, vec![X], SUM)
            .many(|t| {
                Ok(vec![
                    t[0].norm(1.0, -1, false)?,
                    t[0].norm(2.0, [0, 2], true)?,
                ])
            })
            .rank3(),
        r("norm_all", FLOAT, vec![X], SUM)
            .many(|t| Ok(vec![t[0].norm_all(1.0)?, t[0].norm_all(2.0)?]))
            .rank3(),
        r("softmax", FLOAT, vec![X], SUM)
            .many(|t| Ok(vec![t[0].softmax(-1)?, t[0].softmax(0)?]))
            .rank3(),
        r("log_softmax", FLOAT, vec![X], SUM)
            .many(|t| Ok(vec![t[0].log_softmax(-1)?, t[0].log_softmax(0)?]))
            .rank3(),
    ]
}

/// The device a constructor row builds on: its dummy input's.
fn on(t: &[Tensor]) -> Device {
    t[0].device()
}

pub fn movement() -> Vec<Row> {
    // moves and views copy values: exact, forward and (apart from SUM's sums) backward
    vec![
        r("reshape", NUM, vec![X], E)
            .many(|t| {
                let rev: Vec<usize> = t[0].dims().iter().rev().copied().collect();
                Ok(vec![t[0].reshape([t[0].numel()])?, t[0].reshape(rev)?])
            })
            .rank3()
            .case(&[&[]]),
        // splitting the first dim is a view of any layout
        r("view", NUM, vec![X], E)
            .one(|t| {
                let d = t[0].dims();
                let mut s = if d[0] % 2 == 0 {
                    vec![2, d[0] / 2]
                } else {
                    vec![1, d[0]]
                };
                s.extend(&d[1..]);
                t[0].view(s)
            })
            .rank3(),
        r("flatten", NUM, vec![X], E)
            .many(|t| Ok(vec![t[0].flatten(1, -1)?, t[0].flatten(0, 1)?]))
            .rank3(),
        r("flatten_all", NUM, vec![X], E)
            .one(|t| t[0].flatten_all())
            .unary(),
        r("squeeze", NUM, vec![X], E)
            .many(|t| Ok(vec![t[0].squeeze(1)?, t[0].squeeze(0)?]))
            .case(&[&[2, 1, 3]])
            .case(&[&[1, 1, 1]])
            .case(&[&[0, 1, 2]])
            .case(&[&[3, 4]]),
        r("squeeze_all", NUM, vec![X], E)
            .one(|t| t[0].squeeze_all())
            .unary()
            .case(&[&[1, 3, 1]]),
        r("unsqueeze", NUM, vec![X], E)
            .many(|t| Ok(vec![t[0].unsqueeze(0)?, t[0].unsqueeze(-1)?]))
            .unary(),
        r("permute", NUM, vec![X], E)
            .one(|t| t[0].permute([2, 0, 1]))
            .rank3(),
        r("transpose", NUM, vec![X], E)
            .one(|t| t[0].transpose(0, 2))
            .rank3(),
        r("t", NUM, vec![X], E)
            .one(|t| t[0].t())
            .case(&[&[3, 4]])
            .case(&[&[4]])
            .case(&[&[1, 1]])
            .case(&[&[0, 3]])
            .case(&[&[]]),
        r("narrow", NUM, vec![X], E)
            .one(|t| {
                let d = t[0].dims()[1];
                t[0].narrow(1, d / 3, d / 2)
            })
            .rank3()
            .case(&[&[2, 6, 3]]),
        r("slice", NUM, vec![X], E)
            .many(|t| {
                let s = t[0].dims()[2].min(1);
                Ok(vec![
                    t[0].slice(-1, s, usize::MAX, 2)?,
                    t[0].slice(0, 0, 2, 3)?,
                ])
            })
            .rank3(),
        // size-1 dims stretched to 4, a new leading dim of 2
        r("broadcast_to", NUM, vec![X], E)
            .one(|t| t[0].broadcast_to(stretched(t[0].dims())))
            .case(&[&[3, 1]])
            .case(&[&[1, 1]])
            .case(&[&[0, 1]])
            .case(&[&[]]),
        r("expand", NUM, vec![X], E)
            .one(|t| t[0].expand(stretched(t[0].dims())))
            .case(&[&[1, 5]])
            .case(&[&[1]])
            .case(&[&[1, 0]]),
        r("contiguous", NUM, vec![X], E)
            .one(|t| t[0].contiguous())
            .rank3(),
        r("copy", NUM, vec![X], E).one(|t| t[0].copy()).rank3(),
        // a view with an explicit layout over the whole storage, junk included: the storages
        // are equal on both devices, so the views are too (not differentiable)
        r("as_strided", NUM, vec![X], E)
            .one(|t| {
                let l = if t[0].storage().len() >= 5 {
                    Layout::new(Shape::from([2, 2]), vec![1, 2], 1)
                } else {
                    Layout::contiguous([0usize])
                };
                t[0].as_strided(l)
            })
            .rank3()
            .no_grad(),
        // every cast pair; wide values truncate and saturate
        r("to_dtype", ALL, vec![WIDE], E)
            .many(|t| {
                Ok(vec![
                    t[0].to_dtype(F32)?,
                    t[0].to_dtype(F64)?,
                    t[0].to_dtype(I64)?,
                    t[0].to_dtype(U8)?,
                ])
            })
            .unary(),
        r("to_dtype", FLOAT, vec![SPECIAL], E)
            .many(|t| {
                Ok(vec![
                    t[0].to_dtype(I64)?,
                    t[0].to_dtype(U8)?,
                    t[0].to_dtype(F32)?,
                ])
            })
            .note("specials")
            .unary(),
        r("to_f32", NUM, vec![X], E).one(|t| t[0].to_f32()).unary(),
        r("to_f64", NUM, vec![X], E).one(|t| t[0].to_f64()).unary(),
        // there and back: the op runs on the other device, the gradient comes back
        r("to_device", NUM, vec![X], E)
            .one(|t| {
                let here = on(t);
                let there = if here == Device::Cpu {
                    Device::Reference
                } else {
                    Device::Cpu
                };
                t[0].to_device(there)?.neg()?.to_device(here)
            })
            .unary(),
        r("cat", NUM, vec![X, X, X], E)
            .one(|t| Tensor::cat(&[t[0].clone(), t[1].clone(), t[2].clone()], 1))
            .case(&[&[2, 3, 4], &[2, 1, 4], &[2, 0, 4]])
            .case(&[&[1, 1], &[1, 1], &[1, 1]])
            .case(&[&[0, 2], &[0, 3], &[0, 1]])
            .case(&[&[3, 2], &[3, 5], &[3, 1]])
            .err_case(&[&[2, 3], &[3, 3], &[2, 1]]),
        r("cat", FLOAT, vec![X, fixed(I64, Kind::Normal)], E)
            .one(|t| Tensor::cat(&[t[0].clone(), t[1].clone()], 0))
            .note("promote int64")
            .case(&[&[2, 3], &[4, 3]])
            .case(&[&[1], &[1]])
            .case(&[&[0, 3], &[2, 3]]),
        r("stack", NUM, vec![X, X], E)
            .many(|t| {
                let p = [t[0].clone(), t[1].clone()];
                Ok(vec![Tensor::stack(&p, -1)?, Tensor::stack(&p, 0)?])
            })
            .case(&[&[2, 3], &[2, 3]])
            .case(&[&[1], &[1]])
            .case(&[&[0, 3], &[0, 3]])
            .case(&[&[], &[]])
            .err_case(&[&[2, 3], &[3, 2]]),
        r("chunk", NUM, vec![X], E)
            .many(|t| t[0].chunk(3, 1))
            .case(&[&[2, 7, 3]])
            .case(&[&[1, 1]])
            .case(&[&[2, 0, 3]])
            .case(&[&[4, 2]]),
        r("split", NUM, vec![X], E)
            .many(|t| t[0].split(2, -1))
            .case(&[&[3, 5]])
            .case(&[&[1]])
            .case(&[&[2, 0]])
            .case(&[&[2, 3, 6]]),
        r("split_with_sizes", NUM, vec![X], E)
            .many(|t| {
                let n = t[0].dims()[1];
                t[0].split_with_sizes(&[n / 2, 0, n - n / 2], 1)
            })
            .case(&[&[2, 7, 3]])
            .case(&[&[1, 1]])
            .case(&[&[3, 0]]),
        r("pad", NUM, vec![X], E)
            .one(|t| t[0].pad(&[1, 2, 0, 1], -0.5))
            .case(&[&[2, 3, 4]])
            .case(&[&[1, 1]])
            .case(&[&[0, 3]])
            .case(&[&[3, 0]]),
    ]
}

/// `dims` with a new leading 2 and every size 1 stretched to 4.
fn stretched(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![2];
    s.extend(dims.iter().map(|&d| if d == 1 { 4 } else { d }));
    s
}
