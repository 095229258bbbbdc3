package kit

import (
	"fmt"
	"podctl/lifecycle"
	"podctl/stage1"
	"strconv"
	"strings"
)

// readSettings fills s's settings from a RuntimeApp's annotations.
func readSettings(s *AppSpec, get func(string) (string, bool)) error {
	if v, ok := get(lifecycle.AnnotationRlimits); ok && v != "" {
		rs, err := stage1.ParseRlimits(strings.Split(v, ","))
		if err != nil {
			return fmt.Errorf("app %s: %s: %w", s.Name, lifecycle.AnnotationRlimits, err)
		}
		s.Rlimits = rs
	}
	if v, ok := get(lifecycle.AnnotationOOMScoreAdj); ok {
		n, err := strconv.Atoi(v)
		if err == nil {
			err = stage1.CheckOOMScoreAdj(n)
		}
		if err != nil {
			return fmt.Errorf("app %s: %s %q is not a number between -1000 and 1000", s.Name, lifecycle.AnnotationOOMScoreAdj, v)
		}
		s.OOMScoreAdj = &n
	}
	return nil
}
