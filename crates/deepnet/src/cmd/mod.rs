//! One module per subcommand.

pub mod bench;
pub mod bench_train;
pub mod common;
pub mod convert;
pub mod data;
pub mod eval;
pub mod finetune;
pub mod predict;
pub mod resume;
// `deepnet sample` (in another branch) calls it for char_lstm weights; until then only its
// tests do
#[allow(dead_code)]
pub mod sample_text;
pub mod show;
pub mod summary;
pub mod train;
pub mod train_text;
