//! Restricted Boltzmann machines and the greedy layer-wise pretraining of a deep autoencoder
//! (Hinton and Salakhutdinov 2006, "Reducing the dimensionality of data with neural networks").
//!
//! An RBM couples visible units `v: (N, V)` and hidden units `h: (N, H)` through one weight
//! matrix `W: (H, V)` (the layout of a `torch.nn.Linear(V, H)` weight) and two biases. Visible
//! units are logistic: `p(v = 1 | h) = sigmoid(h W + b_v)`; MNIST intensities in `[0, 1]` are
//! used as their probabilities, as in the paper. Hidden units are logistic binary
//! ([`RbmHidden::Binary`]: `p(h = 1 | v) = sigmoid(v W^T + b_h)`) or, for the code layer,
//! linear with unit-variance Gaussian noise ([`RbmHidden::Gaussian`]: `h = v W^T + b_h + eps`).
//!
//! Training is one-step contrastive divergence (CD-1), the paper's recipe: hidden
//! probabilities from the data, one binary (or noisy) hidden sample, the visible probabilities
//! it implies, the hidden probabilities of those; the update is
//! `dW = lr ((ph^T v - nh^T pv) / N - weight_cost W)` with momentum (0.5 for the first epochs,
//! then 0.9), the biases likewise without the weight cost.
//!
//! [`pretrain_autoencoder`] trains one RBM per encoder layer of an [`Autoencoder`]
//! (`784-1000`, `1000-500`, `500-250` binary, `250-30` Gaussian), each on the hidden
//! probabilities of the one below, and [`unrolled_state_dict`] unrolls the stack into the
//! autoencoder's keys: encoder layer `i` gets `W_i` and `b_h`, the mirrored decoder layer
//! `W_i^T` and `b_v`. Fine-tuning is then ordinary backpropagation of the autoencoder's loss.
//! The unrolled network has logistic hidden layers and a linear code, so the autoencoder must
//! be built with `activation: Sigmoid` and no code activation.

use crate::autoencoder::AutoencoderConfig;
use crate::mlp::Activation;
use deepnet_tensor::{no_grad, DType, Error, Generator, Result, Tensor};

/// The hidden units of an [`Rbm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RbmHidden {
    /// logistic binary units, sampled as 0/1 in the positive phase
    Binary,
    /// linear units with unit-variance Gaussian noise (the paper's code layer)
    Gaussian,
}

/// How an [`Rbm`] is trained (CD-1 with momentum and weight cost). The defaults are the
/// paper's binary-layer settings; its Gaussian code layer uses `lr = 0.001`
/// ([`RbmTraining::gaussian`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RbmTraining {
    /// learning rate of the weights and both biases (default `0.1`)
    pub lr: f64,
    /// L2 weight cost on `W` (default `2e-4`)
    pub weight_cost: f64,
    /// momentum for the first `momentum_epochs` epochs (default `0.5`)
    pub initial_momentum: f64,
    /// momentum afterwards (default `0.9`)
    pub final_momentum: f64,
    /// epochs at the initial momentum (default `5`)
    pub momentum_epochs: usize,
    /// minibatch size (default `100`)
    pub batch: usize,
    /// epochs over the data (default `10`; the paper used 50, its published code 10)
    pub epochs: usize,
}

impl Default for RbmTraining {
    fn default() -> Self {
        RbmTraining {
            lr: 0.1,
            weight_cost: 2e-4,
            initial_momentum: 0.5,
            final_momentum: 0.9,
            momentum_epochs: 5,
            batch: 100,
            epochs: 10,
        }
    }
}

impl RbmTraining {
    /// The settings for a Gaussian (linear) hidden layer: these settings with `lr = 0.001`, as
    /// in the paper (the linear units' unbounded activities need a smaller step).
    pub fn gaussian(&self) -> RbmTraining {
        RbmTraining {
            lr: self.lr / 100.0,
            ..self.clone()
        }
    }

