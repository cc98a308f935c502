#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-nn normalization layers.

Writes crates/deepnet-nn/tests/data/torch_norm.json (relative to the repo root),
read by crates/deepnet-nn/tests/torch_norm.rs. Everything is float64 with a
fixed seed; the Rust tests only read the checked-in JSON, never run Python.

Cases:
  * BatchNorm1d / BatchNorm2d (class name + constructor kwargs): two training
    steps, each with its input, output, a random grad_output and the gradients of
    sum(output * grad_output) for the input, weight and bias; the running_mean,
    running_var and num_batches_tracked after the steps; then an evaluation-mode
    output on a third input.
  * LocalResponseNorm (kwargs size, alpha, beta, k): output and input gradient.
  * state_dicts: for BatchNorm option combinations, the repr, the state_dict
    names, shapes and dtypes, and the parameter count.

Usage: /opt/torchenv/bin/python tools/reference/norm.py
"""

import json
import os

import torch

torch.manual_seed(20240611)
DT = torch.float64

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(REPO_ROOT, "crates", "deepnet-nn", "tests", "data", "torch_norm.json")

CASES = []


def tj(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def randn(*shape, scale=1.0, shift=0.0):
    return torch.randn(shape, dtype=DT) * scale + shift


def batch_norm_case(name, cls, kwargs, shape):
    m = getattr(torch.nn, cls)(**kwargs).to(DT)
    c = kwargs["num_features"]
    with torch.no_grad():
        m.weight.copy_(randn(c, scale=0.5, shift=1.0))
        m.bias.copy_(randn(c, scale=0.5))
    case = {
        "name": name,
        "class": cls,
        "kwargs": kwargs,
        "weight": tj(m.weight),
        "bias": tj(m.bias),
        "steps": [],
    }
    m.train()
    for _ in range(2):
        # per-channel offsets and scales, so the running statistics move visibly
        x = randn(*shape) * randn(1, c, *([1] * (len(shape) - 2)), scale=0.5, shift=2.0)
        x = (x + randn(1, c, *([1] * (len(shape) - 2)), scale=3.0)).requires_grad_(True)
        y = m(x)
        go = randn(*y.shape)
        gx, gw, gb = torch.autograd.grad((y * go).sum(), [x, m.weight, m.bias])
        case["steps"].append(
            {
                "input": tj(x),
                "output": tj(y),
                "grad_output": tj(go),
                "grad_input": tj(gx),
                "grad_weight": tj(gw),
                "grad_bias": tj(gb),
            }
        )
    case["running_mean"] = tj(m.running_mean)
    case["running_var"] = tj(m.running_var)
    case["num_batches_tracked"] = int(m.num_batches_tracked)
    m.eval()
    x = randn(*shape, scale=2.0, shift=0.5)
    case["eval_input"] = tj(x)
    case["eval_output"] = tj(m(x))
    CASES.append(case)


def lrn_case(name, kwargs, x):
    m = torch.nn.LocalResponseNorm(**kwargs)
    x = x.clone().requires_grad_(True)
    y = m(x)
    go = randn(*y.shape)
    (gx,) = torch.autograd.grad((y * go).sum(), [x])
    CASES.append(
        {
            "name": name,
            "class": "LocalResponseNorm",
            "kwargs": kwargs,
            "input": tj(x),
            "output": tj(y),
            "grad_output": tj(go),
            "grad_input": tj(gx),
        }
    )


batch_norm_case("bn2d_default", "BatchNorm2d", {"num_features": 3}, (4, 3, 3, 2))
batch_norm_case(
    "bn2d_eps_momentum", "BatchNorm2d", {"num_features": 2, "eps": 1e-3, "momentum": 0.3}, (3, 2, 2, 3)
)
batch_norm_case("bn1d_ncl", "BatchNorm1d", {"num_features": 4}, (3, 4, 5))
batch_norm_case("bn1d_nc", "BatchNorm1d", {"num_features": 5, "momentum": 0.5}, (6, 5))

# the AlexNet setting (tiny alpha: the normalization barely moves the values), then settings with
# a large alpha so the window sums dominate; even and odd sizes, 3-d, 4-d and 5-d inputs
lrn_case("lrn5_alexnet", {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}, randn(2, 7, 3, 2, scale=3.0))
lrn_case("lrn5", {"size": 5, "alpha": 0.5, "beta": 0.75, "k": 1.0}, randn(2, 7, 3, 2))
lrn_case("lrn4_even", {"size": 4, "alpha": 0.8, "beta": 0.6, "k": 1.5}, randn(2, 6, 2, 3))
lrn_case("lrn3_ncl", {"size": 3, "alpha": 0.3, "beta": 0.75, "k": 1.0}, randn(2, 5, 4))
lrn_case("lrn2_5d", {"size": 2, "alpha": 0.4, "beta": 1.0, "k": 1.0}, randn(1, 4, 2, 2, 3))
lrn_case("lrn8_wider_than_c", {"size": 8, "alpha": 0.5, "beta": 0.75, "k": 1.0}, randn(1, 3, 2, 2))

# state_dict names and shapes (what a PyTorch checkpoint holds) for the option combinations
STATE_DICTS = []
for cls, kwargs in [
    ("BatchNorm2d", {"num_features": 64}),
    ("BatchNorm2d", {"num_features": 3, "affine": False}),
    ("BatchNorm2d", {"num_features": 3, "track_running_stats": False}),
    ("BatchNorm1d", {"num_features": 5, "affine": False, "track_running_stats": False}),
]:
    m = getattr(torch.nn, cls)(**kwargs)
    STATE_DICTS.append(
        {
            "class": cls,
            "kwargs": kwargs,
            "repr": repr(m),
            "keys": [[k, list(v.shape), str(v.dtype)] for k, v in m.state_dict().items()],
            "num_params": sum(p.numel() for p in m.parameters()),
        }
    )

with open(OUT_PATH, "w") as f:
    out = {"generator": "tools/reference/norm.py", "torch_version": torch.__version__}
    out.update({"cases": CASES, "state_dicts": STATE_DICTS})
    json.dump(out, f)
    f.write("\n")
print(f"wrote {len(CASES)} cases to {OUT_PATH}")
