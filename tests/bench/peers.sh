#!/usr/bin/env bash
# The figures of issue 18's table that the other scripts do not take, each
# beside its peer, measured in turn on the same machine (see README.md,
# "peers.sh"). Figures and ratios, never pass/fail: it fails only when a
# command fails.
#
#   1. fly start to exit against a shell script doing the same mounts
#      (a mount namespace, the overlay, /proc, /sys, /dev, chroot), and
#      one podctl process (podctl version) as the floor
#   2. BENCH_BURST native starts at once against as many crun starts
#   3. the start after BENCH_MANY running pods against the first one
#
#   ./build.sh && tests/bench/peers.sh
#   BENCH_MANY=1000 tests/bench/peers.sh     # the issue's 1,001st start (minutes)
#
# Knobs (environment):
#   BENCH_PAIRS=20        rounds of 1, after 3 warm-up rounds
#   BENCH_BURST=20        starts at once in 2
#   BENCH_BURST_ROUNDS=3  rounds of 2 (median)
#   BENCH_MANY=100        running pods before the last start of 3
#   BENCH_SAMPLES=5       starts timed before and after them (median)
#   BENCH_ONLY=           fly, burst or many: that section alone
#   BENCH_TMPDIR=/var/tmp where the temporary directory goes
#   BENCH_KEEP=1          keep it (raw figures in results/)
#
# Run as root. It may install crun and jq. Like native.sh, it runs in a
# private mount namespace with the cgroup2 mount at /sys/fs/cgroup/unified
# detached (crun 1.8 refuses hybrid mode otherwise).
set -euo pipefail
set -E
export LC_ALL=C

