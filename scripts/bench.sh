#!/usr/bin/env bash
# Runs the engine benchmark (bench/compare.ts, compiled by setup.sh into build/ts/bench):
# finetune vs PyTorch on the same libtorch and thread count. Options: --threads N, --runs N,
# --quick, --strict (exit 1 when a target is missed). Results go to bench/results/.
# --suite models runs the models benchmark instead (bench/compare-models.ts; needs the Python
# reference stack of tools/setup-pyref.sh); --suite models --help lists its options.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/ts/bench/compare.js ]; then echo "bench not compiled (build/ts/bench/compare.js); run npm run setup" >&2; exit 1; fi
exec node build/ts/bench/compare.js "$@"
