#!/usr/bin/env bash
# The whole test suite: system packages, formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Benches are compiled by clippy above and run with `cargo bench` (figures, not tests).
cargo test --locked
