#!/usr/bin/env bash
# Every benchmark of issue 18's table, one after the other, then the
# figures beside their peers in one summary: what `./build.sh bench` runs.
# Figures and ratios, never pass/fail; it stops when a script fails.
#
#   ./build.sh bench
#   BENCH_REPEATS=3 BENCH_MANY=1000 tests/bench/all.sh   # the long run
#
# Its own knob: BENCH_SCRIPTS, the scripts to run (default "run systemd
# native peers scale"; scale only if tests/bench/scale.sh exists). The
# scripts' knobs pass through; BENCH_REPEATS defaults to 1 here (3 in
# run.sh alone) to keep the whole run to a few minutes.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "all.sh: run me as root: the benchmarks run pods" >&2; exit 1; }
export BENCH_REPEATS=${BENCH_REPEATS:-1}
scripts=${BENCH_SCRIPTS:-run systemd native peers scale}
logs=$(mktemp -d "${TMPDIR:-/tmp}/podctl-bench-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
start=$EPOCHSECONDS
echo "all.sh: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), load $(load)"
ran=()
declare -A loads
for s in $scripts; do
	if [ "$s" = scale ] && [ ! -x "$here/scale.sh" ]; then
		echo "all.sh: no tests/bench/scale.sh: skipping the list/gc of 10,000 pods"
		continue
	fi
	[ -x "$here/$s.sh" ] || { echo "all.sh: no tests/bench/$s.sh" >&2; exit 1; }
	loads[$s]=$(load)
	echo ""
	echo "######## tests/bench/$s.sh (load ${loads[$s]})"
	"$here/$s.sh" 2>&1 | tee "$logs/$s"
	rc=${PIPESTATUS[0]}
	((rc == 0)) || { echo "all.sh: tests/bench/$s.sh failed (exit $rc)" >&2; exit "$rc"; }
	ran+=("$s")
done

echo ""
echo "======== issue 18: each figure beside its peer (medians; read the ratios)"
for s in "${ran[@]}"; do
	echo ""
	echo "-- $s.sh (load at its start ${loads[$s]})"
	case $s in
	run) awk '/^== summary/ { on = 1; next } on && NF == 0 { exit } on' "$logs/$s" ;;
	systemd) grep -E '^  (podctl run|bare systemd|ratio)' "$logs/$s" ;;
	native) grep -E '^(podctl run|crun run|runc run|podctl/(crun|runc) )' "$logs/$s" ;;
	peers) grep -E '^(podctl run|sh: |chroot ROOT|podctl version|[0-9]+ x |first start|start number|fly/by-hand|podctl/crun|after/first|  (before|after):)' "$logs/$s" ;;
	*) tail -n 15 "$logs/$s" ;;
	esac
done
echo ""
echo "all.sh: load at the end $(load); took $((EPOCHSECONDS - start)) s"
