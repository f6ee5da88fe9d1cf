#!/usr/bin/env bash
# Build the virtio-desktop guest: a riscv64 Linux `Image` (Debian's
# linux-source-6.12, tinyconfig + guest/linux/virtio-desktop.config) and a
# static busybox initramfs. See guest/README.md for the contract.
# The recipes are in lib/ (one file per artefact, each part of its cache key).
#
#   guest/build.sh [--print-paths] [--install-deps] [--jobs N]
#
# Last lines on success:  KERNEL=<Image>  INITRD=<initramfs.cpio.gz>  KBUILD=<dir>
# Exit codes: 0 ok, 1 build/usage failure, 2 missing dependency,
#             3 --print-paths and not built yet.
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
GUEST_DIR="$(dirname "$SELF")"
FRAGMENT="$GUEST_DIR/linux/virtio-desktop.config"
INIT_SCRIPT="$GUEST_DIR/initramfs/init"
CACHE_ROOT="${VDESK_CACHE:-$HOME/.cache/virtio-desktop}/guest"
CROSS=riscv64-linux-gnu-
KPKG=linux-source-6.12
BBPKG=busybox
GCCPKG=gcc-riscv64-linux-gnu
DEB_SRC_LIST=/etc/apt/sources.list.d/vdesk-bookworm-src.sources
SUDO="sudo "
[ "$(id -u)" = 0 ] && SUDO=

PRINT_ONLY=0
INSTALL_DEPS=0
JOBS="$(nproc 2>/dev/null || echo 2)"

die() { # one clear line on stderr, then exit
	echo "build.sh: error: $1" >&2
	exit "${2:-1}"
}

usage() {
	cat <<'EOF'
usage: guest/build.sh [--print-paths] [--install-deps] [--jobs N]
  --print-paths   print KERNEL=/INITRD=/KBUILD= if already built (exit 3 if not)
  --install-deps  apt-get install missing tools and add a bookworm deb-src entry
  --jobs N        parallel make jobs (default: nproc)
env: VDESK_CACHE  cache root (default ~/.cache/virtio-desktop)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--print-paths) PRINT_ONLY=1 ;;
	--install-deps) INSTALL_DEPS=1 ;;
	--jobs)
		[ $# -ge 2 ] || die "--jobs needs a number"
		JOBS="$2"
		shift
		;;
	--jobs=*) JOBS="${1#--jobs=}" ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
	shift
done
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive integer, got '$JOBS'"

# ---------------------------------------------------------------- deps

# tool -> Debian package that provides it
declare -A TOOL_PKG=(
	[${CROSS}gcc]=gcc-riscv64-linux-gnu
	[${CROSS}readelf]=binutils-riscv64-linux-gnu
	[make]=make
	[gcc]=gcc
	[bc]=bc
	[bison]=bison
	[flex]=flex
	[cpio]=cpio
	[gzip]=gzip
	[xz]=xz-utils
	[perl]=perl
	[dpkg-source]=dpkg-dev
	[flock]=util-linux
	[sha256sum]=coreutils
)
# headers only (no binary to look for)
declare -A HEADER_PKG=(
	[/usr/include/openssl/ssl.h]=libssl-dev
	[/usr/include/libelf.h]=libelf-dev
)

