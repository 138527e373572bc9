#!/usr/bin/env python3
"""Scores the top lists of an hhmon snapshot against the truth file of `hhmon generate`.

Usage: scripts/top-accuracy.py TRUTH.json SNAPSHOT.json [N]

The snapshot must cover the whole trace in one interval (replay with `--interval 1000000000s
--top N`). For each of the six top lists it prints:
  - recall: the share of the true top N that the reported top N holds;
  - ARE: the mean relative error of the ranked count (packets or bytes) of the reported
    entries that are truly in the top N;
  - max RE: the largest such error.
Used by docs/BENCHMARKS.md ("Flow cache") to compare builds; asserts nothing.
"""

import json
import sys


def key(entry):
    if "address" in entry:
        return entry["address"]
    return (entry["src"], entry["dst"], entry["src_port"], entry["dst_port"], entry["protocol"])


def main():
    truth = json.load(open(sys.argv[1]))
    snapshot = json.load(open(sys.argv[2]))
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    print(f"{'list':28} {'recall':>7} {'ARE':>9} {'max RE':>9}")
    for name in ["top_flows", "top_flows_by_bytes", "top_sources", "top_sources_by_bytes",
                 "top_destinations", "top_destinations_by_bytes"]:
        field = "bytes" if name.endswith("by_bytes") else "packets"
        true = {key(e): e[field] for e in truth[name][:n]}
        reported = {key(e): e[field] for e in snapshot[name][:n]}
        found = [k for k in reported if k in true]
        errors = [abs(reported[k] - true[k]) / true[k] for k in found]
        recall = len(found) / len(true)
        are = sum(errors) / len(errors) if errors else float("nan")
        print(f"{name:28} {recall:7.3f} {are:9.2e} {max(errors, default=0):9.2e}")


if __name__ == "__main__":
    main()
