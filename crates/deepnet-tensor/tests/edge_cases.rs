//! Edge cases: empty tensors, non-contiguous views, 0-d scalars, and error values (never panics).

use deepnet_tensor::testing::seeded;
use deepnet_tensor::{DType, Error, Result, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn t64(v: Vec<f64>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape.to_vec()).unwrap()
}

fn idx(v: Vec<i64>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape.to_vec()).unwrap()
}

/// Asserts equal shapes and values within 1e-12 (NaNs must match NaNs).
fn assert_same(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes differ");
    let (g, w) = (got.to_vec_f64(), want.to_vec_f64());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * (1.0 + b.abs());
        assert!(ok, "{what}: element {i} is {a}, expected {b}");
    }
}

// ---------------------------------------------------------------------------------------------
// Empty tensors
// ---------------------------------------------------------------------------------------------

/// Elementwise ops and reductions on a (0, 3) tensor keep the empty shape; sums give zeros.
#[test]
fn empty_elementwise_and_reductions() {
    let e = Tensor::zeros([0, 3], DType::F64).unwrap();
    let row = Tensor::ones([3], DType::F64).unwrap();
    for r in [e.add(&row), e.mul(&e), e.exp(), e.relu(), e.softmax(-1)] {
        let r = r.unwrap();
        assert_eq!(r.dims(), &[0, 3]);
        assert!(r.to_vec::<f64>().unwrap().is_empty());
    }
    assert_eq!(e.sum_all().unwrap().item().unwrap(), 0.0);
    assert_eq!(e.sum_all().unwrap().dims(), &[] as &[usize]);
    assert_same(
        "sum(0)",
        &e.sum(0, false).unwrap(),
        &t64(vec![0.0; 3], &[3]),
    );
    assert_eq!(e.sum(1, false).unwrap().dims(), &[0]);
    assert_eq!(e.sum(1, true).unwrap().dims(), &[0, 1]);
    // the mean of nothing is 0/0 = NaN, as in PyTorch
    assert!(e.mean_all().unwrap().item().unwrap().is_nan());
    // so is the variance of nothing, with or without Bessel's correction (divisor max(n - 1, 0))
    for unbiased in [true, false] {
        let v = e.var(0, unbiased, false).unwrap().to_vec::<f64>().unwrap();
        assert!(v.len() == 3 && v.iter().all(|x| x.is_nan()), "{v:?}");
    }
    // max over an empty dim has no value: an error, not a panic
    assert!(e.amax(0, false).is_err());
    assert!(e.max_all().is_err());
    assert!(e.argmax(0, false).is_err());
    // ... but over a non-empty dim of an empty tensor it is just empty
    assert_eq!(e.amax(1, false).unwrap().dims(), &[0]);
}

/// (0,3) @ (3,4) is (0,4); (2,0) @ (0,3) is a (2,3) matrix of zeros, with empty gradients.
#[test]
fn empty_matmul() {
    let a = Tensor::zeros([0, 3], DType::F64).unwrap();
    let b = seeded([3, 4], 1);
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.dims(), &[0, 4]);
    let p = Tensor::zeros([2, 0], DType::F32)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let q = Tensor::zeros([0, 3], DType::F32)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let r = p.matmul(&q).unwrap();
    assert_eq!(r.dims(), &[2, 3]);
    assert_eq!(r.to_vec::<f32>().unwrap(), vec![0.0; 6]);
    let g = r.sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get(&p).unwrap().dims(), &[2, 0]);
    assert_eq!(g.get(&q).unwrap().dims(), &[0, 3]);
    // a 1-d dot product of empty vectors is 0
    let v = Tensor::zeros([0], DType::F64).unwrap();
    assert_eq!(v.matmul(&v).unwrap().item().unwrap(), 0.0);
}

/// `cat` with an empty piece equals `cat` without it; reshape/split/chunk of empty tensors work.
#[test]
fn empty_cat_and_reshape() {
    let a = seeded([2, 3], 2);
    let e = Tensor::zeros([0, 3], DType::F64).unwrap();
    assert_same(
        "cat0",
        &Tensor::cat(&[a.clone(), e.clone()], 0).unwrap(),
        &a,
    );
    assert_same(
        "cat0_first",
        &Tensor::cat(&[e.clone(), a.clone()], 0).unwrap(),
        &a,
    );
    let e1 = Tensor::zeros([2, 0], DType::F64).unwrap();
    assert_same("cat1", &Tensor::cat(&[e1, a.clone()], 1).unwrap(), &a);
    assert_eq!(e.reshape([3, 0]).unwrap().dims(), &[3, 0]);
    assert_eq!(e.reshape([-1, 3]).unwrap().dims(), &[0, 3]);
    assert_eq!(e.flatten_all().unwrap().dims(), &[0]);
    // splitting an empty dim gives empty pieces, as in PyTorch: split one, chunk `chunks`
    assert_eq!(e.split(2, 0).unwrap().len(), 1);
    let parts = e.chunk(3, 0).unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.dims() == [0, 3]));
    // -1 next to a 0 cannot be inferred (as in PyTorch)
    assert!(matches!(e.reshape([0, -1]), Err(Error::Reshape { .. })));
}

