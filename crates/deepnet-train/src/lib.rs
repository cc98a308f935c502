//! # deepnet-train
//!
//! What a training run writes and watches, independent of any model: atomic file writes,
//! safetensors model files (loadable by PyTorch's `safetensors.torch.load_file`), the
//! `metrics.csv` log, PNG plots, a progress bar (plain lines when stderr is not a terminal), and
//! a gradient-health monitor that warns about vanishing and exploding gradients.

#![warn(missing_docs)]

pub mod atomic;
mod error;
pub mod image_grid;
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
pub mod trainer;

pub use atomic::{write_atomic, write_atomic_with};
pub use error::{Result, TrainError};
pub use image_grid::{save_image_grid, GridInfo, GridOptions};
pub use logs::{read_metrics_table, EpochLogs, Logs, MetricsTable};
pub use metrics::{accuracy, correct_count, read_metrics, EpochMetrics, MetricsLog, RunningMean};
pub use model_step::{ModelStep, Objective, Regularization};
pub use monitor::{check_finite, GradientMonitor, LayerHistory, Warning};
pub use plot::{plot_curves, Plot};
pub use probe::{probe_accuracy, ProbeConfig};
pub use progress::{EpochProgress, Progress, ProgressMode};
pub use run_loop::{evaluate_step, run_loop, LoopConfig, RunSummary, TrainStep};
pub use safetensors::{load_safetensors, load_safetensors_with_metadata, save_safetensors};
pub use scatter::{save_scatter_panels, ScatterPanel};
pub use trainer::{
    classification, evaluate, fit, LossKind, Optimization, TrainConfig, TrainSummary,
};
