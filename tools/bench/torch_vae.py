#!/usr/bin/env python3
"""PyTorch's classic VAE example (pytorch/examples, vae/main.py), the reference point of
`deepnet train --model vae`: the same recipe on the same MNIST IDX files, so the two test
losses and wall times can be compared on one machine.

Recipe, as in the example: 784-400-20-400-784 (fc1, fc21, fc22, fc3, fc4), ReLU, sigmoid
output, loss = binary_cross_entropy(recon, x, reduction='sum') + KL(q(z|x) || N(0, I)) per
batch, Adam(lr=1e-3), batch size 128 (train shuffled, test in order), 10 epochs, intensities
in [0, 1] (ToTensor). The test loss is the summed loss over the test set divided by its size:
the negative ELBO in nats per image, with one sampled z per image. Prints one JSON line per
epoch and a final summary line.

    /opt/torchenv/bin/python tools/bench/torch_vae.py --threads 2
    deepnet --threads 2 train --model vae --json     # the same recipe in deepnet

deepnet minimizes the per-image mean of the same loss instead of the batch sum: Adam's steps do
not depend on a constant scale of the loss (up to its eps).
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from idx_files import read_idx

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def images(dir_, prefix):
    x = read_idx(os.path.join(dir_, f"{prefix}-images-idx3-ubyte.gz"))
    return torch.from_numpy(x.astype(np.float32) / 255.0).view(-1, 784)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce, kld


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(REPO_ROOT, "data", "mnist"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train, test = images(a.data, "train"), images(a.data, "t10k")
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    train_seconds = 0.0
    for epoch in range(1, a.epochs + 1):
        model.train()
        t0 = time.time()
        total = 0.0
        for idx in torch.randperm(len(train)).split(a.batch):
            x = train[idx]
            opt.zero_grad()
            recon, mu, logvar = model(x)
            bce, kld = loss_function(recon, x, mu, logvar)
            loss = bce + kld
            loss.backward()
            total += loss.item()
            opt.step()
        train_seconds += time.time() - t0
        model.eval()
        test_bce = test_kld = 0.0
        with torch.no_grad():
            for x in test.split(a.batch):
                recon, mu, logvar = model(x)
                bce, kld = loss_function(recon, x, mu, logvar)
                test_bce += bce.item()
                test_kld += kld.item()
        n = len(test)
        line = {"epoch": epoch, "train_nelbo": total / len(train),
                "test_nelbo": (test_bce + test_kld) / n, "test_recon": test_bce / n,
                "test_kl": test_kld / n}
        print(json.dumps(line), flush=True)
    print(json.dumps({"framework": "pytorch", "torch_version": torch.__version__,
                      "threads": a.threads, "epochs": a.epochs, "test_nelbo": line["test_nelbo"],
                      "test_recon": line["test_recon"], "test_kl": line["test_kl"],
                      "train_seconds": train_seconds, "seconds": time.time() - start}))


if __name__ == "__main__":
    main()