    fn validate(&self) -> Result<()> {
        let momentum = 0.0..1.0;
        let good = self.lr > 0.0
            && self.lr.is_finite()
            && self.weight_cost >= 0.0
            && self.weight_cost.is_finite()
            && momentum.contains(&self.initial_momentum)
            && momentum.contains(&self.final_momentum)
            && self.batch > 0;
        if !good {
            return Err(Error::msg(format!(
                "rbm: bad training settings {self:?} (lr > 0, weight cost >= 0, momenta in \
                 [0, 1), batch >= 1)"
            )));
        }
        Ok(())
    }
}

/// A restricted Boltzmann machine; see the module doc.
pub struct Rbm {
    /// `W: (H, V)`
    pub weight: Tensor,
    /// `b_v: (V,)`
    pub visible_bias: Tensor,
    /// `b_h: (H,)`
    pub hidden_bias: Tensor,
    /// the hidden units' kind
    pub hidden: RbmHidden,
}

impl Rbm {
    /// `visible` x `hidden` units, `W ~ N(0, 0.1^2)` and zero biases as in the paper, f32.
    pub fn new(visible: usize, hidden: usize, kind: RbmHidden, g: &mut Generator) -> Result<Rbm> {
        if visible == 0 || hidden == 0 {
            return Err(Error::msg(format!(
                "rbm: needs at least one visible and one hidden unit, got {visible} x {hidden}"
            )));
        }
        Ok(Rbm {
            weight: Tensor::rand_normal([hidden, visible], 0.0, 0.1, DType::F32, g)?,
            visible_bias: Tensor::zeros([visible], DType::F32)?,
            hidden_bias: Tensor::zeros([hidden], DType::F32)?,
            hidden: kind,
        })
    }

    /// `(V, H)`.
    pub fn sizes(&self) -> (usize, usize) {
        let d = self.weight.dims();
        (d[1], d[0])
    }

    fn check_visible(&self, v: &Tensor) -> Result<()> {
        let (nv, nh) = self.sizes();
        if v.rank() != 2 || v.dims()[1] != nv {
            return Err(Error::msg(format!(
                "rbm ({nv} visible, {nh} hidden): expected visible data (N, {nv}), got {}",
                v.shape()
            )));
        }
        Ok(())
    }

    /// `E[h | v]`: `sigmoid(v W^T + b_h)` (binary) or `v W^T + b_h` (Gaussian), `v: (N, V)`.
    pub fn hidden_probs(&self, v: &Tensor) -> Result<Tensor> {
        self.check_visible(v)?;
        let _g = no_grad();
        let a = v
            .to_dtype(self.weight.dtype())?
            .matmul(&self.weight.t()?)?
            .add(&self.hidden_bias)?;
        match self.hidden {
            RbmHidden::Binary => a.sigmoid(),
            RbmHidden::Gaussian => Ok(a),
        }
    }

    /// `p(v = 1 | h) = sigmoid(h W + b_v)`, `h: (N, H)`.
    pub fn visible_probs(&self, h: &Tensor) -> Result<Tensor> {
        let _g = no_grad();
        h.matmul(&self.weight)?.add(&self.visible_bias)?.sigmoid()
    }

    /// A sample of the hidden units given their mean `ph`.
    fn sample_hidden(&self, ph: &Tensor, g: &mut Generator) -> Result<Tensor> {
        let noise_shape = ph.shape().clone();
        match self.hidden {
            RbmHidden::Binary => ph
                .gt(&Tensor::rand(noise_shape, ph.dtype(), g)?)?
                .to_dtype(ph.dtype()),
            RbmHidden::Gaussian => ph.add(&Tensor::randn(noise_shape, ph.dtype(), g)?),
        }
    }

