//! Residual networks (He et al., 2015), as torchvision's `resnet18` ... `resnet152` (v1.5: the
//! stride of a bottleneck sits on its 3x3 convolution).
//!
//! | layer | module | output (3x224x224 input) |
//! |---|---|---|
//! | `conv1` | Conv2d(3, 64, 7x7, stride 2, pad 3, bias=False) | 64x112x112 |
//! | `bn1`, `relu` | BatchNorm2d(64), ReLU | 64x112x112 |
//! | `maxpool` | MaxPool2d(3, stride 2, pad 1) | 64x56x56 |
//! | `layer1` | blocks of 64 planes | 64e x 56x56 |
//! | `layer2` | blocks of 128 planes, the first with stride 2 | 128e x 28x28 |
//! | `layer3` | blocks of 256 planes, the first with stride 2 | 256e x 14x14 |
//! | `layer4` | blocks of 512 planes, the first with stride 2 | 512e x 7x7 |
//! | `avgpool`, `flatten` | AdaptiveAvgPool2d(1, 1), Flatten | 512e |
//! | `fc` | Linear(512e, num_classes) | num_classes |
//!
//! with expansion `e = 1` for basic blocks (18, 34) and `e = 4` for bottlenecks (50, 101, 152):
//!
//! | depth | block | blocks per stage | parameters |
//! |---|---|---|---|
//! | 18 | basic | 2, 2, 2, 2 | 11,689,512 |
//! | 34 | basic | 3, 4, 6, 3 | 21,797,672 |
//! | 50 | bottleneck | 3, 4, 6, 3 | 25,557,032 |
//! | 101 | bottleneck | 3, 4, 23, 3 | 44,549,160 |
//! | 152 | bottleneck | 3, 8, 36, 3 | 60,192,808 |
//!
//! A basic block is `conv1` (3x3, stride s), `bn1`, `relu`, `conv2` (3x3), `bn2`, plus the
//! shortcut, then `relu`; a bottleneck is `conv1` (1x1), `bn1`, `conv2` (3x3, stride s), `bn2`,
//! `conv3` (1x1, 4x planes), `bn3`, plus the shortcut, then `relu`. The shortcut is the identity,
//! or `downsample` = `Sequential(Conv2d 1x1 stride s, bias=False; BatchNorm2d)` when the stride
//! or the channel count changes. Keys: `conv1.weight`, `bn1.running_var`,
//! `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, `layer4.1.bn2.running_var`,
//! `fc.bias`, in torchvision's order. Parameters use the layers' PyTorch defaults (torchvision
//! re-initializes convolutions with Kaiming normal, fan-out; that only matters from scratch).
//!
//! Any input size works (the 7x7 map becomes about `H/32`, at least 1x1; training needs more
//! than one value per channel in every batch norm); on 224x224 the stride-2
//! windows do not tile exactly (`(224 - 7 + 6)/2 + 1 = 112.5`), which costs nothing but is what
//! [`crate::check_input`] reports.

use crate::shape_check::{forward_child, label, onnx_child};
use crate::{conv, join};
use deepnet_nn::layers::{
    AdaptiveAvgPool2d, BatchNorm2d, BatchNormConfig, Conv2d, Flatten, Linear, MaxPool2d, ReLU,
    Sequential,
};
use deepnet_nn::onnx::{OnnxGraph, OnnxValue};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The depth of a ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResNetDepth {
    /// ResNet-18 (basic blocks 2, 2, 2, 2)
    R18,
    /// ResNet-34 (basic blocks 3, 4, 6, 3)
    R34,
    /// ResNet-50 (bottlenecks 3, 4, 6, 3)
    R50,
    /// ResNet-101 (bottlenecks 3, 4, 23, 3)
    R101,
    /// ResNet-152 (bottlenecks 3, 8, 36, 3)
    R152,
}

