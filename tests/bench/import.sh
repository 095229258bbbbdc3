#!/usr/bin/env bash
# Import speed of an OCI image: podctl fetch (one streamed pass: every layer
# checked and stored) plus image render (the tree a pod runs on), against
# tar -x of the same layer and against skopeo copy + umoci unpack of the
# same image, paired and interleaved; MB/s of the image's unpacked size,
# and peak RSS. Figures and ratios, never pass/fail. See README.md.
#
#   ./build.sh && tests/bench/import.sh
#   BENCH_MB=100 BENCH_ROUNDS=2 tests/bench/import.sh
#
# Run as root. Needs umoci, skopeo, GNU time and gzip (build.sh installs
# the first two). Everything happens in a fresh folder under $BENCH_TMPDIR
# (default /var/tmp), removed at the end.
set -euo pipefail
export LC_ALL=C
repo=$(cd "$(dirname "$0")/../.." && pwd)
MB=${BENCH_MB:-500}
ROUNDS=${BENCH_ROUNDS:-3}
die() { echo "import.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root"
[ -x "$repo/bin/podctl" ] && [ -x "$repo/bin/podctl-fetch" ] || die "bin/podctl and bin/podctl-fetch missing: run ./build.sh first"
for t in umoci skopeo gzip /usr/bin/time python3; do command -v "$t" >/dev/null || die "need $t"; done
T=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/podctl-bench-import.XXXXXX")
trap 'rm -rf "$T"' EXIT
cp "$repo/bin/podctl" "$repo/bin/podctl-fetch" "$T/"

# The image: busybox and MB of incompressible files in 4 MiB pieces, in
# one gzip layer, as images of that size usually are.
cd "$T"
umoci init --layout img >/dev/null
umoci new --image img:1 >/dev/null
umoci unpack --image img:1 bundle >/dev/null
mkdir -p bundle/rootfs/bin bundle/rootfs/data
cp /bin/busybox bundle/rootfs/bin/ && ln -s busybox bundle/rootfs/bin/sh
for ((i = 0; i < MB / 4; i++)); do head -c 4194304 /dev/urandom >"bundle/rootfs/data/f$i"; done
umoci repack --image img:1 bundle >/dev/null
rm -rf bundle
layer=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][-1]["digest"].split(":")[1])' \
	"img/blobs/sha256/$(python3 -c 'import json; print(json.load(open("img/index.json"))["manifests"][0]["digest"].split(":")[1])')")
size_mb=$((MB / 4 * 4 + 2)) # the data files and busybox
echo "image: $size_mb MB unpacked, layer $(du -m "img/blobs/sha256/$layer" | cut -f1) MB gzip; $ROUNDS rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"

timed() { # NAME CMD...: appends "seconds maxrss_kb" to NAME.times
	local name=$1; shift
	/usr/bin/time -f "%e %M" -o "$T/t.out" "$@" >"$T/stdout.out" 2>"$T/err.out" || { cat "$T/err.out" >&2; die "$name failed: $*"; }
	cat "$T/t.out" >>"$T/$name.times"
}
for ((r = 1; r <= ROUNDS; r++)); do
	rm -rf d out tarx sk sku
	sync
	if ((r % 2)); then order="podctl tar skopeo"; else order="skopeo tar podctl"; fi
	for w in $order; do
		case $w in
		podctl)
			timed fetch "$T/podctl" --dir "$T/d" fetch --quiet --insecure-options=image "oci:$T/img:1"
			timed render "$T/podctl" --dir "$T/d" image render --rootfs-only "$(cat "$T/stdout.out")" "$T/out"
			;;
		tar) mkdir -p tarx && timed tar tar -xzf "img/blobs/sha256/$layer" -C tarx ;;
		skopeo)
			timed skopeo skopeo copy -q "oci:$T/img:1" "oci:$T/sk:1"
			timed umoci umoci unpack --rootless --image "$T/sk:1" "$T/sku"
			;;
		esac
	done
done
python3 - "$T" "$size_mb" <<'PY'
import sys, statistics as st, os
T, mb = sys.argv[1], float(sys.argv[2])
def col(name):
    rows = [l.split() for l in open(os.path.join(T, name + ".times"))]
    return [float(r[0]) for r in rows], [int(r[1]) for r in rows]
f, fr = col("fetch"); r, rr = col("render"); t, tr = col("tar"); s, sr = col("skopeo"); u, ur = col("umoci")
pod = [a + b for a, b in zip(f, r)]; sku = [a + b for a, b in zip(s, u)]
def line(name, secs, rss):
    m = st.median(secs)
    print(f"{name:34s} {m:6.2f} s  {mb / m:7.1f} MB/s  peak RSS {max(rss) / 1024:6.1f} MiB")
line("podctl fetch + image render", pod, fr + rr)
line("  fetch (check and store layers)", f, fr)
line("  image render (the tree)", r, rr)
line("tar -xzf of the layer", t, tr)
line("skopeo copy + umoci unpack", sku, sr + ur)
print(f"podctl/tar  x{st.median(pod) / st.median(t):.2f}   podctl/(skopeo+umoci)  x{st.median(pod) / st.median(sku):.2f}   (medians of {len(pod)} rounds)")
PY
echo "import.sh: load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
