//! One module per subcommand.

pub mod bench;
pub mod bench_train;
pub mod common;
pub mod eval;
pub mod summary;
pub mod train;
