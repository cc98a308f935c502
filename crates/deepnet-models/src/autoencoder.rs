//! Autoencoders: an encoder `z = f(x)` to a code of `K` units and a decoder `x' = g(z)` back to
//! the input, trained to reconstruct the input. One [`Autoencoder`] covers the canon's family:
//!
//! | name | encoder | decoder | loss |
//! |---|---|---|---|
//! | `linear_ae` | `z = V x` | `x' = U z` | squared error |
//! | `ae` (shallow) | `z = sigmoid(V x)` | `x' = sigmoid(U z)` (or `U z`) | cross-entropy (or squared error) |
//! | `deep_ae` | `784-1000-500-250-K`, sigmoid inside, linear code | mirrored, sigmoid output | cross-entropy |
//! | `sparse_ae` | `z = relu(V x)` | `x' = sigmoid(U z)` | cross-entropy `+ lambda sum_i |z_i|` |
//! | `denoising_ae` | `z = sigmoid(V x~)`, `x~` a corrupted `x` | `x' = sigmoid(U z)` | cross-entropy against the clean `x` |
//!
//! (every Linear layer has a bias, as `torch.nn.Linear`; the deep network is Hinton and
//! Salakhutdinov's 2006 MNIST autoencoder, its `z = r(W2 r(W1 x))` form generalized to any
//! depth). Keys are those of a PyTorch module with `self.encoder = nn.Sequential(Linear, act,
//! ...)` and `self.decoder = nn.Sequential(...)`: `encoder.0.weight`, `encoder.2.weight`, ...,
//! `decoder.0.weight`, ... (activations take indices but hold no parameters; the output sigmoid
//! is applied after the decoder's last Linear).
//!
//! Losses are per image: summed over the `D` features, averaged over the batch. With a sigmoid
//! output the loss is the binary cross-entropy computed stably from the decoder's logits
//! (targets are intensities in `[0, 1]`); with a linear output it is the squared error. The
//! figure the canon reports for every model is the squared error per image
//! ([`squared_error_per_image`]), whatever the training loss.
//!
//! The training objective ([`Autoencoder::objective`]) adds the sparse penalty on the code and
//! the denoising corruption ([`Noise`]); the regularized loop is `deepnet_train::ModelStep`.

use crate::mlp::Activation;
use deepnet_nn::layers::{Flatten, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh};
use deepnet_nn::loss::{binary_cross_entropy_with_logits, Reduction};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{no_grad, DType, Error, Generator, Result, Tensor};
use std::str::FromStr;

/// The autoencoders by registry name, for `--model`.
pub const AUTOENCODER_MODELS: &[&str] =
    &["linear_ae", "ae", "deep_ae", "sparse_ae", "denoising_ae"];

/// A code unit counts as "near zero" (inactive) when `|z| <` this, in
/// [`AeObjective::near_zero_fraction`].
pub const NEAR_ZERO: f64 = 1e-3;

/// The decoder's output nonlinearity, and with it the reconstruction loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeOutput {
    /// `x' = U z`, trained with the squared error
    Linear,
    /// `x' = sigmoid(U z)`, trained with the binary cross-entropy (inputs in `[0, 1]`)
    Sigmoid,
}

impl FromStr for AeOutput {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" | "identity" => Ok(AeOutput::Linear),
            "sigmoid" => Ok(AeOutput::Sigmoid),
            _ => Err(Error::msg(format!(
                "unknown autoencoder output \"{s}\" (expected linear or sigmoid)"
            ))),
        }
    }
}

impl AeOutput {
    /// `linear` or `sigmoid`.
    pub fn name(self) -> &'static str {
        match self {
            AeOutput::Linear => "linear",
            AeOutput::Sigmoid => "sigmoid",
        }
    }
}

/// The name of an optional activation: `linear` for none.
pub fn activation_name(a: Option<Activation>) -> &'static str {
    match a {
        None => "linear",
        Some(Activation::Relu) => "relu",
        Some(Activation::Sigmoid) => "sigmoid",
        Some(Activation::Tanh) => "tanh",
        Some(Activation::LeakyRelu) => "leaky_relu",
    }
}

