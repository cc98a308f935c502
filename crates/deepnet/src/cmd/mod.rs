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
pub mod show;
pub mod summary;
pub mod train;
pub mod train_seq;
