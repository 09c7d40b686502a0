# Sourced by the benchmark scripts after `cd` to the repository: installs what the
# project needs, activates the faiss-cpu virtual environment ($venv), builds the
# release products named as arguments (default bct-bench), and sets $bin (their
# folder) and $work (a temporary folder removed on exit); defines random_vectors_and_model.
scripts/bootstrap.sh
source scripts/bench-venv.sh faiss-cpu
for product in "${@:-bct-bench}"; do swift build -c release --product "$product" 2>&1 | tail -1; done
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Writes $work/random.npy (COUNT uniform unit 128-d vectors, seed 42) and
# $work/random-queries.npy (1,000 more), and trains the small model ($work/model)
# whose Fashion-MNIST embeddings the benchmarks grow into a catalogue.
random_vectors_and_model() {
  "$venv/bin/python" - "$work" "$1" <<'PY'
import sys, numpy as np
work, count = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(42)
for name, rows in [("random", count), ("random-queries", 1000)]:
    x = rng.standard_normal((rows, 128)).astype("float32")
    np.save(f"{work}/{name}.npy", x / np.linalg.norm(x, axis=1, keepdims=True))
PY
  "$bin/bct" train --arch mlp --epochs 2 --fraction 0.2 --out "$work/model" >/dev/null 2>&1
}
