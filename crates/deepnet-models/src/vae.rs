//! The variational autoencoder (Kingma and Welling, 2014) with a Bernoulli decoder.
//!
//! An encoder maps an image `x` to the mean `mu` and the log-variance `log sigma^2` of a
//! diagonal Gaussian `q(z|x)`; a code is drawn by the reparameterization
//! `z = mu + sigma * eps`, `eps ~ N(0, I)`, so that the gradient flows through `mu` and `sigma`;
//! the decoder maps `z` to one logit per pixel of a Bernoulli `p(x|z)`. The loss is the negative
//! evidence lower bound, in nats per image:
//!
//! ```text
//! -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))
//!          ~ sum_pixels BCE(logits(z), x)  +  -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
//!            (one sample of z)              (closed form)
//! ```
//!
//! The reconstruction term is the binary cross-entropy of the logits against intensities in
//! `[0, 1]` summed over the pixels (PyTorch's example sums `binary_cross_entropy(sigmoid(.))`;
//! the logits form is the same value computed without overflow).
//!
//! Any model implementing [`VariationalAutoencoder`] trains with the same loss
//! ([`negative_elbo`]) and samples with the same functions ([`sample_prior`], [`latent_walk`]):
//! [`MlpVae`] is PyTorch's classic example; a convolutional VAE is another implementation of the
//! trait.

use crate::shape_check::forward_child;
use deepnet_nn::layers::Linear;
use deepnet_nn::loss::{binary_cross_entropy_with_logits, Reduction};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{no_grad, DType, Device, Error, Generator, Result, Tensor};

/// A VAE: a Gaussian encoder and a Bernoulli decoder over images of one shape. Its
/// [`Module::forward`] is the deterministic reconstruction: the decoder's logits at `z = mu`.
pub trait VariationalAutoencoder: Module {
    /// `x: (N, *sample_shape)` -> `(mu, log_var)`, each `(N, latent_dim)`.
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)>;
    /// `z: (N, latent_dim)` -> Bernoulli logits `(N, *sample_shape)`.
    fn decode(&self, z: &Tensor) -> Result<Tensor>;
    /// The size of the code `z`.
    fn latent_dim(&self) -> usize;
    /// The shape of one image, e.g. `[1, 28, 28]`.
    fn sample_shape(&self) -> &[usize];
    /// The dtype and device a code must have (those of the decoder's parameters).
    fn code_options(&self) -> (DType, Device);
}

/// `z = mu + exp(log_var / 2) * eps`: a draw from `N(mu, diag(exp(log_var)))` that is
/// differentiable in `mu` and `log_var`. Shapes: all three `(N, L)` (any equal shapes).
pub fn reparameterize(mu: &Tensor, log_var: &Tensor, eps: &Tensor) -> Result<Tensor> {
    if mu.dims() != log_var.dims() || mu.dims() != eps.dims() {
        return Err(Error::msg(format!(
            "reparameterize: mu {:?}, log_var {:?} and eps {:?} must have the same shape",
            mu.dims(),
            log_var.dims(),
            eps.dims()
        )));
    }
    mu.add(&log_var.mul_scalar(0.5)?.exp()?.mul(eps)?)
}

/// `KL(N(mu, diag(exp(log_var))) || N(0, I)) = -1/2 sum_j (1 + log_var_j - mu_j^2 -
/// exp(log_var_j))`, per sample, in nats. Shapes: `mu, log_var: (N, L)` -> `(N,)`.
pub fn kl_to_standard_normal(mu: &Tensor, log_var: &Tensor) -> Result<Tensor> {
    if mu.rank() != 2 || mu.dims() != log_var.dims() {
        return Err(Error::msg(format!(
            "kl_to_standard_normal: mu {:?} and log_var {:?} must both be (N, L)",
            mu.dims(),
            log_var.dims()
        )));
    }
    let inner = log_var
        .add_scalar(1.0)?
        .sub(&mu.square()?)?
        .sub(&log_var.exp()?)?;
    inner.sum(1usize, false)?.mul_scalar(-0.5)
}

/// `-log p(x|z)` of a Bernoulli decoder, per sample, in nats: the binary cross-entropy of the
/// logits against `x` (intensities in `[0, 1]`) summed over everything but the batch dimension.
/// Shapes: `logits, x: (N, *)`, the same number of elements per sample -> `(N,)`.
pub fn bernoulli_nll(logits: &Tensor, x: &Tensor) -> Result<Tensor> {
    let n = logits.dims().first().copied().unwrap_or(0);
    if x.dims().first() != Some(&n) || x.numel() != logits.numel() || n == 0 {
        return Err(Error::msg(format!(
            "bernoulli_nll: logits {:?} and images {:?} must be non-empty batches of the same size",
            logits.dims(),
            x.dims()
        )));
    }
    let x = x.reshape(logits.dims())?;
    binary_cross_entropy_with_logits(logits, &x, Reduction::None)?
        .reshape([n as isize, -1])?
        .sum(1usize, false)
}

