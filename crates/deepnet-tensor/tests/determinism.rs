//! Kernel results are bit-identical whatever the number of threads. Every input is large enough
//! to take the parallel paths (elementwise and reductions above 32768 elements, matmul above 48^3
//! multiply-adds).

use deepnet_tensor::{with_num_threads, DType, Generator, Result, Tensor};

/// Thread counts compared with the single-threaded result.
const THREADS: [usize; 2] = [2, 4];

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), DType::F32, &mut Generator::new(seed)).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Runs `f` on 1 thread and on each of [`THREADS`], and asserts every output is bit-identical.
fn assert_deterministic(name: &str, f: impl Fn() -> Result<Vec<Tensor>> + Sync) {
    let run = |n: usize| -> Vec<Vec<u32>> {
        let outs = with_num_threads(n, &f).unwrap().unwrap();
        outs.iter().map(bits).collect()
    };
    let base = run(1);
    assert!(base.iter().all(|o| !o.is_empty()), "{name}: empty output");
    for n in THREADS {
        let other = run(n);
        assert_eq!(base.len(), other.len());
        for (k, (a, b)) in base.iter().zip(&other).enumerate() {
            assert_eq!(a.len(), b.len(), "{name} output {k}: lengths differ");
            if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                panic!(
                    "{name} output {k}: element {i} is {} on 1 thread but {} on {n} threads",
                    f32::from_bits(a[i]),
                    f32::from_bits(b[i])
                );
            }
        }
    }
}

/// Broadcasting add of a (1024, 1024) matrix and a (1024,) row.
#[test]
fn broadcast_add() {
    let (a, b) = (randn(&[1024, 1024], 1), randn(&[1024], 2));
    assert_deterministic("add", || Ok(vec![a.add(&b)?]));
}

/// Unary exp on a non-contiguous (transposed) view.
#[test]
fn exp_of_transposed_view() {
    let a = randn(&[700, 300], 3);
    assert_deterministic("exp_t", || Ok(vec![a.t()?.exp()?]));
}

/// A full sum of 3M elements (many blocks summed in parallel, combined in order).
#[test]
fn sum_all_of_3m_elements() {
    let a = randn(&[3_000_000], 4);
    assert_deterministic("sum_all", || Ok(vec![a.sum_all()?, a.mean_all()?]));
}

/// Sums over dim 0 (column path) and dim 1 (row path) of a (2048, 1500) tensor.
#[test]
fn sum_over_each_dim() {
    let a = randn(&[2048, 1500], 5);
    assert_deterministic("sum_dims", || Ok(vec![a.sum(0, false)?, a.sum(1, false)?]));
}

/// Softmax over the last dim of (512, 1000).
#[test]
fn softmax_last_dim() {
    let a = randn(&[512, 1000], 6);
    assert_deterministic("softmax", || Ok(vec![a.softmax(-1)?]));
}

/// A (300, 700) @ (700, 500) f32 product, and a batched (16, 64, 64) product.
#[test]
fn matmuls() {
    let (a, b) = (randn(&[300, 700], 7), randn(&[700, 500], 8));
    let (p, q) = (randn(&[16, 64, 64], 9), randn(&[16, 64, 64], 10));
    assert_deterministic("matmul", || Ok(vec![a.matmul(&b)?, p.matmul(&q)?]));
}

/// Forward and full backward of a small MLP: (256,784) @ (784,256) + b, relu, @ (256,10),
/// log_softmax, mean.
#[test]
fn mlp_forward_and_backward() {
    let x = randn(&[256, 784], 11);
    let w1 = randn(&[784, 256], 12).mul_scalar(0.05).unwrap();
    let b1 = randn(&[256], 13);
    let w2 = randn(&[256, 10], 14).mul_scalar(0.1).unwrap();
    for p in [&w1, &b1, &w2] {
        p.requires_grad_(true).unwrap();
    }
    assert_deterministic("mlp", || {
        let h = x.matmul(&w1)?.add(&b1)?.relu()?;
        let loss = h.matmul(&w2)?.log_softmax(-1)?.mean_all()?;
        let g = loss.backward()?;
        let grad = |t: &Tensor| g.get(t).cloned().expect("gradient present");
        Ok(vec![loss.detach(), grad(&w1), grad(&b1), grad(&w2)])
    });
}
