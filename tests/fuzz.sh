#!/bin/sh
# Runs every fuzz target of the module briefly, so that a parser that
# crashes again on what a target once found fails the build.
#
#   tests/fuzz.sh              each target for FUZZTIME (default 3s)
#   FUZZTIME=1m tests/fuzz.sh  longer, to look for new crashes
#
# Targets are found, not listed here: every package whose tests hold a
# `func FuzzXxx(f *testing.F)` gets its test binary built once, with the
# fuzzing instrumentation, and asked for its targets (-test.list); each
# target then runs alone for FUZZTIME, as `go test -run '^$' -fuzz
# '^FuzzXxx$' -fuzztime FUZZTIME ./pkg` would run it, but without
# relinking the binary for every target. A failing input is written where
# go test puts it, to the package's testdata/fuzz/FuzzXxx/, and reruns as
# a seed with plain `go test ./pkg`. Run as root: some targets make real
# pods and stores. The script exits non-zero if any target fails or any
# package does not build.
set -u

FUZZTIME=${FUZZTIME:-3s}
# Minimizing each new interesting input can take a short run's whole time;
# a crash's input is kept whole anyway.
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s}

cd "$(dirname "$0")/.." || exit 2
work=$(mktemp -d "${TMPDIR:-/tmp}/podctl-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM
cache=$(go env GOCACHE)/fuzz

# fuzz_one runs one target. Go 1.26's coordinator can fail a run that
# found nothing with a bare "context deadline exceeded": when the fuzz
# time ends, it takes the deadline for an error unless the workers'
# context is already cancelled too (internal/fuzz's stop), a race lost
# more often on a loaded machine. Such a run, which wrote no failing
# input, is run again, twice at most; a real failure always writes its
# input.
fuzz_one() {
	pkg=$1 dir=$2 bin=$3 name=$4
	for attempt in 1 2 3; do
		before=$(ls "$dir/testdata/fuzz/$name" 2>/dev/null)
		if (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^$name\$" \
			-test.fuzztime="$FUZZTIME" -test.fuzzminimizetime="$FUZZMINIMIZETIME" \
			-test.fuzzcachedir="$cache/$pkg" -test.paniconexit0 -test.timeout=10m) >"$work/run.log" 2>&1; then
			return 0
		fi
		after=$(ls "$dir/testdata/fuzz/$name" 2>/dev/null)
		if [ "$before" != "$after" ] || ! grep -q '^    context deadline exceeded$' "$work/run.log"; then
			return 1
		fi
		echo "note $pkg $name: the fuzz coordinator lost its deadline race, nothing found; running it again"
	done
	return 1
}

failed=0
targets=0
start=$(date +%s)

# Packages with test files, as "IMPORTPATH DIR", then only those with a
# fuzz target (a quick look at the source; -test.list says which exactly).
go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' ./... >"$work/pkgs" || exit 2
while read -r pkg dir; do
	grep -qs '^func Fuzz[A-Za-z0-9_]*(' "$dir"/*_test.go || continue
	bin="$work/$(echo "$pkg" | tr / _).test"
	if ! go test -c -fuzz=. -o "$bin" "$pkg" >"$work/build.log" 2>&1; then
		cat "$work/build.log"
		echo "FAIL $pkg: the fuzz build failed"
		failed=$((failed + 1))
		continue
	fi
	# The binary runs in its package's folder, as go test runs it: seeds
	# are read from, and failures written to, testdata/fuzz there.
	names=$(cd "$dir" && "$bin" -test.list '^Fuzz' 2>"$work/list.log" | grep '^Fuzz')
	if [ -z "$names" ]; then
		cat "$work/list.log"
		echo "FAIL $pkg: its fuzz targets could not be listed"
		failed=$((failed + 1))
		continue
	fi
	for name in $names; do
		targets=$((targets + 1))
		if fuzz_one "$pkg" "$dir" "$bin" "$name"; then
			echo "ok   $pkg $name ($(grep -o 'execs: [0-9]*' "$work/run.log" | tail -1))"
		else
			cat "$work/run.log"
			echo "FAIL $pkg $name"
			failed=$((failed + 1))
		fi
	done
done <"$work/pkgs"

echo "fuzz targets ran $FUZZTIME each, in $(($(date +%s) - start))s"
echo "fuzz: $((targets - failed)) passed, $failed failed"
if [ "$targets" -eq 0 ]; then
	echo "no fuzz target found"
	exit 1
fi
[ "$failed" -eq 0 ]
