package kit

import (
	"fmt"
	"podctl/stage1/appexec"

	"github.com/appc/spec/schema/types"
)

// SocketPort is one socketActivated port of an app's image, which the
// exec helper opens (appexec).
type SocketPort = appexec.SocketPort

// maxSockets bounds the sockets one app is given.
const maxSockets = 256

// socketPorts are an app's socketActivated ports.
func socketPorts(app *types.App) ([]SocketPort, error) {
	var out []SocketPort
	total := uint(0)
	for _, p := range app.Ports {
		if !p.SocketActivated {
			continue
		}
		count := max(p.Count, 1)
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("socket-activated port %s: protocol %q: podctl opens tcp and udp sockets", p.Name, p.Protocol)
		}
		// Bounded first: an image's count may wrap the sums below.
		if count > maxSockets || total+count > maxSockets {
			return nil, fmt.Errorf("more than %d socket-activated ports", maxSockets)
		}
		total += count
		if p.Port == 0 || p.Port > 65535 || p.Port+count-1 > 65535 {
			return nil, fmt.Errorf("socket-activated port %s: %d (count %d) is not a port number", p.Name, p.Port, count)
		}
		out = append(out, SocketPort{Name: p.Name.String(), Protocol: p.Protocol, Port: p.Port, Count: count})
	}
	return out, nil
}
