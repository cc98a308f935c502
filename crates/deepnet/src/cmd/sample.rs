//! `deepnet sample`: makes new data with a trained generative model.
//!
//! Images (`vae`, `conv_vae`, `gan`, `dcgan`): `--grid RxC` (default 10x10) or `--count N` samples, written to
//! `--out`: a `.png` name gives a grid, an `.idx` (or `.idx.gz`) name an IDX file of uint8
//! `N x H x W` images (`N x C x H x W` for several channels) that any classifier can score
//! (`deepnet score`). `--walk A,B` (repeatable) draws, for a VAE, one row per pair of test
//! images: the decoded codes on the straight line from image A's code to image B's, `--steps`
//! of them, both ends included.
//!
//! Text (`char_lstm`): `--prime` (default a newline), then `--length` characters (500) sampled
//! at `--temperature` (0.8), printed, or written to `--out NAME.txt`.
//!
//! A model family is one arm of [`Sampler`]; the weights file's metadata picks it, and the
//! flags of another family are an error naming the model.

use super::common::{load_split, msg, resolve_dataset, CliResult, WeightsFile};
use super::generative::{cannot_sample, load_generative, Generative, GENERATIVE_MODELS};
use super::sample_text::{
    check_text_flags, is_char_lm, CharLm, DEFAULT_LENGTH, DEFAULT_PRIME, DEFAULT_TEMPERATURE,
};
use super::train_text::CHAR_LSTM;
use clap::Args;
use deepnet::data::{write_idx, Dataset, Split};
use deepnet::tensor::{Generator, Tensor};
use deepnet::train::{load_safetensors_with_metadata, save_image_grid, GridOptions};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(
    after_help = "With --json: one JSON document {\"command\": \"sample\", \"weights\", \
\"model\", \"count\", \"rows\", \"cols\" (the PNG's layout, null for IDX), \"format\" (png or \
idx), \"out\"}; for a char_lstm {\"command\": \"sample\", \"weights\", \"model\", \"prime\", \
\"length\", \"temperature\", \"seed\", \"text\", \"out\" (null when printed)}."
)]
pub struct SampleArgs {
    /// A model.safetensors written by `deepnet train --model vae|conv_vae|gan|dcgan|char_lstm`.
    #[arg(long)]
    pub weights: PathBuf,
    /// A grid of R rows and C columns of samples, e.g. 10x10 (the default without --count).
    #[arg(long, value_name = "RxC", conflicts_with = "count")]
    pub grid: Option<String>,
    /// Number of samples (a PNG lays them out as square as possible).
    #[arg(long)]
    pub count: Option<usize>,
    /// Output file: NAME.png (a grid) or NAME.idx / NAME.idx.gz (uint8 images); default
    /// samples.png. For a char_lstm, NAME.txt (without it the text is printed).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A latent walk of a VAE between test images A and B (indices in the test split of
    /// --dataset), one row per --walk; repeatable.
    #[arg(long, value_name = "A,B", conflicts_with_all = ["grid", "count"])]
    pub walk: Vec<String>,
    /// Images per walk, both ends included.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// The dataset whose test images --walk starts and ends at: mnist, fashion-mnist or a
    /// directory of IDX files.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Seed of the codes (of the sampled characters for a char_lstm).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// char_lstm: text the model reads before it starts sampling, e.g. "ROMEO:"; every
    /// character must be in the model's vocabulary (default: a newline, the start of a line).
    #[arg(long)]
    pub prime: Option<String>,
    /// char_lstm: characters to sample after the prime (default 500).
    #[arg(long)]
    pub length: Option<usize>,
    /// char_lstm: sampling temperature, the logits divided by it before the softmax: below 1
    /// is more conservative, above 1 more surprising; positive (default 0.8).
    #[arg(long)]
    pub temperature: Option<f64>,
}

