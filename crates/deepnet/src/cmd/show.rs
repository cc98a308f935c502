//! `deepnet show filters | features`: pictures of what a trained CNN learned. `filters` draws a
//! convolution's weights (by default the first layer's, one tile per filter); `features` draws
//! the feature maps one test image produces at a convolution layer. Both write a PNG grid via
//! `deepnet_train::save_image_grid`.

use super::common::{
    load_split_for_model, load_trained, msg, resolve_dataset, CliResult, TrainedModel,
};
use clap::{Args, Subcommand};
use deepnet::data::{Dataset, Split};
use deepnet::models::layer_output;
use deepnet::nn::Module;
use deepnet::tensor::Tensor;
use deepnet::train::{load_safetensors, save_image_grid, GridInfo, GridOptions};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(
    after_help = "With --json: {\"command\": \"show\", \"what\", \"weights\", \"layer\", \
\"out\" (the PNG written), \"grid\": {\"rows\", \"cols\", \"count\", \"tile\": [h, w], \"scale\", \
\"width\", \"height\"}}."
)]
pub struct ShowArgs {
    #[command(subcommand)]
    pub what: ShowWhat,
}

#[derive(Subcommand, Debug)]
pub enum ShowWhat {
    /// A convolution's learned filters as an image grid (gray for 1 input channel, RGB for 3,
    /// one gray tile per input channel otherwise).
    Filters(FilterArgs),
    /// The feature maps of one test image at a convolution layer, as an image grid.
    Features(FeatureArgs),
}

/// What both pictures share.
#[derive(Args, Debug)]
pub struct PictureArgs {
    /// A model.safetensors written by `deepnet train` (a CNN).
    #[arg(long)]
    pub weights: PathBuf,
    /// The convolution layer, by path (e.g. features.3); default: the first.
    #[arg(long)]
    pub layer: Option<String>,
    /// Enlarge each pixel to a SCALE x SCALE block (0: about 40 pixels per tile).
    #[arg(long, default_value_t = 0)]
    pub scale: usize,
}

#[derive(Args, Debug)]
pub struct FilterArgs {
    #[command(flatten)]
    pub common: PictureArgs,
    /// The PNG to write.
    #[arg(long, default_value = "filters.png")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct FeatureArgs {
    #[command(flatten)]
    pub common: PictureArgs,
    /// Index of the test image whose feature maps to draw.
    #[arg(long)]
    pub image: usize,
    /// mnist, fashion-mnist, or a directory holding the four IDX files; the test split is used.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// The PNG to write.
    #[arg(long, default_value = "features.png")]
    pub out: PathBuf,
}

pub fn run(a: ShowArgs, json_out: bool) -> CliResult<()> {
    let (what, common, out, info, layer) = match &a.what {
        ShowWhat::Filters(f) => {
            let (info, layer) = filters(f)?;
            ("filters", &f.common, &f.out, info, layer)
        }
        ShowWhat::Features(f) => {
            let (info, layer) = features(f)?;
            ("features", &f.common, &f.out, info, layer)
        }
    };
    if json_out {
        println!(
            "{}",
            json!({"command": "show", "what": what,
                   "weights": common.weights.display().to_string(), "layer": layer,
                   "out": out.display().to_string(),
                   "grid": {"rows": info.rows, "cols": info.cols, "count": info.count,
                            "tile": [info.tile.0, info.tile.1], "scale": info.scale,
                            "width": info.size.0, "height": info.size.1}})
        );
    } else {
        println!(
            "wrote {}: {} {} of {layer} ({}x{}), a {}x{} grid of {}x{} pixels",
            out.display(),
            info.count,
            if what == "filters" {
                "filters"
            } else {
                "feature maps"
            },
            info.tile.0,
            info.tile.1,
            info.rows,
            info.cols,
            info.size.0,
            info.size.1
        );
    }
    Ok(())
}

