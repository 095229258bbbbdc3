#!/usr/bin/env bash
# podctl benchmarks: figures and ratios, never pass/fail. See README.md.
#
#   ./build.sh && tests/bench/run.sh
#
# Run as root from anywhere (it finds the repository itself). Everything
# happens in a fresh data directory under $BENCH_TMPDIR (default /var/tmp),
# removed at the end; /var/lib/podctl is never touched.
#
# Knobs (environment):
#   BENCH_NS="1000 5000"  pod counts for the list/status/gc benchmark
#   BENCH_REPEATS=3       times the whole list/gc setup is repeated
#   BENCH_LIST_RUNS=5     hyperfine runs per list/status measure, per repeat
#   BENCH_PAIRS=40        interleaved rounds of the start-to-exit benchmark
#   BENCH_TMPDIR=/var/tmp where the temporary data directory goes
#   BENCH_KEEP=1          keep the temporary directory (for poking at it)
#   BENCH_ONLY=scale|start  run only one of the two benchmarks
#   BENCH_STAGE1=fly      stage1 flavor of every pod run (fly or systemd)
set -euo pipefail
set -E # the ERR trap below reports failures inside functions too

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

NS=${BENCH_NS:-"1000 5000"}
REPEATS=${BENCH_REPEATS:-3}
LIST_RUNS=${BENCH_LIST_RUNS:-5}
PAIRS=${BENCH_PAIRS:-40}
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
ONLY=${BENCH_ONLY:-}
FLAVOR=${BENCH_STAGE1:-fly}

