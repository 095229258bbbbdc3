package cli

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"podctl/stage0"
)

// FuzzParseApps parses the image part of a command line, its words
// separated by NUL (which no argument can hold). What parses gives one app
// or more per section, the first of its section's image, and the apps written back as
// words parse again to the same apps.
func FuzzParseApps(f *testing.F) {
	for _, line := range []string{
		"img-a --name a --environment A=1 -- one -- two --- img-b --exec /bin/b --mount volume=w,target=/w --- img-c",
		"example.com/busybox --exec /bin/sh -- -c true",
		"example.com/good --memory 64M --cpu 500m --mount volume=v,target=/v --environment A=1 --rlimit core=0 --rlimit RLIMIT_CORE=1 --pids-limit 10 --oom-score-adj -100 --rlimit nofile=1024:4096 --user 0 --group 0 --working-dir / --environment-secret TOKEN=/run/token",
		"sha512-0b2d4d09f0864241c2a6959266ebe80c ---",
		"img --bogus",
		"img positional",
		"img-a img-b --name b img-c --supplementary-gids 1,2 -- x --- img-d",
	} {
		f.Add(strings.Join(strings.Fields(line), "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		apps, err := parseApps(stage0.AppOptions{}, args)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") && !strings.ContainsAny(line, "\r\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		// Each section gives its own apps, the first of its first word's
		// image.
		n := 0
		for _, section := range splitSections(args) {
			sub, err := parseApps(stage0.AppOptions{}, section)
			if err != nil {
				t.Fatalf("section %q alone does not parse: %v", section, err)
			}
			if sub[0].Image != section[0] {
				t.Fatalf("section %q starts with app of image %q", section, sub[0].Image)
			}
			if n+len(sub) > len(apps) || !reflect.DeepEqual(apps[n:n+len(sub)], sub) {
				t.Fatalf("section %q alone gives %+v, not what the whole line gave", section, sub)
			}
			n += len(sub)
		}
		if n != len(apps) {
			t.Fatalf("%d apps from the sections, %d from the line", n, len(apps))
		}
		words := appWords(apps)
		again, err := parseApps(stage0.AppOptions{}, words)
		if err != nil {
			t.Fatalf("%q, written back as %q, does not parse: %v", args, words, err)
		}
		if !reflect.DeepEqual(again, apps) {
			t.Fatalf("%q parsed as\n%+v\nwritten back as %q, parsed as\n%+v", args, apps, words, again)
		}
	})
}

// appWords writes apps back as command-line words, every flag as
// --flag=value so that no value is taken for a flag.
func appWords(apps []stage0.AppOptions) []string {
	var out []string
	for i, a := range apps {
		if i > 0 {
			out = append(out, "---")
		}
		out = append(out, a.Image)
		flag := func(name, v string) {
			if v != "" {
				out = append(out, "--"+name+"="+v)
			}
		}
		flag("name", a.Name)
		flag("exec", a.Exec)
		each(&out, "environment", a.Env)
		each(&out, "environment-secret", a.EnvSecrets)
		flag("user", a.User)
		flag("group", a.Group)
		if a.SupplementaryGIDs != nil {
			out = append(out, "--supplementary-gids="+showInts(a.SupplementaryGIDs))
		}
		flag("working-dir", a.WorkingDir)
		each(&out, "mount", a.Mounts)
		flag("memory", showPositive(a.Memory))
		flag("cpu", showMillis(a.CPU))
		flag("pids-limit", showPositive(a.PidsLimit))
		flag("oom-score-adj", showOptional(a.OOMScoreAdj))
		each(&out, "rlimit", a.Rlimits)
		if a.Args != nil {
			out = append(append(out, "--"), a.Args...)
		}
	}
	return out
}

// each adds --name=v to out for each of vs.
func each[T fmt.Stringer](out *[]string, name string, vs []T) {
	for _, v := range vs {
		*out = append(*out, "--"+name+"="+v.String())
	}
}
