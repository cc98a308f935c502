//! Tests of the losses: hand-computed values (arithmetic in comments), reductions, errors and
//! gradchecks.
use super::*;
use deepnet_tensor::testing::{gradcheck, seeded};
use Reduction::{Mean, None as NoRed, Sum};

fn t(v: &[f64]) -> Tensor {
    Tensor::from_slice(v, [v.len()]).unwrap()
}
fn t2(v: &[f64], r: usize, c: usize) -> Tensor {
    Tensor::from_slice(v, [r, c]).unwrap()
}
fn labels(v: &[i64]) -> Tensor {
    Tensor::from_slice(v, [v.len()]).unwrap()
}
fn val(x: Result<Tensor>) -> f64 {
    x.unwrap().item().unwrap()
}
fn vals(x: Result<Tensor>) -> Vec<f64> {
    x.unwrap().to_vec_f64()
}
fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
}
fn close_all(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        close(*x, *y);
    }
}
fn err(x: Result<Tensor>) -> String {
    x.unwrap_err().to_string()
}

/// Targets in {-1, +1} for the hinge gradchecks.
fn pm1(n: usize) -> Tensor {
    t(&(0..n)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect::<Vec<_>>())
}

#[test]
fn reduction_default_and_apply() {
    assert_eq!(Reduction::default(), Mean);
    let l = t(&[1.0, 2.0, 6.0]);
    close(val(Mean.apply(&l)), 3.0);
    close(val(Sum.apply(&l)), 9.0);
    assert_eq!(vals(NoRed.apply(&l)), vec![1.0, 2.0, 6.0]);
}

#[test]
fn hinge_values() {
    // y t = [2, 0.5, -1, -0.3]; 1 - y t = [-1, 0.5, 2, 1.3]; max(0, .) = [0, 0.5, 2, 1.3]
    // sum 3.8, mean 0.95; squared [0, 0.25, 4, 1.69], sum 5.94, mean 1.485
    let y = t(&[2.0, 0.5, -1.0, 0.3]);
    let tg = t(&[1.0, 1.0, 1.0, -1.0]);
    close_all(&vals(hinge_loss(&y, &tg, NoRed)), &[0.0, 0.5, 2.0, 1.3]);
    close(val(hinge_loss(&y, &tg, Sum)), 3.8);
    close(val(hinge_loss(&y, &tg, Mean)), 0.95);
    close_all(
        &vals(squared_hinge_loss(&y, &tg, NoRed)),
        &[0.0, 0.25, 4.0, 1.69],
    );
    close(val(squared_hinge_loss(&y, &tg, Sum)), 5.94);
    close(val(squared_hinge_loss(&y, &tg, Mean)), 1.485);
}

#[test]
fn hinge_errors_and_gradchecks() {
    let e = err(hinge_loss(&t(&[1.0, 2.0]), &t(&[1.0, 0.0]), Mean));
    assert_eq!(
        e,
        "hinge_loss: target must hold -1 or +1, found 0 at flat index 1"
    );
    let e = err(squared_hinge_loss(&seeded([2, 3], 1), &pm1(6), Mean));
    assert_eq!(
        e,
        "squared_hinge_loss: input [2, 3] and target [6] must have the same shape"
    );
    let li = Tensor::from_vec(vec![1i64, -1], [2]).unwrap();
    assert!(err(hinge_loss(&li, &t(&[1.0, -1.0]), Mean)).contains("input must be a float"));
    for r in [Mean, Sum, NoRed] {
        // the target stays fixed: perturbing it would leave {-1, +1}
        let tg = pm1(7);
        gradcheck("hinge", |x| hinge_loss(&x[0], &tg, r), &[seeded([7], 1)]).unwrap();
        gradcheck(
            "squared_hinge",
            |x| squared_hinge_loss(&x[0], &tg, r),
            &[seeded([7], 1)],
        )
        .unwrap();
    }
}