impl ResNetDepth {
    /// Blocks per stage.
    pub fn blocks(self) -> [usize; 4] {
        match self {
            ResNetDepth::R18 => [2, 2, 2, 2],
            ResNetDepth::R34 | ResNetDepth::R50 => [3, 4, 6, 3],
            ResNetDepth::R101 => [3, 4, 23, 3],
            ResNetDepth::R152 => [3, 8, 36, 3],
        }
    }

    /// Whether the blocks are bottlenecks (expansion 4).
    pub fn bottleneck(self) -> bool {
        !matches!(self, ResNetDepth::R18 | ResNetDepth::R34)
    }
}

/// The options of a [`ResNet`].
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetConfig {
    /// which depth
    pub depth: ResNetDepth,
    /// number of outputs (1000)
    pub num_classes: usize,
    /// input channels (3)
    pub in_channels: usize,
}

impl ResNetConfig {
    /// torchvision's defaults for a depth: 1000 classes, 3 channels.
    pub fn new(depth: ResNetDepth) -> Self {
        ResNetConfig {
            depth,
            num_classes: 1000,
            in_channels: 3,
        }
    }

    /// The config of a registry name: `resnet18`, ..., `resnet152` (`None` for other names).
    pub fn from_name(name: &str) -> Option<Self> {
        let d = match name {
            "resnet18" => ResNetDepth::R18,
            "resnet34" => ResNetDepth::R34,
            "resnet50" => ResNetDepth::R50,
            "resnet101" => ResNetDepth::R101,
            "resnet152" => ResNetDepth::R152,
            _ => return None,
        };
        Some(Self::new(d))
    }
}

fn bn(c: usize, pb: &ParamBuilder) -> Result<BatchNorm2d> {
    BatchNorm2d::new(c, BatchNormConfig::default(), pb)
}

/// A residual block (basic or bottleneck), named as torchvision's `BasicBlock`/`Bottleneck`.
/// `(N, inplanes, H, W)` -> `(N, planes * e, H / s, W / s)` (sizes rounded up).
pub struct Block {
    convs: Vec<(Conv2d, BatchNorm2d)>,
    relu: ReLU,
    downsample: Option<Sequential>,
    path: String,
}

impl Block {
    fn new(
        inplanes: usize,
        planes: usize,
        stride: usize,
        bottleneck: bool,
        pb: &ParamBuilder,
    ) -> Result<Block> {
        let e = if bottleneck { 4 } else { 1 };
        // (in, out, kernel, stride) of conv1, conv2 (, conv3)
        let specs: Vec<(usize, usize, usize, usize)> = if bottleneck {
            vec![
                (inplanes, planes, 1, 1),
                (planes, planes, 3, stride),
                (planes, planes * e, 1, 1),
            ]
        } else {
            vec![(inplanes, planes, 3, stride), (planes, planes, 3, 1)]
        };
        let mut convs = Vec::new();
        for (i, (ci, co, k, s)) in specs.into_iter().enumerate() {
            let c = conv(
                ci,
                co,
                k,
                s,
                k / 2,
                false,
                &pb.push(format!("conv{}", i + 1)),
            )?;
            convs.push((c, bn(co, &pb.push(format!("bn{}", i + 1)))?));
        }
        let downsample = if stride != 1 || inplanes != planes * e {
            let dp = pb.push("downsample");
            let mut d = Sequential::new(&dp);
            d.push(conv(
                inplanes,
                planes * e,
                1,
                stride,
                0,
                false,
                &dp.push(0),
            )?)
            .push(bn(planes * e, &dp.push(1))?);
            Some(d)
        } else {
            None
        };
        Ok(Block {
            convs,
            relu: ReLU,
            downsample,
            path: pb.path().to_string(),
        })
    }
}

