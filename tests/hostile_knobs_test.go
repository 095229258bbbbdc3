package tests

import (
	"slices"
	"strings"
	"testing"
)

// A knob that widens what an app may do widens it by exactly its own
// operation: the hostile image, run with the knob, gets out only by the
// ways the knob opens (mustOpen prove it took effect), and every other way
// stays shut.
type widening struct {
	name string
	// flags go before the image; appFlags after it.
	flags, appFlags []string
	// user: the ways of a --user app.
	user bool
	// mustOpen are the ways the knob opens; mayOpen those it may open,
	// by the host's settings (perf_event_paranoid, unprivileged BPF).
	mustOpen, mayOpen []string
	// nspawnKeeps are ways of mustOpen that systemd-nspawn's own
	// confinement keeps shut on the systemd flavor.
	nspawnKeeps []string
}

var widenings = []widening{
	{
		// Seccomp off: the kernel surfaces only the filter kept shut open;
		// what capabilities, read-only mounts and the device policy keep
		// stays shut.
		// systemd-nspawn's own filter still refuses keyctl.
		name: "--seccomp=unconfined", appFlags: []string{"--seccomp=unconfined"},
		mustOpen: []string{"userns-mount", "keyctl"}, mayOpen: []string{"bpf", "perf"},
		nspawnKeeps: []string{"keyctl"},
	},
	{
		// no_new_privs off: a --user app's setuid-root binary makes it
		// root, with the default capabilities; a file capability beyond
		// the bounding set (CAP_SYS_ADMIN) is still refused at execve.
		name: "--no-new-privileges=false", appFlags: []string{"--no-new-privileges=false"}, user: true,
		mustOpen: []string{"setuid"},
	},
	{
		// One capability given: what it allows, in the pod, is no way
		// out; every way stays shut.
		name: "--caps-retain=CAP_NET_RAW,CAP_MKNOD", appFlags: []string{"--caps-retain=CAP_NET_RAW,CAP_MKNOD"},
	},
}

func TestHostileWidened(t *testing.T) { forEachIsolatedFlavor(t, testHostileWidened) }

func testHostileWidened(t *testing.T, e *env) {
	h := newHostile(t, e)
	for _, w := range widenings {
		t.Run(w.name, func(t *testing.T) {
			ways := waysFor(e.flavor, w.user)
			args := append([]string{"run"}, w.flags...)
			args = append(args, "example.com/hostile")
			if w.user {
				args = append(args, "--user", "nobody", "--group", "nogroup")
			}
			args = append(append(args, w.appFlags...), "--exec", "/bin/hostile", "--")
			r := e.podctl(append(append(args, h.args...), wayNames(ways)...)...)
			must, may := w.mustOpen, w.mayOpen
			if e.flavor == "systemd" {
				must, may = nil, append(append([]string{}, w.mayOpen...), w.nspawnKeeps...)
				for _, n := range w.mustOpen {
					if !slices.Contains(w.nspawnKeeps, n) {
						must = append(must, n)
					}
				}
			}
			checkWidened(t, e.flavor+" "+w.name, ways, r, must, may)
		})
	}
}

// checkWidened checks that the ways of mustOpen got out, those of
// mayOpen got out or not, and every other way was refused.
func checkWidened(t *testing.T, where string, ways []hostileWay, r result, mustOpen, mayOpen []string) {
	t.Helper()
	lines := hostileLines(r.stdout)
	in := func(list []string, name string) bool { return slices.Contains(list, name) }
	for _, n := range append(append([]string{}, mustOpen...), mayOpen...) {
		found := false
		for _, w := range ways {
			found = found || w.name == n
		}
		if !found {
			t.Fatalf("%s: way %s is not among the ways tried", where, n)
		}
	}
	for _, w := range ways {
		line, ok := lines[w.name]
		switch {
		case !ok:
			t.Errorf("%s: %s was not tried: %s", where, w.name, r)
		case strings.HasPrefix(line, "ERROR "):
			t.Errorf("%s: %s could not be tried: %s", where, w.name, line)
		case in(mustOpen, w.name) && !strings.HasPrefix(line, "ESCAPED "):
			t.Errorf("%s: the knob should open %s, which stayed shut: %s", where, w.name, line)
		case in(mustOpen, w.name) || in(mayOpen, w.name):
			t.Logf("%s: opened by the knob: %s", where, line)
		case strings.HasPrefix(line, "ESCAPED "):
			t.Errorf("%s opened more than its own operation: %s (defence wanted: %s)", where, line, w.defence)
		default:
			t.Logf("%s: %s", where, line)
		}
	}
}
