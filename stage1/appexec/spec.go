package appexec

import (
	"golang.org/x/sys/unix"

	"podctl/stage1/seccomp/custom"
)

// Spec is what the exec helper needs of an app to become it: the part of
// a flavor's app spec (kit.AppSpec, which embeds it) that binds the app's
// process. The helper reads it as JSON.
type Spec struct {
	// Name is the app's name in its pod.
	Name string `json:"name"`
	// Exec is the command line; Exec[0] is looked up in the app's PATH.
	Exec []string `json:"exec"`
	// Env is the environment, KEY=VALUE, PATH included.
	Env        []string `json:"env"`
	User       string   `json:"user"`
	Group      string   `json:"group"`
	WorkingDir string   `json:"working_dir,omitempty"`
	// DieWith, when set, is the pid of the app's parent (the pod's stage1):
	// the app is killed when that process dies.
	DieWith int `json:"die_with,omitempty"`
	// Rlimits are the app's resource limits, and OOMScoreAdj, if set, its
	// oom_score_adj: per-process settings (applySettings).
	Rlimits     []Rlimit `json:"rlimits,omitempty"`
	OOMScoreAdj *int     `json:"oom_score_adj,omitempty"`
	// Confined apps (those of the isolated flavors) execute with the
	// default capabilities only, no_new_privs and the default seccomp
	// filter (Confine).
	Confined bool `json:"confined,omitempty"`
	// Capabilities name the app's capabilities (CAP_CHOWN...): the
	// bounding set of the app, and the ambient set of an app whose user is
	// not root. nil means the default ones (DefaultCapabilities) as
	// the bounding set, and none for an app whose user is not root.
	Capabilities []string `json:"capabilities"`
	// Seccomp, if set, replaces a confined app's default seccomp filter,
	// and NewPrivileges leaves its no_new_privs unset.
	Seccomp       *custom.Custom `json:"seccomp,omitempty"`
	NewPrivileges bool           `json:"new_privileges,omitempty"`
	// SeccompProgram is Seccomp assembled (a retain or remove set), by
	// stage1 before the app starts (AssembleFilters).
	SeccompProgram []unix.SockFilter `json:"seccomp_program,omitempty"`
	// Sockets are the app's socket-activated ports, which the helper opens
	// and passes to it (sockets.go).
	Sockets []SocketPort `json:"sockets,omitempty"`
	// SupplementaryGIDs are the app's groups besides Group.
	SupplementaryGIDs []int `json:"supplementary_gids,omitempty"`
}
