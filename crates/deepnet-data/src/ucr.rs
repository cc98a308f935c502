//! The UCR/UEA time-series classification archive: the archive's `.ts` format and the UCR-2018
//! `.tsv` layout, read into a [`TimeSeriesDataset`] of right-padded series.
//!
//! `.ts`: `#` comment lines, header lines (`@problemName GunPoint`, `@timeStamps false`,
//! `@missing false`, `@univariate true`, `@dimensions 6`, `@equalLength true`,
//! `@seriesLength 150`, `@classLabel true 1 2`; keys case-insensitive), `@data`, then one case
//! per line: the dimensions separated by `:`, the values of a dimension by `,`, the class label
//! last (`0.1,0.2,0.3:1.5,1.6,1.7:Walking`); `?` (or `NaN`) is a missing value. Every dimension
//! of a case has the same length; cases may differ in length unless `@equalLength true`.
//! Timestamped series and regression problems (`@classLabel false`) are rejected with an error.
//!
//! `.tsv` (UCR 2018): `label<TAB>v1<TAB>v2...` per line, one dimension. `NaN` (or an empty
//! field) is a missing value; trailing `NaN`s are the archive's padding of a shorter series and
//! are cut off, so they set the series' length. With no header to order the classes, they are
//! sorted (numerically when every label is a number).
//!
//! Shape contract: a sample is `(L, F)` f32, time-major (`x[t, f]` is dimension `f` at step `t`),
//! `L` the longest series of the TRAIN and TEST files together (so both splits have the same
//! sample shape), padded after each series' true length ([`TimeSeriesDataset::lengths`]) with
//! [`UcrOptions::pad`] (0 by default; `f32::NAN` marks the padding in the batch itself, so that a
//! model can recover the lengths from `x` alone, as `deepnet_models::sequence_tasks` does);
//! a batch is `(B, L, F)`, the input of a recurrent layer with `batch_first: true` (see
//! [`crate::sequence`] for passing the lengths). Labels are `0..K` in the order of the
//! `@classLabel` header ([`TimeSeriesDataset::class_names`]). With
//! [`UcrOptions::znormalize`], every dimension is shifted and scaled by the mean and standard
//! deviation of the TRAIN file's observed values of that dimension (the same numbers for TEST).
//! Missing values become [`UcrOptions::fill_missing`] after normalization (0: the TRAIN mean
//! when normalized).

use crate::error::{DataError, Result};
use crate::sequence::{
    delegate_sequence_dataset, read_text_file, PaddedSequences, SequenceDataset as _,
};
use crate::InMemoryDataset;
use std::path::{Path, PathBuf};

mod ts;
pub use ts::{parse_ts, read_ts};

/// The largest `@dimensions` or `@seriesLength` a header may declare.
const MAX_DECLARED: usize = crate::sequence::MAX_PADDED_VALUES;

/// The header of a `.ts` file (or the one implied by a `.tsv` file).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TsHeader {
    /// `@problemName` (for a `.tsv`, the file name without `_TRAIN`/`_TEST`).
    pub problem_name: String,
    /// `@missing`, when given.
    pub missing: Option<bool>,
    /// `@univariate`, when given.
    pub univariate: Option<bool>,
    /// `@dimensions`, when given.
    pub dimensions: Option<usize>,
    /// `@equalLength`, when given.
    pub equal_length: Option<bool>,
    /// `@seriesLength`, when given.
    pub series_length: Option<usize>,
    /// The class names of `@classLabel true ...`, in header order: label `k` is `class_labels[k]`.
    pub class_labels: Vec<String>,
}

/// One case of a series file.
#[derive(Clone, Debug, PartialEq)]
pub struct TsCase {
    /// `len * dims` values, time-major (`values[t * dims + f]`); NaN where missing.
    pub values: Vec<f32>,
    /// The number of steps.
    pub len: usize,
    /// The class, an index into [`TsHeader::class_labels`].
    pub label: usize,
    /// The line of the file it was read from (1-based).
    pub line: usize,
}

/// A parsed series file: its header, the number of dimensions and the cases.
#[derive(Clone, Debug, PartialEq)]
pub struct TsFile {
    /// The file read.
    pub path: PathBuf,
    /// The header.
    pub header: TsHeader,
    /// The number of dimensions `F` of every case.
    pub dims: usize,
    /// The cases, in file order.
    pub cases: Vec<TsCase>,
}

