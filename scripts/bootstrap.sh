#!/usr/bin/env bash
# Installs the system packages the project needs on a fresh Debian machine (run as root).
# Idempotent: installs only what is missing. Swift itself is expected on PATH.
set -euo pipefail

packages=(libopenblas-dev libprotobuf-c-dev zlib1g-dev pkg-config dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (Swift 6.1 or later is required)" >&2; exit 1; }
