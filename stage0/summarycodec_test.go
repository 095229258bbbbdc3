package stage0

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage1"
)

// fullSummary has every field of a summary set, with values that need
// quoting.
func fullSummary() *podSummary {
	at := time.Date(2026, 12, 7, 2, 25, 5, 559468107, time.UTC)
	later := at.Add(time.Second)
	code, zero := 3, 0
	return &podSummary{
		Name:         "web \"1\"",
		Labels:       map[string]string{"tier": "front end", "x\ny": "tab\there", "bad": "\xff\xfe"},
		Annotations:  map[string]string{"note": "é ünïcode"},
		Result:       &lifecycle.PodResult{Result: "error", Message: "app web exited 3", ExitCode: &code},
		Flavor:       "native",
		CreatedAt:    &at,
		StartedAt:    &later,
		Networks:     []network.Attachment{{Network: "default", Interface: "eth0", Address: "10.88.0.2/16"}},
		PrivateUsers: &stage1.PrivateUsers{UID: 100000, GID: 100000, Count: 65536, Ownership: "map"},
		Source:       &SourceInfo{File: "/srv/pod.yaml", Digest: "sha256-00", StopGrace: "5s"},
		Mutable:      true,
		Pid:          4242,
		CgroupRecord: "/sys/fs/cgroup/unified/podctl-x \"/sys/fs/cgroup/pids/podctl-x\"\n",
		Apps: []summaryApp{
			{AppInfo{Name: "web", ImageName: "example.com/web", ImageID: "sha512-ab", State: "exited", ExitCode: &code,
				Signal: "", Reason: "Error", Message: "it \\ failed", StartedAt: &at, FinishedAt: &later, RestartCount: 2}, "1.0"},
			{AppInfo{Name: "side", ImageName: "", ImageID: "sha512-cd", State: "unknown", ExitCode: nil}, ""},
			{AppInfo{Name: "ok", State: "exited", ExitCode: &zero, StartedAt: &at}, "2"},
		},
	}
}

func TestSummaryCodecRoundTrip(t *testing.T) {
	for _, s := range []*podSummary{fullSummary(), {Flavor: "fly"}} {
		b, err := encodeSummary(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeSummary(b)
		if err != nil {
			t.Fatalf("decoding %q: %v", b, err)
		}
		// JSON is what list --format=json prints of it: the two must print
		// alike.
		want, _ := json.Marshal(s)
		have, _ := json.Marshal(got)
		if string(want) != string(have) {
			t.Fatalf("round trip changed the summary:\n%s\n%s\nencoded as:\n%s", want, have, b)
		}
		if !reflect.DeepEqual(s.Labels, got.Labels) {
			t.Fatalf("labels %q, want %q (bytes kept as they were)", got.Labels, s.Labels)
		}
	}
}

func TestSummaryCodecRefusesDamage(t *testing.T) {
	b, err := encodeSummary(fullSummary())
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	for name, bad := range map[string]string{
		"torn":                good[:len(good)/2],
		"torn at a line":      good[:strings.LastIndex(good, "p ")],
		"after the end":       good + "n \"x\"\n",
		"no networks":         strings.Replace(good, "f \"native\"", "f \"native\"\nw \"[]\"", 1),
		"time not as written": strings.Replace(good, "c 2026-12-07T02:25:05.559468107Z", "c 2026-12-07T02:25:05.559468107+00:00", 1),
		"no final newline":    strings.TrimSuffix(good, "\n"),
		"empty":               "",
		"unknown line":        good + "z \"x\"\n",
		"twice the name":      good + "n \"x\"\n",
		"field too many":      strings.Replace(good, "f \"native\"", "f \"native\" \"x\"", 1),
		"field too few":       strings.Replace(good, "r \"error\" \"app web exited 3\" 3", "r \"error\" 3", 1),
		"unquoted string":     strings.Replace(good, "f \"native\"", "f native", 1),
		"bad time":            strings.Replace(good, "c 2026", "c x2026", 1),
		"bad number":          strings.Replace(good, " 2 \"1.0\"", " two \"1.0\"", 1),
		"bad json":            strings.Replace(good, "w \"[", "w \"{", 1),
		"unterminated":        strings.Replace(good, "f \"native\"", "f \"native", 1),
		"blank line":          good + "\n",
		"no flavor line":      strings.Replace(good, "f \"native\"\n", "", 1),
		"bad escape":          strings.Replace(good, "f \"native\"", "f \"nat\\qive\"", 1),
		"pid zero":            strings.Replace(good, "i 4242", "i 0", 1),
		"pid negative":        strings.Replace(good, "i 4242", "i -4242", 1),
		"twice the pid":       strings.Replace(good, "i 4242", "i 4242\ni 4243", 1),
		"empty record":        good[:strings.Index(good, "\ng ")] + "\ng \"\"" + good[strings.Index(good[strings.Index(good, "\ng ")+1:], "\n")+strings.Index(good, "\ng ")+1:],
	} {
		if _, err := decodeSummary([]byte(bad)); err == nil {
			t.Errorf("%s: a damaged summary decodes:\n%s", name, bad)
		}
	}
}

// FuzzDecodeSummary feeds decodeSummary anything: it must not panic, and
// what it accepts must encode to what decodes the same.
func FuzzDecodeSummary(f *testing.F) {
	b, _ := encodeSummary(fullSummary())
	f.Add(b)
	b, _ = encodeSummary(&podSummary{Flavor: "fly"})
	f.Add(b)
	f.Add([]byte("n \"\"\nf \"\"\nc -\ns -\ne\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeSummary(data)
		if err != nil {
			return
		}
		again, err := encodeSummary(s)
		if err != nil {
			return // a time out of RFC 3339's years
		}
		s2, err := decodeSummary(again)
		if err != nil {
			t.Fatalf("re-encoded summary does not decode: %v\n%q", err, again)
		}
		j1, _ := json.Marshal(s)
		j2, _ := json.Marshal(s2)
		if string(j1) != string(j2) {
			t.Fatalf("round trip differs:\n%s\n%s", j1, j2)
		}
	})
}

// FuzzUnquoteCommon checks the summary's fast unquoting against
// strconv.Unquote: whatever it reads, it reads the same.
func FuzzUnquoteCommon(f *testing.F) {
	for _, s := range []string{`a\nb`, `\"x\"`, `\\`, `tab\there`, `\q`, `\`, `é`, "raw\nline", `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, inner []byte) {
		got, ok := unquoteCommon(inner)
		if !ok {
			return
		}
		want, err := strconv.Unquote(`"` + string(inner) + `"`)
		if err != nil || got != want {
			t.Fatalf("unquoteCommon(%q) = %q; strconv.Unquote: %q, %v", inner, got, want, err)
		}
	})
}
