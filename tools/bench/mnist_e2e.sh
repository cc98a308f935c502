#!/usr/bin/env bash
# End to end on real MNIST: LeNet-5 with a fixed recipe (batch 128, SGD momentum 0.9, lr 0.05,
# weight decay 5e-4, no schedule, 6 epochs, inputs normalized with the training set's mean and
# std), `deepnet train` against the same loop in PyTorch (tools/bench/torch_mnist_e2e.py), in
# interleaved pairs. Prints each side's training time (evaluation excluded), test accuracy and
# the ratio PyTorch / deepnet. Run it on an otherwise idle machine.
#
#   tools/bench/mnist_e2e.sh [DEEPNET_BIN] [PAIRS] [THREADS]
#
# PYTHON (default /opt/torchenv/bin/python) names a Python with PyTorch installed.
set -euo pipefail
bin="${1:-target/release/deepnet}"
pairs="${2:-2}"
threads="${3:-2}"
py="${PYTHON:-/opt/torchenv/bin/python}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for i in $(seq "$pairs"); do
    ours=$("$bin" --threads "$threads" train --model lenet5 --dataset "$root/data/mnist" \
        --batch-size 128 --optimizer sgd --lr 0.05 --momentum 0.9 --weight-decay 5e-4 \
        --scheduler none --epochs 6 --out "$tmp/run$i" --json | tail -1)
    theirs=$("$py" "$here/torch_mnist_e2e.py" --data "$root/data/mnist" --threads "$threads")
    python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"deepnet {o['train_seconds']:6.1f} s  acc {100 * o['test_accuracy']:.2f}%   "
      f"pytorch {t['train_seconds']:6.1f} s  acc {100 * t['test_accuracy']:.2f}%   "
      f"ratio {t['train_seconds'] / o['train_seconds']:.2f}x")
PY
done
