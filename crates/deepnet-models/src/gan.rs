//! Generative adversarial networks (Goodfellow et al., 2014): a generator `G` maps codes
//! `z ~ N(0, I)` to images, a discriminator `D` scores images as real (high logit) or generated.
//!
//! # The losses
//!
//! The game of the paper is the minimax problem
//!
//! ```text
//! min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]
//! ```
//!
//! with `D(.) = sigmoid(logit)`. The discriminator's side is a binary classification of real
//! (label 1) against generated (label 0) images: [`discriminator_loss`] is the binary
//! cross-entropy of both halves. The generator's side, read literally, minimizes
//! `E_z[log(1 - D(G(z)))]` ([`GeneratorLoss::Minimax`]). Early in training `D` rejects the
//! generated images with confidence, `D(G(z))` is near 0, and there `log(1 - sigmoid(l))` is flat
//! in the logit `l` (its derivative is `-sigmoid(l)`, near 0): the generator learns nothing
//! exactly when it is worst. The paper's remedy, used by every practical GAN, is the
//! *non-saturating* loss: maximize `log D(G(z))` instead, i.e. minimize
//! `-log sigmoid(l)` = the binary cross-entropy of the fakes against the label 1
//! ([`GeneratorLoss::NonSaturating`], the default). Its derivative `sigmoid(l) - 1` is near -1
//! where the minimax one vanishes; both have the same fixed point (`D = 1/2` everywhere, the
//! generator's distribution equal to the data's).
//!
//! # Images
//!
//! A generator ends in `tanh`: its images are in `[-1, 1]`. Real data in `[0, 1]` is mapped there
//! with [`to_tanh_range`] before the discriminator sees it, and samples come back with
//! [`from_tanh_range`]. Any generator/discriminator pair with this contract is a [`Gan`]:
//! [`Gan::mlp`] builds the MLP pair; a DCGAN is another pair given to [`Gan::build`], trained by
//! the same step.

use crate::shape_check::forward_child;
use deepnet_nn::layers::{Dropout, LeakyReLU, Linear, Sequential, Tanh};
use deepnet_nn::loss::{binary_cross_entropy_with_logits, Reduction};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{no_grad, DType, Device, Error, Generator, Result, Tensor};

/// The generator's objective (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GeneratorLoss {
    /// minimize `-log D(G(z))` (strong gradients while `D` wins; the practical choice)
    #[default]
    NonSaturating,
    /// minimize `log(1 - D(G(z)))`, the literal minimax game (vanishing gradients early on)
    Minimax,
}

/// The discriminator's loss: `BCE(real_logits, 1) + BCE(fake_logits, 0)`, each the mean over
/// its batch, i.e. `-E[log D(x)] - E[log(1 - D(G(z)))]`. Shapes: `(N,)` or `(N, 1)` logits
/// (the two batches may differ in size).
pub fn discriminator_loss(real_logits: &Tensor, fake_logits: &Tensor) -> Result<Tensor> {
    let real =
        binary_cross_entropy_with_logits(real_logits, &real_logits.ones_like()?, Reduction::Mean)?;
    let fake =
        binary_cross_entropy_with_logits(fake_logits, &fake_logits.zeros_like()?, Reduction::Mean)?;
    real.add(&fake)
}

/// The generator's loss on the discriminator's logits for generated images, the mean over the
/// batch: `-log sigmoid(l)` (non-saturating) or `log(1 - sigmoid(l)) = -softplus(l)` (minimax).
pub fn generator_loss(fake_logits: &Tensor, kind: GeneratorLoss) -> Result<Tensor> {
    match kind {
        GeneratorLoss::NonSaturating => binary_cross_entropy_with_logits(
            fake_logits,
            &fake_logits.ones_like()?,
            Reduction::Mean,
        ),
        GeneratorLoss::Minimax => fake_logits.softplus()?.mean_all()?.neg(),
    }
}

/// `2x - 1`: intensities in `[0, 1]` to a tanh generator's range `[-1, 1]`.
pub fn to_tanh_range(x: &Tensor) -> Result<Tensor> {
    x.mul_scalar(2.0)?.sub_scalar(1.0)
}

/// `(x + 1) / 2`, clamped to `[0, 1]`: a tanh generator's images back to intensities.
pub fn from_tanh_range(x: &Tensor) -> Result<Tensor> {
    x.add_scalar(1.0)?
        .mul_scalar(0.5)?
        .clamp(Some(0.0), Some(1.0))
}

/// A generator and a discriminator over images of one shape, built under the parameter paths
/// `generator` and `discriminator` (so one `state_dict` holds both, and an optimizer of each
/// can pick its own).
///
/// Contract: `generator: z (N, latent_dim) -> (N, *sample_shape)` in `[-1, 1]`;
/// `discriminator: (N, *sample_shape) -> logits (N, 1)` or `(N,)`.
pub struct Gan {
    /// `G`
    pub generator: Box<dyn Module>,
    /// `D`
    pub discriminator: Box<dyn Module>,
    latent_dim: usize,
    sample_shape: Vec<usize>,
    generator_path: String,
    discriminator_path: String,
    dtype: DType,
    device: Device,
}

