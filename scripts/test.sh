#!/usr/bin/env bash
# The one test command: set up, then lint, format check, typecheck, unit tests, integration tests.
# Ends with a single summary line "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

status=0
step() {
  printf '\n\033[1m== %s\033[0m\n' "$1"
  shift
  if ! "$@"; then
    echo "FAILED: $*"
    status=1
  fi
}
rm -rf .vitest-results packages/*/.vitest-results apps/*/.vitest-results && mkdir -p .vitest-results
step "lint" pnpm -s lint
step "format" pnpm -s format:check
step "typecheck" pnpm -s typecheck --output-logs=errors-only
step "unit tests" pnpm -s test --output-logs=new-only --concurrency=1
# Changesets make a release plan; every package packs cleanly (publint, arethetypeswrong, tarball contents).
step "release check" node scripts/release-check.mjs
# The guest image (kernel, busybox, initramfs; ~13 minutes the first time, cached by inputs after) is built
# as its own step so that a build failure reads as one, not as a failing test.
step "guest image" bash guest/build.sh
# The desktop image (Debian's riscv64 Xorg, twm, xterm unpacked into ext4; cached by inputs) likewise.
step "desktop image" bash guest/desktop/build.sh
step "integration tests" pnpm -s test:integration
step "virtio-power driver under QEMU" pnpm -s --filter @virtio-desktop/virtio-power test:driver
node scripts/summarize-tests.mjs || status=1
exit $status
