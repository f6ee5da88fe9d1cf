#!/usr/bin/env bash
# Build the virtio-desktop guest: a riscv64 Linux `Image` (Debian's
# linux-source-6.12, tinyconfig + guest/linux/virtio-desktop.config) and a
# static busybox initramfs. See guest/README.md for the contract.
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

# ---------------------------------------------------------------- progress

T0=$SECONDS
STAGE_T0=$SECONDS
LOG=/dev/null # replaced by the current artefact's build.log

stage() {
	STAGE_T0=$SECONDS
	printf '[%4ds] %s\n' "$((SECONDS - T0))" "$*" >&2
}
stage_done() {
	printf '[%4ds]   done in %ds\n' "$((SECONDS - T0))" "$((SECONDS - STAGE_T0))" >&2
}

# run CMD... with output to $LOG; on failure show the log's tail and die.
run() {
	echo "+ $*" >>"$LOG"
	if ! "$@" >>"$LOG" 2>&1; then
		echo "---- last 40 lines of $LOG ----" >&2
		tail -n 40 "$LOG" >&2
		echo "----" >&2
		die "command failed: $* (full log: $LOG)"
	fi
}

# Long makes: show a heartbeat so the user can tell the build is alive.
run_make() {
	local label="$1"
	shift
	echo "+ make $*" >>"$LOG"
	make "$@" >>"$LOG" 2>&1 &
	local pid=$! rc=0 last=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if [ $((SECONDS - last)) -ge 15 ]; then
			last=$SECONDS
			local n
			n="$(grep -c '^  \(CC\|LD\|AR\)' "$LOG" 2>/dev/null || true)"
			printf '[%4ds]   %s: %s objects compiled so far\n' "$((SECONDS - T0))" "$label" "$n" >&2
		fi
	done
	wait "$pid" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "---- last 40 lines of $LOG ----" >&2
		tail -n 40 "$LOG" >&2
		echo "----" >&2
		die "$label failed (make exit $rc, full log: $LOG)"
	fi
}

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

SCRIPT_SUM="$(sha256sum <"$SELF" | cut -d' ' -f1)"
FRAG_SUM="$(sha256sum <"$FRAGMENT" | cut -d' ' -f1)"
INIT_SUM="$(sha256sum <"$INIT_SCRIPT" | cut -d' ' -f1)"

# Each artefact hashes exactly its own inputs, so editing /init does not
# rebuild the kernel, but editing this script rebuilds everything.
KHASH="$(printf 'script=%s\nfragment=%s\n%s=%s\n%s=%s\ngcc=%s\n' \
	"$SCRIPT_SUM" "$FRAG_SUM" "$KPKG" "$KVER" "$GCCPKG" "$GCCVER" "$GCC_FULL" | hash_of)"
BBHASH="$(printf 'script=%s\n%s-src=%s\n%s=%s\ngcc=%s\n' \
	"$SCRIPT_SUM" "$BBPKG" "$BBVER" "$GCCPKG" "$GCCVER" "$GCC_FULL" | hash_of)"
IHASH="$(printf 'script=%s\ninit=%s\nbusybox=%s\n' "$SCRIPT_SUM" "$INIT_SUM" "$BBHASH" | hash_of)"

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

fresh_dir() { # start an artefact dir from scratch (a previous run may have died)
	rm -rf "$1"
	mkdir -p "$1"
	LOG="$1/build.log"
	: >"$LOG"
}

write_versions() { # dir kind hash extra-lines...
	local dir="$1" kind="$2" hash="$3"
	shift 3
	{
		echo "kind=$kind"
		echo "hash=$hash"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "build_seconds=$((SECONDS - KIND_T0))"
		echo "host=$(uname -srm)"
		echo "$GCCPKG=$GCCVER"
		echo "cross_gcc=$GCC_FULL"
		echo "build_script_sha256=$SCRIPT_SUM"
		printf '%s\n' "$@"
	} >"$dir/versions.txt.tmp"
	mv "$dir/versions.txt.tmp" "$dir/versions.txt"
}

# ---------------------------------------------------------------- kernel

KMAKE=(make -C "$KDIR/src" O="$KBUILD_OUT" ARCH=riscv CROSS_COMPILE="$CROSS")

