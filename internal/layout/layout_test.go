package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/sys/unix"

	"podctl/internal/version"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    Record
		wantErr string
	}{
		{`{"layout":1,"written_by":"podctl 0.1.0"}`, Record{1, "podctl 0.1.0"}, ""},
		{`{"layout":7}`, Record{7, ""}, ""},
		{`{"layout":2,"written_by":"podctl 0.9.0","migrated_from":1}`, Record{2, "podctl 0.9.0"}, ""},
		{`{"layout":2,"written_by":"podctl\n0.9.0\u001b[31m"}`, Record{2, "podctl?0.9.0?[31m"}, ""},
		{`{"written_by":"podctl"}`, Record{}, "names no layout version"},
		{`{"layout":0}`, Record{}, "0 is not a layout version"},
		{`{"layout":-3}`, Record{}, "-3 is not a layout version"},
		{`{"layout":1.5}`, Record{}, "not a layout record"},
		{`{"layout":"2"}`, Record{}, "not a layout record"},
		{`{"layout":99999999999999999999}`, Record{}, "not a layout record"},
		{`{"layout":1,"written_by":3}`, Record{}, "not a layout record"},
		{`[1]`, Record{}, "not a layout record"},
		{"", Record{}, "not a layout record"},
		{`{"layout":1} {"layout":2}`, Record{}, "not a layout record"},
		{`{"layout":1,"written_by":"` + strings.Repeat("x", MaxSize) + `"}`, Record{}, "larger than 4096 bytes"},
	} {
		r, err := Parse([]byte(c.in))
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Parse(%q) = %+v, %v; want an error saying %q", c.in, r, err, c.wantErr)
			}
			continue
		}
		if err != nil || r != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, r, err, c.want)
		}
	}
}

func TestMarshalParses(t *testing.T) {
	b := New(1).Marshal()
	if want := `{"layout":1,"written_by":"podctl ` + version.Podctl + `"}` + "\n"; string(b) != want {
		t.Fatalf("Marshal = %q, want %q", b, want)
	}
	if r, err := Parse(b); err != nil || r != New(1) {
		t.Fatalf("Parse(Marshal) = %+v, %v", r, err)
	}
}

func TestLoad(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "layout")
	load := func() (Record, error) { return Load(unix.AT_FDCWD, path, "thing T", path, 1) }

	if r, err := load(); err != nil || r.Layout != 1 {
		t.Fatalf("a missing file: %+v, %v; want version 1", r, err)
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"layout":1,"written_by":"podctl 0.1.0"}`)
	if r, err := load(); err != nil || r.Layout != 1 {
		t.Fatalf("version 1: %+v, %v", r, err)
	}
	write(`{"layout":2,"written_by":"podctl 0.9.0"}`)
	_, err := load()
	var newer *NewerError
	if !errors.As(err, &newer) || newer.Found.Layout != 2 {
		t.Fatalf("version 2: %v, want a NewerError", err)
	}
	want := "thing T has layout version 2, written by podctl 0.9.0; this podctl (" + version.Podctl + ") knows version 1: use a newer podctl"
	if err.Error() != want {
		t.Fatalf("version 2 refused with\n%q, want\n%q", err, want)
	}
	write(`{"layout":2}`)
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "written by an unknown program") {
		t.Fatalf("version 2 without written_by: %v", err)
	}

	for what, damage := range map[string]func(){
		"not JSON":   func() { write("layout 2\n") },
		"a symlink":  func() { os.Remove(path); os.Symlink("/etc/passwd", path) },
		"a FIFO":     func() { os.Remove(path); unix.Mkfifo(path, 0o600) },
		"a folder":   func() { os.Remove(path); os.Mkdir(path, 0o700) },
		"too large":  func() { os.Remove(path); write(strings.Repeat(" ", MaxSize+1)) },
		"no version": func() { os.Remove(path); write(`{}`) },
	} {
		damage()
		_, err := load()
		var d *DamagedError
		if !errors.As(err, &d) {
			t.Errorf("a layout file that is %s: %v, want a DamagedError", what, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "thing T has a layout file "+path) || strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("a layout file that is %s: %q is not one line naming the file", what, err)
		}
		os.RemoveAll(path)
	}
}

// FuzzParse reads a layout file of any content: an error is one line, and
// a record has a version of 1 or more and a printable written_by of one
// line that reads back the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"layout":1,"written_by":"podctl 0.1.0-dev"}` + "\n"))
	f.Add([]byte(`{"layout":2,"written_by":"podctl 0.9.0"}`))
	f.Add([]byte(`{"layout":1e3}`))
	f.Add([]byte(`{"layout":3,"written_by":"\u2028\ufffd\u0000x"}`))
	f.Add([]byte(`{"layout":1,"written_by":" ` + strings.Repeat("x", 64) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The decoder-free reading of podctl's own form agrees with JSON's.
		if fast, ok := parseWritten(data); ok {
			if slow, err := parseJSON(data); err != nil || slow != fast {
				t.Fatalf("%q: read as %+v without a decoder, %+v (%v) with one", data, fast, slow, err)
			}
		}
		r, err := Parse(data)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		if r.Layout < 1 {
			t.Fatalf("version %d accepted", r.Layout)
		}
		for _, c := range r.WrittenBy {
			if !unicode.IsGraphic(c) || c == '\ufffd' {
				t.Fatalf("written_by %q holds %q", r.WrittenBy, c)
			}
		}
		if n := len([]rune(r.WrittenBy)); n > maxWrittenBy+3 {
			t.Fatalf("written_by is %d characters long", n)
		}
		msg := (&NewerError{Subject: "pod X", Found: r, Known: 1}).Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("refusal %q is not one line", msg)
		}
		again, err := Parse(r.Marshal())
		if err != nil || again != r {
			t.Fatalf("%+v read back as %+v, %v", r, again, err)
		}
	})
}

// What podctl writes is read without a JSON decoder, as with one.
func TestParseWritten(t *testing.T) {
	for _, r := range []Record{New(1), {Layout: 9, WrittenBy: "podctl 9.9.9"}, {Layout: 1}} {
		b := r.Marshal()
		got, ok := parseWritten(b)
		if !ok || got != r {
			t.Errorf("%q: got %+v %v, want %+v", b, got, ok, r)
		}
	}
	for _, b := range []string{`{"layout":10,"written_by":"x"}` + "\n", `{"layout":1,"written_by":"a\"b"}` + "\n", `{"layout":1}` + "\n", `{"layout":0,"written_by":""}` + "\n"} {
		if _, ok := parseWritten([]byte(b)); ok {
			t.Errorf("%q read without a decoder", b)
		}
	}
}
