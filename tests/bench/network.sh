#!/usr/bin/env bash
# What a CNI network adds to a pod's start: podctl run (stage1
# $BENCH_STAGE1, default native) with --net=none against the same with a
# bridge network, and podman's run with --network=none against podman's
# bridge network, start-to-exit of /bin/true, paired and interleaved in
# one run. Figures and ratios, never pass/fail; it fails only when a
# command fails. See README.md ("network.sh").
#
#   ./build.sh && tests/bench/network.sh
#   BENCH_PAIRS=10 tests/bench/network.sh
#
# Run as root. It may install podman, runc and jq (Debian packages). The
# bridge networks are the benchmark's own: a bridge, a /24 and host-local
# reservations in a temporary folder, for podctl and podman alike, with no
# masquerading (nothing leaves the host: the pods only run /bin/true).
# Both use the same CNI plugins (Debian's, in /usr/lib/cni): podman 4.3
# without netavark drives CNI, as podctl does. Everything happens in a
# fresh directory under $BENCH_TMPDIR (default /var/tmp), removed at the
# end; /var/lib/podctl, /var/lib/containers and /etc/cni are not touched.
#
# Knobs (environment):
#   BENCH_STAGE1=native   podctl's stage1 flavor (native or systemd)
#   BENCH_PAIRS=30        timed rounds (after 3 untimed warm-up rounds)
#   BENCH_TMPDIR=/var/tmp where the temporary directory goes
set -euo pipefail
set -E
export LC_ALL=C