/// Parses an activation name where `linear` (or `none`) means no activation.
pub fn parse_optional_activation(s: &str) -> Result<Option<Activation>> {
    match s {
        "linear" | "none" | "identity" => Ok(None),
        other => other.parse().map(Some).map_err(|_| {
            Error::msg(format!(
                "unknown activation \"{s}\" (expected linear, relu, sigmoid, tanh or leaky_relu)"
            ))
        }),
    }
}

/// The shape of an autoencoder. The decoder mirrors the encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoencoderConfig {
    /// input features `D` (784 for MNIST; inputs `(N, *)` are flattened)
    pub in_features: usize,
    /// the encoder's hidden widths, input side first (empty for a shallow autoencoder)
    pub hidden: Vec<usize>,
    /// the code size `K`
    pub code: usize,
    /// the nonlinearity of the hidden layers (both sides)
    pub activation: Activation,
    /// the code layer's nonlinearity (`None`: a linear code)
    pub code_activation: Option<Activation>,
    /// the decoder's output nonlinearity and loss
    pub output: AeOutput,
}

impl AutoencoderConfig {
    /// The default configuration of a registry name (one of [`AUTOENCODER_MODELS`]) for
    /// `in_features` inputs and a code of `code` units; see the table in the module doc.
    pub fn preset(name: &str, in_features: usize, code: usize) -> Result<Self> {
        let shallow = |code_activation, output| AutoencoderConfig {
            in_features,
            hidden: Vec::new(),
            code,
            activation: Activation::Relu,
            code_activation,
            output,
        };
        Ok(match name {
            "linear_ae" => shallow(None, AeOutput::Linear),
            "ae" | "denoising_ae" => shallow(Some(Activation::Sigmoid), AeOutput::Sigmoid),
            "sparse_ae" => shallow(Some(Activation::Relu), AeOutput::Sigmoid),
            // Hinton and Salakhutdinov's network: logistic hidden layers, which their RBM
            // pretraining (`crate::rbm`) unrolls into
            "deep_ae" => AutoencoderConfig {
                hidden: vec![1000, 500, 250],
                activation: Activation::Sigmoid,
                ..shallow(None, AeOutput::Sigmoid)
            },
            other => {
                return Err(Error::msg(format!(
                    "unknown autoencoder \"{other}\" (expected one of {})",
                    AUTOENCODER_MODELS.join(", ")
                )))
            }
        })
    }

    /// Checks the sizes: every width at least 1, and a code smaller than the input (a code as
    /// large as the input can copy it).
    pub fn validate(&self) -> Result<()> {
        if self.in_features == 0 || self.hidden.contains(&0) {
            return Err(Error::msg(format!(
                "autoencoder: layer sizes must be at least 1, got input {} and hidden {:?}",
                self.in_features, self.hidden
            )));
        }
        if self.code == 0 || self.code >= self.in_features {
            return Err(Error::msg(format!(
                "autoencoder: the code size must be in 1..{} (smaller than the input's {} features), got {}",
                self.in_features, self.in_features, self.code
            )));
        }
        Ok(())
    }
}

/// An autoencoder. `x: (N, *)` with `D` features in total; see the module doc.
pub struct Autoencoder {
    cfg: AutoencoderConfig,
    flatten: Flatten,
    encoder: Sequential,
    decoder: Sequential,
}

/// Pushes `act` (if any) into `seq`.
fn push_activation(seq: &mut Sequential, act: Option<Activation>) {
    match act {
        None => {}
        Some(Activation::Relu) => {
            seq.push(ReLU);
        }
        Some(Activation::Sigmoid) => {
            seq.push(Sigmoid);
        }
        Some(Activation::Tanh) => {
            seq.push(Tanh);
        }
        Some(Activation::LeakyRelu) => {
            seq.push(LeakyReLU::new(0.01));
        }
    }
}

/// `Linear -> act` for each consecutive pair of `widths`; `last` is the activation after the
/// final Linear.
fn stack(
    widths: &[usize],
    act: Activation,
    last: Option<Activation>,
    pb: &ParamBuilder,
) -> Result<Sequential> {
    let mut seq = Sequential::new(pb);
    for (i, w) in widths.windows(2).enumerate() {
        let sub = pb.push(seq.len());
        seq.push(Linear::new(w[0], w[1], true, &sub)?);
        let is_last = i + 2 == widths.len();
        push_activation(&mut seq, if is_last { last } else { Some(act) });
    }
    Ok(seq)
}

