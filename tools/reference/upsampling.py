#!/usr/bin/env python3
"""Generate PyTorch reference values for the ops and layers that enlarge images: transposed
convolution (F.conv_transpose2d, nn.ConvTranspose2d) and resizing (F.interpolate, nn.Upsample,
modes nearest and bilinear).

Writes two files (relative to the repo root); the Rust tests only read them, never run Python:

* crates/deepnet-tensor/tests/data/torch_upsampling.json, read by
  crates/deepnet-tensor/tests/torch_conv.rs, in the format of conv_ops.py's torch_conv.json:
  every case records its inputs, output, a random grad_output and the gradients of
  sum(output * grad_output) with respect to each input. The Rust side reads the op's
  arguments from the case name.
* crates/deepnet-nn/tests/data/torch_upsampling_layers.json, read by
  crates/deepnet-nn/tests/torch_upsampling.rs: each case is a torch class (ConvTranspose2d,
  Upsample) with its exact constructor keyword arguments and its repr, every state_dict entry
  by key, the input, the output, fixed random loss weights W and the gradients of
  (output * W).sum() with respect to the input and every parameter.

Everything is float64 with a fixed seed. Inputs, parameters and W are rounded to 3 decimals, so
they are stored as short decimals that parse back to exactly the doubles PyTorch computed with;
outputs and gradients are stored in full.

Usage: /opt/torchenv/bin/python tools/reference/upsampling.py
"""

import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.manual_seed(20240701)
DT = torch.float64

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OPS_PATH = os.path.join(REPO_ROOT, "crates", "deepnet-tensor", "tests", "data", "torch_upsampling.json")
LAYERS_PATH = os.path.join(REPO_ROOT, "crates", "deepnet-nn", "tests", "data", "torch_upsampling_layers.json")


def tj(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def q(t):
    with torch.no_grad():
        return torch.round(t, decimals=3)


def randn(*shape):
    return q(torch.randn(shape, dtype=DT))


OPS = []


def op_case(name, fn, inputs):
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    grad_output = randn(*out.shape)
    grads = torch.autograd.grad((out * grad_output).sum(), leaves)
    OPS.append(
        {
            "name": name,
            "inputs": [tj(t) for t in inputs],
            "output": tj(out),
            "grad_output": tj(grad_output),
            "grads": [tj(g) for g in grads],
        }
    )


# conv_transpose2d: (x, weight (C_in, C_out / groups, kH, kW)[, bias])
op_case("conv_transpose2d_s2_op1", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        [randn(2, 4, 3, 3), randn(4, 3, 4, 4), randn(3)])
op_case("conv_transpose2d_pad1", lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1),
        [randn(2, 3, 4, 4), randn(3, 2, 3, 3), randn(2)])
op_case("conv_transpose2d_groups2", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, groups=2),
        [randn(1, 4, 3, 3), randn(4, 3, 3, 3), randn(6)])
# output_padding 1 at stride 1, allowed by dilation 2
op_case("conv_transpose2d_dilation2",
        lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1, output_padding=1, dilation=2),
        [randn(1, 2, 4, 5), randn(2, 3, 3, 3), randn(3)])
op_case("conv_transpose2d_rect_nobias",
        lambda x, w: F.conv_transpose2d(x, w, stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2)),
        [randn(2, 3, 3, 4), randn(3, 2, 3, 2)])

# resizing through F.interpolate (4-d inputs: upsample_nearest2d / upsample_bilinear2d); a
# scale factor is passed down to the kernel, which maps coordinates with 1 / scale_factor
op_case("upsample_nearest_x2", lambda x: F.interpolate(x, scale_factor=2), [randn(2, 3, 4, 5)])
op_case("upsample_nearest_size7x5", lambda x: F.interpolate(x, size=(7, 5)), [randn(1, 2, 4, 3)])
op_case("upsample_nearest_scale1.7x2.5", lambda x: F.interpolate(x, scale_factor=(1.7, 2.5)), [randn(1, 2, 5, 4)])
op_case("upsample_bilinear_size7x5",
        lambda x: F.interpolate(x, size=(7, 5), mode="bilinear", align_corners=False), [randn(1, 2, 4, 3)])