check_deps() {
	local missing=() t h
	for t in "${!TOOL_PKG[@]}"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("${TOOL_PKG[$t]}")
	done
	for h in "${!HEADER_PKG[@]}"; do
		[ -e "$h" ] || missing+=("${HEADER_PKG[$h]}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	# de-duplicate, stable order
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	local cmd="apt-get install -y ${missing[*]}"
	if [ "$INSTALL_DEPS" = 1 ]; then
		stage "installing missing packages: ${missing[*]}"
		apt-get update >&2 && apt-get install -y "${missing[@]}" >&2 ||
			die "'$cmd' failed" 2
		return 0
	fi
	echo "build.sh: missing build dependencies; install them with:" >&2
	echo "  $SUDO$cmd" >&2
	echo "(or re-run with --install-deps)" >&2
	die "missing: ${missing[*]}" 2
}

# apt-get source needs a deb-src entry; bookworm's default sources have none.
bb_src_version() { # highest source version apt knows (needs deb-src), with epoch
	local v best=
	for v in $(apt-cache showsrc --only-source "$BBPKG" 2>/dev/null | sed -n 's/^Version: //p'); do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best="$v"; fi
	done
	echo "$best"
}

ensure_deb_src() {
	[ -n "$(bb_src_version)" ] && return 0
	if [ "$INSTALL_DEPS" = 1 ]; then
		stage "adding bookworm deb-src entry ($DEB_SRC_LIST) and running apt-get update"
		write_deb_src >"$DEB_SRC_LIST" || die "cannot write $DEB_SRC_LIST (run as root)" 2
		apt-get update >&2 || die "apt-get update failed" 2
		[ -n "$(bb_src_version)" ] || die "busybox source still unknown to apt after adding $DEB_SRC_LIST" 2
		return 0
	fi
	echo "build.sh: apt has no source entry for busybox; add one with:" >&2
	echo "  ${SUDO}tee $DEB_SRC_LIST <<'EOF'" >&2
	write_deb_src >&2
	echo "EOF" >&2
	echo "  ${SUDO}apt-get update" >&2
	echo "(or re-run with --install-deps)" >&2
	die "no deb-src entry for bookworm" 2
}

write_deb_src() {
	cat <<'EOF'
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
}

# ---------------------------------------------------------------- inputs

candidate_version() { # version apt would download for a binary package
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^  Candidate: //p' | head -n 1
}

if [ "$PRINT_ONLY" = 1 ]; then
	INSTALL_DEPS=0 # --print-paths never changes the system or the network
	# Nothing can have been built without the tools and sources: say "not
	# built" (exit 3) instead of the dependency error.
	(check_deps && ensure_deb_src) >/dev/null 2>&1 || {
		echo "build.sh: not built yet (dependencies missing; run guest/build.sh)" >&2
		exit 3
	}
else
	check_deps
	ensure_deb_src
fi

KVER="$(candidate_version "$KPKG")"
[ -n "$KVER" ] && [ "$KVER" != "(none)" ] || die "apt knows no '$KPKG' package (is bookworm-security in the apt sources?)" 2
BBVER="$(bb_src_version)"
GCCVER="$(dpkg-query -W -f '${Version}' "$GCCPKG" 2>/dev/null || echo unknown)"
GCC_FULL="$(${CROSS}gcc --version | head -n 1)"

hash_of() { # stdin -> 16 hex digits
	sha256sum | cut -c1-16
}

sum_of() { # files... -> one sha256 over their contents
	cat "$@" | sha256sum | cut -d' ' -f1
}

LIB="$GUEST_DIR/lib"
for f in "$LIB/common.sh" "$LIB/kernel.sh" "$LIB/busybox.sh" "$LIB/initramfs.sh"; do
	[ -f "$f" ] || die "missing $f (incomplete checkout?)"
	# shellcheck source=/dev/null
	source "$f"
done

# The recipes live in lib/ so that each artefact hashes exactly the code and
# data that produce it: editing /init or the busybox recipe rebuilds in
# seconds instead of re-running an 8-minute kernel build. This file only
# parses arguments, checks dependencies and computes these keys.
FRAG_SUM="$(sum_of "$FRAGMENT")"
INIT_SUM="$(sum_of "$INIT_SCRIPT")"
KRECIPE_SUM="$(sum_of "$LIB/common.sh" "$LIB/kernel.sh")"
BBRECIPE_SUM="$(sum_of "$LIB/common.sh" "$LIB/busybox.sh")"
IRECIPE_SUM="$(sum_of "$LIB/common.sh" "$LIB/initramfs.sh")"

KHASH="$(printf 'recipe=%s\nfragment=%s\n%s=%s\n%s=%s\ngcc=%s\n' \
	"$KRECIPE_SUM" "$FRAG_SUM" "$KPKG" "$KVER" "$GCCPKG" "$GCCVER" "$GCC_FULL" | hash_of)"
BBHASH="$(printf 'recipe=%s\n%s-src=%s\n%s=%s\ngcc=%s\n' \
	"$BBRECIPE_SUM" "$BBPKG" "$BBVER" "$GCCPKG" "$GCCVER" "$GCC_FULL" | hash_of)"
# The initramfs carries our out-of-tree modules, built against this kernel: it depends on the kernel too.
MODULE_SUM="$(sum_of "$GUEST_DIR"/linux/virtio_power/{virtio_power.c,Kbuild,build.sh})"
# Small test programs (guest/tools/*.c): names and contents are both part of the key.
TOOLS_SUM="$( (cd "$GUEST_DIR/tools" 2>/dev/null && for f in $(ls -- *.c *.h 2>/dev/null | LC_ALL=C sort); do
	echo "$f"
	cat "$f"
done) | sha256sum | cut -d' ' -f1)"
IHASH="$(printf 'recipe=%s\ninit=%s\nbusybox=%s\nkernel=%s\nmodules=%s\ntools=%s\n' "$IRECIPE_SUM" "$INIT_SUM" "$BBHASH" "$KHASH" "$MODULE_SUM" "$TOOLS_SUM" | hash_of)"

