package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
)

// ErrNoFreezer is returned when none of a group's folders can freeze it:
// no unified hierarchy (Linux 5.2 and later) and no v1 freezer.
var ErrNoFreezer = errors.New("this host gives podctl no cgroup freezer: mount cgroup2 or the v1 freezer controller")

// freezer is how one of a group's folders freezes: the unified
// hierarchy's cgroup.freeze, or the v1 freezer's freezer.state.
type freezer struct {
	dir string
	v2  bool
}

// freezerOf finds the folder of the group that can freeze it, preferring
// the unified hierarchy. Both freeze the folder and everything below it.
func (g *Group) freezerOf() (freezer, error) {
	for _, d := range g.Dirs {
		if _, err := os.Stat(filepath.Join(d, "cgroup.freeze")); err == nil {
			return freezer{dir: d, v2: true}, nil
		}
	}
	for _, d := range g.Dirs {
		if _, err := os.Stat(filepath.Join(d, "freezer.state")); err == nil {
			return freezer{dir: d}, nil
		}
	}
	return freezer{}, ErrNoFreezer
}

// Freeze stops every process of the group and below it, and waits, up to
// timeout, until the kernel reports them all stopped.
func (g *Group) Freeze(timeout time.Duration) error {
	f, err := g.freezerOf()
	if err != nil {
		return err
	}
	file, value := "freezer.state", "FROZEN"
	if f.v2 {
		file, value = "cgroup.freeze", "1"
	}
	if err := os.WriteFile(filepath.Join(f.dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("freezing cgroup %s: %w", f.dir, err)
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		frozen, err := f.frozen()
		if err != nil || frozen {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still not frozen after %s", f.dir, timeout)
		}
	}
}

// Thaw lets the processes of a frozen group run again.
func (g *Group) Thaw() error {
	f, err := g.freezerOf()
	if err != nil {
		return err
	}
	file, value := "freezer.state", "THAWED"
	if f.v2 {
		file, value = "cgroup.freeze", "0"
	}
	if err := os.WriteFile(filepath.Join(f.dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("thawing cgroup %s: %w", f.dir, err)
	}
	return nil
}

// Frozen reports whether the group is paused: told to freeze, whether or
// not the kernel has stopped every process yet. A process that joins a
// frozen folder (a native pod's init, 100 ms into the pod's run) makes
// the kernel say it freezing again, not frozen, until it stops that one
// too; the group is paused all the while. A group without a freezer is
// never frozen.
func (g *Group) Frozen() (bool, error) {
	// Read straight away, in freezerOf's order: list asks it of every
	// running pod, and a look first would double the calls.
	for _, c := range []struct{ file, thawed string }{{"cgroup.freeze", "0"}, {"freezer.state", "THAWED"}} {
		for _, d := range g.Dirs {
			b, err := fsutil.ReadSmallAt(unix.AT_FDCWD, filepath.Join(d, c.file), 64)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("reading freezer of cgroup %s: %w", d, err)
			}
			return strings.TrimSpace(string(b)) != c.thawed, nil
		}
	}
	return false, nil
}

func (f freezer) frozen() (bool, error) {
	if !f.v2 {
		b, err := os.ReadFile(filepath.Join(f.dir, "freezer.state"))
		if err != nil {
			return false, fmt.Errorf("reading freezer of cgroup %s: %w", f.dir, err)
		}
		return strings.TrimSpace(string(b)) == "FROZEN", nil
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "cgroup.events"))
	if err != nil {
		return false, fmt.Errorf("reading events of cgroup %s: %w", f.dir, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "frozen "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, nil
}
