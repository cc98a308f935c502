#!/usr/bin/env python3
"""Reads the TensorBoard event files of a deepnet run with TensorBoard's own reader and checks
that the scalars and images deepnet writes are there.

    pip install tensorboard          # into a virtualenv outside the repository
    deepnet train --epochs 2 --limit 2000 --tensorboard --out /tmp/tb-run
    python tools/tensorboard/check_events.py /tmp/tb-run [--expect train/loss test/acc lr]

Prints every tag with its number of points and last value; exits non-zero if an expected tag is
missing or a value is not finite.
"""
import argparse
import math
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="the run folder (its tensorboard/ is read) or an event folder")
    ap.add_argument("--expect", nargs="*", default=["batch/loss", "train/loss", "test/loss", "lr"])
    a = ap.parse_args()
    path = a.run.rstrip("/")
    if not path.endswith("tensorboard"):
        path += "/tensorboard"
    acc = EventAccumulator(path, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    ok = True
    for tag in sorted(tags["scalars"]):
        ev = acc.Scalars(tag)
        last = ev[-1]
        print(f"scalar {tag}: {len(ev)} points, last step {last.step} value {last.value:.6g}")
        if not all(math.isfinite(e.value) for e in ev):
            print(f"  not finite: {tag}")
            ok = False
    for tag in sorted(tags["images"]):
        ev = acc.Images(tag)
        last = ev[-1]
        print(f"image {tag}: {len(ev)} images, last {last.width}x{last.height}, {len(last.encoded_image_string)} bytes")
    for t in a.expect:
        if t not in tags["scalars"] and t not in tags["images"]:
            print(f"missing tag {t}")
            ok = False
    print("ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
