#!/usr/bin/env bash
# The export at scale (docs/BENCHMARKS.md, "Export at scale (Spark)"): SENSORS sensors, each
# replaying one synthetic day into one export tree with 10 s intervals and --fan-sketches, then
# the export's volume per sensor-day and the wall time of hhmon-spark's queries over the whole
# day in local mode.
#
#   scripts/spark-scale-bench.sh                 # 50 sensors x 1 day, ~20 min on 2 cores
#   SENSORS=2 DAY_SECONDS=3600 scripts/spark-scale-bench.sh    # a quick try
#
# Traffic: sensor N replays its own trace, `hhmon generate --seed N+1`, streamed into
# `hhmon replay` through a pipe (no pcap on disk): PACKETS_PER_SENSOR packets evenly over
# DAY_SECONDS from START (a UTC midnight), Zipf(1) over FLOWS flows; every ATTACK_EVERY-th sensor
# also carries the fan-in attack on 203.0.113.10 (ATTACK share of its packets). The seed picks
# the flows, but every seed draws its clients and servers from the same address pool
# (10.0.0.0/8 hosts 1..FLOWS/4, 172.16.0.0/12 hosts 1..FLOWS/50, and their IPv6 twins), so the
# sensors see overlapping addresses; the attack's spoofed sources differ per sensor.
#
# Environment (defaults in brackets):
#   SENSORS [50]  DAY_SECONDS [86400]  INTERVAL [10] (seconds)  START [1796256000 =
#   2026-12-03T00:00:00Z]  PACKETS_PER_SENSOR [1728000, rounded to a whole rate per second]
#   FLOWS [20000]  ATTACK [0.05]  ATTACK_EVERY [5]  PARALLEL [2] (sensors replayed at once)
#   HEAVY_RATE [1000] HEAVY_FLOWS [200000] (one more sensor-day, "heavy", in its own tree: a
#   busier sensor whose interval sketches are full HLL arrays; HEAVY_RATE=0 skips it)
#   SNAPSHOTS [1] (1 also measures sensor s01's day as JSON snapshots, then deletes them)
#   WORK [/tmp/hhmon-scale]  KEEP [0] (1 keeps WORK)  SKIP_EXPORT [0] (1 reuses WORK/export)
#   VENV [/opt/hhmon-test-venv] (a Python with pyspark, and Java)  SPARK_JOBS (extra options
#   to every hhmon-spark run, e.g. "--master local[2]")
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SENSORS=${SENSORS:-50}
DAY_SECONDS=${DAY_SECONDS:-86400}
INTERVAL=${INTERVAL:-10}
START=${START:-1796256000}
PACKETS_PER_SENSOR=${PACKETS_PER_SENSOR:-1728000}
FLOWS=${FLOWS:-20000}
ATTACK=${ATTACK:-0.05}
ATTACK_EVERY=${ATTACK_EVERY:-5}
PARALLEL=${PARALLEL:-2}
WORK=${WORK:-/tmp/hhmon-scale}
KEEP=${KEEP:-0}
SKIP_EXPORT=${SKIP_EXPORT:-0}
VENV=${VENV:-/opt/hhmon-test-venv}
SPARK_JOBS=${SPARK_JOBS:-}
HEAVY_RATE=${HEAVY_RATE:-1000}
HEAVY_FLOWS=${HEAVY_FLOWS:-200000}
SNAPSHOTS=${SNAPSHOTS:-1}
HHMON=$ROOT/target/release/hhmon
EXPORT=$WORK/export
VICTIM=203.0.113.10

RATE=$(( (PACKETS_PER_SENSOR + DAY_SECONDS - 1) / DAY_SECONDS ))
PACKETS=$(( RATE * DAY_SECONDS ))
INTERVALS=$(( DAY_SECONDS / INTERVAL ))

