"""The Spark job against the real engine, on snapshots the real hhmon wrote.

Fixtures: one synthetic trace (`hhmon generate`, with a fan-in attack) split by flow among
three sensors, replayed by each in sketch mode and in exact mode; a second one with carpet
bombing of a destination /24 and a botnet in four source /24s, likewise; and three shipped
captures, one per sensor. Every replay writes both snapshots and an export tree (Parquet), which must
give the same answers. Everything the job's answers are compared with is computed here
independently: exact counts from this file's own pcap parser, unions by Python DataSketches
over the same sketch bytes, `hhmon merge` over the same files. The same questions are asked of
a local session and of a Spark Connect server this test starts on 127.0.0.1.

Runs with the test virtual environment's Python (scripts/install-deps.sh --test installs
pyspark and datasketches there): a missing engine fails, it does not skip. Knows the snapshot
schema and hhmon's command line, nothing of how the job computes its answers.
"""

import base64
import collections
import glob
import ipaddress
import json
import math
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import hhmon_spark  # noqa: E402
import datasketches  # noqa: E402
import pyspark  # noqa: E402

SENSORS = ["sensor1", "sensor2", "sensor3"]
INTERVAL = 10

# Shared by every test: built once, in setUpModule.
FIX = {}


def hhmon_binary():
    """HHMON_BIN, else the debug binary cargo builds (built here if need be)."""
    if os.environ.get("HHMON_BIN"):
        return os.environ["HHMON_BIN"]
    subprocess.run(["cargo", "build", "--locked", "--quiet"], cwd=REPO, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "debug", "hhmon")


def hhmon(*args):
    return subprocess.run([FIX["bin"], *args], check=True, capture_output=True, text=True)


# ---- pcap: read, split, count (this test's own reading of the bytes) ----

def pcap_records(path):
    """(header bytes, [(timestamp seconds, record bytes with its header, frame, wire length)])."""
    data = open(path, "rb").read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(endian + "I", data[20:24])[0]
    assert link == 1, f"{path}: Ethernet expected, link type {link}"
    records, at = [], 24
    while at + 16 <= len(data):
        sec, _frac, incl, orig = struct.unpack(endian + "IIII", data[at:at + 16])
        frame = data[at + 16:at + 16 + incl]
        records.append((sec, data[at:at + 16 + incl], frame, orig))
        at += 16 + incl
    return data[:24], records


def flow_of(frame):
    """The five-tuple of an Ethernet frame carrying TCP or UDP over IP, else None."""
    ethertype, at = struct.unpack(">H", frame[12:14])[0], 14
    while ethertype in (0x8100, 0x88A8):
        ethertype, at = struct.unpack(">H", frame[at + 2:at + 4])[0], at + 4
    if ethertype == 0x0800:
        ihl = (frame[at] & 0x0F) * 4
        proto = frame[at + 9]
        src, dst = ipaddress.ip_address(frame[at + 12:at + 16]), ipaddress.ip_address(frame[at + 16:at + 20])
        fragment = struct.unpack(">H", frame[at + 6:at + 8])[0] & 0x1FFF
        transport = at + ihl if fragment == 0 else None
    elif ethertype == 0x86DD:
        proto = frame[at + 6]
        src, dst = ipaddress.ip_address(frame[at + 8:at + 24]), ipaddress.ip_address(frame[at + 24:at + 40])
        transport = at + 40
    else:
        return None
    ports = (0, 0)
    if proto in (6, 17) and transport is not None and len(frame) >= transport + 4:
        ports = struct.unpack(">HH", frame[transport:transport + 4])
    return (str(src), str(dst), ports[0], ports[1], proto)


def split_by_flow(path, outdir, parts):
    """Writes `path`'s records into `parts` pcap files by a hash of the flow; returns their
    paths and, per part, the records' (timestamp, flow, wire length)."""
    header, records = pcap_records(path)
    outs = [os.path.join(outdir, f"part{i}.pcap") for i in range(parts)]
    chunks = [[header] for _ in range(parts)]
    seen = [[] for _ in range(parts)]
    for sec, raw, frame, orig in records:
        flow = flow_of(frame)
        part = zlib.crc32(repr(flow).encode()) % parts
        chunks[part].append(raw)
        seen[part].append((sec, flow, orig))
    for out, chunk in zip(outs, chunks):
        with open(out, "wb") as f:
            f.write(b"".join(chunk))
    return outs, seen


def exact_counts(packets, what, by):
    """Exact per-key figures of `packets` [(timestamp, flow, wire length)]."""
    counts = collections.Counter()
    for _sec, flow, orig in packets:
        if flow is None:
            continue
        key = {"flows": flow, "sources": flow[0], "destinations": flow[1]}[what]
        counts[key] += 1 if by == "packets" else orig
    return counts


# The prefix lengths hhmon counts by default (--ipv4-prefixes, --ipv6-prefixes).
PREFIX_LENGTHS = {4: (8, 16, 24), 6: (32, 48, 64)}


