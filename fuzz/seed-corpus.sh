#!/usr/bin/env bash
# Writes the seed corpus of the `decode` fuzz target from the shipped captures:
# fuzz/corpus/decode/, one file per distinct frame (see src/bin/seed_corpus.rs).
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
cargo run --quiet --manifest-path "$fuzz/Cargo.toml" --bin seed_corpus -- \
    "$fuzz/../captures" "$fuzz/corpus/decode"
