//! Text from a character-level language model trained by `deepnet train --model char_lstm`:
//! [`CharLm`] rebuilds the model from its weights file (the sizes in `deepnet.model`, the
//! vocabulary in `deepnet.vocab`), reads the prime, and samples one character at a time at a
//! temperature, seeded. `deepnet sample --prime ... --length ... --temperature ...` uses it for
//! a char_lstm weights file ([`is_char_lm`]).

use super::common::{build_from_weights, meta_value, msg, CliResult};
use super::train_text::{config_from_json, CHAR_LSTM, VOCAB_KEY};
use deepnet::data::CharVocab;
use deepnet::models::CharLstm;
use deepnet::tensor::Tensor;
use serde_json::Value;
use std::path::Path;

/// Characters sampled after the prime when `--length` is not given.
pub const DEFAULT_LENGTH: usize = 500;

/// The sampling temperature when `--temperature` is not given.
pub const DEFAULT_TEMPERATURE: f64 = 0.8;

/// The prime when `--prime` is not given: a newline, the start of a line.
pub const DEFAULT_PRIME: &str = "\n";

/// Whether a weights file's metadata is a char_lstm's (`deepnet.model` names it; other models
/// keep a `deepnet.vocab` too, e.g. the reviews classifier).
pub fn is_char_lm(metadata: &[(String, String)]) -> bool {
    metadata
        .iter()
        .find(|(k, _)| k == "deepnet.model")
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok())
        .is_some_and(|v| v.get("name").and_then(Value::as_str) == Some(CHAR_LSTM))
}

/// A char_lstm rebuilt from its weights file, in evaluation mode.
pub struct CharLm {
    /// the model with the file's weights
    pub model: CharLstm,
    /// the characters of its token ids
    pub vocab: CharVocab,
}

impl CharLm {
    /// The char_lstm of the weights file `weights`, read as its `tensors` and `meta`. Errors
    /// name the file: a file of another model, a missing or damaged vocabulary, sizes that do
    /// not match the tensors.
    pub fn from_parts(
        tensors: &[(String, Tensor)],
        meta: &[(String, String)],
        weights: &Path,
    ) -> CliResult<Self> {
        let what = format!("{CHAR_LSTM} weights file written by deepnet train --model {CHAR_LSTM}");
        let get = |k: &str| meta_value(meta, k, weights, &what);
        let cfg = config_from_json(get("deepnet.model")?, weights)?;
        let vocab = CharVocab::from_metadata(get(VOCAB_KEY)?)
            .map_err(|e| format!("{}: metadata {VOCAB_KEY}: {e}", weights.display()))?;
        if vocab.len() != cfg.vocab_size {
            return Err(format!(
                "{}: metadata {VOCAB_KEY} holds {} characters, deepnet.model says vocab_size {}",
                weights.display(),
                vocab.len(),
                cfg.vocab_size
            ));
        }
        let model = build_from_weights(tensors, weights, |store| {
            CharLstm::new(&cfg, &store.root()).map_err(msg)
        })?;
        deepnet::nn::Module::set_training(&model, false);
        Ok(CharLm { model, vocab })
    }

    /// The prime followed by `length` characters sampled at `temperature` with `seed` (the
    /// same seed gives the same text). Errors: a prime that is empty or has a character outside
    /// the vocabulary (named with `weights`, the file it came from), a temperature that is not
    /// positive.
    pub fn sample(
        &self,
        prime: &str,
        length: usize,
        temperature: f64,
        seed: u64,
        weights: &Path,
    ) -> CliResult<String> {
        check_text_flags(prime, temperature)?;
        let ids = encode_prime(&self.vocab, prime, weights)?;
        let out = self
            .model
            .generate(&ids, length, temperature, seed)
            .map_err(msg)?;
        let mut text = prime.to_string();
        text.push_str(&self.vocab.decode(&out).map_err(msg)?);
        Ok(text)
    }
}

/// Checks `--prime` (at least one character) and `--temperature` (positive) before any file is
/// read.
pub fn check_text_flags(prime: &str, temperature: f64) -> CliResult<()> {
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(format!(
            "--temperature: expected a positive number (1 samples the model's distribution, \
             lower is more conservative), got {temperature}"
        ));
    }
    if prime.is_empty() {
        return Err("--prime: empty; give at least one character to start from".into());
    }
    Ok(())
}

