//! A convolutional variational autoencoder with a Bernoulli decoder: the [`MlpVae`]'s
//! objective ([`negative_elbo`]) with strided convolutions in the encoder and transposed
//! convolutions in the decoder, for images whose height and width are multiples of 4.
//!
//! ```text
//! encoder:       x (N, C, H, W) -> Conv2d(C, C1, 4, stride 2, pad 1), ReLU   -> (N, C1, H/2, W/2)
//!                -> Conv2d(C1, C2, 4, stride 2, pad 1), ReLU                  -> (N, C2, H/4, W/4)
//!                -> Flatten, Linear(C2*H/4*W/4, K), ReLU                      -> (N, K)
//! fc_mu, fc_logvar: Linear(K, L) each                                         -> (N, L) twice
//! decoder_input: z (N, L) -> Linear(L, K), ReLU, Linear(K, C2*H/4*W/4), ReLU  -> (N, C2, H/4, W/4)
//! decoder:       ConvTranspose2d(C2, C1, 4, stride 2, pad 1), ReLU            -> (N, C1, H/2, W/2)
//!                -> ConvTranspose2d(C1, C, 4, stride 2, pad 1)                -> logits (N, C, H, W)
//! ```
//!
//! Keys as PyTorch's `state_dict` of the same modules: `encoder.0.weight`, `encoder.2.weight`,
//! `encoder.5.weight`, `fc_mu.weight`, `fc_logvar.weight`, `decoder_input.0.weight`,
//! `decoder_input.2.weight`, `decoder.0.weight`, `decoder.2.weight` (each with its bias).
//!
//! [`MlpVae`]: crate::vae::MlpVae
//! [`negative_elbo`]: crate::vae::negative_elbo

use crate::shape_check::forward_child;
use crate::vae::VariationalAutoencoder;
use deepnet_nn::layers::{
    Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Flatten, Linear, ReLU, Sequential,
};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{DType, Device, Error, Result, Tensor};

/// The shape of a [`ConvVae`]. The default (`deepnet train --model conv_vae`) is for 1x28x28
/// images: channels 32 and 64, a 256-unit dense layer, a 20-d code (PyTorch's VAE example's).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvVaeConfig {
    /// the shape of one image `(C, H, W)`, `H` and `W` multiples of 4
    pub sample_shape: Vec<usize>,
    /// the channels after the first and the second convolution (`C1`, `C2`)
    pub channels: (usize, usize),
    /// the width `K` of the dense layer on each side of the code
    pub hidden: usize,
    /// the size of the code `L`
    pub latent: usize,
}

impl Default for ConvVaeConfig {
    fn default() -> Self {
        ConvVaeConfig {
            sample_shape: vec![1, 28, 28],
            channels: (32, 64),
            hidden: 256,
            latent: 20,
        }
    }
}

/// The convolutional VAE (see the [module documentation](crate::conv_vae)).
pub struct ConvVae {
    encoder: Sequential,
    fc_mu: Linear,
    fc_logvar: Linear,
    decoder_input: Sequential,
    decoder: Sequential,
    cfg: ConvVaeConfig,
    /// `(C2, H/4, W/4)`, the map the decoder starts from
    base: [usize; 3],
    path: String,
}

