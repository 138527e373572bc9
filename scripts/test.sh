#!/usr/bin/env bash
# The whole test suite: system packages, formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where install-deps puts the Python that reads hhmon's sketches (tests/it/python_datasketches.rs).
export HHMON_TEST_VENV="${HHMON_TEST_VENV:-/opt/hhmon-test-venv}"
scripts/install-deps.sh --test
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The CHK crate's Python bindings are a workspace of their own (they link libpython).
cargo fmt --manifest-path crates/chk-py/Cargo.toml -- --check
cargo clippy --manifest-path crates/chk-py/Cargo.toml --locked -- -D warnings
# Benches are compiled by clippy above and run with `cargo bench` (figures, not tests).
cargo test --locked
# The bindings' wheel, built by maturin from the committed lock file into the test venv, and
# their tests; a missing Rust or maturin fails here (pip runs maturin from the venv's bin).
PATH="$HHMON_TEST_VENV/bin:$PATH" MATURIN_PEP517_ARGS="--locked" \
    "$HHMON_TEST_VENV/bin/pip" install --quiet --no-build-isolation --force-reinstall \
    ./crates/chk-py
"$HHMON_TEST_VENV/bin/python" -m pytest -q crates/chk-py/tests
# The Spark job (spark/) against the real engine, in local mode and over Spark Connect; it runs
# the debug hhmon that cargo test just built to make its snapshots.
"$HHMON_TEST_VENV/bin/python" -m unittest discover -s spark -v