def exact_prefix_counts(packets, what, by, lengths=PREFIX_LENGTHS):
    """Exact per-prefix figures of `packets` [(timestamp, flow, wire length)], per (IPv6?,
    length): {(False, 24): Counter({"203.0.113.0/24": ...}), ...}."""
    counts = collections.defaultdict(collections.Counter)
    for _sec, flow, orig in packets:
        if flow is None:
            continue
        address = ipaddress.ip_address(flow[0] if what == "source-prefixes" else flow[1])
        for length in lengths[address.version]:
            prefix = ipaddress.ip_network(f"{address}/{length}", strict=False)
            counts[(address.version == 6, length)][str(prefix)] += 1 if by == "packets" else orig
    return counts


def exact_hhh(packets, direction, share, lengths=PREFIX_LENGTHS):
    """The hierarchical heavy hitters of `packets` [(timestamp, flow, wire length)] by
    `direction` ("sources" or "destinations") at `share` of every packet, from the exact
    per-address counts: from the longest length to the shortest, a prefix (an address: /32,
    /128) is heavy when the packets of its addresses that no heavy longer prefix holds reach
    the share. [(prefix, packets, conditioned packets)], longest first, then by conditioned
    packets, largest first."""
    counts = collections.Counter(ipaddress.ip_address(flow[0 if direction == "sources" else 1])
                                 for _sec, flow, _orig in packets if flow is not None)
    threshold = max(math.ceil(len(packets) * share), 1)
    held, heavy = set(), []
    for length in sorted({n for family in (4, 6) for n in lengths[family]} | {32, 128}, reverse=True):
        networks = collections.defaultdict(list)
        for address in counts:
            if length == address.max_prefixlen or length in lengths[address.version]:
                networks[ipaddress.ip_network(f"{address}/{length}", strict=False)].append(address)
        for network, addresses in networks.items():
            own = sum(counts[a] for a in addresses if a not in held)
            if own >= threshold:
                heavy.append((network, sum(counts[a] for a in addresses), own))
                held.update(addresses)
    heavy.sort(key=lambda h: (-h[0].prefixlen, -h[2], h[0].version, int(h[0].network_address)))
    return [(str(network), total, own) for network, total, own in heavy]


def by_part(entries):
    """A prefix answer's entries per (IPv6?, length), in the order the job gave them."""
    parts = {}
    for e in entries:
        parts.setdefault((":" in e["prefix"], e["length"]), []).append(e)
    return parts


def key_of(entry, what):
    if what == "flows":
        return (entry["src"], entry["dst"], entry["src_port"], entry["dst_port"], entry["protocol"])
    return entry["address"]


# ---- snapshots as this test reads them ----

def snapshot_files(root):
    return sorted(glob.glob(os.path.join(root, "**", "hhmon-*.json"), recursive=True))


def load(path):
    with open(path) as f:
        return json.load(f)


def sensor_of(path, snapshot):
    return snapshot.get("sensor") or os.path.basename(os.path.dirname(path))


def composite(sketch):
    """DataSketches' composite estimate of an HLL sketch, which depends on its registers only:
    Python asks for it when the sketch's out-of-order flag (preamble byte 5, bit 4, of the
    DataSketches HLL format) is set."""
    image = bytearray(sketch.serialize_updatable())
    image[5] |= 0x10
    return round(datasketches.hll_sketch.deserialize(bytes(image)).get_estimate())


