#!/usr/bin/env bash
# The GPU check of issues 17 (the NCCL backend) and 18 (devices), for a machine with an NVIDIA GPU, the CUDA
# toolkit and a Python torch but possibly no Node, no npm registry and no internet (such as the workplace's
# device machine): builds the native addon against that machine's CUDA libtorch (NCCL compiled in), then runs
# the device tests (DEVICE_TESTS below, the CUDA smoke test among them) and one bench row, writing the logs and a
# summary under $OUT (default gpu-check-out/). About 5 minutes on 16 cores; each step has its own time limit.
#
#   bash scripts/gpu-check.sh --prepare   on a machine where this repository is set up (scripts/setup.sh ran):
#                                         packs what the GPU machine may lack into .gpu-carry/ (ignored by git):
#                                         Node and its N-API headers, npm's node-gyp, the production node_modules,
#                                         the Gloo headers, and the compiled dist/ and build/ts/ (about 40 MB)
#   bash scripts/gpu-check.sh             on the GPU machine, from the repository root, with .gpu-carry/ copied
#                                         there (the device tool: carry [".gpu-carry"])
#   bash scripts/gpu-check.sh --cpu       here, without a GPU: the same steps on the CPU libtorch the repository
#                                         is set up with (the smoke test on the CPU, a small bench row): checks
#                                         the script itself
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# The `node --test` files the check runs (build/ts/test/<name>.test.js); a name missing from this tree is
# reported and skipped.
DEVICE_TESTS=(device cuda)
CARRY=.gpu-carry
MODE=${1:-gpu}

log() { echo "[gpu-check] $*" >&2; }

# setup.sh's fingerprint of the TypeScript sources: a carried build/ts of other sources is stale.
ts_stamp() {
  find src test bench tools tsconfig*.json -type f \( -name '*.ts' -o -name '*.json' \) -print0 2>/dev/null |
    sort -z | xargs -0 cat | sha256sum | cut -c1-16
}

prepare() {
  set -e
  [ -f dist/cli/main.js ] && [ -f build/ts/test/cuda.test.js ] || { log "run bash scripts/setup.sh first"; exit 1; }
  [ "$(cat build/ts.stamp 2>/dev/null)" = "$(ts_stamp)" ] || { log "build/ts is older than the sources: run bash scripts/setup.sh"; exit 1; }
  local stage node_bin npm_dir
  stage=$(mktemp -d)
  node_bin=$(command -v node)
  npm_dir=$(dirname "$(realpath "$(command -v npm)")")/..
  mkdir -p "$stage/node/bin" "$stage/node/include/node" "$stage/node/lib/node_modules" "$stage/include" "$stage/repo"
  cp "$(realpath "$node_bin")" "$stage/node/bin/node"
  # What node-gyp needs of Node's headers for an N-API addon (--nodedir=<prefix>).
  local headers
  headers=$(dirname "$(realpath "$node_bin")")/../include/node
  for f in common.gypi config.gypi node_api.h node_api_types.h js_native_api.h js_native_api_types.h node_version.h; do
    cp "$headers/$f" "$stage/node/include/node/"
  done
  cp -r "$(realpath "$npm_dir")" "$stage/node/lib/node_modules/npm"
  cp -r /usr/include/gloo "$stage/include/gloo"
  # The production packages of package-lock.json, with only the Linux x64 glibc native binaries.
  node -e '
    const lock = require("./package-lock.json");
    for (const [path, pkg] of Object.entries(lock.packages))
      if (path.startsWith("node_modules/") && !pkg.dev && !pkg.optional) console.log(path);
    for (const [path, pkg] of Object.entries(lock.packages))
      if (path.startsWith("node_modules/") && !pkg.dev && pkg.optional && /linux-x64-gnu$/.test(path)) console.log(path);
  ' | while read -r dir; do
    mkdir -p "$stage/repo/$(dirname "$dir")"
    cp -rL "$dir" "$stage/repo/$dir"
  done
  find "$stage/repo/node_modules" -name '*.node' ! -name '*linux-x64-gnu*' -delete
  cp -r dist "$stage/repo/dist"
  mkdir -p "$stage/repo/build"
  cp -r build/ts build/ts.stamp "$stage/repo/build/"
  rm -rf "$CARRY" && mkdir -p "$CARRY"
  log "compressing (a few minutes on a busy machine)"
  tar -C "$stage" -cf - . | xz -6 -T0 > "$CARRY/bundle.tar.xz"
  rm -rf "$stage"
  log "packed $(du -h "$CARRY/bundle.tar.xz" | cut -f1) into $CARRY/bundle.tar.xz; on the GPU machine: bash scripts/gpu-check.sh"
}

# ---- the check ------------------------------------------------------------------------------------------

OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
STARTED=$(date +%s)
failures=0

# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND with its output in $OUT/NAME.log, and a line in the summary.
step() {
  local name=$1 limit=$2
  shift 2
  local start rc
  start=$(date +%s)
  log "$name: $*"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  local verdict=ok
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="TIMED OUT after ${limit}s"
  [ $rc -ne 0 ] && [ "$verdict" = ok ] && verdict="FAILED (exit $rc)"
  [ "$verdict" = ok ] || failures=$((failures + 1))
  # node --test's counts: a test that skipped on the GPU machine (no CUDA seen, no NCCL built) shows here.
  local counts
  counts=$(grep -oE '^ℹ (pass|fail|skipped) [0-9]+' "$OUT/$name.log" | cut -c5- | paste -sd, -)
  printf '%-24s %-28s %4ss  %s\n' "$name" "$verdict" "$(($(date +%s) - start))" "$counts" >> "$SUMMARY"
  tail -n 25 "$OUT/$name.log" >&2
  return $rc
}

unpack_carried() {
  [ -f "$CARRY/bundle.tar.xz" ] || return 0
  rm -rf "$CARRY/unpacked" && mkdir -p "$CARRY/unpacked"
  if command -v xz > /dev/null; then
    xz -dc "$CARRY/bundle.tar.xz" | tar -C "$CARRY/unpacked" -xf -
  else
    python3 -c 'import lzma, sys, tarfile; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])' \
      "$CARRY/bundle.tar.xz" "$CARRY/unpacked"
  fi
  # The carried build of the repository's ignored parts, where this copy has none of its own.
  for part in node_modules dist build; do
    [ -e "$part" ] || cp -r "$CARRY/unpacked/repo/$part" "$part"
  done
  [ "$(cat build/ts.stamp 2>/dev/null)" = "$(ts_stamp)" ] ||
    log "warning: the carried build/ts was compiled from other sources than this tree's (run --prepare again)"
  command -v node > /dev/null || export PATH=$ROOT/$CARRY/unpacked/node/bin:$PATH
  # g++ searches CPLUS_INCLUDE_PATH as a default folder; native/src/gloo-headers.cjs looks there too.
  [ -f /usr/include/gloo/context.h ] || export CPLUS_INCLUDE_PATH=$ROOT/$CARRY/unpacked/include${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}
}

# The torch folder of the machine's Python torch (a CUDA build there), or LIBTORCH where it is set.
find_libtorch() {
  if [ -n "${LIBTORCH:-}" ]; then echo "$LIBTORCH"; return; fi
  python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))'
}

check() {
  : > "$SUMMARY"
  local libtorch bench_args
  if [ "$MODE" = --cpu ]; then
    libtorch=${LIBTORCH:-$(node -p 'require("./build/install.json").libtorch.dir')}
    # test/cuda.test.ts runs its steps on the CPU then.
    export FINETUNE_SMOKE_DEVICE=cpu
    bench_args=(--device cpu --model bert-mini --seq 32 --steps 2 --runs 1)
  else
    unpack_carried
    libtorch=$(find_libtorch) || { log "no Python torch here: set LIBTORCH to a CUDA libtorch"; exit 1; }
    bench_args=(--device cuda:0 --model bert-base-uncased --batch 8 --seq 128 --steps 20 --runs 2)
  fi
  command -v node > /dev/null || { log "no node on PATH and no $CARRY/bundle.tar.xz: run --prepare where Node is"; exit 1; }
  {
    echo "date: $(date -u +%FT%TZ)  mode: $MODE  node: $(node --version)"
    echo "libtorch: $libtorch"
    python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null
    nvidia-smi -L 2>/dev/null
    LIBTORCH=$libtorch node native/src/nccl-build.cjs why
  } | tee "$OUT/machine.txt" >&2
  # node-gyp -j <cores> inside (or a copy from finetune's cache of an addon built from the same sources for the
  # same libtorch); a failed build leaves nothing to test.
  step build 420 node dist/cli/main.js setup --libtorch "$libtorch" || { finish; exit 1; }
  step doctor 60 node dist/cli/main.js doctor
  for name in "${DEVICE_TESTS[@]}"; do
    local file=build/ts/test/$name.test.js
    if [ ! -f "$file" ]; then
      printf '%-24s %-28s\n' "test-$name" "not in this tree ($file)" >> "$SUMMARY"
      continue
    fi
    step "test-$name" 240 node --test --test-reporter=spec "$file"
  done
  step bench 180 node build/ts/bench/gpu-step.js "${bench_args[@]}"
  finish
}

finish() {
  printf '%-24s %-28s %4ss\n' total "$failures failure(s)" "$(($(date +%s) - STARTED))" >> "$SUMMARY"
  echo >&2
  cat "$SUMMARY" >&2
}

case "$MODE" in
  --prepare) prepare ;;
  gpu | --cpu) check; [ $failures -eq 0 ] ;;
  *) echo "usage: bash scripts/gpu-check.sh [--prepare | --cpu]" >&2; exit 2 ;;
esac
