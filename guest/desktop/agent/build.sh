#!/usr/bin/env bash
# Build the clipboard agent (vdesk-clipboard.c) for riscv64 with the host's cross gcc against Debian's
# riscv64 Xlib and XFixes: headers and link libraries come from the -dev packages of the same verified
# index as the image (fetched and checked by lib/resolve.py), so the agent links against exactly the
# libraries the image ships. Cached under $VDESK_CACHE/clipboard-agent/<hash of the source, this script,
# those packages and the compiler>/.
#
#   agent/build.sh PACKAGES DOWNLOADS MIRROR     (from guest/desktop/build.sh)
# Last line: AGENT=<path of the binary>
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
HERE="$(dirname "$SELF")"
LIB="$(dirname "$HERE")/lib"
PACKAGES="$1"
DEBS="$2"
MIRROR="$3"
CACHE="${VDESK_CACHE:-$HOME/.cache/virtio-desktop}/clipboard-agent"
CC=riscv64-linux-gnu-gcc
DEV_PKGS=(libx11-dev libxfixes-dev x11proto-dev libx11-6 libxfixes3)

command -v "$CC" >/dev/null || {
	echo "agent/build.sh: $CC missing (apt-get install gcc-riscv64-linux-gnu)" >&2
	exit 2
}

# The packages' identity in the index (name, version, SHA256) is part of the key.
pkg_ids="$(awk -v want="${DEV_PKGS[*]}" '
	BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) keep[w[i]] = 1 }
	/^Package: / { p = $2 } /^Version: / { v = $2 }
	/^SHA256: / { if (p in keep) print p, v, $2 }' "$PACKAGES" | LC_ALL=C sort)"
key="$( (cat "$HERE/vdesk-clipboard.c" "$SELF"; echo "$pkg_ids"; "$CC" --version | head -n 1) | sha256sum | cut -c1-16)"
OUT="$CACHE/$key"
if [ -x "$OUT/vdesk-clipboard" ]; then
	echo "AGENT=$OUT/vdesk-clipboard"
	exit 0
fi

mkdir -p "$CACHE"
tmp="$(mktemp -d "$CACHE/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Fetch (or reuse) and verify the .debs with the image builder's own code.
python3 - "$LIB" "$PACKAGES" "$DEBS" "$MIRROR" "${DEV_PKGS[@]}" >"$tmp/debs" <<'EOF'
import sys, types
sys.path.insert(0, sys.argv[1])
import resolve
a = types.SimpleNamespace(packages=sys.argv[2], downloads=sys.argv[3], mirror=sys.argv[4], prune='/dev/null')
r = resolve.Resolver(a)
for name in sys.argv[5:]:
    print(r.fetch(name))
EOF
mkdir -p "$tmp/sysroot"
while IFS= read -r deb; do dpkg-deb -x "$deb" "$tmp/sysroot"; done <"$tmp/debs"
S="$tmp/sysroot"
# Debian's libX11.so needs newer glibc symbols than the cross toolchain's libc; they resolve at run
# time in the guest (same index as the image), so the link does not check the libraries' own needs.
"$CC" -O2 -Wall -Wextra -std=c11 -I"$S/usr/include" -o "$tmp/vdesk-clipboard" "$HERE/vdesk-clipboard.c" \
	-L"$S/usr/lib/riscv64-linux-gnu" -Wl,--allow-shlib-undefined -lXfixes -lX11 -s
mkdir -p "$OUT"
cp "$tmp/vdesk-clipboard" "$OUT/vdesk-clipboard.tmp"
mv "$OUT/vdesk-clipboard.tmp" "$OUT/vdesk-clipboard"
echo "AGENT=$OUT/vdesk-clipboard"