// ---------------------------------------------------------------------------------------------
// Non-contiguous inputs
// ---------------------------------------------------------------------------------------------

/// Non-contiguous (6, 8) views of different kinds, each with a name.
fn views() -> Vec<(&'static str, Tensor)> {
    let v = vec![
        ("transposed", seeded([8, 6], 10).t().unwrap()),
        ("narrowed", seeded([6, 11], 11).narrow(1, 2, 8).unwrap()),
        ("expanded_col", seeded([6, 1], 12).expand([6, 8]).unwrap()),
        ("expanded_row", seeded([8], 13).expand([6, 8]).unwrap()),
        ("step_rows", seeded([12, 8], 14).slice(0, 1, 12, 2).unwrap()),
        ("step_cols", seeded([6, 24], 15).slice(1, 0, 24, 3).unwrap()),
        (
            "permuted_3d",
            seeded([8, 2, 3], 16)
                .permute([1, 2, 0])
                .unwrap()
                .reshape([6, 8])
                .unwrap(),
        ),
    ];
    for (name, t) in &v {
        assert_eq!(t.dims(), &[6, 8], "{name}");
    }
    v
}

type Op = fn(&Tensor) -> Result<Tensor>;

/// The ops applied to every view and to its contiguous copy.
fn ops() -> Vec<(&'static str, Op)> {
    vec![
        ("exp", |t| t.exp()),
        ("neg", |t| t.neg()),
        ("relu", |t| t.relu()),
        ("sigmoid", |t| t.sigmoid()),
        ("clamp", |t| t.clamp(Some(-0.5), Some(0.5))),
        ("add_contig", |t| t.add(&seeded([6, 8], 20))),
        ("mul_row", |t| t.mul(&seeded([8], 21))),
        ("div_col", |t| {
            t.div(&seeded([6, 1], 22).abs()?.add_scalar(0.5)?)
        }),
        ("maximum_self_t", |t| t.maximum(&t.t()?.t()?)),
        ("sum_all", |t| t.sum_all()),
        ("sum0", |t| t.sum(0, false)),
        ("sum1", |t| t.sum(1, true)),
        ("mean1", |t| t.mean(1, false)),
        ("amax0", |t| t.amax(0, false)),
        ("amin1", |t| t.amin(1, false)),
        ("var1", |t| t.var(1, true, false)),
        ("argmax1", |t| t.argmax(1, false)),
        ("max0_values", |t| Ok(t.max(0, false)?.0)),
        ("logsumexp0", |t| t.logsumexp(0, false)),
        ("matmul_rhs", |t| t.matmul(&seeded([8, 5], 23))),
        ("matmul_lhs", |t| seeded([4, 6], 24).matmul(t)),
        ("matmul_self_t", |t| t.matmul(&t.t()?)),
        ("softmax0", |t| t.softmax(0)),
        ("softmax_last", |t| t.softmax(-1)),
        ("log_softmax1", |t| t.log_softmax(1)),
        ("gather1", |t| {
            t.gather(1, &idx(vec![7, 0, 3, 3, 1, 2, 5, 6, 0, 4, 4, 7], &[6, 2]))
        }),
        ("index_select1", |t| {
            t.index_select(1, &idx(vec![7, 0, 7, 2], &[4]))
        }),
        ("to_f32", |t| t.to_dtype(DType::F32)),
        ("cat_with_self", |t| Tensor::cat(&[t.clone(), t.clone()], 0)),
        ("pad", |t| t.pad(&[1, 2], 0.5)),
        ("where", |t| {
            Tensor::where_cond(&t.gt_scalar(0.0)?, t, &t.neg()?)
        }),
    ]
}

