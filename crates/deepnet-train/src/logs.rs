//! Named scalar metrics of a batch or an epoch (`loss`, `acc`, `kl`, `recon_error_per_image`,
//! ...), their weighted means over an epoch, and the `metrics.csv` table whose columns are those
//! names.
//!
//! Every value carries a weight (usually the number of samples it was averaged over), so that an
//! epoch's figure is the mean over samples even when the last batch is smaller.

use crate::error::{Result, TrainError};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Named values, in the order they were first pushed (the first is the one a progress bar shows).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs {
    entries: Vec<(String, f64, f64)>,
}

impl Logs {
    /// No values.
    pub fn new() -> Self {
        Logs::default()
    }

    /// Adds `name = value` averaged over `weight` samples (builder form of [`Logs::push`]).
    pub fn with(mut self, name: &str, value: f64, weight: f64) -> Self {
        self.push(name, value, weight);
        self
    }

    /// Adds `name = value` averaged over `weight` samples. A name pushed twice is averaged.
    pub fn push(&mut self, name: &str, value: f64, weight: f64) {
        match self.entries.iter_mut().find(|(n, _, _)| n == name) {
            Some((_, v, w)) => {
                let total = *w + weight;
                if total > 0.0 {
                    *v = (*v * *w + value * weight) / total;
                }
                *w = total;
            }
            None => self.entries.push((name.to_string(), value, weight)),
        }
    }

