# shellcheck shell=bash
# Sourced by guest/desktop/build.sh. The Debian riscv64 package index: InRelease verified with gpgv
# against Debian's archive keyring, Packages.xz checked against the SHA256 in that verified text.
# The index is cached under downloads/index/<suite>/ and reused (no network) until --refresh-index:
# sid changes daily, and a cached image must not be rebuilt just because the archive moved on.

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
INDEX_PATH=main/binary-riscv64/Packages.xz

# fetch_index SUITE -> fills $IDX_DIR/{Release,Packages.xz,Packages}; returns 1 (with a reason on
# stderr) when the suite's Packages.xz does not match its Release; dies when the signature is bad.
fetch_index() {
	local suite="$1" dir="$DL/index/$1" tmp
	tmp="$(mktemp -d "$DL/index/.fetch.XXXXXX")"
	stage "index: fetching $suite InRelease"
	curl -fsS --retry 2 -o "$tmp/InRelease" "$MIRROR/dists/$suite/InRelease" ||
		die "cannot download $MIRROR/dists/$suite/InRelease"
	# --output writes only the signed text: nothing unverified is ever parsed.
	if ! gpgv --keyring "$KEYRING" --output "$tmp/Release" "$tmp/InRelease" >>"$LOG" 2>&1; then
		rm -rf "$tmp"
		die "$suite InRelease does not verify against $KEYRING (gpgv output in $LOG)"
	fi
	local want size
	read -r want size < <(awk -v p="$INDEX_PATH" '
		/^[A-Za-z0-9-]+:/ { sect = $1 }
		sect == "SHA256:" && $3 == p { print $1, $2 }' "$tmp/Release")
	[ -n "$want" ] || die "$suite Release lists no SHA256 for $INDEX_PATH"
	stage "index: fetching $suite $INDEX_PATH ($((size / 1024)) KiB)"
	curl -fsS --retry 2 -o "$tmp/Packages.xz" "$MIRROR/dists/$suite/$INDEX_PATH" ||
		die "cannot download $MIRROR/dists/$suite/$INDEX_PATH"
	local got
	got="$(sha256sum <"$tmp/Packages.xz" | cut -d' ' -f1)"
	if [ "$got" != "$want" ]; then
		echo "desktop/build.sh: $suite $INDEX_PATH has SHA256 $got, its Release says $want (mirror sync in progress?)" >&2
		rm -rf "$tmp"
		return 1
	fi
	xz -dc "$tmp/Packages.xz" >"$tmp/Packages" || die "$suite Packages.xz does not decompress"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	stage_done
}

# use_index: sets SUITE, PACKAGES (verified, uncompressed) and INDEX_SUM (identity of the index).
# With ALLOW_NET=0 only a cached index is used.
use_index() {
	local s
	mkdir -p "$DL/index"
	for s in "${SUITES[@]}"; do
		if [ "$REFRESH" = 1 ] && [ "$ALLOW_NET" = 1 ]; then
			fetch_index "$s" || continue
		fi
		if [ -f "$DL/index/$s/Packages" ]; then
			SUITE="$s"
			break
		fi
		[ "$ALLOW_NET" = 1 ] || continue
		fetch_index "$s" && SUITE="$s" && break
	done
	[ -n "${SUITE:-}" ] || {
		[ "$ALLOW_NET" = 1 ] || return 1
		die "no usable riscv64 index in ${SUITES[*]} (each Packages.xz failed its Release hash)"
	}
	PACKAGES="$DL/index/$SUITE/Packages"
	INDEX_SUM="$(sha256sum <"$DL/index/$SUITE/Packages.xz" | cut -d' ' -f1)"
	INDEX_DATE="$(sed -n 's/^Date: //p' "$DL/index/$SUITE/Release" | head -n 1)"
}
