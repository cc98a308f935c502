//! One module per subcommand.

pub mod bench;
pub mod bench_train;
pub mod common;
pub mod data;
pub mod eval;
pub mod predict;
pub mod summary;
pub mod train;
