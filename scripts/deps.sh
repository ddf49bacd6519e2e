#!/usr/bin/env bash
# Installs the Debian 12 packages etgrad's build needs, only those missing. Sourced by demo.sh and test.sh.
set -euo pipefail
etgrad_need=(g++ cmake make libboost-dev libxsimd-dev catch2 libbenchmark-dev "$@")
etgrad_missing=()
for p in "${etgrad_need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || etgrad_missing+=("$p")
done
if [ ${#etgrad_missing[@]} -gt 0 ]; then
  echo "etgrad: installing missing Debian packages: ${etgrad_missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${etgrad_missing[@]}" >/dev/null
fi