KDIR="$CACHE_ROOT/kernel-$KHASH"
BBDIR="$CACHE_ROOT/busybox-$BBHASH"
IDIR="$CACHE_ROOT/initramfs-$IHASH"
DL="$CACHE_ROOT/downloads"

KERNEL_OUT="$KDIR/Image"
KBUILD_OUT="$KDIR/build"
BUSYBOX_OUT="$BBDIR/busybox"
INITRD_OUT="$IDIR/initramfs.cpio.gz"

# versions.txt is written last: its presence marks a complete artefact.
is_done() { [ -f "$1/versions.txt" ]; }

print_paths() {
	echo "KERNEL=$KERNEL_OUT"
	echo "INITRD=$INITRD_OUT"
	echo "KBUILD=$KBUILD_OUT"
}

if [ "$PRINT_ONLY" = 1 ]; then
	if is_done "$KDIR" && is_done "$IDIR"; then
		print_paths
		exit 0
	fi
	echo "build.sh: not built yet (run guest/build.sh)" >&2
	exit 3
fi

mkdir -p "$CACHE_ROOT" "$DL"
# One build at a time per cache: a second invocation waits, then finds the
# artefacts done.
exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then
	stage "another build holds $CACHE_ROOT/.lock; waiting"
	flock 9
fi
# Under the lock, a directory without versions.txt is from a run that died.
for d in "$CACHE_ROOT"/kernel-* "$CACHE_ROOT"/busybox-* "$CACHE_ROOT"/initramfs-*; do
	[ -d "$d" ] && ! is_done "$d" && [ "$d" != "$KDIR" ] && [ "$d" != "$BBDIR" ] && [ "$d" != "$IDIR" ] &&
		rm -rf "$d"
done

# ---------------------------------------------------------------- main

# Inside a function so bash has parsed all of it before any of it runs:
# editing this file during a long build then cannot make the running
# build read a shifted remainder of the file.
main() {
	# Busybox first (a broken one shows up in minutes), then the kernel, then the initramfs, which
	# holds modules built against that kernel.
	if is_done "$BBDIR"; then
		stage "busybox: cached ($BBDIR)"
	else
		build_busybox
	fi
	if is_done "$KDIR"; then
		stage "kernel: cached ($KDIR)"
	else
		build_kernel
	fi
	if is_done "$IDIR"; then
		stage "initramfs: cached ($IDIR)"
	else
		build_initramfs
	fi
	stage "all done"
	print_paths
}
main
exit