cleanup() {
    if [ "$KEEP" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# 1. The release binary.
if [ ! -x "$HHMON" ] || [ -n "$(find src Cargo.toml Cargo.lock -newer "$HHMON" -print -quit)" ]; then
    say "building the release hhmon"
    cargo build --release --locked --quiet
fi
[ -x "$VENV/bin/python" ] || { echo "no Python at $VENV (VENV=...)" >&2; exit 2; }
export PATH=$VENV/bin:$PATH

mkdir -p "$WORK"
say "$SENSORS sensors x $DAY_SECONDS s: $PACKETS packets each ($RATE/s), $FLOWS flows," \
    "attack $ATTACK on every ${ATTACK_EVERY}th sensor; $INTERVALS intervals of ${INTERVAL}s each"

# 2. One sensor-day per sensor, generated straight into the replay.
# sensor_day NAME SEED RATE FLOWS ATTACK REPLAY-OUTPUT-OPTIONS...
sensor_day() {
    local name=$1 seed=$2 rate=$3 flows=$4 attack=$5
    shift 5
    "$HHMON" generate --packets $(( rate * DAY_SECONDS )) --rate "$rate" --flows "$flows" \
        --seed "$seed" --start "$START" --attack "$attack" --out /dev/stdout \
        2>"$WORK/log/$name.generate" |
        "$HHMON" replay --quiet --sensor "$name" --interval "${INTERVAL}s" --fan-sketches "$@" - \
            2>"$WORK/log/$name.replay"
}
replay_sensor() {
    local n=$1 name attack=0
    name=$(printf 's%02d' "$n")
    if [ $(( n % ATTACK_EVERY )) -eq 0 ]; then attack=$ATTACK; fi
    sensor_day "$name" $(( n + 1 )) "$RATE" "$FLOWS" "$attack" --export-dir "$EXPORT"
}

if [ "$SKIP_EXPORT" != 1 ]; then
    rm -rf "$EXPORT"
    mkdir -p "$WORK/log"
    t0=$(now)
    running=0
    for (( n = 0; n < SENSORS; n++ )); do
        replay_sensor "$n" &
        running=$(( running + 1 ))
        if [ "$running" -ge "$PARALLEL" ]; then wait -n; running=$(( running - 1 )); fi
        if [ $(( (n + 1) % 10 )) -eq 0 ]; then say "started $(( n + 1 )) sensors"; fi
    done
    wait
    EXPORT_SECONDS=$(elapsed "$t0" "$(now)")
    say "export written in $EXPORT_SECONDS s"
    # Each replay's closing summary is on its stderr; a failed one stops the run.
    for f in "$WORK"/log/*.replay; do
        if grep -qi 'error\|cannot' "$f"; then echo "replay problem in $f:" >&2; cat "$f" >&2; exit 1; fi
    done
else
    EXPORT_SECONDS=reused
fi

# 3. Export volume: the tree, and for comparison the same sensor-day as JSON snapshots and a
# busier sensor-day.
volume() { # DIR GLOB: "files bytes"
    find "$1" -name "$2" -not -path '*/.*' -printf '%s\n' | awk '{ n++; s += $1 } END { print n + 0, s + 0 }'
}
SNAPSHOT_VOLUME="not measured"
if [ "$SNAPSHOTS" = 1 ]; then
    say "sensor s01's day as JSON snapshots"
    mkdir -p "$WORK/log"
    sensor_day snap01 2 "$RATE" "$FLOWS" 0 --snapshot-dir "$WORK/snapshots"
    read -r f b < <(volume "$WORK/snapshots" 'hhmon-*.json')
    SNAPSHOT_VOLUME="$f files, $b bytes ($(awk -v b="$b" -v f="$f" 'BEGIN { printf "%.1f MB, %.0f bytes each", b / 1e6, b / f }'))"
    rm -rf "$WORK/snapshots"
fi
HEAVY_VOLUME="not measured"
if [ "$HEAVY_RATE" != 0 ]; then
    say "one heavy sensor-day: $HEAVY_RATE packets/s, $HEAVY_FLOWS flows"
    mkdir -p "$WORK/log"
    t0=$(now)
    rm -rf "$WORK/heavy"
    sensor_day heavy 1001 "$HEAVY_RATE" "$HEAVY_FLOWS" "$ATTACK" --export-dir "$WORK/heavy"
    HEAVY_SECONDS=$(elapsed "$t0" "$(now)")
    read -r f b < <(volume "$WORK/heavy" 'hhmon-*.parquet')
    HEAVY_VOLUME="$f files, $b bytes ($(awk -v b="$b" 'BEGIN { printf "%.1f MB", b / 1e6 }')); written in $HEAVY_SECONDS s"
fi

FILES=$(find "$EXPORT" -name 'hhmon-*.parquet' -not -path '*/.*' | wc -l)
BYTES=$(find "$EXPORT" -name 'hhmon-*.parquet' -not -path '*/.*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
DU=$(du -sk "$EXPORT" | cut -f1)
STAGED=$(find "$EXPORT" -path '*/.hhmon-staging/*' -type f | wc -l)
SENSOR_DIRS=$(find "$EXPORT" -mindepth 2 -maxdepth 2 -type d -name 'sensor=*' -not -path '*/.*' | wc -l)

# 4. The job, one process per query, wall clock (JVM start included).
NAMES=()
TIMES=()
run_job() {
    local label=$1 out t start end
    shift
    out=$WORK/job-$(( ${#NAMES[@]} + 1 )).json
    say "hhmon-spark $*"
    start=$(now)
    # shellcheck disable=SC2086
    if ! "$ROOT/spark/hhmon-spark" $SPARK_JOBS --json "$@" >"$out" 2>"$out.log"; then
        echo "hhmon-spark $* failed:" >&2
        tail -n 30 "$out.log" >&2
        exit 1
    fi
    end=$(now)
    t=$(elapsed "$start" "$end")
    NAMES+=("$label")
    TIMES+=("$t")
    say "  $t s: $(head -c 600 "$out")"
}
mkdir -p "$WORK/empty"
run_job "JVM and session alone (empty directory)" distinct "$WORK/empty"
run_job "empty time range (lists and footers of the tree)" --from 0 --to 1 distinct "$EXPORT"
run_job "distinct" distinct "$EXPORT"
run_job "distinct --per sensor" distinct --per sensor "$EXPORT"
run_job "top --what destinations --by bytes --top 20" top --what destinations --by bytes --top 20 "$EXPORT"
run_job "top --what flows --top 20" top --what flows --top 20 "$EXPORT"
run_job "fan-in $VICTIM" fan-in "$VICTIM" "$EXPORT"
run_job "distinct --sensor s01 (one sensor of the tree)" --sensor s01 distinct "$EXPORT"
S01="$EXPORT/date=$(date -u -d "@$START" +%F)/sensor=s01"
run_job "distinct over one sensor's partition path" distinct "$S01"
run_job "top destinations by bytes, one sensor's partition path" top --what destinations --by bytes --top 20 "$S01"

# Per-interval distinct sources of one sensor, to describe the traffic model.
per_interval() {
    "$VENV/bin/python" - "$1" <<'EOF'
import json, statistics, sys
rows = json.load(open(sys.argv[1]))["rows"]
src = [r["distinct_sources"] for r in rows]
dst = [r["distinct_destinations"] for r in rows]
pk = [r["packets"] for r in rows]
print(f"{len(rows)} intervals; per interval: packets {statistics.mean(pk):.0f}, "
      f"distinct sources {statistics.mean(src):.0f} (min {min(src)}, max {max(src)}), "
      f"distinct destinations {statistics.mean(dst):.0f}")
EOF
}
run_job "distinct --per interval, sensor s01" --sensor s01 distinct --per interval "$EXPORT"
PER_INTERVAL=$(per_interval "$WORK/job-${#NAMES[@]}.json")
if [ "$HEAVY_RATE" != 0 ]; then
    run_job "distinct, the heavy sensor-day" distinct "$WORK/heavy"
    run_job "top destinations by bytes, the heavy sensor-day" top --what destinations --by bytes --top 20 "$WORK/heavy"
    run_job "distinct --per interval, the heavy sensor-day" distinct --per interval "$WORK/heavy"
    HEAVY_PER_INTERVAL=$(per_interval "$WORK/job-${#NAMES[@]}.json")
fi

# The whole tree's answer, for the record.
OVERALL=$(cat "$WORK/job-3.json")

# 5. Summary.
{
    echo
    echo "== hhmon export at scale: $SENSORS sensors x $DAY_SECONDS s, ${INTERVAL}s intervals, --fan-sketches"
    echo "traffic per sensor: $PACKETS packets ($RATE/s), $FLOWS flows, attack $ATTACK on every ${ATTACK_EVERY}th sensor"
    echo "sensor s01: $PER_INTERVAL"
    echo "export written in: $EXPORT_SECONDS s (generate | replay, $PARALLEL sensors at once)"
    echo "export: $SENSOR_DIRS sensor partitions, $FILES files, $BYTES bytes (du $DU KiB); staged left: $STAGED"
    awk -v f="$FILES" -v b="$BYTES" -v k="$DU" -v s="$SENSORS" -v d="$DAY_SECONDS" 'BEGIN {
        days = s * d / 86400
        printf "per sensor-day: %.1f files, %.2f MB (%.2f MiB on disk), %.0f bytes per file\n",
            f / days, b / days / 1e6, k / days / 1024, b / f }'
    echo "whole day's answer: $OVERALL"
    echo "sensor s01's day as JSON snapshots (--snapshot-dir): $SNAPSHOT_VOLUME"
    echo "heavy sensor-day ($HEAVY_RATE packets/s, $HEAVY_FLOWS flows): $HEAVY_VOLUME"
    if [ "$HEAVY_RATE" != 0 ]; then echo "heavy sensor: ${HEAVY_PER_INTERVAL:-}"; fi
    echo
    printf '%-55s %10s\n' "hhmon-spark --json ... (local[2], wall clock)" "seconds"
    for i in "${!NAMES[@]}"; do printf '%-55s %10s\n' "${NAMES[$i]}" "${TIMES[$i]}"; done
} | tee "$WORK/summary.txt"
if [ "$KEEP" = 1 ]; then echo "kept $WORK (summary.txt, job-*.json, log/)" >&2; fi
