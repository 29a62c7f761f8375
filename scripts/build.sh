#!/usr/bin/env bash
# Rebuilds the TypeScript (and the addon when its sources changed); setup.sh does the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/setup.sh
