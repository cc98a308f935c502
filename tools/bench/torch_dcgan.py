#!/usr/bin/env python3
"""The DCGAN of `deepnet train --model dcgan` in PyTorch: the same networks (module names and
shapes of `deepnet_models::dcgan`), the same step and recipe, on the same MNIST IDX files. It
writes 10,000 samples per epoch as an IDX file, so that `deepnet score` measures both
frameworks' generators with the same classifier.

Networks (default widths; --g-channels / --d-channels change them):
  G: z (N, 100) -> Linear(100, 64*7*7, bias=False) -> (N, 64, 7, 7) -> BatchNorm2d, ReLU,
     ConvTranspose2d(64, 32, 4, 2, 1, bias=False), BatchNorm2d, ReLU,
     ConvTranspose2d(32, 1, 4, 2, 1), Tanh
  D: Conv2d(1, 32, 4, 2, 1), LeakyReLU(0.2), Conv2d(32, 64, 4, 2, 1, bias=False),
     BatchNorm2d, LeakyReLU(0.2), Flatten, Linear(64*7*7, 1)
Step (Goodfellow et al. with k = 1, deepnet's GanStep): D on a real batch (mapped to [-1, 1])
and on G(z) detached, BCE with logits against 1 and 0, one Adam step; then G through the
updated D on the same generated batch, the non-saturating loss BCE(D(G(z)), 1), one Adam step.
Adam(lr=2e-4, betas=(0.5, 0.999)) for each, batch 128, shuffled. Samples: G in eval mode
(running batch-norm statistics), as `deepnet sample` draws them.

    /opt/torchenv/bin/python tools/bench/torch_dcgan.py --epochs 5 --out /tmp/torch_dcgan
    deepnet score --samples /tmp/torch_dcgan/samples_epoch_005.idx --classifier LENET_WEIGHTS
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from idx_files import read_idx, write_idx

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Generator(nn.Module):
    def __init__(self, latent, c1, c2):
        super().__init__()
        self.c1 = c1
        self.fc = nn.Linear(latent, c1 * 7 * 7, bias=False)
        self.main = nn.Sequential(
            nn.BatchNorm2d(c1), nn.ReLU(),
            nn.ConvTranspose2d(c1, c2, 4, 2, 1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.ConvTranspose2d(c2, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.main(self.fc(z).view(-1, self.c1, 7, 7))


class Discriminator(nn.Module):
    def __init__(self, d1, d2):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, d1, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(d1, d2, 4, 2, 1, bias=False), nn.BatchNorm2d(d2), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(d2 * 7 * 7, 1))

    def forward(self, x):
        return self.main(x).view(-1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(REPO_ROOT, "data", "mnist"))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--latent", type=int, default=100)
    p.add_argument("--g-channels", default="64,32")
    p.add_argument("--d-channels", default="32,64")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for samples_epoch_NNN.idx")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    x = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).view(-1, 1, 28, 28) * 2 - 1
    g = Generator(a.latent, *map(int, a.g_channels.split(",")))
    d = Discriminator(*map(int, a.d_channels.split(",")))
    g_opt = torch.optim.Adam(g.parameters(), lr=a.lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=a.lr, betas=(0.5, 0.999))
    bce = F.binary_cross_entropy_with_logits
    for epoch in range(1, a.epochs + 1):
        g.train()
        d.train()
        start = time.perf_counter()
        sums, batches = np.zeros(2), 0
        for idx in torch.randperm(len(x)).split(a.batch_size):
            real = x[idx]
            fake = g(torch.randn(len(idx), a.latent))
            lr_, lf = d(real), d(fake.detach())
            d_loss = bce(lr_, torch.ones_like(lr_)) + bce(lf, torch.zeros_like(lf))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            lg = d(fake)
            g_loss = bce(lg, torch.ones_like(lg))
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
            sums += [d_loss.item(), g_loss.item()]
            batches += 1
        seconds = time.perf_counter() - start
        g.eval()
        with torch.no_grad():
            s = torch.cat([g(torch.randn(500, a.latent)) for _ in range(20)])
        s = ((s.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).view(-1, 28, 28).numpy()
        path = os.path.join(a.out, f"samples_epoch_{epoch:03d}.idx")
        write_idx(path, s)
        print(json.dumps({"epoch": epoch, "train_seconds": seconds,
                          "d_loss": sums[0] / batches, "g_loss": sums[1] / batches,
                          "samples": path}), flush=True)


if __name__ == "__main__":
    main()
