package cgroup

import "testing"

// CanFreeze picks a folder's hierarchy by its deepest mount, and says yes
// only to the unified hierarchy and a v1 hierarchy with the freezer.
func TestCanFreeze(t *testing.T) {
	mi := `22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:27 / /cg rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:37 / /cg/unified rw,relatime - cgroup2 cgroup2 rw
32 30 0:31 / /cg/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:35 / /cg/freezer rw,relatime - cgroup cgroup rw,freezer
`
	c, err := newChecker([]byte(mi), func(int, string) (bool, error) { return true, nil })
	if err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{
		"/cg/unified/podctl-x":   true,
		"/cg/freezer/podctl-x":   true,
		"/cg/memory/podctl-x":    false,
		"/cg/unifiedx/podctl-x":  false,
		"/elsewhere/podctl-x":    false,
		"/cg/memory/a/podctl-x":  false,
		"/cg/freezer/a/podctl-x": true,
	} {
		if got := c.CanFreeze(dir); got != want {
			t.Errorf("CanFreeze(%s) = %v, want %v", dir, got, want)
		}
	}
}
