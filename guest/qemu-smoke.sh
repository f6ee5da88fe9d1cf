#!/usr/bin/env bash
# Boot the built guest on QEMU's riscv64 `virt` machine (the reference
# machine) and check that the kernel, its virtio drivers and /init work.
#
#   guest/qemu-smoke.sh [--kernel Image] [--initrd initramfs.cpio.gz]
#                       [--timeout SECONDS] [--shell]
#
# Without --kernel/--initrd it asks `guest/build.sh --print-paths`.
# --shell boots interactively instead (Ctrl-A x quits QEMU).
# Exit 0 when every check passes; the console log is kept on failure.
set -euo pipefail

GUEST_DIR="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
KERNEL=
INITRD=
TIMEOUT=120
SHELL_MODE=0

die() {
	echo "qemu-smoke.sh: error: $1" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) KERNEL="${2:?--kernel needs a path}"; shift ;;
	--initrd) INITRD="${2:?--initrd needs a path}"; shift ;;
	--timeout) TIMEOUT="${2:?--timeout needs seconds}"; shift ;;
	--shell) SHELL_MODE=1 ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done

if [ -z "$KERNEL" ] || [ -z "$INITRD" ]; then
	paths="$("$GUEST_DIR/build.sh" --print-paths)" ||
		die "guest not built: run guest/build.sh first (or pass --kernel and --initrd)"
	[ -n "$KERNEL" ] || KERNEL="$(sed -n 's/^KERNEL=//p' <<<"$paths")"
	[ -n "$INITRD" ] || INITRD="$(sed -n 's/^INITRD=//p' <<<"$paths")"
fi
[ -f "$KERNEL" ] || die "no kernel at $KERNEL"
[ -f "$INITRD" ] || die "no initramfs at $INITRD"
command -v qemu-system-riscv64 >/dev/null ||
	die "qemu-system-riscv64 missing: apt-get install -y qemu-system-misc"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vdesk-smoke.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
truncate -s 8M "$WORK/disk.img"

QEMU=(qemu-system-riscv64 -M virt -m 512 -smp 2 -nographic -bios default
	-kernel "$KERNEL" -initrd "$INITRD"
	-device virtio-gpu-device -device virtio-keyboard-device -device virtio-tablet-device
	-drive "file=$WORK/disk.img,if=none,format=raw,id=d0" -device virtio-blk-device,drive=d0
	-no-reboot)
# QEMU 7.2 starts virtio-mmio in legacy (v1) mode; virtio-input and
# virtio-gpu need VIRTIO_F_VERSION_1, so without this they never bind.
QEMU+=(-global virtio-mmio.force-legacy=false)
# panic=-1 + -no-reboot: a kernel panic ends QEMU at once instead of hanging.
APPEND="console=ttyS0 panic=-1"

if [ "$SHELL_MODE" = 1 ]; then
	exec "${QEMU[@]}" -append "$APPEND"
fi

# /proc/uptime first: guest time from power-on to the command. `| cat`
# keeps ls from colouring and columnating for the console tty.
GUEST_CMD='cat /proc/uptime; uname -a; cat /proc/cpuinfo; ls /dev/dri /dev/input | cat; ls /dev/vda | cat; nproc'
CMD_B64="$(printf '%s' "$GUEST_CMD" | base64 -w0)"
LOG="$WORK/console.log"

start="$EPOCHREALTIME"
marker_wall=
rc=0
# Timestamp the console as it streams, so we measure wall time to the marker.
while IFS= read -r line; do
	line="${line%$'\r'}"
	printf '%s\n' "$line" >>"$LOG"
	if [ -z "$marker_wall" ] && [ "$line" = VDESK-INIT-READY ]; then
		marker_wall="$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')"
	fi
done < <(timeout "$TIMEOUT" "${QEMU[@]}" -append "$APPEND vdesk.cmd=$CMD_B64" </dev/null 2>&1; echo "QEMU-EXIT=$?")
total_wall="$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')"

fail=0
check() { # description, then a command that must succeed
	local what="$1"
	shift
	if "$@"; then
		echo "ok   - $what"
	else
		echo "FAIL - $what"
		fail=1
	fi
}
has_line() { grep -qx -- "$1" "$LOG"; }
has() { grep -q -- "$1" "$LOG"; }

check "init printed VDESK-INIT-READY" has_line VDESK-INIT-READY
check "/dev/dri/card0 exists (virtio-gpu bound, DRM)" has_line card0
check "/dev/input/event* exist (virtio-input bound, evdev)" has '^event[0-9]'
check "/dev/vda exists (virtio-blk bound)" has_line /dev/vda
nproc_is_2() { [ "$(grep -B1 -m1 "^VDESK-CMD-EXIT=" "$LOG" | head -n 1)" = 2 ]; }
check "nproc = 2 (SMP)" nproc_is_2
check "riscv64 kernel" has 'riscv64 GNU/Linux'
check "guest command exited 0" has_line VDESK-CMD-EXIT=0
check "kernel powered off" has 'reboot: Power down'
check "QEMU exited by itself with status 0" has_line QEMU-EXIT=0

guest_uptime="$(sed -n '/^VDESK-INIT-READY$/{n;p;q}' "$LOG" | cut -d' ' -f1)"
marker_kernel_ts="$(grep -m1 -o '^\[ *[0-9.]*\] Run /init' "$LOG" | tr -d '[]' | awk '{print $1}')"
echo "wall time to VDESK-INIT-READY: ${marker_wall:-never}s (QEMU start to marker; whole run ${total_wall}s)"
echo "guest uptime when the command ran: ${guest_uptime:-?}s (kernel started /init at ${marker_kernel_ts:-?}s)"

if [ "$fail" != 0 ]; then
	keep="${TMPDIR:-/tmp}/vdesk-smoke-console.log"
	cp "$LOG" "$keep"
	echo "---- last 40 console lines (full log: $keep) ----"
	tail -n 40 "$LOG"
	exit 1
fi
echo "qemu-smoke: PASS"
