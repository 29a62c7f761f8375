#!/usr/bin/env bash
# Installs whatever is missing, idempotently: system build tools, npm packages, the TypeScript build,
# then libtorch and the native addon (`finetune setup`, src/install/: the same step as a user's
# `npm install finetune`). Every README command runs this first.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*" >&2; }

stamp_matches() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

install_system_packages() {
  local missing=()
  command -v g++ >/dev/null || missing+=(g++)
  command -v make >/dev/null || missing+=(make)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  command -v nm >/dev/null || missing+=(binutils)
  # Fashion-MNIST for data.fashionMnist() and its tests (files in /usr/share/datasets/fashion-mnist)
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
  # A font for the text in report PNGs (resvg renders with system fonts)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  # The Gloo headers c10d's ProcessGroupGloo.hpp includes, for the addon's distributed part (binding.gyp
  # compiles it only where native/src/gloo-headers.cjs finds them; libtorch links Gloo itself)
  [ "$(node native/src/gloo-headers.cjs 2>/dev/null)" = 1 ] || missing+=(libgloo-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
  fi
}

install_npm_packages() {
  local want
  # The lock file pins every package; package.json's scripts and files do not change what is installed.
  want=$(sha256sum package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
  if [ -d node_modules ] && stamp_matches node_modules/.finetune-lock-stamp "$want"; then return; fi
  log "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --ignore-scripts --no-audit --no-fund >&2; else npm install --ignore-scripts --no-audit --no-fund >&2; fi
  echo "$want" > node_modules/.finetune-lock-stamp
}

build_typescript() {
  local want
  want=$(find src test bench tools tsconfig*.json -type f \( -name '*.ts' -o -name '*.json' \) -print0 2>/dev/null |
    sort -z | xargs -0 cat | sha256sum | cut -c1-16)
  if [ -f dist/index.js ] && stamp_matches build/ts.stamp "$want"; then return; fi
  log "compiling TypeScript"
  rm -rf dist build/ts
  npx tsc -p tsconfig.json
  npx tsc -p tsconfig.dev.json
  chmod +x dist/cli/main.js
  mkdir -p build && echo "$want" > build/ts.stamp
}

install_system_packages
install_npm_packages
build_typescript
# libtorch (LIBTORCH, the last setup's, a Python torch 2.13, finetune's per-user cache, or pip into that cache)
# and the addon (from the cache when these sources were built for that libtorch, else node-gyp).
node dist/cli/main.js setup
