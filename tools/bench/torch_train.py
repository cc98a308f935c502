#!/usr/bin/env python3
"""PyTorch baselines for `deepnet bench mlp-train`, `lenet-train` and `cifar-train`: training
throughput on one fixed random batch (forward, cross-entropy, backward, SGD momentum step,
`loss.item()` each step). Prints one JSON line with `images_per_sec`. Run it with a PyTorch
virtualenv outside the repository:

    /opt/torchenv/bin/python tools/bench/torch_train.py --model mlp --batch 64 --threads 2
    /opt/torchenv/bin/python tools/bench/torch_train.py --model lenet5 --batch 64 --threads 2
    /opt/torchenv/bin/python tools/bench/torch_train.py --model small_cnn --batch 128 --threads 2
    /opt/torchenv/bin/python tools/bench/torch_train.py --model lenet5 --batch 256 --infer

    /opt/torchenv/bin/python tools/bench/torch_train.py --model lstm --batch 64 --threads 2
    /opt/torchenv/bin/python tools/bench/torch_train.py --model gru --batch 64 --threads 2

mlp: 784-256-128-10 with ReLU on flat 784-vectors. lenet5: conv6 5x5 pad 2, ReLU, maxpool 2, conv16 5x5, ReLU, maxpool 2, fc120, fc84, fc10 on
1x28x28. small_cnn: conv32-conv32-pool-conv64-conv64-pool-fc256-fc10 (3x3 pad 1, ReLU) on 3x32x32.
lstm / gru: nn.LSTM / nn.GRU(28, 128, batch_first=True) over a 1x28x28 image read as 28 rows of
28 features, a Linear(128, 10) on the last hidden state (deepnet's `lstm` / `gru` zoo models).
"""
import argparse
import json
import time

import torch
from torch import nn


def mlp():
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10),
    ), (784,)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    ), (1, 28, 28)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU(), nn.Linear(256, 10),
    ), (3, 32, 32)


class RowClassifier(nn.Module):
    """An image (N, 1, 28, 28) read row by row by a one-layer LSTM or GRU, a linear head on h_n."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(28, 128, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.rnn(x.flatten(1, 2))
        return self.fc(out[:, -1])


def lstm():
    return RowClassifier(nn.LSTM), (1, 28, 28)


def gru():
    return RowClassifier(nn.GRU), (1, 28, 28)


BENCH = {"mlp": "mlp-train", "lenet5": "lenet-train", "small_cnn": "cifar-train",
         "lstm": "lstm-train", "gru": "gru-train"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=list(BENCH), default="lenet5")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument(
        "--infer",
        action="store_true",
        help="time inference instead (eval mode, torch.no_grad(): forward and the loss), "
        "the reference for `deepnet bench lenet-infer`",
    )
    ap.add_argument(
        "--flush-denormal",
        action="store_true",
        help="torch.set_flush_denormal(True), as deepnet's kernels run by default",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model, shape = {"mlp": mlp, "lenet5": lenet5, "small_cnn": small_cnn, "lstm": lstm,
                    "gru": gru}[args.model]()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(args.batch, *shape)
    y = torch.randint(0, 10, (args.batch,))
    loss_fn = nn.CrossEntropyLoss()

    def infer_step():
        with torch.no_grad():
            return loss_fn(model(x), y).item()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    if args.infer:
        model.eval()
    step = infer_step if args.infer else train_step

    for _ in range(10):
        step()
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        step()
        steps += 1
    dt = time.perf_counter() - t0
    print(json.dumps({
        "bench": BENCH[args.model].replace("-train", "-infer") if args.infer else BENCH[args.model],
        "framework": "pytorch", "torch": torch.__version__,
        "batch": args.batch, "threads": args.threads, "flush_denormal": args.flush_denormal,
        "steps": steps,
        "images_per_sec": steps * args.batch / dt,
    }))


if __name__ == "__main__":
    main()