impl Autoencoder {
    /// Builds the encoder under `pb.encoder` and the decoder under `pb.decoder`.
    pub fn new(cfg: &AutoencoderConfig, pb: &ParamBuilder) -> Result<Self> {
        cfg.validate()?;
        let mut widths = vec![cfg.in_features];
        widths.extend(&cfg.hidden);
        widths.push(cfg.code);
        let encoder = stack(
            &widths,
            cfg.activation,
            cfg.code_activation,
            &pb.push("encoder"),
        )?;
        widths.reverse();
        let decoder = stack(&widths, cfg.activation, None, &pb.push("decoder"))?;
        Ok(Autoencoder {
            cfg: cfg.clone(),
            flatten: Flatten::new(1, -1),
            encoder,
            decoder,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AutoencoderConfig {
        &self.cfg
    }

    /// `x: (N, *)` as `(N, D)`, or an error naming both feature counts.
    fn rows(&self, x: &Tensor) -> Result<Tensor> {
        let d: usize = x.dims().iter().skip(1).product();
        if x.rank() < 2 || d != self.cfg.in_features {
            return Err(Error::msg(format!(
                "autoencoder: expected samples (N, *) with {} features, got shape {:?}",
                self.cfg.in_features,
                x.dims()
            )));
        }
        self.flatten.forward(x)
    }

    /// The code `z: (N, K)` of `x: (N, *)`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.encoder.forward(&self.rows(x)?)
    }

    /// The decoder's pre-output values `U z (+ b)`: `z: (N, K)` -> `(N, D)` (logits for a
    /// sigmoid output, the reconstruction itself for a linear one).
    pub fn decode_logits(&self, z: &Tensor) -> Result<Tensor> {
        self.decoder.forward(z)
    }

    /// The output nonlinearity applied to [`Autoencoder::decode_logits`].
    pub fn output(&self, logits: &Tensor) -> Result<Tensor> {
        match self.cfg.output {
            AeOutput::Linear => Ok(logits.clone()),
            AeOutput::Sigmoid => logits.sigmoid(),
        }
    }

    /// The reconstruction `x' = g(U z)`: `z: (N, K)` -> `(N, D)`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.output(&self.decode_logits(z)?)
    }

    /// The per-image reconstruction loss of decoder `logits: (N, D)` against `target: (N, *)`:
    /// the squared error (linear output) or the binary cross-entropy (sigmoid output), summed
    /// over the features and averaged over the batch.
    pub fn reconstruction_loss(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        let t = self.rows(target)?;
        let n = t.dims()[0].max(1) as f64;
        let sum = match self.cfg.output {
            AeOutput::Linear => logits.sub(&t)?.square()?.sum_all()?,
            AeOutput::Sigmoid => binary_cross_entropy_with_logits(logits, &t, Reduction::Sum)?,
        };
        sum.div_scalar(n)
    }

    /// The training objective on a clean batch `x: (N, *)`: the input is corrupted by `noise`
    /// (drawing from `g`), encoded and decoded; the loss is the reconstruction loss against
    /// the clean `x` plus `code_l1 * sum_i |z_i|` (per image). Returns the loss with its graph
    /// and the batch's figures.
    pub fn objective(
        &self,
        x: &Tensor,
        noise: &Noise,
        code_l1: f64,
        g: &mut Generator,
    ) -> Result<AeObjective> {
        if !(code_l1 >= 0.0 && code_l1.is_finite()) {
            return Err(Error::msg(format!(
                "autoencoder objective: the code's L1 coefficient must be >= 0, got {code_l1}"
            )));
        }
        let input = noise.corrupt(x, g)?;
        let z = self.encode(&input)?;
        let logits = self.decode_logits(&z)?;
        let mut loss = self.reconstruction_loss(&logits, x)?;
        if code_l1 > 0.0 {
            let n = z.dims()[0].max(1) as f64;
            loss = loss.add(&z.abs()?.sum_all()?.mul_scalar(code_l1 / n)?)?;
        }
        let _g = no_grad();
        let recon = self.output(&logits)?;
        Ok(AeObjective {
            loss,
            recon_error_per_image: squared_error_per_image(&recon, x)?,
            code_l1_per_image: code_l1_per_image(&z)?,
            near_zero_fraction: near_zero_fraction(&z)?,
        })
    }
}

/// What [`Autoencoder::objective`] computed for one batch.
pub struct AeObjective {
    /// the scalar training loss, with its graph
    pub loss: Tensor,
    /// the reconstruction's squared error against the clean input, summed over the features,
    /// mean over the batch
    pub recon_error_per_image: f64,
    /// `sum_i |z_i|`, mean over the batch
    pub code_l1_per_image: f64,
    /// the fraction of code values with `|z| <` [`NEAR_ZERO`]
    pub near_zero_fraction: f64,
}

impl Module for Autoencoder {
    /// The reconstruction of `x: (N, *)`, shaped like `x`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.decode(&self.encode(x)?)?.reshape(x.dims().to_vec())
    }
    fn set_training(&self, training: bool) {
        self.encoder.set_training(training);
        self.decoder.set_training(training);
    }
    fn describe(&self) -> String {
        let mut w = vec![self.cfg.in_features];
        w.extend(&self.cfg.hidden);
        w.push(self.cfg.code);
        let w: Vec<String> = w.iter().map(|v| v.to_string()).collect();
        format!(
            "Autoencoder({}, code {}, output {})",
            w.join("-"),
            activation_name(self.cfg.code_activation),
            self.cfg.output.name()
        )
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("encoder".into(), &self.encoder as &dyn Module),
            ("decoder".into(), &self.decoder as &dyn Module),
        ]
    }
}

