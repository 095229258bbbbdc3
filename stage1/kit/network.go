package kit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"podctl/datadir"
	"podctl/internal/fsutil"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage1"
)

// PodNetwork is a pod's network as its flavor sets it up: the CNI
// networks it joins, when it has a namespace of its own, and the hosts
// and resolv.conf files every app sees.
type PodNetwork struct {
	*stage1.Network
	env  network.Env
	pod  *lifecycle.Pod
	warn func(error)
	// netns is the namespace attached, "" until Attach.
	netns string
}

// networkTimeout bounds what the CNI plugins take to attach or detach a
// pod: a plugin that hangs must not hold the pod for ever.
const networkTimeout = 60 * time.Second

// OpenNetwork reads the network of the pod rc runs.
func OpenNetwork(rc *stage1.RunContext) (*PodNetwork, error) {
	n, err := stage1.ReadNetwork(rc.Manifest, rc.Pod.UUID)
	if err != nil {
		return nil, err
	}
	env := network.NewEnv(datadir.OfPod(rc.Pod.Path()))
	return &PodNetwork{Network: n, env: env, pod: rc.Pod, warn: rc.Warn}, nil
}

// Attach joins the namespace at netns to the pod's networks and records
// them in the pod (lifecycle.FileNetworks). On failure nothing is left
// attached.
func (pn *PodNetwork) Attach(netns string) ([]network.Attachment, error) {
	ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
	defer cancel()
	atts, err := pn.env.Attach(ctx, pn.pod.UUID, netns, pn.Spec, pn.Ports)
	if err != nil {
		return nil, err
	}
	pn.netns = netns
	b, err := json.Marshal(atts)
	if err == nil {
		// Shown by status; not needed after a crash (gc reads CNI's cache).
		err = pn.pod.WriteFile(lifecycle.FileNetworks, b, false)
	}
	if err != nil {
		pn.warn(fmt.Errorf("recording the pod's networks: %w", err))
	}
	return atts, nil
}

// AttachBeside joins the pod's networks in the background, beside the
// rest of the start, and returns the wait for it: nil once the pod has
// them and its hosts file names its addresses, or why it has none (what
// was added is undone). netns gives the namespace to join, waiting for it
// to exist if need be. The wait may be called any number of times.
func (pn *PodNetwork) AttachBeside(netns func() (string, error)) func() error {
	done := make(chan error, 1)
	go func() {
		path, err := netns()
		if err == nil {
			var atts []network.Attachment
			if atts, err = pn.Attach(path); err == nil {
				err = pn.SetAddresses(atts)
			}
		}
		trace.Mark("network attached")
		done <- err
	}()
	return sync.OnceValue(func() error { return <-done })
}

// NetworkMessage is what a flavor's stage1 tells its helper in the pod
// once the pod's networks are attached (AttachBeside): the helper starts
// the apps only then, and not at all if Error says why the pod has no
// network.
type NetworkMessage struct {
	Error string `json:"error,omitempty"`
}

// SendNetwork writes the outcome of waitNet to w, a pipe to the helper
// that waits for it (ReadNetwork), and closes w.
func SendNetwork(w io.WriteCloser, waitNet func() error) error {
	var m NetworkMessage
	if err := waitNet(); err != nil {
		m.Error = err.Error()
	}
	err := json.NewEncoder(w).Encode(m)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// NetworkError is why a pod has no network, as its helper learnt it: the
// pod's failure, not an app's.
type NetworkError struct{ Msg string }

func (e *NetworkError) Error() string { return e.Msg }

// ReadNetwork reads what SendNetwork sent with dec: nil when the pod's
// networks are attached.
func ReadNetwork(dec *json.Decoder) error {
	var m NetworkMessage
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("waiting for the pod's network: %w", err)
	}
	if m.Error != "" {
		return &NetworkError{m.Error}
	}
	return nil
}

// Detach releases what Attach took. gone says the namespace no longer
// exists (the pod's init has ended with it): the plugins then work from
// CNI's cache alone.
func (pn *PodNetwork) Detach(gone bool) error {
	netns := pn.netns
	if gone {
		netns = ""
	}
	return detach(pn.env, pn.pod.UUID, netns)
}

// ReleaseNetworks releases the networks pod p joined, once its namespace
// has gone with its init, from CNI's cache: Detach, for a process other
// than the one that attached them.
func ReleaseNetworks(p *lifecycle.Pod) error {
	return detach(network.NewEnv(datadir.OfPod(p.Path())), p.UUID, "")
}

// detach releases the networks of pod uuid joined in netns ("": gone).
func detach(env network.Env, uuid, netns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), networkTimeout)
	defer cancel()
	if err := env.Detach(ctx, uuid, netns); err != nil {
		return fmt.Errorf("releasing the pod's networks: %w", err)
	}
	return nil
}

// NewNamespace makes a network namespace of the pod's own, for a flavor
// whose runtime joins one by its path (systemd-nspawn); RemoveNamespace
// removes it.
func (pn *PodNetwork) NewNamespace() (string, error) { return pn.env.NewNetNS(pn.pod.UUID) }

// RemoveNamespace removes what NewNamespace made.
func (pn *PodNetwork) RemoveNamespace() error { return pn.env.RemoveNetNS(pn.pod.UUID) }

// hostResolvConf is the host's resolver configuration, which --dns=host
// copies and the default takes the name servers of.
const hostResolvConf = "/etc/resolv.conf"

// Files writes the pod's /etc/hosts and /etc/resolv.conf (unless
// --dns=none) and adds to every app the read-only mounts that show them,
// over whatever the image has. The hosts file names the pod on its
// addresses once SetAddresses has them: until then, on 127.0.1.1.
func (pn *PodNetwork) Files(specs []AppSpec) error {
	if err := pn.writeShared(lifecycle.FileHosts, network.HostsFile(pn.Hostname, nil, pn.Hosts)); err != nil {
		return err
	}
	mounts := []MountSpec{{Source: pn.pod.FilePath(lifecycle.FileHosts), Target: "/etc/hosts", ReadOnly: true}}
	host, err := os.ReadFile(hostResolvConf)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("reading the host's %s: %w", hostResolvConf, err)
	}
	if resolv, ok := network.ResolvConf(pn.DNS, host); ok {
		if err := pn.writeShared(lifecycle.FileResolvConf, resolv); err != nil {
			return err
		}
		mounts = append(mounts, MountSpec{Source: pn.pod.FilePath(lifecycle.FileResolvConf), Target: "/etc/resolv.conf", ReadOnly: true})
	}
	for i := range specs {
		specs[i].Mounts = append(specs[i].Mounts, mounts...)
	}
	return nil
}

// SetAddresses writes the pod's addresses into its hosts file, in place:
// the apps' roots may bind it already, and a bind shows the file it was
// made of, not one renamed over it. Call it before any app starts.
func (pn *PodNetwork) SetAddresses(atts []network.Attachment) error {
	f, err := os.OpenFile(pn.pod.FilePath(lifecycle.FileHosts), os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.Write(network.HostsFile(pn.Hostname, atts, pn.Hosts))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("writing the pod's hosts file: %w", err)
	}
	return nil
}

// writeShared writes a file every app reads, whatever its user: 0644.
// Not synced: it is written again at each start.
func (pn *PodNetwork) writeShared(name string, b []byte) error {
	if err := fsutil.WriteFile(pn.pod.FilePath(name), b, 0o644, false); err != nil {
		return fmt.Errorf("writing the pod's %s: %w", name, err)
	}
	return nil
}