die() { echo "bench: $*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "run me as root: podctl runs pods (sudo tests/bench/run.sh)"
[ -x bin/podctl ] && [ -x bin/podctl-exec ] && [ -f bin/busybox.aci ] || die "bin/podctl, bin/podctl-exec or bin/busybox.aci missing: run ./build.sh first"
command -v perl >/dev/null || die "perl (Debian's perl-base) is needed to clone pods"
if ! command -v hyperfine >/dev/null; then
	say "bench: hyperfine is missing, installing it"
	DEBIAN_FRONTEND=noninteractive apt-get install -y hyperfine >/dev/null ||
		die "could not install hyperfine: apt-get install -y hyperfine"
fi

# --- work area --------------------------------------------------------------

base=$(mktemp -d "$TMPBASE/podctl-bench.XXXXXX")
chmod 0755 "$base"
data=$base/data          # the data directory every podctl call uses
stage=$base/stage        # scratch for cloning pods (same file system)
results=$base/results    # raw figures, one file per measure
mkdir -p "$results"

# shellcheck source=tests/bench/lib.sh
. "$repo/tests/bench/lib.sh"

cleanup() {
	local rc=$?
	remove_base
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# A private copy of the binary: others may rebuild bin/podctl meanwhile.
cp bin/podctl bin/podctl-exec "$base/"
cp bin/busybox.aci "$base/busybox.aci"
P() { "$base/podctl" --dir "$data" "$@"; }
PODCTL="$base/podctl --dir $data"

now_us() { local t=$EPOCHREALTIME; echo $((10#${t/./})); }

# Time one command: wall, user and sys seconds appended to FILE as one line.
# Output goes to /dev/null; a failure aborts the benchmark.
time_once() {
	local file=$1; shift
	local TIMEFORMAT='%R %U %S' out rc=0
	out=$({ time "$@" >/dev/null 2>"$base/err"; } 2>&1) || rc=$?
	if ((rc != 0)); then
		echo "bench: failed (exit $rc): $*" >&2
		cat "$base/err" >&2
		exit 1
	fi
	echo "$out" >>"$file"
}

# Statistics over the first column of a file of numbers.
stat_of() { # FILE median|p90|min|max
	sort -g "$1" | awk -v what="$2" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan"; exit }
			if (what == "median") print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			else if (what == "p90") { i = int(0.9 * NR + 0.999999); if (i < 1) i = 1; print v[i] }
			else if (what == "min") print v[1]
			else if (what == "max") print v[NR]
		}'
}
col() { awk -v c="$2" '{ print $c }' "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }

summary=$base/summary
: >"$summary"
row() { printf '%-37s %5s %10s %7s  %s\n' "$1" "$2" "$3" "$4" "$5" >>"$summary"; }

# --- setup: image and one real exited pod --------------------------------------

say "bench: data directory $data"
P fetch --insecure-options=image "$base/busybox.aci" >/dev/null
# Untimed runs have a time limit, so a pod that never ends stops the
# benchmark with a message instead of hanging it.
timeout -k 5 120 "$base/podctl" --dir "$data" run --stage1="$FLAVOR" example.com/busybox --exec /bin/true ||
	die "podctl run --stage1=$FLAVOR of /bin/true failed or did not end within 120s (exit $?)"
template_id=$(ls "$data/pods/run")
[ "$(echo "$template_id" | wc -w)" = 1 ] || die "expected one pod in run/, found: $template_id"
# (Read whole before grep: podctl would get SIGPIPE from an early grep -q.)
template_status=$(P status "$template_id")
grep -qx 'state=exited' <<<"$template_status" || die "the template pod did not exit: $template_status"
# Kept out of pods/ so no gc takes it; its lock is free, it is just files.
mv "$data/pods/run/$template_id" "$base/template"
# The very tree the pod ran on: its overlay lower layer, or its copied root.
if [ -L "$base/template/apps/busybox/lower" ]; then
	root=$(readlink "$base/template/apps/busybox/lower")
else
	root=$base/template/apps/busybox/rootfs
fi
[ -x "$root/bin/true" ] || die "no /bin/true in the busybox tree $root"


# hyperfine one command; append its median, mean user and mean sys
# (seconds) to FILE. Output goes through a pipe, as it does for a user's
# `podctl list | grep ...`, not straight to /dev/null.
hf_output=()
if hyperfine --help 2>/dev/null | grep -c -- '--output' >/dev/null; then hf_output=(--output=pipe); fi
hf() { # FILE COMMAND
	local file=$1 cmd=$2 csv=$base/hf.csv
	hyperfine -N --style none --warmup 2 --runs "$LIST_RUNS" "${hf_output[@]}" --export-csv "$csv" "$cmd" >/dev/null 2>&1 ||
		{ hyperfine -N --runs 1 "$cmd" >&2 || true; die "hyperfine failed on: $cmd"; }
	awk -F, 'NR == 2 { print $4, $5, $6 }' "$csv" >>"$file"
}

last() { tail -n 1 "$1" | awk '{ print $1 }'; }
med() { stat_of <(col "$1" 1) median; }          # median wall of a results file
medcpu() { awk '{ print $2 + $3 }' "$1" | stat_of /dev/stdin median; }
per_pod_us() { awk -v t="$1" -v t0="$2" -v n="$3" 'BEGIN { printf "%.1f", (t - t0) / n * 1e6 }'; }

# --- 1. list, status and gc at scale ----------------------------------------

bench_scale() {
	say ""
	say "== 1. list, status and gc of N exited pods (N = ${NS// /, }; $REPEATS repeats) =="
	say "   pods are cp -a clones of one real exited $FLAVOR pod; times are wall clock"
	local r n id t0 t1
	for ((r = 1; r <= REPEATS; r++)); do
		# N = 0: the fixed cost of each command (process start, folders),
		# taken out of the per-pod figures.
		[ "$(count_in run)" = 0 ] || die "run/ is not empty before repeat $r"
		hf "$results/list-0" "$PODCTL list"
		hf "$results/listjson-0" "$PODCTL list --format=json"
		hf "$results/gcmark-0" "$PODCTL gc --mark-only"
		hf "$results/gcremove-0" "$PODCTL gc --grace-period=0s"
		for n in $NS; do
			t0=$(now_us)
			clone_pods "$n" "$data/pods/run"
			t1=$(now_us)
			[ "$(count_in run)" = "$n" ] || die "cloning made $(count_in run) pods, not $n"
			id=$(ls "$data/pods/run" | sort | sed -n "$(((n + 1) / 2))p")
			printf '  repeat %d N=%-5d cloned %4.1fs |' "$r" "$n" "$(awk -v d=$((t1 - t0)) 'BEGIN{print d/1e6}')"

			# The clones must read as the real pod did.
			[ "$(P list --no-legend | grep -c ' exited ')" = "$n" ] || die "list does not show $n exited pods"

			hf "$results/list-$n" "$PODCTL list"
			hf "$results/listjson-$n" "$PODCTL list --format=json"
			hf "$results/status-$n" "$PODCTL status $id"
			hf "$results/statusprefix-$n" "$PODCTL status ${id:0:8}"
			printf ' list %s json %s status %s |' "$(ms "$(last "$results/list-$n")")" \
				"$(ms "$(last "$results/listjson-$n")")" "$(ms "$(last "$results/status-$n")")"

			time_once "$results/gcmark-$n" "$base/podctl" --dir "$data" gc --mark-only
			[ "$(count_in exited-garbage)" = "$n" ] || die "gc --mark-only marked $(count_in exited-garbage) pods, not $n"
			time_once "$results/gcremove-$n" "$base/podctl" --dir "$data" gc --grace-period=0s
			[ "$(count_in exited-garbage)" = 0 ] && [ "$(count_in run)" = 0 ] ||
				die "gc --grace-period=0s left $(count_in exited-garbage) marked and $(count_in run) exited pods"

			# The floor for removal: rm -rf of as many identical pods.
			clone_pods "$n" "$data/pods/run"
			time_once "$results/rmrf-$n" find "$data/pods/run" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
			[ "$(count_in run)" = 0 ] || die "rm -rf left pods in run/"
			printf ' gc mark %s remove %s (rm -rf %s)\n' "$(ms "$(last "$results/gcmark-$n")")" \
				"$(ms "$(last "$results/gcremove-$n")")" "$(ms "$(last "$results/rmrf-$n")")"
		done
	done

	# Per-pod costs, net of the N = 0 run, and how they change with N.
	say ""
	say "  per-pod cost, net of the 0-pod run (median of $REPEATS repeats); ratio ~1.0 = linear:"
	local name label m m0 m_first pp first pp_first ratio note rm
	for name in list listjson status statusprefix gcmark gcremove rmrf; do
		case $name in
		list) label="list (text)" ;;
		listjson) label="list --format=json" ;;
		status) label="status UUID" ;;
		statusprefix) label="status UUID-PREFIX (8 chars)" ;;
		gcmark) label="gc --mark-only (mark N)" ;;
		gcremove) label="gc --grace-period=0s (remove N)" ;;
		rmrf) label="rm -rf of the N pods (floor)" ;;
		esac
		first=""
		for n in $NS; do
			m=$(med "$results/$name-$n")
			case $name in
			status*)
				# One pod looked up among N: should not grow with N.
				if [ -z "$first" ]; then first=$n m_first=$m ratio="-" note="one pod among N"
				else ratio="x$(div "$m" "$m_first")" note="vs N=$first (flat = good)"; fi
				;;
			*)
				m0=0
				[ -f "$results/$name-0" ] && m0=$(med "$results/$name-0")
				pp=$(per_pod_us "$m" "$m0" "$n")
				if [ -z "$first" ]; then first=$n pp_first=$pp ratio="-"
				else ratio="x$(div "$pp" "$pp_first")"; fi
				note="${pp} us/pod"
				[ "$ratio" = "-" ] || note="$note; per-pod vs N=$first"
				case $name in
				gcremove)
					rm=$(med "$results/rmrf-$n")
					note="$note; x$(div "$m" "$rm") of rm -rf"
					say "    gc remove N=$n: $(ms "$m") wall, $(ms "$(medcpu "$results/$name-$n")") cpu, $pp us/pod; rm -rf of the same: $(ms "$rm")"
					;;
				gcmark) say "    gc mark   N=$n: $(ms "$m") wall, $(ms "$(medcpu "$results/$name-$n")") cpu, $pp us/pod" ;;
				esac
				;;
			esac
			row "$label" "$n" "$(ms "$m")" "$ratio" "$note"
		done
	done
	local big=${NS##* }
	say "    list of $big pods: $(ms "$(med "$results/list-$big")") (target: well under 1000 ms)"
}

