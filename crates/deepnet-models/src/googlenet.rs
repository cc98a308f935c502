//! GoogLeNet (Inception v1; Szegedy et al., 2014), as torchvision's `googlenet`.
//!
//! Every convolution is a `BasicConv2d`: `conv` (no bias), `bn` (BatchNorm2d, eps 0.001), ReLU
//! (batch norm is torchvision's addition to the paper). An Inception module concatenates four
//! branches along the channels: `branch1` = 1x1; `branch2` = 1x1 reduce, 3x3; `branch3` = 1x1
//! reduce, 3x3 (torchvision's layout, kept so its weights load; the paper has 5x5 here);
//! `branch4` = 3x3 max pool (stride 1, pad 1), 1x1 projection.
//!
//! | layer | module | output (3x224x224 input) |
//! |---|---|---|
//! | `conv1` | BasicConv2d(3, 64, 7x7, stride 2, pad 3) | 64x112x112 |
//! | `maxpool1` | MaxPool2d(3, stride 2, ceil_mode) | 64x56x56 |
//! | `conv2` | BasicConv2d(64, 64, 1x1) | 64x56x56 |
//! | `conv3` | BasicConv2d(64, 192, 3x3, pad 1) | 192x56x56 |
//! | `maxpool2` | MaxPool2d(3, stride 2, ceil_mode) | 192x28x28 |
//! | `inception3a` | 64, 96>128, 16>32, 32 | 256x28x28 |
//! | `inception3b` | 128, 128>192, 32>96, 64 | 480x28x28 |
//! | `maxpool3` | MaxPool2d(3, stride 2, ceil_mode) | 480x14x14 |
//! | `inception4a` | 192, 96>208, 16>48, 64 | 512x14x14 |
//! | `inception4b` | 160, 112>224, 24>64, 64 | 512x14x14 |
//! | `inception4c` | 128, 128>256, 24>64, 64 | 512x14x14 |
//! | `inception4d` | 112, 144>288, 32>64, 64 | 528x14x14 |
//! | `inception4e` | 256, 160>320, 32>128, 128 | 832x14x14 |
//! | `maxpool4` | MaxPool2d(2, stride 2, ceil_mode) | 832x7x7 |
//! | `inception5a` | 256, 160>320, 32>128, 128 | 832x7x7 |
//! | `inception5b` | 384, 192>384, 48>128, 128 | 1024x7x7 |
//! | `avgpool`, `flatten` | AdaptiveAvgPool2d(1, 1), Flatten | 1024 |
//! | `dropout` | Dropout(0.2) | 1024 |
//! | `fc` | Linear(1024, num_classes) | num_classes |
//!
//! (Inception columns: 1x1, 3x3 reduce > 3x3, "5x5" reduce > its 3x3, pool projection.)
//! 6,624,904 parameters without the auxiliary heads, as torchvision's `googlenet()`. With
//! `aux_logits`, `aux1` (after `inception4a`, 512 channels) and `aux2` (after `inception4d`, 528)
//! are registered before `avgpool` as torchvision does (`conv`, `fc1`, `fc2`: 1x1 conv to 128,
//! AdaptiveAvgPool2d(4, 4), Linear(2048, 1024), ReLU, Dropout(0.7), Linear(1024, num_classes));
//! [`GoogLeNet::forward_with_aux`] returns their logits too. torchvision's pretrained file holds
//! the auxiliary weights: load it with `aux_logits` on, or with a non-strict load.

use crate::shape_check::{forward_child, label};
use crate::{conv, join};
use deepnet_nn::layers::{
    AdaptiveAvgPool2d, BatchNorm2d, BatchNormConfig, Conv2d, Dropout, Flatten, Linear, MaxPool2d,
    ReLU, Sequential,
};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// The options of a [`GoogLeNet`].
#[derive(Clone, Debug, PartialEq)]
pub struct GoogLeNetConfig {
    /// number of outputs (1000)
    pub num_classes: usize,
    /// whether to build the two auxiliary classifiers (false)
    pub aux_logits: bool,
    /// whether to map ImageNet-normalized inputs to the `(x - 0.5) / 0.5` scaling the original
    /// weights expect, as torchvision's `transform_input` (false; true for its pretrained weights)
    pub transform_input: bool,
    /// dropout before `fc` (0.2)
    pub dropout: f64,
}

