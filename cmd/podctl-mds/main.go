// Command podctl-mds serves appc's App Container Metadata Service to one
// pod, for as long as the pod runs. The pod's stage1 starts it (stage1/kit,
// StartMDS) with the protocol internal/mds describes: its configuration
// on stdin, a socket listening on 127.0.0.1 in the pod's own network
// namespace as descriptor 3, and the end of stdin as the pod's end.
//
// It links net/http, which podctl's start path must not, and runs as
// nobody with no_new_privs once it has read its configuration: it needs
// no file and no privilege to answer.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/mds"
	"podctl/internal/rootless"
)

// nobody is the user and group the helper answers as.
const nobody = 65534

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "podctl: %s is started by a pod's stage1 (podctl run --mds-register), not by hand\n", mds.HelperName)
		os.Exit(254)
	}
	if err := serve(); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: metadata service: %v\n", err)
		os.Exit(254)
	}
}

func serve() error {
	in := bufio.NewReader(os.Stdin)
	c, err := mds.ReadConfig(in)
	if err != nil {
		return err
	}
	s, err := newServer(c)
	if err != nil {
		return err
	}
	l, err := net.FileListener(os.NewFile(mds.ListenerFD, "listener"))
	if err != nil {
		return fmt.Errorf("opening the listening socket: %w", err)
	}
	if err := dropPrivileges(); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// A pod's requests are no reason to fill stage1's stderr.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(newLimitListener(l, maxConns)) }()
	// The socket listens already: what connects from now is answered.
	if _, err := io.WriteString(os.Stdout, mds.ReadyLine); err != nil {
		return fmt.Errorf("telling stage1 it is ready: %w", err)
	}
	go func() {
		// Nothing more comes on stdin: its end is the pod's.
		io.Copy(io.Discard, in)
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// dropPrivileges makes the helper nobody, with no supplementary groups,
// no capabilities and no way to gain any. In a rootless pod's user
// namespace, where root is an ordinary user of the host and nobody may
// not be mapped, what the namespace refuses is left as it is.
func dropPrivileges() error {
	if os.Geteuid() == 0 {
		rootless := !rootless.InitialUserNS()
		for _, step := range []func() error{
			func() error { return syscall.Setgroups(nil) },
			func() error { return syscall.Setgid(nobody) },
			func() error { return syscall.Setuid(nobody) },
		} {
			if err := step(); err != nil && !(rootless && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM))) {
				return fmt.Errorf("dropping privileges: %w", err)
			}
		}
	}
	// no_new_privs is a thread's: set on every thread of the process (a
	// cgo build cannot, and sets it on this one).
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0)
	if errno == syscall.ENOTSUP {
		errno = 0
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("dropping privileges: %w", err)
		}
	}
	if errno != 0 {
		return fmt.Errorf("dropping privileges: %w", errno)
	}
	return nil
}
