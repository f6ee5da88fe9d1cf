#!/usr/bin/env bash
# The main job: set everything up, build (or reuse) the guest image, and boot the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash guest/build.sh
exec node apps/cli/dist/index.js run "$@"
