// Command podctl-fetch is podctl's helper for what a pod's start must not
// link: registries, TLS, OpenPGP and the OCI and Docker image formats.
// podctl executes it (internal/fetchhelper) as
//
//	podctl-fetch VERB [ARGS...]
//
// with the data directory in PODCTL_DIR. Each verb is registered by the
// file that implements it (verbs). It prints its errors as podctl does,
// one line starting with "podctl: ", and exits 254 on failure.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// verbs are the helper's entry points, by name; each file adds its own in
// an init function. A verb returns the process's exit status.
var verbs = map[string]func(args []string) int{}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(os.Stderr, "podctl: podctl-fetch is executed by podctl (verbs: %s)\n", strings.Join(verbNames(), ", "))
		return 254
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "podctl: podctl-fetch has no verb %q (verbs: %s)\n", args[0], strings.Join(verbNames(), ", "))
		return 254
	}
	return v(args[1:])
}

func verbNames() []string {
	var out []string
	for n := range verbs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func init() {
	verbs["version"] = func([]string) int {
		fmt.Println("podctl-fetch")
		return 0
	}
}
