"""hhmon-spark: network-wide answers over many sensors' hhmon reports, computed by Spark.

Every sensor running hhmon writes one JSON snapshot per closed interval (``--snapshot-dir``),
or exports its intervals into a Parquet tree (``--export-dir``). This job reads any number of
snapshot directories and export trees (local paths or any URI Spark reads), in any mix, and
answers, over a time range and a set of sensors:

- ``distinct``: distinct sources and destinations network-wide, the union of the interval
  sketches (DataSketches HLL bytes, merged by Spark's own ``hll_union_agg``), overall, per
  interval or per sensor;
- ``top``: the top flows, sources, destinations, source prefixes or destination prefixes by
  packets or bytes, with for each key a lower and an upper bound and whether its rank is
  certain (prefixes ranked per length, with their distinct addresses network-wide);
- ``hhh``: the hierarchical heavy hitters of sources or destinations, computed as hhmon
  computes them for one interval (``src/monitor/hhh.rs``) from every key's network-wide lower
  bound and the packets of every selected interval;
- ``fan-in`` / ``fan-out``: the distinct peers of one address, the union of the per-address
  sketches the sensors listed for it.

It uses only the DataFrame and SQL API (no RDDs, no Python UDFs), so the same code runs in a
local session, under ``spark-submit`` and against a Spark Connect server. The queries are SQL
over temporary views (``snapshots``, ``selected``) so that what the job runs is what
``spark/README.md`` documents for people who query with Spark SQL.

It knows the snapshot schema (``docs/snapshot.schema.json``) and the export schema
(``docs/export.md``), and nothing of how hhmon counts, writes or names anything else; it never
reads a file itself, Spark does.
"""

import argparse
import datetime
import ipaddress
import json
import math
import os
import sys

# Only the fields the job reads: an explicit schema spares Spark a pass over every file to
# infer one, and keeps a field a later hhmon adds from changing the job's types.
_ADDRESS_ENTRY = (
    "address STRING, packets BIGINT, bytes BIGINT, lower_bound ARRAY<STRING>, "
    "distinct_sources BIGINT, distinct_sources_sketch STRING, "
    "distinct_destinations BIGINT, distinct_destinations_sketch STRING"
)
_PREFIX_ENTRY = (
    "prefix STRING, length INT, packets BIGINT, bytes BIGINT, lower_bound ARRAY<STRING>, "
    "distinct_addresses BIGINT, distinct_addresses_sketch STRING"
)
_FLOW_ENTRY = (
    "src STRING, dst STRING, src_port INT, dst_port INT, protocol INT, "
    "packets BIGINT, bytes BIGINT, lower_bound ARRAY<STRING>"
)
SCHEMA = ", ".join(
    [
        "sensor STRING",
        "interval STRUCT<start_unix: BIGINT, seconds: BIGINT>",
        "totals STRUCT<packets: BIGINT, bytes: BIGINT, unparsed_packets: BIGINT>",
        "distinct_sources BIGINT",
        "distinct_destinations BIGINT",
        "counting STRING",
        "hierarchical_share DOUBLE",
        f"top_flows ARRAY<STRUCT<{_FLOW_ENTRY}>>",
        f"top_flows_by_bytes ARRAY<STRUCT<{_FLOW_ENTRY}>>",
        f"top_sources ARRAY<STRUCT<{_ADDRESS_ENTRY}>>",
        f"top_sources_by_bytes ARRAY<STRUCT<{_ADDRESS_ENTRY}>>",
        f"top_destinations ARRAY<STRUCT<{_ADDRESS_ENTRY}>>",
        f"top_destinations_by_bytes ARRAY<STRUCT<{_ADDRESS_ENTRY}>>",
        f"top_source_prefixes ARRAY<STRUCT<{_PREFIX_ENTRY}>>",
        f"top_source_prefixes_by_bytes ARRAY<STRUCT<{_PREFIX_ENTRY}>>",
        f"top_destination_prefixes ARRAY<STRUCT<{_PREFIX_ENTRY}>>",
        f"top_destination_prefixes_by_bytes ARRAY<STRUCT<{_PREFIX_ENTRY}>>",
        "sketches STRUCT<sources: STRING, destinations: STRING>",
    ]
)

# The export files' columns the job reads (docs/export.md).
EXPORT_SCHEMA = ", ".join(
    [
        "sensor STRING, start_unix BIGINT, seconds BIGINT, kind STRING, ranked_by STRING",
        "address STRING, src STRING, dst STRING, src_port INT, dst_port INT, protocol INT",
        "packets BIGINT, bytes BIGINT, packets_lower_bound BOOLEAN, bytes_lower_bound BOOLEAN",
        "distinct_sources BIGINT, distinct_destinations BIGINT",
        "sources_sketch BINARY, destinations_sketch BINARY",
        "unparsed_packets BIGINT, counting STRING",
        "prefix STRING, prefix_length INT, distinct_addresses BIGINT, addresses_sketch BINARY",
    ]
)

