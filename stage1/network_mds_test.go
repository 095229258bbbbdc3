package stage1

import (
	"strings"
	"testing"
)

func TestNetworkSettingsMDS(t *testing.T) {
	n, err := NetworkSettings{Net: []string{"none"}, MDS: true}.Parse()
	if err != nil || !n.MDS {
		t.Fatalf("--net=none --mds-register: %v, %+v", err, n)
	}
	if n, err := (NetworkSettings{}).Parse(); err != nil || n.MDS {
		t.Fatalf("no --mds-register: %v, %+v", err, n)
	}
	// A pod manifest from anywhere is held to it: stage1 parses it too.
	if _, err := (NetworkSettings{Net: []string{"host"}, MDS: true}).Parse(); err == nil || !strings.Contains(err.Error(), "--net=host gives the pod none") {
		t.Fatalf("--net=host --mds-register: %v", err)
	}
}
