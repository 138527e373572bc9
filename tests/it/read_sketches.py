"""Reads the sketches of hhmon snapshots with Apache DataSketches for Python (pip install
datasketches), an implementation independent of hhmon's (the C++ library underneath).

Usage: read_sketches.py SNAPSHOT...

Prints one JSON object: for every snapshot, the lg_k, register type (HLL_4, HLL_6 or HLL_8)
and estimate of its `sources` and `destinations` sketches, and the estimate of the union of all the snapshots' sketches of each
kind, as DataSketches computes them.
"""

import base64
import json
import sys

from datasketches import hll_sketch, hll_union, tgt_hll_type

KINDS = ("sources", "destinations")


def main(paths):
    unions = {kind: hll_union(21) for kind in KINDS}
    snapshots = []
    for path in paths:
        with open(path, encoding="utf-8") as file:
            snapshot = json.load(file)
        read = {}
        for kind in KINDS:
            data = base64.b64decode(snapshot["sketches"][kind], validate=True)
            sketch = hll_sketch.deserialize(data)
            read[kind] = {
                "lg_k": sketch.lg_config_k,
                "type": sketch.tgt_type.name,
                "estimate": sketch.get_estimate(),
            }
            unions[kind].update(sketch)
        snapshots.append(read)
    union = {
        kind: {
            "lg_k": unions[kind].get_result(tgt_hll_type.HLL_8).lg_config_k,
            "estimate": unions[kind].get_estimate(),
        }
        for kind in KINDS
    }
    json.dump({"snapshots": snapshots, "union": union}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
