//! Per-epoch metrics: the `metrics.csv` log of a run, classification accuracy, and a running mean
//! for losses averaged over the batches of an epoch.

use crate::error::{Result, TrainError};
use deepnet_tensor::{DType, Error, Tensor};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CSV header of `metrics.csv`.
pub const METRICS_HEADER: &str =
    "epoch,train_loss,train_acc,test_loss,test_acc,seconds,images_per_sec,lr";

/// One row of `metrics.csv`: the summary of one epoch. Accuracies are fractions in `[0, 1]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy.
    pub train_acc: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Test accuracy.
    pub test_acc: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
    /// Training throughput.
    pub images_per_sec: f64,
    /// Learning rate used during the epoch.
    pub lr: f64,
}

impl EpochMetrics {
    fn to_csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{}",
            self.epoch,
            self.train_loss,
            self.train_acc,
            self.test_loss,
            self.test_acc,
            self.seconds,
            self.images_per_sec,
            self.lr
        )
    }
}

/// Appends one row per epoch to a CSV file, flushing and syncing each row so that a crash keeps
/// everything logged before it.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Creates (or truncates) the file and writes the header.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| TrainError::io(&path, e))?;
        let mut log = MetricsLog { path, file };
        log.write_line(METRICS_HEADER)?;
        Ok(log)
    }

    /// Opens the file for appending (a resumed run); writes the header only if the file is new or
    /// empty. A non-empty file must start with the expected header.
    pub fn append(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let existing = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(TrainError::io(&path, e)),
        };
        if !existing.is_empty() && existing.lines().next() != Some(METRICS_HEADER) {
            return Err(TrainError::Metrics {
                path,
                line: 1,
                msg: format!("expected the header \"{METRICS_HEADER}\""),
            });
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        let mut log = MetricsLog { path, file };
        if existing.is_empty() {
            log.write_line(METRICS_HEADER)?;
        } else if !existing.ends_with('\n') {
            // a crash mid-row: end that row so the next one starts on its own line
            log.write_line("")?;
        }
        Ok(log)
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one row and flushes it to disk.
    pub fn log(&mut self, row: &EpochMetrics) -> Result<()> {
        self.write_line(&row.to_csv())
    }

    fn write_line(&mut self, line: &str) -> Result<()> {
        let path = &self.path;
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| self.file.flush())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| TrainError::io(path, e))
    }
}

/// Reads a `metrics.csv` written by [`MetricsLog`] (for resuming and re-plotting). Errors name the
/// file and the line.
pub fn read_metrics(path: impl AsRef<Path>) -> Result<Vec<EpochMetrics>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let bad = |line: usize, msg: String| TrainError::Metrics {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h == METRICS_HEADER => {}
        _ => return Err(bad(1, format!("expected the header \"{METRICS_HEADER}\""))),
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 8 {
            return Err(bad(i + 1, format!("expected 8 fields, got {}", f.len())));
        }
        let num = |k: usize| -> Result<f64> {
            f[k].trim()
                .parse::<f64>()
                .map_err(|e| bad(i + 1, format!("field {}: {:?}: {e}", k + 1, f[k])))
        };
        rows.push(EpochMetrics {
            epoch: f[0]
                .trim()
                .parse()
                .map_err(|e| bad(i + 1, format!("epoch {:?}: {e}", f[0])))?,
            train_loss: num(1)?,
            train_acc: num(2)?,
            test_loss: num(3)?,
            test_acc: num(4)?,
            seconds: num(5)?,
            images_per_sec: num(6)?,
            lr: num(7)?,
        });
    }
    Ok(rows)
}

/// The number of rows whose largest logit (first one on ties, as `torch.argmax`) is at the label.
/// `logits` is `[N, K]` (float), `labels` is `[N]` of int64.
pub fn correct_count(logits: &Tensor, labels: &Tensor) -> deepnet_tensor::Result<usize> {
    if logits.rank() != 2 {
        return Err(Error::Rank {
            op: "accuracy",
            expected: "logits of shape [N, K]".into(),
            got: logits.shape().clone(),
        });
    }
    if labels.dtype() != DType::I64 {
        return Err(Error::DType {
            op: "accuracy",
            expected: "int64 labels",
            got: labels.dtype(),
        });
    }
    let n = logits.dims()[0];
    if labels.dims() != [n] {
        return Err(Error::ShapeMismatch {
            op: "accuracy (labels vs logits rows)",
            expected: [n].into(),
            got: labels.shape().clone(),
        });
    }
    let pred = logits.detach().argmax(1, false)?.to_vec::<i64>()?;
    let labels = labels.to_vec::<i64>()?;
    Ok(pred.iter().zip(&labels).filter(|(p, l)| p == l).count())
}

