//! # deepnet-train
//!
//! What a training run writes and watches, independent of any model: atomic file writes,
//! safetensors model files (loadable by PyTorch's `safetensors.torch.load_file`), the
//! `metrics.csv` log, PNG plots, a progress bar (plain lines when stderr is not a terminal), and
//! a gradient-health monitor that warns about vanishing and exploding gradients.

#![warn(missing_docs)]

pub mod atomic;
pub mod checkpoint;
mod crc;
mod error;
pub mod gan_step;
pub mod image_grid;
pub mod inception;
pub mod logs;
pub mod metrics;
pub mod model_step;
pub mod monitor;
pub mod plot;
pub mod probe;
pub mod progress;
pub mod run_loop;
pub mod safetensors;
pub mod scatter;
pub mod tensorboard;
pub mod torch_pickle;
pub mod trainer;
pub mod vae_step;
pub mod zip_stored;

#[cfg(test)]
mod resume_tests;

pub use atomic::{write_atomic, write_atomic_with};
pub use checkpoint::{read_checkpoint, rng_states, rng_tensors, Resume, CHECKPOINT_VERSION};
pub use error::{Result, TrainError};
pub use gan_step::GanStep;
pub use image_grid::{save_image_grid, GridInfo, GridOptions};
pub use inception::{inception_score, predict_probs, SampleScore};
pub use logs::{read_history, read_metrics_table, EpochLogs, Logs, MetricsTable};
pub use metrics::{accuracy, correct_count, read_metrics, EpochMetrics, MetricsLog, RunningMean};
pub use model_step::{shared_generator, ModelStep, Objective, Regularization, SharedGenerator};
pub use monitor::{check_finite, GradientMonitor, LayerHistory, Warning};
pub use plot::{plot_curves, Plot};
pub use probe::{probe_accuracy, ProbeConfig};
pub use progress::{EpochProgress, Progress, ProgressMode};
pub use run_loop::{evaluate_step, run_loop, LoopConfig, RunSummary, TrainStep};
pub use safetensors::{load_safetensors, load_safetensors_with_metadata, save_safetensors};
pub use scatter::{save_scatter_panels, ScatterPanel};
pub use tensorboard::{EventImage, EventWriter};
pub use torch_pickle::{
    load_torch_checkpoint, parse_torch_checkpoint, save_torch_checkpoint,
    serialize_torch_checkpoint,
};
pub use trainer::{
    classification, evaluate, fit, LossKind, Optimization, TrainConfig, TrainSummary,
};
pub use vae_step::{vae_objective, vae_step};