impl ConvVae {
    /// Builds the layers under `pb` with PyTorch's default initialization. Sizes of 0, an image
    /// that is not `(C, H, W)` with `H`, `W` multiples of 4, or a code larger than the input
    /// are errors.
    pub fn new(cfg: &ConvVaeConfig, pb: &ParamBuilder) -> Result<Self> {
        let bad = |why: &str| {
            Err(Error::msg(format!(
                "conv_vae: image shape {:?}, channels {:?}, hidden size {}, code size {}: {why}",
                cfg.sample_shape, cfg.channels, cfg.hidden, cfg.latent
            )))
        };
        let &[c, h, w] = cfg.sample_shape.as_slice() else {
            return bad("expected an image shape (C, H, W)");
        };
        let (c1, c2) = cfg.channels;
        if [c, h, w, c1, c2, cfg.hidden, cfg.latent].contains(&0) || h % 4 != 0 || w % 4 != 0 {
            return bad("every size must be at least 1 and H, W multiples of 4");
        }
        if cfg.latent > c * h * w {
            return bad("the code is larger than the input");
        }
        let flat = c2 * (h / 4) * (w / 4);
        // 4x4 windows, stride 2, pad 1: each halves (or doubles) H and W exactly
        let conv = Conv2dConfig {
            stride: (2, 2),
            padding: (1, 1),
            ..Default::default()
        };
        let deconv = ConvTranspose2dConfig {
            stride: (2, 2),
            padding: (1, 1),
            ..Default::default()
        };
        let ep = pb.push("encoder");
        let mut encoder = Sequential::new(&ep);
        encoder.push(Conv2d::new(c, c1, (4, 4), conv, &ep.push(0))?);
        encoder.push(ReLU);
        encoder.push(Conv2d::new(c1, c2, (4, 4), conv, &ep.push(2))?);
        encoder.push(ReLU);
        encoder.push(Flatten::new(1, -1));
        encoder.push(Linear::new(flat, cfg.hidden, true, &ep.push(5))?);
        encoder.push(ReLU);
        let ip = pb.push("decoder_input");
        let mut decoder_input = Sequential::new(&ip);
        decoder_input.push(Linear::new(cfg.latent, cfg.hidden, true, &ip.push(0))?);
        decoder_input.push(ReLU);
        decoder_input.push(Linear::new(cfg.hidden, flat, true, &ip.push(2))?);
        decoder_input.push(ReLU);
        let dp = pb.push("decoder");
        let mut decoder = Sequential::new(&dp);
        decoder.push(ConvTranspose2d::new(c2, c1, (4, 4), deconv, &dp.push(0))?);
        decoder.push(ReLU);
        decoder.push(ConvTranspose2d::new(c1, c, (4, 4), deconv, &dp.push(2))?);
        Ok(ConvVae {
            encoder,
            fc_mu: Linear::new(cfg.hidden, cfg.latent, true, &pb.push("fc_mu"))?,
            fc_logvar: Linear::new(cfg.hidden, cfg.latent, true, &pb.push("fc_logvar"))?,
            decoder_input,
            decoder,
            cfg: cfg.clone(),
            base: [c2, h / 4, w / 4],
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

impl VariationalAutoencoder for ConvVae {
    fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        if x.rank() != 4 || x.dims()[1..] != self.cfg.sample_shape[..] {
            return Err(Error::msg(format!(
                "conv_vae encode: input {:?} is not (N, {:?})",
                x.dims(),
                self.cfg.sample_shape
            )));
        }
        let h = forward_child(&self.encoder, &self.child("encoder"), x)?;
        let mu = forward_child(&self.fc_mu, &self.child("fc_mu"), &h)?;
        let log_var = forward_child(&self.fc_logvar, &self.child("fc_logvar"), &h)?;
        Ok((mu, log_var))
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        if z.rank() != 2 || z.dims()[1] != self.cfg.latent {
            return Err(Error::msg(format!(
                "conv_vae decode: codes {:?} are not (N, {})",
                z.dims(),
                self.cfg.latent
            )));
        }
        let h = forward_child(&self.decoder_input, &self.child("decoder_input"), z)?;
        let [c2, h4, w4] = self.base;
        let h = h.reshape([z.dims()[0], c2, h4, w4])?;
        forward_child(&self.decoder, &self.child("decoder"), &h)
    }

    fn latent_dim(&self) -> usize {
        self.cfg.latent
    }

    fn sample_shape(&self) -> &[usize] {
        &self.cfg.sample_shape
    }

    fn code_options(&self) -> (DType, Device) {
        let w = self.fc_mu.weight();
        (w.dtype(), w.device())
    }
}

impl Module for ConvVae {
    /// The deterministic reconstruction: the decoder's logits at `z = mu(x)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (mu, _) = self.encode(x)?;
        self.decode(&mu)
    }

    fn describe(&self) -> String {
        format!(
            "ConvVae(image={:?}, channels={:?}, hidden={}, latent={})",
            self.cfg.sample_shape, self.cfg.channels, self.cfg.hidden, self.cfg.latent
        )
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("encoder".into(), &self.encoder as &dyn Module),
            ("fc_mu".into(), &self.fc_mu),
            ("fc_logvar".into(), &self.fc_logvar),
            ("decoder_input".into(), &self.decoder_input),
            ("decoder".into(), &self.decoder),
        ]
    }
}

#[cfg(test)]
#[path = "conv_vae_tests.rs"]
mod tests;
