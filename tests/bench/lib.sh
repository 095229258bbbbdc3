# Sourced by run.sh and scale.sh: copies of one pod, made cheaply, and the
# removal of the temporary directory.
#
# clone_pods N DEST: N copies of the pod folder $base/template in DEST,
# each under a fresh UUID. The copies double each round (one cp of the
# whole lot), so it takes log2(N) processes, not N. The sourcing script
# gives $stage (scratch on the same file system) and move_all FROM TO
# [fresh], which moves every pod folder of FROM into TO, renaming it to a
# fresh UUID when asked. The copies' dirty pages are written back at the
# end, so that the first fsync of a timed command is not charged for them.
clone_pods() {
	local n=$1 dest=$2 have=1 k u
	rm -rf "$stage"
	mkdir -p "$stage/a" "$stage/b"
	read -r u </proc/sys/kernel/random/uuid
	cp -a "$base/template" "$stage/a/$u"
	while ((have < n)); do
		k=$((n - have < have ? n - have : have))
		if ((k == have)); then
			cp -a "$stage/a/." "$stage/b/"
		else
			# awk reads all of ls's output: head would leave ls a SIGPIPE.
			(cd "$stage/a" && ls | awk -v k="$k" 'NR <= k' | xargs cp -a -t ../b)
		fi
		move_all "$stage/b" "$stage/a" fresh
		have=$((have + k))
	done
	move_all "$stage/a" "$dest"
	rm -rf "$stage"
	sync -f "$dest"
}

count_in() { find "$data/pods/$1" -mindepth 1 -maxdepth 1 | wc -l; }

# remove_base removes the temporary directory $base, unless BENCH_KEEP=1,
# and never through a mount left below it.
remove_base() {
	if [ "${BENCH_KEEP:-}" = 1 ]; then
		say "bench: kept $base"
	elif [ -d "$base" ]; then
		if grep -qF " $base/" /proc/self/mountinfo; then
			echo "bench: mounts left below $base, not removing it" >&2
		else
			rm -rf "$base"
		fi
	fi
}
