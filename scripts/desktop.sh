#!/usr/bin/env bash
# The main job: set everything up, build (or reuse) the guest kernel and the desktop image, and boot the
# desktop (vdesk run with no arguments); arguments are passed to vdesk run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Builds the guest kernel too (guest/build.sh); vdesk run would build the image itself, but here its
# progress comes before the machine's output.
bash guest/desktop/build.sh >/dev/null
exec node apps/cli/dist/index.js run "$@"
