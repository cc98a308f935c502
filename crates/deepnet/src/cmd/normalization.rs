//! The input normalization of a run: `(x - mean) / std` with the training split's statistics,
//! one global pair for IDX datasets (as MNIST runs always had) or one pair per channel for image
//! folders and CIFAR-10. `train` records it in `config.json` and in the weights file's metadata
//! (`deepnet.normalize`: `{"mean": m, "std": s}` with numbers for a global pair, lists for
//! per-channel ones), and `eval`, `predict`, `show` and `export` read it back from there.

use super::common::{msg, CliResult};
use deepnet::data::{transforms, Dataset, InMemoryDataset};
use deepnet::tensor::Tensor;
use serde_json::{json, Value};
use std::path::Path;

/// `(x - mean[c]) / std[c]`: one entry for every channel, or a single global one.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    /// the mean of each channel, or one for all
    pub mean: Vec<f32>,
    /// the standard deviation of each channel, or one for all
    pub std: Vec<f32>,
}

impl From<(f32, f32)> for Normalization {
    fn from((mean, std): (f32, f32)) -> Self {
        Normalization {
            mean: vec![mean],
            std: vec![std],
        }
    }
}

impl Normalization {
    /// The statistics of the training images `train` (pixels in [0, 1]): per channel when
    /// `per_channel`, else global. A channel without variation (every pixel equal) cannot be
    /// normalized: an error naming the channel.
    pub fn of_train(train: &InMemoryDataset, per_channel: bool) -> CliResult<Self> {
        let n = if per_channel {
            let (mean, std) =
                transforms::mean_std_per_channel(train.images(), &train.sample_shape())
                    .map_err(msg)?;
            Normalization { mean, std }
        } else {
            transforms::mean_std(train.images()).into()
        };
        if let Some(c) = n.std.iter().position(|s| !(*s > 0.0 && s.is_finite())) {
            return Err(format!(
                "the training images' {} has standard deviation {} (every pixel the same): \
                 they cannot be normalized",
                if per_channel {
                    format!("channel {c}")
                } else {
                    "pixels".into()
                },
                n.std[c]
            ));
        }
        Ok(n)
    }

    /// Whether it changes nothing (mean 0, std 1 everywhere).
    pub fn is_identity(&self) -> bool {
        self.mean.iter().all(|&m| m == 0.0) && self.std.iter().all(|&s| s == 1.0)
    }

    /// Applies it in place to `data` (pixels in [0, 1]).
    pub fn apply(&self, data: &mut InMemoryDataset) -> CliResult<()> {
        let shape = data.sample_shape();
        self.apply_values(data.images_mut(), &shape)
    }

    /// Applies it in place to samples of `sample_shape`, flattened sample-major.
    pub fn apply_values(&self, values: &mut [f32], sample_shape: &[usize]) -> CliResult<()> {
        transforms::normalize_per_channel(values, sample_shape, &self.mean, &self.std).map_err(msg)
    }

    /// Applies it to a batch `(N, C, *)`.
    pub fn apply_tensor(&self, x: &Tensor) -> deepnet::tensor::Result<Tensor> {
        transforms::normalize_tensor(x, &self.mean, &self.std)
            .map_err(|e| deepnet::tensor::Error::msg(e.to_string()))
    }

    /// The JSON kept in `config.json` and `deepnet.normalize`: numbers for a global pair (as
    /// before per-channel statistics existed), lists otherwise.
    pub fn to_json(&self) -> Value {
        if self.mean.len() == 1 {
            json!({"mean": self.mean[0], "std": self.std[0]})
        } else {
            json!({"mean": self.mean, "std": self.std})
        }
    }

    /// Reads [`Normalization::to_json`]'s text back; `source` names the file in errors.
    pub fn from_json(text: &str, source: &Path) -> CliResult<Self> {
        let bad = |m: String| format!("{}: deepnet.normalize: {m}", source.display());
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let stat = |k: &str| -> CliResult<Vec<f32>> {
            let field = v.get(k).ok_or_else(|| bad(format!("lacks \"{k}\"")))?;
            let values: Option<Vec<f32>> = match field {
                Value::Array(a) => a.iter().map(|x| x.as_f64().map(|x| x as f32)).collect(),
                x => x.as_f64().map(|x| vec![x as f32]),
            };
            values
                .filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
                .ok_or_else(|| bad(format!("\"{k}\" must be a number or a list of numbers")))
        };
        let (mean, std) = (stat("mean")?, stat("std")?);
        if mean.len() != std.len() {
            return Err(bad(format!(
                "{} means and {} stds, expected as many of each",
                mean.len(),
                std.len()
            )));
        }
        if let Some(s) = std.iter().find(|s| **s <= 0.0) {
            return Err(bad(format!("std {s} must be positive")));
        }
        Ok(Normalization { mean, std })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_and_per_channel_round_trip_and_apply() {
        let p = Path::new("w.safetensors");
        let g: Normalization = (0.5, 0.25).into();
        assert_eq!(g.to_json().to_string(), r#"{"mean":0.5,"std":0.25}"#);
        assert_eq!(
            Normalization::from_json(&g.to_json().to_string(), p).unwrap(),
            g
        );
        let data = vec![0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5, 0.5];
        let mut ds = InMemoryDataset::new(data, vec![2, 1, 2], vec![0, 1], 2).unwrap();
        // channel 0 varies, channel 1 is constant: no per-channel std for it
        let e = Normalization::of_train(&ds, true).unwrap_err();
        assert!(e.contains("channel 1 has standard deviation 0"), "{e}");
        let global = Normalization::of_train(&ds, false).unwrap();
        assert_eq!(global.mean, [0.5]);
        assert!((global.std[0] - 0.353_553_4).abs() < 1e-6, "{global:?}");
        let ok = Normalization {
            mean: vec![0.5, 0.25],
            std: vec![0.5, 0.25],
        };
        assert_eq!(
            Normalization::from_json(&ok.to_json().to_string(), p).unwrap(),
            ok
        );
        ok.apply(&mut ds).unwrap();
        assert_eq!(ds.images(), [-1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0]);
        for (text, want) in [
            (r#"{"mean":0.5}"#, "lacks \"std\""),
            (r#"{"mean":[0.5,0.2],"std":[1]}"#, "2 means and 1 stds"),
            (r#"{"mean":"a","std":1}"#, "must be a number or a list"),
            (r#"{"mean":0,"std":0}"#, "std 0 must be positive"),
        ] {
            let e = Normalization::from_json(text, p).unwrap_err();
            assert!(
                e.starts_with("w.safetensors: deepnet.normalize: ") && e.contains(want),
                "{e}"
            );
        }
    }
}
