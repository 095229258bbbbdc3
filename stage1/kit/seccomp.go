package kit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/internal/fetchhelper"
	"podctl/stage1/seccomp"
	"podctl/stage1/seccomp/custom"
)

// AssembleFilters assembles the own seccomp filter (a retain or remove
// set) of each confined app of specs into the program its exec helper
// loads (SeccompProgram). podctl-fetch holds the assembler: no process of
// a pod's start links it, and a pod whose apps have none starts nothing
// more.
func AssembleFilters(specs []AppSpec) error {
	for i := range specs {
		if err := specs[i].assembleFilter(); err != nil {
			return err
		}
	}
	return nil
}

func (s *AppSpec) assembleFilter() error {
	c := s.Seccomp
	if !s.Confined || c == nil || c.Mode == custom.ModeUnconfined {
		return nil
	}
	in, err := json.Marshal(custom.AssembleRequest{Filter: c, Tracing: seccomp.TracingSafe()})
	if err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	var out, stderr bytes.Buffer
	err = fetchhelper.Run("", bytes.NewReader(in), &out, &stderr, "seccomp-program")
	var ee *fetchhelper.ExitError
	if errors.As(err, &ee) {
		// The helper's one line, without its "podctl: " prefix.
		why := strings.TrimPrefix(strings.TrimSpace(stderr.String()), "podctl: ")
		return fmt.Errorf("app %s: its seccomp filter: %s", s.Name, why)
	}
	if err != nil {
		return fmt.Errorf("app %s: assembling its seccomp filter: %w", s.Name, err)
	}
	var prog []unix.SockFilter
	if err := json.Unmarshal(out.Bytes(), &prog); err != nil {
		return fmt.Errorf("app %s: assembling its seccomp filter: reading podctl-fetch's program: %w", s.Name, err)
	}
	if len(prog) == 0 {
		return fmt.Errorf("app %s: assembling its seccomp filter: podctl-fetch gave an empty program", s.Name)
	}
	s.SeccompProgram = prog
	return nil
}
