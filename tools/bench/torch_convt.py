#!/usr/bin/env python3
"""PyTorch baseline for `deepnet bench convt`: the upsampling layers of a DCGAN generator for
MNIST, forward alone (under no_grad) and forward + backward of (y * r).sum() with respect to the
input, weight and bias, float32: best time of the timed calls, and the mean CPU time per call
(with --threads 1, undisturbed by other processes on the machine). Prints one JSON line in the
shape of `deepnet --json bench convt`. Run it with a PyTorch virtualenv outside the repository:

    /opt/torchenv/bin/python tools/bench/torch_convt.py --batch 128 --threads 2
    deepnet --threads 2 --json bench convt --batch 128
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def measure(fn, target_s=1.5):
    """Best and median seconds of one call and the mean CPU seconds per call (process time,
    all threads): a warm-up, then enough calls for target_s."""
    start = time.perf_counter()
    warm = 0
    while warm < 2 or time.perf_counter() - start < 0.1 * target_s:
        fn()
        warm += 1
    per_call = (time.perf_counter() - start) / warm
    reps = max(5, int(target_s / per_call))
    times = []
    cpu0 = time.process_time()
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / reps
    times.sort()
    return times[0], times[reps // 2], cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = args.batch

    def convt(x, p):
        return F.conv_transpose2d(x, p[0], p[1], stride=2, padding=1)

    workloads = [
        ("convt-128-64-7x7", (n, 128, 7, 7), (128, 64, 4, 4), convt),
        ("convt-64-1-14x14", (n, 64, 14, 14), (64, 1, 4, 4), convt),
        ("upsample-nearest-x2-64-14x14", (n, 64, 14, 14), None, lambda x, p: F.interpolate(x, scale_factor=2)),
        ("upsample-bilinear-x2-64-14x14", (n, 64, 14, 14), None,
         lambda x, p: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)),
    ]
    rows = []
    for name, shape, wshape, op in workloads:
        x = torch.randn(shape).requires_grad_(True)
        params = []
        if wshape is not None:
            params = [(torch.randn(wshape) * 0.05).requires_grad_(True),
                      (torch.randn(wshape[1]) * 0.05).requires_grad_(True)]
        r = torch.randn(op(x, params).shape)

        def fwd():
            with torch.no_grad():
                op(x, params)

        def train():
            (op(x, params) * r).sum().backward()

        f_best, f_med, f_cpu = measure(fwd)
        t_best, t_med, t_cpu = measure(train)
        macs = 0.0
        if wshape is not None:
            macs = float(x.numel() * wshape[1] * wshape[2] * wshape[3])
        rows.append({
            "name": name, "input": list(shape), "forward_ms": f_best * 1e3, "forward_ms_median": f_med * 1e3,
            "train_ms": t_best * 1e3, "train_ms_median": t_med * 1e3, "train_images_per_sec": n / t_best,
            "forward_gflops": 2 * macs / f_best / 1e9, "train_gflops": 6 * macs / t_best / 1e9,
            "forward_cpu_ms": f_cpu * 1e3, "train_cpu_ms": t_cpu * 1e3,
        })
    print(json.dumps({"bench": "torch-convt", "batch": n, "threads": args.threads,
                      "torch": torch.__version__, "workloads": rows}))


if __name__ == "__main__":
    main()