# The fields of a list entry in the `snapshots` view, each with how to compute it from a
# snapshot's entry `e` and from an export row. Sketches are bytes in the view (base64 in
# snapshots), so that what Spark merges is never text.
_ENTRY_FIELDS = {
    "flow": [
        ("src", "e.src", "src"),
        ("dst", "e.dst", "dst"),
        ("src_port", "e.src_port", "src_port"),
        ("dst_port", "e.dst_port", "dst_port"),
        ("protocol", "e.protocol", "protocol"),
    ],
    "address": [("address", "e.address", "address")],
    "prefix": [("prefix", "e.prefix", "prefix"), ("length", "e.length", "prefix_length")],
}
_FIGURES = [
    ("packets", "e.packets", "packets"),
    ("bytes", "e.bytes", "bytes"),
    (
        "lower_bound",
        "e.lower_bound",
        "filter(array(IF(packets_lower_bound, 'packets', NULL), "
        "IF(bytes_lower_bound, 'bytes', NULL)), x -> x IS NOT NULL)",
    ),
]
_ADDRESS_FANS = [
    ("distinct_sources", "e.distinct_sources", "distinct_sources"),
    ("distinct_sources_sketch", "unbase64(nullif(e.distinct_sources_sketch, ''))", "sources_sketch"),
    ("distinct_destinations", "e.distinct_destinations", "distinct_destinations"),
    (
        "distinct_destinations_sketch",
        "unbase64(nullif(e.distinct_destinations_sketch, ''))",
        "destinations_sketch",
    ),
]
_PREFIX_FANS = [
    ("distinct_addresses", "e.distinct_addresses", "distinct_addresses"),
    (
        "distinct_addresses_sketch",
        "unbase64(nullif(e.distinct_addresses_sketch, ''))",
        "addresses_sketch",
    ),
]
_FANS = {"flow": [], "address": _ADDRESS_FANS, "prefix": _PREFIX_FANS}


def _entry(kind, source):
    """SQL of one list entry as a struct: `source` 1 from a snapshot entry `e`, 2 from an
    export row."""
    fields = _ENTRY_FIELDS[kind] + _FIGURES + _FANS[kind]
    return "named_struct(" + ", ".join(f"'{f[0]}', {f[source]}" for f in fields) + ")"


# (list, kind of row, ranked by) of the ten lists.
_LIST_ROWS = [
    ("top_flows", "flow", "packets"),
    ("top_flows_by_bytes", "flow", "bytes"),
    ("top_sources", "source", "packets"),
    ("top_sources_by_bytes", "source", "bytes"),
    ("top_destinations", "destination", "packets"),
    ("top_destinations_by_bytes", "destination", "bytes"),
    ("top_source_prefixes", "source_prefix", "packets"),
    ("top_source_prefixes_by_bytes", "source_prefix", "bytes"),
    ("top_destination_prefixes", "destination_prefix", "packets"),
    ("top_destination_prefixes_by_bytes", "destination_prefix", "bytes"),
]


def _entry_kind(row_kind):
    """The kind of list entry (`_ENTRY_FIELDS`) of an export row's kind."""
    if row_kind.endswith("_prefix"):
        return "prefix"
    return "flow" if row_kind == "flow" else "address"


# One row per sensor-interval, from a snapshot file. A snapshot without a `sensor` field
# (written before hhmon had `--sensor`) belongs to the sensor named by its file's parent
# directory, so a tree laid out as one directory per sensor needs nothing more.
SNAPSHOTS_FROM_JSON = f"""
SELECT coalesce(sensor, element_at(split(file_path, '/'), -2)) AS sensor,
       interval.start_unix AS start_unix,
       interval.seconds AS seconds,
       file_path AS path,
       counting,
       hierarchical_share,
       totals.packets AS packets,
       totals.bytes AS bytes,
       totals.unparsed_packets AS unparsed_packets,
       distinct_sources,
       distinct_destinations,
       unbase64(nullif(sketches.sources, '')) AS sources_sketch,
       unbase64(nullif(sketches.destinations, '')) AS destinations_sketch,
       {", ".join(f"transform({name}, e -> {_entry(_entry_kind(kind), 1)}) AS {name}" for name, kind, _ in _LIST_ROWS)}
FROM raw_snapshots
"""

# One row per sensor-interval, from an export tree: the interval's own row, and its list
# entries gathered back into the ten lists (in no particular order: no query needs one). The
# export has no hierarchical share (nor hierarchical lists): null, as in a snapshot older than
# the field.
SNAPSHOTS_FROM_EXPORT = f"""
WITH lists AS (
  SELECT sensor, start_unix,
         {", ".join(f"collect_list(CASE WHEN kind = '{kind}' AND ranked_by = '{by}' THEN {_entry(_entry_kind(kind), 2)} END) AS {name}" for name, kind, by in _LIST_ROWS)}
  FROM raw_exports WHERE kind <> 'interval'
  GROUP BY sensor, start_unix
)
SELECT i.sensor, i.start_unix, i.seconds, i.file_path AS path, i.counting,
       CAST(NULL AS DOUBLE) AS hierarchical_share,
       i.packets, i.bytes, i.unparsed_packets, i.distinct_sources, i.distinct_destinations,
       i.sources_sketch, i.destinations_sketch,
       {", ".join(f"coalesce(l.{name}, array()) AS {name}" for name, _, _ in _LIST_ROWS)}
FROM raw_exports i LEFT JOIN lists l ON i.sensor = l.sensor AND i.start_unix = l.start_unix
WHERE i.kind = 'interval'
"""

