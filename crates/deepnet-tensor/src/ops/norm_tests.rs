use crate::testing::{gradcheck, seeded};
use crate::{with_num_threads, DType, Tensor};

/// The same function written out in generic ops (what `batch_norm` composed before).
fn composed(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Tensor {
    let dims: Vec<isize> = std::iter::once(0).chain(2..x.rank() as isize).collect();
    let mut ps = vec![1usize; x.rank()];
    ps[1] = x.dims()[1];
    let mean = x.mean(&dims[..], true).unwrap();
    let xc = x.sub(&mean).unwrap();
    let var = xc.square().unwrap().mean(&dims[..], true).unwrap();
    let inv = var
        .add_scalar(eps)
        .unwrap()
        .sqrt()
        .unwrap()
        .reciprocal()
        .unwrap();
    xc.mul(&inv)
        .unwrap()
        .mul(&w.reshape(ps.clone()).unwrap())
        .unwrap()
        .add(&b.reshape(ps).unwrap())
        .unwrap()
}

#[test]
fn gradients() {
    for shape in [vec![3, 2, 4], vec![5, 3], vec![2, 3, 2, 2]] {
        let c = shape[1];
        let x = seeded(shape.clone(), 1)
            .mul_scalar(2.0)
            .unwrap()
            .add_scalar(0.5)
            .unwrap();
        let (w, b) = (seeded([c], 2), seeded([c], 3));
        gradcheck(
            "batch_norm_train",
            |t| Ok(t[0].batch_norm_train(Some(&t[1]), Some(&t[2]), 1e-5)?.0),
            &[x.clone(), w, b],
        )
        .unwrap();
        gradcheck(
            "batch_norm_train without affine",
            |t| Ok(t[0].batch_norm_train(None, None, 1e-3)?.0),
            &[x],
        )
        .unwrap();
    }
    // a non-contiguous input
    gradcheck(
        "batch_norm_train_t",
        |t| {
            Ok(t[0]
                .transpose(0, 2)?
                .batch_norm_train(Some(&t[1]), None, 1e-5)?
                .0)
        },
        &[seeded([4, 3, 2], 4), seeded([3], 5)],
    )
    .unwrap();
}

#[test]
fn gradients_with_given_statistics() {
    for shape in [vec![3, 2, 4], vec![5, 3], vec![2, 3, 2, 2]] {
        let c = shape[1];
        let (mean, var) = (
            seeded([c], 6),
            seeded([c], 7).square().unwrap().add_scalar(0.5).unwrap(),
        );
        gradcheck(
            "batch_norm_eval",
            |t| t[0].batch_norm_eval(&mean, &var, Some(&t[1]), Some(&t[2]), 1e-5),
            &[seeded(shape.clone(), 8), seeded([c], 9), seeded([c], 10)],
        )
        .unwrap();
    }
    // y = (x - mean) * w / sqrt(var + eps) + b exactly, a single value per channel allowed
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [1, 3]).unwrap();
    let m = Tensor::from_vec(vec![1.0f64, 0.0, -1.0], [3]).unwrap();
    let v = Tensor::from_vec(vec![4.0f64, 1.0, 0.25], [3]).unwrap();
    let w = Tensor::from_vec(vec![2.0f64, 1.0, 1.0], [3]).unwrap();
    let b = Tensor::from_vec(vec![0.0f64, 1.0, 0.0], [3]).unwrap();
    let y = x.batch_norm_eval(&m, &v, Some(&w), Some(&b), 0.0).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), [0.0, 3.0, 8.0]);
    // statistics given as views into larger tensors (an offset, a stride)
    let big = Tensor::from_vec(vec![7.0f64, 1.0, 0.0, -1.0], [4]).unwrap();
    let m = big.narrow(0, 1, 3).unwrap();
    let v = Tensor::from_vec(vec![4.0f64, 9.0, 1.0, 9.0, 0.25, 9.0], [3, 2])
        .unwrap()
        .narrow(1, 0, 1)
        .unwrap()
        .reshape([3])
        .unwrap();
    let y = x.batch_norm_eval(&m, &v, Some(&w), Some(&b), 0.0).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), [0.0, 3.0, 8.0]);
}

