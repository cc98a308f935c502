//! The deep convolutional GAN (Radford, Metz and Chintala, 2016), sized for small images such as
//! MNIST's 1x28x28: a generator that grows a `(C1, H/4, W/4)` map by two stride-2 transposed
//! convolutions, and a discriminator that shrinks the image by two stride-2 convolutions.
//!
//! ```text
//! G: z (N, latent) -> fc: Linear(latent, C1*H/4*W/4, no bias) -> reshape (N, C1, H/4, W/4)
//!    -> main: BatchNorm2d(C1), ReLU,
//!             ConvTranspose2d(C1, C2, 4, stride 2, pad 1, no bias)      -> (N, C2, H/2, W/2)
//!             BatchNorm2d(C2), ReLU,
//!             ConvTranspose2d(C2, channels, 4, stride 2, pad 1), Tanh  -> (N, channels, H, W)
//! D: x (N, channels, H, W)
//!    -> main: Conv2d(channels, D1, 4, stride 2, pad 1), LeakyReLU(0.2)  -> (N, D1, H/2, W/2)
//!             Conv2d(D1, D2, 4, stride 2, pad 1, no bias), BatchNorm2d(D2), LeakyReLU(0.2)
//!             Flatten, Linear(D2*H/4*W/4, 1)                           -> logits (N, 1)
//! ```
//!
//! The paper's rules are kept: strided (transposed) convolutions instead of pooling, batch norm
//! in both networks but not on `G`'s output nor `D`'s input, ReLU in `G` and LeakyReLU in `D`,
//! `tanh` out of `G`. Like [`Gan::mlp`], the generator's images are in `[-1, 1]`, so the pair
//! trains with the same step and samples with [`Gan::sample`] (intensities in `[0, 1]`). Keys
//! follow PyTorch's `state_dict` of the same modules: `generator.fc.weight`,
//! `generator.main.0.running_mean`, `generator.main.2.weight`, ..., `discriminator.main.6.bias`.
//! Layers without a bias are those followed by batch norm, whose shift makes a bias redundant.

use crate::gan::Gan;
use crate::shape_check::forward_child;
use deepnet_nn::layers::{
    BatchNorm2d, BatchNormConfig, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig,
    Flatten, LeakyReLU, Linear, ReLU, Sequential, Tanh,
};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The shape of a DCGAN. The default is the MNIST recipe of `deepnet train --model dcgan`:
/// code 100, `G` channels 64 -> 32, `D` channels 32 -> 64, images 1x28x28 (half the widths of
/// the usual 128/64, so that an epoch of MNIST takes minutes on two CPU cores).
#[derive(Clone, Debug, PartialEq)]
pub struct DcganConfig {
    /// the size of the code
    pub latent: usize,
    /// the shape of one image `(channels, H, W)`, `H` and `W` multiples of 4
    pub sample_shape: Vec<usize>,
    /// `G`'s channels at `H/4` and at `H/2`
    pub generator_channels: (usize, usize),
    /// `D`'s channels at `H/2` and at `H/4`
    pub discriminator_channels: (usize, usize),
    /// the negative slope of `D`'s LeakyReLUs
    pub negative_slope: f64,
}

impl Default for DcganConfig {
    fn default() -> Self {
        DcganConfig {
            latent: 100,
            sample_shape: vec![1, 28, 28],
            generator_channels: (64, 32),
            discriminator_channels: (32, 64),
            negative_slope: 0.2,
        }
    }
}

impl DcganConfig {
    /// `(channels, H/4, W/4)`, or an error naming what is wrong with the shape.
    fn base(&self) -> Result<(usize, usize, usize)> {
        let bad = |why: &str| {
            Err(Error::msg(format!(
                "dcgan: image shape {:?} (code {}, G channels {:?}, D channels {:?}): {why}",
                self.sample_shape,
                self.latent,
                self.generator_channels,
                self.discriminator_channels
            )))
        };
        let &[c, h, w] = self.sample_shape.as_slice() else {
            return bad("expected (channels, H, W)");
        };
        if c == 0 || h == 0 || w == 0 || h % 4 != 0 || w % 4 != 0 {
            return bad("expected at least one channel and H, W positive multiples of 4");
        }
        let (g, d) = (self.generator_channels, self.discriminator_channels);
        if self.latent == 0 || g.0 == 0 || g.1 == 0 || d.0 == 0 || d.1 == 0 {
            return bad("the code size and every channel count must be at least 1");
        }
        Ok((c, h / 4, w / 4))
    }
}

/// A 4x4, stride-2, pad-1 window: halves (convolution) or doubles (transposed) `H` and `W`.
fn down(bias: bool) -> Conv2dConfig {
    Conv2dConfig {
        stride: (2, 2),
        padding: (1, 1),
        bias,
        ..Default::default()
    }
}

fn up(bias: bool) -> ConvTranspose2dConfig {
    ConvTranspose2dConfig {
        stride: (2, 2),
        padding: (1, 1),
        bias,
        ..Default::default()
    }
}

