//! The `deepnet` command line: `deepnet train | eval | predict | summary | sample | score |
//! reconstruct | bench | data | convert | export | show`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "deepnet", version, about = "deepnet: deep networks in Rust")]
struct Cli {
    /// Print one machine-readable JSON summary instead of human-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Number of threads for the kernels, 1 to 1024 (default: all cores).
    #[arg(long, global = true, value_parser = cmd::common::count_in(1, 1024))]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

// parsed once per process: the size of the train flags' variant does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Train a model (default: an MLP on the MNIST shipped in data/).
    Train(Box<cmd::train::TrainArgs>),
    /// Evaluate saved weights on a dataset.
    Eval(cmd::eval::EvalArgs),
    /// Predict classes for images with saved weights.
    Predict(cmd::predict::PredictArgs),
    /// Print a model's layers, output shapes and parameter counts.
    Summary(cmd::summary::SummaryArgs),
    /// Make new data with a trained generative model (vae, conv_vae, gan, dcgan): a PNG grid, an IDX file, a
    /// latent walk.
    Sample(cmd::sample::SampleArgs),
    /// Score generated images with a trained classifier: Inception Score and class shares.
    Score(cmd::score::ScoreArgs),
    /// Measure kernel and training throughput.
    Bench(cmd::bench::BenchArgs),
    /// Inspect a dataset: sizes, image shape, pixel statistics, class counts.
    Data(cmd::data::DataArgs),
    /// Convert weights: PyTorch .pt <-> safetensors, or --fully-convolutional.
    Convert(cmd::convert::ConvertArgs),
    /// Export a model as ONNX (--onnx OUT.onnx).
    Export(cmd::export::ExportArgs),
    /// Draw a trained CNN's first-layer filters or one image's feature maps as a PNG grid.
    Show(cmd::show::ShowArgs),
    /// Draw test digits over their reconstructions by PCA and autoencoders, one row per model.
    Reconstruct(cmd::reconstruct::ReconstructArgs),
}

/// Keeps freed buffers in the process for reuse. A training step allocates and frees the same
/// large activation and gradient buffers every step; glibc by default returns big ones to the
/// kernel (munmap or heap trimming) and gets them back zeroed, page by page, on the next step:
/// LeNet training spent a quarter of its time in page faults and TLB shootdowns.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tuning parameters; called before any other thread
    // exists. 32 MiB is glibc's largest mmap threshold on 64-bit targets.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

fn main() -> ExitCode {
    // Exit quietly when stdout is closed early (`deepnet summary | head`) instead of panicking
    // on a failed print: restore the default SIGPIPE action that Rust's runtime overrides.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        if let Err(e) = deepnet::tensor::set_num_threads(n) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    // Subnormal gradients slow a converging network's steps several-fold; flush them to zero,
    // as TensorFlow does (see deepnet_tensor::set_flush_denormal). Threads started later (the
    // data loader's) inherit the mode.
    deepnet::tensor::set_flush_denormal(true);
    let json = cli.json;
    let result = match cli.command {
        Command::Bench(args) => cmd::bench::run(args, json),
        Command::Train(args) => cmd::train::run(*args, json),
        Command::Eval(args) => cmd::eval::run(args, json),
        Command::Summary(args) => cmd::summary::run(args, json),
        Command::Predict(args) => cmd::predict::run(args, json),
        Command::Sample(args) => cmd::sample::run(args, json),
        Command::Score(args) => cmd::score::run(args, json),
        Command::Data(args) => cmd::data::run(args, json),
        Command::Convert(args) => cmd::convert::run(args, json),
        Command::Export(args) => cmd::export::run(args, json),
        Command::Show(args) => cmd::show::run(args, json),
        Command::Reconstruct(args) => cmd::reconstruct::run(args, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
