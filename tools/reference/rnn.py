#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-nn's recurrent layers.

Writes crates/deepnet-nn/tests/data/torch_rnn.json (relative to the repo root), read by
crates/deepnet-nn/tests/torch_rnn.rs. Everything is float64 (torch.set_default_dtype) with a
fixed seed; the Rust test only reads the checked-in JSON, never runs Python.

Each case is a torch class (RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell) with its exact
constructor keyword arguments, and records:
  * every state_dict entry, in state_dict order, by key: its value and the gradient of the
    loss with respect to it;
  * the input, h0 (and c0 for LSTM), or null where the layer is called without a state;
  * for a variable-length case, the lengths: the padded input goes through
    pack_padded_sequence(enforce_sorted=False), the layer, then pad_packed_sequence
    (padding value 0, so the output is zero past each sequence's end); the padded input
    positions hold random values that must not matter;
  * the outputs: output, h_n (and c_n) for the sequence layers, h (and c) for the cells;
  * fixed random weights W (like output / h), V (like h_n) and U (like c_n / c) defining
    the scalar loss  (output * W).sum() + (h_n * V).sum() [+ (c_n * U).sum()]
    (cells: (h * W).sum() [+ (c * U).sum()]);
  * the gradients of that loss with respect to the input, h0, c0 and every parameter.

Sizes are small: L=5, N=3, H_in=4, H=6, proj_size=3. Every input (parameters, x, h0, c0, W, V,
U) is rounded to 3 decimals before use, so it is stored as a short decimal that parses to the
very double PyTorch computed with; outputs and gradients are stored in full (shortest
round-trip repr). That keeps the file under 300 kB.

Usage: /opt/torchenv/bin/python tools/reference/rnn.py
"""

import json
import os

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)
torch.manual_seed(20240612)
DT = torch.float64

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(REPO_ROOT, "crates", "deepnet-nn", "tests", "data", "torch_rnn.json")

L, N, H_IN, H, PROJ = 5, 3, 4, 6, 3

CASES = []


def tj(t):
    t = t.detach().to(DT).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def q(t):
    """`t` rounded to 3 decimals: the inputs (parameters, x, states, loss weights) are stored
    as short decimals that parse back to exactly the doubles PyTorch computed with."""
    with torch.no_grad():
        return torch.round(t, decimals=3)


def randn(*shape):
    return q(torch.randn(*shape))


def make(cls, kwargs):
    """The torch module with PyTorch's default initialization, its parameters rounded by q."""
    m = getattr(torch.nn, cls)(**kwargs)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(q(p))
    return m


def opt_tj(t):
    return None if t is None else tj(t)


def params_json(m, grads):
    # a parameter the loss does not reach gets a zero gradient (autograd gives None)
    out = []
    for (k, v), g in zip(m.state_dict().items(), grads):
        out.append({"key": k, "value": tj(v), "grad": tj(g if g is not None else torch.zeros_like(v))})
    return out


def sequence_case(name, cls, kwargs, with_state=True, lengths=None):
    m = make(cls, kwargs)
    assert list(m.state_dict().keys()) == [k for k, _ in m.named_parameters()]
    batch_first = kwargs.get("batch_first", False)
    dirs = 2 if kwargs.get("bidirectional", False) else 1
    layers = kwargs.get("num_layers", 1)
    h_size = kwargs["hidden_size"]
    h_out = kwargs.get("proj_size", 0) or h_size
    x = randn((N, L, H_IN) if batch_first else (L, N, H_IN)).requires_grad_(True)
    h0 = c0 = None
    if with_state:
        h0 = randn(layers * dirs, N, h_out).requires_grad_(True)
        if cls == "LSTM":
            c0 = randn(layers * dirs, N, h_size).requires_grad_(True)
    state = None
    if h0 is not None:
        state = (h0, c0) if cls == "LSTM" else h0
    if lengths is None:
        out, st = m(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out, st = m(packed, state)
        out, out_lengths = pad_packed_sequence(out, batch_first=batch_first, padding_value=0.0)
        assert out_lengths.tolist() == list(lengths)
    h_n, c_n = st if cls == "LSTM" else (st, None)
    w = randn(out.shape)
    v = randn(h_n.shape)
    loss = (out * w).sum() + (h_n * v).sum()
    u = None
    if c_n is not None:
        u = randn(c_n.shape)
        loss = loss + (c_n * u).sum()
    params = list(m.parameters())
    wrt = [x] + [t for t in (h0, c0) if t is not None] + params
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    gx, rest = grads[0], list(grads[1:])
    gh0 = rest.pop(0) if h0 is not None else None
    gc0 = rest.pop(0) if c0 is not None else None
    CASES.append(
        {
            "name": name,
            "class": cls,
            "kwargs": kwargs,
            "lengths": lengths,
            "params": params_json(m, rest),
            "input": tj(x),
            "h0": opt_tj(h0),
            "c0": opt_tj(c0),
            "output": tj(out),
            "h_n": tj(h_n),
            "c_n": opt_tj(c_n),
            "W": tj(w),
            "V": tj(v),
            "U": opt_tj(u),
            "loss": float(loss.detach()),
            "grad_input": tj(gx),
            "grad_h0": opt_tj(gh0),
            "grad_c0": opt_tj(gc0),
        }
    )


def cell_case(name, cls, kwargs, with_state=True):
    m = make(cls, kwargs)
    h_size = kwargs["hidden_size"]
    x = randn(N, H_IN).requires_grad_(True)
    h0 = c0 = None
    if with_state:
        h0 = randn(N, h_size).requires_grad_(True)
        if cls == "LSTMCell":
            c0 = randn(N, h_size).requires_grad_(True)
    state = None
    if h0 is not None:
        state = (h0, c0) if cls == "LSTMCell" else h0
    res = m(x, state)
    h, c = res if cls == "LSTMCell" else (res, None)
    w = randn(h.shape)
    loss = (h * w).sum()
    u = None
    if c is not None:
        u = randn(c.shape)
        loss = loss + (c * u).sum()
    params = list(m.parameters())
    wrt = [x] + [t for t in (h0, c0) if t is not None] + params
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    gx, rest = grads[0], list(grads[1:])
    gh0 = rest.pop(0) if h0 is not None else None
    gc0 = rest.pop(0) if c0 is not None else None
    CASES.append(
        {
            "name": name,
            "class": cls,
            "kwargs": kwargs,
            "lengths": None,
            "params": params_json(m, rest),
            "input": tj(x),
            "h0": opt_tj(h0),
            "c0": opt_tj(c0),
            "output": tj(h),
            "h_n": None,
            "c_n": opt_tj(c),
            "W": tj(w),
            "V": None,
            "U": opt_tj(u),
            "loss": float(loss.detach()),
            "grad_input": tj(gx),
            "grad_h0": opt_tj(gh0),
            "grad_c0": opt_tj(gc0),
        }
    )


base = {"input_size": H_IN, "hidden_size": H}

# Elman RNN
sequence_case("rnn_tanh", "RNN", dict(base))
sequence_case("rnn_relu", "RNN", dict(base, nonlinearity="relu"))
sequence_case("rnn_relu_no_h0", "RNN", dict(base, nonlinearity="relu"), with_state=False)
sequence_case("rnn_tanh_2layer_nobias", "RNN", dict(base, num_layers=2, bias=False))
# LSTM
sequence_case("lstm", "LSTM", dict(base))
sequence_case(
    "lstm_2layer_bidir_batch_first",
    "LSTM",
    dict(base, num_layers=2, bidirectional=True, batch_first=True, dropout=0.0),
)
sequence_case("lstm_proj", "LSTM", dict(base, proj_size=PROJ))
# GRU
sequence_case("gru", "GRU", dict(base))
sequence_case("gru_2layer_bidir", "GRU", dict(base, num_layers=2, bidirectional=True))
# variable lengths (unsorted, so enforce_sorted=False reorders), longest == L
sequence_case(
    "rnn_packed_2layer_bidir", "RNN", dict(base, num_layers=2, bidirectional=True), lengths=[2, 5, 3]
)
sequence_case(
    "lstm_packed_2layer_bidir_proj",
    "LSTM",
    dict(base, num_layers=2, bidirectional=True, proj_size=PROJ),
    lengths=[3, 1, 5],
)
sequence_case(
    "gru_packed_bidir_batch_first",
    "GRU",
    dict(base, bidirectional=True, batch_first=True),
    lengths=[4, 5, 2],
)
# cells
cell_case("rnn_cell_tanh", "RNNCell", dict(base))
cell_case("rnn_cell_relu", "RNNCell", dict(base, nonlinearity="relu"))
cell_case("lstm_cell", "LSTMCell", dict(base))
cell_case("lstm_cell_no_state", "LSTMCell", dict(base), with_state=False)
cell_case("gru_cell", "GRUCell", dict(base))
cell_case("gru_cell_nobias", "GRUCell", dict(base, bias=False))

with open(OUT_PATH, "w") as f:
    out = {
        "generator": "tools/reference/rnn.py",
        "torch_version": torch.__version__,
        "sizes": {"L": L, "N": N, "input_size": H_IN, "hidden_size": H, "proj_size": PROJ},
        "cases": CASES,
    }
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(CASES)} cases to {OUT_PATH} ({os.path.getsize(OUT_PATH)} bytes)")
