#!/usr/bin/env bash
# Runs the lint gate, then the test suite (compiled by setup.sh into build/ts/test) with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(build/ts/test/*.test.js)
if [ ${#files[@]} -eq 0 ]; then echo "no compiled tests in build/ts/test; run npm run setup" >&2; exit 1; fi
# The lint gate first (ESLint, Prettier, jscpd): a finding fails the run before any test starts.
bash scripts/lint.sh
# Test files run one at a time: each uses every core through libtorch.
exec node --test --test-concurrency=1 "$@" "${files[@]}"
