package stage1

import "testing"

// FuzzParsePrivateUsers: the annotation is read back from a pod's manifest;
// whatever it holds, a range that is accepted passes Check and never maps
// the host's own users.
func FuzzParsePrivateUsers(f *testing.F) {
	f.Add(`{"uid":524288,"gid":524288,"count":65536,"ownership":"map"}`)
	f.Add(`{"uid":0,"gid":0,"count":4294967295,"ownership":"chown"}`)
	f.Add(`{"uid":4294901760,"gid":65536,"count":65536,"ownership":"map"}`)
	f.Fuzz(func(t *testing.T, v string) {
		u, err := ParsePrivateUsers(v)
		if err != nil {
			return
		}
		if u.UID < MinPrivateUID || u.GID < MinPrivateUID || u.Count == 0 {
			t.Fatalf("accepted %q: %+v", v, u)
		}
		if uint64(u.UID)+uint64(u.Count) > 1<<32-1 {
			t.Fatalf("accepted %q: range beyond the last id", v)
		}
	})
}

func TestPrivateUsersOverlaps(t *testing.T) {
	a := &PrivateUsers{UID: 524288, GID: 524288, Count: 65536}
	for _, c := range []struct {
		uid, gid, count uint32
		want            bool
	}{
		{589824, 589824, 65536, false},
		{589823, 700000, 2, true},
		{458752, 458752, 65536, false},
		{458753, 458753, 65536, true},
		{700000, 524288, 1, true},
	} {
		b := &PrivateUsers{UID: c.uid, GID: c.gid, Count: c.count}
		if got := a.Overlaps(b); got != c.want || b.Overlaps(a) != c.want {
			t.Errorf("%+v overlaps %+v: %v, want %v", a, b, got, c.want)
		}
	}
}