def datasketches_union(texts):
    """Python DataSketches' union of base64 HLL sketches (an HLL_8 sketch), None if none."""
    sketches = [datasketches.hll_sketch.deserialize(base64.b64decode(t)) for t in texts if t]
    if not sketches:
        return None
    union = datasketches.hll_union(max(s.lg_config_k for s in sketches))
    for s in sketches:
        union.update(s)
    return union.get_result(datasketches.tgt_hll_type.HLL_8)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_connect_server(log_path):
    """A Spark Connect server from pip's pyspark, on 127.0.0.1; (process, sc:// URL)."""
    home = os.path.dirname(pyspark.__file__)
    port = free_port()
    env = dict(os.environ, SPARK_HOME=home, SPARK_LOCAL_IP="127.0.0.1",
               PYSPARK_PYTHON=sys.executable)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [os.path.join(home, "bin", "spark-submit"), "--master", "local[2]",
         "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.sql.shuffle.partitions=2",
         "--conf", "spark.ui.enabled=false",
         "spark-internal"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("the Spark Connect server exited:\n" + open(log_path).read()[-3000:])
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"sc://127.0.0.1:{port}"
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the Spark Connect server did not listen within 180 s")


def setUpModule():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    FIX["tmp"] = tempfile.TemporaryDirectory(prefix="hhmon-spark-")
    tmp = FIX["tmp"].name
    FIX["bin"] = hhmon_binary()
    # A trace of three 10 s intervals with a fan-in attack (one victim, spoofed sources),
    # split by flow among three sensors: each flow is seen by one sensor, while sources and
    # destinations are seen by several.
    trace = os.path.join(tmp, "trace.pcap")
    hhmon("generate", "--packets", "36000", "--flows", "1500", "--rate", "1200", "--attack", "0.25",
          "--scan", "0.1", "--seed", "7", "--out", trace)
    parts, seen = split_by_flow(trace, tmp, len(SENSORS))
    FIX["packets"] = dict(zip(SENSORS, seen))
    for mode, extra in [("sketch", ["--fan-sketches"]), ("exact", ["--exact", "--top", "100000"])]:
        for sensor, part in zip(SENSORS, parts):
            hhmon("replay", "--quiet", "--interval", f"{INTERVAL}s", "--sensor", sensor,
                  "--snapshot-dir", os.path.join(tmp, mode, sensor),
                  "--export-dir", os.path.join(tmp, f"export-{mode}"), "--export-roll", "1m",
                  *extra, part)
        FIX[mode] = os.path.join(tmp, mode)
        FIX[f"export-{mode}"] = os.path.join(tmp, f"export-{mode}")
    # Real captures, one per sensor, each in the interval it was captured in.
    for sensor, capture in zip(SENSORS, ["ddos-synflood-spoofed.pcap", "ddos-reflection-synack.pcap",
                                         "gnutella-p2p.pcap"]):
        hhmon("replay", "--quiet", "--interval", "60s", "--sensor", sensor, "--snapshot-dir",
              os.path.join(tmp, "shipped", sensor), "--export-dir", os.path.join(tmp, "export-shipped"),
              os.path.join(REPO, "captures", capture))
    # Carpet bombing of a /24 (every address a little) and a botnet in four source /24s (every
    # source a little), where only the prefix views see anything heavy.
    carpet = os.path.join(tmp, "carpet.pcap")
    hhmon("generate", "--packets", "24000", "--flows", "1500", "--rate", "800", "--seed", "11",
          "--carpet-bomb", Prefixes.CARPET, "--carpet-share", "0.2", "--botnet", "4",
          "--botnet-share", "0.16", "--out", carpet)
    carpet_dir = os.path.join(tmp, "carpet")
    os.makedirs(carpet_dir)
    parts, seen = split_by_flow(carpet, carpet_dir, len(SENSORS))
    FIX["prefix-packets"] = dict(zip(SENSORS, seen))
    for mode, extra in [("sketch", ["--fan-sketches"]), ("exact", ["--exact", "--top", "100000"])]:
        for sensor, part in zip(SENSORS, parts):
            hhmon("replay", "--quiet", "--interval", f"{INTERVAL}s", "--sensor", sensor,
                  "--snapshot-dir", os.path.join(tmp, f"prefix-{mode}", sensor),
                  "--export-dir", os.path.join(tmp, f"export-prefix-{mode}"), *extra, part)
        FIX[f"prefix-{mode}"] = os.path.join(tmp, f"prefix-{mode}")
        FIX[f"export-prefix-{mode}"] = os.path.join(tmp, f"export-prefix-{mode}")
    # The last sensor again, counting IPv4 /24s only: its lists of the other lengths are missing.
    FIX["prefix-partial"] = os.path.join(tmp, "prefix-partial", SENSORS[-1])
    hhmon("replay", "--quiet", "--interval", f"{INTERVAL}s", "--sensor", SENSORS[-1], "--exact",
          "--top", "100000", "--ipv4-prefixes", "24", "--ipv6-prefixes", "none",
          "--snapshot-dir", FIX["prefix-partial"], parts[-1])
    FIX["shipped"] = os.path.join(tmp, "shipped")
    FIX["export-shipped"] = os.path.join(tmp, "export-shipped")
    FIX["local"] = hhmon_spark.session()


def tearDownModule():
    FIX["local"].stop()
    FIX["tmp"].cleanup()


def ask(spark, command, paths, **options):
    """The job's answer to one command line, in `spark`."""
    argv = []
    for name in ("from", "to"):
        if options.get(name) is not None:
            argv += [f"--{name}", str(options.pop(name))]
    for sensor in options.pop("sensors", []):
        argv += ["--sensor", sensor]
    argv += command + list(paths)
    return hhmon_spark.run(hhmon_spark.parser().parse_args(argv), spark)


class Distinct(unittest.TestCase):
    def expected(self, root, group):
        """Per group (None: overall), the Python DataSketches union of the snapshots' sketches."""
        groups = collections.defaultdict(lambda: ([], []))
        for path in snapshot_files(root):
            snapshot = load(path)
            key = {None: None, "interval": snapshot["interval"]["start_unix"],
                   "sensor": sensor_of(path, snapshot)}[group]
            groups[key][0].append(snapshot["sketches"]["sources"])
            groups[key][1].append(snapshot["sketches"]["destinations"])
        return {k: (composite(datasketches_union(s)), composite(datasketches_union(d)))
                for k, (s, d) in groups.items()}

    def test_distinct_is_the_datasketches_union_overall_per_interval_and_per_sensor(self):
        # The job reports the union's composite estimate (as hhmon merge does), which depends
        # on the union's registers only, so Python's union gives it to the unit.
        for fixture in ("sketch", "shipped"):
            for per in (None, "interval", "sensor"):
                command = ["distinct"] + (["--per", per] if per else [])
                rows = ask(FIX["local"], command, [FIX[fixture]])["rows"]
                got = {row[per] if per else None: (row["distinct_sources"], row["distinct_destinations"])
                       for row in rows}
                with self.subTest(fixture=fixture, per=per):
                    self.assertEqual(got, self.expected(FIX[fixture], per))

    def test_distinct_is_within_two_percent_of_the_exact_count_of_the_whole_traffic(self):
        row = ask(FIX["local"], ["distinct"], [FIX["sketch"]])["rows"][0]
        packets = [p for sensor in SENSORS for p in FIX["packets"][sensor] if p[1]]
        sources = len({p[1][0] for p in packets})
        destinations = len({p[1][1] for p in packets})
        self.assertLess(abs(row["distinct_sources"] - sources) / sources, 0.02, (row, sources))
        self.assertLess(abs(row["distinct_destinations"] - destinations) / destinations, 0.02,
                        (row, destinations))
        self.assertEqual(row["packets"], sum(len(FIX["packets"][s]) for s in SENSORS))

    def test_hhmon_merge_agrees(self):
        # Both report the union's composite estimate: overall, and for each interval's and
        # each sensor's snapshots merged on their own.
        for fixture in ("sketch", "shipped"):
            for per in (None, "interval", "sensor"):
                groups = collections.defaultdict(list)
                for path in snapshot_files(FIX[fixture]):
                    snapshot = load(path)
                    key = {None: None, "interval": snapshot["interval"]["start_unix"],
                           "sensor": sensor_of(path, snapshot)}[per]
                    groups[key].append(path)
                merged = {}
                for key, files in groups.items():
                    out = os.path.join(FIX["tmp"].name, "merged.json")
                    hhmon("merge", "--out", out, *files)
                    m = load(out)
                    merged[key] = (m["distinct_sources"], m["distinct_destinations"],
                                   m["totals"]["packets"], m["totals"]["bytes"])
                command = ["distinct"] + (["--per", per] if per else [])
                rows = ask(FIX["local"], command, [FIX[fixture]])["rows"]
                got = {row[per] if per else None: (row["distinct_sources"], row["distinct_destinations"],
                                                   row["packets"], row["bytes"]) for row in rows}
                with self.subTest(fixture=fixture, per=per):
                    self.assertEqual(got, merged)

    def test_time_range_and_sensors_select_snapshots(self):
        starts = sorted({load(p)["interval"]["start_unix"] for p in snapshot_files(FIX["sketch"])})
        middle = starts[1]
        rows = ask(FIX["local"], ["distinct", "--per", "sensor"], [FIX["sketch"]],
                   **{"from": middle, "to": middle + INTERVAL, "sensors": ["sensor1", "sensor3"]})["rows"]
        self.assertEqual([r["sensor"] for r in rows], ["sensor1", "sensor3"])
        for row in rows:
            self.assertEqual((row["snapshots"], row["start_unix"]), (1, middle))
            packets = [p for p in FIX["packets"][row["sensor"]] if middle <= p[0] < middle + INTERVAL]
            self.assertEqual(row["packets"], len(packets))


class Top(unittest.TestCase):
    def test_exact_snapshots_give_the_exact_counts_of_the_whole_traffic(self):
        packets = [p for s in SENSORS for p in FIX["packets"][s]]
        for what in ("flows", "sources", "destinations"):
            for by in ("packets", "bytes"):
                exact = exact_counts(packets, what, by)
                entries = ask(FIX["local"], ["top", "--what", what, "--by", by, "--top", "10"],
                              [FIX["exact"]])["entries"]
                with self.subTest(what=what, by=by):
                    self.assertEqual([e["lower"] for e in entries], sorted(exact.values(), reverse=True)[:10])
                    for e in entries:
                        self.assertEqual((e["lower"], e["upper"]), (exact[key_of(e, what)],) * 2, e)
                        self.assertTrue(e["rank_certain"], e)

    def test_filters_give_the_exact_counts_of_what_they_select(self):
        starts = sorted({sec - sec % INTERVAL for s in SENSORS for sec, _, _ in FIX["packets"][s]})
        last = starts[-1]
        packets = [p for s in ("sensor2",) for p in FIX["packets"][s] if p[0] >= last]
        exact = exact_counts(packets, "sources", "bytes")
        entries = ask(FIX["local"], ["top", "--what", "sources", "--by", "bytes", "--top", "5"],
                      [FIX["exact"]], **{"from": last, "sensors": ["sensor2"]})["entries"]
        self.assertEqual([(key_of(e, "sources"), e["lower"]) for e in entries],
                         [(k, exact[k]) for k in [key_of(e, "sources") for e in entries]])
        self.assertEqual([e["lower"] for e in entries], sorted(exact.values(), reverse=True)[:5])

    def test_sketch_snapshots_bound_the_exact_counts(self):
        packets = [p for s in SENSORS for p in FIX["packets"][s]]
        for what in ("flows", "sources", "destinations"):
            for by in ("packets", "bytes"):
                exact = exact_counts(packets, what, by)
                entries = ask(FIX["local"], ["top", "--what", what, "--by", by, "--top", "20"],
                              [FIX["sketch"]])["entries"]
                with self.subTest(what=what, by=by):
                    self.assertTrue(entries)
                    for e in entries:
                        self.assertLessEqual(e["lower"], exact[key_of(e, what)], e)
                        self.assertLessEqual(exact[key_of(e, what)], e["upper"], e)
                    # The attack's victim leads the destinations, and is certain to.
                    if what == "destinations":
                        victim = exact.most_common(1)[0][0]
                        self.assertEqual((entries[0]["address"], entries[0]["rank_certain"]), (victim, True))


class Prefixes(unittest.TestCase):
    """`top --what source-prefixes|destination-prefixes` against the exact counts of the carpet
    trace, from its own parse."""

    CARPET = "203.0.113.0/24"  # hhmon generate --carpet-bomb
    BOTNET = [f"198.18.{i}.0/24" for i in range(4)]  # and --botnet 4

    def packets(self):
        return [p for s in SENSORS for p in FIX["prefix-packets"][s]]

    def test_exact_snapshots_give_the_exact_counts_of_every_length(self):
        packets = self.packets()
        for what in ("source-prefixes", "destination-prefixes"):
            for by in ("packets", "bytes"):
                exact = exact_prefix_counts(packets, what, by)
                entries = ask(FIX["local"], ["top", "--what", what, "--by", by, "--top", "10"],
                              [FIX["prefix-exact"]])["entries"]
                parts = by_part(entries)
                with self.subTest(what=what, by=by):
                    # Every length of both families, IPv4 first, shortest first.
                    self.assertEqual(list(parts), sorted(exact))
                    for part, counts in exact.items():
                        got = parts[part]
                        self.assertEqual([e["lower"] for e in got], sorted(counts.values(), reverse=True)[:10])
                        self.assertEqual([e["rank"] for e in got], list(range(1, len(got) + 1)))
                        for e in got:
                            self.assertEqual((e["lower"], e["upper"]), (counts[e["prefix"]],) * 2, e)
                            self.assertTrue(e["rank_certain"], e)
                            # Without --fan-sketches there is no union to take.
                            self.assertEqual((e["distinct_addresses"], e["addresses_with_sketch"]), (None, 0))

    def test_one_length_is_that_lengths_part_of_the_answer(self):
        command = ["top", "--what", "destination-prefixes", "--by", "bytes", "--top", "5"]
        every = by_part(ask(FIX["local"], command, [FIX["prefix-sketch"]])["entries"])
        one = ask(FIX["local"], command + ["--length", "24"], [FIX["prefix-sketch"]])["entries"]
        self.assertEqual(one, every[(False, 24)])

    def test_sketch_snapshots_bound_the_exact_counts_and_find_the_attacks(self):
        packets = self.packets()
        for what in ("source-prefixes", "destination-prefixes"):
            for by in ("packets", "bytes"):
                exact = exact_prefix_counts(packets, what, by)
                entries = ask(FIX["local"], ["top", "--what", what, "--by", by, "--top", "10"],
                              [FIX["prefix-sketch"]])["entries"]
                parts = by_part(entries)
                with self.subTest(what=what, by=by):
                    self.assertEqual(set(parts), set(exact))
                    for e in entries:
                        count = exact[(":" in e["prefix"], e["length"])][e["prefix"]]
                        self.assertLessEqual(e["lower"], count, e)
                        self.assertLessEqual(count, e["upper"], e)
                    slash24 = parts[(False, 24)]
                    if what == "destination-prefixes":
                        # The carpet-bombed /24 is listed and certain of its rank; by packets it
                        # is behind at most the trace's busy server network.
                        carpet = [e for e in slash24 if e["prefix"] == self.CARPET]
                        self.assertEqual([e["rank_certain"] for e in carpet], [True])
                        if by == "packets":
                            self.assertLessEqual(carpet[0]["rank"], 2)
                    else:
                        self.assertLessEqual(set(self.BOTNET), {e["prefix"] for e in slash24})
        # While none of the carpet's addresses is a top destination.
        listed = ask(FIX["local"], ["top", "--what", "destinations", "--top", "10"], [FIX["prefix-sketch"]])
        carpet = ipaddress.ip_network(self.CARPET)
        self.assertFalse([e for e in listed["entries"] if ipaddress.ip_address(e["address"]) in carpet])

    def test_distinct_addresses_are_the_union_of_the_sensors_sketches(self):
        entries = ask(FIX["local"], ["top", "--what", "destination-prefixes", "--length", "24", "--top", "3"],
                      [FIX["prefix-sketch"]])["entries"]
        got = [e for e in entries if e["prefix"] == self.CARPET][0]
        carpet = ipaddress.ip_network(self.CARPET)
        exact = len({p[1][1] for p in self.packets() if p[1] and ipaddress.ip_address(p[1][1]) in carpet})
        self.assertLess(abs(got["distinct_addresses"] - exact) / exact, 0.03, (got, exact))
        # Python DataSketches' union of every sketch the sensor-intervals listed for it, in
        # either list, and hhmon merge of the same snapshots.
        files = snapshot_files(FIX["prefix-sketch"])
        listed = [e for p in files for snap in [load(p)]
                  for e in snap["top_destination_prefixes"] + snap["top_destination_prefixes_by_bytes"]
                  if e["prefix"] == self.CARPET]
        self.assertEqual(got["distinct_addresses"],
                         composite(datasketches_union([e["distinct_addresses_sketch"] for e in listed])))
        self.assertEqual(got["distinct_addresses_reported"], max(e["distinct_addresses"] for e in listed))
        self.assertEqual(got["addresses_with_sketch"], len(files))
        out = os.path.join(FIX["tmp"].name, "merged-prefixes.json")
        hhmon("merge", "--out", out, *files)
        merged = [e for e in load(out)["top_destination_prefixes"] if e["prefix"] == self.CARPET][0]
        self.assertEqual(got["distinct_addresses"], merged["distinct_addresses"])

    def test_a_sensor_without_some_lengths_widens_their_bounds_only(self):
        # sensor3 counted IPv4 /24s only: every other length misses its traffic, which its
        # gap must cover; the /24s stay within their bounds too.
        paths = [os.path.join(FIX["prefix-exact"], s) for s in SENSORS[:-1]] + [FIX["prefix-partial"]]
        packets = self.packets()
        for what in ("source-prefixes", "destination-prefixes"):
            exact = exact_prefix_counts(packets, what, "packets")
            entries = ask(FIX["local"], ["top", "--what", what, "--top", "10"], paths)["entries"]
            with self.subTest(what=what):
                self.assertEqual(set(by_part(entries)), set(exact))
                for e in entries:
                    count = exact[(":" in e["prefix"], e["length"])][e["prefix"]]
                    self.assertLessEqual(e["lower"], count, e)
                    self.assertLessEqual(count, e["upper"], e)
                # What sensor3 had of the /16s is unknown: their bounds are apart.
                self.assertTrue(all(not e["exact"] for e in by_part(entries)[(False, 16)]))


class Hierarchical(unittest.TestCase):
    """`hhh --direction sources|destinations` on the exact snapshots of the carpet trace,
    against the exact hierarchical heavy hitters from its own parse and against `hhmon merge`."""

    SHARES = (None, 0.03)  # the snapshots' own (hhmon's default), and one given

    @classmethod
    def setUpClass(cls):
        # The job's answers, asked once for both comparisons.
        cls.answers = {}
        for direction in ("sources", "destinations"):
            for share in cls.SHARES:
                command = ["hhh", "--direction", direction] + (["--share", str(share)] if share else [])
                cls.answers[(direction, share)] = ask(FIX["local"], command, [FIX["prefix-exact"]])

    @staticmethod
    def named(answer):
        return [(e["prefix"], e["packets"], e["conditioned_packets"]) for e in answer["entries"]]

    def test_exact_snapshots_give_the_exact_hierarchical_heavy_hitters(self):
        packets = [p for s in SENSORS for p in FIX["prefix-packets"][s]]
        for (direction, share), got in self.answers.items():
            with self.subTest(direction=direction, share=share):
                self.assertEqual((got["share"], got["packets"]), (share or 0.05, len(packets)))
                self.assertEqual(self.named(got), exact_hhh(packets, direction, share or 0.05))
                # Every list is complete: the bounds meet.
                self.assertTrue(all(e["packets_upper"] == e["packets"] for e in got["entries"]))
        prefixes = {key: {e["prefix"] for e in got["entries"]} for key, got in self.answers.items()}
        # The carpet-bombed /24 is the attack, not the /16 and /8 above it.
        self.assertIn(Prefixes.CARPET, prefixes[("destinations", None)])
        self.assertFalse({"203.0.0.0/16", "203.0.0.0/8"} & prefixes[("destinations", None)])
        # The botnet's /24s carry 4% each: its /16 is heavy at 5%, the /24s themselves at 3%.
        self.assertIn("198.18.0.0/16", prefixes[("sources", None)])
        self.assertFalse(set(Prefixes.BOTNET) & prefixes[("sources", None)])
        self.assertLessEqual(set(Prefixes.BOTNET), prefixes[("sources", 0.03)])
        self.assertNotIn("198.18.0.0/16", prefixes[("sources", 0.03)])

    def test_hhmon_merge_agrees(self):
        files = snapshot_files(FIX["prefix-exact"])
        out = os.path.join(FIX["tmp"].name, "merged-hhh.json")
        for share in self.SHARES:
            # Merged lists long enough to hold every key over 3% (merge cuts them to --top).
            hhmon("merge", "--top", "100", "--out", out, *files,
                  *(["--hhh-share", str(share)] if share else []))
            merged = load(out)
            for direction in ("sources", "destinations"):
                got = self.answers[(direction, share)]
                listed = merged[f"hierarchical_{direction[:-1]}_prefixes"]
                with self.subTest(direction=direction, share=share):
                    self.assertEqual(got["share"], merged["hierarchical_share"])
                    self.assertTrue(listed)
                    self.assertEqual(self.named(got), self.named({"entries": listed}))


class Fan(unittest.TestCase):
    VICTIM = "203.0.113.10"  # hhmon generate's fan-in attack: SYNs from spoofed sources
    SCANNER = "198.51.100.7"  # and its scanner: SYNs to consecutive addresses

    def exact_peers(self, address, direction):
        packets = [p for s in SENSORS for p in FIX["packets"][s] if p[1]]
        if direction == "in":
            return len({p[1][0] for p in packets if p[1][1] == address})
        return len({p[1][1] for p in packets if p[1][0] == address})

    def test_the_victims_fan_in_and_the_scanners_fan_out_are_within_two_percent_of_exact(self):
        for command, address, direction in [("fan-in", self.VICTIM, "in"), ("fan-out", self.SCANNER, "out")]:
            got = ask(FIX["local"], [command, address], [FIX["sketch"]])
            exact = self.exact_peers(address, direction)
            with self.subTest(command=command):
                self.assertLess(abs(got["estimate"] - exact) / exact, 0.02, (got, exact))
                self.assertEqual(got["with_sketch"], got["listed_by"])
                self.assertEqual(got["sensor_intervals"], len(snapshot_files(FIX["sketch"])))

    def test_fan_in_agrees_with_hhmon_merge_and_the_datasketches_union(self):
        files = snapshot_files(FIX["sketch"])
        out = os.path.join(FIX["tmp"].name, "merged-fan.json")
        hhmon("merge", "--out", out, *files)
        merged = [e for e in load(out)["top_destinations"] if e["address"] == self.VICTIM][0]
        got = ask(FIX["local"], ["fan-in", self.VICTIM], [FIX["sketch"]])
        sketches = [e["distinct_sources_sketch"] for p in files for snap in [load(p)]
                    for e in snap["top_destinations"] + snap["top_destinations_by_bytes"]
                    if e["address"] == self.VICTIM]
        ours = datasketches_union(sketches)
        self.assertEqual(got["estimate"], merged["distinct_sources"])
        self.assertEqual(got["estimate"], composite(ours))
        self.assertEqual(got["reported"], max(e["distinct_sources"] for p in files for snap in [load(p)]
                                              for e in snap["top_destinations"] if e["address"] == self.VICTIM))

    def test_an_address_no_one_listed_has_no_estimate(self):
        got = ask(FIX["local"], ["fan-in", "192.0.2.123"], [FIX["sketch"]])
        self.assertEqual((got["listed_by"], got["estimate"], got["reported"]), (0, None, None))


class Sensors(unittest.TestCase):
    def test_snapshots_without_a_sensor_field_belong_to_their_directory(self):
        root = os.path.join(FIX["tmp"].name, "legacy")
        for path in snapshot_files(FIX["shipped"]):
            snapshot = load(path)
            snapshot.pop("sensor")
            folder = os.path.join(root, "old-" + os.path.basename(os.path.dirname(path)))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, os.path.basename(path)), "w") as f:
                json.dump(snapshot, f)
        old = ask(FIX["local"], ["distinct", "--per", "sensor"], [root])["rows"]
        new = ask(FIX["local"], ["distinct", "--per", "sensor"], [FIX["shipped"]])["rows"]
        self.assertEqual([r["sensor"] for r in old], ["old-" + s for s in SENSORS])
        self.assertEqual([dict(r, sensor=None) for r in old], [dict(r, sensor=None) for r in new])


