#!/usr/bin/env bash
# Build the virtio-desktop desktop image: an ext4 root filesystem for virtio-blk with Xorg
# (modesetting on virtio-gpu), evdev input, twm, xterm, xclock/xedit and nano from Debian's riscv64
# packages (sid, else forky), a user logged in automatically, and our virtio_power module.
# See guest/desktop/README.md.
#
#   guest/desktop/build.sh [--print-paths] [--refresh-index] [--jobs N]
#
# Last lines on success:
#   DESKTOP_IMAGE=<rootfs.ext4>  KERNEL=<Image>  APPEND=<kernel command line>
# Exit codes: 0 ok, 1 build failure, 2 missing dependency, 3 --print-paths and not built.
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
DESK_DIR="$(dirname "$SELF")"
GUEST_DIR="$(dirname "$DESK_DIR")"
CACHE_TOP="${VDESK_CACHE:-$HOME/.cache/virtio-desktop}"
CACHE_ROOT="$CACHE_TOP/desktop"
DL="$CACHE_ROOT/downloads"
MIRROR="http://deb.debian.org/debian"
SUITES=(sid forky)
APPEND="root=/dev/vda rw rootwait console=ttyS0 quiet"

PRINT_ONLY=0
REFRESH=0
JOBS="$(nproc 2>/dev/null || echo 2)"

die() {
	echo "desktop/build.sh: error: $1" >&2
	exit "${2:-1}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--print-paths) PRINT_ONLY=1 ;;
	--refresh-index) REFRESH=1 ;;
	--jobs)
		[ $# -ge 2 ] || die "--jobs needs a number"
		JOBS="$2"
		shift
		;;
	-h | --help)
		sed -n '2,13p' "$SELF" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done

T0=$SECONDS
STAGE_T0=$SECONDS
LOG=/dev/null
stage() {
	STAGE_T0=$SECONDS
	printf '[%4ds] %s\n' "$((SECONDS - T0))" "$*" >&2
}
stage_done() {
	printf '[%4ds]   done in %ds\n' "$((SECONDS - T0))" "$((SECONDS - STAGE_T0))" >&2
}

# ---------------------------------------------------------------- deps

missing=()
for t in curl gpgv xz dpkg-deb python3 mke2fs debugfs e2fsck riscv64-linux-gnu-readelf sha256sum flock tar; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
	[ "$PRINT_ONLY" = 1 ] && exit 3
	echo "desktop/build.sh: missing: ${missing[*]}; install with:" >&2
	echo "  apt-get install -y curl gpgv xz-utils dpkg python3 e2fsprogs binutils-riscv64-linux-gnu coreutils util-linux tar debian-archive-keyring" >&2
	die "missing dependencies" 2
fi
# mke2fs -d (populate from a directory, no root needed) arrived in e2fsprogs 1.43. The version is read
# into a variable first: piped into grep -q under pipefail, mke2fs could die of SIGPIPE once grep had
# its match and quit, failing the check at random (it did, in a clean-clone CI run).
mke2fs_version=$(mke2fs -V 2>&1 || true)
[[ $mke2fs_version =~ mke2fs\ 1\.(4[3-9]|[5-9][0-9]) ]] || die "mke2fs is older than 1.43 (no -d)" 2

for f in index.sh rootfs.sh; do
	# shellcheck source=/dev/null
	source "$DESK_DIR/lib/$f"
done

# ---------------------------------------------------------------- inputs

# The kernel, the kernel build tree (for virtio_power.ko) and busybox come from guest/build.sh.
if [ "$PRINT_ONLY" = 1 ]; then
	GUEST_OUT="$(bash "$GUEST_DIR/build.sh" --print-paths 2>/dev/null)" || exit 3
else
	stage "guest kernel and busybox (guest/build.sh)"
	GUEST_OUT="$(bash "$GUEST_DIR/build.sh" --jobs "$JOBS")" || die "guest/build.sh failed"
fi
KERNEL="$(sed -n 's/^KERNEL=//p' <<<"$GUEST_OUT")"
KBUILD="$(sed -n 's/^KBUILD=//p' <<<"$GUEST_OUT")"
INITRD="$(sed -n 's/^INITRD=//p' <<<"$GUEST_OUT")"
BB_ART="$(sed -n 's/^busybox_artefact=//p' "$(dirname "$INITRD")/versions.txt")"
BBDIR="$CACHE_TOP/guest/$BB_ART"
[ -f "$BBDIR/busybox" ] && [ -f "$BBDIR/busybox.links" ] || die "guest busybox not found in $BBDIR"
KHASH="$(basename "$(dirname "$KERNEL")")"

ALLOW_NET=1
[ "$PRINT_ONLY" = 1 ] && ALLOW_NET=0
mkdir -p "$DL"
LOG="$CACHE_ROOT/index.log"
use_index || exit 3

# Everything that shapes the image: this recipe, the package lists, the files copied in, the
# index (which fixes every package version), the kernel (module ABI) and busybox.
RECIPE_SUM="$( (cd "$DESK_DIR" && find agent build.sh lib packages.txt prune.txt rootfs -type f | LC_ALL=C sort |
	while IFS= read -r f; do
		echo "$f $(stat -c %a "$f")"
		cat "$f"
	done) | sha256sum | cut -d' ' -f1)"
MODULE_SUM="$(cat "$GUEST_DIR"/linux/virtio_power/{virtio_power.c,Kbuild,build.sh} | sha256sum | cut -d' ' -f1)"
DHASH="$(printf 'recipe=%s\nindex=%s\nkernel=%s\nbusybox=%s\nmodule=%s\n' \
	"$RECIPE_SUM" "$INDEX_SUM" "$KHASH" "$BB_ART" "$MODULE_SUM" | sha256sum | cut -c1-16)"
DDIR="$CACHE_ROOT/$DHASH"
IMAGE="$DDIR/rootfs.ext4"

print_paths() {
	echo "DESKTOP_IMAGE=$IMAGE"
	echo "KERNEL=$KERNEL"
	echo "APPEND=$APPEND"
}

if [ "$PRINT_ONLY" = 1 ]; then
	[ -f "$DDIR/versions.txt" ] && print_paths && exit 0
	exit 3
fi

exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then
	stage "another build holds $CACHE_ROOT/.lock; waiting"
	flock 9
fi

main() {
	if [ -f "$DDIR/versions.txt" ]; then
		stage "desktop image: cached ($DDIR)"
	else
		build_desktop
	fi
	stage "all done"
	print_paths
}
main
exit