/// The squared error of `recon` against `target` (same number of elements, `(N, *)`), summed
/// over each sample's features and averaged over the `N` samples: the canon's "reconstruction
/// error per image" (Hinton and Salakhutdinov 2006: 3.00 for their deep autoencoder, 13.87 for
/// 30-d PCA on MNIST test images in `[0, 1]`).
pub fn squared_error_per_image(recon: &Tensor, target: &Tensor) -> Result<f64> {
    if recon.numel() != target.numel() || target.rank() == 0 {
        return Err(Error::msg(format!(
            "squared_error_per_image: reconstruction {:?} and target {:?} differ in size",
            recon.dims(),
            target.dims()
        )));
    }
    let _g = no_grad();
    let n = target.dims()[0].max(1) as f64;
    let r = recon
        .reshape(target.dims().to_vec())?
        .to_dtype(DType::F64)?;
    Ok(r.sub(&target.to_dtype(DType::F64)?)?
        .square()?
        .sum_all()?
        .item()?
        / n)
}

/// `sum_i |z_i|` per sample of codes `z: (N, K)`, mean over the samples.
pub fn code_l1_per_image(z: &Tensor) -> Result<f64> {
    let _g = no_grad();
    let n = z.dims().first().copied().unwrap_or(1).max(1) as f64;
    Ok(z.abs()?.sum_all()?.item()? / n)
}

/// The fraction of the values of `z` with `|z| <` [`NEAR_ZERO`] (0 for an empty `z`).
pub fn near_zero_fraction(z: &Tensor) -> Result<f64> {
    let _g = no_grad();
    if z.numel() == 0 {
        return Ok(0.0);
    }
    let small = z.abs()?.lt_scalar(NEAR_ZERO)?.to_dtype(DType::F64)?;
    Ok(small.sum_all()?.item()? / z.numel() as f64)
}

/// The corruption of a denoising autoencoder's input: `x~ = m * x + eps` with Gaussian `eps`
/// of standard deviation `std` and a masking mask `m` that zeroes each input with probability
/// `mask_prob` (Vincent et al. 2008). [`Noise::none`] leaves the input as it is. The noisy
/// input is not clipped to `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Noise {
    std: f64,
    mask_prob: f64,
}

impl Noise {
    /// No corruption.
    pub fn none() -> Self {
        Noise::default()
    }

    /// Gaussian noise of standard deviation `std` (>= 0) and masking with probability
    /// `mask_prob` (in `[0, 1)`); bad values are errors naming them.
    pub fn new(std: f64, mask_prob: f64) -> Result<Self> {
        if !(std >= 0.0 && std.is_finite()) {
            return Err(Error::msg(format!(
                "noise: the Gaussian standard deviation must be a finite number >= 0, got {std}"
            )));
        }
        if !(0.0..1.0).contains(&mask_prob) {
            return Err(Error::msg(format!(
                "noise: the masking probability must be in [0, 1), got {mask_prob}"
            )));
        }
        Ok(Noise { std, mask_prob })
    }

