#!/usr/bin/env bash
# podctl run (stage1 $BENCH_STAGE1, default native) against crun and runc on
# the same busybox tree: start-to-exit time of /bin/true, paired and
# interleaved, then peak RSS and the runtime's resident RSS while an app
# runs. Figures and ratios, never pass/fail; it fails only when a command
# fails. See README.md ("native.sh").
#
#   ./build.sh && tests/bench/native.sh
#   BENCH_STAGE1=fly BENCH_PAIRS=10 tests/bench/native.sh
#
# Run as root. It may install crun, runc, jq and time (Debian packages)
# when they are missing. Everything happens in a fresh directory under
# $BENCH_TMPDIR (default /var/tmp), removed at the end; /var/lib/podctl,
# /run/crun and /run/runc are never touched.
#
# The whole comparison runs in a private mount namespace (the script
# re-executes itself under unshare) in which the cgroup2 mount at
# /sys/fs/cgroup/unified, if any, is detached: crun 1.8 refuses to run
# ("cgroups in hybrid mode not supported") while that mount holds a
# controller. podctl, crun and runc all run in that same namespace.
#
# Knobs (environment):
#   BENCH_STAGE1=native   podctl's stage1 flavor (--stage1=)
#   BENCH_NET=none        podctl's --net (not for fly): none is what the
#                         crun and runc bundles get, a network namespace
#                         with lo alone; tests/bench/network.sh measures
#                         what a CNI network adds
#   BENCH_FLAGS=          more podctl run flags, such as --private-users
#   BENCH_BASELINE=PATH   another podctl binary (the one before a change),
#                         timed in the same rounds, in a data directory of
#                         its own: podctl/baseline is the change's gain
#   BENCH_PAIRS=40        timed rounds (after 3 untimed warm-up rounds)
#   BENCH_SETTLE=5        seconds the app sleeps before the runtime's
#                         resident memory is read: past podctl's settling
#                         (100 ms) and its first two usage samples (2 and
#                         4 s), what it keeps for the pod's whole life
#   BENCH_TMPDIR=/var/tmp where the temporary directory goes
#   BENCH_KEEP=1          keep the temporary directory (raw figures in results/)
set -euo pipefail
set -E
export LC_ALL=C