SNAPSHOTS_VIEW = "SELECT * FROM json_snapshots UNION ALL SELECT * FROM export_snapshots"

# `distinct`: the union of the interval sketches. `true` lets sketches of different lg_k merge
# (older snapshots hold lg_k 12): the union then has the smallest lg_k among them.
#
# The count reported is the union's composite estimate, which depends on its registers only, as
# `hhmon merge` reports it. Spark's `hll_sketch_estimate` of a union would otherwise give the
# HIP estimate wherever the union could replay coupons in order, and that order follows how
# Spark split and combined the partial aggregates: the same snapshots could give counts a few
# units apart. A union of the union with itself is marked out of order by DataSketches, so its
# estimate is the composite one (and a coupon-mode union's is its coupon count, unchanged).
DISTINCT_QUERY = """
SELECT {group_select} snapshots, sensors, start_unix, end_unix, packets, bytes,
       hll_sketch_estimate(hll_union(sources, sources, true)) AS distinct_sources,
       hll_sketch_estimate(hll_union(destinations, destinations, true)) AS distinct_destinations
FROM (
  SELECT {group_select}
         count(*) AS snapshots,
         count(DISTINCT sensor) AS sensors,
         min(start_unix) AS start_unix,
         max(start_unix + seconds) AS end_unix,
         sum(packets) AS packets,
         sum(bytes) AS bytes,
         hll_union_agg(sources_sketch, true) AS sources,
         hll_union_agg(destinations_sketch, true) AS destinations
  FROM selected
  {group_by}
)
{order_by}
"""

# `top`. Each sensor-interval (one snapshot) lists its largest keys by the measure. For a key:
# - lower: the sum of what the sensor-intervals listing it report;
# - upper: lower plus, for each sensor-interval that did not list it, its `gap`: the smallest
#   figure it listed (the key, had it been larger, would be listed), or 0 when its list is
#   complete, i.e. its entries' packets add up to every packet the snapshot decoded (no key is
#   missing from it; a list shorter than its --top is not enough, as exact lists of a quiet
#   interval and lists of different --top cannot be told apart by length).
# A key no one listed has upper bound `all_gaps`, so a rank is certain only when its lower
# bound also reaches that.
# Keys are ranked within their `part`: one for flows and addresses, one per address family and
# length for prefixes (each length is a ranking of its own, as in the snapshots). `{lists}`
# defines the CTE `lists`: one row per sensor-interval and part, with its list and its gap
# (ADDRESS_LISTS, PREFIX_LISTS).
# Both running bounds are frames that grow from the start of their order (the largest upper
# bound below a key is taken in descending rank): Spark evaluates a frame that ends at
# UNBOUNDED FOLLOWING again for every row, quadratic in the keys: `top --what flows` over a day
# of 50 sensors (every flow any sensor-interval listed) had not finished after 5 minutes on one
# core (docs/BENCHMARKS.md, "Export at scale (Spark)").
TOP_QUERY = """
WITH {lists},
hidden AS (
  SELECT part, coalesce(sum(gap), 0) AS all_gaps, count(*) AS sensor_intervals
  FROM lists GROUP BY part
),
keys AS (
  SELECT part, {key_select}, sum(e.{by}) AS lower, sum(gap) AS listed_gaps, count(*) AS listed_by
  FROM lists LATERAL VIEW explode(list) x AS e
  GROUP BY part, {key_group}
),
bounded AS (
  SELECT k.*, k.lower + h.all_gaps - k.listed_gaps AS upper, h.all_gaps, h.sensor_intervals
  FROM keys k JOIN hidden h ON k.part = h.part
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY part ORDER BY lower DESC, upper DESC, {key_order})
            AS rank
  FROM bounded
),
judged AS (
  SELECT *,
         lower >= greatest(all_gaps, coalesce(max(upper) OVER (PARTITION BY part ORDER BY rank DESC
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))
         AND upper <= coalesce(min(lower) OVER (PARTITION BY part ORDER BY rank
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), upper) AS rank_certain
  FROM ranked
)
SELECT * FROM judged WHERE rank <= {top} ORDER BY part, rank
"""

# The `lists` of flows and addresses: one part, a sensor-interval's list is the one named.
ADDRESS_LISTS = """
lists AS (
  SELECT sensor, start_unix, '' AS part, list,
         CASE WHEN aggregate(list, CAST(0 AS BIGINT), (acc, e) -> acc + e.packets)
                   >= packets - coalesce(unparsed_packets, 0)
              THEN 0 ELSE coalesce(array_min(transform(list, e -> e.{by})), 0) END AS gap
  FROM (SELECT sensor, start_unix, packets, unparsed_packets, coalesce({list}, array()) AS list
        FROM selected)
)"""

