//! Text from a character-level language model trained by `deepnet train --model char_lstm`:
//! [`sample_text`] rebuilds the model from its weights file (the sizes in `deepnet.model`, the
//! vocabulary in `deepnet.vocab`), reads the prime, and samples one character at a time at a
//! temperature, seeded. `deepnet sample --prime ... --length ... --temperature ...` calls it
//! for a char_lstm weights file ([`is_char_lm`]).

use super::common::{build_from_weights, meta_value, msg, CliResult};
use super::train_text::{config_from_json, CHAR_LSTM, VOCAB_KEY};
use clap::Args;
use deepnet::data::CharVocab;
use deepnet::models::CharLstm;
use deepnet::train::load_safetensors_with_metadata;
use std::path::Path;

/// The flags of sampling from a char_lstm.
#[derive(Args, Clone, Debug)]
pub struct TextSampleArgs {
    /// Text the model reads before it starts sampling (char_lstm), e.g. "ROMEO:"; every
    /// character must be in the model's vocabulary. Default: a newline (the start of a line).
    #[arg(long, default_value = "\n", hide_default_value = true)]
    pub prime: String,
    /// Characters to sample after the prime (char_lstm).
    #[arg(long, default_value_t = 500)]
    pub length: usize,
    /// Sampling temperature (char_lstm): the logits are divided by it before the softmax;
    /// below 1 is more conservative, above 1 more surprising; must be positive.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
}

/// Whether a weights file's metadata is a char_lstm's (it carries a vocabulary).
pub fn is_char_lm(metadata: &[(String, String)]) -> bool {
    metadata.iter().any(|(k, _)| k == VOCAB_KEY)
}

/// A char_lstm rebuilt from its weights file, in evaluation mode.
pub struct CharLm {
    /// the model with the file's weights
    pub model: CharLstm,
    /// the characters of its token ids
    pub vocab: CharVocab,
}

/// Loads a weights file written by `deepnet train --model char_lstm`. Errors name the file: a
/// file of another model, a missing or damaged vocabulary, sizes that do not match the tensors.
pub fn load_char_lm(weights: &Path) -> CliResult<CharLm> {
    let (tensors, meta) = load_safetensors_with_metadata(weights).map_err(msg)?;
    let what = format!("{CHAR_LSTM} weights file written by deepnet train --model {CHAR_LSTM}");
    let get = |k: &str| meta_value(&meta, k, weights, &what);
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
    let model = build_from_weights(&tensors, weights, |store| {
        CharLstm::new(&cfg, &store.root()).map_err(msg)
    })?;
    deepnet::nn::Module::set_training(&model, false);
    Ok(CharLm { model, vocab })
}

/// The prime followed by `length` characters sampled from the char_lstm of `weights` at
/// `temperature` with `seed` (the same seed gives the same text). Errors: a prime that is empty
/// or has a character outside the model's vocabulary, a temperature that is not positive, a
/// weights file of another model.
pub fn sample_text(
    weights: &Path,
    prime: &str,
    length: usize,
    temperature: f64,
    seed: u64,
) -> CliResult<String> {
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(format!(
            "--temperature: expected a positive number (1 samples the model's distribution, \
             lower is more conservative), got {temperature}"
        ));
    }
    if prime.is_empty() {
        return Err("--prime: empty; give at least one character to start from".into());
    }
    let lm = load_char_lm(weights)?;
    let ids = encode_prime(&lm.vocab, prime, weights)?;
    let out = lm
        .model
        .generate(&ids, length, temperature, seed)
        .map_err(msg)?;
    let mut text = prime.to_string();
    text.push_str(&lm.vocab.decode(&out).map_err(msg)?);
    Ok(text)
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
    use deepnet::train::save_safetensors;

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

    /// The text of a trained run until `deepnet sample` calls [`sample_text`]: `--prime "ROMEO:"
    /// --length 500 --temperature 0.8 --seed 0` from the weights in `$DEEPNET_CHAR_WEIGHTS`:
    ///
    /// DEEPNET_CHAR_WEIGHTS=RUN/model.safetensors cargo test --release -p deepnet --bin deepnet \
    ///     print_a_sample -- --ignored --nocapture
    #[test]
    #[ignore = "needs a trained char_lstm in $DEEPNET_CHAR_WEIGHTS"]
    fn print_a_sample() {
        let w = std::env::var("DEEPNET_CHAR_WEIGHTS").expect("set DEEPNET_CHAR_WEIGHTS");
        let s = sample_text(Path::new(&w), "ROMEO:", 500, 0.8, 0).unwrap();
        assert_eq!(s.chars().count(), 506);
        println!("{s}");
    }
}
