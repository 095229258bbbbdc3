package kit

import "podctl/stage1/appexec"

// ExecApp turns the calling helper, already inside the app's root, into
// the app s (appexec.Exec). It returns only on failure.
func ExecApp(s *AppSpec, beforeExec func() error) error {
	return appexec.Exec(&s.Spec, beforeExec)
}
