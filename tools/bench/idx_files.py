"""IDX files (MNIST's format, raw or gzip) for the PyTorch reference scripts in this folder,
which import it from their own directory."""
import gzip

import numpy as np


def read_idx(path):
    """A u8 IDX file (raw or gzip) as a numpy array of its dims."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 0x08, f"{path}: not a u8 IDX file"
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def write_idx(path, a):
    """`a` (uint8, any rank) as a raw IDX file."""
    header = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    with open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())
