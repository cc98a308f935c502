//! Checkpoints of the training loop: what a [`crate::TrainStep`] saves (model, optimizers,
//! schedulers, random generators) plus where the loop stood (epoch, batch within it, step
//! count, the partial epoch's metrics), so that a run stopped anywhere, even mid-epoch, resumes
//! to the same weights bit for bit.
//!
//! The file is `checkpoint.safetensors` in the run folder, written atomically (a crash leaves
//! the previous one); a truncated or damaged file is refused with an error naming it, never
//! loaded in part. Metadata keys: `epoch` (finished epochs) and `loop.*`.

use crate::logs::Logs;
use crate::safetensors::{load_safetensors_with_metadata, save_safetensors};
use crate::{Result, TrainError};
use deepnet_tensor::Tensor;
use serde_json::{json, Value};
use std::path::Path;

/// Where a run stood when its checkpoint was written, and the step's saved state.
#[derive(Clone, Debug)]
pub struct Resume {
    /// finished epochs
    pub epoch: usize,
    /// batches finished in epoch `epoch + 1` (0 at an epoch boundary)
    pub batch: usize,
    /// batches finished over the run
    pub step: usize,
    /// the training metrics of those `batch` batches
    pub partial: Logs,
    /// samples seen in those batches
    pub seen: usize,
    /// training seconds spent in those batches
    pub epoch_seconds: f64,
    /// training seconds of the run so far
    pub train_seconds: f64,
    /// the warnings shown so far
    pub warnings: Vec<String>,
    /// what [`crate::TrainStep::checkpoint_state`] saved
    pub tensors: Vec<(String, Tensor)>,
    /// the metadata the run stores in its files (without the loop's own keys)
    pub metadata: Vec<(String, String)>,
}

impl Resume {
    /// The metadata entries that record the position (the caller adds its own).
    pub(crate) fn position_metadata(&self) -> Vec<(String, String)> {
        let partial: Vec<Value> = self
            .partial
            .entries()
            .iter()
            .map(|(n, v, w)| json!([n, v, w]))
            .collect();
        vec![
            ("epoch".into(), self.epoch.to_string()),
            ("loop.batch".into(), self.batch.to_string()),
            ("loop.step".into(), self.step.to_string()),
            ("loop.partial".into(), Value::Array(partial).to_string()),
            ("loop.seen".into(), self.seen.to_string()),
            ("loop.epoch_seconds".into(), self.epoch_seconds.to_string()),
            ("loop.train_seconds".into(), self.train_seconds.to_string()),
            ("loop.warnings".into(), json!(self.warnings).to_string()),
        ]
    }
}

/// Writes `path` atomically: the step's tensors and the position of `r` (whose `tensors` and
/// `metadata` are not used: the caller passes the current ones).
pub(crate) fn write_checkpoint(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &[(String, String)],
    position: &Resume,
) -> Result<()> {
    let mut meta = metadata.to_vec();
    meta.extend(position.position_metadata());
    save_safetensors(path, tensors, &meta)
}

/// Reads a checkpoint written by the training loop. Errors name the file and the field.
pub fn read_checkpoint(path: impl AsRef<Path>) -> Result<Resume> {
    let path = path.as_ref();
    let (tensors, meta) = load_safetensors_with_metadata(path)?;
    let bad = |msg: String| TrainError::Safetensors {
        path: path.to_path_buf(),
        msg,
    };
    let get = |k: &str| -> Result<&str> {
        meta.iter()
            .find(|(m, _)| m == k)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                bad(format!(
                    "metadata has no \"{k}\": not a checkpoint of the training loop"
                ))
            })
    };
    let num = |k: &str| -> Result<usize> {
        get(k)?
            .parse()
            .map_err(|e| bad(format!("metadata \"{k}\": {e}")))
    };
    let float = |k: &str| -> Result<f64> {
        get(k)?
            .parse()
            .map_err(|e| bad(format!("metadata \"{k}\": {e}")))
    };
    let json = |k: &str| -> Result<Value> {
        serde_json::from_str(get(k)?).map_err(|e| bad(format!("metadata \"{k}\": {e}")))
    };
    let mut partial = Logs::new();
    let entries = json("loop.partial")?;
    for e in entries.as_array().into_iter().flatten() {
        match (e[0].as_str(), e[1].as_f64(), e[2].as_f64()) {
            (Some(n), Some(v), Some(w)) => partial.push(n, v, w),
            _ => {
                return Err(bad(format!(
                    "metadata \"loop.partial\": {e} is not [name, value, weight]"
                )))
            }
        }
    }
    let warnings = json("loop.warnings")?
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Resume {
        epoch: num("epoch")?,
        batch: num("loop.batch")?,
        step: num("loop.step")?,
        partial,
        seen: num("loop.seen")?,
        epoch_seconds: float("loop.epoch_seconds")?,
        train_seconds: float("loop.train_seconds")?,
        warnings,
        tensors,
        metadata: meta
            .into_iter()
            .filter(|(k, _)| k != "epoch" && !k.starts_with("loop."))
            .collect(),
    })
}