#[test]
fn bce_values_edges_and_errors() {
    // -[ln 0.9, ln 0.8, ln 0.5] = [0.105360516, 0.223143551, 0.693147181]
    // sum 1.021651248, mean 0.340550416
    let p = t(&[0.9, 0.2, 0.5]);
    let tg = t(&[1.0, 0.0, 1.0]);
    let ln = f64::ln;
    close_all(
        &vals(binary_cross_entropy(&p, &tg, NoRed)),
        &[-ln(0.9), -ln(0.8), -ln(0.5)],
    );
    close(
        val(binary_cross_entropy(&p, &tg, Sum)),
        -(ln(0.9) + ln(0.8) + ln(0.5)),
    );
    close(val(binary_cross_entropy(&p, &tg, Mean)), 0.340_550_415_9);
    // soft target 0.3 at p = 0.6: -(0.3 ln 0.6 + 0.7 ln 0.4)
    close(
        val(binary_cross_entropy(&t(&[0.6]), &t(&[0.3]), Sum)),
        -(0.3 * ln(0.6) + 0.7 * ln(0.4)),
    );
    // log clamped at -100: p = 0 with t = 1 costs 100; p = 0 or 1 on the right side cost 0
    let p = t(&[0.0, 1.0, 0.0, 1.0]).requires_grad_(true).unwrap();
    let tg = t(&[1.0, 1.0, 0.0, 0.0]);
    let l = binary_cross_entropy(&p, &tg, Sum).unwrap();
    close(l.item().unwrap(), 200.0);
    // and the gradient stays finite: (p - t) / max(p (1 - p), 1e-12)
    let g = l.backward().unwrap().get(&p).unwrap().to_vec_f64();
    assert_eq!(g, vec![-1e12, 0.0, 0.0, 1e12]);
    let e = err(binary_cross_entropy(&t(&[0.5, 1.5]), &t(&[1.0, 0.0]), Mean));
    assert!(e.contains("found 1.5 at flat index 1"), "{e}");
    assert!(binary_cross_entropy(&t(&[f64::NAN]), &t(&[1.0]), Mean).is_err());
    assert!(
        err(binary_cross_entropy(&t(&[0.5]), &t(&[1.0, 0.0]), Mean)).contains("[1] and target [2]")
    );
}

#[test]
fn bce_gradcheck() {
    let p = seeded([2, 3], 1).sigmoid().unwrap();
    let tg = seeded([2, 3], 2).sigmoid().unwrap();
    for r in [Mean, Sum, NoRed] {
        gradcheck(
            "bce",
            |x| binary_cross_entropy(&x[0], &x[1], r),
            &[p.clone(), tg.clone()],
        )
        .unwrap();
    }
}

#[test]
fn bce_with_logits_values_stability_and_gradcheck() {
    // z = 0, t = 1: ln 2 = 0.693147181
    // z = 2, t = 0: ln(1 + e^2) = 2.126928011
    // z = -3, t = 0.5: ln(1 + e^-3) + 1.5 = 1.548587352
    // sum 4.368662544, mean 1.456220848
    let z = t(&[0.0, 2.0, -3.0]);
    let tg = t(&[1.0, 0.0, 0.5]);
    let e = std::f64::consts::E;
    let want = [2f64.ln(), (1.0 + e * e).ln(), (1.0 + e.powi(-3)).ln() + 1.5];
    close_all(
        &vals(binary_cross_entropy_with_logits(&z, &tg, NoRed)),
        &want,
    );
    close(
        val(binary_cross_entropy_with_logits(&z, &tg, Sum)),
        4.368_662_544_1,
    );
    close(
        val(binary_cross_entropy_with_logits(&z, &tg, Mean)),
        4.368_662_544_1 / 3.0,
    );
    // agrees with bce(sigmoid(z)) where sigmoid does not saturate
    let z = seeded([10], 3);
    let tg = seeded([10], 4).sigmoid().unwrap();
    close_all(
        &vals(binary_cross_entropy_with_logits(&z, &tg, NoRed)),
        &vals(binary_cross_entropy(&z.sigmoid().unwrap(), &tg, NoRed)),
    );
    // no overflow for huge scores
    let big = t(&[1000.0, -1000.0, 1000.0]);
    let l = vals(binary_cross_entropy_with_logits(
        &big,
        &t(&[1.0, 0.0, 0.0]),
        NoRed,
    ));
    close_all(&l, &[0.0, 0.0, 1000.0]);
    // gradient sigmoid(z) - t, exact at z = 0: 0.5 - 1 = -0.5
    let z0 = t(&[0.0]).requires_grad_(true).unwrap();
    let g = binary_cross_entropy_with_logits(&z0, &t(&[1.0]), Sum)
        .unwrap()
        .backward()
        .unwrap();
    close(g.get(&z0).unwrap().to_vec_f64()[0], -0.5);
    for r in [Mean, Sum, NoRed] {
        gradcheck(
            "bce_with_logits",
            |x| binary_cross_entropy_with_logits(&x[0], &x[1], r),
            &[
                seeded([3, 2], 5).mul_scalar(3.0).unwrap(),
                seeded([3, 2], 6).sigmoid().unwrap(),
            ],
        )
        .unwrap();
    }
}

