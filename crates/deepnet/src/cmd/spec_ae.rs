//! The [`ModelSpec`] of the reconstruction models (`pca` and the autoencoders): built from an
//! [`AutoencoderConfig`], and the config back from a weights file's spec.

use super::common::{msg, CliResult, ModelSpec};
use deepnet::models::autoencoder::{self, AutoencoderConfig, AUTOENCODER_MODELS};

impl ModelSpec {
    /// The spec of a reconstruction model: `pca` or one of the autoencoders, whose encoder
    /// hidden widths and activation go in `hidden` and `activation`.
    pub fn reconstruction(
        name: &str,
        input: Vec<usize>,
        cfg: Option<&AutoencoderConfig>,
        code: usize,
    ) -> Self {
        ModelSpec {
            name: name.into(),
            input,
            classes: 0,
            hidden: cfg.map(|c| c.hidden.clone()).unwrap_or_default(),
            activation: cfg
                .map_or("relu", |c| autoencoder::activation_name(Some(c.activation)))
                .into(),
            dropout: 0.0,
            init: "default".into(),
            arch: None,
            code: Some(code),
            code_activation: cfg.map(|c| autoencoder::activation_name(c.code_activation).into()),
            output: cfg.map(|c| c.output.name().into()),
        }
    }

    /// Whether this is `pca` or an autoencoder: a model that reconstructs its input.
    pub fn is_reconstruction(&self) -> bool {
        self.name == "pca" || AUTOENCODER_MODELS.contains(&self.name.as_str())
    }

    /// The autoencoder this spec describes (its name must be one of the autoencoders).
    pub fn autoencoder_config(&self) -> CliResult<AutoencoderConfig> {
        let missing = |f: &str| format!("autoencoder {}: the spec lacks \"{f}\"", self.name);
        let cfg = AutoencoderConfig {
            in_features: self.input.iter().product(),
            hidden: self.hidden.clone(),
            code: self.code.ok_or_else(|| missing("code"))?,
            activation: self.activation.parse().map_err(msg)?,
            code_activation: autoencoder::parse_optional_activation(
                self.code_activation
                    .as_deref()
                    .ok_or_else(|| missing("code_activation"))?,
            )
            .map_err(|e| format!("--code-activation: {e}"))?,
            output: self
                .output
                .as_deref()
                .ok_or_else(|| missing("output"))?
                .parse()
                .map_err(|e| format!("--output: {e}"))?,
        };
        cfg.validate().map_err(|e| format!("--code: {e}"))?;
        Ok(cfg)
    }
}
