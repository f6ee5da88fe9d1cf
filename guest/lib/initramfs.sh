# shellcheck shell=bash
# Sourced by guest/build.sh. Initramfs recipe.
# This file is hashed into the cache key of initramfs-<hash>: editing it rebuilds the initramfs only.

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
	# Our Linux driver for virtio-power, built out of tree against this kernel; /init loads it.
	stage "initramfs: building the virtio_power module"
	local ko
	ko="$(bash "$GUEST_DIR/linux/virtio_power/build.sh" "$KBUILD_OUT" 2>>"$LOG" | sed -n 's/^KO=//p' | tail -n 1)"
	[ -n "$ko" ] && [ -f "$ko" ] || die "initramfs: the virtio_power module did not build (log: $LOG)"
	cp "$ko" "$root/lib/modules/virtio_power.ko"
	# Test programs: each guest/tools/NAME.c becomes a static /usr/bin/NAME.
	local src name
	for src in "$GUEST_DIR"/tools/*.c; do
		[ -f "$src" ] || continue
		name="$(basename "$src" .c)"
		stage "initramfs: compiling tool $name"
		run "${CROSS}gcc" -static -O2 -Wall -Werror -o "$root/usr/bin/$name" "$src"
		run "${CROSS}strip" "$root/usr/bin/$name"
	done
	# busybox.links holds the install path of every applet (/bin/ls, ...):
	# relative symlinks, so we never have to run the riscv64 binary here.
	local link rel
	while IFS= read -r link; do
		[ -n "$link" ] && [ "$link" != /bin/busybox ] || continue
		mkdir -p "$root$(dirname "$link")"
		case "$link" in
		/linuxrc) continue ;; # init applet for initrd images; we have /init
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
		"recipe_sha256=$IRECIPE_SUM" \
		"$BBPKG-source=$BBVER" \
		"busybox_artefact=busybox-$BBHASH" \
		"init_sha256=$INIT_SUM" \
		"kernel_artefact=kernel-$KHASH" \
		"modules_sha256=$MODULE_SUM" \
		"tools_sha256=$TOOLS_SUM" \
		"initrd_bytes=$(stat -c %s "$INITRD_OUT")"
}

