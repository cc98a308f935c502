#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-models' PCA.

Writes crates/deepnet-models/tests/data/torch_pca.json (relative to the repo root), read by
crates/deepnet-models/tests/torch_pca.rs. Everything is float64; the Rust test only reads the
checked-in JSON, never runs Python.

The data: N = 12 samples of D = 6 features, a fixed random matrix (rounded to 3 decimals, so
it is stored exactly) mixed so that the spectrum is clearly separated. The reference follows
the canon's definition, not sklearn's:

  m = mean of the rows
  S = 1/N sum_i (x_i - m)(x_i - m)^T             (the scatter matrix, divided by N)
  eigenvalues, eigenvectors = torch.linalg.eigh(S), reordered to decreasing eigenvalues
  each eigenvector's sign chosen so that its entry of largest magnitude is positive
  (deepnet's convention; eigh's own signs are arbitrary)
  components = the K = 3 leading eigenvectors as rows, (K, D)
  codes = (X - m) components^T,  reconstruction = codes components + m
  explained_variance_ratio = eigenvalues[:K] / trace(S)
  recon_error_per_image = sum over features of (reconstruction - X)^2, mean over samples
  (which equals the sum of the discarded eigenvalues)

Usage: /opt/torchenv/bin/python tools/reference/pca.py
"""

import json
import os

import torch

torch.set_default_dtype(torch.float64)
torch.manual_seed(20261129)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(REPO_ROOT, "crates", "deepnet-models", "tests", "data", "torch_pca.json")

N, D, K = 12, 6, 3


def tj(t):
    t = t.detach().contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def main():
    # latent factors with decreasing scales, mixed into D features, plus a little noise
    scales = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.25, 0.1])
    z = torch.randn(N, D) * scales
    mix = torch.linalg.qr(torch.randn(D, D))[0]
    x = torch.round(z @ mix.T + torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, -1.0]), decimals=3)

    mean = x.mean(0)
    xc = x - mean
    s = xc.T @ xc / N
    evals, evecs = torch.linalg.eigh(s)
    order = torch.argsort(evals, descending=True)
    evals, evecs = evals[order], evecs[:, order]
    for j in range(D):
        i = torch.argmax(evecs[:, j].abs())
        if evecs[i, j] < 0:
            evecs[:, j] = -evecs[:, j]
    comps = evecs[:, :K].T.contiguous()
    codes = xc @ comps.T
    recon = codes @ comps + mean
    out = {
        "generator": "tools/reference/pca.py",
        "torch_version": torch.__version__,
        "k": K,
        "x": tj(x),
        "mean": tj(mean),
        "scatter": tj(s),
        "eigenvalues": tj(evals),
        "components": tj(comps),
        "codes": tj(codes),
        "reconstruction": tj(recon),
        "explained_variance_ratio": tj(evals[:K] / torch.trace(s)),
        "recon_error_per_image": float(((recon - x) ** 2).sum(1).mean()),
    }
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT_PATH}")


if __name__ == "__main__":
    main()