impl Default for GoogLeNetConfig {
    /// torchvision's `googlenet()`: 1000 classes, no auxiliary heads, dropout 0.2.
    fn default() -> Self {
        GoogLeNetConfig {
            num_classes: 1000,
            aux_logits: false,
            transform_input: false,
            dropout: 0.2,
        }
    }
}

/// Convolution without bias, batch norm (eps 0.001), ReLU: `(N, in, H, W)` -> `(N, out, H', W')`.
pub struct BasicConv2d {
    conv: Conv2d,
    bn: BatchNorm2d,
    path: String,
}

impl BasicConv2d {
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        s: usize,
        p: usize,
        pb: &ParamBuilder,
    ) -> Result<Self> {
        let bn_cfg = BatchNormConfig {
            eps: 1e-3,
            ..Default::default()
        };
        Ok(BasicConv2d {
            conv: conv(cin, cout, k, s, p, false, &pb.push("conv"))?,
            bn: BatchNorm2d::new(cout, bn_cfg, &pb.push("bn"))?,
            path: pb.path().to_string(),
        })
    }
}

impl Module for BasicConv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = forward_child(&self.conv, &join(&self.path, "conv"), x)?;
        forward_child(&self.bn, &join(&self.path, "bn"), &h)?.relu()
    }
    fn set_training(&self, training: bool) {
        self.bn.set_training(training);
    }
    fn describe(&self) -> String {
        "BasicConv2d".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("conv".into(), &self.conv as &dyn Module),
            ("bn".into(), &self.bn),
        ]
    }
}

/// An Inception module: four branches concatenated along the channels,
/// `(N, in, H, W)` -> `(N, c1 + c3 + c5 + pool_proj, H, W)`.
pub struct Inception {
    branch1: BasicConv2d,
    branches: [Sequential; 3],
    path: String,
}

impl Inception {
    /// Channels as torchvision's `Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5,
    /// pool_proj)`.
    fn new(cin: usize, ch: [usize; 6], pb: &ParamBuilder) -> Result<Self> {
        let [c1, r3, c3, r5, c5, pp] = ch;
        let two = |name: &str, red: usize, out: usize| -> Result<Sequential> {
            let bp = pb.push(name);
            let mut s = Sequential::new(&bp);
            s.push(BasicConv2d::new(cin, red, 1, 1, 0, &bp.push(0))?)
                .push(BasicConv2d::new(red, out, 3, 1, 1, &bp.push(1))?);
            Ok(s)
        };
        let b4p = pb.push("branch4");
        let mut b4 = Sequential::new(&b4p);
        b4.push(
            MaxPool2d::new((3, 3), (1, 1))
                .padding((1, 1))
                .ceil_mode(true),
        )
        .push(BasicConv2d::new(cin, pp, 1, 1, 0, &b4p.push(1))?);
        Ok(Inception {
            branch1: BasicConv2d::new(cin, c1, 1, 1, 0, &pb.push("branch1"))?,
            branches: [two("branch2", r3, c3)?, two("branch3", r5, c5)?, b4],
            path: pb.path().to_string(),
        })
    }
}

impl Module for Inception {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut outs = vec![forward_child(
            &self.branch1,
            &join(&self.path, "branch1"),
            x,
        )?];
        for (i, b) in self.branches.iter().enumerate() {
            outs.push(forward_child(
                b,
                &join(&self.path, &format!("branch{}", i + 2)),
                x,
            )?);
        }
        Tensor::cat(&outs, 1).map_err(|e| {
            label(
                Error::msg(format!("concatenating the branches: {e}")),
                &self.path,
            )
        })
    }
    fn set_training(&self, training: bool) {
        self.branch1.set_training(training);
        for b in &self.branches {
            b.set_training(training);
        }
    }
    fn describe(&self) -> String {
        "Inception".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = vec![("branch1".into(), &self.branch1)];
        for (i, b) in self.branches.iter().enumerate() {
            v.push((format!("branch{}", i + 2), b));
        }
        v
    }
}

/// An auxiliary classifier: `(N, in, H, W)` -> `(N, num_classes)`.
pub struct InceptionAux {
    pool: AdaptiveAvgPool2d,
    conv: BasicConv2d,
    flatten: Flatten,
    fc1: Linear,
    relu: ReLU,
    dropout: Dropout,
    fc2: Linear,
    path: String,
}

