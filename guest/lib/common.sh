# shellcheck shell=bash
# Sourced by guest/build.sh. Progress lines, logged commands, artefact directories.
# This file is hashed into the cache key of every artefact: editing it rebuilds everything.

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
		printf '%s\n' "$@"
	} >"$dir/versions.txt.tmp"
	mv "$dir/versions.txt.tmp" "$dir/versions.txt"
}