/// Every op gives the same values on a non-contiguous view as on its contiguous copy.
#[test]
fn views_match_contiguous_copies() {
    for (vname, v) in views() {
        assert!(
            !v.is_contiguous(),
            "{vname} should be a non-contiguous view"
        );
        let c = v.contiguous().unwrap();
        assert!(c.is_contiguous());
        for (oname, op) in ops() {
            let what = format!("{oname} on {vname}");
            let got = op(&v).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_same(&what, &got, &op(&c).unwrap());
        }
        // binary ops between two different views
        for (wname, w) in views() {
            let what = format!("{vname} * {wname}");
            assert_same(
                &what,
                &v.mul(&w).unwrap(),
                &c.mul(&w.contiguous().unwrap()).unwrap(),
            );
        }
    }
}

/// Gradients flowing back through a view match those through its contiguous copy.
#[test]
fn gradients_through_views_match_contiguous() {
    let base = seeded([8, 6], 30).requires_grad_(true).unwrap();
    let f = |x: &Tensor| -> Result<Tensor> {
        let y = x.softmax(-1)?.mul(&seeded([6, 8], 31))?;
        y.matmul(&seeded([8, 3], 32))?.square()?.sum_all()
    };
    let g_view = f(&base.t().unwrap()).unwrap().backward().unwrap();
    let g_copy = f(&base.t().unwrap().contiguous().unwrap())
        .unwrap()
        .backward()
        .unwrap();
    assert_same(
        "grad",
        g_view.get(&base).unwrap(),
        g_copy.get(&base).unwrap(),
    );
}

// ---------------------------------------------------------------------------------------------
// 0-d scalars
// ---------------------------------------------------------------------------------------------

/// A 0-d tensor broadcasts against any shape (including empty ones) and gets the summed gradient.
#[test]
fn scalar_tensors_broadcast() {
    let s = Tensor::scalar(2.0f64);
    assert_eq!(s.rank(), 0);
    assert_eq!(s.numel(), 1);
    let x = seeded([2, 3], 40);
    assert_same("x*s", &x.mul(&s).unwrap(), &x.mul_scalar(2.0).unwrap());
    assert_same("s-x", &s.sub(&x).unwrap(), &x.rsub_scalar(2.0).unwrap());
    let ss = s.add(&s).unwrap();
    assert_eq!(ss.dims(), &[] as &[usize]);
    assert_eq!(ss.item().unwrap(), 4.0);
    assert_eq!(s.sum_all().unwrap().item().unwrap(), 2.0);
    let e = Tensor::zeros([0, 3], DType::F64).unwrap();
    assert_eq!(s.add(&e).unwrap().dims(), &[0, 3]);
    // int64 scalar with a float tensor promotes to float
    let i = Tensor::scalar(3i64);
    assert_eq!(i.mul(&x).unwrap().dtype(), DType::F64);
    // d(sum(x * s))/ds = sum(x)
    let sg = Tensor::scalar(1.5f64).requires_grad_(true).unwrap();
    let g = x.mul(&sg).unwrap().sum_all().unwrap().backward().unwrap();
    let gs = g.get(&sg).unwrap();
    assert_eq!(gs.dims(), &[] as &[usize]);
    assert!((gs.item().unwrap() - x.sum_all().unwrap().item().unwrap()).abs() < 1e-12);
    // views of a scalar
    assert_eq!(s.unsqueeze(0).unwrap().dims(), &[1]);
    assert_eq!(s.reshape([1, 1]).unwrap().dims(), &[1, 1]);
    assert_eq!(
        s.expand([2, 2]).unwrap().to_vec::<f64>().unwrap(),
        vec![2.0; 4]
    );
    assert!(matches!(s.matmul(&x), Err(Error::Rank { .. })));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Each kind of misuse returns its own `Error` variant, with the documented message.
#[test]
fn error_variants() {
    let a = Tensor::zeros([2, 3], DType::F32).unwrap();
    let e = a.add(&Tensor::zeros([4], DType::F32).unwrap()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Broadcast {
                op: "add",
                dim: 1,
                l: 3,
                r: 4,
                ..
            }
        ),
        "{e:?}"
    );

    let m = Tensor::zeros([3, 4], DType::F32).unwrap();
    let n = Tensor::zeros([5, 6], DType::F32).unwrap();
    let e = m.matmul(&n).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MatmulInner {
                k_lhs: 4,
                k_rhs: 5,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "matmul: inner dimensions differ, [3, 4] @ [5, 6] (4 != 5)"
    );

    for r in [
        a.sum(2, false),
        a.softmax(-3),
        a.narrow(2, 0, 1),
        a.transpose(0, 2),
        a.squeeze(5),
    ] {
        assert!(
            matches!(r, Err(Error::DimOutOfRange { .. })),
            "{:?}",
            r.err()
        );
    }
    match a.sum(-3, false) {
        Err(Error::DimOutOfRange {
            dim: -3, rank: 2, ..
        }) => {}
        other => panic!("expected DimOutOfRange, got {:?}", other.err()),
    }

    for r in [a.reshape([4, 2]), a.reshape([-1, 4]), a.reshape([-1, -1])] {
        assert!(matches!(r, Err(Error::Reshape { .. })), "{:?}", r.err());
    }

    let x = seeded([4, 3], 50);
    let bad = [
        x.index_select(0, &idx(vec![0, 4], &[2])),
        x.index_select(1, &idx(vec![-1], &[1])),
        x.gather(1, &idx(vec![0, 3, 1, 2], &[4, 1])),
        x.zeros_like()
            .unwrap()
            .scatter_add(0, &idx(vec![9, 0, 0], &[1, 3]), &x),
        idx(vec![0, 3], &[2]).one_hot(3),
    ];
    for r in bad {
        assert!(
            matches!(r, Err(Error::IndexOutOfRange { .. })),
            "{:?}",
            r.err()
        );
    }

    match Tensor::from_vec(vec![1.0f32; 5], [2, 3]) {
        Err(Error::ElementCount {
            expected: 6,
            got: 5,
            ..
        }) => {}
        other => panic!("expected ElementCount, got {:?}", other.err()),
    }
    assert!(matches!(
        Tensor::from_vec(Vec::<f64>::new(), [1]),
        Err(Error::ElementCount { .. })
    ));
}

