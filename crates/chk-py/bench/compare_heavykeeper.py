"""Cuckoo Heavy Keeper against the `heavykeeper` package (PyPI) at equal memory on the same
stream: throughput of `add_bulk` and of `add` one item at a time, and accuracy of the top k
against exact counts (precision, recall, ARE of the true top k's counts).

Memory: the CHK figure is its whole footprint (`memory_bytes`: buckets, key table and the
bytes of the str keys it keeps); its tables are shrunk until that fits the budget. heavykeeper is given `width * depth` counters of 16 bytes
(fingerprint and count, as the Rust crate under it stores them) within the same budget; its
top-k heap and decay table are not counted, which favours it.

Run: python crates/chk-py/bench/compare_heavykeeper.py [items] [k]
"""

import random
import sys
import time
from collections import Counter

from heavykeeper import HeavyKeeper

from cuckoo_heavy_keeper import CuckooHeavyKeeper

DEPTH = 2
DECAY = 0.9


def zipf_stream(n, universe, alpha, seed):
    rng = random.Random(seed)
    weights = [1.0 / (rank**alpha) for rank in range(1, universe + 1)]
    return [f"item-{rank}" for rank in rng.choices(range(universe), weights=weights, k=n)]


def timed(make, stream, bulk):
    sketch = make()
    start = time.perf_counter()
    if bulk:
        sketch.add_bulk(stream)
    else:
        add = sketch.add
        for item in stream:
            add(item)
    return sketch, len(stream) / (time.perf_counter() - start) / 1e6


def fitted_chk(k, budget, stream):
    """A CHK maker whose whole footprint after `stream` (str keys included) fits `budget`."""
    tables = budget
    while True:
        sketch = CuckooHeavyKeeper(k, memory=tables, seed=1)
        sketch.add_bulk(stream)
        if sketch.memory_bytes <= budget or tables < 256:
            return lambda: CuckooHeavyKeeper(k, memory=tables, seed=1)
        tables -= sketch.memory_bytes - budget


def score(sketch, exact, k):
    true_top = [item for item, _ in exact.most_common(k)]
    reported = [item for item, _ in sketch.list()][:k]
    hits = len(set(true_top) & set(reported))
    are = sum(abs(sketch.count(i) - exact[i]) / exact[i] for i in true_top) / len(true_top)
    return hits / max(len(reported), 1), hits / len(true_top), are


def main():
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    print(f"| stream | budget | sketch | memory | M adds/s (add_bulk) | M adds/s (add) "
          f"| precision | recall | ARE |")
    print("|---|---|---|---|---|---|---|---|---|")
    for alpha in (1.0, 1.2):
        stream = zipf_stream(items, 100_000, alpha, 7)
        exact = Counter(stream)
        for budget in (4096, 8192, 16384):
            width = budget // (16 * DEPTH)
            rows = [
                ("CHK", fitted_chk(k, budget, stream)),
                (f"HeavyKeeper w={width} d={DEPTH}",
                 lambda: HeavyKeeper.with_seed(k, width, DEPTH, DECAY, 1)
                 if hasattr(HeavyKeeper, "with_seed") else HeavyKeeper(k, width, DEPTH, DECAY)),
            ]
            for name, make in rows:
                sketch, bulk = timed(make, stream, True)
                _, single = timed(make, stream, False)
                memory = (sketch.memory_bytes if hasattr(sketch, "memory_bytes")
                          else width * DEPTH * 16)
                precision, recall, are = score(sketch, exact, k)
                print(f"| Zipf {alpha}, {items} str items | {budget} B | {name} | {memory} B "
                      f"| {bulk:.2f} | {single:.2f} | {precision:.3f} | {recall:.3f} "
                      f"| {are:.2e} |")


if __name__ == "__main__":
    main()