#[test]
fn multiclass_hinge_values() {
    // scores [[1, 2, 0.5], [0, -1, 3]], targets [0, 2], margin 1
    // row 0 (y_t = 1): j=1: max(0, 1 - (1 - 2)) = 2; j=2: max(0, 1 - (1 - 0.5)) = 0.5 -> 2.5
    // row 1 (y_t = 3): j=0: max(0, 1 - 3) = 0;       j=1: max(0, 1 - 4) = 0         -> 0
    let y = t2(&[1.0, 2.0, 0.5, 0.0, -1.0, 3.0], 2, 3);
    let tg = labels(&[0, 2]);
    let h = |m, sq, div, r| multiclass_hinge_loss(&y, &tg, m, sq, div, r);
    close_all(&vals(h(1.0, false, false, NoRed)), &[2.5, 0.0]);
    close(val(h(1.0, false, false, Sum)), 2.5);
    close(val(h(1.0, false, false, Mean)), 1.25);
    // squared: row 0: 2^2 + 0.5^2 = 4.25, row 1: 0
    close_all(&vals(h(1.0, true, false, NoRed)), &[4.25, 0.0]);
    close(val(h(1.0, true, false, Mean)), 2.125);
    // PyTorch's MultiMarginLoss divides by K = 3: [2.5/3, 0], mean 2.5/6
    close_all(&vals(h(1.0, false, true, NoRed)), &[2.5 / 3.0, 0.0]);
    close(val(h(1.0, false, true, Mean)), 2.5 / 6.0);
    close(val(h(1.0, true, true, Sum)), 4.25 / 3.0);
    // margin 2: row 0: (2 + 1) + (2 - 0.5) = 4.5; row 1: max(0, 2 - 3) + max(0, 2 - 4) = 0
    close_all(&vals(h(2.0, false, false, NoRed)), &[4.5, 0.0]);
}

#[test]
fn multiclass_hinge_divided_matches_the_pytorch_formula() {
    // torch.nn.MultiMarginLoss(p, margin): loss(x, y) = sum_{i != y} max(0, margin - x[y] + x[i])^p / x.size(0)
    let (n, k) = (6, 4);
    let x = seeded([n, k], 11);
    let tgt: Vec<i64> = (0..n as i64).map(|i| (i * 3) % k as i64).collect();
    let xv = x.to_vec2::<f64>().unwrap();
    for (p, squared) in [(1, false), (2, true)] {
        let margin = 0.7;
        let want: Vec<f64> = (0..n)
            .map(|r| {
                let y = tgt[r] as usize;
                (0..k)
                    .filter(|&i| i != y)
                    .map(|i| (margin - xv[r][y] + xv[r][i]).max(0.0).powi(p))
                    .sum::<f64>()
                    / k as f64
            })
            .collect();
        let got = vals(multiclass_hinge_loss(
            &x,
            &labels(&tgt),
            margin,
            squared,
            true,
            NoRed,
        ));
        close_all(&got, &want);
        let mean = want.iter().sum::<f64>() / n as f64;
        close(
            val(multiclass_hinge_loss(
                &x,
                &labels(&tgt),
                margin,
                squared,
                true,
                Mean,
            )),
            mean,
        );
    }
}

#[test]
fn multiclass_hinge_errors_and_gradcheck() {
    let y = seeded([3, 4], 1);
    let e = err(multiclass_hinge_loss(
        &y,
        &labels(&[0, 4, 1]),
        1.0,
        false,
        false,
        Mean,
    ));
    assert_eq!(
        e,
        "multiclass_hinge_loss: target label 4 (flat index 1) is out of range for 4 classes (0..4)"
    );
    assert!(err(multiclass_hinge_loss(
        &y,
        &labels(&[0, 1]),
        1.0,
        false,
        false,
        Mean
    ))
    .contains("target [2] does not match input: expected [3]"));
    assert!(err(multiclass_hinge_loss(
        &y,
        &t(&[0.0, 1.0, 2.0]),
        1.0,
        false,
        false,
        Mean
    ))
    .contains("int64"));
    assert!(err(multiclass_hinge_loss(
        &seeded([4], 1),
        &labels(&[0]),
        1.0,
        false,
        false,
        Mean
    ))
    .contains("(N, K)"));
    assert!(multiclass_hinge_loss(&y, &labels(&[0, 1, 2]), f64::NAN, false, false, Mean).is_err());
    let tg = labels(&[0, 3, 1]);
    for (sq, div) in [(false, false), (true, false), (false, true), (true, true)] {
        for r in [Mean, Sum, NoRed] {
            gradcheck(
                "multiclass_hinge",
                |x| multiclass_hinge_loss(&x[0], &x[1], 1.0, sq, div, r),
                &[y.clone(), tg.clone()],
            )
            .unwrap();
        }
    }
}

