# Sourced by the benchmark scripts after `cd` to the repository: installs what the
# project needs, activates the faiss-cpu virtual environment ($venv), builds the
# release products named as arguments (default bct-bench), and sets $bin (their
# folder) and $work (a temporary folder removed on exit).
scripts/bootstrap.sh
source scripts/bench-venv.sh faiss-cpu
for product in "${@:-bct-bench}"; do swift build -c release --product "$product" 2>&1 | tail -1; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
