package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"podctl/stage0"
)

// --readonly-rootfs before the first image is every app's default, which
// an app's own --readonly-rootfs[=false] overrides.
func TestReadOnlyRootfsFlag(t *testing.T) {
	apps, err := parseApps(stage0.AppOptions{ReadOnlyRootfs: true}, strings.Fields("img-a --- img-b --readonly-rootfs=false"))
	if err != nil {
		t.Fatal(err)
	}
	if !apps[0].ReadOnlyRootfs || apps[1].ReadOnlyRootfs {
		t.Errorf("read-only roots: a %v, b %v; want true, false", apps[0].ReadOnlyRootfs, apps[1].ReadOnlyRootfs)
	}
	apps, err = parseApps(stage0.AppOptions{}, strings.Fields("img-a --readonly-rootfs --- img-b"))
	if err != nil {
		t.Fatal(err)
	}
	if !apps[0].ReadOnlyRootfs || apps[1].ReadOnlyRootfs {
		t.Errorf("read-only roots: a %v, b %v; want true, false", apps[0].ReadOnlyRootfs, apps[1].ReadOnlyRootfs)
	}
}

// --device values are parsed as they are read, and kept in order.
func TestDeviceFlagParsed(t *testing.T) {
	var f podFlags
	cmd := &cobra.Command{Use: "run"}
	f.add(cmd)
	if err := cmd.Flags().Parse([]string{"--device=/dev/fuse", "--device", "/dev/zero:/dev/z:r", "--readonly-rootfs", "img"}); err != nil {
		t.Fatal(err)
	}
	opts, err := f.options(cmd.Flags().Args())
	if err != nil {
		t.Fatal(err)
	}
	want := []stage0.DeviceOption{{Host: "/dev/fuse", Path: "/dev/fuse", Access: "rwm"}, {Host: "/dev/zero", Path: "/dev/z", Access: "r"}}
	if len(opts.Devices) != 2 || opts.Devices[0] != want[0] || opts.Devices[1] != want[1] {
		t.Errorf("devices %+v, want %+v", opts.Devices, want)
	}
	if !opts.Apps[0].ReadOnlyRootfs {
		t.Errorf("--readonly-rootfs before the image is not the app's: %+v", opts.Apps[0])
	}
	if err := cmd.Flags().Parse([]string{"--device=/dev/zero:/tmp/z"}); err == nil || !strings.Contains(err.Error(), "not below /dev") {
		t.Errorf("--device outside /dev: %v", err)
	}
}