impl Gan {
    /// The DCGAN pair of `cfg` (see the [module documentation](crate::dcgan)).
    pub fn dcgan(cfg: &DcganConfig, pb: &ParamBuilder) -> Result<Gan> {
        cfg.base()?;
        Gan::build(
            pb,
            cfg.latent,
            &cfg.sample_shape,
            |p| Ok(Box::new(DcganGenerator::new(cfg, p)?)),
            |p| Ok(Box::new(DcganDiscriminator::new(cfg, p)?)),
        )
    }
}

/// The DCGAN generator: `z (N, latent)` -> images `(N, channels, H, W)` in `[-1, 1]`.
/// Keys `fc.weight`, `main.0.*` (batch norm), `main.2.weight`, `main.3.*`, `main.5.weight`,
/// `main.5.bias`.
pub struct DcganGenerator {
    fc: Linear,
    main: Sequential,
    latent: usize,
    /// `(C1, H/4, W/4)`, the map `fc`'s output is reshaped to
    base: [usize; 3],
    path: String,
}

impl DcganGenerator {
    /// Builds the layers under `pb`.
    pub fn new(cfg: &DcganConfig, pb: &ParamBuilder) -> Result<Self> {
        let (c, h4, w4) = cfg.base()?;
        let (c1, c2) = cfg.generator_channels;
        let fc = Linear::new(cfg.latent, c1 * h4 * w4, false, &pb.push("fc"))?;
        let mp = pb.push("main");
        let mut main = Sequential::new(&mp);
        main.push(BatchNorm2d::new(
            c1,
            BatchNormConfig::default(),
            &mp.push(0),
        )?);
        main.push(ReLU);
        main.push(ConvTranspose2d::new(
            c1,
            c2,
            (4, 4),
            up(false),
            &mp.push(2),
        )?);
        main.push(BatchNorm2d::new(
            c2,
            BatchNormConfig::default(),
            &mp.push(3),
        )?);
        main.push(ReLU);
        main.push(ConvTranspose2d::new(c2, c, (4, 4), up(true), &mp.push(5))?);
        main.push(Tanh);
        Ok(DcganGenerator {
            fc,
            main,
            latent: cfg.latent,
            base: [c1, h4, w4],
            path: pb.path().to_string(),
        })
    }
}

impl Module for DcganGenerator {
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        if z.rank() != 2 || z.dims()[1] != self.latent {
            return Err(Error::msg(format!(
                "dcgan generator: codes {:?} are not (N, {})",
                z.dims(),
                self.latent
            )));
        }
        let h = forward_child(&self.fc, &format!("{}.fc", self.path), z)?;
        let [c1, h4, w4] = self.base;
        let h = h.reshape([z.dims()[0], c1, h4, w4])?;
        forward_child(&self.main, &format!("{}.main", self.path), &h)
    }

    fn set_training(&self, on: bool) {
        self.main.set_training(on);
    }

    fn describe(&self) -> String {
        format!(
            "DcganGenerator(latent={}, base={:?})",
            self.latent, self.base
        )
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("fc".into(), &self.fc as &dyn Module),
            ("main".into(), &self.main as &dyn Module),
        ]
    }
}

/// The DCGAN discriminator: images `(N, channels, H, W)` -> logits `(N, 1)`. Keys
/// `main.0.weight`, `main.0.bias`, `main.2.weight`, `main.3.*` (batch norm), `main.6.weight`,
/// `main.6.bias`.
pub struct DcganDiscriminator {
    main: Sequential,
    sample_shape: Vec<usize>,
    path: String,
}

impl DcganDiscriminator {
    /// Builds the layers under `pb`.
    pub fn new(cfg: &DcganConfig, pb: &ParamBuilder) -> Result<Self> {
        let (c, h4, w4) = cfg.base()?;
        let (d1, d2) = cfg.discriminator_channels;
        let mp = pb.push("main");
        let mut main = Sequential::new(&mp);
        main.push(Conv2d::new(c, d1, (4, 4), down(true), &mp.push(0))?);
        main.push(LeakyReLU::new(cfg.negative_slope));
        main.push(Conv2d::new(d1, d2, (4, 4), down(false), &mp.push(2))?);
        main.push(BatchNorm2d::new(
            d2,
            BatchNormConfig::default(),
            &mp.push(3),
        )?);
        main.push(LeakyReLU::new(cfg.negative_slope));
        main.push(Flatten::new(1, -1));
        main.push(Linear::new(d2 * h4 * w4, 1, true, &mp.push(6))?);
        Ok(DcganDiscriminator {
            main,
            sample_shape: cfg.sample_shape.clone(),
            path: pb.path().to_string(),
        })
    }
}

impl Module for DcganDiscriminator {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() != 4 || x.dims()[1..] != self.sample_shape[..] {
            return Err(Error::msg(format!(
                "dcgan discriminator: input {:?} is not (N, {:?})",
                x.dims(),
                self.sample_shape
            )));
        }
        forward_child(&self.main, &format!("{}.main", self.path), x)
    }

    fn set_training(&self, on: bool) {
        self.main.set_training(on);
    }

    fn describe(&self) -> String {
        format!("DcganDiscriminator(image={:?})", self.sample_shape)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("main".into(), &self.main as &dyn Module)]
    }
}

#[cfg(test)]
#[path = "dcgan_tests.rs"]
mod tests;
