package kit

// Confine marks the apps of an isolated flavor confined: each executes
// under no_new_privs and the default seccomp filter, unless it asks for
// its own (ExecApp), and may open only the standard device nodes and make
// none (cgroup.DefaultDevices, from the cgroups NewAppGroups makes).
func Confine(specs []AppSpec) {
	for i := range specs {
		specs[i].Confined = true
		specs[i].Limits.Devices = true
	}
}
