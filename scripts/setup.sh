#!/usr/bin/env bash
# Installs everything virtio-desktop needs on a fresh Debian bookworm machine, then installs the workspace
# and builds it. Safe to run again: steps whose result is already there are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# Debian packages: the riscv64 cross toolchain and the kernel build tools (guest images and CPU tests),
# QEMU (the reference machine and CPU oracle), dtc (device-tree checks), Chromium (viewer tests), and
# what guest/desktop/build.sh uses to fetch, verify and unpack Debian's riscv64 packages into ext4.
DEBS=(gcc-riscv64-linux-gnu libc6-dev-riscv64-cross bc bison flex libssl-dev libelf-dev cpio xz-utils dpkg-dev
  qemu-system-misc device-tree-compiler opensbi chromium fonts-dejavu-core
  curl gpgv debian-archive-keyring python3 e2fsprogs)
missing=()
for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  say "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The guest's busybox comes from Debian's source package: apt needs a deb-src entry, which bookworm's
# default sources lack. guest/build.sh --install-deps writes the same entry; doing it here keeps the
# guest build itself free of root.
if [ -z "$(apt-cache showsrc --only-source busybox 2>/dev/null | head -n 1)" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  say "adding a bookworm deb-src entry for apt-get source"
  $SUDO tee /etc/apt/sources.list.d/vdesk-bookworm-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  $SUDO apt-get update -qq
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
if ! command -v pnpm >/dev/null 2>&1; then
  say "npm install -g pnpm@10"
  npm install -g pnpm@10 >/dev/null 2>&1
fi

say "pnpm install"
pnpm install --frozen-lockfile --reporter=silent
say "pnpm build"
pnpm -s build --output-logs=errors-only
say "ready"