#[test]
fn matches_the_composed_ops_and_returns_the_statistics() {
    let mut g = crate::Generator::new(7);
    let x = Tensor::randn([16, 6, 5, 7], DType::F32, &mut g)
        .unwrap()
        .mul_scalar(3.0)
        .unwrap()
        .add_scalar(10.0)
        .unwrap();
    let (w, b) = (
        Tensor::randn([6], DType::F32, &mut g).unwrap(),
        Tensor::randn([6], DType::F32, &mut g).unwrap(),
    );
    let (y, mean, var) = x.batch_norm_train(Some(&w), Some(&b), 1e-5).unwrap();
    let want = composed(
        &x.to_dtype(DType::F64).unwrap(),
        &w.to_dtype(DType::F64).unwrap(),
        &b.to_dtype(DType::F64).unwrap(),
        1e-5,
    );
    let d = y
        .to_dtype(DType::F64)
        .unwrap()
        .sub(&want)
        .unwrap()
        .abs()
        .unwrap();
    assert!(d.max_all().unwrap().item().unwrap() < 2e-5);
    let x64 = x.to_dtype(DType::F64).unwrap();
    let m = x64.mean([0isize, 2, 3], false).unwrap();
    let v = x64
        .sub(&m.reshape([1, 6, 1, 1]).unwrap())
        .unwrap()
        .square()
        .unwrap();
    let v = v.mean([0isize, 2, 3], false).unwrap();
    for (got, want, tol) in [(&mean, &m, 1e-5), (&var, &v, 1e-4)] {
        assert_eq!(got.dims(), &[6]);
        let e = got
            .to_dtype(DType::F64)
            .unwrap()
            .sub(want)
            .unwrap()
            .abs()
            .unwrap();
        assert!(e.max_all().unwrap().item().unwrap() < tol);
    }
}

#[test]
fn a_large_mean_keeps_its_precision() {
    // f32 values near 1000 with spread 1: the normalized values are accurate to the input's
    // own rounding (6e-5 at 1000), the mean being subtracted before the scaling
    let mut g = crate::Generator::new(11);
    let x = Tensor::randn([64, 3, 10], DType::F32, &mut g)
        .unwrap()
        .add_scalar(1000.0)
        .unwrap();
    let (w, b) = (
        Tensor::ones([3], DType::F32).unwrap(),
        Tensor::zeros([3], DType::F32).unwrap(),
    );
    let (y, _, _) = x.batch_norm_train(Some(&w), Some(&b), 0.0).unwrap();
    let f = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
    let want = composed(&f(&x), &f(&w), &f(&b), 0.0);
    let d = f(&y).sub(&want).unwrap().abs().unwrap().max_all().unwrap();
    assert!(d.item().unwrap() < 1.5e-4, "{}", d.item().unwrap());
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // enough images for several blocks of the statistics passes
    let x = seeded([300, 4, 9, 9], 8)
        .to_dtype(DType::F32)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let w = seeded([4], 9)
        .to_dtype(DType::F32)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let gy = seeded([300, 4, 9, 9], 10).to_dtype(DType::F32).unwrap();
    let run = |threads: usize| {
        with_num_threads(threads, || {
            let (y, m, v) = x.batch_norm_train(Some(&w), None, 1e-5).unwrap();
            let g = y.backward_with(&gy).unwrap();
            let bits = |t: &Tensor| {
                t.to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            [
                bits(&y),
                bits(&m),
                bits(&v),
                bits(g.get(&x).unwrap()),
                bits(g.get(&w).unwrap()),
            ]
        })
        .unwrap()
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn bad_input_is_a_clear_error() {
    let z = |s: &[usize]| Tensor::zeros(s.to_vec(), DType::F32).unwrap();
    let e = |r: crate::Result<(Tensor, Tensor, Tensor)>| r.err().unwrap().to_string();
    assert!(e(z(&[5]).batch_norm_train(None, None, 1e-5)).contains("(N, C, *)"));
    assert!(
        e(z(&[1, 3]).batch_norm_train(None, None, 1e-5)).contains("more than 1 value per channel")
    );
    assert!(e(z(&[4, 3]).batch_norm_train(Some(&z(&[4])), None, 1e-5))
        .contains("weight has shape [4], expected [3] for input [4, 3]"));
    assert!(
        e(z(&[4, 3]).batch_norm_train(None, Some(&z(&[2])), 1e-5)).contains("bias has shape [2]")
    );
    assert!(e(z(&[4, 3]).batch_norm_train(None, None, -1.0)).contains("eps must be >= 0"));
    let ev = z(&[4, 3]).batch_norm_eval(&z(&[2]), &z(&[3]), None, None, 1e-5);
    assert!(ev
        .unwrap_err()
        .to_string()
        .contains("running_mean has shape [2], expected [3] for input [4, 3]"));
    let i = Tensor::zeros([4, 3], DType::I64).unwrap();
    assert!(e(i.batch_norm_train(None, None, 1e-5)).contains("float"));
}