#[test]
fn cross_entropy_and_nll_values() {
    // row 0: logits [0, 0, 0], t = 1: ln 3 = 1.098612289
    // row 1: logits [1, 2, 3], t = 2: ln(e + e^2 + e^3) - 3 = ln(1 + e^-1 + e^-2) = 0.407605964
    // sum 1.506218253, mean 0.753109126
    let y = t2(&[0.0, 0.0, 0.0, 1.0, 2.0, 3.0], 2, 3);
    let tg = labels(&[1, 2]);
    let e = std::f64::consts::E;
    let r1 = (1.0 + 1.0 / e + 1.0 / (e * e)).ln();
    close_all(&vals(cross_entropy(&y, &tg, NoRed)), &[3f64.ln(), r1]);
    close(val(cross_entropy(&y, &tg, Sum)), 1.506_218_253_4);
    close(val(cross_entropy(&y, &tg, Mean)), 1.506_218_253_4 / 2.0);
    // nll: log-probs [[-0.5, -1.2], [-2, -0.1]], targets [0, 0] -> [0.5, 2], mean 1.25
    let lp = t2(&[-0.5, -1.2, -2.0, -0.1], 2, 2);
    close_all(&vals(nll_loss(&lp, &labels(&[0, 0]), NoRed)), &[0.5, 2.0]);
    close(val(nll_loss(&lp, &labels(&[0, 0]), Mean)), 1.25);
    close(val(nll_loss(&lp, &labels(&[1, 0]), Sum)), 3.2);
    // cross_entropy = nll_loss(log_softmax)
    let x = seeded([5, 4], 3);
    let tg = labels(&[0, 3, 2, 1, 3]);
    close(
        val(cross_entropy(&x, &tg, Mean)),
        val(nll_loss(&x.log_softmax(1).unwrap(), &tg, Mean)),
    );
    // soft labels: one-hot probabilities give the same loss as the indices
    let oh = tg.one_hot(4).unwrap().to_dtype(DType::F64).unwrap();
    close_all(
        &vals(cross_entropy(&x, &oh, NoRed)),
        &vals(cross_entropy(&x, &tg, NoRed)),
    );
    // stable for huge logits: [1000, 0] with t = 0 costs ~0, with t = 1 costs 1000
    let big = t2(&[1000.0, 0.0, 1000.0, 0.0], 2, 2);
    close_all(
        &vals(cross_entropy(&big, &labels(&[0, 1]), NoRed)),
        &[0.0, 1000.0],
    );
    // (N, K, d) inputs with (N, d) targets: the same as moving K last and flattening
    let x3 = seeded([2, 3, 4], 8);
    let t3 = Tensor::from_vec(vec![0i64, 1, 2, 0, 2, 2, 1, 0], [2, 4]).unwrap();
    let l3 = cross_entropy(&x3, &t3, NoRed).unwrap();
    assert_eq!(l3.dims(), [2, 4]);
    let flat = x3.permute([0, 2, 1]).unwrap().reshape([8, 3]).unwrap();
    close_all(
        &l3.to_vec_f64(),
        &vals(cross_entropy(&flat, &t3.reshape([8]).unwrap(), NoRed)),
    );
}

#[test]
fn cross_entropy_errors_and_gradchecks() {
    let x = seeded([3, 4], 1);
    let e = err(cross_entropy(&x, &labels(&[0, 7, 1]), Mean));
    assert_eq!(
        e,
        "cross_entropy: target label 7 (flat index 1) is out of range for 4 classes (0..4)"
    );
    assert!(err(cross_entropy(&x, &labels(&[0, -1, 1]), Mean)).contains("label -1"));
    assert!(err(cross_entropy(&x, &labels(&[0, 1]), Mean))
        .contains("target [2] does not match input: expected [3]"));
    assert!(err(cross_entropy(&seeded([4], 1), &labels(&[0]), Mean)).contains("(N, K)"));
    assert!(err(cross_entropy(&x, &seeded([3, 5], 1), Mean)).contains("same shape"));
    assert!(err(nll_loss(&x, &labels(&[4, 0, 0]), Mean)).starts_with("nll_loss: target label 4"));
    let tg = labels(&[0, 3, 1]);
    for r in [Mean, Sum, NoRed] {
        gradcheck(
            "cross_entropy",
            |a| cross_entropy(&a[0], &a[1], r),
            &[x.clone(), tg.clone()],
        )
        .unwrap();
        gradcheck(
            "nll_loss",
            |a| nll_loss(&a[0], &a[1], r),
            &[x.clone(), tg.clone()],
        )
        .unwrap();
        let soft = seeded([3, 4], 2).softmax(1).unwrap();
        gradcheck(
            "cross_entropy(soft)",
            |a| cross_entropy(&a[0], &a[1], r),
            &[x.clone(), soft],
        )
        .unwrap();
    }
}

