//! `deepnet data`: what a dataset holds, split by split: the number of examples, the image
//! shape, the pixel range, the mean and standard deviation (after scaling to [0, 1], the
//! statistics `train` normalizes with) and the number of examples of each class.

use super::common::{msg, resolve_dataset, CliResult};
use clap::Args;
use deepnet::data::{load_dir_split, transforms, Dataset, ImageOptions, InMemoryDataset, Split};
use serde_json::{json, Value};

#[derive(Args, Debug)]
#[command(
    after_help = "With --json: one JSON object {\"command\": \"data\", \"dataset\", \
\"classes\", \"class_names\", \"format\", \"train\": {...}, \"test\": {...}}, each split with \"examples\", \"image_shape\", \
\"pixel_min\", \"pixel_max\" (raw bytes, 0..255), \"mean\", \"std\" (after scaling to [0, 1]) \
and \"class_counts\" (a list indexed by class)."
)]
pub struct DataArgs {
    /// mnist, fashion-mnist, or a directory: IDX files, an image folder (DIR/train/<class>/*.png,
    /// DIR/test/<class>/...) or CIFAR-10 binaries.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
}

/// The statistics of one split.
struct SplitStats {
    examples: usize,
    shape: Vec<usize>,
    /// raw byte range of the pixels
    range: (u8, u8),
    mean: f32,
    std: f32,
    class_counts: Vec<usize>,
}

fn stats(ds: &InMemoryDataset) -> SplitStats {
    let (lo, hi) = ds
        .images()
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    // the loader divided the bytes by 255; undo it to report the file's own values
    let byte = |x: f32| {
        if x.is_finite() {
            (x * 255.0).round() as u8
        } else {
            0
        }
    };
    let (mean, std) = transforms::mean_std(ds.images());
    let mut class_counts = vec![0usize; ds.classes()];
    for &l in ds.labels() {
        // labels were checked to lie in 0..classes when the files were read
        class_counts[l as usize] += 1;
    }
    SplitStats {
        examples: ds.len(),
        shape: ds.sample_shape(),
        range: (byte(lo), byte(hi)),
        mean,
        std,
        class_counts,
    }
}

fn to_json(s: &SplitStats) -> Value {
    json!({"examples": s.examples, "image_shape": s.shape, "pixel_min": s.range.0,
           "pixel_max": s.range.1, "mean": s.mean, "std": s.std, "class_counts": s.class_counts})
}

pub fn run(a: DataArgs, json_out: bool) -> CliResult<()> {
    let dir = resolve_dataset(&a.dataset)?;
    let mut splits = Vec::new();
    let mut names = Vec::new();
    let mut format = "";
    for split in [Split::Train, Split::Test] {
        // one split at a time: the 60,000 training images take 190 MB as f32
        let loaded = load_dir_split(&dir, split, ImageOptions::default()).map_err(msg)?;
        splits.push((split, stats(&loaded.data)));
        (names, format) = (loaded.classes, loaded.format.name());
    }
    if json_out {
        let mut out = json!({"command": "data", "dataset": dir.display().to_string(),
                             "classes": names.len(), "class_names": names, "format": format});
        for (split, s) in &splits {
            out[split.as_str()] = to_json(s);
        }
        println!("{out}");
        return Ok(());
    }
    println!("{} ({} classes, {format})", dir.display(), names.len());
    for (split, s) in &splits {
        let shape = s
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        println!(
            "{:<5}  {} examples of {shape}; pixels {}..{} (bytes); scaled to [0, 1]: mean {:.4}, std {:.4}",
            split.as_str(),
            s.examples,
            s.range.0,
            s.range.1,
            s.mean,
            s.std
        );
        let counts = s
            .class_counts
            .iter()
            .enumerate()
            .map(|(c, n)| format!("{}:{n}", names[c]))
            .collect::<Vec<_>>()
            .join(" ");
        println!("       per class  {counts}");
    }
    Ok(())
}
