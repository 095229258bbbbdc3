package kit

import (
	"reflect"
	"testing"

	"github.com/appc/spec/schema/types"
)

func TestSocketPorts(t *testing.T) {
	app := &types.App{Ports: []types.Port{
		{Name: "www", Protocol: "tcp", Port: 80, SocketActivated: true},
		{Name: "plain", Protocol: "tcp", Port: 81},
		{Name: "dns", Protocol: "udp", Port: 53, Count: 2, SocketActivated: true},
	}}
	got, err := socketPorts(app)
	if err != nil {
		t.Fatal(err)
	}
	want := []SocketPort{{Name: "www", Protocol: "tcp", Port: 80, Count: 1}, {Name: "dns", Protocol: "udp", Port: 53, Count: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []types.Port{
		{Name: "x", Protocol: "sctp", Port: 1, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: 0, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: 65535, Count: 2, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: 1000, Count: maxSockets + 1, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: ^uint(0), Count: 2, SocketActivated: true},
	} {
		if _, err := socketPorts(&types.App{Ports: []types.Port{bad}}); err == nil {
			t.Errorf("port %+v taken", bad)
		}
	}
	// A count that wraps the sums around (appc's own check wraps too)
	// is no small range.
	wrap := []types.Port{
		{Name: "x", Protocol: "tcp", Port: 10, SocketActivated: true},
		{Name: "y", Protocol: "tcp", Port: 10, Count: ^uint(0), SocketActivated: true},
	}
	if got, err := socketPorts(&types.App{Ports: wrap}); err == nil {
		t.Errorf("ports of a wrapping count taken: %+v", got)
	}
}

// FuzzSocketPorts: an image's ports, whatever their numbers and counts,
// give at most maxSockets sockets, each on a port number.
func FuzzSocketPorts(f *testing.F) {
	f.Add(uint(80), uint(1), uint(53), uint(2))
	f.Add(uint(10), uint(1), uint(10), ^uint(0))
	f.Fuzz(func(t *testing.T, port1, count1, port2, count2 uint) {
		app := &types.App{Ports: []types.Port{
			{Name: "a", Protocol: "tcp", Port: port1, Count: count1, SocketActivated: true},
			{Name: "b", Protocol: "udp", Port: port2, Count: count2, SocketActivated: true},
		}}
		ports, err := socketPorts(app)
		if err != nil {
			return
		}
		total := 0
		for _, p := range ports {
			if p.Count > maxSockets || p.Port == 0 || p.Port+p.Count-1 > 65535 {
				t.Fatalf("port %+v taken", p)
			}
			total += int(p.Count)
		}
		if total > maxSockets {
			t.Fatalf("%d sockets taken: %+v", total, ports)
		}
	})
}