op_case("upsample_bilinear_size7x5_ac",
        lambda x: F.interpolate(x, size=(7, 5), mode="bilinear", align_corners=True), [randn(1, 2, 4, 3)])
op_case("upsample_bilinear_x2",
        lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), [randn(2, 2, 3, 4)])
op_case("upsample_bilinear_x2_ac",
        lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True), [randn(2, 2, 3, 4)])
op_case("upsample_bilinear_scale1.7x1.3",
        lambda x: F.interpolate(x, scale_factor=(1.7, 1.3), mode="bilinear", align_corners=False),
        [randn(1, 2, 5, 4)])
op_case("upsample_bilinear_down3x2",
        lambda x: F.interpolate(x, size=(3, 2), mode="bilinear", align_corners=False), [randn(1, 2, 7, 5)])


LAYERS = []


def layer_case(name, cls, kwargs, x_shape):
    # JSON has lists; torch wants tuples for pairs
    m = getattr(torch.nn, cls)(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(q(p))
    x = randn(*x_shape).requires_grad_(True)
    out = m(x)
    w = randn(*out.shape)
    params = list(m.named_parameters())
    grads = torch.autograd.grad((out * w).sum(), [x] + [p for _, p in params])
    LAYERS.append(
        {
            "name": name,
            "class": cls,
            "kwargs": kwargs,
            "repr": repr(m),
            "params": [{"key": k, "value": tj(p), "grad": tj(g)} for (k, p), g in zip(params, grads[1:])],
            "state_dict_keys": list(m.state_dict().keys()),
            "input": tj(x),
            "output": tj(out),
            "W": tj(w),
            "grad_input": tj(grads[0]),
        }
    )


# the DCGAN generator's blocks: 7x7 -> 14x14 (kernel 4, stride 2, padding 1)
layer_case("convt_dcgan_block", "ConvTranspose2d",
           {"in_channels": 8, "out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1}, (2, 8, 3, 3))
layer_case("convt_default", "ConvTranspose2d", {"in_channels": 3, "out_channels": 2, "kernel_size": 3}, (1, 3, 4, 4))
layer_case("convt_everything", "ConvTranspose2d",
           {"in_channels": 4, "out_channels": 6, "kernel_size": [3, 2], "stride": [2, 1], "padding": 1,
            "output_padding": 1, "groups": 2, "bias": False, "dilation": 2}, (2, 4, 3, 4))
layer_case("upsample_nearest_x2", "Upsample", {"scale_factor": 2, "mode": "nearest"}, (2, 2, 3, 4))
layer_case("upsample_nearest_size", "Upsample", {"size": [7, 5]}, (1, 2, 4, 3))
layer_case("upsample_bilinear_scale", "Upsample", {"scale_factor": [1.7, 2.5], "mode": "bilinear"}, (1, 2, 3, 4))
layer_case("upsample_bilinear_size_ac", "Upsample",
           {"size": [7, 5], "mode": "bilinear", "align_corners": True}, (1, 2, 4, 3))
layer_case("upsample_bilinear_x2", "Upsample",
           {"scale_factor": 2.0, "mode": "bilinear", "align_corners": False}, (2, 1, 3, 3))


def write(path, header, key, cases):
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    lines = [json.dumps(c, allow_nan=False, separators=(",", ":")) for c in cases]
    text = json.dumps(header, separators=(",", ":"))[:-1] + f',"{key}":[\n' + ",\n".join(lines) + "\n]}\n"
    json.loads(text)
    assert len(text) < 150_000, f"reference file too large: {len(text)} bytes"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {len(cases)} cases to {path} ({len(text)} bytes)")


def main():
    header = {"generator": "tools/reference/upsampling.py", "torch_version": torch.__version__}
    write(OPS_PATH, header, "cases", OPS)
    write(LAYERS_PATH, header, "cases", LAYERS)


if __name__ == "__main__":
    main()