    /// The Gaussian standard deviation.
    pub fn std(&self) -> f64 {
        self.std
    }

    /// The masking probability.
    pub fn mask_prob(&self) -> f64 {
        self.mask_prob
    }

    /// Whether this corrupts anything.
    pub fn is_none(&self) -> bool {
        self.std == 0.0 && self.mask_prob == 0.0
    }

    /// The corrupted copy of `x` (no graph: the noise is data), or `x` itself without noise.
    pub fn corrupt(&self, x: &Tensor, g: &mut Generator) -> Result<Tensor> {
        if self.is_none() {
            return Ok(x.clone());
        }
        let _g = no_grad();
        let mut out = x.detach();
        if self.mask_prob > 0.0 {
            let keep = Tensor::bernoulli(x.dims().to_vec(), 1.0 - self.mask_prob, x.dtype(), g)?;
            out = out.mul(&keep)?;
        }
        if self.std > 0.0 {
            let eps = Tensor::randn(x.dims().to_vec(), x.dtype(), g)?;
            out = out.add(&eps.mul_scalar(self.std)?)?;
        }
        Ok(out)
    }
}

/// An autoencoder's figures on a whole data set ([`evaluate_autoencoder`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AeEvaluation {
    /// squared error per image of the reconstructions of the clean inputs
    pub recon_error_per_image: f64,
    /// the fraction of near-zero code values (`|z| <` [`NEAR_ZERO`]) on the clean inputs
    pub near_zero_fraction: f64,
    /// `sum_i |z_i|` per image on the clean inputs
    pub code_l1_per_image: f64,
    /// with noise: the squared error per image of the noisy inputs against the clean ones
    pub noisy_error_per_image: Option<f64>,
    /// with noise: the squared error per image of the reconstructions of the noisy inputs
    /// against the clean ones
    pub denoised_error_per_image: Option<f64>,
}

/// Evaluates `ae` on `x: (N, *)` in batches of `batch_size`, without a graph and in evaluation
/// mode. With `noise`, also corrupts every input (from a generator seeded with `seed`, so the
/// same call gives the same figures) and measures the error before and after denoising.
pub fn evaluate_autoencoder(
    ae: &Autoencoder,
    x: &Tensor,
    batch_size: usize,
    noise: &Noise,
    seed: u64,
) -> Result<AeEvaluation> {
    let _g = no_grad();
    if batch_size == 0 || x.rank() == 0 || x.dims()[0] == 0 {
        return Err(Error::msg(format!(
            "evaluate_autoencoder: need a batch size >= 1 and samples, got {batch_size} and shape {:?}",
            x.dims()
        )));
    }
    ae.set_training(false);
    let n = x.dims()[0];
    let mut g = Generator::new(seed);
    let (mut recon, mut zero, mut l1, mut noisy, mut denoised) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut start = 0;
    while start < n {
        let len = batch_size.min(n - start);
        let xb = x.narrow(0usize, start, len)?;
        let z = ae.encode(&xb)?;
        let w = len as f64;
        recon += w * squared_error_per_image(&ae.decode(&z)?, &xb)?;
        zero += w * near_zero_fraction(&z)?;
        l1 += w * code_l1_per_image(&z)?;
        if !noise.is_none() {
            let xn = noise.corrupt(&xb, &mut g)?;
            noisy += w * squared_error_per_image(&xn, &xb)?;
            denoised += w * squared_error_per_image(&ae.forward(&xn)?, &xb)?;
        }
        start += len;
    }
    let n = n as f64;
    let with_noise = |v: f64| (!noise.is_none()).then_some(v / n);
    Ok(AeEvaluation {
        recon_error_per_image: recon / n,
        near_zero_fraction: zero / n,
        code_l1_per_image: l1 / n,
        noisy_error_per_image: with_noise(noisy),
        denoised_error_per_image: with_noise(denoised),
    })
}

#[cfg(test)]
#[path = "autoencoder_tests.rs"]
mod tests;
