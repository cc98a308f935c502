//! Fine-tuning flags of `train`: start from another run's weights (`--init-from`), replace the
//! classifier head (`--reset-head`), and freeze a backbone (`--freeze PREFIX`), as the canon
//! describes transfer learning: keep the features learned on one task, train a new head on
//! another.
//!
//! Frozen parameters get no gradient and no optimizer update, so they end bit-identical.
//! Buffers are not parameters: a frozen batch-norm layer still updates its running statistics
//! in training mode, as in PyTorch.

use super::common::{check_finite_tensors, msg, CliResult};
use deepnet::nn::optim::{Optimizer, ParamGroups};
use deepnet::nn::ParamStore;
use deepnet::tensor::Tensor;
use deepnet::train::load_safetensors;
use std::path::Path;

/// The head of a model: the module of its last registered weight (`classifier.4` of LeNet-5,
/// `fc` of a ResNet), whose outputs are the classes.
pub fn head_prefix(store: &ParamStore) -> Option<String> {
    store
        .keys()
        .iter()
        .rev()
        .find_map(|k| k.strip_suffix(".weight").map(str::to_string))
}

/// Loads the tensors of `weights` into `store` by name. With `reset_head`, the head's tensors
/// are left at their fresh initialization (and may have another shape, for a new class count);
/// every other tensor of the model must be in the file with its shape. Returns the head prefix
/// that was reset, if any.
pub fn init_from(
    store: &ParamStore,
    weights: &Path,
    reset_head: bool,
) -> CliResult<Option<String>> {
    let tensors = load_safetensors(weights).map_err(msg)?;
    check_finite_tensors(&tensors, weights)?;
    let head = if reset_head {
        Some(head_prefix(store).ok_or("--reset-head: the model has no weight to reset")?)
    } else {
        None
    };
    let in_head = |k: &str| in_head(head.as_deref(), k);
    let keep: Vec<(String, Tensor)> = tensors.into_iter().filter(|(k, _)| !in_head(k)).collect();
    let mine: Vec<String> = store.keys().into_iter().filter(|k| !in_head(k)).collect();
    let missing: Vec<&String> = mine
        .iter()
        .filter(|k| !keep.iter().any(|(n, _)| n == *k))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "--init-from {}: the file lacks {missing:?} of this model{}",
            weights.display(),
            if reset_head {
                ""
            } else {
                " (with --reset-head the head need not match)"
            }
        ));
    }
    let unexpected: Vec<&String> = keep
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !mine.contains(k))
        .collect();
    if !unexpected.is_empty() {
        return Err(format!(
            "--init-from {}: tensors {unexpected:?} are not in this model: is it the same architecture?",
            weights.display()
        ));
    }
    store.load_state_dict(&keep, false).map_err(|e| {
        format!(
            "--init-from {}: {e}{}",
            weights.display(),
            if reset_head {
                ""
            } else {
                " (a head for another class count needs --reset-head)"
            }
        )
    })?;
    Ok(head)
}

/// `opt` with the learning rate of every parameter outside the head `head` (those `init_from`
/// loaded) multiplied by `scale` (`--backbone-lr-scale`, 0 < scale <= 1).
pub fn scale_backbone_lr(
    opt: Box<dyn Optimizer>,
    store: &ParamStore,
    head: Option<&str>,
    scale: f64,
) -> CliResult<Box<dyn Optimizer>> {
    if !(scale > 0.0 && scale <= 1.0) {
        return Err(format!(
            "--backbone-lr-scale: expected a number in (0, 1], got {scale} (0 would be --freeze)"
        ));
    }
    let backbone = store.keys().into_iter().filter(|k| !in_head(head, k));
    let groups = ParamGroups::new(opt)
        .group(backbone, scale)
        .map_err(|e| format!("--backbone-lr-scale: {e}"))?;
    Ok(Box::new(groups))
}

/// Whether parameter `key` belongs to the module `head` (`classifier.4.weight` to
/// `classifier.4`, not `classifier.40.weight`).
fn in_head(head: Option<&str>, key: &str) -> bool {
    head.is_some_and(|h| key.strip_prefix(h).is_some_and(|r| r.starts_with('.')))
}

/// Freezes every parameter whose name starts with one of `prefixes`; returns how many.
pub fn freeze(store: &ParamStore, prefixes: &[String]) -> CliResult<usize> {
    let mut n = 0;
    for p in prefixes {
        n += store.freeze(p).map_err(|e| format!("--freeze {p}: {e}"))?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet::models::{LeNet5, LeNet5Config};
    use deepnet::train::save_safetensors;

    fn lenet(seed: u64, classes: usize) -> ParamStore {
        let store = ParamStore::new(seed);
        let cfg = LeNet5Config {
            num_classes: classes,
            ..Default::default()
        };
        LeNet5::new(&cfg, &store.root()).unwrap();
        store
    }

    #[test]
    fn the_backbone_loads_and_the_head_stays_fresh() {
        let dir = std::env::temp_dir().join(format!("deepnet-finetune-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let w = dir.join("pre.safetensors");
        let pre = lenet(1, 10);
        save_safetensors(&w, &pre.state_dict(), &[]).unwrap();
        let new = lenet(2, 5);
        assert_eq!(head_prefix(&new).as_deref(), Some("classifier.4"));
        let fresh_head = new
            .get("classifier.4.weight")
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        // a 5-class head cannot take the 10-class tensors without --reset-head
        let e = init_from(&new, &w, false).unwrap_err();
        assert!(
            e.contains("classifier.4.weight") && e.contains("--reset-head"),
            "{e}"
        );
        assert_eq!(
            init_from(&new, &w, true).unwrap().as_deref(),
            Some("classifier.4")
        );
        let same = |k: &str, a: &ParamStore, b: &ParamStore| {
            a.get(k).unwrap().to_vec::<f32>().unwrap() == b.get(k).unwrap().to_vec::<f32>().unwrap()
        };
        assert!(same("features.0.weight", &pre, &new));
        assert!(same("classifier.2.bias", &pre, &new));
        assert_eq!(
            new.get("classifier.4.weight")
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            fresh_head
        );
        assert_eq!(freeze(&new, &["features".into()]).unwrap(), 4);
        assert!(freeze(&new, &["nothing".into()])
            .unwrap_err()
            .contains("--freeze nothing"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
