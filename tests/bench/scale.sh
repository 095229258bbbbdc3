#!/usr/bin/env bash
# podctl at scale: list, status and gc of N pods. Figures and ratios, never
# pass/fail. See README.md.
#
#   ./build.sh && tests/bench/scale.sh
#   BENCH_BASELINE=/tmp/old/podctl tests/bench/scale.sh   # before/after, paired
#
# Knobs (environment):
#   BENCH_N=10000         pods
#   BENCH_RUNS=7          timed runs of each list/status measure
#   BENCH_GC_ROUNDS=3     paired rounds of gc --mark-only, gc removal and rm -rf
#   BENCH_BASELINE=PATH   another podctl binary timed beside bin/podctl, on
#                         the same pods, interleaved (its figures print as "old")
#   BENCH_TMPDIR=/var/tmp where the temporary data directory goes
#   BENCH_KEEP=1          keep the temporary directory
set -euo pipefail
set -E

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

N=${BENCH_N:-10000}
RUNS=${BENCH_RUNS:-7}
GC_ROUNDS=${BENCH_GC_ROUNDS:-3}
TMPBASE=${BENCH_TMPDIR:-/var/tmp}

die() { echo "bench: $*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "run me as root (sudo tests/bench/scale.sh)"
[ -x bin/podctl ] && [ -f bin/busybox.aci ] || die "bin/podctl or bin/busybox.aci missing: run ./build.sh first"
command -v perl >/dev/null || die "perl is needed to clone pods and hold their locks"

base=$(mktemp -d "$TMPBASE/podctl-scale.XXXXXX")
chmod 0755 "$base"
data=$base/data
stage=$base/stage
res=$base/results
mkdir -p "$res"
holder=

# shellcheck source=tests/bench/lib.sh
. "$repo/tests/bench/lib.sh"

cgparent=
# remove_cgparent removes the running pods' cgroup folders.
remove_cgparent() {
	if [ -n "$cgparent" ] && [ -d "$cgparent" ]; then
		find "$cgparent" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} +
		rmdir "$cgparent"
	fi
	cgparent=
}

