# shellcheck shell=bash
# Sourced by guest/build.sh. Busybox recipe.
# This file is hashed into the cache key of busybox-<hash>: editing it rebuilds busybox and the initramfs.

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
	local bargs=(-C "$BBDIR/src" CROSS_COMPILE="$CROSS")
	run make "${bargs[@]}" defconfig
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
	run make "${bargs[@]}" oldconfig </dev/null
	grep -q '^CONFIG_STATIC=y' "$BBDIR/src/.config" || die "busybox: CONFIG_STATIC=y did not stick"
	stage_done

	stage "busybox: building with $JOBS jobs (log: $LOG)"
	run_make busybox "${bargs[@]}" -j"$JOBS" busybox busybox.links
	cp "$BBDIR/src/busybox" "$BUSYBOX_OUT"
	cp "$BBDIR/src/busybox.links" "$BBDIR/busybox.links"
	cp "$BBDIR/src/.config" "$BBDIR/config"
	# Static linking against glibc must have worked: no interpreter. (grep reads all of readelf's output:
	# with -q it could quit early and, under pipefail, readelf's SIGPIPE would hide the match.)
	if ${CROSS}readelf -l "$BUSYBOX_OUT" | grep 'INTERP' >/dev/null; then
		die "busybox: binary is dynamically linked (CONFIG_STATIC did not take effect)"
	fi
	stage_done
	# Source tree is not needed once built.
	rm -rf "$BBDIR/src"

	write_versions "$BBDIR" busybox "$BBHASH" \
		"recipe_sha256=$BBRECIPE_SUM" \
		"$BBPKG-source=$BBVER" \
		"config_sha256=$(sha256sum <"$BBDIR/config" | cut -d' ' -f1)" \
		"config_changes=${BB_CONFIG_CHANGES[*]}" \
		"busybox_bytes=$(stat -c %s "$BUSYBOX_OUT")"
}

