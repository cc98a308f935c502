"""Checks `deepnet export --onnx` with onnxruntime: each model is exported with a seeded example
input and deepnet's own output for it (`--test-data`), run by onnxruntime on the same input, and
the largest absolute difference printed. The ONNX checker validates each model first.

Set up once, outside the repository (onnxruntime and onnx from pip):

    python3 -m venv /opt/onnxenv && /opt/onnxenv/bin/pip install onnxruntime onnx numpy

Run from the repository root after `cargo build --release -p deepnet`:

    /opt/onnxenv/bin/python tools/onnx/check_onnx.py [--deepnet target/release/deepnet]
        [--weights RUN/model.safetensors ...]

Exit status 1 if any model differs by more than 1e-4 (relative to its output's scale) or fails
to load.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

# (name, export flags): freshly initialized zoo nets (seeded), at sizes that keep the run short
MODELS = [
    ("mlp", ["--model", "mlp", "--hidden", "64,32"]),
    ("lenet5", ["--model", "lenet5"]),
    ("small_cnn", ["--model", "small_cnn"]),
    ("small_cnn-cifar", ["--model", "small_cnn", "--input", "3x32x32"]),
    ("resnet18", ["--model", "resnet18", "--input", "3x64x64", "--classes", "10"]),
    ("resnet50", ["--model", "resnet50", "--input", "3x64x64", "--classes", "10"]),
    ("alexnet", ["--model", "alexnet", "--input", "3x224x224", "--classes", "10"]),
    ("zfnet", ["--model", "zfnet", "--input", "3x224x224", "--classes", "10"]),
    (
        "arch-bn",
        [
            "--arch",
            "conv8k3p1,bn,relu,maxpool2,conv16k3s2,tanh,avgpool2,fc32,sigmoid,dropout0.5,fc10",
        ],
    ),
]


def check(deepnet, name, flags, tmp):
    path = os.path.join(tmp, name + ".onnx")
    data = os.path.join(tmp, name + "_test_data")
    cmd = [deepnet, "export", *flags, "--onnx", path, "--test-data", data]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    x = numpy_helper.to_array(onnx.load_tensor(os.path.join(data, "input_0.pb")))
    want = numpy_helper.to_array(onnx.load_tensor(os.path.join(data, "output_0.pb")))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = sess.run(["output"], {"input": x})
    # and another batch size: the batch dim is free
    (got3,) = sess.run(["output"], {"input": np.concatenate([x, x, x[:1]])})
    diff = float(np.max(np.abs(got - want)))
    scale = max(1.0, float(np.max(np.abs(want))))
    batch_ok = np.allclose(got3[: len(x)], got, atol=1e-5 * scale)
    ops = sorted({n.op_type for n in model.graph.node})
    ok = diff <= 1e-4 * scale and got.shape == want.shape and batch_ok
    print(
        f"{name:16s} {'ok ' if ok else 'BAD'} max |ort - deepnet| = {diff:.2e} "
        f"(output scale {scale:.2g}, shape {list(got.shape)}) ops: {', '.join(ops)}"
    )
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deepnet", default="target/release/deepnet")
    ap.add_argument("--weights", nargs="*", default=[], help="trained model.safetensors files")
    args = ap.parse_args()
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}")
    models = MODELS + [(os.path.basename(os.path.dirname(w)) or w, ["--weights", w]) for w in args.weights]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in models:
            try:
                bad += not check(args.deepnet, name, flags, tmp)
            except Exception as e:  # report and go on with the others
                print(f"{name:16s} FAILED: {e}")
                bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
