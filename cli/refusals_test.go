package cli

import (
	"strings"
	"testing"

	"podctl/stage0"
)

// --pids-limit takes 1 or more; 0 and below are refused in one line that
// says what to give, instead of 0 silently meaning "no limit".
func TestPidsLimitAtLeastOne(t *testing.T) {
	for _, v := range []string{"0", "-1"} {
		_, err := parseApps(stage0.AppOptions{}, []string{"example.com/x", "--pids-limit=" + v})
		if err == nil || !strings.Contains(err.Error(), "give at least 1") || strings.Contains(err.Error(), "\n") {
			t.Errorf("--pids-limit=%s: error %v, want one line saying to give at least 1", v, err)
		}
	}
	apps, err := parseApps(stage0.AppOptions{}, []string{"example.com/x", "--pids-limit=1", "---", "example.com/y"})
	if err != nil {
		t.Fatal(err)
	}
	if apps[0].PidsLimit != 1 || apps[1].PidsLimit != 0 {
		t.Fatalf("pids limits %d and %d, want 1 and 0 (none)", apps[0].PidsLimit, apps[1].PidsLimit)
	}
	// A pod-wide default is each app's unless it gives its own.
	apps, err = parseApps(stage0.AppOptions{PidsLimit: 5}, []string{"example.com/x", "---", "example.com/y", "--pids-limit", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if apps[0].PidsLimit != 5 || apps[1].PidsLimit != 7 {
		t.Fatalf("pids limits %d and %d, want 5 and 7", apps[0].PidsLimit, apps[1].PidsLimit)
	}
}
