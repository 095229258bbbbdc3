package stage0

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/internal/errdefs"
	"podctl/stage1"
)

// DeviceOption is one --device value: a host device node, where the apps
// see it, and what they may do with it.
type DeviceOption struct {
	// Host is the node on the host, an absolute path.
	Host string
	// Path is where each app's /dev has it; Host by default.
	Path string
	// Access is the letters of r (read), w (write) and m (mknod, which
	// podctl never gives: it is taken for compatibility, and dropped).
	Access string
}

// String is HOST:PATH:ACCESS, which ParseDevice reads back.
func (d DeviceOption) String() string { return d.Host + ":" + d.Path + ":" + d.Access }

// ParseDevice reads a --device value, /dev/X[:PATH][:rwm]. It checks the
// value alone; the plan reads the host's node (resolveDevices).
func ParseDevice(s string) (DeviceOption, error) {
	parts := strings.Split(s, ":")
	d := DeviceOption{Host: parts[0], Access: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if strings.HasPrefix(parts[1], "/") {
			d.Path = parts[1]
		} else {
			d.Access = parts[1]
		}
	case 3:
		d.Path, d.Access = parts[1], parts[2]
	default:
		return DeviceOption{}, errdefs.New(ErrUsage, "--device %q is not /dev/X[:PATH][:rwm]", s)
	}
	if !filepath.IsAbs(d.Host) || filepath.Clean(d.Host) != d.Host {
		return DeviceOption{}, errdefs.New(ErrUsage, "--device %q: %q is not a clean absolute path of the host", s, d.Host)
	}
	if d.Path == "" {
		d.Path = d.Host
	}
	if err := stage1.CheckDevicePath(d.Path); err != nil {
		return DeviceOption{}, errdefs.New(ErrUsage, "--device %q: %v: give a path below /dev, such as --device=%s:/dev/NAME", s, err, d.Host)
	}
	if _, err := deviceAccess(d.Access); err != nil {
		return DeviceOption{}, errdefs.New(ErrUsage, "--device %q: %v", s, err)
	}
	return d, nil
}

// deviceAccess turns the letters of a --device value into the access a
// device rule gives: r, w or rw. m is taken and dropped.
func deviceAccess(letters string) (string, error) {
	seen := map[rune]bool{}
	for _, c := range letters {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return "", fmt.Errorf("access %q is not letters of rwm, each once", letters)
		}
		seen[c] = true
	}
	access := ""
	if seen['r'] {
		access += "r"
	}
	if seen['w'] {
		access += "w"
	}
	if access == "" {
		return "", fmt.Errorf("access %q gives neither r nor w (podctl never lets an app mknod)", letters)
	}
	return access, nil
}

// resolveDevices reads the host's node of each --device: it must be a
// character or block device, and no two may land on one path. flavor is
// the pod's flavor: fly has no device policy of its own to add to.
func resolveDevices(opts []DeviceOption, flavor string) ([]stage1.Device, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	if flavor == "fly" {
		return nil, errdefs.New(ErrUsage, "--device is for the native and systemd flavors: a fly app sees the host's /dev already")
	}
	var out []stage1.Device
	seen := map[string]bool{}
	for _, o := range opts {
		if seen[o.Path] {
			return nil, errdefs.New(ErrUsage, "--device: two devices for %s", o.Path)
		}
		seen[o.Path] = true
		d, err := statDevice(o)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// statDevice reads the host's node of o.
func statDevice(o DeviceOption) (stage1.Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(o.Host, &st); err != nil {
		return stage1.Device{}, errdefs.New(ErrUsage, "--device %s: %v", o.Host, err)
	}
	d := stage1.Device{Host: o.Host, Path: o.Path, Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Mode: st.Mode & 0o777}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		d.Type = "c"
	case unix.S_IFBLK:
		d.Type = "b"
	default:
		return stage1.Device{}, errdefs.New(ErrUsage, "--device %s is not a device node", o.Host)
	}
	access, err := deviceAccess(o.Access)
	if err != nil {
		return stage1.Device{}, errdefs.New(ErrUsage, "--device %s: %v", o.Host, err)
	}
	d.Access = access
	if err := d.Check(); err != nil {
		return stage1.Device{}, errdefs.New(ErrUsage, "--device: %v", err)
	}
	return d, nil
}