verify_kconfig() { # every line of the fragment must hold in .config
	local config="$KBUILD_OUT/.config" missing=() line key want got
	while IFS= read -r line; do
		[[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
		key="${BASH_REMATCH[1]}"
		want="${BASH_REMATCH[2]}"
		got="$(sed -n "s/^$key=//p" "$config")"
		if [ "$want" = n ]; then
			[ -z "$got" ] || [ "$got" = n ] || missing+=("$key (want n, got $got)")
		elif [ "$got" != "$want" ]; then
			missing+=("$key (want $want, got ${got:-unset})")
		fi
	done <"$FRAGMENT"
	if [ ${#missing[@]} -gt 0 ]; then
		{
			echo "build.sh: olddefconfig dropped or changed ${#missing[@]} option(s) of $FRAGMENT"
			echo "(a dependency is missing; check 'depends on' in the Kconfig files):"
			printf '  %s\n' "${missing[@]}"
		} | tee -a "$LOG" >&2
		die "kernel config verification failed: ${missing[*]%% *}"
	fi
}

build_kernel() {
	KIND_T0=$SECONDS
	fresh_dir "$KDIR"
	stage "kernel: fetching $KPKG $KVER"
	local deb="$DL/${KPKG}_${KVER//:/%3a}_all.deb"
	if [ ! -f "$deb" ]; then
		(cd "$DL" && run apt-get download "$KPKG=$KVER")
	fi
	[ -f "$deb" ] || deb="$(ls -t "$DL/${KPKG}_"*"_all.deb" | head -n 1)"
	stage_done

	stage "kernel: unpacking source"
	local tmp="$KDIR/deb"
	run dpkg-deb -x "$deb" "$tmp"
	mkdir -p "$KDIR/src"
	run tar -xJf "$tmp/usr/src/$KPKG.tar.xz" -C "$KDIR/src" --strip-components=1
	rm -rf "$tmp"
	stage_done

	stage "kernel: configuring (tinyconfig + $(basename "$FRAGMENT"))"
	mkdir -p "$KBUILD_OUT"
	run "${KMAKE[@]}" tinyconfig
	# -m: merge only; olddefconfig below resolves dependencies once.
	run env KCONFIG_CONFIG="$KBUILD_OUT/.config" "$KDIR/src/scripts/kconfig/merge_config.sh" \
		-m -O "$KBUILD_OUT" "$KBUILD_OUT/.config" "$FRAGMENT"
	run "${KMAKE[@]}" olddefconfig
	verify_kconfig
	cp "$KBUILD_OUT/.config" "$KDIR/config"
	stage_done

	# `modules` even with no =m option: it runs modpost over vmlinux and
	# writes Module.symvers, without which an out-of-tree module (our
	# virtio-power driver) fails modpost with "undefined!" symbols.
	local targets=(Image)
	grep -q '^CONFIG_MODULES=y' "$KBUILD_OUT/.config" && targets+=(modules)
	stage "kernel: building ${targets[*]} with $JOBS jobs (log: $LOG)"
	run_make kernel -C "$KDIR/src" O="$KBUILD_OUT" ARCH=riscv CROSS_COMPILE="$CROSS" \
		-j"$JOBS" "${targets[@]}"
	cp "$KBUILD_OUT/arch/riscv/boot/Image" "$KERNEL_OUT"
	stage_done

	write_versions "$KDIR" kernel "$KHASH" \
		"$KPKG=$KVER" \
		"fragment_sha256=$FRAG_SUM" \
		"config_sha256=$(sha256sum <"$KDIR/config" | cut -d' ' -f1)" \
		"kernelrelease=$(cat "$KBUILD_OUT/include/config/kernel.release" 2>/dev/null || echo unknown)" \
		"image_bytes=$(stat -c %s "$KERNEL_OUT")"
}

# ---------------------------------------------------------------- busybox

# defconfig options changed on top of busybox's defconfig, and why.
BB_CONFIG_CHANGES=(
	# static: the initramfs carries no libc
	"CONFIG_STATIC=y"
	# tc's CBQ code uses kernel headers that newer linux-libc-dev removed;
	# we have no traffic control in the guest anyway
	"CONFIG_TC=n"
)

build_busybox() {
	KIND_T0=$SECONDS
	fresh_dir "$BBDIR"
	stage "busybox: fetching source $BBPKG $BBVER"
	local sdl="$DL/busybox-$BBVER"
	if [ ! -f "$sdl/.complete" ]; then
		rm -rf "$sdl"
		mkdir -p "$sdl"
		(cd "$sdl" && run apt-get source --download-only "$BBPKG=$BBVER")
		touch "$sdl/.complete"
	fi
	stage_done

	stage "busybox: unpacking source (dpkg-source -x, Debian patches applied)"
	local dsc
	dsc="$(ls "$sdl"/*.dsc | head -n 1)"
	run dpkg-source -x "$dsc" "$BBDIR/src"
	stage_done

	stage "busybox: configuring (defconfig + ${BB_CONFIG_CHANGES[*]})"
	local bmake=(make -C "$BBDIR/src" CROSS_COMPILE="$CROSS")
	run "${bmake[@]}" defconfig
	local kv key val
	for kv in "${BB_CONFIG_CHANGES[@]}"; do
		key="${kv%%=*}"
		val="${kv#*=}"
		sed -i -e "/^$key=/d" -e "/^# $key is not set/d" "$BBDIR/src/.config"
		if [ "$val" = n ]; then
			echo "# $key is not set" >>"$BBDIR/src/.config"
		else
			echo "$kv" >>"$BBDIR/src/.config"
		fi
	done
	run "${bmake[@]}" oldconfig </dev/null
	grep -q '^CONFIG_STATIC=y' "$BBDIR/src/.config" || die "busybox: CONFIG_STATIC=y did not stick"
	stage_done

	stage "busybox: building with $JOBS jobs (log: $LOG)"
	run_make busybox "${bmake[@]}" -j"$JOBS" busybox busybox.links
	cp "$BBDIR/src/busybox" "$BUSYBOX_OUT"
	cp "$BBDIR/src/busybox.links" "$BBDIR/busybox.links"
	cp "$BBDIR/src/.config" "$BBDIR/config"
	# Static linking against glibc must have worked: no interpreter.
	if ${CROSS}readelf -l "$BUSYBOX_OUT" | grep -q 'INTERP'; then
		die "busybox: binary is dynamically linked (CONFIG_STATIC did not take effect)"
	fi
	stage_done
	# Source tree is not needed once built.
	rm -rf "$BBDIR/src"

	write_versions "$BBDIR" busybox "$BBHASH" \
		"$BBPKG-source=$BBVER" \
		"config_sha256=$(sha256sum <"$BBDIR/config" | cut -d' ' -f1)" \
		"config_changes=${BB_CONFIG_CHANGES[*]}" \
		"busybox_bytes=$(stat -c %s "$BUSYBOX_OUT")"
}

# ---------------------------------------------------------------- initramfs

build_initramfs() {
	KIND_T0=$SECONDS
	fresh_dir "$IDIR"
	stage "initramfs: assembling"
	local root="$IDIR/root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,mnt,lib/modules}
	cp "$BUSYBOX_OUT" "$root/bin/busybox"
	chmod 0755 "$root/bin/busybox"
	cp "$INIT_SCRIPT" "$root/init"
	chmod 0755 "$root/init"
	# busybox.links holds the install path of every applet (/bin/ls, ...):
	# relative symlinks, so we never have to run the riscv64 binary here.
	local link rel
	while IFS= read -r link; do
		[ -n "$link" ] && [ "$link" != /bin/busybox ] || continue
		mkdir -p "$root$(dirname "$link")"
		case "$link" in
		/bin/*) rel=busybox ;;
		/sbin/*) rel=../bin/busybox ;;
		/usr/bin/* | /usr/sbin/*) rel=../../bin/busybox ;;
		*) die "initramfs: unexpected applet path $link" ;;
		esac
		ln -sf "$rel" "$root$link"
	done <"$BBDIR/busybox.links"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	printf 'export PS1="vdesk:\\w# "\n' >"$root/etc/profile"
	# No device nodes (they would need root): /init mounts devtmpfs first.
	# -R 0:0 records root ownership whoever runs the build; sorted names and
	# a fixed mtime keep the archive byte-identical across rebuilds.
	find "$root" -exec touch -h -d @0 {} +
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$IDIR/initramfs.cpio" 2>>"$LOG" ||
		die "initramfs: cpio failed (log: $LOG)"
	gzip -9 -n -c "$IDIR/initramfs.cpio" >"$INITRD_OUT.tmp"
	mv "$INITRD_OUT.tmp" "$INITRD_OUT"
	rm -f "$IDIR/initramfs.cpio"
	stage_done

	write_versions "$IDIR" initramfs "$IHASH" \
		"$BBPKG-source=$BBVER" \
		"busybox_artefact=busybox-$BBHASH" \
		"init_sha256=$INIT_SUM" \
		"initrd_bytes=$(stat -c %s "$INITRD_OUT")"
}

# ---------------------------------------------------------------- main

if is_done "$KDIR"; then
	stage "kernel: cached ($KDIR)"
else
	build_kernel
fi
if is_done "$IDIR"; then
	stage "initramfs: cached ($IDIR)"
else
	if is_done "$BBDIR"; then
		stage "busybox: cached ($BBDIR)"
	else
		build_busybox
	fi
	build_initramfs
fi
stage "all done"
print_paths
