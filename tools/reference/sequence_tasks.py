#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-models' sequence-task classifiers.

Writes crates/deepnet-models/tests/data/torch_sequence_tasks.json (relative to the repo root),
read by crates/deepnet-models/tests/torch_sequence_tasks.rs. Everything is float64 with a fixed
seed; the Rust test only reads the checked-in JSON, never runs Python.

Each case is the PyTorch module a user would write for the deepnet model, with the same
attribute names (so the state_dict keys are deepnet's):

  * "series": SeriesRnnClassifier = nn.LSTM / nn.GRU (batch_first) over a packed batch
    (pack_padded_sequence, enforce_sorted=False), then the last layer's h_n (forward, then
    reverse) or the mean of the padded output over each series' own steps, then nn.Linear;
  * "fcn": Fcn = three blocks of nn.Conv2d with a 1 x k kernel (a Conv1d) after Keras's "same"
    padding ((k-1)//2 before, k//2 after), nn.BatchNorm2d in evaluation mode with random
    running statistics, ReLU; the mean over the steps; nn.Linear. PyTorch runs each series
    alone (no padding), deepnet runs the NaN-padded batch;
  * "review": ReviewClassifier = nn.Embedding(padding_idx=0), a bidirectional nn.GRU over the
    packed batch, cat(h_n[-2], h_n[-1]), nn.Linear (its dropout is off in evaluation).

Each records the inputs (the padded batch as deepnet sees it: series with NaN after each
series' length, as null in the JSON; token ids with 0 after each text), the lengths, every
state_dict entry with the gradient of loss = (logits * W).sum(), the logits, and W.

Inputs and parameters are rounded to 3 decimals (so they parse back to the doubles PyTorch
used); outputs and gradients are stored in full.

Usage: /opt/torchenv/bin/python tools/reference/sequence_tasks.py
"""

import json
import math
import os

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)
torch.manual_seed(20250101)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(
    REPO_ROOT, "crates", "deepnet-models", "tests", "data", "torch_sequence_tasks.json"
)

CASES = []


def q(t):
    with torch.no_grad():
        return torch.round(t, decimals=3)


def tj(t):
    t = t.detach().contiguous()
    data = [None if math.isnan(v) else float(v) for v in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "data": data}


def rounded(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(q(p))
    return m


def record(name, kind, config, m, x, lengths, logits):
    w = q(torch.randn(logits.shape))
    loss = (logits * w).sum()
    params = [p for _, p in m.named_parameters()]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    by_name = dict(zip([k for k, _ in m.named_parameters()], grads))
    state = []
    for k, v in m.state_dict().items():
        g = by_name.get(k)
        entry = {"key": k, "value": tj(v.to(torch.float64))}
        if k in by_name:
            entry["grad"] = tj(g if g is not None else torch.zeros_like(v))
        state.append(entry)
    CASES.append(
        {
            "name": name,
            "kind": kind,
            "config": config,
            "input": tj(x),
            "lengths": lengths,
            "state": state,
            "logits": tj(logits),
            "W": tj(w),
        }
    )


class Series(torch.nn.Module):
    def __init__(self, cls, f, h, layers, bidirectional, pooling, classes):
        super().__init__()
        self.rnn = getattr(torch.nn, cls)(
            f, h, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )
        self.fc = torch.nn.Linear(h * (2 if bidirectional else 1), classes)
        self.pooling, self.d, self.layers = pooling, 2 if bidirectional else 1, layers

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, st = self.rnn(packed)
        h_n = st[0] if isinstance(st, tuple) else st
        if self.pooling == "last":
            last = h_n[(self.layers - 1) * self.d :]  # (D, N, H)
            feats = last.transpose(0, 1).reshape(x.shape[0], -1)
        else:
            out, _ = pad_packed_sequence(out, batch_first=True, padding_value=0.0)
            feats = out.sum(1) / torch.tensor(lengths, dtype=out.dtype).unsqueeze(1)
        return self.fc(feats)


def series_case(name, cls, layers, bidirectional, pooling):
    n_feat, hidden, classes, lengths, l = 2, 4, 3, [3, 5, 2], 6
    m = rounded(Series(cls, n_feat, hidden, layers, bidirectional, pooling, classes))
    x = q(torch.randn(len(lengths), l, n_feat))
    logits = m(x, lengths)
    padded = x.clone()
    for b, k in enumerate(lengths):
        padded[b, k:] = float("nan")
    config = {
        "kind": cls.lower(), "input_size": n_feat, "hidden_size": hidden, "num_layers": layers,
        "bidirectional": bidirectional, "pooling": pooling, "classes": classes,
    }
    record(name, "series", config, m, padded, lengths, logits)


class Fcn(torch.nn.Module):
    def __init__(self, f, channels, kernels, classes):
        super().__init__()
        cin = f
        for i, (c, k) in enumerate(zip(channels, kernels)):
            setattr(self, f"conv{i + 1}", torch.nn.Conv2d(cin, c, (1, k)))
            setattr(self, f"bn{i + 1}", torch.nn.BatchNorm2d(c))
            cin = c
        self.fc = torch.nn.Linear(cin, classes)
        self.kernels = kernels

    def forward(self, x):  # one series (1, L, F)
        h = x.transpose(1, 2).unsqueeze(2)
        for i, k in enumerate(self.kernels):
            h = F.pad(h, ((k - 1) // 2, k // 2))
            h = getattr(self, f"bn{i + 1}")(getattr(self, f"conv{i + 1}")(h)).relu()
        return self.fc(h.mean((2, 3)))


def fcn_case():
    n_feat, channels, kernels, classes, lengths, l = 2, [3, 4, 3], [8, 5, 3], 3, [7, 4, 9], 10
    m = rounded(Fcn(n_feat, channels, kernels, classes))
    with torch.no_grad():
        for i in range(3):
            bn = getattr(m, f"bn{i + 1}")
            bn.running_mean.copy_(q(torch.randn(channels[i]) * 0.3))
            bn.running_var.copy_(q(torch.rand(channels[i]) + 0.5))
            bn.num_batches_tracked.fill_(7)
    m.eval()
    x = q(torch.randn(len(lengths), l, n_feat))
    logits = torch.cat([m(x[b : b + 1, :k]) for b, k in enumerate(lengths)])
    padded = x.clone()
    for b, k in enumerate(lengths):
        padded[b, k:] = float("nan")
    config = {"input_size": n_feat, "channels": channels, "kernels": kernels, "classes": classes}
    record("fcn_eval", "fcn", config, m, padded, lengths, logits)


class Review(torch.nn.Module):
    def __init__(self, vocab, embed, hidden, layers, classes):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed, padding_idx=0)
        self.rnn = torch.nn.GRU(embed, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.fc = torch.nn.Linear(2 * hidden, classes)

    def forward(self, ids, lengths):
        e = self.embed(ids)
        packed = pack_padded_sequence(e, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.fc(torch.cat([h_n[-2], h_n[-1]], 1))


def review_case(name, layers):
    vocab, embed, hidden, classes, lengths, l = 20, 3, 4, 2, [4, 2, 6], 7
    m = rounded(Review(vocab, embed, hidden, layers, classes))
    ids = torch.zeros(len(lengths), l, dtype=torch.long)
    for b, k in enumerate(lengths):
        ids[b, :k] = torch.randint(1, vocab, (k,))
    logits = m(ids, lengths)
    config = {"vocab": vocab, "embed": embed, "hidden": hidden, "num_layers": layers, "classes": classes}
    record(name, "review", config, m, ids.to(torch.float64), lengths, logits)


series_case("lstm_mean", "LSTM", 1, False, "mean")
series_case("gru_last_bidirectional_2_layers", "GRU", 2, True, "last")
series_case("lstm_last_bidirectional", "LSTM", 1, True, "last")
series_case("gru_mean_bidirectional", "GRU", 1, True, "mean")
fcn_case()
review_case("review_bigru", 1)
review_case("review_bigru_2_layers", 2)

os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
with open(OUT_PATH, "w") as f:
    json.dump(
        {"generator": "tools/reference/sequence_tasks.py", "torch_version": torch.__version__, "cases": CASES},
        f,
    )
    f.write("\n")
print(f"wrote {len(CASES)} cases to {OUT_PATH}")
