//! Scoring generated images with a classifier (Salimans et al., 2016): the Inception Score
//!
//! ```text
//! IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x)
//! ```
//!
//! over the classifier's `K` classes, and the share of the samples predicted as each class. IS
//! is 1 when every image gets the same prediction (or no confident one) and `K` when every image
//! is classified with certainty and the classes are equally frequent: it rewards images that
//! are recognizable and varied. On MNIST the classifier is a LeNet-5 trained on the real digits
//! instead of the Inception network; the class shares show which digits a generator neglects
//! (mode collapse). Here the expectation is over all `N` samples at once (one split); the
//! original averages ten splits of 5,000, which gives a slightly lower figure.

use crate::{Result, TrainError};
use deepnet_nn::Module;
use deepnet_tensor::{no_grad, Tensor};

/// What [`inception_score`] measures.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleScore {
    /// `exp(E_x KL(p(y|x) || p(y)))`, in `[1, K]`
    pub inception_score: f64,
    /// for each class, the fraction of samples whose most probable class it is
    pub class_shares: Vec<f64>,
    /// the marginal `p(y)`, the mean of the predicted distributions
    pub marginal: Vec<f64>,
    /// the number of samples
    pub count: usize,
}

/// The Inception Score and class shares of predicted distributions `probs: (N, K)` (each row
/// non-negative and summing to 1; `0 log 0 = 0`). Computed in f64 on the host, so the result does
/// not depend on the number of threads. Rows that are not distributions are an error naming the
/// row.
pub fn inception_score(probs: &Tensor) -> Result<SampleScore> {
    let &[n, k] = probs.dims() else {
        return Err(TrainError::Config(format!(
            "inception score: probabilities must be (N, K), got shape {:?}",
            probs.dims()
        )));
    };
    if n == 0 || k == 0 {
        return Err(TrainError::Config(format!(
            "inception score: no samples or no classes in shape {:?}",
            probs.dims()
        )));
    }
    let p = probs.to_vec_f64();
    for (i, row) in p.chunks_exact(k).enumerate() {
        let sum: f64 = row.iter().sum();
        if row.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || (sum - 1.0).abs() > 1e-3 {
            return Err(TrainError::Config(format!(
                "inception score: row {i} is not a probability distribution (sum {sum}, values \
                 {row:?})"
            )));
        }
    }
    let mut marginal = vec![0.0; k];
    let mut counts = vec![0usize; k];
    for row in p.chunks_exact(k) {
        for (m, v) in marginal.iter_mut().zip(row) {
            *m += v / n as f64;
        }
        // ties go to the first class, as argmax does
        let best = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        counts[best] += 1;
    }
    let shares = counts.iter().map(|&c| c as f64 / n as f64).collect();
    let mean_kl = p
        .chunks_exact(k)
        .map(|row| {
            row.iter()
                .zip(&marginal)
                .filter(|(v, _)| **v > 0.0)
                .map(|(v, m)| v * (v.ln() - m.ln()))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    Ok(SampleScore {
        inception_score: mean_kl.exp(),
        class_shares: shares,
        marginal,
        count: n,
    })
}

/// The classifier's softmax probabilities `(N, K)` for `images: (N, *)` (already normalized as
/// the classifier expects), in evaluation mode, without a graph, `batch` images at a time.
pub fn predict_probs(classifier: &dyn Module, images: &Tensor, batch: usize) -> Result<Tensor> {
    let n = images.dims().first().copied().unwrap_or(0);
    if n == 0 || batch == 0 {
        return Err(TrainError::Config(format!(
            "predict_probs: {n} images in batches of {batch}: nothing to classify"
        )));
    }
    let _g = no_grad();
    classifier.set_training(false);
    let mut parts = Vec::new();
    for start in (0..n).step_by(batch) {
        let x = images.narrow(0, start, batch.min(n - start))?;
        let logits = classifier.forward(&x)?;
        if logits.rank() != 2 {
            return Err(TrainError::Config(format!(
                "predict_probs: the classifier gave {:?}, expected (N, classes) logits",
                logits.dims()
            )));
        }
        parts.push(logits.to_f64()?.softmax(1usize)?);
    }
    Ok(Tensor::cat(&parts, 0usize)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(rows: &[Vec<f64>]) -> Tensor {
        let k = rows[0].len();
        Tensor::from_vec(rows.concat(), [rows.len(), k]).unwrap()
    }

    fn one_hot(class: usize, k: usize) -> Vec<f64> {
        (0..k).map(|j| if j == class { 1.0 } else { 0.0 }).collect()
    }

    #[test]
    fn uniform_predictions_score_1_and_confident_balanced_ones_score_k() {
        let uniform = probs(&vec![vec![0.1; 10]; 50]);
        let s = inception_score(&uniform).unwrap();
        assert!((s.inception_score - 1.0).abs() < 1e-12);
        // a uniform row's argmax is its first class
        assert_eq!(s.class_shares[0], 1.0);
        let balanced: Vec<Vec<f64>> = (0..100).map(|i| one_hot(i % 10, 10)).collect();
        let s = inception_score(&probs(&balanced)).unwrap();
        assert!(
            (s.inception_score - 10.0).abs() < 1e-9,
            "{}",
            s.inception_score
        );
        assert!(s.class_shares.iter().all(|&c| (c - 0.1).abs() < 1e-12));
        assert_eq!(s.count, 100);
        // confident but collapsed onto one class: no variety, IS 1
        let collapsed = probs(&vec![one_hot(3, 10); 20]);
        let s = inception_score(&collapsed).unwrap();
        assert!((s.inception_score - 1.0).abs() < 1e-12);
        assert_eq!(s.class_shares[3], 1.0);
    }

    #[test]
    fn a_hand_computed_case() {
        // p(y) = (0.5, 0.5); KL of each row = 0.9 ln 1.8 + 0.1 ln 0.2; shares 1/2 each
        let s = inception_score(&probs(&[vec![0.9, 0.1], vec![0.1, 0.9]])).unwrap();
        let kl = 0.9 * 1.8f64.ln() + 0.1 * 0.2f64.ln();
        assert!((s.inception_score - kl.exp()).abs() < 1e-12);
        assert_eq!(s.class_shares, [0.5, 0.5]);
        assert_eq!(s.marginal, [0.5, 0.5]);
        // three confident classes out of ten used equally: IS 3
        let three: Vec<Vec<f64>> = (0..30).map(|i| one_hot(2 * (i % 3), 10)).collect();
        let s = inception_score(&probs(&three)).unwrap();
        assert!((s.inception_score - 3.0).abs() < 1e-9);
    }

    #[test]
    fn bad_probabilities_are_named() {
        let e = inception_score(&probs(&[vec![0.5, 0.6]]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 0") && e.contains("sum 1.1"), "{e}");
        let e = inception_score(&Tensor::from_vec(vec![1.0f64], [1]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("(N, K)"), "{e}");
        let e = inception_score(&probs(&[vec![1.0, 0.0], vec![f64::NAN, 1.0]]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1"), "{e}");
    }

    #[test]
    fn predict_probs_batches_a_classifier() {
        struct Doubler;
        impl Module for Doubler {
            fn forward(&self, x: &Tensor) -> deepnet_tensor::Result<Tensor> {
                x.mul_scalar(2.0)
            }
        }
        let x = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0, 0.0], [4, 2]).unwrap();
        let p = predict_probs(&Doubler, &x, 3).unwrap();
        assert_eq!(p.dims(), [4, 2]);
        let v = p.to_vec_f64();
        let s = 1.0 / (1.0 + (-2f64).exp());
        assert!((v[1] - s).abs() < 1e-7 && (v[4] - 0.5).abs() < 1e-12);
        let s = inception_score(&p).unwrap();
        assert_eq!(s.class_shares, [0.75, 0.25]);
        assert!(predict_probs(&Doubler, &x, 0).is_err());
    }
}
