# shellcheck shell=bash
# Sourced by guest/build.sh. Kernel recipe.
# This file is hashed into the cache key of kernel-<hash>: editing it rebuilds the kernel only.

# ---------------------------------------------------------------- kernel

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
	local KMAKE=(make -C "$KDIR/src" O="$KBUILD_OUT" ARCH=riscv CROSS_COMPILE="$CROSS")
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
		"recipe_sha256=$KRECIPE_SUM" \
		"$KPKG=$KVER" \
		"fragment_sha256=$FRAG_SUM" \
		"config_sha256=$(sha256sum <"$KDIR/config" | cut -d' ' -f1)" \
		"kernelrelease=$(cat "$KBUILD_OUT/include/config/kernel.release" 2>/dev/null || echo unknown)" \
		"image_bytes=$(stat -c %s "$KERNEL_OUT")"
}