/// The fraction of rows whose argmax over dim 1 equals the label. An empty batch is an error.
pub fn accuracy(logits: &Tensor, labels: &Tensor) -> deepnet_tensor::Result<f64> {
    let correct = correct_count(logits, labels)?;
    let n = logits.dims()[0];
    if n == 0 {
        return Err(Error::InvalidArgument {
            op: "accuracy",
            msg: "empty batch".into(),
        });
    }
    Ok(correct as f64 / n as f64)
}

/// A weighted running mean (per-sample mean of batch means), e.g. the epoch's training loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunningMean {
    sum: f64,
    count: f64,
}

impl RunningMean {
    /// An empty mean.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` with weight `n` (e.g. a batch's mean loss and its batch size).
    pub fn add(&mut self, value: f64, n: usize) {
        self.sum += value * n as f64;
        self.count += n as f64;
    }

    /// The mean so far (NaN when nothing was added).
    pub fn mean(&self) -> f64 {
        if self.count == 0.0 {
            f64::NAN
        } else {
            self.sum / self.count
        }
    }

    /// The total weight added.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Forgets everything (start of an epoch).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::temp_dir;

    fn row(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.5 / epoch as f64,
            train_acc: 0.9,
            test_loss: 0.25,
            test_acc: 0.875,
            seconds: 1.5,
            images_per_sec: 40000.0,
            lr: 1e-3,
        }
    }

    #[test]
    fn log_writes_header_once_and_rows_immediately() {
        let d = temp_dir("metrics");
        let p = d.join("metrics.csv");
        let mut log = MetricsLog::create(&p).unwrap();
        log.log(&row(1)).unwrap();
        // visible on disk before the log is dropped
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            format!("{METRICS_HEADER}\n1,0.5,0.9,0.25,0.875,1.5,40000,0.001\n")
        );
        drop(log);
        let mut log = MetricsLog::append(&p).unwrap();
        log.log(&row(2)).unwrap();
        let rows = read_metrics(&p).unwrap();
        assert_eq!(rows, vec![row(1), row(2)]);
        assert_eq!(
            std::fs::read_to_string(&p)
                .unwrap()
                .matches("epoch")
                .count(),
            1
        );
        // a non-finite loss survives the round trip
        let mut nan = row(3);
        nan.train_loss = f64::NAN;
        log.log(&nan).unwrap();
        assert!(read_metrics(&p).unwrap()[2].train_loss.is_nan());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn append_to_new_file_and_bad_files() {
        let d = temp_dir("metrics-append");
        let p = d.join("metrics.csv");
        MetricsLog::append(&p).unwrap().log(&row(1)).unwrap();
        assert_eq!(read_metrics(&p).unwrap(), vec![row(1)]);
        std::fs::write(&p, "something,else\n").unwrap();
        let e = MetricsLog::append(&p).err().unwrap().to_string();
        assert!(e.contains("metrics.csv") && e.contains("header"), "{e}");
        std::fs::write(&p, format!("{METRICS_HEADER}\n1,2,3\n")).unwrap();
        let e = read_metrics(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("8 fields"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn accuracy_is_argmax_vs_labels() {
        let logits = Tensor::from_vec(
            vec![
                0.1f32, 0.9, 0.0, 2.0, 1.0, 0.0, 0.3, 0.3, 0.1, -1.0, -2.0, -0.5,
            ],
            [4, 3],
        )
        .unwrap();
        // predictions: 1, 0, 0 (first on ties), 2
        let labels = Tensor::from_vec(vec![1i64, 0, 1, 2], [4]).unwrap();
        assert_eq!(correct_count(&logits, &labels).unwrap(), 3);
        assert_eq!(accuracy(&logits, &labels).unwrap(), 0.75);
        let bad = Tensor::from_vec(vec![1i64, 0], [2]).unwrap();
        assert!(accuracy(&logits, &bad).is_err());
        let f = Tensor::from_vec(vec![1.0f32; 4], [4]).unwrap();
        assert!(accuracy(&logits, &f).is_err());
        let empty = Tensor::zeros([0, 3], DType::F32).unwrap();
        let no_labels = Tensor::zeros([0], DType::I64).unwrap();
        assert!(accuracy(&empty, &no_labels).is_err());
    }

    #[test]
    fn running_mean_weights_by_count() {
        let mut m = RunningMean::new();
        assert!(m.mean().is_nan());
        m.add(1.0, 3);
        m.add(3.0, 1);
        assert_eq!(m.mean(), 1.5);
        assert_eq!(m.count(), 4);
        m.reset();
        assert_eq!(m.count(), 0);
    }
}
