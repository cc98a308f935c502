//! What `train`, `sample` and `score` share about the generative models: their names, the spec
//! of each recipe (what a weights file records), building a model from a spec, and loading one
//! from a weights file.

use super::common::{msg, CliResult, ModelSpec, WeightsFile};
use deepnet::models::vae::{latent_walk, sample_prior};
use deepnet::models::{
    ConvVae, ConvVaeConfig, DcganConfig, Gan, MlpGanConfig, MlpVae, MlpVaeConfig,
    VariationalAutoencoder,
};
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::{Generator, Tensor};
use std::path::Path;

/// The generative models of `--model`.
pub const GENERATIVE_MODELS: &[&str] = &["vae", "conv_vae", "gan", "dcgan"];

/// A generative model, rebuilt from a spec.
pub enum Generative {
    /// a variational autoencoder (samples from the prior, walks between codes)
    Vae(Box<dyn VariationalAutoencoder>),
    /// a generator/discriminator pair (samples from the generator)
    Gan(Gan),
}

/// The spec of `name`'s recipe on images of shape `input` with a code of `code` units (default:
/// 20 for the VAEs, PyTorch's example; 100 for the GANs). The DCGAN's `hidden` are its
/// generator's channels at a quarter and at half the image size (its discriminator's, reversed);
/// the convolutional VAE's its two convolutions' channels and its dense width.
pub fn recipe_spec(name: &str, code: Option<usize>, input: Vec<usize>) -> CliResult<ModelSpec> {
    let (hidden, activation, dropout, default_code) = match name {
        "vae" => (vec![400], "relu", 0.0, 20),
        "conv_vae" => (vec![32, 64, 256], "relu", 0.0, 20),
        "gan" => (vec![256, 512, 1024], "leaky_relu", 0.3, 100),
        "dcgan" => (vec![64, 32], "leaky_relu", 0.0, 100),
        other => return Err(format!("--model {other}: not a generative model")),
    };
    let code = code.unwrap_or(default_code);
    let pixels: usize = input.iter().product();
    if code == 0 {
        return Err("--code: expected at least 1".into());
    }
    if name.ends_with("vae") && code > pixels {
        return Err(format!(
            "--code {code}: a VAE code larger than the {pixels}-pixel input ({input:?}) is not a \
             compression"
        ));
    }
    Ok(ModelSpec {
        name: name.into(),
        input,
        classes: 0,
        hidden,
        activation: activation.into(),
        dropout,
        init: "default".into(),
        arch: None,
        code: Some(code),
        code_activation: None,
        output: None,
    })
}

impl Generative {
    /// Builds the model of `spec` (written by [`recipe_spec`]) with its parameters in `store`.
    pub fn build(spec: &ModelSpec, store: &ParamStore) -> CliResult<Generative> {
        let code = spec
            .code
            .ok_or_else(|| format!("model {}: the spec has no code size", spec.name))?;
        match spec.name.as_str() {
            "vae" => {
                let &[hidden] = spec.hidden.as_slice() else {
                    return Err(format!(
                        "vae: one hidden width expected, the spec has {:?}",
                        spec.hidden
                    ));
                };
                let cfg = MlpVaeConfig {
                    sample_shape: spec.input.clone(),
                    hidden,
                    latent: code,
                };
                let vae = MlpVae::new(&cfg, &store.root()).map_err(msg)?;
                Ok(Generative::Vae(Box::new(vae)))
            }
            "conv_vae" => {
                let &[c1, c2, hidden] = spec.hidden.as_slice() else {
                    return Err(format!(
                        "conv_vae: two channel counts and a width expected, the spec has {:?}",
                        spec.hidden
                    ));
                };
                let cfg = ConvVaeConfig {
                    sample_shape: spec.input.clone(),
                    channels: (c1, c2),
                    hidden,
                    latent: code,
                };
                let vae = ConvVae::new(&cfg, &store.root()).map_err(msg)?;
                Ok(Generative::Vae(Box::new(vae)))
            }
            "gan" => {
                let cfg = MlpGanConfig {
                    latent: code,
                    sample_shape: spec.input.clone(),
                    generator_hidden: spec.hidden.clone(),
                    discriminator_hidden: spec.hidden.iter().rev().copied().collect(),
                    negative_slope: 0.2,
                    discriminator_dropout: spec.dropout,
                };
                Ok(Generative::Gan(Gan::mlp(&cfg, &store.root()).map_err(msg)?))
            }
            "dcgan" => {
                let &[c1, c2] = spec.hidden.as_slice() else {
                    return Err(format!(
                        "dcgan: two generator channel counts expected, the spec has {:?}",
                        spec.hidden
                    ));
                };
                let cfg = DcganConfig {
                    latent: code,
                    sample_shape: spec.input.clone(),
                    generator_channels: (c1, c2),
                    discriminator_channels: (c2, c1),
                    negative_slope: 0.2,
                };
                Ok(Generative::Gan(
                    Gan::dcgan(&cfg, &store.root()).map_err(msg)?,
                ))
            }
            other => Err(format!(
                "model {other} cannot sample: it is not one of the generative models ({})",
                GENERATIVE_MODELS.join(", ")
            )),
        }
    }

    /// The model as a module (for the training mode).
    pub fn module(&self) -> &dyn Module {
        match self {
            Generative::Vae(v) => v.as_ref(),
            Generative::Gan(g) => g,
        }
    }

    /// The shape of one image.
    pub fn sample_shape(&self) -> &[usize] {
        match self {
            Generative::Vae(v) => v.sample_shape(),
            Generative::Gan(g) => g.sample_shape(),
        }
    }

    /// `n` images `(n, *sample_shape)` in `[0, 1]`: the VAE's decoded prior draws (pixel
    /// means), the GAN generator's images.
    pub fn sample(&self, n: usize, gen: &mut Generator) -> CliResult<Tensor> {
        match self {
            Generative::Vae(v) => sample_prior(v.as_ref(), n, gen),
            Generative::Gan(g) => g.sample(n, gen),
        }
        .map_err(msg)
    }

    /// The decoded walk from image `a` to image `b` in `steps` codes (VAE only: a GAN has no
    /// encoder to find an image's code).
    pub fn walk(&self, a: &Tensor, b: &Tensor, steps: usize) -> CliResult<Tensor> {
        match self {
            Generative::Vae(v) => latent_walk(v.as_ref(), a, b, steps).map_err(msg),
            Generative::Gan(_) => Err(
                "--walk: a GAN has no encoder to find the codes of two images; walks need a vae"
                    .into(),
            ),
        }
    }
}

/// The error for a weights file whose model (`name`) cannot sample.
pub fn cannot_sample(weights: &Path, name: &str) -> String {
    format!(
        "{}: holds a {name} model, which cannot sample; deepnet sample needs a generative model \
         ({})",
        weights.display(),
        GENERATIVE_MODELS.join(", ")
    )
}

/// The generative model of a weights file written by `deepnet train --model vae|conv_vae|gan|dcgan` (read
/// as `file` from `weights`), in evaluation mode. A file of another model is an error naming it.
pub fn load_generative(file: &WeightsFile, weights: &Path) -> CliResult<Generative> {
    if !GENERATIVE_MODELS.contains(&file.spec.name.as_str()) {
        return Err(cannot_sample(weights, &file.spec.name));
    }
    let store = ParamStore::new(0);
    let model =
        Generative::build(&file.spec, &store).map_err(|e| format!("{}: {e}", weights.display()))?;
    store
        .load_state_dict(&file.tensors, true)
        .map_err(|e| format!("{}: {e}", weights.display()))?;
    model.module().set_training(false);
    Ok(model)
}
