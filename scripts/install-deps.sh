#!/usr/bin/env bash
# Installs the system packages hhmon builds and tests with (Debian 12 / Ubuntu).
# libpcap-dev: the capture library; tshark: the independent decoder the tests compare with;
# prometheus (with promtool): the real server and checker of the end-to-end tests;
# tcpreplay, iproute2: live-capture tests in network namespaces.
set -euo pipefail
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
packages=(libpcap-dev tshark prometheus tcpreplay iproute2 pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