/// The token ids of `prime`, or an error naming its first character outside the vocabulary.
fn encode_prime(vocab: &CharVocab, prime: &str, weights: &Path) -> CliResult<Vec<u32>> {
    prime
        .chars()
        .enumerate()
        .map(|(i, c)| {
            vocab.id(c).ok_or_else(|| {
                let known: String = vocab.chars().iter().collect();
                format!(
                    "--prime: character {c:?} (U+{:04X}) at position {} is not in the \
                     vocabulary of {} ({} characters: {known:?})",
                    c as u32,
                    i + 1,
                    weights.display(),
                    vocab.len()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::train_text::metadata;
    use super::*;
    use deepnet::data::{CharLmConfig, CharLmDataset, Dataset};
    use deepnet::models::CharLstmConfig;
    use deepnet::nn::optim::{Adam, AdamConfig, Optimizer};
    use deepnet::nn::ParamStore;
    use deepnet::train::{load_safetensors_with_metadata, save_safetensors};

    /// What `deepnet sample` does with a char_lstm file: read it, rebuild, sample.
    fn sample_text(
        weights: &Path,
        prime: &str,
        length: usize,
        temperature: f64,
        seed: u64,
    ) -> CliResult<String> {
        let (tensors, meta) = load_safetensors_with_metadata(weights).map_err(msg)?;
        CharLm::from_parts(&tensors, &meta, weights)?.sample(
            prime,
            length,
            temperature,
            seed,
            weights,
        )
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("deepnet-sample-text-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Trains a tiny char_lstm on a repeating text and saves it as train_text does.
    fn trained(dir: &Path) -> std::path::PathBuf {
        let text = "the quick brown fox. ".repeat(3);
        let cfg = CharLmConfig {
            seq_len: 20,
            val_fraction: 0.0,
            stride: Some(1),
            vocab: None,
        };
        let (train, _) = CharLmDataset::split(&text, &cfg).unwrap();
        let all: Vec<usize> = (0..train.len()).collect();
        let (windows, _) = train.get_batch(&all).unwrap();
        let store = ParamStore::new(1);
        let mcfg = CharLstmConfig {
            embedding_dim: 8,
            hidden_size: 24,
            num_layers: 1,
            ..CharLstmConfig::new(train.vocab().len())
        };
        let m = CharLstm::new(&mcfg, &store.root()).unwrap();
        let mut adam = Adam::new(AdamConfig {
            lr: 0.02,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..100 {
            let l = m.loss(&windows).unwrap();
            let g = l.backward().unwrap();
            adam.step(&store.trainable(), &g).unwrap();
        }
        let path = dir.join("model.safetensors");
        let meta = metadata(&mcfg, 20, train.vocab());
        assert!(is_char_lm(&meta));
        save_safetensors(&path, &store.state_dict(), &meta).unwrap();
        path
    }

    #[test]
    fn a_saved_model_samples_its_text_and_bad_requests_are_named() {
        let dir = temp("ok");
        let w = trained(&dir);
        let s = sample_text(&w, "the q", 40, 0.05, 0).unwrap();
        assert_eq!(s, "the quick brown fox. the quick brown fox. the");
        // seeded: the same seed gives the same text at any temperature
        let a = sample_text(&w, "fox", 50, 1.5, 9).unwrap();
        assert_eq!(a, sample_text(&w, "fox", 50, 1.5, 9).unwrap());
        assert_eq!(a.chars().count(), 53);
        assert_eq!(sample_text(&w, "b", 0, 1.0, 0).unwrap(), "b");
        let e = sample_text(&w, "the QUICK", 10, 0.8, 0).unwrap_err();
        assert!(
            e.contains("--prime: character 'Q' (U+0051) at position 5 is not in the vocabulary")
                && e.contains("(17 characters: \" .bcefhiknoqrtuwx\")"),
            "{e}"
        );
        assert!(sample_text(&w, "", 10, 0.8, 0)
            .unwrap_err()
            .contains("--prime: empty"));
        for t in [0.0, -0.5, f64::NAN] {
            let e = sample_text(&w, "the", 10, t, 0).unwrap_err();
            assert!(
                e.contains("--temperature: expected a positive number"),
                "{e}"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn weights_of_another_model_or_with_damaged_metadata_are_refused() {
        let dir = temp("bad");
        let w = trained(&dir);
        let (tensors, meta) = load_safetensors_with_metadata(&w).unwrap();
        let save = |name: &str, meta: Vec<(String, String)>| {
            let p = dir.join(name);
            save_safetensors(&p, &tensors, &meta).unwrap();
            p
        };
        let with = |k: &str, v: &str| -> Vec<(String, String)> {
            meta.iter()
                .map(|(mk, mv)| (mk.clone(), if mk == k { v.to_string() } else { mv.clone() }))
                .collect()
        };
        // only a char_lstm's file is sampled as text: the reviews classifier has a vocabulary too
        let named = |name: &str| {
            vec![
                (
                    "deepnet.model".to_string(),
                    format!(r#"{{"name":"{name}"}}"#),
                ),
                ("deepnet.vocab".to_string(), "a\nb".to_string()),
            ]
        };
        assert!(!is_char_lm(&named("bigru")) && is_char_lm(&named("char_lstm")));
        // an MLP's metadata: no vocabulary
        let p = save(
            "mlp.safetensors",
            vec![("deepnet.model".into(), r#"{"name":"mlp"}"#.into())],
        );
        let e = sample_text(&p, "the", 5, 1.0, 0).unwrap_err();
        assert!(e.contains("is a \"mlp\", not a char_lstm"), "{e}");
        let p = save(
            "novocab.safetensors",
            with("deepnet.vocab", "")
                .into_iter()
                .filter(|(k, _)| k != "deepnet.vocab")
                .collect(),
        );
        let e = sample_text(&p, "the", 5, 1.0, 0).unwrap_err();
        assert!(e.contains("metadata has no \"deepnet.vocab\""), "{e}");
        let p = save("unsorted.safetensors", with("deepnet.vocab", "ba"));
        let e = sample_text(&p, "the", 5, 1.0, 0).unwrap_err();
        assert!(
            e.contains("deepnet.vocab") && e.contains("not sorted"),
            "{e}"
        );
        let p = save("short.safetensors", with("deepnet.vocab", "abc"));
        let e = sample_text(&p, "the", 5, 1.0, 0).unwrap_err();
        assert!(
            e.contains("holds 3 characters, deepnet.model says vocab_size 17"),
            "{e}"
        );
        // sizes that do not match the tensors
        let model = meta
            .iter()
            .find(|(k, _)| k == "deepnet.model")
            .unwrap()
            .1
            .clone();
        let p = save(
            "wide.safetensors",
            with(
                "deepnet.model",
                &model.replace("\"hidden_size\":24", "\"hidden_size\":32"),
            ),
        );
        let e = sample_text(&p, "the", 5, 1.0, 0).unwrap_err();
        assert!(e.contains("wide.safetensors"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
