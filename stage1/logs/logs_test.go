package logs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"podctl/lifecycle"
	"strings"
	"testing"
	"time"
)

func TestCopyFramesAndTees(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 25, 12, 0, 0, 5, time.UTC)
	l.now = func() time.Time { return clock }
	var tee bytes.Buffer
	long := strings.Repeat("x", maxLine+10)
	if err := l.Copy(Stdout, strings.NewReader("one\ntwo\n"+long+"\nlast without newline"), &tee); err != nil {
		t.Fatal(err)
	}
	if err := l.Copy(Stderr, strings.NewReader("oops\n"), nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if tee.String() != "one\ntwo\n"+long+"\nlast without newline" {
		t.Fatalf("tee got %q", tee.String())
	}
	b, _ := os.ReadFile(filepath.Join(dir, lifecycle.AppLog))
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d log lines, want 6", len(lines))
	}
	if lines[0] != "2026-11-25T12:00:00.000000005Z stdout F one" {
		t.Fatalf("first line %q", lines[0])
	}
	if !strings.Contains(lines[2], " stdout P ") || !strings.HasSuffix(lines[3], " stdout F xxxxxxxxxx") {
		t.Fatalf("long line not split into P then F: %.60q / %.60q", lines[2], lines[3])
	}
	if !strings.HasSuffix(lines[4], "stdout P last without newline") || !strings.HasSuffix(lines[5], "stderr F oops") {
		t.Fatalf("tail lines %q %q", lines[4], lines[5])
	}

	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	es, err := r.Next()
	if err != nil || len(es) != 6 {
		t.Fatalf("read %d entries, %v", len(es), err)
	}
	var out, errb bytes.Buffer
	if err := Print(es, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\ntwo\n"+long+"\nlast without newline" || errb.String() != "oops\n" {
		t.Fatalf("printed %q / %q", out.String(), errb.String())
	}
	if got := Tail(es, 1); len(got) != 1 || got[0].Text != "oops" {
		t.Fatalf("tail 1: %+v", got)
	}
	if got := Tail(es, 3); len(got) != 4 || got[0].Text[:3] != "xxx" || !got[0].Partial {
		t.Fatalf("tail 3 must keep the partial entries of the long line: %d entries", len(got))
	}
}

func TestReaderHoldsBackUnfinishedLines(t *testing.T) {
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, lifecycle.AppLog))
	r, _ := OpenReader(dir)
	defer r.Close()
	io.WriteString(f, "2026-11-25T12:00:00Z stdout F a\n2026-11-25T12:00:01Z std")
	es, err := r.Next()
	if err != nil || len(es) != 1 {
		t.Fatalf("%+v %v", es, err)
	}
	io.WriteString(f, "err F b\n")
	es, err = r.Next()
	if err != nil || len(es) != 1 || es[0].Stream != Stderr || es[0].Text != "b" {
		t.Fatalf("%+v %v", es, err)
	}
}
