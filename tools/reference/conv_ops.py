#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-tensor convolution and pooling tests.

Writes crates/deepnet-tensor/tests/data/torch_conv.json (relative to the repo
root), in the format of tensor_ops.py's torch_ops.json: every case records its
inputs, output, a random grad_output and the gradients of
sum(output * grad_output) with respect to each input, all float64 with a fixed
seed. Rust tests only read the checked-in JSON; they never run Python.

Usage: /opt/torchenv/bin/python tools/reference/conv_ops.py
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240602)
DT = torch.float64

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(
    REPO_ROOT, "crates", "deepnet-tensor", "tests", "data", "torch_conv.json"
)

CASES = []


def tensor_json(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def case(name, fn, inputs):
    leaves = [t.detach().clone().to(DT).requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    grad_output = torch.randn(out.shape, dtype=DT)
    grads = torch.autograd.grad((out * grad_output).sum(), leaves)
    CASES.append(
        {
            "name": name,
            "inputs": [tensor_json(t) for t in inputs],
            "output": tensor_json(out),
            "grad_output": tensor_json(grad_output),
            "grads": [tensor_json(g) for g in grads],
        }
    )


def randn(*shape):
    return torch.randn(shape, dtype=DT)


def distinct(*shape):
    """Distinct values (pairwise gap >= 0.1): max pooling has no ties."""
    n = 1
    for s in shape:
        n *= s
    base = (torch.randperm(n).to(DT) - (n - 1) / 2) / 8.0
    return (base + torch.rand(n, dtype=DT) * 0.02).reshape(shape)


# conv2d: (x, weight[, bias]); the Rust side reads the arguments from the case name
case("conv2d_basic", lambda x, w, b: F.conv2d(x, w, b), [randn(2, 3, 6, 5), randn(4, 3, 3, 3), randn(4)])
case("conv2d_basic_nobias", lambda x, w: F.conv2d(x, w), [randn(2, 3, 6, 5), randn(4, 3, 3, 3)])
case("conv2d_stride2_pad1", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
     [randn(2, 2, 7, 6), randn(3, 2, 3, 3), randn(3)])
case("conv2d_stride2_pad1_nobias", lambda x, w: F.conv2d(x, w, stride=2, padding=1),
     [randn(2, 2, 7, 6), randn(3, 2, 3, 3)])
case("conv2d_dilation2", lambda x, w, b: F.conv2d(x, w, b, padding=1, dilation=2),
     [randn(1, 2, 7, 7), randn(3, 2, 3, 3), randn(3)])
case("conv2d_groups2", lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2),
     [randn(2, 4, 5, 5), randn(6, 2, 3, 3), randn(6)])
case("conv2d_groups2_nobias", lambda x, w: F.conv2d(x, w, stride=(2, 1), groups=2),
     [randn(2, 4, 6, 5), randn(4, 2, 2, 3)])

# pooling on (N, C, H, W) inputs with distinct values
case("max_pool2d_k2s2", lambda x: F.max_pool2d(x, 2, 2), [distinct(1, 2, 6, 5)])
case("max_pool2d_k3s2p1", lambda x: F.max_pool2d(x, 3, 2, 1), [distinct(1, 2, 7, 6)])
case("max_pool2d_ceil", lambda x: F.max_pool2d(x, 2, 2, ceil_mode=True), [distinct(1, 2, 5, 7)])
case("max_pool2d_k3s2p1_ceil", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [distinct(1, 2, 6, 6)])
case("avg_pool2d_k3s2p1", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True), [randn(1, 2, 7, 6)])
case("avg_pool2d_k2s2", lambda x: F.avg_pool2d(x, 2, 2), [randn(1, 3, 5, 4)])
case("adaptive_avg_pool2d_3x3", lambda x: F.adaptive_avg_pool2d(x, (3, 3)), [randn(1, 3, 7, 5)])


def main():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    header = {"generator": "tools/reference/conv_ops.py", "torch_version": torch.__version__}
    lines = [json.dumps(c, allow_nan=False, separators=(",", ":")) for c in CASES]
    text = (
        json.dumps(header, separators=(",", ":"))[:-1]
        + ',"cases":[\n'
        + ",\n".join(lines)
        + "\n]}\n"
    )
    json.loads(text)
    assert len(text) < 150_000, f"reference file too large: {len(text)} bytes"
    with open(OUT_PATH, "w") as f:
        f.write(text)
    print(f"wrote {len(CASES)} cases to {OUT_PATH} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
