//! Autograd engine behaviour: deep graphs, grad mode, accumulation, detach, and error cases.

use deepnet_tensor::{is_grad_enabled, no_grad, set_grad_enabled, DType, Error, Result, Tensor};

fn leaf(v: Vec<f64>) -> Tensor {
    let n = v.len();
    Tensor::from_vec(v, [n])
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

fn grad_of(grads: &deepnet_tensor::GradStore, t: &Tensor) -> Vec<f64> {
    grads
        .get(t)
        .expect("gradient present")
        .to_vec::<f64>()
        .unwrap()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "element {i}: {a} vs {b}"
        );
    }
}

/// A 100,000-op chain runs backward and is dropped on a 256 KiB stack: nothing recurses per node.
#[test]
fn long_chain_backward_and_drop_do_not_recurse() {
    const PAIRS: usize = 50_000; // two ops each
    const C: f64 = 1.000_01;
    let run = || -> Result<()> {
        let x = leaf(vec![0.5]);
        let mut y = x.clone();
        for _ in 0..PAIRS {
            y = y.add_scalar(0.25)?.mul_scalar(C)?;
        }
        let grads = y.sum_all()?.backward()?;
        // dy/dx = C^PAIRS, accumulated one factor at a time as the backward pass does
        let want = (0..PAIRS).fold(1.0f64, |g, _| g * C);
        let got = grads.get(&x).unwrap().item()?;
        assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
        assert_eq!(grads.len(), 1, "only the leaf gets a gradient");
        drop(grads);
        drop(y); // drops the whole 100,000-node graph
        Ok(())
    };
    std::thread::Builder::new()
        .name("small-stack".into())
        .stack_size(256 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .expect("the small-stack thread overflowed or panicked")
        .unwrap();
}

/// Under `no_grad()` ops record no graph; the previous mode comes back when the guard drops.
#[test]
fn no_grad_records_nothing_and_restores_mode() {
    let x = leaf(vec![1.0, 2.0]);
    assert!(is_grad_enabled());
    {
        let _g = no_grad();
        assert!(!is_grad_enabled());
        let y = x.mul_scalar(2.0).unwrap().exp().unwrap();
        assert!(y.grad_fn().is_none());
        assert!(!y.tracks_grad());
        assert!(y.is_leaf());
        assert!(matches!(
            y.sum_all().unwrap().backward(),
            Err(Error::NoGraph)
        ));
        {
            let _on = set_grad_enabled(true); // nested re-enable
            assert!(x.neg().unwrap().grad_fn().is_some());
        }
        assert!(!is_grad_enabled());
    }
    assert!(is_grad_enabled());
    let y = x.mul_scalar(2.0).unwrap();
    assert_eq!(y.grad_fn(), Some("mul_scalar"));
    assert!(y.tracks_grad() && !y.is_leaf());
}

/// A tensor used in several places accumulates its gradient: d(x*x + 3x)/dx = 2x + 3.
#[test]
fn reused_tensor_accumulates_gradients() {
    let xs = vec![-1.5, 0.0, 2.0, 3.25];
    let x = leaf(xs.clone());
    let y = x.mul(&x).unwrap().add(&x.mul_scalar(3.0).unwrap()).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    let want: Vec<f64> = xs.iter().map(|v| 2.0 * v + 3.0).collect();
    assert_close(&grad_of(&grads, &x), &want);
}

/// A diamond through a shared intermediate: h = 2x, out = exp(h) + h², d/dx = 2e^{2x} + 8x.
#[test]
fn diamond_graph_sums_both_paths() {
    let xs = vec![-0.7, 0.1, 1.2];
    let x = leaf(xs.clone());
    let h = x.mul_scalar(2.0).unwrap();
    let a = h.exp().unwrap();
    let b = h.square().unwrap();
    let grads = a.add(&b).unwrap().sum_all().unwrap().backward().unwrap();
    let want: Vec<f64> = xs.iter().map(|v| 2.0 * (2.0 * v).exp() + 8.0 * v).collect();
    assert_close(&grad_of(&grads, &x), &want);
    assert!(
        grads.get(&h).is_none(),
        "intermediates get no stored gradient"
    );
    assert_eq!(grads.len(), 1);
}

/// Two leaves in a diamond each get their own gradient: out = (x*y) + (x+y).
#[test]
fn two_leaves_in_a_diamond() {
    let x = leaf(vec![2.0, -3.0]);
    let y = leaf(vec![5.0, 0.5]);
    let out = x.mul(&y).unwrap().add(&x.add(&y).unwrap()).unwrap();
    let grads = out.sum_all().unwrap().backward().unwrap();
    assert_close(&grad_of(&grads, &x), &[6.0, 1.5]); // y + 1
    assert_close(&grad_of(&grads, &y), &[3.0, -2.0]); // x + 1
}

/// `detach()` cuts the graph: the detached branch acts as a constant sharing the same storage.
#[test]
fn detach_cuts_the_graph() {
    let x = leaf(vec![1.0, 2.0, 3.0]);
    let z = x.mul_scalar(2.0).unwrap().detach();
    assert!(z.is_leaf() && !z.tracks_grad() && z.grad_fn().is_none());
    // out = sum(z * x) with z constant: d/dx = z = 2x (not 4x)
    let grads = z.mul(&x).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad_of(&grads, &x), &[2.0, 4.0, 6.0]);
    assert!(grads.get(&z).is_none());
    let d = x.detach();
    assert!(d.same_storage(&x) && !d.tracks_grad());
    assert!(x.tracks_grad(), "detaching does not change the original");
}