die() { echo "network.sh: $*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "run me as root: it runs pods and containers"
self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/../.." && pwd)
cd "$repo"
[ -x bin/podctl ] && [ -x bin/podctl-exec ] && [ -f bin/busybox.aci ] || die "bin/podctl, bin/podctl-exec or bin/busybox.aci missing: run ./build.sh first"

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
	say "network.sh: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
		die "could not install: apt-get install -y ${missing[*]}"
fi

FLAVOR=${BENCH_STAGE1:-native}
PAIRS=${BENCH_PAIRS:-30}
[[ $PAIRS =~ ^[1-9][0-9]*$ ]] || die "BENCH_PAIRS must be a positive number"
base=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/podctl-bench-network.XXXXXX")
chmod 0755 "$base"
data=$base/data
results=$base/results
mkdir -p "$results" "$base/net.d" "$base/cni" "$base/ipam"
bridge=podctlbnch0
subnet=10.219.0.0/24

# Podman in a store and state of its own, its CNI networks in our folder.
PM=(podman --root "$base/podman-root" --runroot "$base/podman-run" --tmpdir "$base/podman-tmp"
	--network-backend cni --network-config-dir "$base/cni" --cgroup-manager cgroupfs
	--events-backend none --runtime runc --log-level error)

cleanup() {
	local rc=$?
	set +e
	trap - ERR
	"${PM[@]}" rm -af >/dev/null 2>&1
	"${PM[@]}" system reset -f >/dev/null 2>&1
	"$base/podctl" --dir "$data" gc --grace-period=0s >/dev/null 2>&1
	ip link del "$bridge" 2>/dev/null
	if grep -qF " $base/" /proc/self/mountinfo; then
		echo "network.sh: mounts left below $base, not removing it" >&2
	else
		rm -rf "$base"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "network.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# One network definition for both: a bridge, no masquerading, host-local
# reservations in the benchmark's folder.
conflist() { # NAME
	cat <<EOF
{"cniVersion": "1.0.0", "name": "$1", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$base/ipam", "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
]}
EOF
}
conflist default >"$base/net.d/default.conflist"
conflist benchnet >"$base/cni/benchnet.conflist"
export PODCTL_NET_DIR=$base/net.d

cp bin/podctl bin/podctl-exec "$base/"
P() { "$base/podctl" --dir "$data" "$@"; }
P fetch -q --insecure-options=image bin/busybox.aci >/dev/null
# The same tree for podman: the ACI's rootfs/ as an image.
mkdir "$base/tree"
tar -xf bin/busybox.aci -C "$base/tree" rootfs
tar -C "$base/tree/rootfs" -cf "$base/rootfs.tar" .
"${PM[@]}" import -q "$base/rootfs.tar" localhost/bench-busybox >/dev/null

# Limits of podman's containers low enough for runc to set wherever this
# runs: its defaults (nofile and nproc 1048576 and more) are refused where
# the hard limits cannot be raised, as in a user namespace. /bin/true
# needs neither.
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
cmd_of() {
	case $1 in
	podctl-none) CMD=("$base/podctl" --dir "$data" run --stage1="$FLAVOR" --net=none example.com/busybox --exec /bin/true) ;;
	podctl-bridge) CMD=("$base/podctl" --dir "$data" run --stage1="$FLAVOR" --net=default example.com/busybox --exec /bin/true) ;;
	podman-none) CMD=("${PM[@]}" run --rm "${limits[@]}" --network=none localhost/bench-busybox /bin/true) ;;
	podman-bridge) CMD=("${PM[@]}" run --rm "${limits[@]}" --network=benchnet localhost/bench-busybox /bin/true) ;;
	esac
}
T=0
timed() {
	local t0 t1 rc=0
	cmd_of "$1"
	t0=$EPOCHREALTIME
	"${CMD[@]}" </dev/null >/dev/null 2>"$base/err" || rc=$?
	t1=$EPOCHREALTIME
	if ((rc != 0)); then
		echo "network.sh: $1 failed (exit $rc): ${CMD[*]}" >&2
		sed 's/^/    /' "$base/err" >&2
		exit 1
	fi
	T=$((10#${t1/./} - 10#${t0/./}))
}
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }

names=(podctl-none podctl-bridge podman-none podman-bridge)
say "network.sh: podctl --stage1=$FLAVOR, $("${PM[@]}" --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do for n in "${names[@]}"; do timed "$n"; done; done
P gc --grace-period=0s >/dev/null
for n in "${names[@]}"; do : >"$results/$n"; done
: >"$results/podctl-added"; : >"$results/podman-added"; : >"$results/bridge-ratio"

say ""
say "== start to exit of /bin/true: $PAIRS rounds, each runs the four once, order alternating =="
declare -A t
for ((i = 1; i <= PAIRS; i++)); do
	if ((i % 2)); then order=("${names[@]}"); else order=(podman-bridge podman-none podctl-bridge podctl-none); fi
	for n in "${order[@]}"; do
		timed "$n"
		t[$n]=$T
		echo "$T" >>"$results/$n"
	done
	echo $((t[podctl-bridge] - t[podctl-none])) >>"$results/podctl-added"
	echo $((t[podman-bridge] - t[podman-none])) >>"$results/podman-added"
	awk -v a="${t[podctl-bridge]}" -v b="${t[podman-bridge]}" 'BEGIN { print a / b }' >>"$results/bridge-ratio"
	if ((i % 10 == 0)); then P gc --grace-period=0s >/dev/null; say "  $i/$PAIRS rounds"; fi
done

say ""
printf '%-40s %10s\n' "command" "median"
for n in "${names[@]}"; do
	cmd_of "$n"
	case $n in
	podctl-none) label="podctl run --stage1=$FLAVOR --net=none" ;;
	podctl-bridge) label="podctl run --stage1=$FLAVOR --net=default" ;;
	podman-none) label="podman run --network=none" ;;
	podman-bridge) label="podman run --network=(bridge)" ;;
	esac
	printf '%-40s %10s\n' "$label" "$(ms "$(median "$results/$n")")"
done
say ""
say "what the bridge network adds (median of the per-round differences):"
say "  podctl: $(ms "$(median "$results/podctl-added")")"
say "  podman: $(ms "$(median "$results/podman-added")")"
say "podctl/podman with the bridge network: x$(printf '%.2f' "$(median "$results/bridge-ratio")") (median of the per-round ratios)"