class CommandLine(unittest.TestCase):
    def test_a_file_that_is_not_a_snapshot_is_named_and_fails_the_run(self):
        root = os.path.join(FIX["tmp"].name, "broken", "sensor1")
        os.makedirs(root)
        bad = os.path.join(root, "hhmon-000000000060.json")
        with open(bad, "w") as f:
            f.write("not json\n")
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        ran = subprocess.run([os.path.join(HERE, "hhmon-spark"), "distinct", os.path.dirname(root)],
                             capture_output=True, text=True, env=env)
        self.assertEqual(ran.returncode, 1, ran.stderr)
        self.assertIn(bad, ran.stderr.strip().splitlines()[-1])
        self.assertTrue(ran.stderr.strip().splitlines()[-1].startswith("hhmon-spark: "), ran.stderr)


class Export(unittest.TestCase):
    """Export trees (`--export-dir`) against the snapshots of the same replays."""

    QUESTIONS = [
        ["distinct"],
        ["distinct", "--per", "interval"],
        ["distinct", "--per", "sensor"],
        ["top", "--what", "flows", "--top", "15"],
        ["top", "--what", "flows", "--by", "bytes", "--top", "15"],
        ["top", "--what", "sources", "--top", "15"],
        ["top", "--what", "destinations", "--by", "bytes", "--top", "15"],
        ["fan-in", "203.0.113.10"],
        ["fan-out", "198.51.100.7"],
        ["top", "--what", "destination-prefixes", "--top", "5"],
        ["top", "--what", "source-prefixes", "--by", "bytes", "--length", "24", "--top", "5"],
    ]

    def test_every_answer_from_an_export_tree_equals_the_answer_from_the_snapshots(self):
        # Every question of the sketch fixture; of the others, what differs in them: complete
        # lists (exact) and intervals of real captures (shipped).
        asked = [("sketch", command) for command in self.QUESTIONS] + [
            ("exact", ["top", "--what", "flows", "--by", "bytes", "--top", "15"]),
            ("exact", ["top", "--what", "destinations", "--top", "15"]),
            ("shipped", ["distinct", "--per", "sensor"]),
            ("shipped", ["top", "--what", "sources", "--top", "15"]),
            ("prefix-sketch", ["top", "--what", "destination-prefixes", "--top", "10"]),
            ("prefix-sketch", ["top", "--what", "source-prefixes", "--by", "bytes", "--top", "10"]),
            ("prefix-exact", ["top", "--what", "source-prefixes", "--top", "10"]),
            ("prefix-exact", ["top", "--what", "destination-prefixes", "--by", "bytes", "--top", "10"]),
            # An export carries no share: the snapshots' own, given.
            ("prefix-exact", ["hhh", "--direction", "destinations", "--share", "0.05"]),
            ("prefix-sketch", ["hhh", "--direction", "sources", "--share", "0.03"]),
        ]
        for fixture, command in asked:
            with self.subTest(fixture=fixture, command=command):
                from_export = ask(FIX["local"], command, [FIX[f"export-{fixture}"]])
                self.assertEqual(from_export, ask(FIX["local"], command, [FIX[fixture]]))
                if command[0] == "distinct":
                    self.assertGreater(from_export["rows"][0]["packets"], 0)

    def test_snapshots_and_exports_mix(self):
        # sensor1 from its snapshots, the others from their partitions of the export tree.
        paths = [os.path.join(FIX["sketch"], SENSORS[0])]
        for sensor in SENSORS[1:]:
            paths += glob.glob(os.path.join(FIX["export-sketch"], "date=*", f"sensor={sensor}"))
        for command in (self.QUESTIONS[1], self.QUESTIONS[5], self.QUESTIONS[7], self.QUESTIONS[9]):
            with self.subTest(command=command):
                self.assertEqual(ask(FIX["local"], command, paths), ask(FIX["local"], command, [FIX["sketch"]]))

    def test_spark_reads_the_tree_with_its_partitions_and_few_files(self):
        spark = FIX["local"]
        tree = spark.read.parquet(FIX["export-sketch"])
        intervals = tree.where("kind = 'interval'").select("sensor", "date", "start_unix").collect()
        snapshots = {(sensor_of(path, load(path)), load(path)["interval"]["start_unix"])
                     for path in snapshot_files(FIX["sketch"])}
        self.assertEqual({(r["sensor"], r["start_unix"]) for r in intervals}, snapshots)
        self.assertEqual(len(intervals), len(snapshots))
        for r in intervals:
            utc = time.strftime("%Y-%m-%d", time.gmtime(r["start_unix"]))
            self.assertEqual(str(r["date"]), utc)
        self.assertEqual(dict(tree.dtypes)["sources_sketch"], "binary")
        # One file per sensor and minute (--export-roll 1m), not one per interval.
        files = glob.glob(os.path.join(FIX["export-sketch"], "date=*", "sensor=*", "*.parquet"))
        minutes = {(sensor, start // 60) for sensor, start in snapshots}
        self.assertEqual(len(files), len(minutes))
        self.assertLess(len(files), len(snapshots))
        # Nothing is left staged once the replays ended.
        self.assertEqual(glob.glob(os.path.join(FIX["export-sketch"], ".hhmon-staging", "*", "*")), [])


class SparkConnect(unittest.TestCase):
    """The same questions over Spark Connect, through the command line (one process has either
    a local or a remote session, not both), compared with the local session's answers."""

    @classmethod
    def setUpClass(cls):
        cls.log = os.path.join(FIX["tmp"].name, "connect-server.log")
        cls.server, cls.url = start_connect_server(cls.log)

    @classmethod
    def tearDownClass(cls):
        os.killpg(cls.server.pid, 15)
        cls.server.wait(timeout=60)

    def remote(self, *argv):
        script = os.path.join(HERE, "hhmon-spark")
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        return subprocess.run([script, "--remote", self.url, *argv], check=True, capture_output=True,
                              text=True, env=env).stdout

    def test_remote_answers_equal_local_answers(self):
        questions = [
            (["distinct", "--per", "interval"], "sketch"),
            (["distinct", "--per", "sensor"], "shipped"),
            (["top", "--what", "flows", "--by", "bytes", "--top", "10"], "sketch"),
            (["top", "--what", "destinations", "--top", "10"], "exact"),
            (["fan-in", "203.0.113.10"], "sketch"),
            (["top", "--what", "sources", "--by", "bytes", "--top", "10"], "export-sketch"),
            (["top", "--what", "destination-prefixes", "--top", "5"], "prefix-sketch"),
        ]
        for command, fixture in questions:
            with self.subTest(command=command):
                self.assertEqual(json.loads(self.remote("--json", *command, FIX[fixture])),
                                 ask(FIX["local"], command, [FIX[fixture]]))

    def test_the_table_shows_the_same_answer(self):
        table = self.remote("distinct", FIX["shipped"])
        row = ask(FIX["local"], ["distinct"], [FIX["shipped"]])["rows"][0]
        self.assertRegex(table, rf"\b{row['distinct_sources']}\b")
        self.assertRegex(table, rf"\b{row['packets']}\b")


if __name__ == "__main__":
    unittest.main()