die() { echo "native.sh: $*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "run me as root: it runs pods and containers"

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/../.." && pwd)

# --- outside: tools, then re-execute in a private mount namespace -----------

if [ -z "${BENCH_NATIVE_OUTER_NS:-}" ]; then
	[ -x "$repo/bin/podctl" ] && [ -x "$repo/bin/podctl-exec" ] && [ -f "$repo/bin/busybox.aci" ] ||
		die "bin/podctl, bin/podctl-exec or bin/busybox.aci missing: run ./build.sh first"
	missing=()
	command -v crun >/dev/null || missing+=(crun)
	command -v runc >/dev/null || missing+=(runc)
	command -v jq >/dev/null || missing+=(jq)
	[ -x /usr/bin/time ] || missing+=(time)
	if ((${#missing[@]})); then
		say "native.sh: installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
			die "could not install: apt-get install -y ${missing[*]}"
	fi
	command -v unshare >/dev/null || die "unshare (util-linux) is needed"
	BENCH_NATIVE_OUTER_NS=$(readlink /proc/self/ns/mnt) \
		exec unshare -m --propagation private -- bash "$self" "$@"
fi

# --- inside the private mount namespace -------------------------------------

[ "$(readlink /proc/self/ns/mnt)" != "$BENCH_NATIVE_OUTER_NS" ] ||
	die "not in a private mount namespace; refusing to unmount anything"
unified_note="no cgroup2 mount at /sys/fs/cgroup/unified"
if awk '$5 == "/sys/fs/cgroup/unified" { f = 1 } END { exit !f }' /proc/self/mountinfo; then
	umount -l /sys/fs/cgroup/unified
	unified_note="cgroup2 at /sys/fs/cgroup/unified detached in this namespace (crun 1.8 refuses hybrid mode)"
fi

cd "$repo"
FLAVOR=${BENCH_STAGE1:-native}
PAIRS=${BENCH_PAIRS:-40}
NETFLAG=()
[ "$FLAVOR" = fly ] || NETFLAG=(--net="${BENCH_NET:-none}")
# Split on spaces: flags with no space in them.
read -r -a MOREFLAGS <<<"${BENCH_FLAGS:-}"
NETFLAG+=("${MOREFLAGS[@]}")
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
[[ $PAIRS =~ ^[1-9][0-9]*$ ]] || die "BENCH_PAIRS must be a positive number"

base=$(mktemp -d "$TMPBASE/podctl-bench-native.XXXXXX")
chmod 0755 "$base"
data=$base/data              # podctl's data directory
bundle=$base/bundle          # the OCI bundle: config.json and rootfs/
sleepbundle=$base/bundle-sleep # config.json only: /bin/sleep 30 on the same rootfs
results=$base/results
crunroot=$base/crun-state    # crun --root and runc --root: not /run/crun, /run/runc
runcroot=$base/runc-state
# The containers' cgroupsPath is /$cgname/NAME: absolute, so that crun and
# runc read it alike (crun 1.8 puts a relative one at the root of each
# hierarchy too, runc below its own cgroup). Removed at exit.
cgname=$(basename "$base")
cgparent=/$cgname
mkdir -p "$results" "$bundle" "$sleepbundle" "$crunroot" "$runcroot"

bgpids=()     # background runs (the sleep-30 measures), killed at exit
poduuid_file=$base/sleep.uuid

cleanup() {
	local rc=$? id p m d
	set +e
	trap - ERR
	if [ -s "$poduuid_file" ]; then P stop --force --uuid-file "$poduuid_file" >/dev/null 2>&1; fi
	for id in $(crun --root "$crunroot" list -q 2>/dev/null); do crun --root "$crunroot" delete -f "$id" >/dev/null 2>&1; done
	for id in $(runc --root "$runcroot" list -q 2>/dev/null); do runc --root "$runcroot" delete -f "$id" >/dev/null 2>&1; done
	for p in "${bgpids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# The containers' cgroups: only empty folders, so rmdir, never rm -r.
	for m in $(awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo); do
		[ -d "$m$cgparent" ] || continue
		for d in "$m$cgparent"/*/; do [ -d "$d" ] && rmdir "$d"; done
		rmdir "$m$cgparent" || echo "native.sh: could not remove cgroup $m$cgparent" >&2
	done
	if [ "${BENCH_KEEP:-}" = 1 ]; then
		say "native.sh: kept $base"
	elif grep -qF " $base/" /proc/self/mountinfo; then
		echo "native.sh: mounts left below $base, not removing it" >&2
	else
		rm -rf "$base"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "native.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# A private copy of the binaries: bin/ may be rebuilt during the run. The
# native init executes podctl-exec from beside podctl, and stage1 becomes
# podctl-wait from there while the app sleeps.
cp bin/podctl bin/podctl-exec "$base/"
[ ! -x bin/podctl-wait ] || cp bin/podctl-wait "$base/"
P() { "$base/podctl" --dir "$data" "$@"; }
if [ -n "${BENCH_BASELINE:-}" ]; then
	[ -x "$BENCH_BASELINE" ] || die "BENCH_BASELINE=$BENCH_BASELINE is not an executable"
	# In a folder of its own, with its own podctl-exec if it has one.
	mkdir "$base/baseline"
	cp "$BENCH_BASELINE" "$base/baseline/podctl"
	for h in podctl-exec podctl-wait; do
		if [ -x "$(dirname "$BENCH_BASELINE")/$h" ]; then
			cp "$(dirname "$BENCH_BASELINE")/$h" "$base/baseline/"
		fi
	done
	"$base/baseline/podctl" --dir "$base/data-baseline" fetch --insecure-options=image bin/busybox.aci >/dev/null
fi

# --- the image and the OCI bundle --------------------------------------------

P fetch --insecure-options=image bin/busybox.aci >/dev/null
# The same tree as the image's: the ACI is a tar of manifest + rootfs/.
tar -xf bin/busybox.aci -C "$bundle" rootfs
[ -x "$bundle/rootfs/bin/true" ] && [ -e "$bundle/rootfs/bin/sleep" ] || die "no /bin/true or /bin/sleep in bin/busybox.aci"

# config.json: crun's default spec (read-only root, /proc, /dev, /sys and
# cgroup mounts, masked paths, default capabilities) with only these edits:
# the app, no terminal, the five namespaces podctl's pods get, and a cgroup.
# runc spec gives the same document but for the host name and ociVersion.
(cd "$base" && crun spec && mv config.json spec-default.json)
jq --arg cg "$cgparent/true" '
	.process.args = ["/bin/true"]
	| .process.terminal = false
	| .linux.namespaces = [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}]
	| .linux.cgroupsPath = $cg
	' "$base/spec-default.json" >"$bundle/config.json"
# runc refuses a rootfs that is a symlink: the second config names the
# first bundle's rootfs by its absolute path instead.
jq --arg cg "$cgparent/sleep" --arg root "$bundle/rootfs" '
	.process.args = ["/bin/sleep", "30"] | .linux.cgroupsPath = $cg | .root.path = $root
	' "$bundle/config.json" >"$sleepbundle/config.json"

# --- the three commands ------------------------------------------------------

# cmd_of WHICH ROUND: CMD = WHICH's start-to-exit command of /bin/true
# (the container id of crun and runc is made of ROUND).
cmd_of() {
	case $1 in
	podctl) CMD=("$base/podctl" --dir "$data" run --stage1="$FLAVOR" "${NETFLAG[@]}" --insecure-options=image example.com/busybox --exec /bin/true) ;;
	baseline) CMD=("$base/baseline/podctl" --dir "$base/data-baseline" run --stage1="$FLAVOR" "${NETFLAG[@]}" --insecure-options=image example.com/busybox --exec /bin/true) ;;
	crun) CMD=(crun --root "$crunroot" run --bundle "$bundle" "true-crun-$2") ;;
	runc) CMD=(runc --root "$runcroot" run --bundle "$bundle" "true-runc-$2") ;;
	esac
}

# fail WHICH RC: a command failed; show what it said and stop.
fail() {
	echo "native.sh: $1 failed (exit $2): ${CMD[*]}" >&2
	sed 's/^/    /' "$base/err" >&2
	exit 1
}

# timed WHICH ROUND: run it once; T = wall time in microseconds.
T=0
timed() {
	local t0 t1 rc=0
	cmd_of "$1" "$2"
	t0=$EPOCHREALTIME
	"${CMD[@]}" </dev/null >/dev/null 2>"$base/err" || rc=$?
	t1=$EPOCHREALTIME
	((rc == 0)) || fail "$1" "$rc"
	T=$((10#${t1/./} - 10#${t0/./}))
}

# Statistics over a file of numbers, one a line. p10/p90 are nearest-rank.
stat_of() { # FILE median|p10|p90|min
	sort -g "$1" | awk -v what="$2" '
		{ v[NR] = $1 }
		function rank(p,  i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; return v[i] }
		END {
			if (NR == 0) { print "nan"; exit }
			if (what == "median") print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			else if (what == "p10") print rank(0.1)
			else if (what == "p90") print rank(0.9)
			else if (what == "min") print v[1]
		}'
}
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }

say "native.sh: podctl $("$base/podctl" version | awk 'NR == 1 { print $NF }') --stage1=$FLAVOR," \
	"$(crun --version | awk 'NR == 1')," "runc $(runc --version | awk 'NR == 1 { print $3 }')," \
	"$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "native.sh: $unified_note"
say "native.sh: work directory $base"

# --- 1. start to exit, paired and interleaved --------------------------------

names=(podctl crun runc)
timednames=("${names[@]}")
[ -z "${BENCH_BASELINE:-}" ] || timednames+=(baseline)
for n in "${timednames[@]}"; do : >"$results/time-$n"; done
: >"$results/ratio-crun"; : >"$results/ratio-runc"; : >"$results/ratio-baseline"; : >"$results/ratio-baseline-crun"

# Warm-up (caches, the image tree), and a first check that each one works.
# The first podctl run has a time limit, so a pod that never ends stops the
# benchmark with a message instead of hanging it.
cmd_of podctl 0
timeout -k 5 120 "${CMD[@]}" </dev/null >/dev/null 2>"$base/err" || fail podctl $?
for i in 1 2 3; do for n in "${timednames[@]}"; do timed "$n" "w$i"; done; done
P gc --grace-period=0s >/dev/null
PB() { [ -z "${BENCH_BASELINE:-}" ] || "$base/baseline/podctl" --dir "$base/data-baseline" gc --grace-period=0s >/dev/null; }
PB

say ""
say "== start to exit of /bin/true: $PAIRS rounds, each runs the three once, order alternating =="
declare -A t
for ((i = 1; i <= PAIRS; i++)); do
	if ((i % 2)); then order=("${timednames[@]}"); else order=(); for n in "${timednames[@]}"; do order=("$n" "${order[@]}"); done; fi
	for n in "${order[@]}"; do
		timed "$n" "$i"
		t[$n]=$T
		echo "$T" >>"$results/time-$n"
	done
	awk -v a="${t[podctl]}" -v b="${t[crun]}" 'BEGIN { print a / b }' >>"$results/ratio-crun"
	awk -v a="${t[podctl]}" -v b="${t[runc]}" 'BEGIN { print a / b }' >>"$results/ratio-runc"
	if [ -n "${BENCH_BASELINE:-}" ]; then
		awk -v a="${t[podctl]}" -v b="${t[baseline]}" 'BEGIN { print a / b }' >>"$results/ratio-baseline"
		awk -v a="${t[baseline]}" -v b="${t[crun]}" 'BEGIN { print a / b }' >>"$results/ratio-baseline-crun"
	fi
	# Keep podctl's run/ small, outside the timed region.
	if ((i % 10 == 0)); then P gc --grace-period=0s >/dev/null; PB; say "  $i/$PAIRS rounds"; fi
done
P gc --grace-period=0s >/dev/null
PB

declare -A med
label_of() {
	case $1 in
	podctl) echo "podctl run --stage1=$FLAVOR" ;;
	crun) echo "crun run" ;;
	runc) echo "runc run" ;;
	baseline) echo "baseline run --stage1=$FLAVOR" ;;
	esac
}
say ""
printf '%-28s %10s %10s %10s %10s\n' "runtime" "median" "p10" "p90" "min"
for n in "${timednames[@]}"; do
	med[$n]=$(stat_of "$results/time-$n" median)
	printf '%-28s %10s %10s %10s %10s\n' "$(label_of "$n")" "$(ms "${med[$n]}")" \
		"$(ms "$(stat_of "$results/time-$n" p10)")" "$(ms "$(stat_of "$results/time-$n" p90)")" \
		"$(ms "$(stat_of "$results/time-$n" min)")"
done
say ""
for n in crun runc; do
	printf 'podctl/%s  x%s  median of the %d per-round ratios (p10 x%s, p90 x%s); ratio of medians x%s\n' "$n" \
		"$(printf '%.2f' "$(stat_of "$results/ratio-$n" median)")" "$PAIRS" \
		"$(printf '%.2f' "$(stat_of "$results/ratio-$n" p10)")" "$(printf '%.2f' "$(stat_of "$results/ratio-$n" p90)")" \
		"$(div "${med[podctl]}" "${med[$n]}")"
done
if [ -n "${BENCH_BASELINE:-}" ]; then
	printf 'baseline/crun  x%s  median of the %d per-round ratios; podctl/baseline  x%s (p10 x%s, p90 x%s); ratio of medians x%s\n' \
		"$(printf '%.2f' "$(stat_of "$results/ratio-baseline-crun" median)")" "$PAIRS" \
		"$(printf '%.2f' "$(stat_of "$results/ratio-baseline" median)")" \
		"$(printf '%.2f' "$(stat_of "$results/ratio-baseline" p10)")" "$(printf '%.2f' "$(stat_of "$results/ratio-baseline" p90)")" \
		"$(div "${med[podctl]}" "${med[baseline]}")"
fi

# --- 2. memory ---------------------------------------------------------------

# (1) Peak RSS of one start-to-exit run: GNU time's %M, which is getrusage's
# ru_maxrss over the reaped process tree, i.e. the peak of its largest
# single process (not a sum). Median of 3 runs.
declare -A peak
for n in "${names[@]}"; do
	: >"$results/peak-$n"
	for i in 1 2 3; do
		cmd_of "$n" "rss$i"
		rc=0
		/usr/bin/time -f %M -o "$base/time.out" "${CMD[@]}" </dev/null >/dev/null 2>"$base/err" || rc=$?
		((rc == 0)) || fail "$n" "$rc"
		tail -n 1 "$base/time.out" >>"$results/peak-$n"
	done
	peak[$n]=$(stat_of "$results/peak-$n" median)
done
P gc --grace-period=0s >/dev/null

# (2) What the runtime keeps resident while the app runs: the app is
# /bin/sleep 30; every other process of the container's tree is counted.

# tree_of PID: PID and its descendants, one a line.
tree_of() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			q[1] = root; n = 1
			for (i = 1; i <= n; i++) {
				print q[i]
				m = split(kids[q[i]], k, " ")
				for (j = 1; j <= m; j++) q[++n] = k[j]
			}
		}'
}
# in_cgroup NAME: processes in cgroup folder NAME or below it, in any
# hierarchy: catches any process of the pod that left the tree (a double
# fork). NAME is a folder name, such as podctl-UUID or sleep.
in_cgroup() {
	grep -lE "/$1(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | awk -F/ '{ print $3 }' || true
}
argv0() { tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | head -n 1 || true; }
is_app() { [ "$(argv0 "$1")" = /bin/sleep ]; }

# resident WHICH ROOTPID CGROUP: sum VmRSS and Pss of the runtime's
# processes; RES = RSS kB, PSS = Pss kB (smaps_rollup: each shared page
# divided among the processes that map it, so the podctl binary's pages,
# mapped by stage1 and the init alike, count once), RESN = count, RESW =
# "pid \"command line\" MiB" of each one counted.
resident() {
	local which=$1 root=$2 cg=$3 p kb pss a cmd sum=0 psum=0 cnt=0 what=""
	for p in $( { tree_of "$root"; in_cgroup "$cg"; } | sort -un); do
		# Gone since it was listed, a zombie or a kernel thread: no RSS.
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
		kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		pss=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
		[ -n "$cmd" ] && [ -n "$kb" ] && [ -n "$pss" ] || continue
		a=${cmd%% *}
		[ "$a" != /bin/sleep ] || continue # the app
		sum=$((sum + kb)); psum=$((psum + pss)); cnt=$((cnt + 1))
		cmd=${cmd//$base/\$T}
		what="$what; $p \"${cmd:0:70}\" $(mib "$kb") (PSS $(mib "$pss"))"
		# podctl's own processes are the podctl binary (argv[0] may be
		# "podctl" or /proc/self/exe) and podctl-wait, what a native
		# pod's stage1 becomes; flag anything else.
		if [ "$which" = podctl ]; then
			case $a in
			"$base/podctl" | podctl | /proc/self/exe | "$base/podctl-wait") ;;
			*) [ "$(readlink "/proc/$p/exe" 2>/dev/null || true)" = "$base/podctl" ] || what="$what (not podctl!)" ;;
			esac
		fi
	done
	RES=$sum PSS=$psum RESN=$cnt RESW=${what#; }
}

# wait_app ROOTPID CGROUP: until /bin/sleep runs in the tree (30 s limit).
wait_app() {
	local k p
	for ((k = 0; k < 3000; k++)); do
		for p in $( { tree_of "$1"; in_cgroup "$2"; } | sort -un); do
			is_app "$p" && return 0
		done
		kill -0 "$1" 2>/dev/null || die "the runtime exited before /bin/sleep started: $(cat "$base/err")"
		sleep 0.01
	done
	die "/bin/sleep did not start within 30s"
}

declare -A res pss resn resw
settle=${BENCH_SETTLE:-5} # after the app started, before sampling

# podctl
rm -f "$poduuid_file"
"$base/podctl" --dir "$data" run --stage1="$FLAVOR" "${NETFLAG[@]}" --insecure-options=image --uuid-file-save "$poduuid_file" \
	example.com/busybox --exec /bin/sleep -- 30 </dev/null >/dev/null 2>"$base/err" &
pid=$!; bgpids+=("$pid")
for ((k = 0; k < 3000; k++)); do
	[ ! -s "$poduuid_file" ] || break
	kill -0 "$pid" 2>/dev/null || die "podctl run of /bin/sleep exited at once: $(cat "$base/err")"
	sleep 0.01
done
[ -s "$poduuid_file" ] || die "podctl run wrote no UUID within 30s"
P status --wait-ready=30s --uuid-file "$poduuid_file" >/dev/null || die "the sleep pod did not get ready"
wait_app "$pid" "podctl-$(cat "$poduuid_file")"
sleep "$settle"
resident podctl "$pid" "podctl-$(cat "$poduuid_file")"
res[podctl]=$RES pss[podctl]=$PSS resn[podctl]=$RESN resw[podctl]=$RESW
P stop --grace-period=5s --uuid-file "$poduuid_file" >/dev/null || die "podctl stop failed"
rc=0; wait "$pid" || rc=$?
((rc != 254)) || die "podctl run of /bin/sleep failed: $(cat "$base/err")"
rm -f "$poduuid_file"
P gc --grace-period=0s >/dev/null

# crun and runc: the foreground `run` process (and whatever it leaves).
for n in crun runc; do
	[ $n = crun ] && st=$crunroot || st=$runcroot
	id=sleep-$n
	$n --root "$st" run --bundle "$sleepbundle" "$id" </dev/null >/dev/null 2>"$base/err" &
	pid=$!; bgpids+=("$pid")
	wait_app "$pid" "$cgname/sleep"
	sleep "$settle"
	resident "$n" "$pid" "$cgname/sleep"
	res[$n]=$RES pss[$n]=$PSS resn[$n]=$RESN resw[$n]=$RESW
	# /bin/sleep is PID 1 of its namespace: SIGTERM would be ignored.
	$n --root "$st" kill "$id" KILL 2>"$base/err" || die "$n kill failed: $(cat "$base/err")"
	wait "$pid" || true
	$n --root "$st" delete -f "$id" >/dev/null 2>&1 || true # `run` deletes it on exit
	[ -z "$($n --root "$st" list -q)" ] || die "$n left containers: $($n --root "$st" list -q)"
done

say ""
say "== memory =="
printf '%-28s %16s %24s %16s\n' "runtime" "peak RSS (true)" "resident RSS, app runs" "resident PSS"
for n in "${names[@]}"; do
	printf '%-28s %16s %14s (%d proc) %16s\n' "$(label_of "$n")" "$(mib "${peak[$n]}")" "$(mib "${res[$n]}")" "${resn[$n]}" "$(mib "${pss[$n]}")"
done
say "  peak RSS: GNU time %M of one /bin/true run (median of 3): the largest single process of the tree"
say "  resident: sum of VmRSS, and of Pss (/proc/PID/smaps_rollup), of the runtime's processes ${settle} s after /bin/sleep 30 started (the app not counted; \$T is $base):"
for n in "${names[@]}"; do say "    $n: ${resw[$n]:-none}"; done
say ""
for n in crun runc; do
	say "podctl/$n  peak x$(div "${peak[podctl]}" "${peak[$n]}"), resident RSS x$(div "${res[podctl]}" "${res[$n]}"), resident PSS x$(div "${pss[podctl]}" "${pss[$n]}")"
done
say ""
say "native.sh: load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