/// The paths of the model's `Conv2d` layers, in the order they are defined.
fn conv_layers(m: &dyn Module) -> Vec<String> {
    fn walk(m: &dyn Module, path: &str, out: &mut Vec<String>) {
        let children = m.children();
        if children.is_empty() && m.describe().starts_with("Conv2d(") {
            out.push(path.to_string());
        }
        for (name, c) in children {
            let p = if path.is_empty() {
                name
            } else {
                format!("{path}.{name}")
            };
            walk(c, &p, out);
        }
    }
    let mut out = Vec::new();
    walk(m, "", &mut out);
    out
}

/// The convolution layer `--layer` names (default: the first), or an error naming the file and
/// listing the convolution layers.
fn pick_layer(weights: &Path, t: &TrainedModel, layer: &Option<String>) -> CliResult<String> {
    let convs = conv_layers(t.model.as_ref());
    if convs.is_empty() {
        return Err(format!(
            "{}: the model ({}) has no convolution layer, so it has no filters or feature maps \
             to draw; train a CNN, e.g. --model lenet5",
            weights.display(),
            t.spec.name
        ));
    }
    match layer {
        None => Ok(convs[0].clone()),
        Some(l) if convs.contains(l) => Ok(l.clone()),
        Some(l) => Err(format!(
            "--layer {l}: {} has no convolution layer \"{l}\"; its convolution layers are {}",
            weights.display(),
            convs.join(", ")
        )),
    }
}

fn options(scale: usize) -> GridOptions {
    GridOptions {
        scale,
        ..Default::default()
    }
}

fn filters(a: &FilterArgs) -> CliResult<(GridInfo, String)> {
    let c = &a.common;
    let trained = load_trained(&c.weights)?;
    let layer = pick_layer(&c.weights, &trained, &c.layer)?;
    let key = format!("{layer}.weight");
    let weight = load_safetensors(&c.weights)
        .map_err(msg)?
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, t)| t)
        .ok_or_else(|| format!("{}: no tensor \"{key}\"", c.weights.display()))?;
    let &[n, cin, kh, kw] = weight.dims() else {
        return Err(format!(
            "{}: \"{key}\" has shape {:?}, not [out, in, kH, kW]",
            c.weights.display(),
            weight.dims()
        ));
    };
    let mut opts = options(c.scale);
    let images = if cin == 1 || cin == 3 {
        weight
    } else {
        // no colour for 6 or 16 channels: one gray tile per (filter, input channel), one row
        // per filter
        opts.cols = cin;
        weight.reshape([n * cin, 1, kh, kw]).map_err(msg)?
    };
    let info = save_image_grid(&a.out, &images, &opts).map_err(msg)?;
    Ok((info, layer))
}

fn features(a: &FeatureArgs) -> CliResult<(GridInfo, String)> {
    let c = &a.common;
    let trained = load_trained(&c.weights)?;
    let layer = pick_layer(&c.weights, &trained, &c.layer)?;
    let dir = resolve_dataset(&a.dataset)?;
    let data = load_split_for_model(&dir, Split::Test, trained.norm.clone(), &trained.spec.input)?;
    if a.image >= data.len() {
        return Err(format!(
            "--image {}: the test split of {} has {} images (indices 0..{})",
            a.image,
            dir.display(),
            data.len(),
            data.len().saturating_sub(1)
        ));
    }
    let shape = data.sample_shape();
    if shape != trained.spec.input {
        return Err(format!(
            "{}: images of {} have shape {shape:?}, the model expects {:?}",
            c.weights.display(),
            dir.display(),
            trained.spec.input
        ));
    }
    let per = data.sample_numel();
    let pixels = data.images()[a.image * per..(a.image + 1) * per].to_vec();
    let mut dims = vec![1];
    dims.extend(&shape);
    let x = Tensor::from_vec(pixels, dims).map_err(msg)?;
    let maps = layer_output(trained.model.as_ref(), &x, &layer)
        .map_err(|e| format!("{}: {e}", c.weights.display()))?;
    let &[1, k, h, w] = maps.dims() else {
        return Err(format!(
            "{layer}: output {:?} is not one image's feature maps",
            maps.dims()
        ));
    };
    let images = maps.reshape([k, 1, h, w]).map_err(msg)?;
    let info = save_image_grid(&a.out, &images, &options(c.scale)).map_err(msg)?;
    Ok((info, layer))
}
