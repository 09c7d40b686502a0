#!/usr/bin/env bash
# Sourced by the benchmark scripts: the peers' virtual environment `.venv-bench`,
# on top of Debian's python3-torch (CPU; never the multi-GB CUDA wheel from PyPI),
# plus the pip packages named as arguments. Sets $venv.
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch python3-venv >/dev/null
fi
venv=.venv-bench
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
if [ $# -gt 0 ]; then
  "$venv/bin/python" -c "import $(IFS=,; echo "${*//-cpu/}")" 2>/dev/null \
    || "$venv/bin/pip" install -q "$@" "numpy<2" || true
fi
