#!/usr/bin/env python3
"""PyTorch baseline for `deepnet bench mlp-train`: training throughput of the MLP 784-256-128-10
(ReLU) on one fixed random batch: forward, cross-entropy, backward, SGD momentum step, and
`loss.item()` each step. Prints one JSON line with `images_per_sec`.

Run with a PyTorch virtualenv outside the repository, e.g.
    /opt/torchenv/bin/python tools/bench/torch_mlp_train.py --batch 64 --threads 2
"""
import argparse
import json
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(args.batch, 784)
    y = torch.randint(0, 10, (args.batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(20):
        step()
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        step()
        steps += 1
    dt = time.perf_counter() - t0
    print(json.dumps({
        "bench": "mlp-train", "framework": "pytorch", "torch": torch.__version__,
        "batch": args.batch, "threads": args.threads, "steps": steps,
        "images_per_sec": steps * args.batch / dt,
    }))


if __name__ == "__main__":
    main()