impl SampleArgs {
    /// The text flags given (`--prime`, `--length`, `--temperature`).
    fn text_flags(&self) -> Vec<&'static str> {
        let given = [
            ("--prime", self.prime.is_some()),
            ("--length", self.length.is_some()),
            ("--temperature", self.temperature.is_some()),
            ("--out NAME.txt", self.out.as_deref().is_some_and(is_txt)),
        ];
        given.iter().filter(|g| g.1).map(|g| g.0).collect()
    }

    /// The image flags given (`--grid`, `--count`, `--walk`).
    fn image_flags(&self) -> Vec<&'static str> {
        let given = [
            ("--grid", self.grid.is_some()),
            ("--count", self.count.is_some()),
            ("--walk", !self.walk.is_empty()),
        ];
        given.iter().filter(|g| g.1).map(|g| g.0).collect()
    }

    /// `--out`, or the images' default.
    fn image_out(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| "samples.png".into())
    }
}

/// What a weights file can make: one arm per model family.
enum Sampler {
    /// images from a VAE or a GAN
    Images(Generative),
    /// text from a character-level language model (boxed: it is the larger arm)
    Text(Box<CharLm>),
}

impl Sampler {
    /// The sampler of the model in `weights`; a model that cannot sample is an error.
    fn load(weights: &Path) -> CliResult<(Sampler, String)> {
        let (tensors, meta) = load_safetensors_with_metadata(weights).map_err(msg)?;
        if is_char_lm(&meta) {
            let lm = CharLm::from_parts(&tensors, &meta, weights)?;
            return Ok((Sampler::Text(Box::new(lm)), CHAR_LSTM.to_string()));
        }
        let file = WeightsFile::from_parts(tensors, meta, weights)?;
        let name = file.spec.name.clone();
        match name.as_str() {
            n if GENERATIVE_MODELS.contains(&n) => {
                Ok((Sampler::Images(load_generative(&file, weights)?), name))
            }
            other => Err(cannot_sample(weights, other)),
        }
    }
}

/// Whether `out` names a text file (`.txt`): where a char_lstm's text goes.
fn is_txt(out: &Path) -> bool {
    out.to_string_lossy().to_ascii_lowercase().ends_with(".txt")
}

/// Where the images go.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Png,
    Idx { gzip: bool },
}

fn format_of(out: &Path) -> CliResult<Format> {
    let name = out.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".png") {
        Ok(Format::Png)
    } else if name.ends_with(".idx") {
        Ok(Format::Idx { gzip: false })
    } else if name.ends_with(".idx.gz") {
        Ok(Format::Idx { gzip: true })
    } else {
        Err(format!(
            "--out {}: expected a .png (a grid) or .idx / .idx.gz (uint8 images) file name (or \
             .txt for the text of a char_lstm)",
            out.display()
        ))
    }
}

/// Parses `RxC` (both at least 1).
pub fn parse_grid(s: &str) -> CliResult<(usize, usize)> {
    let bad = || format!("--grid: \"{s}\" is not ROWSxCOLS with both at least 1, e.g. 10x10");
    let (r, c) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let r: usize = r.trim().parse().map_err(|_| bad())?;
    let c: usize = c.trim().parse().map_err(|_| bad())?;
    if r == 0 || c == 0 {
        return Err(bad());
    }
    Ok((r, c))
}