die() { echo "peers.sh: $*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "run me as root: it runs pods and containers"
self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/../.." && pwd)

if [ -z "${BENCH_PEERS_OUTER_NS:-}" ]; then
	[ -x "$repo/bin/podctl" ] && [ -x "$repo/bin/podctl-exec" ] && [ -f "$repo/bin/busybox.aci" ] ||
		die "bin/podctl, bin/podctl-exec or bin/busybox.aci missing: run ./build.sh first"
	missing=()
	command -v crun >/dev/null || missing+=(crun)
	command -v jq >/dev/null || missing+=(jq)
	if ((${#missing[@]})); then
		say "peers.sh: installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
			die "could not install: apt-get install -y ${missing[*]}"
	fi
	BENCH_PEERS_OUTER_NS=$(readlink /proc/self/ns/mnt) \
		exec unshare -m --propagation private -- bash "$self" "$@"
fi

[ "$(readlink /proc/self/ns/mnt)" != "$BENCH_PEERS_OUTER_NS" ] ||
	die "not in a private mount namespace; refusing to unmount anything"
if awk '$5 == "/sys/fs/cgroup/unified" { f = 1 } END { exit !f }' /proc/self/mountinfo; then
	umount -l /sys/fs/cgroup/unified
fi

cd "$repo"
PAIRS=${BENCH_PAIRS:-20}
BURST=${BENCH_BURST:-20}
BURST_ROUNDS=${BENCH_BURST_ROUNDS:-3}
MANY=${BENCH_MANY:-100}
SAMPLES=${BENCH_SAMPLES:-5}
ONLY=${BENCH_ONLY:-}
for v in PAIRS BURST BURST_ROUNDS MANY SAMPLES; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive number"
done
case $ONLY in "" | fly | burst | many) ;; *) die "BENCH_ONLY must be fly, burst or many" ;; esac
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

base=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/podctl-bench-peers.XXXXXX")
chmod 0755 "$base"
data=$base/data
bundle=$base/bundle
results=$base/results
crunroot=$base/crun-state
cgparent=/$(basename "$base")
mkdir -p "$results" "$bundle" "$crunroot" "$data"

cleanup() {
	local rc=$? id m d
	set +e
	trap - ERR
	# The running pods of section 3, then whatever is left.
	running_pods | xargs -r "$base/podctl" --dir "$data" stop --force >/dev/null 2>&1
	"$base/podctl" --dir "$data" gc --grace-period=0s >/dev/null 2>&1
	for id in $(crun --root "$crunroot" list -q 2>/dev/null); do crun --root "$crunroot" delete -f "$id" >/dev/null 2>&1; done
	for m in $(awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo); do
		[ -d "$m$cgparent" ] || continue
		for d in "$m$cgparent"/*/; do [ -d "$d" ] && rmdir "$d"; done
		rmdir "$m$cgparent" 2>/dev/null
	done
	if [ "${BENCH_KEEP:-}" = 1 ]; then
		say "peers.sh: kept $base"
	elif grep -qF " $base/" /proc/self/mountinfo; then
		echo "peers.sh: mounts left below $base, not removing it" >&2
	else
		rm -rf "$base"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "peers.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

cp bin/podctl bin/podctl-exec "$base/"
# What a native pod's stage1 becomes while the pod runs, when built.
[ ! -x bin/podctl-wait ] || cp bin/podctl-wait "$base/"
P() { "$base/podctl" --dir "$data" "$@"; }
running_pods() { P list --format=json 2>/dev/null | jq -r '.[] | select(.state == "running") | .uuid'; }

stat_of() { # FILE median|p90|min
	sort -g "$1" | awk -v what="$2" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan"; exit }
			if (what == "median") print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			else if (what == "p90") { i = int(0.9 * NR + 0.999999); print v[i] }
			else if (what == "min") print v[1]
		}'
}
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }
now_us() { local t=$EPOCHREALTIME; echo $((10#${t/./})); }

# timed NAME CMD...: run it once, add its wall time (µs) to results/NAME;
# T is that time. A failure stops the benchmark with what it said.
T=0
timed() {
	local name=$1 t0 t1 rc=0
	shift
	t0=$EPOCHREALTIME
	"$@" </dev/null >/dev/null 2>"$base/err" || rc=$?
	t1=$EPOCHREALTIME
	if ((rc != 0)); then
		echo "peers.sh: failed (exit $rc): $*" >&2
		sed 's/^/    /' "$base/err" >&2
		exit 1
	fi
	T=$((10#${t1/./} - 10#${t0/./}))
	echo "$T" >>"$results/$name"
}
row() { # LABEL NAME
	printf '%-50s %10s %10s %10s\n' "$1" "$(ms "$(stat_of "$results/$2" median)")" \
		"$(ms "$(stat_of "$results/$2" p90)")" "$(ms "$(stat_of "$results/$2" min)")"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

say "peers.sh: podctl $(P version | awk 'NR == 1 { print $NF }'), $(crun --version | awk 'NR == 1'), $(nproc) cores, load $(load)"
say "peers.sh: work directory $base"

P fetch --insecure-options=image bin/busybox.aci >/dev/null
tar -xf bin/busybox.aci -C "$bundle" rootfs

# --- 1. fly against the same mounts done by a shell script -------------------

if want fly; then
	# The tree fly pods run on: the overlay lower layer of a pod's app.
	P run --stage1=fly --insecure-options=image example.com/busybox --exec /bin/true >/dev/null
	lower=$(readlink -f "$(find "$data/pods" -name lower -type l | head -n 1)")
	[ -x "$lower/bin/true" ] || die "found no image tree under $data/pods (lower link)"
	P gc --grace-period=0s >/dev/null
	# What fly's app helper does, in sh: a fresh pod folder (upper, work,
	# root), a new mount namespace with private mounts, the overlay, /proc,
	# /sys and /dev, chroot and exec.
	cat >"$base/fly-by-hand.sh" <<-'EOF'
		#!/bin/sh
		set -e
		d=$1 lower=$2
		mkdir -p "$d/upper" "$d/work" "$d/root"
		exec unshare -m --propagation private sh -c '
			set -e
			mount -t overlay overlay -o "lowerdir=$2,upperdir=$1/upper,workdir=$1/work" "$1/root"
			mount -t proc -o nosuid,nodev,noexec proc "$1/root/proc"
			mount --rbind /sys "$1/root/sys"
			mount --rbind /dev "$1/root/dev"
			exec chroot "$1/root" /bin/true' sh "$d" "$lower"
	EOF
	chmod +x "$base/fly-by-hand.sh"
	for f in fly hand chroot version; do : >"$results/$f"; done
	: >"$results/ratio-hand"
	one() {
		case $1 in
		fly) timed fly "$base/podctl" --dir "$data" run --stage1=fly --insecure-options=image example.com/busybox --exec /bin/true ;;
		hand) timed hand "$base/fly-by-hand.sh" "$base/hand/$2" "$lower" ;;
		chroot) timed chroot chroot "$lower" /bin/true ;;
		version) timed version "$base/podctl" version ;;
		esac
	}
	for i in w1 w2 w3; do for f in fly hand chroot version; do one "$f" "$i"; done; done
	for f in fly hand chroot version; do : >"$results/$f"; done
	declare -A t
	for ((i = 1; i <= PAIRS; i++)); do
		if ((i % 2)); then order=(fly hand chroot version); else order=(version chroot hand fly); fi
		for f in "${order[@]}"; do one "$f" "$i"; t[$f]=$T; done
		awk -v a="${t[fly]}" -v b="${t[hand]}" 'BEGIN { print a / b }' >>"$results/ratio-hand"
		if ((i % 10 == 0)); then P gc --grace-period=0s >/dev/null; rm -rf "$base/hand"; fi
	done
	P gc --grace-period=0s >/dev/null
	rm -rf "$base/hand"
	say ""
	say "== 1. start to exit of /bin/true, fly against the same mounts by hand: $PAIRS rounds, order alternating =="
	printf '%-50s %10s %10s %10s\n' "" median p90 min
	row "podctl run --stage1=fly" fly
	row "sh: unshare -m, overlay, proc, sys, dev, chroot" hand
	row "chroot ROOT /bin/true (no mounts)" chroot
	row "podctl version (one podctl process)" version
	fly_hand=$(stat_of "$results/ratio-hand" median)
	printf 'fly/by-hand x%.2f (median of per-round ratios), x%s (ratio of medians); fly/chroot x%s; fly = x%s podctl version\n' \
		"$fly_hand" "$(div "$(stat_of "$results/fly" median)" "$(stat_of "$results/hand" median)")" \
		"$(div "$(stat_of "$results/fly" median)" "$(stat_of "$results/chroot" median)")" \
		"$(div "$(stat_of "$results/fly" median)" "$(stat_of "$results/version" median)")"
	say "load $(load)"
fi

# --- 2. BURST starts at once --------------------------------------------------

if want burst; then
	jq --arg cg "$cgparent" '
		.process.args = ["/bin/true"]
		| .process.terminal = false
		| .linux.namespaces = [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}]
		| .linux.cgroupsPath = $cg + "/ID"
		' <(cd "$base" && crun spec && cat config.json && rm config.json) >"$base/config-template.json"
	# One bundle a container: cgroupsPath differs. The rootfs is shared.
	for ((k = 1; k <= BURST; k++)); do
		mkdir -p "$base/b$k"
		jq --arg cg "$cgparent/c$k" --arg root "$bundle/rootfs" '.linux.cgroupsPath = $cg | .root.path = $root' \
			"$base/config-template.json" >"$base/b$k/config.json"
	done
	# burst WHICH ROUND: BURST starts in parallel; B = µs until the last ends.
	burst() {
		local k t0 t1 rc=0 pids=()
		t0=$EPOCHREALTIME
		for ((k = 1; k <= BURST; k++)); do
			if [ "$1" = podctl ]; then
				"$base/podctl" --dir "$data" run --stage1=native --net=none --insecure-options=image \
					example.com/busybox --exec /bin/true </dev/null >/dev/null 2>"$base/err-$k" &
			else
				crun --root "$crunroot" run --bundle "$base/b$k" "burst-$2-$k" </dev/null >/dev/null 2>"$base/err-$k" &
			fi
			pids+=($!)
		done
		for k in "${!pids[@]}"; do wait "${pids[$k]}" || rc=$?; done
		t1=$EPOCHREALTIME
		((rc == 0)) || { cat "$base"/err-* >&2; die "a $1 start of the burst failed (exit $rc)"; }
		B=$((10#${t1/./} - 10#${t0/./}))
	}
	: >"$results/burst-podctl"; : >"$results/burst-crun"
	burst podctl w; burst crun w
	P gc --grace-period=0s >/dev/null
	for ((i = 1; i <= BURST_ROUNDS; i++)); do
		if ((i % 2)); then order=(podctl crun); else order=(crun podctl); fi
		for n in "${order[@]}"; do burst "$n" "$i"; echo "$B" >>"$results/burst-$n"; done
		P gc --grace-period=0s >/dev/null
	done
	say ""
	say "== 2. $BURST starts of /bin/true at once on $(nproc) cores, until the last ends: $BURST_ROUNDS rounds =="
	printf '%-50s %10s %10s %10s\n' "" median p90 min
	row "$BURST x podctl run --stage1=native --net=none" burst-podctl
	row "$BURST x crun run" burst-crun
	say "podctl/crun x$(div "$(stat_of "$results/burst-podctl" median)" "$(stat_of "$results/burst-crun" median)") (ratio of medians); per start: podctl $(ms $(($(stat_of "$results/burst-podctl" median | cut -d. -f1) / BURST))), crun $(ms $(($(stat_of "$results/burst-crun" median | cut -d. -f1) / BURST)))"
	say "load $(load)"
fi

# --- 3. the start after MANY running pods against the first ------------------

if want many; then
	P gc --grace-period=0s >/dev/null
	P list --format=json | jq -e 'length == 0' >/dev/null || die "pods left before section 3"
	counts() { # mounts, cgroup folders, files in the data directory
		echo "$(wc -l </proc/self/mountinfo) mounts, $(find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | wc -l) cgroups, $(find "$data" 2>/dev/null | wc -l) files under the data directory"
	}
	startcmd=("$base/podctl" --dir "$data" run --stage1=native --net=none --insecure-options=image example.com/busybox --exec /bin/true)
	: >"$results/first"; : >"$results/after"
	timed warm "${startcmd[@]}"
	P gc --grace-period=0s >/dev/null
	before=$(counts)
	for ((i = 1; i <= SAMPLES; i++)); do timed first "${startcmd[@]}"; P gc --grace-period=0s >/dev/null; done
	say ""
	say "== 3. starting $MANY pods that sleep (podctl run -d, native) =="
	t0=$(now_us)
	for ((i = 1; i <= MANY; i++)); do
		P run -d --stage1=native --net=none --insecure-options=image example.com/busybox --exec /bin/sleep -- 100000 \
			</dev/null >/dev/null 2>"$base/err" || { cat "$base/err" >&2; die "pod $i of $MANY did not start"; }
		((i % 100)) || say "  $i/$MANY ($(ms $((($(now_us) - t0) / i))) a pod so far, load $(load))"
	done
	running=$(P list --format=json | jq '[.[] | select(.state == "running")] | length')
	[ "$running" = "$MANY" ] || die "$running pods running, want $MANY"
	after=$(counts)
	for ((i = 1; i <= SAMPLES; i++)); do
		timed after "${startcmd[@]}"
		# gc of exited pods only: the running ones stay.
		P gc --grace-period=0s >/dev/null
	done
	running_pods >"$base/running"
	timed stopall xargs -a "$base/running" "$base/podctl" --dir "$data" stop --force
	say ""
	say "== 3. start to exit of /bin/true, the first pod against the one after $MANY running pods: $SAMPLES starts each =="
	printf '%-50s %10s %10s %10s\n' "" median p90 min
	row "first start (no other pod)" first
	row "start number $((MANY + 1)) ($MANY running)" after
	say "after/first x$(div "$(stat_of "$results/after" median)" "$(stat_of "$results/first" median)") (ratio of medians); stopping the $MANY took $(ms "$(cat "$results/stopall")")"
	say "  before: $before"
	say "  after:  $after"
	say "load $(load)"
fi
say ""
say "peers.sh: load at the end $(load)"
