#!/usr/bin/env python3
"""Generate PyTorch reference values for deepnet-models' character-level LSTM (CharLstm).

Writes crates/deepnet-models/tests/data/torch_char_lm.json (relative to the repo root), read by
crates/deepnet-models/tests/char_lm.rs. Everything is float64 with a fixed seed; the Rust test
only reads the checked-in JSON, never runs Python.

The module is the one tools/bench/torch_char_lm.py trains: attributes `embed`
(nn.Embedding(V, E)), `lstm` (nn.LSTM(E, H, num_layers, batch_first=True)) and `head`
(nn.Linear(H, V)), so the state_dict keys are those deepnet uses. For one case it records:
  * every state_dict entry by key (rounded to 3 decimals, so the short decimal in the JSON
    parses to the very double PyTorch used), and the gradient of the loss for each;
  * windows (N, L + 1) of token ids;
  * the logits (N, L, V) of the inputs windows[:, :-1] from a zero state, h_n and c_n;
  * the loss: the mean cross-entropy of those logits against windows[:, 1:] (nats per char).

Usage: /opt/torchenv/bin/python tools/reference/char_lm.py
"""

import json
import os

import torch
from torch import nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.manual_seed(20240907)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_PATH = os.path.join(REPO_ROOT, "crates", "deepnet-models", "tests", "data",
                        "torch_char_lm.json")

V, E, H, LAYERS, N, L = 7, 3, 5, 2, 2, 5


class CharLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.lstm = nn.LSTM(E, H, num_layers=LAYERS, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, ids):
        y, state = self.lstm(self.embed(ids))
        return self.head(y), state


def tj(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def main():
    m = CharLstm()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.round(p, decimals=3))
    windows = torch.randint(0, V, (N, L + 1))
    logits, (h_n, c_n) = m(windows[:, :-1])
    loss = F.cross_entropy(logits.reshape(N * L, V), windows[:, 1:].reshape(N * L))
    loss.backward()
    sd = m.state_dict()
    params = dict(m.named_parameters())
    out = {
        "generator": "tools/reference/char_lm.py",
        "torch_version": torch.__version__,
        "config": {"vocab_size": V, "embedding_dim": E, "hidden_size": H,
                   "num_layers": LAYERS},
        "state_dict": [{"key": k, "value": tj(v), "grad": tj(params[k].grad)}
                       for k, v in sd.items()],
        "windows": tj(windows.to(torch.float64)),
        "logits": tj(logits),
        "h_n": tj(h_n),
        "c_n": tj(c_n),
        "loss": loss.item(),
    }
    with open(OUT_PATH, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT_PATH}")


if __name__ == "__main__":
    main()
