#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets from the shipped captures (see
# src/bin/seed_corpus.rs): fuzz/corpus/decode/, one file per distinct frame, and
# fuzz/corpus/pcap_file/, one file per classic pcap capture (its records behind a header
# selector byte, damaged captures included), and fuzz/corpus/netflow/, one file per NetFlow
# or IPFIX export of captures/flow-telemetry/.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
cargo run --quiet --manifest-path "$fuzz/Cargo.toml" --bin seed_corpus -- \
    "$fuzz/../captures" "$fuzz/corpus/decode" "$fuzz/corpus/pcap_file" "$fuzz/corpus/netflow"
