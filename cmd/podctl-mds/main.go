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
	go func() { errc <- srv.Serve(l) }()
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
// no capabilities and no way to gain any.
func dropPrivileges() error {
	if os.Geteuid() != 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("dropping privileges: %w", err)
	}
	if err := syscall.Setgid(nobody); err != nil {
		return fmt.Errorf("dropping privileges: %w", err)
	}
	if err := syscall.Setuid(nobody); err != nil {
		return fmt.Errorf("dropping privileges: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("dropping privileges: %w", err)
	}
	return nil
}
