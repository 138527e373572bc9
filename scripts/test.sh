#!/usr/bin/env bash
# The whole test suite: system packages, formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where install-deps puts the Python that reads hhmon's sketches (tests/it/python_datasketches.rs).
export HHMON_TEST_VENV="${HHMON_TEST_VENV:-/opt/hhmon-test-venv}"
scripts/install-deps.sh --test
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Benches are compiled by clippy above and run with `cargo bench` (figures, not tests).
cargo test --locked
# The Spark job (spark/) against the real engine, in local mode and over Spark Connect; it runs
# the debug hhmon that cargo test just built to make its snapshots.
"$HHMON_TEST_VENV/bin/python" -m unittest discover -s spark -v
