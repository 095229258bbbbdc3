package main

import (
	"net"
	"sync"
)

// maxConns bounds the connections served at once. The helper runs
// outside the pod's cgroups, so what an app makes it hold is the host's
// memory: at most maxConns requests of at most maxForm bytes each.
const maxConns = 64

// limitListener accepts a connection only while fewer than cap(sem) are
// open; the others wait in the kernel's backlog.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

// limitConn gives its slot back when it is closed, once.
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
