package stage1

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// Device is a host device node given to every app of a pod (--device):
// the pod's device policy lets its apps open it, and each app's /dev has
// a node for it. stage0 reads the host's node when the pod is prepared;
// the pod manifest carries the result (lifecycle.AnnotationDevices).
type Device struct {
	// Host is the node on the host.
	Host string `json:"host"`
	// Path is where the node is in each app's root, below /dev.
	Path string `json:"path"`
	// Type is "c" (character) or "b" (block).
	Type string `json:"type"`
	// Major and Minor are the device's numbers.
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
	// Mode is the permission bits of the host's node, which the app's
	// node has too.
	Mode uint32 `json:"mode"`
	// Access is what the apps may do with it: "r", "w" or "rw". No
	// device is ever given for mknod.
	Access string `json:"access"`
}

// maxDevices bounds the devices of a pod read back from its manifest.
const maxDevices = 256

// reservedDev are the entries of an app's /dev that stage1 makes itself:
// a device given to the pod may not replace or land inside one.
var reservedDev = []string{
	"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx",
	"fd", "stdin", "stdout", "stderr", "pts", "shm", "mqueue",
}

// CheckDevicePath refuses a path for a device in an app's root that is
// not a clean absolute path strictly below /dev, or that is one of the
// entries stage1 makes in every /dev.
func CheckDevicePath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("%q is not a clean absolute path", p)
	}
	if strings.ContainsFunc(p, unicode.IsControl) {
		return fmt.Errorf("%q has a control character", p)
	}
	rel, ok := strings.CutPrefix(p, "/dev/")
	if !ok || rel == "" {
		return fmt.Errorf("%s is not below /dev", p)
	}
	first, _, _ := strings.Cut(rel, "/")
	for _, r := range reservedDev {
		if first == r {
			return fmt.Errorf("%s is stage1's: every app's /dev has /dev/%s", p, r)
		}
	}
	return nil
}

// Check refuses a device that stage1 cannot give safely.
func (d Device) Check() error {
	if !filepath.IsAbs(d.Host) {
		return fmt.Errorf("device %q: the host's node is not an absolute path", d.Host)
	}
	if err := CheckDevicePath(d.Path); err != nil {
		return fmt.Errorf("device %s: %w", d.Host, err)
	}
	if d.Type != "c" && d.Type != "b" {
		return fmt.Errorf("device %s: type %q is neither c nor b", d.Host, d.Type)
	}
	if d.Major > 0xfff || d.Minor > 0xfffff {
		return fmt.Errorf("device %s: number %d:%d is out of range", d.Host, d.Major, d.Minor)
	}
	if d.Mode&^0o777 != 0 {
		return fmt.Errorf("device %s: mode %o has more than permission bits", d.Host, d.Mode)
	}
	if d.Access != "r" && d.Access != "w" && d.Access != "rw" {
		return fmt.Errorf("device %s: access %q is not r, w or rw", d.Host, d.Access)
	}
	return nil
}

// FormatDevices writes devices for the pod manifest's annotation.
func FormatDevices(devs []Device) (string, error) {
	b, err := json.Marshal(devs)
	if err != nil {
		return "", fmt.Errorf("writing devices: %w", err)
	}
	return string(b), nil
}

// ParseDevices reads the pod manifest's annotation of devices, refusing
// one that Check refuses and two for one path.
func ParseDevices(v string) ([]Device, error) {
	var devs []Device
	if err := json.Unmarshal([]byte(v), &devs); err != nil {
		return nil, fmt.Errorf("reading devices: %w", err)
	}
	if len(devs) > maxDevices {
		return nil, fmt.Errorf("reading devices: more than %d", maxDevices)
	}
	seen := map[string]bool{}
	for _, d := range devs {
		if err := d.Check(); err != nil {
			return nil, err
		}
		if seen[d.Path] {
			return nil, fmt.Errorf("two devices for %s", d.Path)
		}
		seen[d.Path] = true
	}
	return devs, nil
}