/// `requires_grad_(true)` is refused on integer tensors and on non-leaves.
#[test]
fn requires_grad_errors() {
    let i = Tensor::from_vec(vec![1i64, 2], [2]).unwrap();
    assert!(matches!(i.requires_grad_(true), Err(Error::DType { .. })));
    assert!(i.requires_grad_(false).is_ok());
    let x = leaf(vec![1.0]);
    let y = x.mul_scalar(2.0).unwrap();
    assert!(matches!(
        y.requires_grad_(true),
        Err(Error::InvalidArgument { .. })
    ));
    // the flag is shared by every handle of a leaf
    let a = Tensor::zeros([2], DType::F32).unwrap();
    let b = a.clone();
    a.requires_grad_(true).unwrap();
    assert!(b.requires_grad());
}

/// `backward()` needs a scalar; `backward_with` takes an explicit gradient of the right shape.
#[test]
fn backward_shapes_and_explicit_gradient() {
    let x = leaf(vec![1.0, 2.0, 3.0]);
    let y = x.square().unwrap();
    match y.backward() {
        Err(Error::NonScalarBackward { shape }) => assert_eq!(shape.dims(), &[3]),
        other => panic!("expected NonScalarBackward, got {:?}", other.err()),
    }
    let g = Tensor::from_vec(vec![1.0f64, 0.5, -1.0], [3]).unwrap();
    let grads = y.backward_with(&g).unwrap();
    assert_close(&grad_of(&grads, &x), &[2.0, 2.0, -6.0]); // 2x * g
    let wrong = Tensor::ones([2], DType::F64).unwrap();
    assert!(matches!(
        y.backward_with(&wrong),
        Err(Error::ShapeMismatch { .. })
    ));
    // a one-element, non-0-d output is fine for backward()
    let s = y.sum(0, true).unwrap();
    assert_eq!(s.dims(), &[1]);
    assert_close(&grad_of(&s.backward().unwrap(), &x), &[2.0, 4.0, 6.0]);
}

/// A tensor with no graph (not requiring grad) cannot be back-propagated from.
#[test]
fn backward_without_graph_is_an_error() {
    let c = Tensor::from_vec(vec![1.0f64, 2.0], [2]).unwrap();
    let s = c.exp().unwrap().sum_all().unwrap();
    assert!(matches!(s.backward(), Err(Error::NoGraph)));
    let g = Tensor::ones([2], DType::F64).unwrap();
    assert!(matches!(c.backward_with(&g), Err(Error::NoGraph)));
}

/// Backward can run twice on the same graph and gives the same gradient (the graph is kept).
#[test]
fn backward_twice_is_repeatable() {
    let x = leaf(vec![0.3, -0.4]);
    let out = x.tanh().unwrap().sum_all().unwrap();
    let g1 = grad_of(&out.backward().unwrap(), &x);
    let g2 = grad_of(&out.backward().unwrap(), &x);
    assert_eq!(g1, g2);
}