/// The terms of the negative ELBO of one batch.
#[derive(Clone, Debug)]
pub struct NegativeElbo {
    /// the mean over the batch of `recon + kl`, a scalar with its graph: the loss to minimize,
    /// in nats per image
    pub loss: Tensor,
    /// `-log p(x|z)` per image `(N,)`, for one sampled `z`
    pub recon: Tensor,
    /// `KL(q(z|x) || N(0, I))` per image `(N,)`
    pub kl: Tensor,
    /// the encoder's means `(N, L)`
    pub mu: Tensor,
}

/// The negative ELBO of `x: (N, *sample_shape)` (intensities in `[0, 1]`) with one code per
/// image drawn from `q(z|x)` using `gen`; the noise is made on the device and in the dtype of
/// the encoder's output, so the same generator state gives the same draw everywhere.
pub fn negative_elbo(
    vae: &dyn VariationalAutoencoder,
    x: &Tensor,
    gen: &mut Generator,
) -> Result<NegativeElbo> {
    let (mu, log_var) = vae.encode(x)?;
    let eps = Tensor::randn(mu.dims(), mu.dtype(), gen)?.to_device(mu.device())?;
    let z = reparameterize(&mu, &log_var, &eps)?;
    let recon = bernoulli_nll(&vae.decode(&z)?, x)?;
    let kl = kl_to_standard_normal(&mu, &log_var)?;
    let loss = recon.add(&kl)?.mean_all()?;
    Ok(NegativeElbo {
        loss,
        recon,
        kl,
        mu,
    })
}

/// The squared reconstruction error per image, summed over the pixels, of the deterministic
/// reconstruction `sigmoid(decode(mu(x)))` (the measure the plain autoencoders report as
/// `recon_error_per_image`). Shapes: `x: (N, *sample_shape)` -> `(N,)`. No graph is built.
pub fn squared_error_per_image(vae: &dyn VariationalAutoencoder, x: &Tensor) -> Result<Tensor> {
    let _g = no_grad();
    let n = x.dims().first().copied().unwrap_or(0) as isize;
    let (mu, _) = vae.encode(x)?;
    let r = vae.decode(&mu)?.sigmoid()?;
    r.sub(&x.reshape(r.dims())?)?
        .square()?
        .reshape([n, -1])?
        .sum(1usize, false)
}

/// `n` images `(n, *sample_shape)` in `[0, 1]` from the prior: `sigmoid(decode(z))` with
/// `z ~ N(0, I)` drawn from `gen` (the pixel means of `p(x|z)`, not binary draws). No graph.
pub fn sample_prior(
    vae: &dyn VariationalAutoencoder,
    n: usize,
    gen: &mut Generator,
) -> Result<Tensor> {
    if n == 0 {
        return Err(Error::msg("vae sample_prior: asked for 0 samples"));
    }
    let _g = no_grad();
    let (dtype, device) = vae.code_options();
    let z = Tensor::randn([n, vae.latent_dim()], dtype, gen)?.to_device(device)?;
    vae.decode(&z)?.sigmoid()
}

