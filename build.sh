#!/usr/bin/env bash
# Installs what podctl needs on a Debian machine (umoci and skopeo make the
# OCI and Docker images of the tests), builds bin/podctl and the
# sample image bin/busybox.aci.
#
#   ./build.sh          install, build
#   ./build.sh test     install, build, run the whole test suite
#   ./build.sh bench    install, build, run the benchmarks in tests/bench
#                       (tests/bench/all.sh: each figure beside its peer)
#
# Run it as root (it uses apt-get).
set -euo pipefail
cd "$(dirname "$0")"

packages=(busybox-static systemd-container xz-utils bzip2 ca-certificates git gcc libc6-dev python3
	docker-registry skopeo umoci openssl gnupg containernetworking-plugins iptables iproute2 uidmap)
# What the benchmarks use beside podctl.
bench_packages=(hyperfine crun runc jq time)

need_install() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 0
	done
	return 1
}

install() {
	if need_install "$@"; then
		if [ "$(id -u)" != 0 ]; then
			echo "build.sh: installing ${*} needs root: run sudo ./build.sh" >&2
			exit 1
		fi
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
	fi
}

had_registry=$(need_install docker-registry || echo yes)
install "${packages[@]}"
# docker-registry's package starts a registry service on port 5000 of every
# address. The registry tests run their own, on 127.0.0.1 and a free port;
# a service this script installed is stopped and kept from starting at boot.
if [ -z "$had_registry" ]; then
	if [ -d /run/systemd/system ]; then
		systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
	elif [ -x /etc/init.d/docker-registry ]; then
		/etc/init.d/docker-registry stop >/dev/null 2>&1 || true
		update-rc.d docker-registry disable >/dev/null 2>&1 || true
	fi
fi
if [ "${1:-}" = bench ]; then
	install "${bench_packages[@]}"
fi

# Go: the one in /usr/local/go if there is one, else Debian's, which fetches
# the toolchain go.mod asks for through the module proxy.
export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null; then
	install golang-go
fi
export GOTOOLCHAIN=auto

mkdir -p bin
# Static: the systemd flavor binds the binary into pods.
CGO_ENABLED=0 go build -o bin/podctl .
# What a pod's start must not link (registries, TLS, OpenPGP, OCI and
# Docker images) is in a helper podctl executes, installed beside it.
CGO_ENABLED=0 go build -o bin/podctl-fetch ./cmd/podctl-fetch
# The metadata service of --mds-register pods: net/http, which a start
# without it must not link.
CGO_ENABLED=0 go build -o bin/podctl-mds ./cmd/podctl-mds
# A native pod's exec helper: what becomes each app, a small static C
# program so that it starts at once; podctl runs its own, slower, where
# it is missing.
gcc -static -O2 -Wall -Wextra -Werror -o bin/podctl-exec cmd/podctl-exec/podctl-exec.c
# What a native pod's stage1 becomes while the pod runs: a small static C
# program that waits, rather than a Go one that keeps 3 MiB resident;
# stage1 waits itself where it is missing.
gcc -static -O2 -Wall -Wextra -Werror -o bin/podctl-wait cmd/podctl-wait/podctl-wait.c

# The sample image: busybox-static with its applets, as an appc ACI.
sample=$(mktemp -d)
trap 'rm -rf "$sample"' EXIT
mkdir -p "$sample"/rootfs/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$sample/rootfs/bin/busybox"
for applet in sh echo cat ls sleep true false id env hostname ps; do
	ln -s busybox "$sample/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$sample/rootfs/etc/passwd"
echo 'root:x:0:' >"$sample/rootfs/etc/group"
cat >"$sample/manifest" <<'JSON'
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/busybox",
 "labels":[{"name":"version","value":"1.0"},{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],
 "app":{"exec":["/bin/sh"],"user":"0","group":"0"}}
JSON
tar -C "$sample" --numeric-owner --owner=0 --group=0 -cf bin/busybox.aci manifest rootfs

case "${1:-}" in
test)
	# Independent packages and tests run in parallel; the end-to-end tests
	# run real pods as root.
	go vet ./...
	go test -p 2 -count=1 -timeout 30m ./...
	# Every parser of outside input is fuzzed a few seconds per target,
	# so that a regression fails here.
	tests/fuzz.sh
	;;
bench)
	exec tests/bench/all.sh
	;;
esac