/// Parses `A,B` into two indices.
fn parse_pair(s: &str) -> CliResult<(usize, usize)> {
    let bad = || format!("--walk: \"{s}\" is not two test-image indices A,B, e.g. 3,7");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

/// The walks of `a.walk`, stacked: `(walks * steps, *sample_shape)`.
fn walks(a: &SampleArgs, model: &Generative) -> CliResult<Tensor> {
    let dir = resolve_dataset(&a.dataset)?;
    let test = load_split(&dir, Split::Test, (0.0, 1.0))?;
    if test.sample_shape() != model.sample_shape() {
        return Err(format!(
            "--walk: the images of {} have shape {:?}, the model makes {:?}",
            dir.display(),
            test.sample_shape(),
            model.sample_shape()
        ));
    }
    let per = test.sample_numel();
    let image = |i: usize| -> CliResult<Tensor> {
        if i >= test.len() {
            return Err(format!(
                "--walk: index {i} is past the {} test images of {}",
                test.len(),
                dir.display()
            ));
        }
        Tensor::from_vec(
            test.images()[i * per..(i + 1) * per].to_vec(),
            test.sample_shape(),
        )
        .map_err(msg)
    };
    let rows = a
        .walk
        .iter()
        .map(|w| {
            let (i, j) = parse_pair(w)?;
            model.walk(&image(i)?, &image(j)?, a.steps)
        })
        .collect::<CliResult<Vec<Tensor>>>()?;
    Tensor::cat(&rows, 0usize).map_err(msg)
}

/// Writes `images` (`(N, C, H, W)` in `[0, 1]`) as an IDX file of uint8 (`N x H x W` for one
/// channel).
fn write_images_idx(out: &Path, images: &Tensor, gzip: bool) -> CliResult<()> {
    let d = images.dims();
    let dims: Vec<usize> = if d.len() == 4 && d[1] == 1 {
        vec![d[0], d[2], d[3]]
    } else {
        d.to_vec()
    };
    let bytes: Vec<u8> = images
        .to_vec_f64()
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    write_idx(out, &dims, &bytes, gzip).map_err(msg)
}

/// How many images, laid out how (checked before any file is read).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Request {
    /// `n` samples; a PNG has `cols` columns (0: as square as possible)
    Samples { n: usize, cols: usize },
    /// the `--walk` rows
    Walks,
}

fn request(a: &SampleArgs) -> CliResult<Request> {
    if !a.walk.is_empty() {
        return Ok(Request::Walks);
    }
    match (a.count, &a.grid) {
        (Some(0), _) => Err("--count: expected at least 1".into()),
        (Some(n), _) => Ok(Request::Samples { n, cols: 0 }),
        (None, g) => {
            let (r, c) = parse_grid(g.as_deref().unwrap_or("10x10"))?;
            Ok(Request::Samples { n: r * c, cols: c })
        }
    }
}

fn sample_images(
    a: &SampleArgs,
    model: &Generative,
    req: Request,
    format: Format,
) -> CliResult<(usize, Option<usize>)> {
    let (images, cols) = match req {
        Request::Samples { n, cols } => (model.sample(n, &mut Generator::new(a.seed))?, cols),
        Request::Walks => (walks(a, model)?, a.steps),
    };
    let n = images.dims()[0];
    match format {
        Format::Png => {
            let opts = GridOptions {
                cols,
                value_range: Some((0.0, 1.0)),
                ..Default::default()
            };
            let info = save_image_grid(a.image_out(), &images, &opts).map_err(msg)?;
            Ok((n, Some(info.cols)))
        }
        Format::Idx { gzip } => {
            write_images_idx(&a.image_out(), &images, gzip)?;
            Ok((n, None))
        }
    }
}

