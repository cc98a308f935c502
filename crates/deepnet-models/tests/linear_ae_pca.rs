//! The canon's statement about the linear autoencoder: trained by backpropagation on the squared
//! error, `z = V x`, `x' = U z` converges to PCA's subspace (the decoder's columns span the `K`
//! leading principal directions: every principal angle near zero) and to PCA's reconstruction
//! error. Small synthetic data with a clear spectrum gap, full-batch Adam; a few seconds.

use deepnet_models::{principal_angles, Autoencoder, AutoencoderConfig, Noise, Pca};
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::ParamStore;
use deepnet_tensor::{DType, Generator, Tensor};

/// `n` samples in `d = 8` dimensions: independent factors with standard deviations
/// 3, 2, 0.3, 0.2, ... rotated by a fixed orthogonal matrix and shifted off the origin.
fn data(n: usize) -> Tensor {
    let scales = [3.0, 2.0, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05];
    let d = scales.len();
    let mut g = Generator::new(11);
    let z = Tensor::randn([n, d], DType::F64, &mut g).unwrap();
    let z = z
        .mul(&Tensor::from_vec(scales.to_vec(), [d]).unwrap())
        .unwrap();
    // an orthogonal mixing matrix: the eigenvectors of a random symmetric matrix, via PCA
    let m = Tensor::randn([64, d], DType::F64, &mut g).unwrap();
    let q = Pca::fit(&m, d).unwrap().components().clone();
    let shift = Tensor::from_vec(vec![1.0, -2.0, 0.5, 0.0, 3.0, -1.0, 2.0, 0.5], [d]).unwrap();
    z.matmul(&q).unwrap().add(&shift).unwrap().to_f32().unwrap()
}

#[test]
fn a_linear_autoencoder_learns_the_pca_subspace_and_error() {
    let (n, k) = (512, 2);
    let x = data(n);
    let pca = Pca::fit(&x, k).unwrap();
    let pca_error = pca.fit_error_per_sample();
    assert!(pca.explained_variance_ratio().iter().sum::<f64>() > 0.95);

    let store = ParamStore::new(0);
    let cfg = AutoencoderConfig::preset("linear_ae", 8, k).unwrap();
    let ae = Autoencoder::new(&cfg, &store.root()).unwrap();
    let mut adam = Adam::new(AdamConfig {
        lr: 0.02,
        ..Default::default()
    })
    .unwrap();
    let mut g = Generator::new(0);
    let params = store.trainable();
    let first = ae.objective(&x, &Noise::none(), 0.0, &mut g).unwrap();
    let mut error = first.recon_error_per_image;
    for step in 0..3000 {
        let out = ae.objective(&x, &Noise::none(), 0.0, &mut g).unwrap();
        error = out.recon_error_per_image;
        let grads = out.loss.backward().unwrap();
        adam.step(&params, &grads).unwrap();
        if step == 2000 {
            adam.set_lr(0.002);
        }
    }
    // the error reaches PCA's, the minimum of any rank-2 linear reconstruction
    assert!(
        error < pca_error * 1.01 && error > pca_error * 0.99,
        "autoencoder {error} (from {}) vs PCA {pca_error}",
        first.recon_error_per_image
    );
    // the decoder's columns U: (8, 2) span the two leading principal directions
    let u = store.get("decoder.0.weight").unwrap();
    let angles = principal_angles(&u, &pca.components().t().unwrap()).unwrap();
    assert_eq!(angles.len(), 2);
    assert!(
        angles.iter().all(|&a| a < 0.02),
        "principal angles {angles:?}"
    );
    // (the encoder's rows V converge to the same space only slowly: the loss depends on V's
    // component along a discarded direction j only through its small eigenvalue lambda_j)
}
