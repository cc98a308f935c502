#!/usr/bin/env python3
"""Times numpy's f32 `a @ b` (N x N @ N x N): the reference for `deepnet bench matmul`.

Run it with the machine's OpenBLAS at full speed (the environment of this machine sets
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which can pin OpenBLAS to slower kernels; unset them),
and with the same thread count as deepnet:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 \
        python3 tools/bench/numpy_matmul.py --size 1024

numpy must be importable (a venv outside the repo, e.g. /opt/torchenv/bin/python, which has
numpy; `pip install numpy threadpoolctl` into /opt/benchenv otherwise). With threadpoolctl
installed, the BLAS library numpy uses (name, version, kernel architecture, threads) is printed.

Prints one JSON line, e.g. {"bench": "numpy_matmul", "size": 1024, "gflops": ..., ...}; the
BLAS description goes to stderr so stdout stays one JSON line.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to print it)"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "no BLAS found by threadpoolctl"
    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} arch={i.get('architecture')} "
        f"threads={i.get('num_threads')} ({os.path.basename(i.get('filepath', ''))})"
        for i in libs
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024, help="matrix size N")
    p.add_argument("--seconds", type=float, default=1.5, help="time budget of the timed runs")
    args = p.parse_args()
    n = args.size
    if n < 1:
        p.error("--size must be at least 1")

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)

    # warm-up: at least two calls and ~10% of the budget
    start = time.perf_counter()
    warm = 0
    while warm < 2 or time.perf_counter() - start < 0.1 * args.seconds:
        a @ b
        warm += 1
    per_call = (time.perf_counter() - start) / warm
    reps = max(5, int(args.seconds / per_call))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    best, median = min(times), statistics.median(times)
    flop = 2.0 * n**3
    print(f"numpy {np.__version__}, BLAS: {blas_info()}", file=sys.stderr)
    print(json.dumps({
        "bench": "numpy_matmul",
        "size": n,
        "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "gflops": flop / best / 1e9,
        "gflops_median": flop / median / 1e9,
        "seconds": best,
        "seconds_median": median,
        "reps": reps,
    }))


if __name__ == "__main__":
    main()
