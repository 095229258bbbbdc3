package apply

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"

	"podctl/internal/fsutil"
	"podctl/podfile"
)

// DefaultPodsDir is the folder of pod files the systemd generator, the
// timer and the cron line of dist/ apply.
const DefaultPodsDir = "/etc/podctl/pods"

// UnitName is the systemd unit the generator makes for a pod.
func UnitName(pod string) string { return "podctl-" + pod + ".service" }

// Generate writes, into the folder out (a systemd generator's "normal"
// folder), one service per pod file of podsDir, and links each into
// multi-user.target.wants, as a generator must instead of [Install]. A
// unit applies its file with the podctl executable exe when started, and
// stops and removes the pod when stopped. A file that cannot be read, or
// that gives the name of another's pod, is reported on w and gets no unit; the others get theirs, and the error
// says how many failed.
func Generate(podsDir, out, exe string, w io.Writer) error {
	files, err := podFiles(podsDir)
	if err != nil {
		if _, serr := os.Stat(podsDir); errors.Is(serr, os.ErrNotExist) {
			// No pod files: nothing to generate.
			return nil
		}
		return err
	}
	failed := 0
	plans, _ := readPlans(files, func(_, _ string, err error) {
		fmt.Fprintf(w, "podctl-generator: %v\n", err)
		failed++
	})
	wants := filepath.Join(out, "multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return fmt.Errorf("generating units: %w", err)
	}
	for _, pl := range plans {
		if err := writeUnit(pl, out, wants, exe); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d pod files of %s have no unit: see above", failed, podsDir)
	}
	return nil
}

// unitFor is the service of a pod file.
func unitFor(p *podfile.Pod, exe string, grace time.Duration) []*unit.UnitOption {
	secs := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s" }
	stop := exe + " stop --grace-period=" + secs(grace) + " " + p.Name
	return []*unit.UnitOption{
		unit.NewUnitOption("Unit", "Description", "podctl pod "+p.Name),
		unit.NewUnitOption("Unit", "Documentation", "file:///usr/share/doc/podctl/commands.md"),
		unit.NewUnitOption("Unit", "SourcePath", p.File),
		unit.NewUnitOption("Unit", "Wants", "network-online.target"),
		unit.NewUnitOption("Unit", "After", "network-online.target local-fs.target"),
		// apply starts the pod's stage1 in the background and returns
		// once the pod is ready: the unit stays active after it, and its
		// cgroup holds the pod.
		unit.NewUnitOption("Service", "Type", "oneshot"),
		unit.NewUnitOption("Service", "RemainAfterExit", "yes"),
		unit.NewUnitOption("Service", "ExecStart", exe+" apply "+systemdQuote(p.File)),
		// "-": a pod already stopped or removed by hand is no failure.
		unit.NewUnitOption("Service", "ExecStop", "-"+stop),
		unit.NewUnitOption("Service", "ExecStopPost", "-"+exe+" rm "+p.Name),
		unit.NewUnitOption("Service", "TimeoutStartSec", "5min"),
		// The stop's grace, then its kill and the removal.
		unit.NewUnitOption("Service", "TimeoutStopSec", secs(grace+30*time.Second)),
	}
}

// writeUnit writes the unit of a pod file's plan and its wants link.
func writeUnit(pl *plan, out, wants, exe string) error {
	p := pl.pod
	b, err := io.ReadAll(unit.Serialize(unitFor(p, exe, pl.grace)))
	if err != nil {
		return fmt.Errorf("writing the unit of %s: %w", p.File, err)
	}
	header := "# Made by podctl's systemd generator from " + p.File + ":\n# edit that file, then run systemctl daemon-reload.\n"
	name := UnitName(p.Name)
	// Not durable: a generator's output lives in /run, made again at
	// each boot and daemon-reload.
	if err := fsutil.WriteFile(filepath.Join(out, name), append([]byte(header), b...), 0o644, false); err != nil {
		return fmt.Errorf("writing unit %s: %w", name, err)
	}
	link := filepath.Join(wants, name)
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("linking unit %s: %w", name, err)
	}
	if err := os.Symlink(filepath.Join("..", name), link); err != nil {
		return fmt.Errorf("linking unit %s: %w", name, err)
	}
	return nil
}

// systemdQuote quotes a path for an Exec line, where a blank splits
// words and % and $ are expanded.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return strconv.Quote(s)
}
