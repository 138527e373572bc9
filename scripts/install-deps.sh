#!/usr/bin/env bash
# Installs the system packages hhmon needs (Debian 12 / Ubuntu).
#   scripts/install-deps.sh         build and run: libpcap-dev, pkg-config
#   scripts/install-deps.sh --test  also the real programs the tests run against:
#                                   tshark (independent decoder), prometheus + promtool,
#                                   tcpreplay and iproute2 (live capture in namespaces),
#                                   systemd (systemd-analyze checks the unit),
#                                   util-linux (setpriv), libcap2-bin (setcap) and procps
#                                   (sysctl, kill) for the privilege and signal tests
set -euo pipefail
packages=(libpcap-dev pkg-config)
if [ "${1:-}" = "--test" ]; then
    packages+=(tshark prometheus tcpreplay iproute2 gzip systemd util-linux libcap2-bin procps)
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