    /// Appends every entry of `other` (averaging names present in both).
    pub fn extend(&mut self, other: &Logs) {
        for (n, v, w) in &other.entries {
            self.push(n, *v, *w);
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| *v)
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    /// `(name, value)` pairs, in order.
    pub fn values(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries.iter().map(|(n, v, _)| (n.as_str(), *v))
    }

    /// `(name, value, weight)` entries, in order.
    pub fn entries(&self) -> &[(String, f64, f64)] {
        &self.entries
    }

    /// The first value (what a progress bar shows), if any.
    pub fn first(&self) -> Option<f64> {
        self.entries.first().map(|(_, v, _)| *v)
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `loss 0.1234 acc 98.10%`: names ending in `acc` as percentages, the rest to 4 places.
    pub fn display(&self) -> String {
        self.values()
            .map(|(n, v)| {
                if n.ends_with("acc") {
                    format!("{n} {:.2}%", 100.0 * v)
                } else {
                    format!("{n} {v:.4}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One epoch of a run: the training means, the evaluation means, and the timing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochLogs {
    /// 1-based epoch number
    pub epoch: usize,
    /// means over the epoch's training batches
    pub train: Logs,
    /// means over the evaluation set (empty without one)
    pub test: Logs,
    /// training seconds of the epoch (evaluation excluded)
    pub seconds: f64,
    /// training samples per second
    pub samples_per_sec: f64,
    /// the learning rate of the epoch (NaN where the step has none)
    pub lr: f64,
}

/// `metrics.csv` with the columns `epoch, train_<name>..., test_<name>..., seconds,
/// <unit>_per_sec, lr`, fixed by the first row. Every row is flushed and synced, so a crash keeps
/// what was logged before it.
pub struct MetricsTable {
    path: PathBuf,
    file: File,
    train: Vec<String>,
    test: Vec<String>,
    unit: String,
}

impl MetricsTable {
    /// Creates (or truncates) `path`; the header is written with the first row.
    pub fn create(path: impl AsRef<Path>, unit: &str) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| TrainError::io(&path, e))?;
        Ok(MetricsTable {
            path,
            file,
            train: Vec::new(),
            test: Vec::new(),
            unit: unit.to_string(),
        })
    }

    /// The header line for these names.
    pub fn header(train: &[&str], test: &[&str], unit: &str) -> String {
        let mut cols = vec!["epoch".to_string()];
        cols.extend(train.iter().map(|n| format!("train_{n}")));
        cols.extend(test.iter().map(|n| format!("test_{n}")));
        cols.extend(["seconds".into(), format!("{unit}_per_sec"), "lr".into()]);
        cols.join(",")
    }

    /// Appends the row of `e`; the first row fixes the columns, and a later row with other names
    /// is an error naming them.
    pub fn log(&mut self, e: &EpochLogs) -> Result<()> {
        let names = |l: &Logs| l.names().iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (train, test) = (names(&e.train), names(&e.test));
        if self.train.is_empty() && self.test.is_empty() {
            if let Some(bad) = train
                .iter()
                .chain(&test)
                .find(|n| n.is_empty() || n.contains([',', '\n', '"']))
            {
                return Err(TrainError::Metrics {
                    path: self.path.clone(),
                    line: 1,
                    msg: format!("metric name {bad:?} cannot be a CSV column"),
                });
            }
            let (a, b): (Vec<&str>, Vec<&str>) = (
                train.iter().map(String::as_str).collect(),
                test.iter().map(String::as_str).collect(),
            );
            let header = Self::header(&a, &b, &self.unit);
            self.write_line(&header)?;
            self.train = train;
            self.test = test;
        } else if train != self.train || test != self.test {
            return Err(TrainError::Metrics {
                path: self.path.clone(),
                line: e.epoch + 1,
                msg: format!(
                    "epoch {} logged train {train:?} / test {test:?}, but the table has train {:?} / test {:?}",
                    e.epoch, self.train, self.test
                ),
            });
        }
        self.write_line(&Self::row(e))
    }

    /// Continues the table of a resumed run: rewrites `path` (atomically) with the rows of
    /// `history` only, the epochs the checkpoint covers (a row logged after the checkpoint is
    /// dropped, it will be logged again), and appends from there.
    pub fn resume(path: impl AsRef<Path>, unit: &str, history: &[EpochLogs]) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut text = String::new();
        if let Some(first) = history.first() {
            text = Self::header(&first.train.names(), &first.test.names(), unit) + "\n";
            for e in history {
                text += &(Self::row(e) + "\n");
            }
        }
        crate::write_atomic(&path, text.as_bytes()).map_err(|e| TrainError::io(&path, e))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        let names = |l: &Logs| l.names().iter().map(|s| s.to_string()).collect();
        Ok(MetricsTable {
            path,
            file,
            train: history.first().map(|e| names(&e.train)).unwrap_or_default(),
            test: history.first().map(|e| names(&e.test)).unwrap_or_default(),
            unit: unit.to_string(),
        })
    }

    fn row(e: &EpochLogs) -> String {
        let mut row = vec![e.epoch.to_string()];
        row.extend(e.train.values().map(|(_, v)| v.to_string()));
        row.extend(e.test.values().map(|(_, v)| v.to_string()));
        row.extend([
            e.seconds.to_string(),
            e.samples_per_sec.to_string(),
            e.lr.to_string(),
        ]);
        row.join(",")
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

/// Reads any `metrics.csv` written by [`MetricsTable`]: the column names and one row of numbers
/// per epoch. Errors name the file, the line and the field.
pub fn read_metrics_table(path: impl AsRef<Path>) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let bad = |line: usize, msg: String| TrainError::Metrics {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let mut lines = text.lines().enumerate();
    let header: Vec<String> = match lines.next() {
        Some((_, h)) if h.starts_with("epoch,") => h.split(',').map(str::to_string).collect(),
        _ => return Err(bad(1, "expected a header starting with \"epoch,\"".into())),
    };
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != header.len() {
            return Err(bad(
                i + 1,
                format!("expected {} fields, got {}", header.len(), f.len()),
            ));
        }
        let row = f
            .iter()
            .zip(&header)
            .map(|(v, h)| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|e| bad(i + 1, format!("{h}: {v:?}: {e}")))
            })
            .collect::<Result<Vec<f64>>>()?;
        rows.push(row);
    }
    Ok((header, rows))
}

/// The epochs of a `metrics.csv` written by [`MetricsTable`], as the loop logged them (weights
/// are not kept; every value has weight 1).
pub fn read_history(path: impl AsRef<Path>) -> Result<Vec<EpochLogs>> {
    let path = path.as_ref();
    // the header is written with the first row: a run stopped in its first epoch has none
    match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(path, e)),
        Ok(_) => {}
    }
    let (header, rows) = read_metrics_table(path)?;
    let n = header.len();
    Ok(rows
        .iter()
        .map(|r| {
            let mut e = EpochLogs {
                epoch: r[0] as usize,
                seconds: r[n - 3],
                samples_per_sec: r[n - 2],
                lr: r[n - 1],
                ..Default::default()
            };
            for (h, v) in header[1..n - 3].iter().zip(&r[1..n - 3]) {
                if let Some(k) = h.strip_prefix("train_") {
                    e.train.push(k, *v, 1.0);
                } else if let Some(k) = h.strip_prefix("test_") {
                    e.test.push(k, *v, 1.0);
                }
            }
            e
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_means_and_display() {
        let mut l = Logs::new().with("loss", 1.0, 1.0).with("acc", 0.5, 1.0);
        l.push("loss", 4.0, 3.0);
        assert_eq!(l.get("loss"), Some(3.25));
        assert_eq!(l.names(), ["loss", "acc"]);
        assert_eq!(l.display(), "loss 3.2500 acc 50.00%");
        assert_eq!(l.first(), Some(3.25));
    }

    #[test]
    fn table_round_trips_and_refuses_changed_columns() {
        let path = std::env::temp_dir().join(format!("deepnet-logs-{}.csv", std::process::id()));
        let mut t = MetricsTable::create(&path, "images").unwrap();
        let mut e = EpochLogs {
            epoch: 1,
            train: Logs::new().with("loss", 0.5, 1.0).with("acc", 0.9, 1.0),
            test: Logs::new().with("loss", 0.25, 1.0),
            seconds: 2.0,
            samples_per_sec: 100.0,
            lr: 0.1,
        };
        t.log(&e).unwrap();
        e.epoch = 2;
        t.log(&e).unwrap();
        let (h, rows) = read_metrics_table(&path).unwrap();
        assert_eq!(
            h.join(","),
            "epoch,train_loss,train_acc,test_loss,seconds,images_per_sec,lr"
        );
        assert_eq!(rows[1], vec![2.0, 0.5, 0.9, 0.25, 2.0, 100.0, 0.1]);
        // a resumed run keeps the epochs its checkpoint covers and appends after them
        let history = read_history(&path).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].train.names(), ["loss", "acc"]);
        let mut t2 = MetricsTable::resume(&path, "images", &history[..1]).unwrap();
        t2.log(&e).unwrap();
        assert_eq!(read_metrics_table(&path).unwrap().1, rows);
        e.test = Logs::new().with("kl", 1.0, 1.0);
        let err = t.log(&e).unwrap_err().to_string();
        assert!(err.contains("kl") && err.contains("epoch 2"), "{err}");
        std::fs::write(&path, "epoch,a\n1,x\n").unwrap();
        let err = read_metrics_table(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") || err.contains(":2"), "{err}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_name_that_breaks_the_csv_is_refused() {
        let path =
            std::env::temp_dir().join(format!("deepnet-logs-bad-{}.csv", std::process::id()));
        let mut t = MetricsTable::create(&path, "samples").unwrap();
        let e = EpochLogs {
            epoch: 1,
            train: Logs::new().with("a,b", 1.0, 1.0),
            ..Default::default()
        };
        assert!(t.log(&e).unwrap_err().to_string().contains("a,b"));
        let _ = std::fs::remove_file(path);
    }
}
