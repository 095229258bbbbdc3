package cgroup

import (
	"slices"
)

// CanFreeze reports whether dir is in a hierarchy that can freeze it,
// going by the mounts the checker read: the unified hierarchy, or a v1
// hierarchy with the freezer controller. It looks at the path only; a
// folder it says yes to still needs CheckPodDir before it is read or
// acted on.
func (c *Checker) CanFreeze(dir string) bool {
	var m *Mount
	for i := range c.mounts {
		if d := c.mounts[i].Dir; atOrBelow(dir, d) && (m == nil || len(d) > len(m.Dir)) {
			m = &c.mounts[i]
		}
	}
	return m != nil && (m.V2 || slices.Contains(m.Controllers, "freezer"))
}
