//! The multilayer perceptron: `Linear -> activation (-> Dropout)` repeated, then a final `Linear`
//! producing logits. Keys are those of a PyTorch `self.layers = nn.Sequential(...)` built the same
//! way (`layers.0.weight`, `layers.2.weight`, ...), so weights load by name.

use deepnet_nn::layers::{Dropout, Flatten, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh};
use deepnet_nn::onnx::{OnnxGraph, OnnxValue};
use deepnet_nn::{FanMode, Init, Module, Nonlinearity, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};
use std::str::FromStr;

/// The hidden-layer nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(x, 0)`
    Relu,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `tanh(x)`
    Tanh,
    /// `x` or `0.01 x`
    LeakyRelu,
}

impl FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "relu" => Ok(Activation::Relu),
            "sigmoid" => Ok(Activation::Sigmoid),
            "tanh" => Ok(Activation::Tanh),
            "leaky_relu" | "leakyrelu" => Ok(Activation::LeakyRelu),
            _ => Err(Error::msg(format!(
                "unknown activation \"{s}\" (expected relu, sigmoid, tanh or leaky_relu)"
            ))),
        }
    }
}

/// How the Linear layers are initialized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightInit {
    /// PyTorch's default (`kaiming_uniform_(a=sqrt(5))`, i.e. uniform in ±1/sqrt(fan_in)) for
    /// weights and biases
    TorchDefault,
    /// He et al.: normal with std sqrt(2 / fan_in) (the activation's gain), zero biases
    Kaiming,
    /// Glorot and Bengio: uniform in ±gain·sqrt(6 / (fan_in + fan_out)), zero biases
    Xavier,
}

impl FromStr for WeightInit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "default" | "torch" => Ok(WeightInit::TorchDefault),
            "kaiming" | "he" => Ok(WeightInit::Kaiming),
            "xavier" | "glorot" => Ok(WeightInit::Xavier),
            _ => Err(Error::msg(format!(
                "unknown init \"{s}\" (expected default, kaiming or xavier)"
            ))),
        }
    }
}

impl Activation {
    fn nonlinearity(self) -> Nonlinearity {
        match self {
            Activation::Relu => Nonlinearity::Relu,
            Activation::Sigmoid => Nonlinearity::Sigmoid,
            Activation::Tanh => Nonlinearity::Tanh,
            Activation::LeakyRelu => Nonlinearity::LeakyRelu(0.01),
        }
    }
}

/// The shape of an MLP.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    /// input features (784 for MNIST)
    pub in_features: usize,
    /// sizes of the hidden layers, in order
    pub hidden: Vec<usize>,
    /// number of outputs (classes)
    pub out_features: usize,
    /// the hidden nonlinearity
    pub activation: Activation,
    /// dropout probability after each hidden activation (0 = none)
    pub dropout: f64,
    /// weight initialization
    pub init: WeightInit,
}

impl MlpConfig {
    /// The default MNIST model: 784-256-128-10 with ReLU.
    pub fn mnist() -> Self {
        MlpConfig {
            in_features: 784,
            hidden: vec![256, 128],
            out_features: 10,
            activation: Activation::Relu,
            dropout: 0.0,
            init: WeightInit::TorchDefault,
        }
    }
}

/// An MLP. Input `x: (N, *)` is flattened to `(N, in_features)`; output logits `(N, out_features)`.
pub struct Mlp {
    flatten: Flatten,
    layers: Sequential,
    /// paths of the Linear layers, input to output
    linear_paths: Vec<String>,
}

impl Mlp {
    /// Builds the layers under `pb` (`layers.0`, `layers.1`, ...).
    pub fn new(cfg: &MlpConfig, pb: &ParamBuilder) -> Result<Self> {
        if !(0.0..1.0).contains(&cfg.dropout) {
            return Err(Error::msg(format!(
                "mlp: dropout must be in [0, 1), got {}",
                cfg.dropout
            )));
        }
        let pb = pb.push("layers");
        let mut layers = Sequential::new(&pb);
        let mut linear_paths = Vec::new();
        let mut width = cfg.in_features;
        for &h in cfg.hidden.iter().chain(std::iter::once(&cfg.out_features)) {
            let i = layers.len();
            let sub = pb.push(i);
            let gain = cfg.activation.nonlinearity();
            let linear = match cfg.init {
                WeightInit::TorchDefault => Linear::new(width, h, true, &sub)?,
                WeightInit::Kaiming => {
                    let w = Init::KaimingNormal {
                        mode: FanMode::FanIn,
                        nonlinearity: gain,
                    };
                    Linear::with_init(width, h, true, w, Init::Zeros, &sub)?
                }
                WeightInit::Xavier => {
                    let w = Init::XavierUniform { gain: gain.gain() };
                    Linear::with_init(width, h, true, w, Init::Zeros, &sub)?
                }
            };
            layers.push(linear);
            linear_paths.push(sub.path().to_string());
            width = h;
            if linear_paths.len() <= cfg.hidden.len() {
                match cfg.activation {
                    Activation::Relu => layers.push(ReLU),
                    Activation::Sigmoid => layers.push(Sigmoid),
                    Activation::Tanh => layers.push(Tanh),
                    Activation::LeakyRelu => layers.push(LeakyReLU::new(0.01)),
                };
                if cfg.dropout > 0.0 {
                    let i = layers.len();
                    layers.push(Dropout::new(cfg.dropout, &pb.push(i))?);
                }
            }
        }
        Ok(Mlp {
            flatten: Flatten::new(1, -1),
            layers,
            linear_paths,
        })
    }

    /// The dotted paths of the Linear layers, input to output (for the gradient monitor).
    pub fn linear_paths(&self) -> &[String] {
        &self.linear_paths
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.layers.forward(&self.flatten.forward(x)?)
    }
    fn set_training(&self, training: bool) {
        self.layers.set_training(training);
    }
    fn describe(&self) -> String {
        "Mlp".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("layers".into(), &self.layers as &dyn Module)]
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let h = self.flatten.to_onnx(g, x)?;
        self.layers.to_onnx(g, &h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_nn::ParamStore;
    use deepnet_tensor::DType;

    #[test]
    fn keys_counts_and_shapes_match_pytorch() {
        let store = ParamStore::new(0);
        let mlp = Mlp::new(&MlpConfig::mnist(), &store.root()).unwrap();
        assert_eq!(
            store.keys(),
            [
                "layers.0.weight",
                "layers.0.bias",
                "layers.2.weight",
                "layers.2.bias",
                "layers.4.weight",
                "layers.4.bias"
            ]
        );
        // 784*256+256 + 256*128+128 + 128*10+10
        assert_eq!(store.num_params(), 235_146);
        let y = mlp
            .forward(&Tensor::zeros([5, 1, 28, 28], DType::F32).unwrap())
            .unwrap();
        assert_eq!(y.dims(), &[5, 10]);
        let e = mlp
            .forward(&Tensor::zeros([5, 100], DType::F32).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("layers.0"), "{e}");
    }

    #[test]
    fn dropout_layers_shift_indices_like_pytorch() {
        let store = ParamStore::new(0);
        let cfg = MlpConfig {
            dropout: 0.5,
            ..MlpConfig::mnist()
        };
        Mlp::new(&cfg, &store.root()).unwrap();
        assert_eq!(store.keys()[2], "layers.3.weight");
        assert!("gelu".parse::<Activation>().is_err());
    }
}