cleanup() {
	local rc=$?
	# shellcheck disable=SC2086 # a list of pids
	[ -z "$holder" ] || kill $holder 2>/dev/null || true
	remove_cgparent || true
	remove_base
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# Private copies: others may rebuild bin/podctl meanwhile.
cp bin/podctl "$base/new"
bins=(new)
if [ -n "${BENCH_BASELINE:-}" ]; then
	cp "$BENCH_BASELINE" "$base/old"
	bins=(new old)
fi
P() { "$base/new" --dir "$data" "$@"; }

now_us() { local t=$EPOCHREALTIME; echo $((10#${t/./})); }

# run_timed FILE CMD...: wall microseconds of one run appended to FILE;
# output through a pipe, as for a user's `podctl list | grep`.
run_timed() {
	local file=$1 t0 t1 rc=0
	shift
	t0=$(now_us)
	"$@" 2>"$base/err" | cat >/dev/null || rc=$?
	t1=$(now_us)
	((rc == 0)) || { cat "$base/err" >&2; die "failed (exit $rc): $*"; }
	echo $((t1 - t0)) >>"$file"
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }
perpod() { awk -v u="$1" -v n="$2" 'BEGIN { printf "%.1f us/pod", u / n }'; }

# --- a template pod, and N copies of it ----------------------------------------

say "bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), N=$N, data $data"
P fetch --insecure-options=image bin/busybox.aci >/dev/null
timeout -k 5 120 "$base/new" --dir "$data" run --stage1=fly example.com/busybox --exec /bin/true ||
	die "podctl run --stage1=fly of /bin/true failed or did not end within 120s"
template=$(ls "$data/pods/run")
[ "$(echo "$template" | wc -w)" = 1 ] || die "expected one pod in run/, found: $template"
mv "$data/pods/run/$template" "$base/template"
# A running pod's cgroup record, as its stage1 writes it (and removes it,
# with the folders it names, once the pod has ended): from a pod of the
# same image while its app sleeps.
sleeper=$(timeout -k 5 120 "$base/new" --dir "$data" run --detach --stage1=fly example.com/busybox --exec /bin/sleep -- 600) ||
	die "podctl run --detach --stage1=fly of /bin/sleep failed or was not ready within 120s"
cp "$data/pods/run/$sleeper/stage1/cgroup" "$base/running-cgroup"
P stop "$sleeper" >/dev/null
P status --wait "$sleeper" >/dev/null
rm -rf "${data:?}/pods/run/$sleeper"


# --- list and status -----------------------------------------------------------

# Each binary lists its own copy of the same pods (same UUIDs, same
# files): the summaries list keeps in a pod are a cache of one binary's
# format, which another version may not read and would write anew on
# every run, each undoing the other's.
dataof() { if [ "$1" = old ]; then echo "$base/data-old"; else echo "$data"; fi; }

# measure NAME CMD...: RUNS interleaved runs of every binary (the order
# flips each run), one results file per binary.
measure() {
	local name=$1 i b order
	shift
	for b in "${bins[@]}"; do "$base/$b" --dir "$(dataof "$b")" "$@" >/dev/null 2>&1 || true; done # warm-up
	for ((i = 0; i < RUNS; i++)); do
		order=("${bins[@]}")
		if ((i % 2)) && ((${#bins[@]} == 2)); then order=(old new); fi
		for b in "${order[@]}"; do run_timed "$res/$name-$b" "$base/$b" --dir "$(dataof "$b")" "$@"; done
	done
}

t0=$(now_us)
clone_pods "$N" "$data/pods/run"
say "bench: cloned $N pods in $(ms $(($(now_us) - t0)))"
[ "$(count_in run)" = "$N" ] || die "cloning made $(count_in run) pods, not $N"
if ((${#bins[@]} == 2)); then
	for f in embryo prepare prepared run exited-garbage garbage; do mkdir -p "$base/data-old/pods/$f"; done
	cp -a "$data/pods/run/." "$base/data-old/pods/run/"
	# As clone_pods does: the copies' writeback is not the first list's.
	sync
fi
# The first list of pods never listed reads their files and writes their
# summaries: timed once per binary, each on its own copies.
for b in "${bins[@]}"; do
	find "$(dataof "$b")/pods/run" -mindepth 2 -maxdepth 2 -name summary -delete
	run_timed "$res/list-first-$b" "$base/$b" --dir "$(dataof "$b")" list
done
out=$(P list --no-legend --filter state=exited --count)
grep -q "^exited  *$N\$" <<<"$out" || die "list does not show $N exited pods: $out"
mid=$(ls "$data/pods/run" | sort | sed -n "$(((N + 1) / 2))p")

measure list-exited list
measure listjson-exited list --format=json
measure status-uuid status "$mid"
measure status-prefix status "${mid:0:8}"

# Running pods look as a native pod does while its app runs: no result and
# no exit status, the app's pid file, and its folder in the unified cgroup
# hierarchy, which list reads to say whether the pod is paused. The
# folders are made below one of the bench's own (cgparent), removed at the
# end; every copy of a pod names the same one.
# The file system type is the field after the "-" that ends the optional
# fields of a mountinfo line.
unified=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
if [ -n "$unified" ]; then
	cgparent=$(mktemp -d "$unified/bench-scale.XXXXXX")
fi
for b in "${bins[@]}"; do
	perl -e '
		my ($dir, $unified, $parent, $record, $sleeper) = @ARGV;
		open(my $r, "<", $record) or die "$record: $!"; my $rec = do { local $/; <$r> }; close $r;
		opendir(my $d, $dir) or die "$dir: $!";
		for my $id (grep { !/^\./ } readdir $d) {
			my $p = "$dir/$id";
			unlink("$p/result");
			opendir(my $a, "$p/apps") or die "$p/apps: $!";
			for my $app (grep { !/^\./ } readdir $a) {
				unlink("$p/apps/$app/exit");
				open(my $o, ">", "$p/apps/$app/pid") or die $!; print $o "7\n"; close $o;
			}
			my $cg = "$p/stage1/cgroup";
			(my $t = $rec) =~ s/podctl-\Q$sleeper\E/podctl-$id/g;
			if ($parent) {
				$t =~ s{^\Q$unified\E/podctl-\Q$id\E$}{$parent/podctl-$id}m or die "$record names no unified folder";
				mkdir("$parent/podctl-$id") or $!{EEXIST} or die "mkdir $parent/podctl-$id: $!";
			}
			open(my $o, ">", $cg) or die "$cg: $!"; print $o $t; close $o;
		}' "$(dataof "$b")/pods/run" "$unified" "$cgparent" "$base/running-cgroup" "$sleeper"
done

# A helper holds every pod's lock, as stage1 does; one per copy of the
# pods, each within the limit of open files.
holder=
for b in "${bins[@]}"; do
	fifo=$base/ready-$b
	mkfifo "$fifo"
	perl -e '
		use Fcntl qw(:flock);
		my ($dir, $fifo) = @ARGV;
		my @held;
		if (opendir(my $d, $dir)) {
			for my $e (grep { !/^\./ } readdir $d) {
				open(my $h, "<", "$dir/$e") or last;
				flock($h, LOCK_EX | LOCK_NB) or last;
				push @held, $h;
			}
		}
		# Always tell the count, so that the script never waits on the FIFO.
		open(my $r, ">", $fifo) or die $!; print $r scalar(@held), "\n"; close $r;
		sleep 3600;' "$(dataof "$b")/pods/run" "$fifo" &
	holder+=" $!"
	read -r held <"$fifo"
	[ "$held" = "$N" ] || die "the lock holder of $b's pods holds $held locks, not $N"
done
out=$(P list --no-legend --count)
grep -q "^running  *$N\$" <<<"$out" || die "list does not show $N running pods: $out"
measure list-running list
measure listjson-running list --format=json
measure status-running status "$mid"
# shellcheck disable=SC2086 # a list of pids
kill $holder
wait $holder 2>/dev/null || true
holder=
remove_cgparent
rm -rf "$base/data-old"

# --- gc against rm -rf, paired ---------------------------------------------------

# Each round: gc --mark-only and gc removal of N pods by every binary, and
# rm -rf of N copies, in an order that turns each round.
for ((r = 0; r < GC_ROUNDS; r++)); do
	order=("${bins[@]}" rmrf)
	((r % 2)) && order=(rmrf "${bins[@]}")
	for b in "${order[@]}"; do
		# Fresh copies for each, so that none is charged with writing back
		# what an earlier measure left dirty (the summaries list wrote).
		find "$data/pods/run" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
		clone_pods "$N" "$data/pods/run"
		if [ "$b" = rmrf ]; then
			run_timed "$res/rmrf" find "$data/pods/run" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
			[ "$(count_in run)" = 0 ] || die "rm -rf left pods"
			continue
		fi
		run_timed "$res/gcmark-$b" "$base/$b" --dir "$data" gc --mark-only
		[ "$(count_in exited-garbage)" = "$N" ] || die "$b gc --mark-only marked $(count_in exited-garbage), not $N"
		run_timed "$res/gcremove-$b" "$base/$b" --dir "$data" gc --grace-period=0s
		[ "$(count_in exited-garbage)" = 0 ] || die "$b gc left $(count_in exited-garbage) pods"
	done
	say "bench: gc round $((r + 1))/$GC_ROUNDS done"
done

# --- figures -----------------------------------------------------------------------

say ""
say "== N=$N pods; medians of $RUNS runs (gc: $GC_ROUNDS rounds); wall clock =="
printf '%-28s' "measure"
for b in "${bins[@]}"; do printf '%24s' "$b"; done
((${#bins[@]} == 2)) && printf '%10s' "new/old"
printf '\n'
for name in list-first list-exited listjson-exited list-running listjson-running status-uuid status-prefix status-running gcmark gcremove; do
	printf '%-28s' "$name"
	for b in "${bins[@]}"; do
		m=$(median "$res/$name-$b")
		case $name in status*) printf '%24s' "$(ms "$m")" ;; *) printf '%24s' "$(ms "$m") $(perpod "$m" "$N")" ;; esac
	done
	((${#bins[@]} == 2)) && printf '%10s' "x$(div "$(median "$res/$name-new")" "$(median "$res/$name-old")")"
	printf '\n'
done
rm_m=$(median "$res/rmrf")
printf '%-28s%24s\n' "rm -rf (floor)" "$(ms "$rm_m") $(perpod "$rm_m" "$N")"
for b in "${bins[@]}"; do
	say "gc removal / rm -rf ($b): x$(div "$(median "$res/gcremove-$b")" "$rm_m")"
done
say "bench: load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
