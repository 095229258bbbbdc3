package kit

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"podctl/stage1"
	"podctl/stage1/appexec"
)

// socketPair is a connected pair of unix stream sockets, closed with the
// test.
func socketPair(t *testing.T) (a, b *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b = os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// overlaySpec is an app with an overlay root: a lower tree holding one
// file, and empty upper and work folders.
func overlaySpec(t *testing.T, name string) *AppSpec {
	t.Helper()
	return overlaySpecIn(t, t.TempDir(), name)
}

// overlaySpecIn is overlaySpec in folder dir.
func overlaySpecIn(t *testing.T, dir, name string) *AppSpec {
	t.Helper()
	s := &AppSpec{Spec: appexec.Spec{Name: name}, Rootfs: filepath.Join(dir, "rootfs"), Lower: filepath.Join(dir, "lower"), Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	for _, d := range []string{s.Rootfs, s.Lower, s.Upper, s.Work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.Lower, "image-file"), []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAheadRoots checks that the roots and /devs stage1 makes ahead reach
// the init whole, and that an app's root set up from them is its overlay
// with its device nodes; an app with a root that is no overlay gets only
// its /dev.
func TestAheadRoots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts and must run as root")
	}
	a, b := overlaySpec(t, "a"), overlaySpec(t, "b")
	copied := &AppSpec{Spec: appexec.Spec{Name: "copied"}, Rootfs: t.TempDir()}
	// Its tree may be shown through a mapping only the init holds.
	private := overlaySpec(t, "private")
	private.Users = &stage1.PrivateUsers{UID: 524288, GID: 524288, Count: 65536, Ownership: stage1.OwnershipMap}
	stage1End, initEnd := socketPair(t)
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	bins := map[string]*os.File{"podctl": self, "podctl-exec": nil}
	if err := SendAhead(func() *os.File { return stage1End }, []AppSpec{*a, *copied, *b, *private}, func() map[string]*os.File { return bins }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := self.Stat(); err != nil {
		t.Fatalf("the sender's binary was closed: %v", err)
	}
	p, err := ReceiveAhead(initEnd)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Binaries) != 1 || p.Binaries["podctl"] == nil {
		t.Fatalf("binaries received: %v; want podctl's alone", p.Binaries)
	}
	var st1, st2 unix.Stat_t
	if err := unix.Fstat(int(self.Fd()), &st1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(int(p.Binaries["podctl"].Fd()), &st2); err != nil || st1.Ino != st2.Ino || st1.Dev != st2.Dev {
		t.Fatalf("the binary received is not the one sent: %v", err)
	}
	p.Binaries["podctl"].Close()
	got := p.Apps
	for _, name := range []string{"a", "b"} {
		if got[name].Root == nil || got[name].Dev == nil {
			t.Fatalf("app %s got %+v; want a root and a /dev", name, got[name])
		}
	}
	if got["copied"].Root != nil || got["copied"].Dev == nil {
		t.Fatalf("an app with a copied root got %+v; want only a /dev", got["copied"])
	}
	if _, ok := got["private"]; ok {
		t.Fatalf("an app with private users got %+v; want nothing", got["private"])
	}
	defer got["a"].Close()
	defer got["copied"].Close()
	inMountNamespace(t, func() error {
		ahead := got["b"]
		defer ahead.Close()
		if err := SetUpDev(b, ahead.Dev, ahead.Root); err != nil {
			return err
		}
		defer unix.Unmount(b.Rootfs, unix.MNT_DETACH)
		if data, err := os.ReadFile(filepath.Join(b.Rootfs, "image-file")); err != nil || string(data) != "b" {
			t.Errorf("the root shows its image's file as %q, %v; want %q", data, err, "b")
		}
		if err := os.WriteFile(filepath.Join(b.Rootfs, "new"), nil, 0o644); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(b.Upper, "new")); err != nil {
			t.Errorf("a file written in the root is not in the upper layer: %v", err)
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(b.Rootfs, "dev/null"), &st); err != nil {
			return err
		}
		if st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("/dev/null: mode %o rdev %d:%d; want %o 1:3", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), unix.S_IFCHR|0o666)
		}
		return nil
	})
	// The others were never attached: no mount namespace shows them.
	if _, err := os.Stat(filepath.Join(a.Rootfs, "image-file")); !os.IsNotExist(err) {
		t.Errorf("a root made ahead and not attached shows in the host's namespace: %v", err)
	}
}

// TestReceiveAheadMismatch checks that a message whose descriptors do not
// match its entries gives nothing, rather than trees given to the wrong
// apps.
func TestReceiveAheadMismatch(t *testing.T) {
	stage1End, initEnd := socketPair(t)
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	msg := []byte(`{"apps":[{"app":"a","root":true,"dev":true}]}`)
	if err := unix.Sendmsg(int(stage1End.Fd()), msg, unix.UnixRights(fd), nil, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := ReceiveAhead(initEnd); err == nil || got.Apps != nil {
		t.Fatalf("ReceiveAhead = %v, %v; want an error and nothing", got, err)
	}
}

// TestSendAheadWithoutInit checks that trees made for an init that did
// not start are let go, and nothing is sent.
func TestSendAheadWithoutInit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts and must run as root")
	}
	s := overlaySpec(t, "a")
	open := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := open()
	if err := SendAhead(func() *os.File { return nil }, []AppSpec{*s}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if after := open(); after != before {
		t.Fatalf("%d descriptors open after SendAhead, %d before: the trees were kept", after, before)
	}
}

// TestSendAheadClosed checks that a socket ended before the send (a
// start that failed) is an error, not a send to whatever file has its
// descriptor's number since.
func TestSendAheadClosed(t *testing.T) {
	stage1End, _ := socketPair(t)
	stage1End.Close()
	if err := SendAhead(func() *os.File { return stage1End }, nil, nil, nil); err == nil {
		t.Fatal("SendAhead on a closed socket succeeded")
	}
}
