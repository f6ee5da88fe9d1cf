# shellcheck shell=bash
# Sourced by guest/desktop/build.sh. Assembles the root filesystem and the ext4 image.

USER_NAME=user
USER_UID=1000

build_desktop() {
	local t_start=$SECONDS
	rm -rf "$DDIR"
	mkdir -p "$DDIR"
	LOG="$DDIR/build.log"
	: >"$LOG"
	local root="$DDIR/root" work="$DDIR/unpacked"

	stage "packages: resolving on ELF NEEDED from packages.txt ($SUITE index of $INDEX_DATE)"
	python3 "$DESK_DIR/lib/resolve.py" --packages "$PACKAGES" --roots "$DESK_DIR/packages.txt" \
		--prune "$DESK_DIR/prune.txt" --downloads "$DL/debs" --work "$work" --root "$root" \
		--manifest "$DDIR/packages.txt" --mirror "$MIRROR" 2> >(tee -a "$LOG" >&2) ||
		die "package resolution failed (log: $LOG)"
	rm -rf "$work"
	stage_done

	stage "rootfs: configuring (busybox, users, Xorg, init, virtio_power.ko)"
	configure_rootfs "$root"
	stage_done

	stage "rootfs: making the ext4 image"
	make_image "$root"
	stage_done

	local kb
	kb="$(du -sk --apparent-size "$root" | cut -f1)"
	rm -rf "$root"
	{
		echo "kind=desktop"
		echo "hash=$DHASH"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "build_seconds=$((SECONDS - t_start))"
		echo "suite=$SUITE"
		echo "index_date=$INDEX_DATE"
		echo "index_sha256=$INDEX_SUM"
		echo "recipe_sha256=$RECIPE_SUM"
		echo "kernel_artefact=$KHASH"
		echo "busybox_artefact=$BB_ART"
		echo "packages=$(wc -l <"$DDIR/packages.txt")"
		echo "debs_bytes=$(awk '{s += $3} END {print s}' "$DDIR/packages.txt")"
		echo "tree_kib=$kb"
		echo "image_bytes=$(stat -c %s "$IMAGE")"
		echo "image_used_kib=$IMAGE_USED_KIB"
	} >"$DDIR/versions.txt.tmp"
	mv "$DDIR/versions.txt.tmp" "$DDIR/versions.txt"
}

configure_rootfs() {
	local root="$1" link rel
	# Our files (init, Xorg config, session, twm config, passwd...). tar keeps /bin, /sbin, /lib as the
	# usr-merge symlinks the resolver made instead of replacing them with directories.
	tar -C "$DESK_DIR/rootfs" -cf - . | tar -C "$root" -xf - --keep-directory-symlink --no-same-owner
	mkdir -p "$root"/{dev,proc,sys,tmp,run,root,var/log,var/tmp,var/lib/xkb,mnt,home/$USER_NAME,usr/lib/modules}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 0700 "$root/root"
	chmod 0600 "$root/etc/shadow"
	# udhcpc writes the lease's DNS servers on the tmpfs; the root filesystem stays untouched by it.
	ln -sfn ../run/resolv.conf "$root/etc/resolv.conf"

	# busybox (built by guest/build.sh) gives init, sh, mount, su and the small tools; Debian's
	# packages win where both have a program.
	cp "$BBDIR/busybox" "$root/usr/bin/busybox"
	chmod 0755 "$root/usr/bin/busybox"
	while IFS= read -r link; do
		[ -n "$link" ] && [ "$link" != /bin/busybox ] && [ "$link" != /linuxrc ] || continue
		case "$link" in
		/bin/* | /usr/bin/*) link="/usr/bin/${link##*/}" rel=busybox ;;
		/sbin/* | /usr/sbin/*) link="/usr/sbin/${link##*/}" rel=../bin/busybox ;;
		*) die "rootfs: unexpected busybox applet path $link" ;;
		esac
		[ -e "$root$link" ] || [ -L "$root$link" ] || ln -s "$rel" "$root$link"
	done <"$BBDIR/busybox.links"
	# Our init script, not busybox init.
	rm -f "$root/usr/sbin/init"
	ln -s ../local/sbin/vdesk-init "$root/usr/sbin/init"

	# Xorg's binary; /usr/bin/Xorg is Debian's wrapper script that wants Xorg.wrap (not shipped).
	[ -x "$root/usr/lib/xorg/Xorg" ] || die "rootfs: /usr/lib/xorg/Xorg missing after unpacking"

	# virtio-power: power-off/reboot handlers and host shutdown requests (spec/virtio-power.md).
	local ko
	ko="$(bash "$GUEST_DIR/linux/virtio_power/build.sh" "$KBUILD" 2>>"$LOG" | sed -n 's/^KO=//p' | tail -n 1)"
	[ -n "$ko" ] && [ -f "$ko" ] || die "rootfs: virtio_power.ko did not build (log: $LOG)"
	cp "$ko" "$root/usr/lib/modules/virtio_power.ko"

	# The clipboard agent (agent/, spec/clipboard.md), built against this index's Xlib and XFixes.
	local agent
	agent="$(bash "$DESK_DIR/agent/build.sh" "$PACKAGES" "$DL/debs" "$MIRROR" 2>>"$LOG" | sed -n 's/^AGENT=//p' | tail -n 1)"
	[ -n "$agent" ] && [ -x "$agent" ] || die "rootfs: the clipboard agent did not build (log: $LOG)"
	install -m 0755 "$agent" "$root/usr/local/bin/vdesk-clipboard"

	# Versions on the image, for whoever looks from inside.
	{
		echo "virtio-desktop desktop image $DHASH ($SUITE riscv64 index of $INDEX_DATE)"
		cat "$DDIR/packages.txt"
	} >"$root/etc/vdesk-release"
}

make_image() {
	local root="$1" kib size
	kib="$(du -sk "$root" | cut -f1)"
	# Room for the user's files and the journal: the tree plus a third, plus 96 MiB, in whole MiB.
	size=$(((kib * 4 / 3 / 1024) + 96))
	rm -f "$IMAGE"
	run_log mke2fs -q -t ext4 -b 4096 -L vdesk-root -E root_owner=0:0 -d "$root" "$IMAGE" "${size}M"
	# mke2fs -d copies the owners of the files as they are here: whoever ran the build. Set them as
	# they must be in the guest (root everywhere, the user's home theirs), without needing root.
	local script="$DDIR/owners.debugfs"
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
		p="${p#.}"
		case "$p" in
		/home/$USER_NAME | /home/$USER_NAME/*) printf 'sif "%s" uid %d\nsif "%s" gid %d\n' "$p" "$USER_UID" "$p" "$USER_UID" ;;
		*) printf 'sif "%s" uid 0\nsif "%s" gid 0\n' "$p" "$p" ;;
		esac
	done) >"$script"
	run_log debugfs -w -f "$script" "$IMAGE"
	rm -f "$script"
	run_log e2fsck -fn "$IMAGE"
	IMAGE_USED_KIB="$(($(dumpe2fs -h "$IMAGE" 2>/dev/null | awk -F: '
		/^Block count/ {b = $2} /^Free blocks/ {f = $2} /^Block size/ {s = $2}
		END {print (b - f) * s / 1024}')))"
	stage "  image: $size MiB, $IMAGE_USED_KIB KiB used"
}

run_log() { # command with output to the log; on failure its tail and one clear line
	echo "+ $*" >>"$LOG"
	if ! "$@" >>"$LOG" 2>&1; then
		tail -n 30 "$LOG" >&2
		die "command failed: $* (log: $LOG)"
	fi
}