# The `lists` of prefixes: one part per address family and length that any sensor-interval
# listed (`{length_filter}` may keep one length), and for every sensor-interval its list of
# that part, possibly empty. A prefix list covers one family's packets only, so it is complete
# when its packets and those known to be of the other family (the most any one length's list
# of that family adds up to) reach the decoded packets. A sensor-interval that listed nothing
# of the part (no traffic of the family, or prefix views off or at other lengths) has as gap
# what it may have had of the family: all its traffic but that known to be of the other one.
PREFIX_LISTS = """
intervals AS (
  SELECT sensor, start_unix, packets - coalesce(unparsed_packets, 0) AS decoded, bytes,
         coalesce({list}, array()) AS entries
  FROM selected
),
sums AS (
  SELECT sensor, start_unix, instr(e.prefix, ':') > 0 AS ipv6, e.length AS length,
         sum(e.packets) AS packets, sum(e.bytes) AS bytes
  FROM intervals LATERAL VIEW explode(entries) x AS e
  GROUP BY sensor, start_unix, instr(e.prefix, ':') > 0, e.length
),
parts AS (SELECT DISTINCT ipv6, length FROM sums WHERE {length_filter}),
families AS (
  SELECT sensor, start_unix, ipv6, max(packets) AS packets, max(bytes) AS bytes
  FROM sums GROUP BY sensor, start_unix, ipv6
),
part_lists AS (
  SELECT i.sensor, i.start_unix, i.decoded, i.bytes, p.ipv6, p.length,
         concat(IF(p.ipv6, '6', '4'), lpad(CAST(p.length AS STRING), 3, '0')) AS part,
         filter(i.entries, e -> e.length = p.length AND (instr(e.prefix, ':') > 0) = p.ipv6)
             AS list
  FROM intervals i CROSS JOIN parts p
),
lists AS (
  SELECT l.sensor, l.start_unix, l.part, l.list,
         CASE WHEN coalesce(s.packets, 0) + coalesce(o.packets, 0) >= l.decoded THEN 0
              WHEN size(l.list) > 0 THEN array_min(transform(l.list, e -> e.{by}))
              ELSE greatest({all_of_family}, 0) END AS gap
  FROM part_lists l
  LEFT JOIN sums s ON s.sensor = l.sensor AND s.start_unix = l.start_unix
                  AND s.ipv6 = l.ipv6 AND s.length = l.length
  LEFT JOIN families o ON o.sensor = l.sensor AND o.start_unix = l.start_unix
                      AND o.ipv6 <> l.ipv6
)"""
# What a sensor-interval may have had of a family, by the measure.
_ALL_OF_FAMILY = {
    "packets": "l.decoded - coalesce(o.packets, 0)",
    "bytes": "l.bytes - coalesce(o.bytes, 0)",
}

# `fan-in` / `fan-out`, and the distinct addresses of prefixes: the union of the per-key
# sketches the sensor-intervals listed for a key (in either of their lists: a union is
# idempotent, so a sketch met twice counts once). `reported` is the largest count any one of
# them reported, a lower bound that needs no sketch. One row for one address (`{where}` is
# `e.address = :address`, `{group_select}` and `{group_by}` empty), or one per key `{where}`
# keeps (grouped by `key`).
FAN_QUERY = """
WITH listed AS (
  SELECT sensor, start_unix, e.{key} AS key, e.{count} AS reported, e.{sketch} AS sketch
  FROM selected LATERAL VIEW explode(concat(coalesce({list}, array()),
                                           coalesce({list_by_bytes}, array()))) x AS e
  WHERE {where}
)
SELECT {group_select}(SELECT count(*) FROM selected) AS sensor_intervals,
       count(DISTINCT sensor, start_unix) AS listed_by,
       count(DISTINCT CASE WHEN sketch IS NOT NULL THEN struct(sensor, start_unix) END)
           AS with_sketch,
       max(reported) AS reported,
       hll_union_agg(sketch, true) AS peers
FROM listed
{group_by}
"""
# The composite estimate, for the reasons given at DISTINCT_QUERY; none without a sketch (the
# union of no sketch is an empty sketch, whose 0 would read as a count).
FAN_ESTIMATE = """
SELECT {group_select}sensor_intervals, listed_by, with_sketch, reported,
       CASE WHEN with_sketch > 0 THEN hll_sketch_estimate(hll_union(peers, peers, true)) END
           AS estimate
FROM ({fan})
"""

# `top` of prefixes: each with its distinct addresses network-wide (FAN_QUERY by prefix).
PREFIX_TOP_QUERY = """
SELECT t.*, a.estimate AS distinct_addresses, a.reported AS distinct_addresses_reported,
       coalesce(a.with_sketch, 0) AS addresses_with_sketch
FROM ({top}) t LEFT JOIN ({addresses}) a ON t.prefix = a.key
ORDER BY t.part, t.rank
"""

# hhmon's --hhh-share default (DEFAULT_HIERARCHICAL_SHARE).
DEFAULT_HHH_SHARE = 0.05
# `hhh`: the candidates are every key of a direction's address list and prefix lists by
# packets, with its bounds (TOP_QUERY at every rank: `{addresses}`, `{prefixes}`), an address
# as the full-length prefix hhmon makes of it.
HHH_CANDIDATES_QUERY = """
SELECT concat(address, IF(instr(address, ':') > 0, '/128', '/32')) AS prefix, lower, upper,
       listed_by, sensor_intervals
FROM ({addresses})
UNION ALL
SELECT prefix, lower, upper, listed_by, sensor_intervals FROM ({prefixes})
"""
# They are judged against the packets of every selected sensor-interval, at the largest share
# any of them was written with (the strictest, as `hhmon merge` takes it); one that carries
# none (an exported interval, a snapshot older than the field) was computed at hhmon's default.
HHH_TOTALS_QUERY = f"""
SELECT coalesce(sum(packets), 0) AS packets, count(*) AS sensor_intervals,
       coalesce(max(coalesce(hierarchical_share, {DEFAULT_HHH_SHARE})), {DEFAULT_HHH_SHARE})
           AS share
FROM selected
"""
# A rank past any list's end: TOP_QUERY then keeps every key.
_EVERY_RANK = 2**31 - 1

