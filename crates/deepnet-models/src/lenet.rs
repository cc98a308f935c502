//! LeNet-5 (LeCun et al., 1998) in its modern form: ReLU and max pooling, a padded first
//! convolution so that 28x28 MNIST images keep the original 32x32 geometry.
//!
//! | layer | module | output (1x28x28 input) | parameters |
//! |---|---|---|---|
//! | `features.0` | Conv2d(1, 6, 5x5, pad 2) | 6x28x28 | 156 |
//! | `features.1` | ReLU | 6x28x28 | |
//! | `features.2` | MaxPool2d(2, 2) | 6x14x14 | |
//! | `features.3` | Conv2d(6, 16, 5x5) | 16x10x10 | 2,416 |
//! | `features.4` | ReLU | 16x10x10 | |
//! | `features.5` | MaxPool2d(2, 2) | 16x5x5 | |
//! | `flatten` | Flatten | 400 | |
//! | `classifier.0` | Linear(400, 120) | 120 | 48,120 |
//! | `classifier.1` | ReLU | 120 | |
//! | `classifier.2` | Linear(120, 84) | 84 | 10,164 |
//! | `classifier.3` | ReLU | 84 | |
//! | `classifier.4` | Linear(84, 10) | 10 | 850 |
//!
//! 61,706 parameters. There is no torchvision LeNet; the keys are those of a PyTorch module with
//! `self.features = nn.Sequential(...)` and `self.classifier = nn.Sequential(...)` as above.

use crate::head::{conv_classifier_module, ConvClassifier};
use crate::{conv, out_size};
use deepnet_nn::layers::{Linear, MaxPool2d, ReLU, Sequential};
use deepnet_nn::ParamBuilder;
use deepnet_tensor::{Error, Result};

/// The shape of a LeNet-5.
#[derive(Clone, Debug, PartialEq)]
pub struct LeNet5Config {
    /// input channels (1 for MNIST)
    pub in_channels: usize,
    /// input height and width (28x28 for MNIST; 32x32 gives a 16x6x6 = 576 feature vector)
    pub input_size: (usize, usize),
    /// number of outputs
    pub num_classes: usize,
}

impl Default for LeNet5Config {
    /// MNIST: 1x28x28, 10 classes.
    fn default() -> Self {
        LeNet5Config {
            in_channels: 1,
            input_size: (28, 28),
            num_classes: 10,
        }
    }
}

/// LeNet-5: `(N, in_channels, H, W)` with `(H, W) = input_size` -> logits `(N, num_classes)`.
pub struct LeNet5 {
    net: ConvClassifier,
}

impl LeNet5 {
    /// Builds the layers under `pb` (`features.0.weight`, ..., `classifier.4.bias`). Fails when
    /// the input is too small for the convolutions, naming the layer and the arithmetic.
    pub fn new(cfg: &LeNet5Config, pb: &ParamBuilder) -> Result<Self> {
        let (h, w) = cfg.input_size;
        let side = |s: usize| -> Result<usize> {
            let s = out_size("lenet5 features.2", s, 2, 2, 0)?;
            let s = out_size("lenet5 features.3", s, 5, 1, 0)?;
            out_size("lenet5 features.5", s, 2, 2, 0)
        };
        let flat = 16 * side(h)? * side(w)?;
        if cfg.num_classes == 0 || cfg.in_channels == 0 {
            return Err(Error::msg(
                "lenet5: in_channels and num_classes must be at least 1",
            ));
        }
        let fp = pb.push("features");
        let mut features = Sequential::new(&fp);
        features
            .push(conv(cfg.in_channels, 6, 5, 1, 2, true, &fp.push(0))?)
            .push(ReLU)
            .push(MaxPool2d::new((2, 2), (2, 2)))
            .push(conv(6, 16, 5, 1, 0, true, &fp.push(3))?)
            .push(ReLU)
            .push(MaxPool2d::new((2, 2), (2, 2)));
        let cp = pb.push("classifier");
        let mut classifier = Sequential::new(&cp);
        classifier
            .push(Linear::new(flat, 120, true, &cp.push(0))?)
            .push(ReLU)
            .push(Linear::new(120, 84, true, &cp.push(2))?)
            .push(ReLU)
            .push(Linear::new(84, cfg.num_classes, true, &cp.push(4))?);
        Ok(LeNet5 {
            net: ConvClassifier::new("LeNet5", pb.path(), features, None, classifier),
        })
    }
}

conv_classifier_module!(LeNet5);

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_nn::{trace_layers, Module, ParamStore};
    use deepnet_tensor::{DType, Tensor};

    #[test]
    fn lenet5_counts_keys_shapes_and_trace() {
        let store = ParamStore::new(0);
        let net = LeNet5::new(&LeNet5Config::default(), &store.root()).unwrap();
        assert_eq!(store.num_params(), 61_706);
        assert_eq!(store.keys()[0], "features.0.weight");
        assert_eq!(store.keys()[9], "classifier.4.bias");
        let x = Tensor::zeros([2, 1, 28, 28], DType::F32).unwrap();
        let (y, recs) = trace_layers(|| net.forward(&x)).unwrap();
        assert_eq!(y.dims(), [2, 10]);
        let paths: Vec<&str> = recs.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths[..3], ["features.0", "features.1", "features.2"]);
        assert_eq!(recs[5].output_shape, [2, 16, 5, 5]);
        assert_eq!(recs[6].path, "flatten");
        assert_eq!(recs.len(), 12);
        let small = LeNet5Config {
            input_size: (8, 8),
            ..Default::default()
        };
        let e = LeNet5::new(&small, &store.root().push("s")).err().unwrap();
        assert!(e.to_string().contains("(4 - 5 + 0)/1 + 1 < 1"), "{e}");
    }
}
