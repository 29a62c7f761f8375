#!/usr/bin/env bash
# The Python reference stack the tools/ fixture generators use (never the tests): the same
# torch wheel the addon links (the folder above build/install.json's libtorch) plus torchvision, transformers, peft and
# safetensors, installed into .deps/pyref. Prints the PYTHONPATH to use.
#   eval "$(bash tools/setup-pyref.sh)" && python3 tools/gen_model_fixtures.py
set -euo pipefail
cd "$(dirname "$0")/.."
target=.deps/pyref
if [ ! -f "$target/.complete" ]; then
  python3 -m pip install --quiet --no-deps --disable-pip-version-check --target "$target" \
    --index-url file:///opt/pypi/simple --extra-index-url file:///opt/pypi-more/simple \
    torchvision==0.28.0 transformers==5.17.0 huggingface-hub==1.33.0 tokenizers==0.23.2 safetensors==0.8.0 \
    peft==0.21.0 accelerate psutil tqdm filelock fsspec typing-extensions hf-xet httpx httpcore h11 anyio sniffio \
    certifi idna typer click rich shellingham pillow >&2
  touch "$target/.complete"
fi
torch_wheel=$(node -e 'const r = require("./build/install.json"); console.log(require("path").dirname(r.libtorch.dir))')
echo "export PYTHONPATH=$torch_wheel:$PWD/$target"
