//! The differential test: every tensor op, forward and backward, on the fast CPU backend against
//! the reference backend (plain scalar f64 code, the oracle), in the manner of PyTorch's OpInfo.
//!
//! One table row per op and parameter set (`differential/rows_*.rs`; the row type, the input
//! kinds and the tolerances are in `differential/row.rs`) gives the op's inputs (dtype and kind
//! of values), its shape cases (an empty one, a size-1 one, a broadcast one where the op
//! broadcasts, and cases that both devices must refuse), its tolerance and whether gradients
//! are compared. The harness (`differential/harness.rs`) builds every input on both devices from
//! the same host values in several layouts (contiguous, transposed, offset, strided, broadcast,
//! mixed), runs the op on each, and compares the outputs, then the gradients of `sum(out * w)`
//! for a fixed random `w`.
//!
//! Tolerances are named constants with their reasons: exact for what does not round, in units
//! of the dtype's epsilon otherwise, so f64 is held much tighter than f32. A disagreement that
//! is a library bug not yet fixed is listed on its row as a narrow `Known` entry, which fails
//! once the bug is gone, so the skip cannot outlive it.

// a test crate's root looks for its modules next to it: point into `differential/`
#[path = "differential/harness.rs"]
mod harness;
#[path = "differential/row.rs"]
mod row;
#[path = "differential/rows_elementwise.rs"]
mod rows_elementwise;
#[path = "differential/rows_index.rs"]
mod rows_index;
#[path = "differential/rows_nn.rs"]
mod rows_nn;
#[path = "differential/rows_reduce.rs"]
mod rows_reduce;
#[path = "differential/rows_rnn.rs"]
mod rows_rnn;
#[path = "differential/rows_upsampling.rs"]
mod rows_upsampling;

use deepnet_tensor::{DType, Device, Error, Layout, Result, Tensor};
use harness::check;
use row::Row;
use std::collections::HashSet;

