#!/usr/bin/env bash
# deepnet's f32 matmul against numpy's (OpenBLAS sgemm) on this machine, in the same run.
#
#   tools/bench/compare.sh [SIZE] [THREADS]      (defaults: 1024, 2)
#
# PYTHON selects the interpreter with numpy (default: /opt/torchenv/bin/python if present, else
# python3). OpenBLAS runs at full speed: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset.
# The machine should be otherwise idle: both numbers move a lot when other jobs share the cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
size="${1:-1024}"
threads="${2:-2}"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /opt/torchenv/bin/python ]]; then PYTHON=/opt/torchenv/bin/python; else PYTHON=python3; fi
fi

cargo build --release -p deepnet
ours=$(target/release/deepnet --threads "$threads" bench matmul --size "$size" --json)
theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" \
    "$PYTHON" tools/bench/numpy_matmul.py --size "$size")
echo "deepnet: $ours"
echo "numpy:   $theirs"
"$PYTHON" - "$ours" "$theirs" <<'PY'
import json, sys
d, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"ratio deepnet / numpy: best {d['gflops'] / n['gflops']:.2f}x, "
      f"median {d['gflops_median'] / n['gflops_median']:.2f}x "
      f"({d['gflops']:.1f} vs {n['gflops']:.1f} GFLOP/s best)")
PY
