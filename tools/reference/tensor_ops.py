#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-tensor op tests.

Writes crates/deepnet-tensor/tests/data/torch_ops.json (relative to the repo
root). Everything is computed in float64 with a fixed seed, so re-running the
script with the same torch version reproduces the file. Rust tests only read
the checked-in JSON; they never run Python.

Each case records:
  inputs       list of {"shape", "data"} (flat, row-major); index tensors are
               stored as floats holding integer values
  output       forward result
  grad_output  random normal upstream gradient (same shape as output)
  grads        d(sum(output * grad_output)) / d(input_i), or null for
               non-differentiable (index) inputs

Usage: /opt/torchenv/bin/python tools/reference/tensor_ops.py
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240601)
DT = torch.float64

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(
    REPO_ROOT, "crates", "deepnet-tensor", "tests", "data", "torch_ops.json"
)

CASES = []


# ---------------------------------------------------------------------------
# Serialization and the case helper
# ---------------------------------------------------------------------------

def tensor_json(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def case(name, fn, inputs, diff_mask=None):
    """Run fn(*inputs) forward, draw a random grad_output, and record grads.

    diff_mask[i] is False for non-differentiable inputs (index tensors)."""
    if diff_mask is None:
        diff_mask = [True] * len(inputs)
    assert len(diff_mask) == len(inputs)
    leaves = []
    for t, d in zip(inputs, diff_mask):
        if d:
            leaves.append(t.detach().clone().to(DT).requires_grad_(True))
        else:
            leaves.append(t.detach().clone())
    out = fn(*leaves)
    grad_output = torch.randn(out.shape, dtype=DT)
    diff_leaves = [l for l, d in zip(leaves, diff_mask) if d]
    if diff_leaves and out.requires_grad:
        grads = torch.autograd.grad(
            (out * grad_output).sum(), diff_leaves, allow_unused=True
        )
    else:
        grads = [None] * len(diff_leaves)
    grads = iter(
        torch.zeros_like(l) if g is None else g for l, g in zip(diff_leaves, grads)
    )
    grads_json = [tensor_json(next(grads)) if d else None for d in diff_mask]
    CASES.append(
        {
            "name": name,
            "inputs": [tensor_json(t) for t in inputs],
            "output": tensor_json(out),
            "grad_output": tensor_json(grad_output),
            "grads": grads_json,
        }
    )


# ---------------------------------------------------------------------------
# Input generators (all float64)
# ---------------------------------------------------------------------------

def randn(*shape):
    return torch.randn(shape, dtype=DT)


def uniform(lo, hi, *shape):
    return torch.rand(shape, dtype=DT) * (hi - lo) + lo


def away_from(shape, lo, hi, kinks, margin=0.05):
    """Uniform in [lo, hi] with every element at least `margin` from each kink."""
    t = uniform(lo, hi, *shape)
    while True:
        bad = torch.zeros(shape, dtype=torch.bool)
        for k in kinks:
            bad |= (t - k).abs() < margin
        if not bad.any():
            return t
        t = torch.where(bad, uniform(lo, hi, *shape), t)


def distinct(*shape):
    """Distinct values (pairwise gap > 0.1), all with |x| >= 0.05."""
    n = 1
    for s in shape:
        n *= s
    base = (torch.randperm(n).to(DT) - (n - 1) / 2) / 6.0
    return (base + uniform(-0.03, 0.03, n)).reshape(shape)


def no_ties(x_shape, y_shape, margin=0.05):
    """x, y ~ N(0,1) with |x - y| >= margin everywhere after broadcasting."""
    while True:
        x, y = randn(*x_shape), randn(*y_shape)
        if ((x - y).abs() >= margin).all():
            return x, y


def index(high, *shape):
    return torch.randint(0, high, shape, dtype=torch.int64)


# ---------------------------------------------------------------------------
# Unary ops on x (3,4)
# ---------------------------------------------------------------------------

pos = lambda: uniform(0.5, 3.0, 3, 4)                    # log / sqrt / reciprocal
gen = lambda: uniform(-2.0, 2.0, 3, 4)                   # smooth ops
nz = lambda: away_from((3, 4), -2.0, 2.0, [0.0])         # kink at 0

case("neg", lambda x: -x, [gen()])
case("exp", torch.exp, [gen()])
case("log", torch.log, [pos()])
case("log1p", torch.log1p, [pos()])
case("sqrt", torch.sqrt, [pos()])
case("abs", torch.abs, [nz()])
case("sign", torch.sign, [nz()])
case("square", lambda x: x * x, [gen()])
case("reciprocal", torch.reciprocal, [pos()])
case("sigmoid", torch.sigmoid, [gen()])
case("tanh", torch.tanh, [gen()])
case("relu", torch.relu, [nz()])
case("leaky_relu", lambda x: F.leaky_relu(x, negative_slope=0.01), [nz()])
case("leaky_relu_0_2", lambda x: F.leaky_relu(x, negative_slope=0.2), [nz()])
case("softplus", lambda x: F.softplus(x, beta=1, threshold=20), [uniform(-3, 3, 3, 4)])
case("softplus_beta2", lambda x: F.softplus(x, beta=2, threshold=20), [uniform(-3, 3, 3, 4)])
case("clamp", lambda x: torch.clamp(x, min=-0.5, max=0.5),
     [away_from((3, 4), -1.5, 1.5, [-0.5, 0.5])])
case("clamp_min", lambda x: torch.clamp(x, min=-0.3),
     [away_from((3, 4), -1.5, 1.5, [-0.3])])
case("clamp_max", lambda x: torch.clamp(x, max=0.3),
     [away_from((3, 4), -1.5, 1.5, [0.3])])

# ---------------------------------------------------------------------------
# Scalar forms on x (3,4)
# ---------------------------------------------------------------------------

case("add_scalar", lambda x: x + 1.5, [gen()])
case("sub_scalar", lambda x: x - 1.5, [gen()])
case("mul_scalar", lambda x: x * 2.5, [gen()])
case("div_scalar", lambda x: x / 2.5, [gen()])
case("pow_scalar", lambda x: x ** 2.5, [pos()])
case("pow_scalar_neg", lambda x: x ** -1.5, [pos()])

# ---------------------------------------------------------------------------
# Binary ops with broadcasting
# ---------------------------------------------------------------------------

case("add", torch.add, [randn(2, 3, 4), randn(3, 1)])
case("sub", torch.sub, [randn(3, 4), randn(4)])
case("mul", torch.mul, [randn(2, 1, 4), randn(3, 1)])
case("div", torch.div, [randn(3, 4), uniform(0.5, 2.0, 2, 1, 4)])
case("pow", torch.pow, [uniform(0.5, 2.0, 3, 4), uniform(-1.0, 2.0, 4)])
case("maximum", torch.maximum, list(no_ties((3, 4), (4,))))
case("minimum", torch.minimum, list(no_ties((3, 4), (3, 1))))

# ---------------------------------------------------------------------------
# Reductions on x (2,3,4), distinct values (no ties for max/min)
# ---------------------------------------------------------------------------

red = lambda: distinct(2, 3, 4)

case("sum_all", lambda x: x.sum(), [red()])
case("sum_dim1", lambda x: x.sum(dim=1), [red()])
case("sum_dims02_keepdim", lambda x: x.sum(dim=(0, 2), keepdim=True), [red()])
case("mean_all", lambda x: x.mean(), [red()])
case("mean_dim_neg1", lambda x: x.mean(dim=-1), [red()])
case("max_dim1", lambda x: x.max(dim=1).values, [red()])
case("min_dim2_keepdim", lambda x: x.min(dim=2, keepdim=True).values, [red()])
case("amax_dims01", lambda x: x.amax(dim=(0, 1)), [red()])
case("var_dim1", lambda x: x.var(dim=1), [red()])
case("var_dim1_biased", lambda x: x.var(dim=1, unbiased=False), [red()])
case("std_dim2", lambda x: x.std(dim=2), [red()])
case("var_all", lambda x: x.var(), [red()])
case("logsumexp_dim2", lambda x: x.logsumexp(dim=2), [red()])
case("norm1_dim1", lambda x: torch.linalg.vector_norm(x, ord=1, dim=1), [red()])
case("norm2_dim2", lambda x: torch.linalg.vector_norm(x, ord=2, dim=2), [red()])
case("norm2_all", lambda x: torch.linalg.vector_norm(x, ord=2), [red()])
case("softmax_dim1", lambda x: torch.softmax(x, dim=1), [red()])
case("softmax_dim_neg1", lambda x: torch.softmax(x, dim=-1), [red()])
case("log_softmax_dim1", lambda x: torch.log_softmax(x, dim=1), [red()])
case("log_softmax_dim_neg1", lambda x: torch.log_softmax(x, dim=-1), [red()])

# Numerical stability: values around +-1000.
large = lambda: torch.tensor(
    [[1000.0, 1001.0, 1002.0, 999.0], [-1000.0, -1001.0, -999.0, -1002.0]], dtype=DT
)
case("softmax_large", lambda x: torch.softmax(x, dim=-1), [large()])
case("log_softmax_large", lambda x: torch.log_softmax(x, dim=-1), [large()])

# ---------------------------------------------------------------------------
# Matmul
# ---------------------------------------------------------------------------

case("matmul_1d_1d", torch.matmul, [randn(4), randn(4)])
case("matmul_2d_1d", torch.matmul, [randn(3, 4), randn(4)])
case("matmul_1d_2d", torch.matmul, [randn(4), randn(4, 5)])
case("matmul_2d", torch.matmul, [randn(3, 4), randn(4, 5)])
case("matmul_batched", torch.matmul, [randn(2, 3, 4), randn(2, 4, 5)])
case("matmul_broadcast", torch.matmul, [randn(2, 1, 3, 4), randn(3, 4, 5)])
case("matmul_batch_2d", torch.matmul, [randn(2, 3, 4), randn(4, 5)])

# ---------------------------------------------------------------------------
# Indexing (index tensors are int64 here, stored as floats, grads null)
# ---------------------------------------------------------------------------

case("gather_dim1", lambda x, i: torch.gather(x, 1, i),
     [randn(3, 4), index(4, 3, 2)], [True, False])
case("index_select_dim0", lambda x, i: torch.index_select(x, 0, i),
     [randn(4, 3), torch.tensor([3, 0, 3, 1, 2], dtype=torch.int64)], [True, False])
case("scatter_add_dim0",
     lambda src, i: torch.zeros(3, 4, dtype=DT).scatter_add(0, i, src),
     # column 1 sends both src rows to row 1, exercising accumulation
     [randn(2, 4), torch.tensor([[0, 1, 2, 0], [2, 1, 0, 1]], dtype=torch.int64)],
     [True, False])
case("one_hot", lambda i: F.one_hot(i, num_classes=4).to(DT),
     [torch.tensor([0, 3, 1, 3, 2], dtype=torch.int64)], [False])

# ---------------------------------------------------------------------------
# Movement / composite
# ---------------------------------------------------------------------------

case("cat_dim1", lambda x, y: torch.cat([x, y], dim=1), [randn(2, 3), randn(2, 2)])
case("stack_dim0", lambda x, y: torch.stack([x, y], 0), [randn(2, 3), randn(2, 3)])
case("pad_constant", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), [randn(2, 3, 4)])
case("where", lambda x, y: torch.where(x > 0, x, y), [nz(), randn(3, 4)])
case("permute_021", lambda x: x.permute(0, 2, 1), [randn(2, 3, 4)])
case("transpose_t", lambda x: x.t(), [randn(3, 4)])
case("narrow_dim1", lambda x: x.narrow(1, 1, 3), [randn(3, 5)])
case("expand", lambda x: x.expand(3, 4), [randn(3, 1)])
case("flatten_1", lambda x: x.flatten(1), [randn(2, 3, 4)])
case("reshape", lambda x: x.reshape(4, 6), [randn(2, 3, 4)])


# ---------------------------------------------------------------------------
# Write
# ---------------------------------------------------------------------------

def main():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    header = {
        "generator": "tools/reference/tensor_ops.py",
        "torch_version": torch.__version__,
    }
    # One case per line keeps diffs readable; floats use repr (full precision).
    lines = [json.dumps(c, allow_nan=False, separators=(",", ":")) for c in CASES]
    text = (
        json.dumps(header, separators=(",", ":"))[:-1]
        + ',"cases":[\n'
        + ",\n".join(lines)
        + "\n]}\n"
    )
    json.loads(text)  # sanity check
    with open(OUT_PATH, "w") as f:
        f.write(text)
    print(f"wrote {len(CASES)} cases to {OUT_PATH} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
