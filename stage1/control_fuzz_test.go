package stage1

import (
	"bytes"
	"testing"
)

// FuzzReadAppControlRequest: whatever comes on the control socket, the
// reader returns a known verb naming an app, or an error, never a panic.
func FuzzReadAppControlRequest(f *testing.F) {
	for _, s := range []string{`{"op":"add","app":"web"}`, `{"op":"rm","app":""}`, `{"op":"halt","app":"x"}`, `{"op":`, `[]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ReadAppControlRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		switch req.Op {
		case AppAdd, AppStart, AppStop, AppRemove:
		default:
			t.Fatalf("accepted verb %q", req.Op)
		}
		if req.App == "" {
			t.Fatal("accepted a request naming no app")
		}
	})
}