type Call<'a> = Box<dyn Fn() -> Result<Tensor> + 'a>;

/// A sweep of ops over awkward shapes and every dim in -4..=4: errors are returned, never panicked.
#[test]
fn bad_arguments_never_panic() {
    let shapes: [&[usize]; 6] = [&[], &[0], &[2, 0], &[2, 3], &[1, 3, 1], &[0, 0, 0]];
    for shape in shapes {
        let x = Tensor::zeros(shape.to_vec(), DType::F32).unwrap();
        let i = Tensor::zeros(shape.to_vec(), DType::I64).unwrap();
        for d in -4isize..=4 {
            let calls: Vec<(&str, Call)> = vec![
                ("sum", Box::new(|| x.sum(d, false))),
                ("mean", Box::new(|| x.mean(d, true))),
                ("amax", Box::new(|| x.amax(d, false))),
                ("argmin", Box::new(|| x.argmin(d, false))),
                ("max", Box::new(|| Ok(x.max(d, false)?.0))),
                ("var", Box::new(|| x.var(d, true, false))),
                ("softmax", Box::new(|| x.softmax(d))),
                ("log_softmax", Box::new(|| x.log_softmax(d))),
                ("logsumexp", Box::new(|| x.logsumexp(d, false))),
                ("squeeze", Box::new(|| x.squeeze(d))),
                ("unsqueeze", Box::new(|| x.unsqueeze(d))),
                ("transpose", Box::new(|| x.transpose(d, 0))),
                ("narrow", Box::new(|| x.narrow(d, 1, 1))),
                ("slice", Box::new(|| x.slice(d, 1, 5, 2))),
                ("flatten", Box::new(|| x.flatten(d, -1))),
                ("cat", Box::new(|| Tensor::cat(&[x.clone(), x.clone()], d))),
                (
                    "stack",
                    Box::new(|| Tensor::stack(&[x.clone(), x.clone()], d)),
                ),
                ("chunk", Box::new(|| Ok(x.chunk(2, d)?.remove(0)))),
                (
                    "index_select",
                    Box::new(|| x.index_select(d, &idx(vec![0, 1], &[2]))),
                ),
                ("gather", Box::new(|| x.gather(d, &i))),
                ("scatter_add", Box::new(|| x.scatter_add(d, &i, &x))),
                ("one_hot", Box::new(|| i.one_hot(d.unsigned_abs()))),
                ("matmul", Box::new(|| x.matmul(&x))),
                ("matmul_t", Box::new(|| x.matmul(&x.t()?))),
                ("reshape", Box::new(|| x.reshape([d, -1]))),
                ("expand", Box::new(|| x.expand([2, d.unsigned_abs(), 1]))),
                ("pad", Box::new(|| x.pad(&[1, 1, 0, d.unsigned_abs()], 0.0))),
            ];
            for (name, call) in calls {
                let r = catch_unwind(AssertUnwindSafe(call));
                assert!(r.is_ok(), "{name} panicked on shape {shape:?} with dim {d}");
            }
        }
    }
}