impl InceptionAux {
    fn new(cin: usize, classes: usize, pb: &ParamBuilder) -> Result<Self> {
        Ok(InceptionAux {
            pool: AdaptiveAvgPool2d::new((4, 4)),
            conv: BasicConv2d::new(cin, 128, 1, 1, 0, &pb.push("conv"))?,
            flatten: Flatten::new(1, -1),
            fc1: Linear::new(2048, 1024, true, &pb.push("fc1"))?,
            relu: ReLU,
            fc2: Linear::new(1024, classes, true, &pb.push("fc2"))?,
            dropout: Dropout::new(0.7, &pb.push("dropout"))?,
            path: pb.path().to_string(),
        })
    }
}

impl Module for InceptionAux {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (name, m) in self.children() {
            h = forward_child(m, &join(&self.path, &name), &h)?;
        }
        Ok(h)
    }
    fn set_training(&self, training: bool) {
        self.conv.set_training(training);
        self.dropout.set_training(training);
    }
    fn describe(&self) -> String {
        "InceptionAux".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("pool".into(), &self.pool as &dyn Module),
            ("conv".into(), &self.conv),
            ("flatten".into(), &self.flatten),
            ("fc1".into(), &self.fc1),
            ("relu".into(), &self.relu),
            ("dropout".into(), &self.dropout),
            ("fc2".into(), &self.fc2),
        ]
    }
}

/// GoogLeNet: `(N, 3, H, W)` (H, W >= 31; 224 is standard) -> `(N, num_classes)`.
pub struct GoogLeNet {
    /// the trunk in execution order, by name (convolutions, pools, Inception modules)
    trunk: Vec<(String, Box<dyn Module>)>,
    aux: Option<[InceptionAux; 2]>,
    avgpool: AdaptiveAvgPool2d,
    flatten: Flatten,
    dropout: Dropout,
    fc: Linear,
    transform_input: bool,
    path: String,
}

