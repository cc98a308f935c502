//! `deepnet bench`: throughput of the standard workloads, printed for people or as one JSON line.

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub workload: Workload,
}

#[derive(Subcommand)]
pub enum Workload {
    /// f32 square matrix product.
    Matmul {
        /// matrix size N (N x N @ N x N)
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
}

pub fn run(args: BenchArgs, json: bool) -> Result<(), String> {
    match args.workload {
        Workload::Matmul { size } => {
            let _ = (size, json);
            Err("bench matmul is being written".into())
        }
    }
}
