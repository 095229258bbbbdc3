#!/usr/bin/env bash
# Start-to-exit of a /bin/true pod with the systemd flavor, against a bare
# systemd-nspawn --boot of the same kind of tree (the host's /usr read-only,
# a unit running /bin/true in the busybox root, then exit), paired and
# interleaved in one run. Prints medians and the ratio podctl/nspawn.
#
#   tests/bench/systemd.sh            (after ./build.sh; as root)
#   BENCH_PAIRS=20 tests/bench/systemd.sh
#   BENCH_BASELINE=/tmp/old/podctl tests/bench/systemd.sh
#
# BENCH_BASELINE times a second podctl binary (an older build, say) in the
# same rounds, with a data directory of its own, and prints its median,
# its ratio to nspawn and new/old.
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${BENCH_PAIRS:-15}
[ "$(id -u)" = 0 ] || { echo "systemd.sh: run as root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "systemd.sh: needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 1; }

base=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/podctl-bench-systemd.XXXXXX")
trap 'rm -rf "$base"' EXIT
cp bin/podctl "$base/podctl"
data="$base/data"
P=("$base/podctl" --dir "$data")
"${P[@]}" fetch --insecure-options=image bin/busybox.aci >/dev/null
"${P[@]}" run --stage1=systemd --net=none example.com/busybox --exec /bin/true   # renders the tree once
B=()
if [ -n "${BENCH_BASELINE:-}" ]; then
	cp "$BENCH_BASELINE" "$base/podctl-baseline"
	B=("$base/podctl-baseline" --dir "$base/data-baseline")
	"${B[@]}" fetch --insecure-options=image bin/busybox.aci >/dev/null
	"${B[@]}" run --stage1=systemd --net=none example.com/busybox --exec /bin/true
fi
tree=$(readlink "$(ls -d "$data"/pods/run/*/apps/busybox | head -1)/lower")

# The bare tree: what the systemd flavor boots, made by hand.
root="$base/root"
mkdir -p "$root"/{usr,etc/systemd/system,opt/app,proc,sys,dev,run,tmp,var/tmp,root}
for d in bin sbin lib lib64; do [ -L "/$d" ] && ln -s "$(readlink "/$d")" "$root/$d"; done
echo 0123456789abcdef0123456789abcdef >"$root/etc/machine-id"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
cat >"$root/etc/systemd/system/app.service" <<'UNIT'
[Unit]
DefaultDependencies=no
Conflicts=shutdown.target
Before=shutdown.target
[Service]
Type=exec
RootDirectory=/opt/app
RootDirectoryStartOnly=yes
MountAPIVFS=yes
ExecStart=/bin/true
ExecStopPost=/usr/bin/systemctl --no-block exit
UNIT
printf '[Unit]\nWants=app.service\n' >"$root/etc/systemd/system/bare.target"
ln -s bare.target "$root/etc/systemd/system/default.target"

bare() {
	unshare -m --propagation private sh -c "
		mount --bind -o ro /usr '$root/usr'
		mount --bind '$tree' '$root/opt/app'
		exec systemd-nspawn --quiet --register=no --keep-unit --private-network --console=read-only \
			--link-journal=no -D '$root' --boot -- --show-status=0 --log-level=warning" </dev/null >/dev/null 2>&1
}
pod() {
	"${P[@]}" run --stage1=systemd --net=none example.com/busybox --exec /bin/true </dev/null >/dev/null 2>&1
}
baseline() {
	"${B[@]}" run --stage1=systemd --net=none example.com/busybox --exec /bin/true </dev/null >/dev/null 2>&1
}
now() { date +%s%N; }

bare # warm
: >"$base/bare.txt"
: >"$base/pod.txt"
: >"$base/baseline.txt"
for i in $(seq 1 "$pairs"); do
	# Alternate which goes first, so neither always runs on a warmer machine;
	# with a baseline, each of the three goes first in turn.
	if ((${#B[@]})); then
		order=$(case $((i % 3)) in 0) echo "pod bare baseline" ;; 1) echo "bare baseline pod" ;; 2) echo "baseline pod bare" ;; esac)
	else
		order=$( ((i % 2)) && echo "pod bare" || echo "bare pod")
	fi
	for which in $order; do
		t0=$(now)
		"$which"
		t1=$(now)
		echo $(((t1 - t0) / 1000)) >>"$base/$which.txt"
	done
	if ((i % 5 == 0)); then
		"${P[@]}" gc --grace-period=0s >/dev/null
		if ((${#B[@]})); then "${B[@]}" gc --grace-period=0s >/dev/null; fi
	fi
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "$base/pod.txt")
mb=$(median "$base/bare.txt")
printf 'systemd flavor, /bin/true start to exit, %d pairs, load %s\n' "$pairs" "$(cut -d' ' -f1-3 /proc/loadavg)"
awk -v p="$mp" -v b="$mb" 'BEGIN {
	printf "  %-34s %8.1f ms\n", "podctl run --stage1=systemd", p / 1000
	printf "  %-34s %8.1f ms\n", "bare systemd-nspawn --boot", b / 1000
	printf "  %-34s %8.2fx\n", "ratio podctl / nspawn", p / b
}'
if ((${#B[@]})); then
	mo=$(median "$base/baseline.txt")
	awk -v p="$mp" -v b="$mb" -v o="$mo" -v path="$BENCH_BASELINE" 'BEGIN {
		printf "  %-34s %8.1f ms (%s)\n", "baseline podctl", o / 1000, path
		printf "  %-34s %8.2fx\n", "ratio baseline / nspawn", o / b
		printf "  %-34s %8.2fx\n", "ratio podctl / baseline", p / o
	}'
fi