impl Gan {
    /// Builds `G` with `make_generator(pb.push("generator"))` and `D` with
    /// `make_discriminator(pb.push("discriminator"))`. Codes get the store's dtype and device.
    pub fn build(
        pb: &ParamBuilder,
        latent_dim: usize,
        sample_shape: &[usize],
        make_generator: impl FnOnce(&ParamBuilder) -> Result<Box<dyn Module>>,
        make_discriminator: impl FnOnce(&ParamBuilder) -> Result<Box<dyn Module>>,
    ) -> Result<Gan> {
        if latent_dim == 0 || sample_shape.is_empty() || sample_shape.contains(&0) {
            return Err(Error::msg(format!(
                "gan: code size {latent_dim} and image shape {sample_shape:?} must be non-empty"
            )));
        }
        let (gp, dp) = (pb.push("generator"), pb.push("discriminator"));
        Ok(Gan {
            generator: make_generator(&gp)?,
            discriminator: make_discriminator(&dp)?,
            latent_dim,
            sample_shape: sample_shape.to_vec(),
            generator_path: gp.path().to_string(),
            discriminator_path: dp.path().to_string(),
            dtype: pb.store().dtype(),
            device: pb.store().device(),
        })
    }

    /// The MLP pair of `cfg` (see [`MlpGanConfig`]).
    pub fn mlp(cfg: &MlpGanConfig, pb: &ParamBuilder) -> Result<Gan> {
        Gan::build(
            pb,
            cfg.latent,
            &cfg.sample_shape,
            |p| Ok(Box::new(MlpGenerator::new(cfg, p)?)),
            |p| Ok(Box::new(MlpDiscriminator::new(cfg, p)?)),
        )
    }

    /// The size of the code `z`.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// The shape of one image.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// The parameter path of the generator (`generator` at the root).
    pub fn generator_path(&self) -> &str {
        &self.generator_path
    }

    /// The parameter path of the discriminator.
    pub fn discriminator_path(&self) -> &str {
        &self.discriminator_path
    }

    /// `n` codes `z ~ N(0, I)`, `(n, latent_dim)`, from `gen`, in the parameters' dtype and on
    /// their device.
    pub fn codes(&self, n: usize, gen: &mut Generator) -> Result<Tensor> {
        Tensor::randn([n, self.latent_dim], self.dtype, gen)?.to_device(self.device)
    }

    /// `G(z)`, in `[-1, 1]`, with its graph; checks the code and image shapes.
    pub fn generate(&self, z: &Tensor) -> Result<Tensor> {
        if z.rank() != 2 || z.dims()[1] != self.latent_dim {
            return Err(Error::msg(format!(
                "gan generate: codes {:?} are not (N, {})",
                z.dims(),
                self.latent_dim
            )));
        }
        let x = self.generator.forward(z)?;
        if &x.dims()[1..] != self.sample_shape.as_slice() {
            return Err(Error::msg(format!(
                "gan generate: the generator made {:?}, expected (N, {:?})",
                x.dims(),
                self.sample_shape
            )));
        }
        Ok(x)
    }

    /// `D`'s logits for images in `[-1, 1]`, flattened to `(N,)`.
    pub fn discriminate(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dims().first().copied().unwrap_or(0);
        let l = self.discriminator.forward(x)?;
        if l.numel() != n {
            return Err(Error::msg(format!(
                "gan discriminate: {n} images gave logits {:?}; expected one per image",
                l.dims()
            )));
        }
        l.reshape([n])
    }

    /// `n` images `(n, *sample_shape)` in `[0, 1]` from codes drawn with `gen`. No graph; the
    /// modules' training/evaluation mode is the caller's.
    pub fn sample(&self, n: usize, gen: &mut Generator) -> Result<Tensor> {
        if n == 0 {
            return Err(Error::msg("gan sample: asked for 0 samples"));
        }
        let _g = no_grad();
        from_tanh_range(&self.generate(&self.codes(n, gen)?)?)
    }
}

impl Module for Gan {
    /// The generator: `z (N, latent_dim)` -> images in `[-1, 1]`.
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        self.generate(z)
    }

    fn set_training(&self, on: bool) {
        self.generator.set_training(on);
        self.discriminator.set_training(on);
    }

    fn describe(&self) -> String {
        format!(
            "Gan(latent={}, image={:?})",
            self.latent_dim, self.sample_shape
        )
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("generator".into(), self.generator.as_ref()),
            ("discriminator".into(), self.discriminator.as_ref()),
        ]
    }
}

/// The shape of the MLP GAN. The default is the common MNIST recipe: `G` 100-256-512-1024-784,
/// `D` 784-1024-512-256-1, LeakyReLU(0.2) in both, `tanh` out of `G`, dropout 0.3 in `D`.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpGanConfig {
    /// the size of the code
    pub latent: usize,
    /// the shape of one image
    pub sample_shape: Vec<usize>,
    /// `G`'s hidden widths, code to image
    pub generator_hidden: Vec<usize>,
    /// `D`'s hidden widths, image to logit
    pub discriminator_hidden: Vec<usize>,
    /// the negative slope of the LeakyReLUs
    pub negative_slope: f64,
    /// dropout (drop probability) after each of `D`'s hidden activations; 0 = none
    pub discriminator_dropout: f64,
}

