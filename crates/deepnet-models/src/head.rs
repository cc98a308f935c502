//! The layout LeNet-5, the small CNN, AlexNet, ZF Net and VGG share: `features`, an optional
//! `avgpool`, `flatten` and `classifier`, with torchvision's child names, so their `state_dict`
//! keys and traced layer paths match torchvision's.

use crate::join;
use crate::shape_check::{forward_child, onnx_child};
use deepnet_nn::layers::{AdaptiveAvgPool2d, Flatten, Sequential};
use deepnet_nn::onnx::{OnnxGraph, OnnxValue};
use deepnet_nn::Module;
use deepnet_tensor::{Result, Tensor};

/// `features -> [avgpool] -> flatten(1) -> classifier`.
pub(crate) struct ConvClassifier {
    features: Sequential,
    avgpool: Option<AdaptiveAvgPool2d>,
    flatten: Flatten,
    classifier: Sequential,
    /// What `describe` prints (`LeNet5`, `VGG16_bn`, ...).
    name: String,
    path: String,
}

impl ConvClassifier {
    /// The net named `name` at `path` (its ParamBuilder's path).
    pub(crate) fn new(
        name: impl Into<String>,
        path: &str,
        features: Sequential,
        avgpool: Option<AdaptiveAvgPool2d>,
        classifier: Sequential,
    ) -> Self {
        ConvClassifier {
            features,
            avgpool,
            flatten: Flatten::new(1, -1),
            classifier,
            name: name.into(),
            path: path.to_string(),
        }
    }
}

impl Module for ConvClassifier {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        let mut h = forward_child(&self.features, &p("features"), x)?;
        if let Some(pool) = &self.avgpool {
            h = forward_child(pool, &p("avgpool"), &h)?;
        }
        let h = forward_child(&self.flatten, &p("flatten"), &h)?;
        forward_child(&self.classifier, &p("classifier"), &h)
    }
    fn set_training(&self, training: bool) {
        self.features.set_training(training);
        self.classifier.set_training(training);
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c = vec![("features".to_string(), &self.features as &dyn Module)];
        if let Some(pool) = &self.avgpool {
            c.push(("avgpool".into(), pool));
        }
        c.push(("flatten".into(), &self.flatten));
        c.push(("classifier".into(), &self.classifier));
        c
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let p = |n: &str| join(&self.path, n);
        let mut h = onnx_child(&self.features, &p("features"), g, x)?;
        if let Some(pool) = &self.avgpool {
            h = onnx_child(pool, &p("avgpool"), g, &h)?;
        }
        let h = onnx_child(&self.flatten, &p("flatten"), g, &h)?;
        onnx_child(&self.classifier, &p("classifier"), g, &h)
    }
}

/// `impl Module for $model` by handing every call to its `net: ConvClassifier` field.
macro_rules! conv_classifier_module {
    ($model:ty) => {
        impl deepnet_nn::Module for $model {
            fn forward(
                &self,
                x: &deepnet_tensor::Tensor,
            ) -> deepnet_tensor::Result<deepnet_tensor::Tensor> {
                self.net.forward(x)
            }
            fn set_training(&self, training: bool) {
                self.net.set_training(training)
            }
            fn describe(&self) -> String {
                self.net.describe()
            }
            fn children(&self) -> Vec<(String, &dyn deepnet_nn::Module)> {
                self.net.children()
            }
            fn to_onnx(
                &self,
                g: &mut deepnet_nn::onnx::OnnxGraph,
                x: &deepnet_nn::onnx::OnnxValue,
            ) -> deepnet_tensor::Result<deepnet_nn::onnx::OnnxValue> {
                self.net.to_onnx(g, x)
            }
        }
    };
}
pub(crate) use conv_classifier_module;