_LISTS = {
    ("flows", "packets"): "top_flows",
    ("flows", "bytes"): "top_flows_by_bytes",
    ("sources", "packets"): "top_sources",
    ("sources", "bytes"): "top_sources_by_bytes",
    ("destinations", "packets"): "top_destinations",
    ("destinations", "bytes"): "top_destinations_by_bytes",
    ("source-prefixes", "packets"): "top_source_prefixes",
    ("source-prefixes", "bytes"): "top_source_prefixes_by_bytes",
    ("destination-prefixes", "packets"): "top_destination_prefixes",
    ("destination-prefixes", "bytes"): "top_destination_prefixes_by_bytes",
}
_PREFIXES = ("source-prefixes", "destination-prefixes")
_FLOW_KEY = ["src", "dst", "src_port", "dst_port", "protocol"]


def _address_order(column):
    """SQL that sorts addresses as hhmon ranks ties: IPv4 before IPv6, IPv4 by value.

    IPv6 sorts by its text, which follows its value only within one compressed form; ties
    between IPv6 keys at a list's cut are rare enough not to warrant expanding `::` in SQL.
    """
    octets = ", ".join(f"lpad(split({column}, '[.]')[{i}], 3, '0')" for i in range(4))
    return (
        f"CASE WHEN instr({column}, ':') = 0 THEN concat('4', {octets}) "
        f"ELSE concat('6', {column}) END"
    )


def _key_sql(what):
    """The SELECT, GROUP BY and ORDER BY parts naming a top list's key."""
    if what == "flows":
        select = ", ".join(f"e.{f} AS {f}" for f in _FLOW_KEY)
        group = ", ".join(f"e.{f}" for f in _FLOW_KEY)
        order = ", ".join(
            [_address_order("src"), _address_order("dst"), "src_port", "dst_port", "protocol"]
        )
        return select, group, order
    if what in _PREFIXES:
        # Within a part every prefix has the same length: ties go by network address.
        return ("e.prefix AS prefix, e.length AS length", "e.prefix, e.length",
                _address_order("substring_index(prefix, '/', 1)"))
    return "e.address AS address", "e.address", _address_order("address")


def _lists_sql(what, by, length=None):
    """The `lists` CTE of TOP_QUERY for the list of `what` by `by`."""
    if what not in _PREFIXES:
        return ADDRESS_LISTS.format(list=_LISTS[(what, by)], by=by)
    return PREFIX_LISTS.format(
        list=_LISTS[(what, by)], by=by, all_of_family=_ALL_OF_FAMILY[by],
        length_filter="true" if length is None else f"length = {int(length)}",
    )


def _fan_sql(direction, group_by_key=False, where="e.address = :address"):
    """FAN_ESTIMATE of `direction`: "in" (the sources of destinations), "out" (the
    destinations of sources), or "source-prefixes" / "destination-prefixes" (their addresses);
    of one key, or of every key `where` keeps, one row per key."""
    if direction in ("in", "out"):
        peers, listed = ("sources", "destinations") if direction == "in" else ("destinations", "sources")
        parts = dict(key="address", list=f"top_{listed}", list_by_bytes=f"top_{listed}_by_bytes",
                     count=f"distinct_{peers}", sketch=f"distinct_{peers}_sketch")
    else:
        parts = dict(key="prefix", list=_LISTS[(direction, "packets")],
                     list_by_bytes=_LISTS[(direction, "bytes")],
                     count="distinct_addresses", sketch="distinct_addresses_sketch")
    group_select = "key, " if group_by_key else ""
    fan = FAN_QUERY.format(group_select=group_select, where=where,
                           group_by="GROUP BY key" if group_by_key else "", **parts)
    return FAN_ESTIMATE.format(group_select=group_select, fan=fan)


def parse_time(text):
    """Unix seconds from Unix seconds or an RFC 3339 time (a time without zone is UTC)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not Unix seconds nor an RFC 3339 time: {text!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())


def parse_share(text):
    """A share of packets as hhmon's --hhh-share takes it: a fraction above 0 and at most 1
    (0.05), or a percentage (5%)."""
    number = text.strip()
    percent = number.endswith("%")
    try:
        share = float(number[:-1].rstrip()) / 100 if percent else float(number)
    except ValueError:
        share = math.nan
    # NaN fails the comparison too.
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"not a share above 0 and at most 1, e.g. 0.05 or 5%: {text!r}")
    return share


def parse_address(text):
    """An address in the form snapshots write it (dotted quad, RFC 5952 for IPv6)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}")


