//! The archive's own `.ts` format (see [`crate::ucr`] for the layout): the header, then one case
//! per line.

use super::{parse_value, truncate, TsCase, TsFile, TsHeader, MAX_DECLARED};
use crate::error::{DataError, Result};
use crate::sequence::read_text_file;
use std::path::Path;

fn parse_bool(path: &Path, line: usize, key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(DataError::parse(
            path,
            line,
            key,
            format!("\"{v}\" is not true or false"),
        )),
    }
}

fn parse_size(path: &Path, line: usize, key: &str, v: &str) -> Result<usize> {
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_DECLARED).contains(&n) => Ok(n),
        _ => Err(DataError::parse(
            path,
            line,
            key,
            format!("\"{v}\" is not an integer in 1..={MAX_DECLARED}"),
        )),
    }
}

/// Parses the text of a `.ts` file; `path` names it in errors.
pub fn parse_ts(text: &str, path: &Path) -> Result<TsFile> {
    let mut h = TsHeader::default();
    let mut class_line = None;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let mut data_line = None;
    for (ln, l) in lines.by_ref() {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some(rest) = l.strip_prefix('@') else {
            return Err(DataError::parse(
                path,
                ln,
                "header",
                format!(
                    "\"{}\" before @data: expected a header line starting with @",
                    truncate(l)
                ),
            ));
        };
        let (key, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let value = value.trim();
        let field = format!("@{key}");
        match key.to_ascii_lowercase().as_str() {
            "problemname" => h.problem_name = value.to_string(),
            "timestamps" => {
                if parse_bool(path, ln, &field, value)? {
                    return Err(DataError::parse(
                        path,
                        ln,
                        field,
                        "timestamped series are not supported, expected @timeStamps false",
                    ));
                }
            }
            "missing" => h.missing = Some(parse_bool(path, ln, &field, value)?),
            "univariate" => h.univariate = Some(parse_bool(path, ln, &field, value)?),
            "dimension" | "dimensions" => h.dimensions = Some(parse_size(path, ln, &field, value)?),
            "equallength" => h.equal_length = Some(parse_bool(path, ln, &field, value)?),
            "serieslength" => h.series_length = Some(parse_size(path, ln, &field, value)?),
            "classlabel" => {
                let mut words = value.split_whitespace();
                let flag = words.next().unwrap_or("");
                if !parse_bool(path, ln, &field, flag)? {
                    return Err(DataError::parse(
                        path,
                        ln,
                        field,
                        "regression problems are not supported, expected @classLabel true \
                         followed by the class names",
                    ));
                }
                let labels: Vec<String> = words.map(str::to_string).collect();
                if labels.is_empty() {
                    return Err(DataError::parse(
                        path,
                        ln,
                        field,
                        "no class names after true",
                    ));
                }
                if let Some(d) = labels
                    .iter()
                    .enumerate()
                    .find(|(i, a)| labels[..*i].contains(a))
                {
                    return Err(DataError::parse(
                        path,
                        ln,
                        field,
                        format!("class name \"{}\" is listed twice", d.1),
                    ));
                }
                h.class_labels = labels;
                class_line = Some(ln);
            }
            "targetlabel" => {
                return Err(DataError::parse(
                    path,
                    ln,
                    field,
                    "regression problems are not supported, expected @classLabel true ...",
                ))
            }
            "data" => {
                data_line = Some(ln);
                break;
            }
            _ => {
                return Err(DataError::parse(
                    path,
                    ln,
                    field,
                    "unknown header key, expected one of @problemName @timeStamps @missing \
                     @univariate @dimensions @equalLength @seriesLength @classLabel @data",
                ))
            }
        }
    }
    let last = text.lines().count();
    let Some(data_line) = data_line else {
        return Err(DataError::parse(
            path,
            last,
            "@data",
            "no @data line: the file ends in its header",
        ));
    };
    if class_line.is_none() {
        return Err(DataError::parse(
            path,
            data_line,
            "@classLabel",
            "no @classLabel true ... line before @data",
        ));
    }
    let mut dims = match h.univariate {
        Some(true) => {
            if let Some(d) = h.dimensions.filter(|&d| d != 1) {
                return Err(DataError::parse(
                    path,
                    data_line,
                    "@dimensions",
                    format!("{d} dimensions in a file marked @univariate true"),
                ));
            }
            Some(1)
        }
        _ => h.dimensions,
    };
    let mut cases = Vec::new();
    for (ln, l) in lines {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let case = parse_case(path, ln, l, &h, dims)?;
        dims = Some(case.values.len() / case.len);
        cases.push(case);
    }
    let Some(dims) = dims.filter(|_| !cases.is_empty()) else {
        return Err(DataError::parse(
            path,
            last.max(data_line),
            "@data",
            "no cases after @data",
        ));
    };
    if h.equal_length == Some(true) {
        if let Some(c) = cases.iter().find(|c| c.len != cases[0].len) {
            return Err(DataError::parse(
                path,
                c.line,
                "case",
                format!(
                    "{} steps, but the first case has {} and the file is marked @equalLength true",
                    c.len, cases[0].len
                ),
            ));
        }
    }
    Ok(TsFile {
        path: path.into(),
        header: h,
        dims,
        cases,
    })
}

/// One data line of a `.ts` file: `d0v0,d0v1,...:d1v0,...:label`. `dims` is the number of
/// dimensions every case must have, when known.
fn parse_case(
    path: &Path,
    ln: usize,
    l: &str,
    h: &TsHeader,
    dims: Option<usize>,
) -> Result<TsCase> {
    let Some((series, label)) = l.rsplit_once(':') else {
        return Err(DataError::parse(
            path,
            ln,
            "case",
            "no ':' before a class label: expected the dimensions separated by ':' and the \
             class label last",
        ));
    };
    let label = label.trim();
    let label_idx = h
        .class_labels
        .iter()
        .position(|c| c == label)
        .ok_or_else(|| {
            DataError::parse(
                path,
                ln,
                "class label",
                format!(
                    "\"{}\" is not one of the @classLabel names {}",
                    truncate(label),
                    h.class_labels.join(" ")
                ),
            )
        })?;
    let parts: Vec<&str> = series.split(':').collect();
    if let Some(d) = dims.filter(|&d| d != parts.len()) {
        return Err(DataError::parse(
            path,
            ln,
            "case",
            format!("{} dimensions, expected {d}", parts.len()),
        ));
    }
    let mut per_dim: Vec<Vec<f32>> = Vec::with_capacity(parts.len());
    for (d, part) in parts.iter().enumerate() {
        if part.trim().is_empty() {
            return Err(DataError::parse(
                path,
                ln,
                format!("dimension {d}"),
                "no values",
            ));
        }
        let vals = part
            .split(',')
            .enumerate()
            .map(|(j, s)| parse_value(path, ln, || format!("value {j} of dimension {d}"), s, false))
            .collect::<Result<Vec<f32>>>()?;
        if let Some(first) = per_dim.first().filter(|f| f.len() != vals.len()) {
            return Err(DataError::parse(
                path,
                ln,
                format!("dimension {d}"),
                format!(
                    "{} values, but dimension 0 has {}: the dimensions of a case must have \
                     the same length",
                    vals.len(),
                    first.len()
                ),
            ));
        }
        per_dim.push(vals);
    }
    let len = per_dim[0].len();
    if h.missing == Some(false) {
        if let Some((d, j)) = per_dim
            .iter()
            .enumerate()
            .find_map(|(d, v)| v.iter().position(|x| x.is_nan()).map(|j| (d, j)))
        {
            return Err(DataError::parse(
                path,
                ln,
                format!("value {j} of dimension {d}"),
                "a missing value in a file marked @missing false",
            ));
        }
    }
    if h.equal_length == Some(true) {
        if let Some(n) = h.series_length.filter(|&n| n != len) {
            return Err(DataError::parse(
                path,
                ln,
                "case",
                format!("{len} values per dimension, but @seriesLength is {n}"),
            ));
        }
    }
    let f = per_dim.len();
    let mut values = Vec::with_capacity(len * f);
    for t in 0..len {
        values.extend(per_dim.iter().map(|v| v[t]));
    }
    Ok(TsCase {
        values,
        len,
        label: label_idx,
        line: ln,
    })
}

/// Reads a `.ts` file.
pub fn read_ts(path: impl AsRef<Path>) -> Result<TsFile> {
    let path = path.as_ref();
    parse_ts(&read_text_file(path)?, path)
}
