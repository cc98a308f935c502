#!/usr/bin/env bash
# deepnet's training throughput against PyTorch's on this machine, in the same run: PAIRS
# interleaved runs of `deepnet bench <bench>` and tools/bench/torch_train.py (PyTorch defaults,
# and PyTorch with torch.set_flush_denormal(True), which is what deepnet's command line uses).
#
#   tools/bench/train_compare.sh MODEL BATCH [PAIRS] [THREADS]
#       MODEL: mlp (bench mlp-train), lenet5 (bench lenet-train), small_cnn (bench cifar-train),
#              lstm (bench lstm-train), gru (bench gru-train)
#
# PYTHON selects the interpreter with torch (default: /opt/torchenv/bin/python if present).
# The machine should be otherwise idle: both numbers move a lot when other jobs share the cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${1:?MODEL (mlp, lenet5, small_cnn)}"
batch="${2:?BATCH}"
pairs="${3:-3}"
threads="${4:-2}"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /opt/torchenv/bin/python ]]; then PYTHON=/opt/torchenv/bin/python; else PYTHON=python3; fi
fi
case "$model" in
    mlp) bench=mlp-train ;;
    lenet5) bench=lenet-train ;;
    small_cnn) bench=cifar-train ;;
    lstm) bench=lstm-train ;;
    gru) bench=gru-train ;;
    *) echo "unknown model '$model' (expected mlp, lenet5, small_cnn, lstm or gru)" >&2; exit 2 ;;
esac

cargo build --release -p deepnet >&2
for _ in $(seq "$pairs"); do
    ours=$(target/release/deepnet --threads "$threads" bench "$bench" --batch "$batch" --json)
    torch=$("$PYTHON" tools/bench/torch_train.py --model "$model" --batch "$batch" --threads "$threads")
    flush=$("$PYTHON" tools/bench/torch_train.py --model "$model" --batch "$batch" --threads "$threads" --flush-denormal)
    "$PYTHON" - "$ours" "$torch" "$flush" <<'PY'
import json, sys
d, t, f = (json.loads(a)["images_per_sec"] for a in sys.argv[1:])
print(f"deepnet {d:9.0f} img/s | pytorch {t:9.0f} ({d / t:.2f}x) | "
      f"pytorch flush-denormal {f:9.0f} ({d / f:.2f}x)")
PY
done
