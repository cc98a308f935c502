#!/usr/bin/env python3
"""The PyTorch side of the end-to-end LeNet-5 comparison on real MNIST (tools/bench/mnist_e2e.sh):
the fixed recipe of `deepnet train --model lenet5 --batch-size 128 --optimizer sgd --lr 0.05
--momentum 0.9 --weight-decay 5e-4 --scheduler none --epochs 6`, written as the loop a PyTorch
user writes: the IDX files read once into tensors, normalized with the training set's mean and
std, a shuffling DataLoader over a TensorDataset, forward, cross-entropy, backward, SGD step,
`loss.item()` each step. Training time excludes the test evaluation (done once at the end, as
deepnet's `train_seconds` excludes its per-epoch evaluation). Prints one JSON line.

    /opt/torchenv/bin/python tools/bench/torch_mnist_e2e.py --data data/mnist --threads 2
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from idx_files import read_idx


def load(data: Path, prefix: str):
    def find(stem):
        for name in (stem + ".gz", stem):
            if (data / name).exists():
                return data / name
        raise SystemExit(f"{data}: no {stem}[.gz]")
    x = read_idx(find(f"{prefix}-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    xtr, ytr = load(Path(args.data), "train")
    xte, yte = load(Path(args.data), "t10k")
    mean, std = xtr.mean(), xtr.std()
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    model = lenet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=128, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    train_seconds = 0.0
    for _ in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()
        train_seconds += time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        correct = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, len(yte), 1000))
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__,
                      "threads": args.threads, "epochs": args.epochs,
                      "train_seconds": train_seconds, "test_accuracy": correct / len(yte)}))


if __name__ == "__main__":
    main()