# --- 2. start to exit: podctl run (fly) vs chroot ------------------------------

bench_start() {
	say ""
	say "== 2. start to exit of /bin/true: podctl run ($FLAVOR) vs chroot, $PAIRS interleaved rounds =="
	local a=("$base/podctl" --dir "$data" run --stage1="$FLAVOR" example.com/busybox --exec /bin/true)
	local b=(chroot "$root" /bin/true)
	local c=("$base/podctl" --dir "$data" version)
	local i t0 t1 order x
	: >"$results/run-podctl"; : >"$results/run-chroot"; : >"$results/run-version"; : >"$results/run-ratio"
	P gc --grace-period=0s >/dev/null
	# Warm up: caches, the tree, the index.
	for i in 1 2 3; do
		timeout -k 5 120 "${a[@]}" >/dev/null || die "podctl run failed or did not end within 120s (exit $?)"
		"${b[@]}"
		"${c[@]}" >/dev/null
	done
	P gc --grace-period=0s >/dev/null
	for ((i = 1; i <= PAIRS; i++)); do
		# Alternate the order so neither side always runs right after the other.
		if ((i % 2)); then order="a b c"; else order="c b a"; fi
		local ta tb
		for x in $order; do
			case $x in
			a)
				t0=$(now_us); "${a[@]}" >/dev/null || die "podctl run failed"; t1=$(now_us)
				ta=$((t1 - t0)); echo "$ta" >>"$results/run-podctl" ;;
			b)
				t0=$(now_us); "${b[@]}" || die "chroot failed"; t1=$(now_us)
				tb=$((t1 - t0)); echo "$tb" >>"$results/run-chroot" ;;
			c)
				t0=$(now_us); "${c[@]}" >/dev/null || die "podctl version failed"; t1=$(now_us)
				echo $((t1 - t0)) >>"$results/run-version" ;;
			esac
		done
		awk -v a="$ta" -v b="$tb" 'BEGIN { print a / b }' >>"$results/run-ratio"
		# Keep run/ small, outside the timed region.
		if ((i % 10 == 0)); then P gc --grace-period=0s >/dev/null; printf "  %d/%d rounds\n" "$i" "$PAIRS"; fi
	done
	P gc --grace-period=0s >/dev/null

	local pm pc pv pr
	pm=$(stat_of "$results/run-podctl" median)
	pc=$(stat_of "$results/run-chroot" median)
	pv=$(stat_of "$results/run-version" median)
	pr=$(stat_of "$results/run-ratio" median)
	us() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
	p90() { us "$(stat_of "$results/run-$1" p90)"; }
	say "  podctl run /bin/true       median $(us "$pm")  p90 $(p90 podctl)  min $(us "$(stat_of "$results/run-podctl" min)")"
	say "  chroot ROOT /bin/true      median $(us "$pc")  p90 $(p90 chroot)  min $(us "$(stat_of "$results/run-chroot" min)")"
	say "  podctl version             median $(us "$pv")  p90 $(p90 version)  (one podctl process start: the floor of any podctl command)"
	say "  podctl/chroot: x$(div "$pm" "$pc") (ratio of medians), x$(printf '%.2f' "$pr") (median of the $PAIRS per-round ratios)"
	row "run $FLAVOR /bin/true, start to exit" "-" "$(us "$pm")" "x$(div "$pm" "$pc")" "podctl/chroot; p90 $(p90 podctl); per-round ratio x$(printf '%.2f' "$pr")"
	row "chroot ROOT /bin/true" "-" "$(us "$pc")" "x1.00" "the reference; p90 $(p90 chroot)"
	row "podctl version" "-" "$(us "$pv")" "x$(div "$pv" "$pc")" "one podctl process; run = x$(div "$pm" "$pv") of it"
}

start=$(now_us)
say "bench: podctl $("$base/podctl" version | awk 'NR == 1 { print $NF }'), stage1 $FLAVOR, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
case $ONLY in
scale) bench_scale ;;
start) bench_start ;;
"") bench_scale; bench_start ;;
*) die "BENCH_ONLY is scale or start" ;;
esac

say ""
say "== summary: medians; trust the ratios, not the absolute times =="
printf '%-37s %5s %10s %7s  %s\n' "benchmark" "N" "median" "ratio" "what the ratio is"
cat "$summary"
say ""
say "bench: load at the end $(cut -d' ' -f1-3 /proc/loadavg); took $(awk -v d=$(($(now_us) - start)) 'BEGIN{printf "%.0f", d/1e6}')s"
