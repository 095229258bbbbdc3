package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Gaining privileges by executing what the image marked: a setuid-root
// binary, or one with file capabilities. The test runs these as a non-root
// --user; no_new_privs must make the marks worthless.

// The copies of this program the test image carries in -bin-dir (/bin):
// hostile-suid, owned by root, mode 04755, and hostile-fcap, whose
// security.capability gives CAP_SYS_ADMIN, effective.

func setuidExec(c *config) verdict {
	const way = "setuid"
	suidCopy := filepath.Join(c.binDir, "hostile-suid")
	var st unix.Stat_t
	if err := unix.Stat(suidCopy, &st); err != nil {
		return broken(way, "stat %s: %v", suidCopy, err)
	}
	if st.Mode&unix.S_ISUID == 0 || st.Uid != 0 {
		return broken(way, "%s is not setuid root in the app's root (mode %o, owner %d)", suidCopy, st.Mode, st.Uid)
	}
	return escalate(way, suidCopy)
}

func filecapExec(c *config) verdict {
	const way = "filecap"
	fcapCopy := filepath.Join(c.binDir, "hostile-fcap")
	buf := make([]byte, 64)
	if _, err := unix.Getxattr(fcapCopy, "security.capability", buf); err != nil {
		return broken(way, "%s has no file capabilities in the app's root: %v", fcapCopy, err)
	}
	return escalate(way, fcapCopy)
}

// escalate executes bin, which prints its ids and capabilities, and says
// whether it got more than the caller.
func escalate(way, bin string) verdict {
	if os.Getuid() == 0 || os.Geteuid() == 0 {
		return broken(way, "runs as root (uid %d euid %d): the way needs a non-root user", os.Getuid(), os.Geteuid())
	}
	out, err := exec.Command(bin, "ids").Output()
	if err != nil {
		return blocked(way, "executing %s: %s %s", bin, errName(err), confinement())
	}
	ids := strings.TrimSpace(string(out))
	f := map[string]string{}
	for _, kv := range strings.Fields(ids) {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	eff, err1 := strconv.ParseUint(f["CapEff"], 16, 64)
	prm, err2 := strconv.ParseUint(f["CapPrm"], 16, 64)
	if f["euid"] == "" || err1 != nil || err2 != nil {
		return broken(way, "%s printed %q", bin, ids)
	}
	if f["euid"] == "0" || eff != 0 || prm != 0 {
		return escaped(way, "%s ran with %s", bin, ids)
	}
	return blocked(way, "%s ran with %s, nothing gained %s", bin, ids, confinement())
}

// printIDs prints the real and effective user and the capability sets.
func printIDs(*config) int {
	caps := map[string]string{}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && (k == "CapEff" || k == "CapPrm" || k == "NoNewPrivs") {
				caps[k] = strings.TrimSpace(v)
			}
		}
	}
	fmt.Printf("uid=%d euid=%d CapEff=%s CapPrm=%s NoNewPrivs=%s\n", os.Getuid(), os.Geteuid(), caps["CapEff"], caps["CapPrm"], caps["NoNewPrivs"])
	return 0
}
