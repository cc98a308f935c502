"""Writes the PyTorch checkpoints the .pt reader is tested on (crates/deepnet-train/tests/data/):

- state_dict.pt: a Linear + BatchNorm1d state dict (float32 and the int64 num_batches_tracked);
- nested.pt: {"model": state_dict, "epoch": 3, "views": [transposed, sliced, float64,
  float16, int32, bool tensors]}, with the expected values in nested_expected.json;
- evil.pt: a pickle that asks for os.system (must be refused, never run).

    /opt/torchenv/bin/python tools/reference/torch_checkpoint.py
It also checks that a file written by deepnet's writer (if given as argv[1]) loads in torch.
"""
import json
import os
import pickle
import sys
import zipfile

import torch

out = os.path.join(os.path.dirname(__file__), "../../crates/deepnet-train/tests/data")
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
m(torch.randn(4, 3))  # running stats move
torch.save(m.state_dict(), f"{out}/state_dict.pt")

base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
views = {
    "t": base.t(),  # non-contiguous
    "slice": base[1:, 1:3],  # offset into the storage
    "f64": torch.tensor([1.5, -2.25], dtype=torch.float64),
    "f16": torch.tensor([0.5, -3.0, 65504.0, 6e-8], dtype=torch.float16),
    "i32": torch.tensor([[1, -2], [3, 4]], dtype=torch.int32),
    "b": torch.tensor([True, False, True]),
}
torch.save({"model": m.state_dict(), "epoch": 3, "views": list(views.values())}, f"{out}/nested.pt")
exp = {f"model.{k}": v.flatten().tolist() for k, v in m.state_dict().items()}
for i, v in enumerate(views.values()):
    exp[f"views.{i}"] = [float(x) for x in v.flatten().tolist()]
shapes = {k: list(v.shape) for k, v in m.state_dict().items()}
json.dump({"values": exp, "shapes": {**{f"model.{k}": s for k, s in shapes.items()},
                                     **{f"views.{i}": list(v.shape) for i, v in enumerate(views.values())}}},
          open(f"{out}/nested_expected.json", "w"), indent=0)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/deepnet-pwned",))


with zipfile.ZipFile(f"{out}/evil.pt", "w", zipfile.ZIP_STORED) as z:
    z.writestr("evil/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    z.writestr("evil/version", "3\n")

if len(sys.argv) > 1:
    sd = torch.load(sys.argv[1], weights_only=True)
    print({k: (tuple(v.shape), v.dtype, v.flatten()[:4].tolist()) for k, v in sd.items()})
