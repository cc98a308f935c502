#!/usr/bin/env python3
"""Generate PyTorch reference trajectories for deepnet-nn's optimizers and schedulers.

Writes crates/deepnet-nn/tests/data/torch_optim.json (relative to the repo root).

The problem, in float64: parameters W (3, 4) and b (3,), a fixed batch X (5, 4) and targets
Y (5, 3), loss = mean((X @ W.T + b - Y) ** 2). For each optimizer configuration the script
runs 20 steps from the same initial values (zero_grad, loss, backward, step) and records the
loss before each step and W, b after step 20. For each scheduler it records the learning rate
at construction and after each of 12 scheduler steps (13 values).

Configurations are recorded as the torch class name plus the exact keyword arguments, so the
Rust test (crates/deepnet-nn/tests/optim_reference.rs) builds the same optimizer and fails on
a class or keyword it does not know. The single-tensor (for-loop) implementations are forced
with foreach=False. Re-running the script with the same torch version gives a byte-identical
file.

Usage: /opt/torchenv/bin/python tools/reference/optim.py
"""

import json
import os

import torch

DT = torch.float64
STEPS = 20
EPOCHS = 12

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(
    REPO_ROOT, "crates", "deepnet-nn", "tests", "data", "torch_optim.json"
)


def tensor_json(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


g = torch.Generator().manual_seed(20240611)
W0 = torch.randn(3, 4, generator=g, dtype=DT) * 0.5
B0 = torch.randn(3, generator=g, dtype=DT) * 0.1
X = torch.randn(5, 4, generator=g, dtype=DT)
Y = torch.randn(5, 3, generator=g, dtype=DT)


def loss_fn(w, b):
    return ((X @ w.T + b - Y) ** 2).mean()


# (name, torch class name, kwargs). lrs keep every run far from convergence over 20 steps, so
# gradients stay O(0.1) and the comparison is well conditioned.
OPTIMIZERS = [
    ("sgd", "SGD", {"lr": 0.05}),
    ("sgd_momentum", "SGD", {"lr": 0.02, "momentum": 0.9}),
    ("sgd_nesterov", "SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True}),
    (
        "sgd_momentum_dampening_wd",
        "SGD",
        {"lr": 0.02, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
    ),
    ("adam", "Adam", {"lr": 0.01}),
    ("adam_amsgrad_wd", "Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("adamw_wd", "AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("rmsprop", "RMSprop", {"lr": 0.005}),
    ("rmsprop_centered_momentum", "RMSprop", {"lr": 0.002, "centered": True, "momentum": 0.9}),
    ("adagrad_decay_wd", "Adagrad", {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.01}),
]

# (name, torch class name, kwargs, base lr)
SCHEDULERS = [
    ("step_lr", "StepLR", {"step_size": 3, "gamma": 0.5}, 0.1),
    ("multi_step_lr", "MultiStepLR", {"milestones": [2, 5, 9], "gamma": 0.3}, 0.1),
    ("exponential_lr", "ExponentialLR", {"gamma": 0.8}, 0.1),
    ("cosine_annealing_lr", "CosineAnnealingLR", {"T_max": 8, "eta_min": 0.001}, 0.1),
    ("linear_warmup", "LinearLR", {"start_factor": 0.1, "total_iters": 5}, 0.1),
]


def run_optimizer(cls_name, kwargs):
    w = W0.clone().requires_grad_(True)
    b = B0.clone().requires_grad_(True)
    opt = getattr(torch.optim, cls_name)([w, b], foreach=False, **kwargs)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(w, b)
        loss.backward()
        losses.append(float(loss.item()))
        opt.step()
    return losses, w, b


def run_scheduler(cls_name, kwargs, base_lr):
    p = torch.zeros(1, dtype=DT, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = getattr(torch.optim.lr_scheduler, cls_name)(opt, **kwargs)
    lrs = [float(opt.param_groups[0]["lr"])]
    for _ in range(EPOCHS):
        opt.step()
        sched.step()
        lrs.append(float(opt.param_groups[0]["lr"]))
    return lrs


def main():
    optimizers = []
    for name, cls_name, kwargs in OPTIMIZERS:
        losses, w, b = run_optimizer(cls_name, kwargs)
        optimizers.append(
            {
                "name": name,
                "class": cls_name,
                "kwargs": kwargs,
                "losses": losses,
                "final": {"W": tensor_json(w), "b": tensor_json(b)},
            }
        )
    schedulers = []
    for name, cls_name, kwargs, base_lr in SCHEDULERS:
        schedulers.append(
            {
                "name": name,
                "class": cls_name,
                "kwargs": kwargs,
                "base_lr": base_lr,
                "lrs": run_scheduler(cls_name, kwargs, base_lr),
            }
        )
    out = {
        "generator": "tools/reference/optim.py",
        "torch_version": torch.__version__,
        "steps": STEPS,
        "epochs": EPOCHS,
        "problem": {
            "loss": "mean((X @ W.T + b - Y)^2)",
            "W": tensor_json(W0),
            "b": tensor_json(B0),
            "X": tensor_json(X),
            "Y": tensor_json(Y),
        },
        "optimizers": optimizers,
        "schedulers": schedulers,
    }
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT_PATH}: {len(optimizers)} optimizers, {len(schedulers)} schedulers")


if __name__ == "__main__":
    main()
