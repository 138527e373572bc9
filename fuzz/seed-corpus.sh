#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets from the shipped captures (see
# src/bin/seed_corpus.rs): fuzz/corpus/decode/, one file per distinct frame, and
# fuzz/corpus/pcap_file/, one file per classic pcap capture (its records behind a header
# selector byte, damaged captures included), fuzz/corpus/netflow/, one file per NetFlow or
# IPFIX export of captures/flow-telemetry/, and fuzz/corpus/sflow/, one file per sFlow datagram
# there (see src/bin/seed_telemetry.rs).
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
cargo run --quiet --manifest-path "$fuzz/Cargo.toml" --bin seed_corpus -- \
    "$fuzz/../captures" "$fuzz/corpus/decode" "$fuzz/corpus/pcap_file" "$fuzz/corpus/netflow"
cargo run --quiet --manifest-path "$fuzz/Cargo.toml" --bin seed_telemetry -- \
    "$fuzz/../captures/flow-telemetry" sflow- "$fuzz/corpus/sflow"
