//! Checkpoints of the training loop: what a [`crate::TrainStep`] saves (model, optimizers,
//! schedulers, random generators) plus where the loop stood (epoch, batch within it, step
//! count, the partial epoch's metrics), so that a run stopped anywhere, even mid-epoch, resumes
//! to the same weights bit for bit.
//!
//! The file is `checkpoint.safetensors` in the run folder, written atomically (a crash leaves
//! the previous one); a truncated or damaged file is refused with an error naming it, never
//! loaded in part. Metadata keys: `epoch` (finished epochs), `loop.*`, and (format 2 on)
//! `checkpoint.version` and `checkpoint.sections`: the tensor count of each section (the part of
//! a tensor's name before its first `.`: `model`, `optimizer`, `rng`, ...), so that a file that
//! lost a section is refused by name rather than resumed with that part silently fresh. A file
//! without `checkpoint.version` is format 1 (written before the sections were recorded) and
//! still loads; a version this build does not know is refused.

use crate::logs::Logs;
use crate::safetensors::{load_safetensors_with_metadata, save_safetensors};
use crate::{Result, TrainError};
use deepnet_tensor::Tensor;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The checkpoint format this build writes (and the newest it reads).
pub const CHECKPOINT_VERSION: u32 = 2;

/// The tensor count of each section of `tensors`: the part of a name before its first `.`.
fn section_counts(tensors: &[(String, Tensor)]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (k, _) in tensors {
        let section = k.split('.').next().unwrap_or(k);
        *counts.entry(section.to_string()).or_insert(0) += 1;
    }
    counts
}

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
    meta.push(("checkpoint.version".into(), CHECKPOINT_VERSION.to_string()));
    meta.push((
        "checkpoint.sections".into(),
        json!(section_counts(tensors)).to_string(),
    ));
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
    check_sections(&tensors, &meta, &bad)?;
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
            .filter(|(k, _)| {
                k != "epoch" && !k.starts_with("loop.") && !k.starts_with("checkpoint.")
            })
            .collect(),
    })
}

/// Checks the format version and, from format 2 on, that every section recorded in the
/// metadata still has all its tensors (and no section came from elsewhere).
fn check_sections(
    tensors: &[(String, Tensor)],
    meta: &[(String, String)],
    bad: &dyn Fn(String) -> TrainError,
) -> Result<()> {
    let get = |k: &str| meta.iter().find(|(m, _)| m == k).map(|(_, v)| v.as_str());
    let version = match get("checkpoint.version") {
        None => return Ok(()), // format 1: no sections recorded
        Some(v) => v
            .parse::<u32>()
            .map_err(|e| bad(format!("metadata \"checkpoint.version\" ({v:?}): {e}")))?,
    };
    if version == 0 || version > CHECKPOINT_VERSION {
        return Err(bad(format!(
            "checkpoint format {version}: this deepnet reads formats 1 to {CHECKPOINT_VERSION} \
             (a newer deepnet wrote it?)"
        )));
    }
    let text = get("checkpoint.sections").ok_or_else(|| {
        bad(format!(
            "checkpoint format {version} without \"checkpoint.sections\": the file is damaged"
        ))
    })?;
    let recorded: BTreeMap<String, usize> = serde_json::from_str(text)
        .map_err(|e| bad(format!("metadata \"checkpoint.sections\": {e}")))?;
    let found = section_counts(tensors);
    for (section, &n) in &recorded {
        let have = found.get(section).copied().unwrap_or(0);
        if have != n {
            return Err(bad(format!(
                "section \"{section}\" has {have} of its {n} tensors: the file is damaged or \
                 was edited; refusing to resume from part of a checkpoint"
            )));
        }
    }
    if let Some(extra) = found.keys().find(|s| !recorded.contains_key(*s)) {
        return Err(bad(format!(
            "section \"{extra}\" is not among the sections the checkpoint recorded \
             ({:?}): the file was edited",
            recorded.keys().collect::<Vec<_>>()
        )));
    }
    Ok(())
}

/// The tensors of `state` under `prefix.`, with the prefix taken off.
pub(crate) fn section(state: &[(String, Tensor)], prefix: &str) -> Vec<(String, Tensor)> {
    state
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('.'))
                .map(|r| (r.to_string(), t.clone()))
        })
        .collect()
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

/// The 4 words of a generator state saved as the checkpoint tensor `key`.
pub(crate) fn generator_words(key: &str, t: &Tensor) -> Result<[u64; 4]> {
    let v = t
        .to_vec::<i64>()
        .map_err(|e| TrainError::Config(format!("checkpoint tensor \"{key}\": {e}")))?;
    v.iter()
        .map(|&w| w as u64)
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| {
            TrainError::Config(format!(
                "checkpoint tensor \"{key}\": expected 4 words, got {}",
                v.len()
            ))
        })
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
        let s = generator_words(k, t)?;
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
        // a section that lost its tensors, and an unknown format, are refused by name
        let (t, meta) = crate::load_safetensors_with_metadata(&p).unwrap();
        let without: Vec<_> = t.into_iter().filter(|(k, _)| k != "rng.drop").collect();
        save_safetensors(&p, &without, &meta).unwrap();
        let e = read_checkpoint(&p).unwrap_err().to_string();
        assert!(
            e.contains("section \"rng\" has 1 of its 2 tensors") && e.contains("checkpoint"),
            "{e}"
        );
        let newer: Vec<_> = meta
            .iter()
            .map(|(k, v)| match k.as_str() {
                "checkpoint.version" => (k.clone(), "3".to_string()),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        save_safetensors(&p, &tensors, &newer).unwrap();
        let e = read_checkpoint(&p).unwrap_err().to_string();
        assert!(e.contains("checkpoint format 3"), "{e}");
        // format 1 (no version, no sections) still loads
        let old: Vec<_> = meta
            .iter()
            .filter(|(k, _)| !k.starts_with("checkpoint."))
            .cloned()
            .collect();
        save_safetensors(&p, &tensors, &old).unwrap();
        assert_eq!(read_checkpoint(&p).unwrap().step, 250);
        write_checkpoint(&p, &tensors, &[("deepnet.model".into(), "{}".into())], &pos).unwrap();
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
