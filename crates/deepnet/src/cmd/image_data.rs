//! The data of an image classifier's `train` run: the dataset directory's two splits (IDX
//! files, an image folder or CIFAR-10 binaries, recognized by their content), converted by
//! `--image-size` and `--channels`, normalized with the training split's statistics (global
//! for IDX files, as MNIST runs always were; per channel otherwise), and the `--augment`
//! spec checked against the images.

use super::common::{msg, CliResult, Normalization};
use super::train::TrainArgs;
use deepnet::data::image_files::MAX_SIDE;
use deepnet::data::{
    detect_format, load_dir_split, Augment, Dataset, DatasetFormat, ImageOptions, InMemoryDataset,
    Split,
};
use std::path::Path;

/// The splits of a training run and how they were prepared.
pub struct TrainData {
    /// the training split, normalized
    pub train: InMemoryDataset,
    /// the test split, normalized with the training statistics
    pub test: InMemoryDataset,
    /// the training statistics
    pub norm: Normalization,
    /// the class names, class `i` first
    pub classes: Vec<String>,
    /// what the directory holds
    pub format: DatasetFormat,
    /// the augmentation of the training batches (`--augment`)
    pub augment: Augment,
}

/// Parses `--image-size HxW` (each side 1 to the largest image side read).
pub fn parse_image_size(s: &str) -> CliResult<(usize, usize)> {
    let side = |d: &str| {
        d.trim()
            .parse::<usize>()
            .ok()
            .filter(|&v| v >= 1 && v <= MAX_SIDE as usize)
    };
    match s.split_once(['x', 'X']) {
        Some((h, w)) => match (side(h), side(w)) {
            (Some(h), Some(w)) => Ok((h, w)),
            _ => Err(format!(
                "--image-size: \"{s}\": expected HxW with sides from 1 to {MAX_SIDE}, e.g. 32x32"
            )),
        },
        None => Err(format!(
            "--image-size: \"{s}\": expected HxW (height x width), e.g. 32x32"
        )),
    }
}

/// `--image-size` and `--channels` as image options (checked).
fn image_options(a: &TrainArgs) -> CliResult<ImageOptions> {
    if let Some(c) = a.channels.filter(|c| !matches!(c, 1 | 3)) {
        return Err(format!("--channels: expected 1 (gray) or 3 (RGB), got {c}"));
    }
    Ok(ImageOptions {
        channels: a.channels,
        size: a.image_size.as_deref().map(parse_image_size).transpose()?,
    })
}

/// Loads, converts and normalizes the splits of `dir` for the run `a`, and checks `--augment`.
pub fn load_train_data(dir: &Path, a: &TrainArgs) -> CliResult<TrainData> {
    let opts = image_options(a)?;
    let format = detect_format(dir).map_err(msg)?;
    if format == DatasetFormat::Idx && !opts.is_default() {
        return Err(format!(
            "--image-size/--channels: {} holds IDX files, which are read as they are (the \
             flags apply to image folders and CIFAR-10 binaries)",
            dir.display()
        ));
    }
    let train = load_dir_split(dir, Split::Train, opts).map_err(msg)?;
    let mut test = load_dir_split(dir, Split::Test, opts).map_err(msg)?.data;
    let classes = train.classes;
    let mut train = train.data;
    // the statistics of the whole training split, before --limit or --train-samples
    let norm = Normalization::of_train(&train, format != DatasetFormat::Idx)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    norm.apply(&mut train)?;
    norm.apply(&mut test)?;
    let flag = |e: deepnet::data::DataError| {
        format!(
            "--augment: {}",
            e.to_string().trim_start_matches("augment: ")
        )
    };
    let augment = Augment::parse(&a.augment).map_err(flag)?;
    if !augment.is_none() {
        match train.sample_shape()[..] {
            [_, h, w] => augment.check_image((h, w)).map_err(flag)?,
            ref other => {
                return Err(format!(
                    "--augment: takes images (C, H, W), the samples of {} have shape {other:?}",
                    dir.display()
                ))
            }
        }
    }
    Ok(TrainData {
        train,
        test,
        norm,
        classes,
        format,
        augment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_parse_and_bad_ones_are_named() {
        assert_eq!(parse_image_size("32x24").unwrap(), (32, 24));
        assert_eq!(parse_image_size("8X8").unwrap(), (8, 8));
        for bad in ["32", "0x4", "4x", "ax4", "99999x4"] {
            let e = parse_image_size(bad).unwrap_err();
            assert!(e.starts_with("--image-size: ") && e.contains(bad), "{e}");
        }
    }
}