/// A walk in code space from image `a` to image `b` (each `(*sample_shape)` or
/// `(1, *sample_shape)`, intensities in `[0, 1]`): their means `mu_a`, `mu_b`, the `steps` codes
/// `mu_a + t (mu_b - mu_a)` for `t = 0, 1/(steps-1), ..., 1`, decoded. Returns
/// `(steps, *sample_shape)` in `[0, 1]`. No graph.
pub fn latent_walk(
    vae: &dyn VariationalAutoencoder,
    a: &Tensor,
    b: &Tensor,
    steps: usize,
) -> Result<Tensor> {
    if steps < 2 {
        return Err(Error::msg(format!(
            "vae latent_walk: needs at least 2 steps (both ends), got {steps}"
        )));
    }
    let _g = no_grad();
    let shape = vae.sample_shape();
    let one = |t: &Tensor, which: &str| -> Result<Tensor> {
        if t.numel() != shape.iter().product::<usize>() {
            return Err(Error::msg(format!(
                "vae latent_walk: image {which} has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        let mut s = vec![1];
        s.extend_from_slice(shape);
        Ok(vae.encode(&t.reshape(s)?)?.0)
    };
    let (ma, mb) = (one(a, "a")?, one(b, "b")?);
    let ts: Vec<f64> = (0..steps).map(|i| i as f64 / (steps - 1) as f64).collect();
    let t = Tensor::from_vec(ts, [steps, 1])?
        .to_dtype(ma.dtype())?
        .to_device(ma.device())?;
    // (steps, 1) * (1, L) broadcasts to (steps, L)
    let z = ma.add(&t.mul(&mb.sub(&ma)?)?)?;
    vae.decode(&z)?.sigmoid()
}

/// The shape of an [`MlpVae`].
#[derive(Clone, Debug, PartialEq)]
pub struct MlpVaeConfig {
    /// the shape of one image, e.g. `[1, 28, 28]`; the encoder sees it flattened
    pub sample_shape: Vec<usize>,
    /// the width of the encoder's and the decoder's hidden layer
    pub hidden: usize,
    /// the size of the code
    pub latent: usize,
}

impl Default for MlpVaeConfig {
    /// PyTorch's example: 784-400-20-400-784 on 1x28x28 images.
    fn default() -> Self {
        MlpVaeConfig {
            sample_shape: vec![1, 28, 28],
            hidden: 400,
            latent: 20,
        }
    }
}

/// PyTorch's classic VAE example (`examples/vae/main.py`), with its keys:
///
/// | key | layer | shape |
/// |---|---|---|
/// | `fc1` | Linear(D, H), ReLU | encoder hidden |
/// | `fc21` | Linear(H, L) | `mu` |
/// | `fc22` | Linear(H, L) | `log sigma^2` |
/// | `fc3` | Linear(L, H), ReLU | decoder hidden |
/// | `fc4` | Linear(H, D) | pixel logits |
///
/// `D` is the number of pixels (784); the default `H = 400`, `L = 20` has 652,824 parameters.
/// The example applies a sigmoid after `fc4`; here `fc4` gives logits and the loss applies the
/// sigmoid inside the stable binary cross-entropy.
pub struct MlpVae {
    fc1: Linear,
    fc21: Linear,
    fc22: Linear,
    fc3: Linear,
    fc4: Linear,
    cfg: MlpVaeConfig,
    path: String,
}

impl MlpVae {
    /// Builds the layers under `pb` (`fc1.weight`, ..., `fc4.bias`) with PyTorch's default
    /// initialization. Sizes of 0, or a code larger than the input, are errors.
    pub fn new(cfg: &MlpVaeConfig, pb: &ParamBuilder) -> Result<Self> {
        let d: usize = cfg.sample_shape.iter().product();
        if d == 0 || cfg.hidden == 0 || cfg.latent == 0 {
            return Err(Error::msg(format!(
                "vae: image shape {:?}, hidden size {} and code size {} must all be at least 1",
                cfg.sample_shape, cfg.hidden, cfg.latent
            )));
        }
        if cfg.latent > d {
            return Err(Error::msg(format!(
                "vae: a code of {} units is larger than the {d}-pixel input",
                cfg.latent
            )));
        }
        Ok(MlpVae {
            fc1: Linear::new(d, cfg.hidden, true, &pb.push("fc1"))?,
            fc21: Linear::new(cfg.hidden, cfg.latent, true, &pb.push("fc21"))?,
            fc22: Linear::new(cfg.hidden, cfg.latent, true, &pb.push("fc22"))?,
            fc3: Linear::new(cfg.latent, cfg.hidden, true, &pb.push("fc3"))?,
            fc4: Linear::new(cfg.hidden, d, true, &pb.push("fc4"))?,
            cfg: cfg.clone(),
            path: pb.path().to_string(),
        })
    }

    fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }
}

impl VariationalAutoencoder for MlpVae {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let d: usize = self.cfg.sample_shape.iter().product();
        let n = x.dims().first().copied().unwrap_or(0);
        if x.rank() < 2 || x.numel() != n * d {
            return Err(Error::msg(format!(
                "vae encode: input {:?} is not a batch of {:?} images ({d} values each)",
                x.dims(),
                self.cfg.sample_shape
            )));
        }
        let h = forward_child(&self.fc1, &self.child("fc1"), &x.reshape([n, d])?)?.relu()?;
        let mu = forward_child(&self.fc21, &self.child("fc21"), &h)?;
        let log_var = forward_child(&self.fc22, &self.child("fc22"), &h)?;
        Ok((mu, log_var))
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        if z.rank() != 2 || z.dims()[1] != self.cfg.latent {
            return Err(Error::msg(format!(
                "vae decode: codes {:?} are not (N, {})",
                z.dims(),
                self.cfg.latent
            )));
        }
        let h = forward_child(&self.fc3, &self.child("fc3"), z)?.relu()?;
        let logits = forward_child(&self.fc4, &self.child("fc4"), &h)?;
        let mut shape = vec![z.dims()[0]];
        shape.extend_from_slice(&self.cfg.sample_shape);
        logits.reshape(shape)
    }

    fn latent_dim(&self) -> usize {
        self.cfg.latent
    }

    fn sample_shape(&self) -> &[usize] {
        &self.cfg.sample_shape
    }

    fn code_options(&self) -> (DType, Device) {
        let w = self.fc3.weight();
        (w.dtype(), w.device())
    }
}

impl Module for MlpVae {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (mu, _) = self.encode(x)?;
        self.decode(&mu)
    }

    fn describe(&self) -> String {
        format!(
            "MlpVae({}-{}-{}-{}-{})",
            self.fc1.in_features(),
            self.cfg.hidden,
            self.cfg.latent,
            self.cfg.hidden,
            self.fc4.out_features()
        )
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("fc1".into(), &self.fc1 as &dyn Module),
            ("fc21".into(), &self.fc21),
            ("fc22".into(), &self.fc22),
            ("fc3".into(), &self.fc3),
            ("fc4".into(), &self.fc4),
        ]
    }
}

#[cfg(test)]
#[path = "vae_tests.rs"]
mod tests;
