#!/usr/bin/env bash
# The lint gate, run by scripts/test.sh before the tests and by `npm run lint`: ESLint (typescript-eslint's
# recommended rules, eslint.config.js), Prettier's formatting (.prettierrc.json) and jscpd's duplicate-code check
# (.jscpd.json). The three run side by side and each reports in full, so one run shows every finding; any finding
# fails the gate. ESLint and Prettier keep caches under build/ and node_modules/.cache, so a rerun checks only what
# changed.
#
# jscpd reports any block of 50 tokens and 5 lines or more (its defaults: a few statements, not a shared import
# line or a short call) found twice in src/, the generated src/tensor/aten.ts excluded. The deliberate repeats are
# marked in the code with `// jscpd:ignore-start` … `// jscpd:ignore-end` and listed here:
#   - src/models/bert.ts BertOutput: transformers' BertSelfOutput and BertOutput are separate copies of the same
#     dense → dropout → residual → LayerNorm layer, and their parameter names are the checkpoints' keys.
#   - src/models/resnet.ts Bottleneck: torchvision's BasicBlock and Bottleneck repeat conv → bn → relu per stage,
#     written out as torchvision writes them so that each module name matches a checkpoint key.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
"$bin/eslint" --cache --cache-location build/.eslintcache --max-warnings 0 . >"$logs/eslint" 2>&1 &
eslint=$!
"$bin/prettier" --check --cache --log-level warn 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts' 'tools/**/*.ts' \
  'examples/**/*.ts' '*.json' '*.js' >"$logs/prettier" 2>&1 &
prettier=$!
"$bin/jscpd" >"$logs/jscpd" 2>&1 &
jscpd=$!
status=0
for tool in eslint prettier jscpd; do
  if wait "${!tool}"; then
    echo "lint: $tool passed" >&2
  else
    cat "$logs/$tool" >&2
    echo "lint: $tool failed (above)" >&2
    status=1
  fi
done
exit "$status"
