package stage1

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseLocks(t *testing.T) {
	const table = `1: FLOCK  ADVISORY  WRITE 15817 fe:00:9979271 0 EOF
1: -> FLOCK  ADVISORY  WRITE 15900 fe:00:9979271 0 EOF
2: FLOCK  ADVISORY  READ 15901 fe:00:9979271 0 EOF
3: POSIX  ADVISORY  WRITE 15902 fe:00:9979271 0 EOF
4: FLOCK  ADVISORY  WRITE 15903 fe:01:9979271 0 EOF
5: FLOCK  ADVISORY  WRITE 15904 fe:00:997927 0 EOF
6: FLOCK  ADVISORY  WRITE 15905 103:02:9979271 0 EOF
`
	got, err := parseLocks(strings.NewReader(table), unix.Mkdev(0xfe, 0), 9979271)
	if err != nil || !slices.Equal(got, []int{15817}) {
		t.Errorf("holders %v, %v; want [15817]", got, err)
	}
	got, _ = parseLocks(strings.NewReader(table), unix.Mkdev(0x103, 2), 9979271)
	if !slices.Equal(got, []int{15905}) {
		t.Errorf("holders on a device with a large major %v; want [15905]", got)
	}
}
