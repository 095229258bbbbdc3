# Sourced by run.sh and scale.sh: copies of one pod, made cheaply, and the
# removal of the temporary directory.
#
# clone_pods N DEST: N copies of the pod folder $base/template in DEST,
# each under a fresh UUID. The copies double each round (one cp of the
# whole lot), so it takes log2(N) processes, not N. The sourcing script
# gives $base and $stage (scratch on the same file system). The copies'
# dirty pages are written back at the end, so that the first fsync of a
# timed command is not charged for them.

# move_all FROM TO [fresh]: rename every entry of FROM into TO (under a fresh
# UUID with "fresh"), in one process.
move_all() {
	perl -e '
		my ($from, $to, $fresh) = @ARGV;
		opendir(my $d, $from) or die "$from: $!";
		for my $e (grep { !/^\./ } readdir $d) {
			my $id = $e;
			if ($fresh) {
				open(my $u, "<", "/proc/sys/kernel/random/uuid") or die $!;
				$id = <$u>; chomp $id; close $u;
			}
			rename("$from/$e", "$to/$id") or die "rename $from/$e: $!";
			next unless $fresh;
			# The pod names its cgroups after its UUID, and gc checks it.
			my $cg = "$to/$id/stage1/cgroup";
			next unless -f $cg;
			open(my $i, "<", $cg) or die "$cg: $!"; local $/; my $t = <$i>; close $i;
			$t =~ s/podctl-[0-9a-f-]{36}/podctl-$id/g;
			open(my $o, ">", $cg) or die "$cg: $!"; print $o $t; close $o;
		}' "$1" "$2" "${3:-}"
}

# clone_pods N DEST: see above.
clone_pods() {
	local n=$1 dest=$2 have=1 k
	rm -rf "$stage"
	mkdir -p "$stage/a" "$stage/b"
	# Through move_all as every other copy, so its cgroup record names it.
	cp -a "$base/template" "$stage/b/template"
	move_all "$stage/b" "$stage/a" fresh
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
