//! End to end: layers + loss + autograd + a hand-written gradient-descent step train a small MLP.

use crate::layers::{Linear, ReLU, Sequential};
use crate::{loss, regularize, Module, ParamStore, Reduction};
use deepnet_tensor::{no_grad, DType, Generator, Result, Tensor};

/// XOR-like data: points uniform in [-1, 1]^2, class 1 when both coordinates have the same sign.
fn xor_data(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut g = Generator::new(seed);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b) = (2.0 * g.next_f64() - 1.0, 2.0 * g.next_f64() - 1.0);
        x.extend([a as f32, b as f32]);
        y.push(i64::from(a * b > 0.0));
    }
    (
        Tensor::from_vec(x, [n, 2]).unwrap(),
        Tensor::from_vec(y, [n]).unwrap(),
    )
}

fn accuracy(logits: &Tensor, y: &Tensor) -> f64 {
    let pred = logits.argmax(1, false).unwrap().to_vec::<i64>().unwrap();
    let y = y.to_vec::<i64>().unwrap();
    pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64
}

#[test]
fn mlp_learns_xor_with_plain_gradient_descent() -> Result<()> {
    let store = ParamStore::new(42);
    let pb = store.root().push("layers");
    let mut net = Sequential::new(&pb);
    net.push(Linear::new(2, 32, true, &pb.push(0))?)
        .push(ReLU)
        .push(Linear::new(32, 2, true, &pb.push(2))?);
    let params: Vec<Tensor> = store.trainable().into_iter().map(|(_, t)| t).collect();
    assert_eq!(params.len(), 4);

    let (x, y) = xor_data(128, 7);
    let lr = 0.5;
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..400 {
        let loss = loss::cross_entropy(&net.forward(&x)?, &y, Reduction::Mean)?;
        last = loss.item()?;
        first.get_or_insert(last);
        let mut grads = loss.backward()?;
        regularize::clip_grad_norm_(&mut grads, &params, 5.0)?;
        let _g = no_grad();
        for p in &params {
            let g = grads.get(p).expect("every parameter gets a gradient");
            p.assign_(&p.sub(&g.mul_scalar(lr)?)?)?;
        }
    }
    let first = first.unwrap();
    assert!(
        (first - 2f64.ln()).abs() < 0.2,
        "an untrained net is near chance: {first}"
    );
    assert!(last < 0.25 * first, "loss {first} -> {last}");
    let acc = accuracy(&net.forward(&x)?, &y);
    assert!(acc > 0.9, "train accuracy {acc}");
    // and it generalizes to fresh points from the same distribution
    let (xt, yt) = xor_data(256, 8);
    let acc = accuracy(&net.forward(&xt)?, &yt);
    assert!(acc > 0.85, "test accuracy {acc}");
    assert_eq!(x.dtype(), DType::F32);
    Ok(())
}
