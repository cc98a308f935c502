//! Tensor operations, one op family per file, each with its forward, its `Backward` and its tests.

mod binary;
mod cast;
mod cmp;
mod concat;
mod conv;
mod conv_transpose;
mod index;
mod inplace;
mod matmul;
mod movement;
mod norm;
mod pool;
mod reduce;
mod rnn;
mod rnn_seq;
mod stats;
mod unary;
mod upsample;