/// Checks a group of rows; with `--nocapture`, prints the rows closest to their tolerances.
fn run(group: &str, rows: Vec<Row>) {
    let start = std::time::Instant::now();
    let mut report = check(&rows);
    eprintln!(
        "{group}: {} rows, {} runs on each device in {:.2?}",
        rows.len(),
        report.runs,
        start.elapsed()
    );
    report
        .worst
        .sort_by(|a, b| b.1.max(b.2).total_cmp(&a.1.max(a.2)));
    for (label, fwd, grad) in report.worst.iter().filter(|w| w.1 + w.2 > 0.0).take(6) {
        eprintln!("  {label}: {fwd:.3} of the tolerance forward, {grad:.3} backward");
    }
    let fails = report.failures;
    assert!(
        fails.is_empty(),
        "{group}: {} failures:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

#[test]
fn elementwise() {
    run("elementwise", rows_elementwise::elementwise());
}

#[test]
fn reductions() {
    run("reductions", rows_reduce::reductions());
}

#[test]
fn movement_casts_joins() {
    run("movement", rows_reduce::movement());
}

#[test]
fn indexing() {
    run("indexing", rows_index::indexing());
}

#[test]
fn matmul_conv_pool() {
    run("linalg/nn", rows_nn::linalg_nn());
}

#[test]
fn transposed_conv_and_resize() {
    run("upsampling", rows_upsampling::upsampling());
}

#[test]
fn recurrent_cells() {
    run("recurrent", rows_rnn::recurrent());
}

#[test]
fn inplace_and_constructors() {
    let mut rows = rows_index::inplace();
    rows.extend(rows_index::creation());
    run("inplace/creation", rows);
}

fn all_rows() -> Vec<Row> {
    let mut v = rows_elementwise::elementwise();
    v.extend(rows_reduce::reductions());
    v.extend(rows_reduce::movement());
    v.extend(rows_index::indexing());
    v.extend(rows_nn::linalg_nn());
    v.extend(rows_rnn::recurrent());
    v.extend(rows_upsampling::upsampling());
    v.extend(rows_index::inplace());
    v.extend(rows_index::creation());
    v
}

/// The files whose `pub fn`s are ops: each must have a row (or a reason in [`NOT_OPS`]).
const SOURCES: [(&str, &str); 19] = [
    ("binary", include_str!("../src/ops/binary.rs")),
    ("cast", include_str!("../src/ops/cast.rs")),
    ("cmp", include_str!("../src/ops/cmp.rs")),
    ("concat", include_str!("../src/ops/concat.rs")),
    ("conv", include_str!("../src/ops/conv.rs")),
    (
        "conv_transpose",
        include_str!("../src/ops/conv_transpose.rs"),
    ),
    ("index", include_str!("../src/ops/index.rs")),
    ("inplace", include_str!("../src/ops/inplace.rs")),
    ("matmul", include_str!("../src/ops/matmul.rs")),
    ("movement", include_str!("../src/ops/movement.rs")),
    ("norm", include_str!("../src/ops/norm.rs")),
    ("pool", include_str!("../src/ops/pool.rs")),
    ("reduce", include_str!("../src/ops/reduce.rs")),
    ("rnn", include_str!("../src/ops/rnn.rs")),
    ("rnn_seq", include_str!("../src/ops/rnn_seq.rs")),
    ("stats", include_str!("../src/ops/stats.rs")),
    ("unary", include_str!("../src/ops/unary.rs")),
    ("upsample", include_str!("../src/ops/upsample.rs")),
    ("../creation", include_str!("../src/creation.rs")),
];

/// Public functions of those files that are not ops, each with the reason it has no row.
/// (Empty today: every one of them, constructors included, has a row.)
const NOT_OPS: &[(&str, &str)] = &[];

/// The names of the `pub fn`s of a source file.
fn pub_fns(src: &str) -> Vec<String> {
    src.match_indices("pub fn ")
        .map(|(i, m)| {
            src[i + m.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Adding an op without a row (or an op file without reading it here) fails this test.
#[test]
fn every_op_has_a_row() {
    let rows = all_rows();
    let names: HashSet<&str> = rows.iter().map(|r| r.name).collect();
    let files: Vec<&str> = include_str!("../src/ops/mod.rs")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    for f in &files {
        assert!(
            SOURCES.iter().any(|(s, _)| s == f),
            "src/ops/{f}.rs is not read by the coverage check: add it to SOURCES"
        );
    }
    let mut ops = HashSet::new();
    let mut missing = Vec::new();
    for (file, src) in SOURCES {
        for f in pub_fns(src) {
            if !names.contains(f.as_str()) && !NOT_OPS.iter().any(|(n, _)| *n == f) {
                missing.push(format!("{f} (src/ops/{file}.rs)"));
            }
            ops.insert(f);
        }
    }
    assert!(
        missing.is_empty(),
        "ops without a row in the differential table (add one, or list them in NOT_OPS with a \
         reason): {missing:?}"
    );
    // no stale names: every listed exception and every row is a real function
    let tensor_fns = pub_fns(include_str!("../src/tensor.rs"));
    for (n, why) in NOT_OPS {
        assert!(
            ops.contains(*n),
            "NOT_OPS lists {n} ({why}), which no longer exists"
        );
    }
    for n in names {
        assert!(
            ops.contains(n) || tensor_fns.iter().any(|f| f == n),
            "row {n} names no public function"
        );
    }
}

/// Operands on different devices are refused, with an error naming both devices.
#[test]
fn mixing_devices_is_an_error_naming_both() {
    let on = |d: Device| {
        let t = |v: Vec<f32>, s: &[usize]| Tensor::from_vec_on(v, s.to_vec(), d).unwrap();
        let x = t((0..16).map(|v| v as f32 * 0.5).collect(), &[2, 2, 2, 2]);
        let m = t(vec![1.0, -2.0, 3.0, -4.0], &[2, 2]);
        let i = Tensor::from_vec_on(vec![0i64, 1, 1, 0], [2, 2], d).unwrap();
        let mask = m.gt_scalar(0.0).unwrap();
        (x, m, i, mask)
    };
    let (x, a, ia, mask_a) = on(Device::Cpu);
    let (w, b, ib, _) = on(Device::Reference);
    let cases: Vec<(&str, Result<Tensor>)> = vec![
        ("add", a.add(&b)),
        ("add, reference first", b.add(&a)),
        ("maximum", a.maximum(&b)),
        ("lt", a.lt(&b)),
        ("matmul", a.matmul(&b)),
        ("where_cond", Tensor::where_cond(&mask_a, &a, &b)),
        ("cat", Tensor::cat(&[a.clone(), b.clone()], 0)),
        ("stack", Tensor::stack(&[b.clone(), a.clone()], 0)),
        ("gather", a.gather(1, &ib)),
        (
            "index_select",
            b.index_select(0, &ia.flatten_all().unwrap()),
        ),
        ("scatter_add", a.scatter_add(0, &ia, &b)),
        ("conv2d", x.conv2d(&w, None, (1, 1), (0, 0), (1, 1), 1)),
    ];
    for (name, r) in cases {
        match r {
            Ok(t) => panic!("{name}: mixing devices gave a tensor on {}", t.device()),
            Err(e) => {
                let s = e.to_string();
                assert!(
                    s.contains("cpu") && s.contains("reference"),
                    "{name}: the error does not name both devices: {s}"
                );
            }
        }
    }
    // in-place writes take a source from any device, as PyTorch's `copy_` does (the optimizers
    // and batch norm's counters write host-made values into device tensors)
    let dst = b.copy().unwrap();
    dst.assign_(&a).unwrap();
    assert_eq!(dst.device(), Device::Reference);
    assert_eq!(dst.to_vec::<f32>().unwrap(), a.to_vec::<f32>().unwrap());
    dst.axpby_(1.0, 1.0, &a).unwrap();
    let twice: Vec<f32> = a.to_vec::<f32>().unwrap().iter().map(|v| 2.0 * v).collect();
    assert_eq!(dst.to_vec::<f32>().unwrap(), twice);
    // and a tensor moved across keeps computing, with its gradient moved back
    let leaf = a
        .to_dtype(DType::F64)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let g = leaf
        .to_device(Device::Reference)
        .unwrap()
        .square()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = g.get(&leaf).expect("a gradient for the leaf");
    assert_eq!(g.device(), Device::Cpu);
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![2.0, -4.0, 6.0, -8.0]);
}

/// The harness itself: deliberate disagreements are reported where they occur, a known one is
/// tolerated only where it is scoped, a stale one is reported, and so is a table rule broken.
#[test]
fn the_harness_reports_disagreements() {
    use row::*;
    fn cpu(t: &[Tensor]) -> bool {
        t[0].device() == Device::Cpu
    }
    let sizes = |r: Row| r.case(&[&[3, 4]]).case(&[&[1]]).case(&[&[0, 2]]);
    let rows = vec![
        // one rounding apart, under an exact tolerance; known (and so tolerated) for f64 only
        sizes(
            Row::new("ulp", FLOAT, vec![POS], Tol::Exact)
                .one(|t| t[0].mul_scalar(if cpu(t) { 1.0 } else { 1.0 + 1e-6 })),
        )
        .no_grad()
        .known(Known {
            dtype: Some(DType::F64),
            case: None,
            variant: None,
            part: Part::Forward,
            why: "a deliberate disagreement",
        }),
        // equal values (2x), different gradients (2 and 3)
        sizes(Row::new("grad", FLOAT, vec![FEW], Tol::Exact).one(|t| {
            if cpu(t) {
                t[0].mul_scalar(2.0)
            } else {
                t[0].mul_scalar(3.0)?.sub(&t[0].detach())
            }
        })),
        sizes(Row::new("refused", FLOAT, vec![X], Tol::Exact).one(|t| {
            if cpu(t) {
                Ok(t[0].clone())
            } else {
                Err(Error::msg("refused"))
            }
        })),
        // the reference reads the storage as if the view were contiguous: wrong for every
        // layout variant but the contiguous one
        sizes(Row::new("layout", FLOAT, vec![X], Tol::Exact).one(|t| {
            if cpu(t) {
                t[0].contiguous()
            } else {
                t[0].as_strided(Layout::contiguous(t[0].shape().clone()))
            }
        }))
        .no_grad(),
        // an error case that succeeds, and a known entry matching nothing
        Row::new("lenient", FLOAT, vec![X], Tol::Exact)
            .one(|t| t[0].neg())
            .case(&[&[2], &[2]])
            .err_case(&[&[2]])
            .known(Known {
                dtype: None,
                case: Some(7),
                variant: None,
                part: Part::Grad,
                why: "stale",
            }),
    ];
    let report = check(&rows);
    let has = |what: &str| report.failures.iter().any(|f| f.contains(what));
    assert!(has("ulp float32 case 0 [[3, 4]] Contig Forward"));
    assert!(!has("ulp float64"), "the known entry covers f64");
    assert!(has("grad float64 case 0 [[3, 4]] Contig Grad"));
    assert!(!has("grad float64 case 0 [[3, 4]] Contig Forward"));
    assert!(has(
        "refused float32 case 2 [[0, 2]] Contig Forward: only reference errs"
    ));
    for v in ["Transposed", "Offset", "Strided", "Broadcast", "Mixed"] {
        assert!(
            has(&format!("layout float32 case 0 [[3, 4]] {v} Forward")),
            "{v}"
        );
    }
    assert!(!has("layout float32 case 0 [[3, 4]] Contig"));
    assert!(has("lenient: case 0: 2 shapes for 1 inputs"));
    assert!(has(
        "lenient float64 case 1 [[2]] Contig Forward: expected an error"
    ));
    assert!(has("lenient: no case with a 0-sized dim"));
    assert!(has("\"stale\"") && has("no longer occurs"));
}
