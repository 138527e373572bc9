#!/usr/bin/env bash
# Installs the system packages hhmon needs (Debian 12 / Ubuntu).
#   scripts/install-deps.sh         build and run: libpcap-dev, pkg-config
#   scripts/install-deps.sh --test  also the real programs the tests run against:
#                                   tshark (independent decoder), prometheus + promtool,
#                                   tcpreplay and iproute2 (live capture in namespaces),
#                                   systemd (systemd-analyze checks the unit),
#                                   util-linux (setpriv), libcap2-bin (setcap) and procps
#                                   (sysctl, kill) for the privilege and signal tests,
#                                   chromium (renders the status page headless),
#                                   tmux (drives `hhmon top` in a terminal),
#                                   Apache DataSketches for Python (reads hhmon's sketches)
#                                   and PySpark with the Spark Connect extras (the engine the
#                                   Spark job in spark/ runs on, with Debian's Java 17),
#                                   maturin, pytest and heavykeeper (the CHK bindings)
#                                   in a virtual environment at $HHMON_TEST_VENV
#                                   (default /opt/hhmon-test-venv)
set -euo pipefail
packages=(libpcap-dev pkg-config)
if [ "${1:-}" = "--test" ]; then
    packages+=(tshark prometheus tcpreplay iproute2 gzip systemd util-linux libcap2-bin procps python3-venv chromium tmux openjdk-17-jre-headless softflowd pmacct)
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "${1:-}" = "--test" ]; then
    venv="${HHMON_TEST_VENV:-/opt/hhmon-test-venv}"
    # Installed again whenever one of them does not import (a venv made before pyspark was
    # needed, or a broken one); pip leaves what is already at the pinned version alone.
    if ! "$venv/bin/python3" -c "import datasketches, pyspark, pyspark.sql.connect.session" 2>/dev/null; then
        # Debian's own Python, which the python3-venv package above equips.
        $sudo /usr/bin/python3 -m venv "$venv"
        # pyspark's Connect client libraries are pinned to the versions the tests passed with,
        # so a new release of one cannot change what the tests run against unnoticed.
        $sudo "$venv/bin/pip" install --quiet "datasketches==5.2.0" "pyspark[connect]==4.0.1" \
            "pandas==3.1.1" "pyarrow==26.0.1" "grpcio==1.85.3" "grpcio-status==1.85.3" \
            "googleapis-common-protos==1.76.0" "protobuf==7.36.2"
    fi
    # The CHK crate's Python bindings (crates/chk-py): maturin builds the wheel, pytest runs its
    # tests, and the heavykeeper package is what its benchmark compares against.
    if ! "$venv/bin/python3" -c "import maturin, pytest, heavykeeper" 2>/dev/null; then
        $sudo "$venv/bin/pip" install --quiet "maturin==1.16.0" "pytest==9.2.0" \
            "heavykeeper==0.2.5"
    fi
fi
