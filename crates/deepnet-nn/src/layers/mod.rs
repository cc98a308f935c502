//! Layers, one family per file. Each layer implements [`crate::Module`]; its parameters live in
//! the [`crate::ParamStore`] under the builder path it was created with (`layers.0.weight`), and
//! its errors name that path.

mod activation;
mod conv;
mod conv_transpose;
mod dropout;
mod embedding;
mod graph_rnn;
mod linear;
mod locally_connected;
mod md_lstm;
mod norm;
mod pool;
mod recurrent;
mod rnn;
mod rnn_canon;
mod sequential;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod train_test;
mod tree_lstm;
mod upsample;

pub use activation::{Flatten, Identity, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh};
pub use conv::{conv_arithmetic, Conv2d, Conv2dConfig};
pub use conv_transpose::{ConvTranspose2d, ConvTranspose2dConfig};
pub use dropout::Dropout;
pub use dropout::Dropout2d;
pub use embedding::Embedding;
pub use graph_rnn::{GatedGraph, GatedGraphConfig, Graph};
pub use linear::Linear;
pub use locally_connected::LocallyConnected2d;
pub use md_lstm::{MdLstm2d, MdLstm2dConfig, MD_LSTM_DIRECTIONS};
pub use norm::{
    batch_norm, local_response_norm, BatchNorm1d, BatchNorm2d, BatchNormConfig, LocalResponseNorm,
};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use recurrent::{RnnConfig, GRU, LSTM, RNN};
pub use rnn::{GRUCell, GruForm, LSTMCell, RNNCell, RnnNonlinearity};
pub use rnn_canon::{
    LSTMNoForget, LSTMNoForgetCell, MGUCell, PeepholeLSTM, PeepholeLSTMCell, PeepholeOptions,
    PeepholeVariant, MGU,
};
pub use sequential::Sequential;
pub use tree_lstm::{ChildSumTreeLSTM, Forest};
pub use upsample::Upsample;

use deepnet_tensor::Error;

/// Labels `e` with the module path `path`, unless the path is empty (a root module) or the
/// error already carries a path (the innermost, most specific path wins; it is a full dotted
/// path already).
pub(crate) fn in_module(e: Error, path: &str) -> Error {
    if path.is_empty() || matches!(e, Error::InModule { .. }) {
        e
    } else {
        e.in_module(path)
    }
}

/// A float as Python prints it in a repr (`0.5`, `1.0`, `0.01`), for `describe()`.
pub(crate) fn py_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
