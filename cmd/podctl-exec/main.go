// Command podctl-exec is the exec helper of a native pod's apps
// (appexec.Main): the pod's init forks it into an app's namespaces and
// cgroups, and it becomes the app. It is podctl's own helper verb in a
// binary that links only what that needs, so that it starts in a fraction
// of podctl's time; podctl runs it when it finds it beside itself.
package main

import (
	"os"

	"podctl/internal/trace"
	"podctl/stage1/appexec"
)

func main() {
	trace.Mark("main")
	os.Exit(appexec.Main(os.Args[1:]))
}
