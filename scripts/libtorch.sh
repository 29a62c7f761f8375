# Locates libtorch the way tch-rs does and exports LIBTORCH (a folder with include/ and lib/)
# and LIBTORCH_CXX11_ABI. Sourced by setup.sh; installs the pinned PyTorch wheel when needed.
#   1. $LIBTORCH, when set
#   2. the pinned wheel already installed in .deps/
#   3. an importable Python torch >= 2 (its libtorch is inside the wheel)
#   4. the pinned wheel, installed now with pip into .deps/ (no Python needed at run time)
#   5. Debian's libtorch-dev
TORCH_PIN="2.13.0+cpu"
TORCH_DEPS_DIR="$PWD/.deps/torch-${TORCH_PIN%%+*}"

libtorch_ok() { [ -f "$1/lib/libtorch_cpu.so" ] && [ -d "$1/include/ATen" ]; }

libtorch_from_python() {
  python3 - <<'PY' 2>/dev/null
import os, sys
try:
    import torch
except Exception:
    sys.exit(1)
if int(torch.__version__.split(".")[0]) < 2:
    sys.exit(1)
print(os.path.dirname(torch.__file__))
PY
}

libtorch_install_wheel() {
  echo "[setup] installing torch==$TORCH_PIN (libtorch only, --no-deps) into $TORCH_DEPS_DIR" >&2
  command -v python3 >/dev/null || return 1
  python3 -m pip --version >/dev/null 2>&1 || return 1
  python3 -m pip install --quiet --no-deps --no-warn-script-location --disable-pip-version-check \
    --target "$TORCH_DEPS_DIR.partial" "torch==$TORCH_PIN" >&2 || { rm -rf "$TORCH_DEPS_DIR.partial"; return 1; }
  rm -rf "$TORCH_DEPS_DIR" && mv "$TORCH_DEPS_DIR.partial" "$TORCH_DEPS_DIR"
}

libtorch_debian() {
  local lib=/usr/lib/$(uname -m)-linux-gnu shim="$PWD/.deps/libtorch-debian"
  if [ ! -f "$lib/libtorch_cpu.so" ]; then
    echo "[setup] trying Debian's libtorch-dev" >&2
    apt-get install -y -q libtorch-dev >&2 || return 1
  fi
  mkdir -p "$shim" && ln -sfn /usr/include "$shim/include" && ln -sfn "$lib" "$shim/lib"
  echo "$shim"
}

find_libtorch() {
  if [ -n "${LIBTORCH:-}" ]; then
    libtorch_ok "$LIBTORCH" || { echo "[setup] LIBTORCH=$LIBTORCH has no lib/libtorch_cpu.so and include/ATen" >&2; return 1; }
    echo "$LIBTORCH"; return
  fi
  if libtorch_ok "$TORCH_DEPS_DIR/torch"; then echo "$TORCH_DEPS_DIR/torch"; return; fi
  local dir
  if dir=$(libtorch_from_python) && libtorch_ok "$dir"; then echo "$dir"; return; fi
  if libtorch_install_wheel && libtorch_ok "$TORCH_DEPS_DIR/torch"; then echo "$TORCH_DEPS_DIR/torch"; return; fi
  if dir=$(libtorch_debian) && libtorch_ok "$dir"; then echo "$dir"; return; fi
  echo "[setup] no libtorch found: set LIBTORCH to an unpacked libtorch, or make pip able to install torch==$TORCH_PIN" >&2
  return 1
}

LIBTORCH=$(find_libtorch) || exit 1
export LIBTORCH
# Wheels since PyTorch 2.7 use the C++11 ABI; read it from libc10's symbols rather than assume.
if [ "$(nm -D --defined-only "$LIBTORCH/lib/libc10.so" 2>/dev/null | grep -c '__cxx11' || true)" -gt 0 ]; then
  export LIBTORCH_CXX11_ABI=1
else
  export LIBTORCH_CXX11_ABI=0
fi
