//! One module per subcommand.

pub mod bench;
pub mod bench_convt;
pub mod bench_train;
pub mod common;
pub mod convert;
pub mod data;
pub mod eval;
pub mod export;
pub mod finetune;
pub mod generative;
pub mod image_input;
pub mod predict;
pub mod reconstruct;
pub mod resume;
pub mod run_folder;
pub mod sample;
pub mod sample_text;
pub mod score;
pub mod show;
pub mod summary;
pub mod train;
pub mod train_ae;
pub mod train_gen;
pub mod train_seq;
pub mod train_text;