impl TsFile {
    /// The longest case's length (0 for no cases).
    pub fn longest(&self) -> usize {
        self.cases.iter().map(|c| c.len).max().unwrap_or(0)
    }
}

/// One value: a finite number, or NaN for a missing one (`?`, `NaN`, or empty when
/// `empty_is_missing`).
fn parse_value(
    path: &Path,
    line: usize,
    field: impl FnOnce() -> String,
    s: &str,
    empty_is_missing: bool,
) -> Result<f32> {
    let s = s.trim();
    if s == "?" || s.eq_ignore_ascii_case("nan") || (empty_is_missing && s.is_empty()) {
        return Ok(f32::NAN);
    }
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(DataError::parse(
            path,
            line,
            field(),
            format!("\"{s}\" is not a finite f32"),
        )),
        Err(_) => Err(DataError::parse(
            path,
            line,
            field(),
            format!("\"{s}\" is not a number (a missing value is written ?)"),
        )),
    }
}

/// Text for an error message: at most 40 characters of `s`.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Parses the text of a UCR-2018 `.tsv` file. `classes` orders the class labels (pass the
/// TRAIN file's for the TEST file); `None` sorts the labels found (numerically when they are all
/// numbers).
pub fn parse_ucr_tsv(text: &str, path: &Path, classes: Option<&[String]>) -> Result<TsFile> {
    let mut rows: Vec<(usize, String, Vec<f32>)> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let ln = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let mut fields = l.split('\t');
        let label = fields.next().unwrap_or("").trim().to_string();
        if label.is_empty() {
            return Err(DataError::parse(path, ln, "label", "empty class label"));
        }
        let mut vals = fields
            .enumerate()
            .map(|(j, s)| parse_value(path, ln, || format!("value {j}"), s, true))
            .collect::<Result<Vec<f32>>>()?;
        while vals.last().is_some_and(|v| v.is_nan()) {
            vals.pop();
        }
        if vals.is_empty() {
            return Err(DataError::parse(
                path,
                ln,
                "case",
                "no values after the label: expected label<TAB>v1<TAB>v2...",
            ));
        }
        rows.push((ln, label, vals));
    }
    if rows.is_empty() {
        return Err(DataError::parse(path, 1, "case", "no cases in the file"));
    }
    let class_labels: Vec<String> = match classes {
        Some(c) => c.to_vec(),
        None => {
            let mut c: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
            c.sort();
            c.dedup();
            let nums: Option<Vec<f64>> = c.iter().map(|s| s.parse::<f64>().ok()).collect();
            if let Some(nums) = nums {
                let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(c).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                c = pairs.into_iter().map(|p| p.1).collect();
            }
            c
        }
    };
    let cases = rows
        .into_iter()
        .map(|(ln, label, values)| {
            let k = class_labels
                .iter()
                .position(|c| *c == label)
                .ok_or_else(|| {
                    DataError::parse(
                        path,
                        ln,
                        "label",
                        format!(
                            "\"{}\" is not one of the classes {}",
                            truncate(&label),
                            class_labels.join(" ")
                        ),
                    )
                })?;
            Ok(TsCase {
                len: values.len(),
                values,
                label: k,
                line: ln,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let name = stem
        .strip_suffix("_TRAIN")
        .or_else(|| stem.strip_suffix("_TEST"))
        .unwrap_or(stem);
    Ok(TsFile {
        path: path.into(),
        header: TsHeader {
            problem_name: name.to_string(),
            univariate: Some(true),
            dimensions: Some(1),
            class_labels,
            ..TsHeader::default()
        },
        dims: 1,
        cases,
    })
}

/// Reads a UCR-2018 `.tsv` file (see [`parse_ucr_tsv`]).
pub fn read_ucr_tsv(path: impl AsRef<Path>, classes: Option<&[String]>) -> Result<TsFile> {
    let path = path.as_ref();
    parse_ucr_tsv(&read_text_file(path)?, path, classes)
}

/// Per-dimension mean and standard deviation for z-normalization.
#[derive(Clone, Debug, PartialEq)]
pub struct ZNorm {
    /// The mean of every dimension.
    pub mean: Vec<f64>,
    /// The population standard deviation of every dimension; a constant dimension has 1 here,
    /// so it is only centred.
    pub std: Vec<f64>,
}

impl ZNorm {
    /// The statistics of the observed (not missing) values of each dimension of `file`. Errors
    /// when a dimension has no observed value.
    pub fn fit(file: &TsFile) -> Result<ZNorm> {
        let f = file.dims;
        let (mut n, mut sum) = (vec![0usize; f], vec![0f64; f]);
        let each = |visit: &mut dyn FnMut(usize, f64)| {
            for c in &file.cases {
                for (i, &v) in c.values.iter().enumerate() {
                    if !v.is_nan() {
                        visit(i % f, v as f64);
                    }
                }
            }
        };
        each(&mut |d, v| {
            n[d] += 1;
            sum[d] += v;
        });
        if let Some(d) = n.iter().position(|&k| k == 0) {
            return Err(DataError::invalid(
                "ZNorm::fit",
                format!(
                    "{}: dimension {d} has no observed value to normalize with",
                    file.path.display()
                ),
            ));
        }
        let mean: Vec<f64> = sum.iter().zip(&n).map(|(s, &k)| s / k as f64).collect();
        let mut sq = vec![0f64; f];
        each(&mut |d, v| sq[d] += (v - mean[d]) * (v - mean[d]));
        let std = sq
            .iter()
            .zip(&n)
            .map(|(s, &k)| (s / k as f64).sqrt())
            .map(|s| if s > 0.0 { s } else { 1.0 })
            .collect();
        Ok(ZNorm { mean, std })
    }

    /// Normalizes time-major values of `mean.len()` dimensions in place (NaN stays NaN).
    fn apply(&self, values: &mut [f32]) {
        let f = self.mean.len();
        for (i, v) in values.iter_mut().enumerate() {
            let d = i % f;
            *v = ((*v as f64 - self.mean[d]) / self.std[d]) as f32;
        }
    }
}

/// How [`load_ucr_with`] prepares the series.
#[derive(Clone, Debug, PartialEq)]
pub struct UcrOptions {
    /// Z-normalize every dimension with the TRAIN file's statistics (false).
    pub znormalize: bool,
    /// The value that replaces a missing one, after normalization (0.0).
    pub fill_missing: f32,
    /// The value after each series' last step (0.0). `f32::NAN` (with a non-NaN
    /// `fill_missing`) makes the padding recognizable in a batch: a step is padding exactly when
    /// its values are NaN.
    pub pad: f32,
}

impl Default for UcrOptions {
    fn default() -> Self {
        UcrOptions {
            znormalize: false,
            fill_missing: 0.0,
            pad: 0.0,
        }
    }
}

/// A time-series classification set: series right-padded to `(L, F)` samples with their true
/// lengths, labels `0..K` in `@classLabel` order.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeriesDataset {
    seqs: PaddedSequences,
    class_names: Vec<String>,
    problem_name: String,
    znorm: Option<ZNorm>,
}

delegate_sequence_dataset!(TimeSeriesDataset, seqs);

impl TimeSeriesDataset {
    /// The cases of `file` padded to `max_len` steps (at least its longest case) with
    /// `opts.pad`, normalized with `znorm` when given (`opts.znormalize` is not looked at: the
    /// statistics are the caller's, usually the TRAIN file's), missing values replaced by
    /// `opts.fill_missing`.
    pub fn from_file(
        file: &TsFile,
        max_len: usize,
        znorm: Option<&ZNorm>,
        opts: &UcrOptions,
    ) -> Result<Self> {
        let fill_missing = opts.fill_missing;
        if max_len < file.longest() {
            return Err(DataError::invalid(
                "TimeSeriesDataset::from_file",
                format!(
                    "{}: max_len {max_len} is shorter than the longest case ({} steps)",
                    file.path.display(),
                    file.longest()
                ),
            ));
        }
        if let Some(z) = znorm.filter(|z| z.mean.len() != file.dims || z.std.len() != file.dims) {
            return Err(DataError::invalid(
                "TimeSeriesDataset::from_file",
                format!(
                    "{}: normalization statistics of {} dimensions for series of {}",
                    file.path.display(),
                    z.mean.len(),
                    file.dims
                ),
            ));
        }
        let seqs: Vec<Vec<f32>> = file
            .cases
            .iter()
            .map(|c| {
                let mut v = c.values.clone();
                if let Some(z) = znorm {
                    z.apply(&mut v);
                }
                v.iter_mut()
                    .filter(|x| x.is_nan())
                    .for_each(|x| *x = fill_missing);
                v
            })
            .collect();
        let labels = file.cases.iter().map(|c| c.label as i64).collect();
        let k = file.header.class_labels.len();
        Ok(TimeSeriesDataset {
            seqs: PaddedSequences::new(&seqs, &[file.dims], max_len, opts.pad, labels, k)?,
            class_names: file.header.class_labels.clone(),
            problem_name: file.header.problem_name.clone(),
            znorm: znorm.cloned(),
        })
    }

    /// The class names: label `k` is `class_names()[k]`.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }
    /// The problem's name (`@problemName`).
    pub fn problem_name(&self) -> &str {
        &self.problem_name
    }
    /// The true length of every series, in `1..=L`.
    pub fn lengths(&self) -> &[usize] {
        self.seqs.lengths()
    }
    /// `F`, the number of dimensions.
    pub fn dims(&self) -> usize {
        self.seqs.data().sample_numel() / self.seqs.max_len()
    }
    /// The statistics the series were normalized with, if any.
    pub fn znorm(&self) -> Option<&ZNorm> {
        self.znorm.as_ref()
    }
    /// The padded values and labels.
    pub fn data(&self) -> &InMemoryDataset {
        self.seqs.data()
    }
    /// The padded sequences with their lengths.
    pub fn sequences(&self) -> &PaddedSequences {
        &self.seqs
    }
}

fn split_file(dir: &Path, name: &str, split: &str, ext: &str) -> Result<PathBuf> {
    let file = format!("{name}_{split}.{ext}");
    let p = dir.join(name).join(&file);
    if p.is_file() {
        Ok(p)
    } else {
        Err(DataError::MissingFile {
            dir: dir.join(name),
            what: format!("UCR/UEA {} file", split.to_ascii_lowercase()),
            tried: vec![file],
        })
    }
}

/// Both splits from their parsed files: the same `L`, the TRAIN statistics.
fn datasets(
    train: TsFile,
    test: TsFile,
    opts: &UcrOptions,
) -> Result<(TimeSeriesDataset, TimeSeriesDataset)> {
    if test.header.class_labels != train.header.class_labels {
        return Err(DataError::parse(
            &test.path,
            test.cases.first().map_or(1, |c| c.line),
            "@classLabel",
            format!(
                "classes {} differ from the train file's {}",
                test.header.class_labels.join(" "),
                train.header.class_labels.join(" ")
            ),
        ));
    }
    if test.dims != train.dims {
        return Err(DataError::parse(
            &test.path,
            test.cases.first().map_or(1, |c| c.line),
            "case",
            format!(
                "{} dimensions, but the train file has {}",
                test.dims, train.dims
            ),
        ));
    }
    let znorm = if opts.znormalize {
        Some(ZNorm::fit(&train)?)
    } else {
        None
    };
    let l = train.longest().max(test.longest());
    Ok((
        TimeSeriesDataset::from_file(&train, l, znorm.as_ref(), opts)?,
        TimeSeriesDataset::from_file(&test, l, znorm.as_ref(), opts)?,
    ))
}

/// Loads `<dir>/<name>/<name>_TRAIN.ts` and `<name>_TEST.ts` as `(train, test)`, raw values.
pub fn load_ucr(dir: &Path, name: &str) -> Result<(TimeSeriesDataset, TimeSeriesDataset)> {
    load_ucr_with(dir, name, &UcrOptions::default())
}

/// [`load_ucr`] with options (z-normalization by the TRAIN statistics, the missing-value fill).
pub fn load_ucr_with(
    dir: &Path,
    name: &str,
    opts: &UcrOptions,
) -> Result<(TimeSeriesDataset, TimeSeriesDataset)> {
    let train = read_ts(split_file(dir, name, "TRAIN", "ts")?)?;
    let test = read_ts(split_file(dir, name, "TEST", "ts")?)?;
    datasets(train, test, opts)
}

/// Loads `<dir>/<name>/<name>_TRAIN.tsv` and `<name>_TEST.tsv` (UCR 2018, univariate), the
/// classes sorted from the TRAIN file.
pub fn load_ucr_tsv(
    dir: &Path,
    name: &str,
    opts: &UcrOptions,
) -> Result<(TimeSeriesDataset, TimeSeriesDataset)> {
    let train = read_ucr_tsv(split_file(dir, name, "TRAIN", "tsv")?, None)?;
    let classes = train.header.class_labels.clone();
    let test = read_ucr_tsv(split_file(dir, name, "TEST", "tsv")?, Some(&classes))?;
    datasets(train, test, opts)
}

#[cfg(test)]
mod tests;
