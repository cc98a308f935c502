#!/usr/bin/env python3
"""Reference outputs of the two pretrained Keras networks in ../shared/data/pretrained/, computed
by an implementation independent of deepnet: a small interpreter of the Keras architecture JSON
(`keras_model_config.json`, Sequential or functional) written with torch ops in float64, reading
the weights straight from `model.safetensors` (its own minimal reader: 8-byte header length, JSON
header, little-endian data) in their Keras layouts.

Writes crates/deepnet/tests/data/keras_pretrained.json (relative to the repo root), read by
crates/deepnet/tests/keras_pretrained.rs. Tests never run Python.

What it computes:
  * cifar10-keras-cnn on the 20 images of data/cifar10-sample/test_batch.bin (raw 0..255, NHWC):
    only checked against the reference_outputs.json shipped with the weights (printed max
    difference; nothing stored, the Rust test reads that file itself).
  * fer-mini-xception (no reference outputs ship with it) on fixed inputs both sides can build
    bit for bit without storing them:
      - "random k" (k = 0, 1, 2): x[i] = 2 * (((i * 2654435761 + k * 40503 + 12345) mod 2^32)
        / 2^32) - 1 for i over the 64*64 pixels in row-major order, rounded to float32;
      - "cifar j" (j = 0, 1, 2): record j of test_batch.bin in gray, g = (299 R + 587 G + 114 B)
        / 1000 (ITU-R 601 luma), scaled to [-1, 1] as g / 127.5 - 1, rounded to float32, and
        enlarged 32 -> 64 by repeating each pixel 2x2 (nearest neighbour).
    For each: the logits (the input of the final softmax) and the softmax probabilities.

Keras semantics implemented: Conv2D / SeparableConv2D (depthwise then pointwise) /
MaxPooling2D with "valid" or TensorFlow's "same" padding (total padding
max((ceil(n/s) - 1) s + k - n, 0), the extra one at the bottom/right; -inf for pooling),
BatchNormalization in inference ((x - moving_mean) / sqrt(moving_variance + epsilon) * gamma +
beta, epsilon from each layer's config), Dense, Flatten (channels-last order), Dropout (identity),
Activation / fused activations (relu, softmax, linear), Add, GlobalAveragePooling2D. Tensors stay
NHWC between layers as in Keras, so the channels-last flatten needs no conversion here.

Usage: /opt/torchenv/bin/python tools/reference/keras_pretrained.py
"""

import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.abspath(os.path.join(REPO_ROOT, "..", "shared", "data"))
OUT_PATH = os.path.join(REPO_ROOT, "crates", "deepnet", "tests", "data", "keras_pretrained.json")


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        assert meta["dtype"] == "F32", (key, meta["dtype"])
        a, b = meta["data_offsets"]
        arr = np.frombuffer(body[a:b], dtype="<f4").reshape(meta["shape"])
        out[key] = torch.from_numpy(arr.astype(np.float64))
    return out


