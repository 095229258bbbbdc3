// Command podctl is a daemonless pod manager for appc images.
package main

import (
	"os"

	"podctl/cli"
	"podctl/internal/rootless"
	"podctl/internal/trace"
	"podctl/stage1"
	"podctl/stage1/flavors"
)

func main() {
	trace.Mark("main")
	// The hidden stage1 verb is dispatched before anything else: it is the
	// pod itself (or a helper of it) and needs none of the command tree.
	if len(os.Args) > 1 && os.Args[1] == stage1.Verb {
		os.Exit(flavors.Main(os.Args[2:]))
	}
	// A podctl re-executed in a user's new namespace waits there for its
	// ids to be mapped (rootless.Run).
	if rootless.Waiting() {
		os.Exit(rootless.Continue())
	}
	os.Exit(cli.Execute())
}
