#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build virtio_power.ko out of tree against a configured kernel build directory.
#
#   guest/linux/virtio_power/build.sh <KBUILD dir> [out dir]
#
# The sources are copied into a scratch directory (the repository stays clean) and built with
# -Werror. The last line printed is the path of the module: KO=<path>. The .ko goes to the out dir
# when given, otherwise to ~/.cache/virtio-desktop/virtio-power/<hash of sources and kernel config>/,
# where a later call with the same inputs finds it without building.
set -euo pipefail

die() {
	echo "virtio_power/build.sh: error: $1" >&2
	exit "${2:-1}"
}

[ $# -ge 1 ] || die "usage: build.sh <KBUILD dir> [out dir]"
KBUILD="$(readlink -f "$1")"
OUT="${2:-}"
SRC="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
CROSS="${CROSS_COMPILE:-riscv64-linux-gnu-}"

[ -f "$KBUILD/Makefile" ] || die "$KBUILD is not a kernel build directory (no Makefile)"
[ -f "$KBUILD/.config" ] || die "$KBUILD has no .config: configure the kernel first"
grep -q '^CONFIG_MODULES=y' "$KBUILD/.config" || die "$KBUILD was configured without CONFIG_MODULES"
grep -q '^CONFIG_VIRTIO=y' "$KBUILD/.config" || die "$KBUILD was configured without CONFIG_VIRTIO=y"
[ -f "$KBUILD/Module.symvers" ] || [ -f "$KBUILD/scripts/mod/modpost" ] ||
	die "$KBUILD is not prepared: run 'make modules_prepare' (or a full build) there"
command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc not found (apt-get install gcc-riscv64-linux-gnu)" 2

if [ -z "$OUT" ]; then
	HASH="$(cat "$SRC/virtio_power.c" "$SRC/Kbuild" "$KBUILD/.config" \
		"$KBUILD/include/config/kernel.release" 2>/dev/null | sha256sum | cut -c1-16)"
	OUT="${VDESK_CACHE:-$HOME/.cache/virtio-desktop}/virtio-power/ko-$HASH"
	if [ -f "$OUT/virtio_power.ko" ]; then
		echo "KO=$OUT/virtio_power.ko"
		exit 0
	fi
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/virtio_power.XXXXXX")"
cp "$SRC/virtio_power.c" "$SRC/Kbuild" "$SRC/Makefile" "$WORK/"
# W=1 adds the kernel's extra warnings; Kbuild's ccflags make every warning an error.
make -C "$KBUILD" M="$WORK" ARCH=riscv CROSS_COMPILE="$CROSS" W=1 modules >&2 ||
	die "module build failed (scratch dir kept: $WORK)"
KO="$WORK/virtio_power.ko"
[ -f "$KO" ] || die "make succeeded but $KO is missing"
mkdir -p "$OUT"
cp "$KO" "$OUT/virtio_power.ko.tmp"
mv "$OUT/virtio_power.ko.tmp" "$OUT/virtio_power.ko"
rm -rf "$WORK"
echo "KO=$(readlink -f "$OUT/virtio_power.ko")"
