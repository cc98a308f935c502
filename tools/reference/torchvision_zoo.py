"""torchvision's outputs for the zoo's equivalence test (crates/deepnet-models/tests/torchvision_outputs.rs).

Checked-in weights of a whole ImageNet net would be tens of megabytes, so both sides fill the
weights with the same formula instead: the k-th entry of the state_dict (in torchvision's order),
flattened, gets

    weight-like tensors (rank >= 2):  sin(0.1 i + k) / sqrt(fan_in),  fan_in = numel / shape[0]
    biases (rank 1, not batch norm):  0.1 sin(0.1 i + k)
    batch-norm weight / bias:         1 + 0.1 sin(0.1 i + k) / 0.1 sin(0.1 i + k)
    running_mean / running_var:       0.1 sin(0.1 i + k) / 1 + 0.25 (1 + sin(0.1 i + k))
    num_batches_tracked:              untouched

computed in float64 and rounded to float32; the input is x[i] = sin(0.01 i) over the flattened
(N, C, H, W) example. The file records, per model, torchvision's state_dict keys with their
shapes (the Rust test loads its formula-filled tensors by those keys, strictly, so a key or shape
that differs fails) and the evaluation-mode output.

Run (torchvision installed next to torch, outside the repository):

    /opt/torchenv/bin/python tools/reference/torchvision_zoo.py
"""

import json
import math
import os

import numpy as np
import torch
import torchvision

# (our name, torchvision constructor kwargs, input (N, C, H, W))
MODELS = [
    ("resnet18", dict(num_classes=10), (2, 3, 64, 64)),
    ("alexnet", dict(num_classes=10), (1, 3, 224, 224)),
    ("resnet50", dict(num_classes=10), (1, 3, 64, 64)),
    ("vgg11_bn", dict(num_classes=10), (1, 3, 224, 224)),
    ("googlenet", dict(num_classes=10, aux_logits=False, init_weights=False), (1, 3, 96, 96)),
]


def fill(k, key, t, bn_prefixes):
    """Entry k of the state_dict, filled by the formula of the module docstring."""
    s = np.sin(0.1 * np.arange(t.numel(), dtype=np.float64) + k)
    prefix, leaf = key.rsplit(".", 1)
    if leaf == "running_mean":
        v = 0.1 * s
    elif leaf == "running_var":
        v = 1.0 + 0.25 * (1.0 + s)
    elif t.dim() >= 2:
        v = s / math.sqrt(t.numel() / t.shape[0])
    elif leaf == "weight" and prefix in bn_prefixes:
        v = 1.0 + 0.1 * s
    else:
        v = 0.1 * s
    return torch.from_numpy(v.astype(np.float32)).reshape(t.shape)


def main():
    out = {}
    for name, kwargs, shape in MODELS:
        m = getattr(torchvision.models, name)(**kwargs).eval()
        sd = m.state_dict()
        # the batch norms are the modules with running statistics
        bn_prefixes = {k.rsplit(".", 1)[0] for k, t in sd.items() if k.endswith("running_mean")}
        new = {
            key: t if key.endswith("num_batches_tracked") else fill(k, key, t, bn_prefixes)
            for k, (key, t) in enumerate(sd.items())
        }
        m.load_state_dict(new)
        n = int(np.prod(shape))
        x = torch.from_numpy(np.sin(0.01 * np.arange(n, dtype=np.float64)).astype(np.float32))
        with torch.no_grad():
            y = m(x.reshape(shape))
        out[name] = {
            "input": list(shape),
            "num_classes": kwargs["num_classes"],
            "keys": [[key, list(t.shape)] for key, t in sd.items()],
            "output": [round(float(v), 7) for v in y.flatten()],
        }
        print(f"{name}: {len(sd)} keys, output {tuple(y.shape)}, |y| max {y.abs().max():.4g}")
    path = os.path.join(os.path.dirname(__file__), "../../crates/deepnet-models/tests/data/torchvision_outputs.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "models": out}, f)
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