impl Default for MlpGanConfig {
    fn default() -> Self {
        MlpGanConfig {
            latent: 100,
            sample_shape: vec![1, 28, 28],
            generator_hidden: vec![256, 512, 1024],
            discriminator_hidden: vec![1024, 512, 256],
            negative_slope: 0.2,
            discriminator_dropout: 0.3,
        }
    }
}

/// Linear layers of `sizes` under `pb` (`main.0`, `main.2`, ...), with a LeakyReLU (and dropout)
/// after each but the last.
fn mlp_stack(
    pb: &ParamBuilder,
    sizes: &[usize],
    slope: f64,
    dropout: f64,
    what: &str,
) -> Result<Sequential> {
    if sizes.contains(&0) {
        return Err(Error::msg(format!(
            "gan {what}: layer sizes {sizes:?} must all be at least 1"
        )));
    }
    let mp = pb.push("main");
    let mut main = Sequential::new(&mp);
    for (i, w) in sizes.windows(2).enumerate() {
        main.push(Linear::new(w[0], w[1], true, &mp.push(main.len()))?);
        if i + 2 < sizes.len() {
            main.push(LeakyReLU::new(slope));
            if dropout > 0.0 {
                let p = mp.push(main.len());
                main.push(Dropout::new(dropout, &p)?);
            }
        }
    }
    Ok(main)
}

/// The MLP generator: `z (N, latent)` -> `Linear, LeakyReLU` per hidden width -> `Linear, tanh`
/// -> `(N, *sample_shape)` in `[-1, 1]`. Keys `main.0.weight`, `main.2.weight`, ...
pub struct MlpGenerator {
    main: Sequential,
    latent: usize,
    sample_shape: Vec<usize>,
    path: String,
}

impl MlpGenerator {
    /// Builds the layers under `pb`.
    pub fn new(cfg: &MlpGanConfig, pb: &ParamBuilder) -> Result<Self> {
        let mut sizes = vec![cfg.latent];
        sizes.extend(&cfg.generator_hidden);
        sizes.push(cfg.sample_shape.iter().product());
        let mut main = mlp_stack(pb, &sizes, cfg.negative_slope, 0.0, "generator")?;
        main.push(Tanh);
        Ok(MlpGenerator {
            main,
            latent: cfg.latent,
            sample_shape: cfg.sample_shape.clone(),
            path: pb.path().to_string(),
        })
    }
}

impl Module for MlpGenerator {
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        if z.rank() != 2 || z.dims()[1] != self.latent {
            return Err(Error::msg(format!(
                "gan generator: codes {:?} are not (N, {})",
                z.dims(),
                self.latent
            )));
        }
        let y = forward_child(&self.main, &format!("{}.main", self.path), z)?;
        let mut shape = vec![z.dims()[0]];
        shape.extend_from_slice(&self.sample_shape);
        y.reshape(shape)
    }

    fn set_training(&self, on: bool) {
        self.main.set_training(on);
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("main".into(), &self.main as &dyn Module)]
    }
}

/// The MLP discriminator: `(N, *sample_shape)` flattened -> `Linear, LeakyReLU, Dropout` per
/// hidden width -> `Linear` -> logits `(N, 1)`. Keys `main.0.weight`, `main.3.weight`, ...
/// (with dropout) or `main.0`, `main.2`, ... (without).
pub struct MlpDiscriminator {
    main: Sequential,
    pixels: usize,
    path: String,
}

impl MlpDiscriminator {
    /// Builds the layers under `pb`.
    pub fn new(cfg: &MlpGanConfig, pb: &ParamBuilder) -> Result<Self> {
        let pixels = cfg.sample_shape.iter().product();
        let mut sizes = vec![pixels];
        sizes.extend(&cfg.discriminator_hidden);
        sizes.push(1);
        let main = mlp_stack(
            pb,
            &sizes,
            cfg.negative_slope,
            cfg.discriminator_dropout,
            "discriminator",
        )?;
        Ok(MlpDiscriminator {
            main,
            pixels,
            path: pb.path().to_string(),
        })
    }
}

impl Module for MlpDiscriminator {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dims().first().copied().unwrap_or(0);
        if x.numel() != n * self.pixels || x.rank() < 2 {
            return Err(Error::msg(format!(
                "gan discriminator: input {:?} is not a batch of {}-pixel images",
                x.dims(),
                self.pixels
            )));
        }
        forward_child(
            &self.main,
            &format!("{}.main", self.path),
            &x.reshape([n, self.pixels])?,
        )
    }

    fn set_training(&self, on: bool) {
        self.main.set_training(on);
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("main".into(), &self.main as &dyn Module)]
    }
}

#[cfg(test)]
#[path = "gan_tests.rs"]
mod tests;