impl Module for Block {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: String| join(&self.path, &n);
        let mut h = x.clone();
        let last = self.convs.len();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            h = forward_child(c, &p(format!("conv{}", i + 1)), &h)?;
            h = forward_child(b, &p(format!("bn{}", i + 1)), &h)?;
            if i + 1 < last {
                h = forward_child(&self.relu, &p("relu".into()), &h)?;
            }
        }
        let identity = match &self.downsample {
            Some(d) => forward_child(d, &p("downsample".into()), x)?,
            None => x.clone(),
        };
        let sum = h.add(&identity).map_err(|e| {
            label(
                Error::msg(format!(
                    "residual sum: {e} (is the shortcut missing a downsample?)"
                )),
                &self.path,
            )
        })?;
        forward_child(&self.relu, &p("relu".into()), &sum)
    }
    fn set_training(&self, training: bool) {
        for (_, b) in &self.convs {
            b.set_training(training);
        }
        if let Some(d) = &self.downsample {
            d.set_training(training);
        }
    }
    fn describe(&self) -> String {
        if self.convs.len() == 3 {
            "Bottleneck"
        } else {
            "BasicBlock"
        }
        .into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = Vec::new();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            v.push((format!("conv{}", i + 1), c));
            v.push((format!("bn{}", i + 1), b));
        }
        v.push(("relu".into(), &self.relu));
        if let Some(d) = &self.downsample {
            v.push(("downsample".into(), d));
        }
        v
    }

    /// The residual sum as an `Add` node before the last ReLU.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let p = |n: String| join(&self.path, &n);
        let mut h = x.clone();
        let last = self.convs.len();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            h = onnx_child(c, &p(format!("conv{}", i + 1)), g, &h)?;
            h = onnx_child(b, &p(format!("bn{}", i + 1)), g, &h)?;
            if i + 1 < last {
                h = onnx_child(&self.relu, &p("relu".into()), g, &h)?;
            }
        }
        let identity = match &self.downsample {
            Some(d) => onnx_child(d, &p("downsample".into()), g, x)?,
            None => x.clone(),
        };
        let sum = h.example.add(&identity.example)?;
        let sum = g.node("Add", &[&h.name, &identity.name], &[], sum);
        onnx_child(&self.relu, &p("relu".into()), g, &sum)
    }
}

/// A ResNet: `(N, in_channels, H, W)` (any size; 224 is standard) -> `(N, num_classes)`.
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    relu: ReLU,
    maxpool: MaxPool2d,
    layers: Vec<Sequential>,
    avgpool: AdaptiveAvgPool2d,
    flatten: Flatten,
    fc: Linear,
    name: String,
    path: String,
}

impl ResNet {
    /// Builds the layers under `pb` with torchvision's names.
    pub fn new(cfg: &ResNetConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.in_channels == 0 || cfg.num_classes == 0 {
            return Err(Error::msg(
                "resnet: in_channels and num_classes must be at least 1",
            ));
        }
        let conv1 = conv(cfg.in_channels, 64, 7, 2, 3, false, &pb.push("conv1"))?;
        let bn1 = bn(64, &pb.push("bn1"))?;
        let bott = cfg.depth.bottleneck();
        let e = if bott { 4 } else { 1 };
        let mut inplanes = 64;
        let mut layers = Vec::new();
        for (i, &n) in cfg.depth.blocks().iter().enumerate() {
            let planes = 64 << i;
            let lp = pb.push(format!("layer{}", i + 1));
            let mut seq = Sequential::new(&lp);
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                seq.push(Block::new(inplanes, planes, stride, bott, &lp.push(j))?);
                inplanes = planes * e;
            }
            layers.push(seq);
        }
        let depth = match cfg.depth {
            ResNetDepth::R18 => 18,
            ResNetDepth::R34 => 34,
            ResNetDepth::R50 => 50,
            ResNetDepth::R101 => 101,
            ResNetDepth::R152 => 152,
        };
        Ok(ResNet {
            conv1,
            bn1,
            relu: ReLU,
            maxpool: MaxPool2d::new((3, 3), (2, 2)).padding((1, 1)),
            layers,
            avgpool: AdaptiveAvgPool2d::new((1, 1)),
            flatten: Flatten::new(1, -1),
            fc: Linear::new(512 * e, cfg.num_classes, true, &pb.push("fc"))?,
            name: format!("ResNet{depth}"),
            path: pb.path().to_string(),
        })
    }

    /// The number of parameters `ResNet::new(cfg)` registers, computed without allocating.
    pub fn num_params(cfg: &ResNetConfig) -> usize {
        let conv_bn = |i: usize, o: usize, k: usize| o * i * k * k + 2 * o;
        let bott = cfg.depth.bottleneck();
        let e = if bott { 4 } else { 1 };
        let mut n = conv_bn(cfg.in_channels, 64, 7);
        let mut inplanes = 64;
        for (i, &blocks) in cfg.depth.blocks().iter().enumerate() {
            let planes = 64 << i;
            for j in 0..blocks {
                n += if bott {
                    conv_bn(inplanes, planes, 1)
                        + conv_bn(planes, planes, 3)
                        + conv_bn(planes, planes * 4, 1)
                } else {
                    conv_bn(inplanes, planes, 3) + conv_bn(planes, planes, 3)
                };
                if (i > 0 && j == 0) || inplanes != planes * e {
                    n += conv_bn(inplanes, planes * e, 1);
                }
                inplanes = planes * e;
            }
        }
        n + 512 * e * cfg.num_classes + cfg.num_classes
    }
}