pub fn run(a: SampleArgs, json_out: bool) -> CliResult<()> {
    let (text_flags, image_flags) = (a.text_flags(), a.image_flags());
    if let (Some(t), Some(i)) = (text_flags.first(), image_flags.first()) {
        return Err(format!(
            "{t} and {i}: {t} samples text from a {CHAR_LSTM}, {i} images from a generative \
             model ({}); give the flags of one",
            GENERATIVE_MODELS.join(", ")
        ));
    }
    // the flags are checked before any file is read
    let (prime, length, temperature) = (
        a.prime.as_deref().unwrap_or(DEFAULT_PRIME),
        a.length.unwrap_or(DEFAULT_LENGTH),
        a.temperature.unwrap_or(DEFAULT_TEMPERATURE),
    );
    let images = if text_flags.is_empty() {
        Some((request(&a)?, format_of(&a.image_out())?))
    } else {
        check_text_flags(prime, temperature)?;
        None
    };
    let (sampler, name) = Sampler::load(&a.weights)?;
    let w = a.weights.display();
    let model = match sampler {
        Sampler::Images(model) => model,
        Sampler::Text(lm) => {
            if let Some(i) = image_flags.first() {
                return Err(format!(
                    "{i}: {w} holds a {CHAR_LSTM}, which samples text (--prime, --length, \
                     --temperature), not images"
                ));
            }
            if let Some(out) = a.out.as_deref().filter(|o| !is_txt(o)) {
                return Err(format!(
                    "--out {}: {w} holds a {CHAR_LSTM}, whose text goes to a .txt file (or, \
                     without --out, is printed)",
                    out.display()
                ));
            }
            let text = lm.sample(prime, length, temperature, a.seed, &a.weights)?;
            return print_text(&a, &text, (prime, length, temperature), json_out);
        }
    };
    let Some((req, format)) = images else {
        return Err(format!(
            "{}: {w} holds a {name} model, which samples images (--grid, --count, --walk); \
             --prime, --length and --temperature are for a {CHAR_LSTM}",
            text_flags.join(", ")
        ));
    };
    let (count, cols) = sample_images(&a, &model, req, format)?;
    let out = a.image_out();
    let rows = cols.map(|c| count.div_ceil(c));
    let format = if cols.is_some() { "png" } else { "idx" };
    if json_out {
        println!(
            "{}",
            json!({"command": "sample", "weights": a.weights.display().to_string(), "model": name,
                   "count": count, "rows": rows, "cols": cols, "format": format,
                   "out": out.display().to_string()})
        );
    } else {
        let layout = match (rows, cols) {
            (Some(r), Some(c)) => format!(" as a {r}x{c} grid"),
            _ => String::new(),
        };
        println!(
            "wrote {count} samples of the {name} in {}{layout}",
            out.display()
        );
    }
    Ok(())
}

/// Prints the sampled `text` (or writes it to `--out`), with the JSON summary under --json.
fn print_text(
    a: &SampleArgs,
    text: &str,
    (prime, length, temperature): (&str, usize, f64),
    json_out: bool,
) -> CliResult<()> {
    if let Some(out) = &a.out {
        std::fs::write(out, text).map_err(|e| format!("--out {}: {e}", out.display()))?;
    }
    if json_out {
        println!(
            "{}",
            json!({"command": "sample", "weights": a.weights.display().to_string(),
                   "model": CHAR_LSTM, "prime": prime, "length": length,
                   "temperature": temperature, "seed": a.seed, "text": text,
                   "out": a.out.as_ref().map(|o| o.display().to_string())})
        );
    } else if let Some(out) = &a.out {
        println!(
            "wrote {} characters of the {CHAR_LSTM} in {}",
            text.chars().count(),
            out.display()
        );
    } else {
        println!("{text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_pairs_and_formats_parse_or_are_named() {
        assert_eq!(parse_grid("10x10").unwrap(), (10, 10));
        assert_eq!(parse_grid("2X30").unwrap(), (2, 30));
        for bad in ["10", "0x4", "4x", "axb", "3x3x3"] {
            let e = parse_grid(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("ROWSxCOLS"), "{e}");
        }
        assert_eq!(parse_pair("3, 7").unwrap(), (3, 7));
        assert!(parse_pair("3").unwrap_err().contains("A,B"));
        assert_eq!(format_of(Path::new("a/s.PNG")).unwrap(), Format::Png);
        assert_eq!(
            format_of(Path::new("s.idx.gz")).unwrap(),
            Format::Idx { gzip: true }
        );
        assert!(format_of(Path::new("s.jpg")).unwrap_err().contains(".png"));
    }
}
