#!/usr/bin/env bash
# Two builds of deepnet on the same benchmarks, in interleaved pairs (A B A B ...), so that a
# refactor can show that it left the speed alone. Prints each pair and the ratio B/A.
#
#   tools/bench/ab.sh BIN_A BIN_B [PAIRS] [THREADS]
#
# Build A from another checkout, e.g.
#   git worktree add /tmp/before <commit> && (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p deepnet)
# Run it on an otherwise idle machine: numbers move by 20% or more when other jobs share the cores.
set -euo pipefail
a="${1:?BIN_A}"
b="${2:?BIN_B}"
pairs="${3:-3}"
threads="${4:-2}"
benches=(
    "matmul --size 1024"
    "mlp-train --batch 64"
    "mlp-train --batch 256"
    "lenet-train --batch 64"
    "lenet-train --batch 256"
    "cifar-train --batch 128"
)
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d.get("gflops") or d.get("images_per_sec") or d.get("elements_per_sec"))' "$1"; }
for bench in "${benches[@]}"; do
    for _ in $(seq "$pairs"); do
        # shellcheck disable=SC2086
        ra=$(field "$("$a" --threads "$threads" bench $bench --json)")
        # shellcheck disable=SC2086
        rb=$(field "$("$b" --threads "$threads" bench $bench --json)")
        python3 -c 'import sys; a,b=map(float,sys.argv[2:]); print(f"{sys.argv[1]:28s} A {a:10.1f}  B {b:10.1f}  B/A {b/a:.3f}")' "$bench" "$ra" "$rb"
    done
done