def session(remote=None, master=None):
    """A Spark Connect session with `remote`, else the one spark-submit set up, else local."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        sys.exit("hhmon-spark: this Python has no pyspark: pip install 'pyspark[connect]==4.0.1' "
                 "(Spark 3.5 or later; spark/README.md)")

    if remote:
        return SparkSession.builder.remote(remote).getOrCreate()
    builder = SparkSession.builder.appName("hhmon-spark")
    # Under spark-submit the JVM is already up with its --master; started from plain Python
    # the job runs in-process on two cores unless told otherwise.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = (
            builder.master(master or "local[2]")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def register(spark, paths, start=None, end=None, sensors=None):
    """Registers the views `snapshots` (every snapshot and exported interval under `paths`)
    and `selected` (those of the time range [start, end) on `start_unix` and of `sensors`)."""
    # Spark skips names starting with a dot or an underscore, so an export's staging area and
    # temporary files are never read.
    def files(glob):
        return spark.read.option("recursiveFileLookup", "true").option("pathGlobFilter", glob)

    raw = (
        files("hhmon-*.json")
        .schema(SCHEMA)
        # A file that is not JSON is an error, not a row of nulls that would vanish from sums.
        .option("mode", "FAILFAST")
        .json(list(paths))
        # The file's path is a metadata column of the reader, which a view does not pass on.
        .selectExpr("*", "_metadata.file_path AS file_path")
    )
    raw.createOrReplaceTempView("raw_snapshots")
    exports = files("hhmon-*.parquet").schema(EXPORT_SCHEMA).parquet(*paths)
    exports.selectExpr("*", "_metadata.file_path AS file_path").createOrReplaceTempView("raw_exports")
    spark.sql(f"CREATE OR REPLACE TEMP VIEW json_snapshots AS {SNAPSHOTS_FROM_JSON}")
    spark.sql(f"CREATE OR REPLACE TEMP VIEW export_snapshots AS {SNAPSHOTS_FROM_EXPORT}")
    spark.sql(f"CREATE OR REPLACE TEMP VIEW snapshots AS {SNAPSHOTS_VIEW}")
    where = ["true"]
    if start is not None:
        where.append(f"start_unix >= {int(start)}")
    if end is not None:
        where.append(f"start_unix < {int(end)}")
    if sensors:
        where.append("sensor IN (" + ", ".join(_sql_string(s) for s in sensors) + ")")
    spark.sql(f"CREATE OR REPLACE TEMP VIEW selected AS SELECT * FROM snapshots WHERE {' AND '.join(where)}")


def _sql_string(text):
    """A SQL string literal of `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def distinct(spark, per=None):
    """Distinct sources and destinations of `selected`: one row overall, or one per interval
    (`per="interval"`) or sensor (`per="sensor"`)."""
    group = {None: "", "interval": "start_unix", "sensor": "sensor"}[per]
    query = DISTINCT_QUERY.format(
        group_select=f"{group} AS {per}," if per else "",
        group_by=f"GROUP BY {group}" if per else "",
        order_by=f"ORDER BY {per}" if per else "",
    )
    return [_plain(row.asDict()) for row in spark.sql(query).collect()]


def top(spark, what, by, n, length=None):
    """The `n` top keys of `selected` by `by`, with bounds and certainty (see TOP_QUERY); for
    prefixes, the `n` top of each length (or of `length` only), IPv4 lengths first, shortest
    first, each with its distinct addresses network-wide (PREFIX_TOP_QUERY)."""
    select, group, order = _key_sql(what)
    query = TOP_QUERY.format(
        lists=_lists_sql(what, by, length), by=by, key_select=select, key_group=group,
        key_order=order, top=int(n),
    )
    keys = {"flows": _FLOW_KEY, "sources": ["address"], "destinations": ["address"]}.get(
        what, ["prefix", "length"])
    if what in _PREFIXES:
        where = "true" if length is None else f"e.length = {int(length)}"
        query = PREFIX_TOP_QUERY.format(top=query, addresses=_fan_sql(what, True, where))
    out = []
    for row in spark.sql(query).collect():
        row = _plain(row.asDict())
        entry = {"rank": row["rank"]}
        entry.update({k: row[k] for k in keys})
        entry.update(
            lower=row["lower"],
            upper=row["upper"],
            exact=row["lower"] == row["upper"],
            rank_certain=bool(row["rank_certain"]),
            listed_by=row["listed_by"],
            sensor_intervals=row["sensor_intervals"],
        )
        if what in _PREFIXES:
            entry.update({k: row[k] for k in ("distinct_addresses", "distinct_addresses_reported",
                                              "addresses_with_sketch")})
        out.append(entry)
    return out


def hhh(spark, direction, share=None):
    """The network-wide hierarchical heavy hitters of `direction` ("sources" or
    "destinations") over `selected`, at `share` or else the largest share of the selected
    snapshots: a dict with the share, the packets it is a share of, and the entries (see
    `hierarchical`)."""
    prefixes = f"{direction[:-1]}-prefixes"
    candidates = HHH_CANDIDATES_QUERY.format(
        addresses=_every_key_sql(direction), prefixes=_every_key_sql(prefixes))
    totals = _plain(spark.sql(HHH_TOTALS_QUERY).collect()[0].asDict())
    share = totals["share"] if share is None else share
    # Rounded up, as hhmon does: a key just under the share is not heavy.
    threshold = max(math.ceil(totals["packets"] * share), 1)
    keys = [_plain(row.asDict()) for row in spark.sql(candidates).collect()]
    return dict(share=share, packets=totals["packets"], threshold=threshold,
                sensor_intervals=totals["sensor_intervals"], entries=hierarchical(keys, threshold))


def _every_key_sql(what):
    """TOP_QUERY of every key of `what` by packets."""
    select, group, order = _key_sql(what)
    return TOP_QUERY.format(lists=_lists_sql(what, "packets"), by="packets", key_select=select,
                            key_group=group, key_order=order, top=_EVERY_RANK)


def hierarchical(keys, threshold):
    """The hierarchical heavy hitters among `keys` (rows of HHH_CANDIDATES_QUERY: `prefix`, a
    CIDR network, `lower`, its packets, and its bounds), as src/monitor/hhh.rs finds them: from
    the longest to the shortest, those whose packets less those of their outermost heavy
    descendants reach `threshold`. Longest first, then by conditioned packets, largest first,
    then by network (IPv4 before IPv6)."""
    networks = {key["prefix"]: ipaddress.ip_network(key["prefix"]) for key in keys}

    def order(network, count):
        return (-network.prefixlen, -count, network.version, int(network.network_address))

    heavy = []
    for key in sorted(keys, key=lambda k: order(networks[k["prefix"]], k["lower"])):
        network = networks[key["prefix"]]
        inside = [h for h in heavy if h["network"] != network and _within(network, h["network"])]
        # Only the outermost heavy descendants: the others are already in their counts.
        outermost = [h for h in inside if not any(
            o["network"] != h["network"] and _within(o["network"], h["network"]) for o in inside)]
        conditioned = max(key["lower"] - sum(h["packets"] for h in outermost), 0)
        if conditioned >= threshold:
            heavy.append(dict(key, network=network, packets=key["lower"],
                              conditioned_packets=conditioned))
    heavy.sort(key=lambda h: order(h["network"], h["conditioned_packets"]))
    return [{"prefix": h["prefix"], "length": h["network"].prefixlen, "packets": h["packets"],
             "packets_upper": h["upper"], "conditioned_packets": h["conditioned_packets"],
             "listed_by": h["listed_by"], "sensor_intervals": h["sensor_intervals"]}
            for h in heavy]


def _within(outer, inner):
    """Whether network `inner` lies inside network `outer` (or is it)."""
    return inner.version == outer.version and inner.prefixlen >= outer.prefixlen and (
        inner.network_address in outer)


def fan(spark, direction, address):
    """Distinct peers of `address`: `direction` "in" counts its sources, "out" its
    destinations."""
    row = spark.sql(_fan_sql(direction), args={"address": address}).collect()[0]
    return _plain(row.asDict())


def _plain(row):
    """Row values as JSON numbers (a sum of BIGINT may come back as Decimal)."""
    return {k: (int(v) if v is not None and type(v).__name__ == "Decimal" else v) for k, v in row.items()}


def _flow_text(entry):
    def end(address, port):
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

    return f"{end(entry['src'], entry['src_port'])} > {end(entry['dst'], entry['dst_port'])} proto {entry['protocol']}"


def _table(headers, rows):
    """Columns aligned: text left, numbers right."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))]
    lines = []
    for row in [headers] + cells:
        lines.append("  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)
        ).rstrip())
    return "\n".join(lines)


def _when(unix):
    if unix is None:
        return None
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# The key's column in the table of `top --what`.
_KEY_NAMES = {"flows": "flow", "sources": "source", "destinations": "destination",
              "source-prefixes": "source prefix", "destination-prefixes": "destination prefix"}


def render(args, result):
    """The readable table of a subcommand's result."""
    if args.command == "distinct":
        per = args.per
        headers = ([per] if per else []) + ["snapshots", "sensors", "start", "end", "packets", "bytes",
                                             "distinct sources", "distinct destinations"]
        rows = []
        for r in result["rows"]:
            key = [_when(r[per]) if per == "interval" else r[per]] if per else []
            rows.append(key + [r["snapshots"], r["sensors"], _when(r["start_unix"]), _when(r["end_unix"]),
                               r["packets"], r["bytes"], r["distinct_sources"], r["distinct_destinations"]])
        return _table(headers, rows)
    if args.command == "top":
        what = args.what.replace("-", " ")
        headers = ["rank", _KEY_NAMES[args.what],
                   f"{args.by} >=", f"{args.by} <=", "rank certain", "listed by"]
        rows = []
        for e in result["entries"]:
            key = _flow_text(e) if args.what == "flows" else e.get("address", e.get("prefix"))
            rows.append([e["rank"], key, e["lower"], e["upper"], "yes" if e["rank_certain"] else "no",
                         f"{e['listed_by']}/{e['sensor_intervals']}"])
            if args.what in _PREFIXES:
                rows[-1].append(e["distinct_addresses"])
        if args.what in _PREFIXES:
            # The ranks start again at each length.
            headers.append("distinct addresses")
        return f"top {what} by {args.by}\n" + _table(headers, rows)
    if args.command == "hhh":
        r = result
        headers = ["prefix", "packets >=", "packets <=", "conditioned", "listed by"]
        rows = [[e["prefix"], e["packets"], e["packets_upper"], e["conditioned_packets"],
                 f"{e['listed_by']}/{e['sensor_intervals']}"] for e in r["entries"]]
        return (f"hierarchical heavy hitters of {r['direction']}: at least {r['share']:g} of "
                f"{r['packets']} packets ({r['threshold']}) on their own\n" + _table(headers, rows))
    r = result
    peers = "sources" if args.command == "fan-in" else "destinations"
    return "\n".join([
        f"{args.command} of {r['address']}: distinct {peers}",
        f"  estimate (union of per-address sketches): {r['estimate'] if r['estimate'] is not None else 'none (no sketch listed)'}",
        f"  largest one sensor-interval reported:      {r['reported'] if r['reported'] is not None else 'none'}",
        f"  sensor-intervals listing it: {r['listed_by']} of {r['sensor_intervals']}, with a sketch: {r['with_sketch']}",
    ])


def parser():
    p = argparse.ArgumentParser(
        prog="hhmon-spark",
        description="Network-wide questions over many sensors' hhmon snapshots, with Spark.",
    )
    p.add_argument("--remote", metavar="sc://HOST:PORT", help="run on a Spark Connect server")
    p.add_argument("--master", help="Spark master when run from plain Python (default local[2])")
    p.add_argument("--from", dest="start", type=parse_time, metavar="TIME",
                   help="intervals starting at or after TIME (RFC 3339 or Unix seconds)")
    p.add_argument("--to", dest="end", type=parse_time, metavar="TIME",
                   help="intervals starting before TIME (RFC 3339 or Unix seconds)")
    p.add_argument("--sensor", action="append", metavar="NAME", help="only this sensor (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("distinct", help="distinct sources and destinations network-wide")
    d.add_argument("--per", choices=["interval", "sensor"])
    t = sub.add_parser("top", help="top flows, sources, destinations or prefixes network-wide, "
                                   "with bounds")
    t.add_argument("--what", choices=["flows", "sources", "destinations", *_PREFIXES], default="flows")
    t.add_argument("--by", choices=["packets", "bytes"], default="packets")
    t.add_argument("--top", "-n", type=int, default=20, metavar="N",
                   help="keys to list (for prefixes: per length)")
    t.add_argument("--length", type=int, metavar="L",
                   help="with --what *-prefixes: only the prefixes of this length")
    h = sub.add_parser("hhh", help="hierarchical heavy hitters of sources or destinations "
                                   "network-wide")
    h.add_argument("--direction", choices=["sources", "destinations"], required=True)
    h.add_argument("--share", type=parse_share, metavar="S",
                   help="of the selected packets, 0.05 or 5%% (default: the largest share the "
                        "snapshots were written with; 0.05 for export trees)")
    for name, peers in [("fan-in", "sources"), ("fan-out", "destinations")]:
        f = sub.add_parser(name, help=f"distinct {peers} of one address network-wide")
        f.add_argument("address", type=parse_address, metavar="ADDRESS")
    for s in [d, t, h] + [sub.choices["fan-in"], sub.choices["fan-out"]]:
        s.add_argument("paths", nargs="+", metavar="PATH",
                       help="snapshot directories (searched recursively for hhmon-*.json)")
    return p


def run(args, spark):
    """The result of the command line `args` as a JSON-ready dict."""
    register(spark, args.paths, args.start, args.end, args.sensor)
    result = {
        "command": args.command,
        "from": args.start,
        "to": args.end,
        "sensors": args.sensor,
    }
    if args.command == "distinct":
        result.update(per=args.per, rows=distinct(spark, args.per))
    elif args.command == "top":
        result.update(what=args.what, by=args.by, top=args.top)
        if args.what in _PREFIXES:
            result.update(length=args.length)
        result.update(entries=top(spark, args.what, args.by, args.top, args.length))
    elif args.command == "hhh":
        result.update(direction=args.direction, **hhh(spark, args.direction, args.share))
    else:
        direction = "in" if args.command == "fan-in" else "out"
        result.update(address=args.address, **fan(spark, direction, args.address))
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "top" and args.top < 1:
        parser().error("--top must be at least 1")
    if args.command == "top" and args.length is not None and (
            args.what not in _PREFIXES or not 1 <= args.length <= 128):
        parser().error("--length takes a prefix length (1 to 128) with --what source-prefixes "
                       "or destination-prefixes")
    spark = session(args.remote, args.master)
    try:
        result = run(args, spark)
    except Exception as error:
        # Spark's own errors (a path that does not exist, a file that is not a snapshot) say
        # what is wrong in their first line; the JVM stack behind it helps no one here.
        if not type(error).__module__.startswith(("pyspark", "py4j")):
            raise
        lines = str(error).strip().splitlines() or [type(error).__name__]
        said = next((line for line in lines if "SQLSTATE" in line), lines[0])
        sys.exit(f"hhmon-spark: {said.lstrip(': ')}")
    finally:
        spark.stop()
    if args.json:
        print(json.dumps(result, indent=None, sort_keys=False))
    else:
        print(render(args, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
