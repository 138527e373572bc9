"""The Python bindings: keys of str, bytes and int, the heavykeeper-style methods, the memory
budget, and accuracy against exact counts on a Zipf stream."""

import random
from collections import Counter

import pytest

from cuckoo_heavy_keeper import CuckooHeavyKeeper


def zipf_stream(n, universe, alpha, seed):
    rng = random.Random(seed)
    weights = [1.0 / (rank**alpha) for rank in range(1, universe + 1)]
    return rng.choices(range(universe), weights=weights, k=n)


def test_counts_and_lists_like_heavykeeper():
    hk = CuckooHeavyKeeper(2, memory=4096)
    for word in "a b a c a b d".split():
        hk.add(word)
    hk.add("e", 10)
    assert hk.count("a") == 3
    assert hk.count("zzz") == 0
    assert hk.list() == [("e", 10), ("a", 3)]
    assert hk.get_topk() == {"e": 10, "a": 3}
    assert hk.query("a") and "e" in hk
    assert not hk.query("b"), "b is not in the top 2"
    assert len(hk) == 2 and hk.len() == 2
    assert hk.total == 17
    assert hk.k == 2


def test_str_bytes_and_int_keys_are_distinct():
    hk = CuckooHeavyKeeper(10)
    hk.add("1")
    hk.add(b"1", 2)
    hk.add(1, 3)
    hk.add(-(2**100), 4)
    assert hk.count("1") == 1
    assert hk.count(b"1") == 2
    assert hk.count(1) == 3
    assert hk.count(-(2**100)) == 4
    assert dict(hk.list()) == {"1": 1, b"1": 2, 1: 3, -(2**100): 4}


def test_bad_keys_and_arguments_raise():
    hk = CuckooHeavyKeeper(3)
    with pytest.raises(TypeError):
        hk.add(1.5)
    with pytest.raises(TypeError):
        hk.add(("a", 1))
    with pytest.raises(ValueError):
        hk.add(2**200)
    with pytest.raises(ValueError):
        CuckooHeavyKeeper(0)
    with pytest.raises(ValueError):
        CuckooHeavyKeeper(3, phi=0.0)
    with pytest.raises(OverflowError):
        hk.add("a", -1)


def test_add_bulk_and_add_many_match_single_adds():
    stream = zipf_stream(20_000, 2_000, 1.1, 1)
    one, bulk, many = (CuckooHeavyKeeper(20, memory=8192, seed=5) for _ in range(3))
    for item in stream:
        one.add(item)
    bulk.add_bulk(stream)
    many.add_many(iter(stream))
    assert one.list() == bulk.list() == many.list()
    assert bulk.total == len(stream)


def test_memory_stays_within_the_budget():
    for budget in (2048, 4096, 65536):
        hk = CuckooHeavyKeeper(10, memory=budget)
        for item in zipf_stream(20_000, 5_000, 1.0, 2):
            hk.add(item)
        assert hk.memory_bytes <= budget, (budget, hk.memory_bytes)
        assert hk.memory_bytes >= budget * 0.9
    # str keys own their bytes, which the figure counts beyond the budget of the tables.
    words = CuckooHeavyKeeper(10, memory=4096)
    words.add("x" * 1000, 5)
    assert words.memory_bytes >= 4096 * 0.9 + 1000


def test_clear_and_seed_reproduce_runs():
    stream = zipf_stream(20_000, 2_000, 1.2, 3)
    hk = CuckooHeavyKeeper(10, memory=2048, seed=9)
    hk.add_bulk(stream)
    first = hk.list()
    hk.clear()
    assert hk.total == 0 and hk.is_empty() and hk.list() == []
    hk.add_bulk(stream)
    assert hk.list() == first


def test_zipf_top_items_match_exact_counts():
    stream = zipf_stream(300_000, 50_000, 1.2, 4)
    exact = Counter(stream)
    hk = CuckooHeavyKeeper(20, memory=4096)
    hk.add_bulk(stream)
    true_top = [item for item, _ in exact.most_common(20)]
    reported = [item for item, _ in hk.list()]
    assert len(set(true_top) & set(reported)) >= 18, (true_top, reported)
    for item in true_top[:10]:
        assert abs(hk.count(item) - exact[item]) <= 0.01 * exact[item], item

    # Naming every heavy hitter (146 here) takes a key table of that many keys: 16 KB.
    hh = CuckooHeavyKeeper(20, memory=16384)
    hh.add_bulk(stream)
    threshold = 5e-4 * len(stream)
    heavy = {item for item, count in exact.items() if count >= threshold}
    named = {item for item, _ in hh.heavy_hitters()}
    assert len(heavy & named) >= 0.95 * len(heavy)
    assert len(named - heavy) <= 0.05 * len(named)