impl Module for ResNet {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        let mut h = forward_child(&self.conv1, &p("conv1"), x)?;
        h = forward_child(&self.bn1, &p("bn1"), &h)?;
        h = forward_child(&self.relu, &p("relu"), &h)?;
        h = forward_child(&self.maxpool, &p("maxpool"), &h)?;
        for (i, l) in self.layers.iter().enumerate() {
            h = forward_child(l, &p(&format!("layer{}", i + 1)), &h)?;
        }
        h = forward_child(&self.avgpool, &p("avgpool"), &h)?;
        h = forward_child(&self.flatten, &p("flatten"), &h)?;
        forward_child(&self.fc, &p("fc"), &h)
    }
    fn set_training(&self, training: bool) {
        self.bn1.set_training(training);
        for l in &self.layers {
            l.set_training(training);
        }
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("relu".into(), &self.relu),
            ("maxpool".into(), &self.maxpool),
        ];
        for (i, l) in self.layers.iter().enumerate() {
            v.push((format!("layer{}", i + 1), l));
        }
        v.push(("avgpool".into(), &self.avgpool));
        v.push(("flatten".into(), &self.flatten));
        v.push(("fc".into(), &self.fc));
        v
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let p = |n: &str| join(&self.path, n);
        let mut h = onnx_child(&self.conv1, &p("conv1"), g, x)?;
        h = onnx_child(&self.bn1, &p("bn1"), g, &h)?;
        h = onnx_child(&self.relu, &p("relu"), g, &h)?;
        h = onnx_child(&self.maxpool, &p("maxpool"), g, &h)?;
        for (i, l) in self.layers.iter().enumerate() {
            h = onnx_child(l, &p(&format!("layer{}", i + 1)), g, &h)?;
        }
        h = onnx_child(&self.avgpool, &p("avgpool"), g, &h)?;
        h = onnx_child(&self.flatten, &p("flatten"), g, &h)?;
        onnx_child(&self.fc, &p("fc"), g, &h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_the_config_equal_torchvision() {
        let n = |name: &str| ResNet::num_params(&ResNetConfig::from_name(name).unwrap());
        assert_eq!(n("resnet18"), 11_689_512);
        assert_eq!(n("resnet34"), 21_797_672);
        assert_eq!(n("resnet50"), 25_557_032);
        assert_eq!(n("resnet101"), 44_549_160);
        assert_eq!(n("resnet152"), 60_192_808);
        assert!(ResNetConfig::from_name("resnet20").is_none());
    }
}