    /// Trains on `data: (N, V)` (values in `[0, 1]`) for `t.epochs` epochs of CD-1, the
    /// minibatches reshuffled every epoch from `g`. Calls `on_epoch(epoch, error)` after each
    /// epoch with the mean squared reconstruction error per sample (`v` against `p(v | h)`,
    /// summed over the visible units), and returns those errors.
    pub fn train(
        &mut self,
        data: &Tensor,
        t: &RbmTraining,
        g: &mut Generator,
        mut on_epoch: impl FnMut(usize, f64),
    ) -> Result<Vec<f64>> {
        t.validate()?;
        self.check_visible(data)?;
        let _ng = no_grad();
        let data = data.to_dtype(self.weight.dtype())?;
        let n = data.dims()[0];
        if n == 0 {
            return Err(Error::msg("rbm: no training data"));
        }
        // the visible units are logistic: the data are their probabilities
        let (lo, hi) = (data.min_all()?.item()?, data.max_all()?.item()?);
        if !(lo >= 0.0 && hi <= 1.0) {
            return Err(Error::msg(format!(
                "rbm: visible data must lie in [0, 1] (probabilities of logistic units), got \
                 values from {lo} to {hi}"
            )));
        }
        let vel = |x: &Tensor| Tensor::zeros(x.shape().clone(), x.dtype());
        let (vw, vvb, vhb) = (
            vel(&self.weight)?,
            vel(&self.visible_bias)?,
            vel(&self.hidden_bias)?,
        );
        let mut errors = Vec::with_capacity(t.epochs);
        for epoch in 0..t.epochs {
            let m = if epoch < t.momentum_epochs {
                t.initial_momentum
            } else {
                t.final_momentum
            };
            let order: Vec<i64> = g.permutation(n).into_iter().map(|i| i as i64).collect();
            let (mut err, mut seen) = (0.0, 0usize);
            for idx in order.chunks(t.batch) {
                let b = idx.len();
                let v = data.index_select(0, &Tensor::from_vec(idx.to_vec(), [b])?)?;
                let ph = self.hidden_probs(&v)?;
                let hs = self.sample_hidden(&ph, g)?;
                let pv = self.visible_probs(&hs)?;
                let nh = self.hidden_probs(&pv)?;
                // (H, V) statistics of the positive and the negative phase, per sample
                let dw = ph
                    .t()?
                    .matmul(&v)?
                    .sub(&nh.t()?.matmul(&pv)?)?
                    .div_scalar(b as f64)?
                    .sub(&self.weight.mul_scalar(t.weight_cost)?)?;
                let dvb = v.sub(&pv)?.mean(0, false)?;
                let dhb = ph.sub(&nh)?.mean(0, false)?;
                vw.axpby_(m, t.lr, &dw)?;
                vvb.axpby_(m, t.lr, &dvb)?;
                vhb.axpby_(m, t.lr, &dhb)?;
                self.weight.axpby_(1.0, 1.0, &vw)?;
                self.visible_bias.axpby_(1.0, 1.0, &vvb)?;
                self.hidden_bias.axpby_(1.0, 1.0, &vhb)?;
                err += v.sub(&pv)?.square()?.sum_all()?.item()?;
                seen += b;
            }
            let e = err / seen as f64;
            if !e.is_finite() {
                return Err(Error::msg(format!(
                    "rbm ({} visible, {} hidden): the reconstruction error became {e} in \
                     epoch {}; lower the learning rate",
                    self.sizes().0,
                    self.sizes().1,
                    epoch + 1
                )));
            }
            on_epoch(epoch, e);
            errors.push(e);
        }
        Ok(errors)
    }
}

/// Checks that `cfg` unrolls from RBMs: logistic hidden layers and a linear code.
pub fn check_unrollable(cfg: &AutoencoderConfig) -> Result<()> {
    if cfg.activation != Activation::Sigmoid || cfg.code_activation.is_some() {
        return Err(Error::msg(format!(
            "RBM pretraining unrolls into logistic hidden layers and a linear code: the \
             autoencoder needs activation sigmoid and a linear code, got activation {} and \
             code activation {}",
            crate::autoencoder::activation_name(Some(cfg.activation)),
            crate::autoencoder::activation_name(cfg.code_activation)
        )));
    }
    Ok(())
}