def same_pads(n, k, s):
    """TensorFlow's "same" padding of one axis: (before, after)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pad_nhwc(x, k, s, padding, value):
    if padding == "valid":
        return x
    assert padding == "same", padding
    (t, b), (l, r) = same_pads(x.shape[1], k[0], s[0]), same_pads(x.shape[2], k[1], s[1])
    # F.pad pads the last dims first: NHWC -> (C: 0, 0), (W: l, r), (H: t, b)
    return F.pad(x, (0, 0, l, r, t, b), value=value)


def conv_nhwc(x, kernel_hwio, strides, padding, groups=1):
    k = kernel_hwio.shape[:2]
    x = pad_nhwc(x, k, strides, padding, 0.0)
    y = F.conv2d(x.permute(0, 3, 1, 2), kernel_hwio.permute(3, 2, 0, 1), stride=tuple(strides),
                 groups=groups)
    return y.permute(0, 2, 3, 1)


def activation(x, name):
    if name == "linear":
        return x
    if name == "relu":
        return torch.relu(x)
    if name == "softmax":
        return torch.softmax(x, dim=-1)
    raise ValueError(f"activation {name} not implemented")


def apply(layer, inputs, w):
    cls, cfg, name = layer["class_name"], layer["config"], layer["config"]["name"]
    x = inputs[0]
    if cls == "InputLayer":
        return x
    if cls == "Conv2D":
        assert cfg["dilation_rate"] in ([1, 1], (1, 1)) and cfg["data_format"] == "channels_last"
        y = conv_nhwc(x, w[f"{name}/kernel"], cfg["strides"], cfg["padding"])
        if cfg["use_bias"]:
            y = y + w[f"{name}/bias"]
        return activation(y, cfg["activation"])
    if cls == "SeparableConv2D":
        dw = w[f"{name}/depthwise_kernel"]  # (kh, kw, in, mult)
        kh, kw, cin, mult = dw.shape
        # as a grouped HWIO kernel: output channel c * mult + m reads input channel c
        grouped = dw.reshape(kh, kw, 1, cin * mult)
        y = conv_nhwc(x, grouped, cfg["strides"], cfg["padding"], groups=cin)
        y = conv_nhwc(y, w[f"{name}/pointwise_kernel"], [1, 1], "valid")
        if cfg["use_bias"]:
            y = y + w[f"{name}/bias"]
        return activation(y, cfg["activation"])
    if cls == "BatchNormalization":
        eps = cfg["epsilon"]
        y = (x - w[f"{name}/moving_mean"]) / torch.sqrt(w[f"{name}/moving_variance"] + eps)
        if cfg.get("scale", True):
            y = y * w[f"{name}/gamma"]
        if cfg.get("center", True):
            y = y + w[f"{name}/beta"]
        return y
    if cls == "Activation":
        return activation(x, cfg["activation"])
    if cls == "MaxPooling2D":
        k, s = cfg["pool_size"], cfg["strides"]
        y = pad_nhwc(x, k, s, cfg["padding"], -math.inf)
        y = F.max_pool2d(y.permute(0, 3, 1, 2), tuple(k), tuple(s))
        return y.permute(0, 2, 3, 1)
    if cls == "GlobalAveragePooling2D":
        return x.mean(dim=(1, 2))
    if cls == "Flatten":
        return x.reshape(x.shape[0], -1)
    if cls == "Dropout":
        return x
    if cls == "Dense":
        y = x @ w[f"{name}/kernel"]
        if cfg["use_bias"]:
            y = y + w[f"{name}/bias"]
        return activation(y, cfg["activation"])
    if cls == "Add":
        return sum(inputs[1:], inputs[0])
    raise ValueError(f"layer class {cls} not implemented")


def run(config, w, x, stop_before_softmax=False):
    """Runs the Keras model `config` on NHWC `x`; with `stop_before_softmax` the output layer's
    softmax is left out (the logits)."""
    spec = config["config"]
    layers = spec["layers"]
    last = None
    if config["class_name"] == "Sequential":
        h = x
        for i, layer in enumerate(layers):
            h = apply(layer, [h], w)
        return h
    values = {}
    for layer in layers:
        name = layer["name"]
        if not layer["inbound_nodes"]:
            values[name] = x
            continue
        ins = [values[n[0]] for n in layer["inbound_nodes"][0]]
        is_out = name == spec["output_layers"][0][0]
        if is_out and stop_before_softmax:
            assert layer["class_name"] == "Activation" and layer["config"]["activation"] == "softmax"
            values[name] = ins[0]
        else:
            values[name] = apply(layer, ins, w)
        last = name
    assert last == spec["output_layers"][0][0]
    return values[last]


def cifar_records():
    with open(os.path.join(DATA, "cifar10-sample", "test_batch.bin"), "rb") as f:
        raw = f.read()
    assert len(raw) % 3073 == 0
    recs = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return recs[:, 0].astype(int), recs[:, 1:].reshape(-1, 3, 32, 32)


def random_input(k):
    i = np.arange(64 * 64, dtype=np.uint64)
    u = ((i * np.uint64(2654435761) + np.uint64(k * 40503 + 12345)) % np.uint64(2**32)).astype(
        np.float64
    ) / 2.0**32
    x = (2.0 * u - 1.0).astype(np.float32).astype(np.float64)
    return x.reshape(64, 64)


def cifar_gray_input(chw):
    r, g, b = (chw[c].astype(np.int64) for c in range(3))
    gray = (299 * r + 587 * g + 114 * b).astype(np.float64) / 1000.0
    x = (gray / 127.5 - 1.0).astype(np.float32).astype(np.float64)
    return np.repeat(np.repeat(x, 2, axis=0), 2, axis=1)


def shortest(v):
    return float(repr(float(v)))


def main():
    pre = os.path.join(DATA, "pretrained")
    # the CIFAR CNN against the outputs shipped with it (a check of this interpreter)
    cdir = os.path.join(pre, "cifar10-keras-cnn")
    ccfg = json.load(open(os.path.join(cdir, "keras_model_config.json")))
    cw = read_safetensors(os.path.join(cdir, "model.safetensors"))
    labels, images = cifar_records()
    x = torch.from_numpy(images.transpose(0, 2, 3, 1).astype(np.float64))
    y = run(ccfg, cw, x)
    ref = json.load(open(os.path.join(cdir, "reference_outputs.json")))
    diff = (y - torch.tensor(ref["outputs"])).abs().max().item()
    correct = int((y.argmax(-1).numpy() == labels).sum())
    print(f"cifar10-keras-cnn: max |interpreter - reference_outputs.json| = {diff:.2e}, "
          f"{correct}/{len(labels)} correct")
    assert diff < 1e-4

    # mini-Xception on fixed inputs
    mdir = os.path.join(pre, "fer-mini-xception")
    mcfg = json.load(open(os.path.join(mdir, "keras_model_config.json")))
    mw = read_safetensors(os.path.join(mdir, "model.safetensors"))
    names, inputs = [], []
    for k in range(3):
        names.append(f"random {k}")
        inputs.append(random_input(k))
    for j in range(3):
        names.append(f"cifar {j}")
        inputs.append(cifar_gray_input(images[j]))
    x = torch.from_numpy(np.stack(inputs)[..., None])  # NHWC, C = 1
    logits = run(mcfg, mw, x, stop_before_softmax=True)
    probs = run(mcfg, mw, x)
    assert torch.allclose(torch.softmax(logits, -1), probs)
    cases = [
        {"name": n, "logits": [shortest(v) for v in l], "probabilities": [shortest(v) for v in p]}
        for n, l, p in zip(names, logits.tolist(), probs.tolist())
    ]
    for c in cases:
        print(c["name"], "argmax", int(np.argmax(c["logits"])))
    doc = {
        "generator": "tools/reference/keras_pretrained.py",
        "torch_version": torch.__version__,
        "model": "shared/data/pretrained/fer-mini-xception/model.safetensors",
        "inputs": "see the generator's docstring: random k (hash formula), cifar j (601 luma, 2x2 nearest)",
        "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "mini_xception": cases,
    }
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", OUT_PATH)


if __name__ == "__main__":
    main()