#[test]
fn regression_values() {
    // d = y - t = [-0.5, 0, 2]
    let y = t(&[1.0, 2.0, 3.0]);
    let tg = t(&[1.5, 2.0, 1.0]);
    // squared: [0.25, 0, 4], sum 4.25, mean 1.416666667
    close_all(&vals(mse_loss(&y, &tg, NoRed)), &[0.25, 0.0, 4.0]);
    close(val(mse_loss(&y, &tg, Sum)), 4.25);
    close(val(mse_loss(&y, &tg, Mean)), 4.25 / 3.0);
    // absolute: [0.5, 0, 2], sum 2.5, mean 0.833333333
    close_all(&vals(l1_loss(&y, &tg, NoRed)), &[0.5, 0.0, 2.0]);
    close(val(l1_loss(&y, &tg, Sum)), 2.5);
    close(val(l1_loss(&y, &tg, Mean)), 2.5 / 3.0);
    // pseudo-Huber, delta 1: [sqrt(1.25) - 1, 0, sqrt(5) - 1] = [0.118033989, 0, 1.236067977]
    let ph1 = [1.25f64.sqrt() - 1.0, 0.0, 5f64.sqrt() - 1.0];
    close_all(&vals(pseudo_huber_loss(&y, &tg, 1.0, NoRed)), &ph1);
    close(val(pseudo_huber_loss(&y, &tg, 1.0, Sum)), 1.354_101_966_2);
    close(
        val(pseudo_huber_loss(&y, &tg, 1.0, Mean)),
        1.354_101_966_2 / 3.0,
    );
    // delta 2: 4 (sqrt(1 + (d/2)^2) - 1) = [4 (sqrt(1.0625) - 1), 0, 4 (sqrt 2 - 1)]
    //        = [0.123105626, 0, 1.656854249], sum 1.779959875
    close(val(pseudo_huber_loss(&y, &tg, 2.0, Sum)), 1.779_959_875_1);
    // Huber, delta 1: |d| = [0.5, 0, 2] -> [0.5 * 0.25, 0, 1 * (2 - 0.5)] = [0.125, 0, 1.5]
    close_all(&vals(huber_loss(&y, &tg, 1.0, NoRed)), &[0.125, 0.0, 1.5]);
    close(val(huber_loss(&y, &tg, 1.0, Mean)), 1.625 / 3.0);
    // delta 3: all quadratic: [0.125, 0, 2]
    close(val(huber_loss(&y, &tg, 3.0, Sum)), 2.125);
}

#[test]
fn regression_errors_and_gradchecks() {
    let (y, tg) = (seeded([2, 3], 1), seeded([2, 3], 2));
    assert_eq!(
        err(mse_loss(&y, &seeded([3, 2], 2), Mean)),
        "mse_loss: input [2, 3] and target [3, 2] must have the same shape"
    );
    assert!(err(l1_loss(&y, &seeded([6], 2), Mean)).starts_with("l1_loss: input [2, 3]"));
    assert_eq!(
        err(pseudo_huber_loss(&y, &tg, 0.0, Mean)),
        "pseudo_huber_loss: delta must be positive and finite, got 0"
    );
    assert!(pseudo_huber_loss(&y, &tg, -1.0, Mean).is_err());
    assert!(huber_loss(&y, &tg, f64::NAN, Mean).is_err());
    let it = Tensor::zeros([2, 3], DType::I64).unwrap();
    assert!(err(mse_loss(&y, &it, Mean)).contains("target must be a float tensor, got int64"));
    // f32 target with f64 input is computed in the input's dtype
    assert_eq!(
        mse_loss(&y, &tg.to_f32().unwrap(), Mean).unwrap().dtype(),
        DType::F64
    );
    for r in [Mean, Sum, NoRed] {
        let ins = [y.clone(), tg.clone()];
        gradcheck("mse", |a| mse_loss(&a[0], &a[1], r), &ins).unwrap();
        gradcheck("l1", |a| l1_loss(&a[0], &a[1], r), &ins).unwrap();
        gradcheck(
            "pseudo_huber",
            |a| pseudo_huber_loss(&a[0], &a[1], 0.7, r),
            &ins,
        )
        .unwrap();
        gradcheck("huber", |a| huber_loss(&a[0], &a[1], 0.7, r), &ins).unwrap();
    }
}