/// Greedy layer-wise pretraining of the encoder of `cfg` on `data: (N, D)`: one RBM per layer
/// (`D-h1`, `h1-h2`, ..., `hL-K`), binary except the last, which is Gaussian and trained with
/// [`RbmTraining::gaussian`]; each trains on the hidden probabilities of the one below. Calls
/// `on_epoch(layer, epoch, error)` after every epoch. Returns the RBMs, input side first.
pub fn pretrain_autoencoder(
    cfg: &AutoencoderConfig,
    data: &Tensor,
    t: &RbmTraining,
    g: &mut Generator,
    mut on_epoch: impl FnMut(usize, usize, f64),
) -> Result<Vec<Rbm>> {
    check_unrollable(cfg)?;
    let d: usize = data.dims().iter().skip(1).product();
    if data.rank() < 2 || d != cfg.in_features {
        return Err(Error::msg(format!(
            "RBM pretraining: expected data (N, *) with {} features, got {}",
            cfg.in_features,
            data.shape()
        )));
    }
    let mut widths = vec![cfg.in_features];
    widths.extend(&cfg.hidden);
    widths.push(cfg.code);
    let mut x = data.reshape([data.dims()[0], d])?.to_dtype(DType::F32)?;
    let mut rbms = Vec::new();
    for (layer, w) in widths.windows(2).enumerate() {
        let top = layer + 2 == widths.len();
        let (kind, tl) = if top {
            (RbmHidden::Gaussian, t.gaussian())
        } else {
            (RbmHidden::Binary, t.clone())
        };
        let mut rbm = Rbm::new(w[0], w[1], kind, g)?;
        rbm.train(&x, &tl, g, |e, err| on_epoch(layer, e, err))?;
        if !top {
            // the next layer's data: this layer's hidden probabilities, in chunks
            let n = x.dims()[0];
            let mut parts = Vec::new();
            for s in (0..n).step_by(1000) {
                parts.push(rbm.hidden_probs(&x.narrow(0, s, 1000.min(n - s))?)?);
            }
            x = Tensor::cat(&parts, 0)?;
        }
        rbms.push(rbm);
    }
    Ok(rbms)
}

/// The unrolled stack as an [`crate::Autoencoder`] `state_dict` under `prefix` (`""` for a
/// model at the root): encoder Linear `i` (key `encoder.{2i}`) gets `W_i` and `b_h`, decoder
/// Linear `L - 1 - i` gets `W_i^T` and `b_v`. Load it with `ParamStore::load_state_dict`.
pub fn unrolled_state_dict(
    cfg: &AutoencoderConfig,
    rbms: &[Rbm],
    prefix: &str,
) -> Result<Vec<(String, Tensor)>> {
    check_unrollable(cfg)?;
    let mut widths = vec![cfg.in_features];
    widths.extend(&cfg.hidden);
    widths.push(cfg.code);
    let sizes: Vec<(usize, usize)> = rbms.iter().map(Rbm::sizes).collect();
    let want: Vec<(usize, usize)> = widths.windows(2).map(|w| (w[0], w[1])).collect();
    if sizes != want {
        return Err(Error::msg(format!(
            "RBM stack of (visible, hidden) sizes {sizes:?} does not unroll into the \
             autoencoder's layers {want:?}"
        )));
    }
    let key = |part: &str, i: usize, leaf: &str| {
        let k = format!("{part}.{}.{leaf}", 2 * i);
        if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        }
    };
    let l = rbms.len();
    let mut sd = Vec::new();
    for (i, r) in rbms.iter().enumerate() {
        sd.push((key("encoder", i, "weight"), r.weight.clone()));
        sd.push((key("encoder", i, "bias"), r.hidden_bias.clone()));
        sd.push((
            key("decoder", l - 1 - i, "weight"),
            r.weight.t()?.contiguous()?,
        ));
        sd.push((key("decoder", l - 1 - i, "bias"), r.visible_bias.clone()));
    }
    Ok(sd)
}

#[cfg(test)]
#[path = "rbm_tests.rs"]
mod tests;