/// The random generator states of a model as checkpoint tensors: `rng` for the store's own,
/// `rng.<path>` for each layer's, each 4 words as int64 bits.
pub fn rng_tensors(states: &[(String, [u64; 4])]) -> Result<Vec<(String, Tensor)>> {
    states
        .iter()
        .map(|(k, s)| {
            let name = if k.is_empty() {
                "rng".to_string()
            } else {
                format!("rng.{k}")
            };
            let t = Tensor::from_vec(s.iter().map(|&w| w as i64).collect::<Vec<_>>(), [4])?;
            Ok((name, t))
        })
        .collect()
}

/// The generator states back from the `rng` tensors of a checkpoint (other tensors ignored).
pub fn rng_states(tensors: &[(String, Tensor)]) -> Result<Vec<(String, [u64; 4])>> {
    let mut out = Vec::new();
    for (k, t) in tensors {
        let path = match k.strip_prefix("rng") {
            Some("") => String::new(),
            Some(rest) if rest.starts_with('.') => rest[1..].to_string(),
            _ => continue,
        };
        let v = t
            .to_vec::<i64>()
            .map_err(|e| TrainError::Config(format!("checkpoint tensor \"{k}\": {e}")))?;
        let s: [u64; 4] = v
            .iter()
            .map(|&w| w as u64)
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| {
                TrainError::Config(format!(
                    "checkpoint tensor \"{k}\": expected 4 words, got {}",
                    v.len()
                ))
            })?;
        out.push((path, s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_and_generators_round_trip_and_damage_is_refused() {
        let dir = std::env::temp_dir().join(format!("deepnet-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("checkpoint.safetensors");
        let states = vec![
            (String::new(), [1, 2, 3, u64::MAX]),
            ("drop".into(), [5, 6, 7, 8]),
        ];
        let tensors = rng_tensors(&states).unwrap();
        let pos = Resume {
            epoch: 2,
            batch: 17,
            step: 250,
            partial: Logs::new().with("loss", 0.5, 17.0 * 64.0),
            seen: 1088,
            epoch_seconds: 1.5,
            train_seconds: 9.0,
            warnings: vec!["w".into()],
            tensors: Vec::new(),
            metadata: Vec::new(),
        };
        write_checkpoint(&p, &tensors, &[("deepnet.model".into(), "{}".into())], &pos).unwrap();
        let r = read_checkpoint(&p).unwrap();
        assert_eq!((r.epoch, r.batch, r.step, r.seen), (2, 17, 250, 1088));
        assert_eq!(r.partial, pos.partial);
        assert_eq!(r.warnings, ["w"]);
        assert_eq!(
            r.metadata,
            [("deepnet.model".to_string(), "{}".to_string())]
        );
        assert_eq!(rng_states(&r.tensors).unwrap(), states);
        // cut anywhere, the file is refused by name
        let bytes = std::fs::read(&p).unwrap();
        for cut in [4, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = read_checkpoint(&p).unwrap_err().to_string();
            assert!(e.contains("checkpoint.safetensors"), "{e}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