/// `(name, in, [c1, r3, c3, r5, c5, pool_proj])` of the Inception modules; `None` a max pool.
type Stage = (&'static str, Option<(usize, [usize; 6])>);
const STAGES: [Stage; 11] = [
    ("inception3a", Some((192, [64, 96, 128, 16, 32, 32]))),
    ("inception3b", Some((256, [128, 128, 192, 32, 96, 64]))),
    ("maxpool3", None),
    ("inception4a", Some((480, [192, 96, 208, 16, 48, 64]))),
    ("inception4b", Some((512, [160, 112, 224, 24, 64, 64]))),
    ("inception4c", Some((512, [128, 128, 256, 24, 64, 64]))),
    ("inception4d", Some((512, [112, 144, 288, 32, 64, 64]))),
    ("inception4e", Some((528, [256, 160, 320, 32, 128, 128]))),
    ("maxpool4", None),
    ("inception5a", Some((832, [256, 160, 320, 32, 128, 128]))),
    ("inception5b", Some((832, [384, 192, 384, 48, 128, 128]))),
];

impl GoogLeNet {
    /// Builds the layers under `pb` with torchvision's names, in its registration order.
    pub fn new(cfg: &GoogLeNetConfig, pb: &ParamBuilder) -> Result<Self> {
        if cfg.num_classes == 0 {
            return Err(Error::msg("googlenet: num_classes must be at least 1"));
        }
        let pool = |k: usize| MaxPool2d::new((k, k), (2, 2)).ceil_mode(true);
        let mut trunk: Vec<(String, Box<dyn Module>)> = vec![
            (
                "conv1".into(),
                Box::new(BasicConv2d::new(3, 64, 7, 2, 3, &pb.push("conv1"))?),
            ),
            ("maxpool1".into(), Box::new(pool(3))),
            (
                "conv2".into(),
                Box::new(BasicConv2d::new(64, 64, 1, 1, 0, &pb.push("conv2"))?),
            ),
            (
                "conv3".into(),
                Box::new(BasicConv2d::new(64, 192, 3, 1, 1, &pb.push("conv3"))?),
            ),
            ("maxpool2".into(), Box::new(pool(3))),
        ];
        for (name, spec) in STAGES.iter() {
            let m: Box<dyn Module> = match spec {
                Some((cin, ch)) => Box::new(Inception::new(*cin, *ch, &pb.push(name))?),
                None => Box::new(pool(if *name == "maxpool4" { 2 } else { 3 })),
            };
            trunk.push((name.to_string(), m));
        }
        let aux = if cfg.aux_logits {
            Some([
                InceptionAux::new(512, cfg.num_classes, &pb.push("aux1"))?,
                InceptionAux::new(528, cfg.num_classes, &pb.push("aux2"))?,
            ])
        } else {
            None
        };
        Ok(GoogLeNet {
            trunk,
            aux,
            avgpool: AdaptiveAvgPool2d::new((1, 1)),
            flatten: Flatten::new(1, -1),
            dropout: Dropout::new(cfg.dropout, &pb.push("dropout"))?,
            fc: Linear::new(1024, cfg.num_classes, true, &pb.push("fc"))?,
            transform_input: cfg.transform_input,
            path: pb.path().to_string(),
        })
    }

    /// torchvision's `_transform_input`: channel `c` becomes `x_c * std_c / 0.5 + (mean_c - 0.5)
    /// / 0.5` with ImageNet's mean and std.
    fn transform(&self, x: &Tensor) -> Result<Tensor> {
        if !self.transform_input {
            return Ok(x.clone());
        }
        let mean = [0.485, 0.456, 0.406];
        let std = [0.229, 0.224, 0.225];
        let chans = (0..3)
            .map(|c| {
                x.narrow(1, c, 1)?
                    .mul_scalar(std[c] / 0.5)?
                    .add_scalar((mean[c] - 0.5) / 0.5)
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&chans, 1)
    }

    /// The main logits and, with `aux_logits`, those of `aux1` and `aux2` (computed whatever the
    /// training mode; torchvision returns them in training only).
    pub fn forward_with_aux(&self, x: &Tensor) -> Result<(Tensor, Option<[Tensor; 2]>)> {
        let p = |n: &str| join(&self.path, n);
        let mut h = self.transform(x)?;
        let mut aux_out = Vec::new();
        for (name, m) in &self.trunk {
            h = forward_child(m.as_ref(), &p(name), &h)?;
            if let Some(aux) = &self.aux {
                let i = match name.as_str() {
                    "inception4a" => 0,
                    "inception4d" => 1,
                    _ => continue,
                };
                let a = ["aux1", "aux2"][i];
                aux_out.push(forward_child(&aux[i], &p(a), &h)?);
            }
        }
        h = forward_child(&self.avgpool, &p("avgpool"), &h)?;
        h = forward_child(&self.flatten, &p("flatten"), &h)?;
        h = forward_child(&self.dropout, &p("dropout"), &h)?;
        let y = forward_child(&self.fc, &p("fc"), &h)?;
        let aux = <[Tensor; 2]>::try_from(aux_out).ok();
        Ok((y, aux))
    }
}

impl Module for GoogLeNet {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = |n: &str| join(&self.path, n);
        let mut h = self.transform(x)?;
        for (name, m) in &self.trunk {
            h = forward_child(m.as_ref(), &p(name), &h)?;
        }
        h = forward_child(&self.avgpool, &p("avgpool"), &h)?;
        h = forward_child(&self.flatten, &p("flatten"), &h)?;
        h = forward_child(&self.dropout, &p("dropout"), &h)?;
        forward_child(&self.fc, &p("fc"), &h)
    }
    fn set_training(&self, training: bool) {
        for (_, m) in &self.trunk {
            m.set_training(training);
        }
        if let Some(aux) = &self.aux {
            aux.iter().for_each(|a| a.set_training(training));
        }
        self.dropout.set_training(training);
    }
    fn describe(&self) -> String {
        "GoogLeNet".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = self
            .trunk
            .iter()
            .map(|(n, m)| (n.clone(), m.as_ref()))
            .collect();
        if let Some([a1, a2]) = &self.aux {
            v.push(("aux1".into(), a1));
            v.push(("aux2".into(), a2));
        }
        v.push(("avgpool".into(), &self.avgpool));
        v.push(("flatten".into(), &self.flatten));
        v.push(("dropout".into(), &self.dropout));
        v.push(("fc".into(), &self.fc));
        v
    }
}
