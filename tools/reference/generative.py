#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-models' VAE and GAN losses.

Writes crates/deepnet-models/tests/data/torch_generative.json (relative to the repo root), read
by crates/deepnet-models/tests/torch_generative.rs. Everything is float64 with a fixed seed; the
Rust test only reads the checked-in JSON, never runs Python.

* "vae": PyTorch's classic VAE example (examples/vae/main.py: fc1, fc21, fc22, fc3, fc4, ReLU,
  sigmoid output, binary_cross_entropy summed over pixels plus the closed-form KL), shrunk to
  D=12 (images 1x3x4), H=7, L=3, on N=4 images with intensities in [0, 1]. The noise eps of the
  reparameterization is given, so both sides draw the same z. Records every parameter, x, eps,
  mu, logvar, the per-image reconstruction term and KL (the KL also through
  torch.distributions.kl_divergence as a cross-check of the formula), the loss
  (BCE + KLD) / N in nats per image, and the gradient of that loss for every parameter.
* "gan": the discriminator loss BCEWithLogits(real, 1) + BCEWithLogits(fake, 0), the
  non-saturating generator loss BCEWithLogits(fake, 1) and the minimax one
  log(1 - sigmoid(fake)).mean(), with their gradients with respect to the logits.

Inputs are rounded to 3 decimals so that the stored short decimals are exactly the doubles
PyTorch used; outputs are stored in full.

Usage: /opt/torchenv/bin/python tools/reference/generative.py
"""

import json
import os

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

torch.set_default_dtype(torch.float64)
torch.manual_seed(20240707)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(REPO_ROOT, "crates", "deepnet-models", "tests", "data",
                        "torch_generative.json")


def tj(t):
    t = t.detach().contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def q(t):
    with torch.no_grad():
        return torch.round(t, decimals=3)


class VAE(nn.Module):
    """The example's model with sizes as arguments."""

    def __init__(self, d, h, l):
        super().__init__()
        self.d = d
        self.fc1 = nn.Linear(d, h)
        self.fc21 = nn.Linear(h, l)
        self.fc22 = nn.Linear(h, l)
        self.fc3 = nn.Linear(l, h)
        self.fc4 = nn.Linear(h, d)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))


def vae_case():
    n, d, h, l = 4, 12, 7, 3
    m = VAE(d, h, l)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(q(p))
    x = q(torch.rand(n, 1, 3, 4))
    eps = q(torch.randn(n, l))
    mu, logvar = m.encode(x.view(-1, d))
    z = mu + eps * torch.exp(0.5 * logvar)
    recon = m.decode(z)
    bce = F.binary_cross_entropy(recon, x.view(-1, d), reduction="none").sum(1)
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), 1)
    kl_dist = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(kld, kl_dist, atol=1e-12)
    loss = (bce.sum() + kld.sum()) / n
    loss.backward()
    return {
        "sizes": {"n": n, "d": d, "hidden": h, "latent": l, "sample_shape": [1, 3, 4]},
        "params": [{"key": k, "value": tj(p), "grad": tj(p.grad)} for k, p in m.named_parameters()],
        "x": tj(x), "eps": tj(eps), "mu": tj(mu), "logvar": tj(logvar),
        "recon": tj(bce), "kl": tj(kld), "loss": loss.item(),
    }


def gan_case():
    real = q(torch.randn(5) * 2).requires_grad_(True)
    fake = q(torch.randn(3) * 2).requires_grad_(True)
    bce = nn.BCEWithLogitsLoss()
    d_loss = bce(real, torch.ones(5)) + bce(fake, torch.zeros(3))
    gr, gf = torch.autograd.grad(d_loss, [real, fake])
    g_ns = bce(fake, torch.ones(3))
    (g_ns_grad,) = torch.autograd.grad(g_ns, [fake])
    g_mm = torch.log(1 - torch.sigmoid(fake)).mean()
    (g_mm_grad,) = torch.autograd.grad(g_mm, [fake])
    return {
        "real": tj(real), "fake": tj(fake),
        "d_loss": d_loss.item(), "d_grad_real": tj(gr), "d_grad_fake": tj(gf),
        "g_nonsaturating": g_ns.item(), "g_nonsaturating_grad": tj(g_ns_grad),
        "g_minimax": g_mm.item(), "g_minimax_grad": tj(g_mm_grad),
    }


def main():
    out = {"generator": "tools/reference/generative.py", "torch_version": torch.__version__,
           "vae": vae_case(), "gan": gan_case()}
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT_PATH}")


if __name__ == "__main__":
    main()
