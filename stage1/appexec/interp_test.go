package appexec

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestInterpreterOf(t *testing.T) {
	host, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	static, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what   string
		data   []byte
		want   string
		script bool
	}{
		{"a dynamic ELF program", host, "/lib64/ld-linux-x86-64.so.2", false},
		{"a static ELF program", static, "", false},
		{"a script", []byte("#!/usr/bin/python3 -u\nprint(1)\n"), "/usr/bin/python3", true},
		{"a script with a space after #!", []byte("#! /bin/sh\n"), "/bin/sh", true},
		{"an empty #! line", []byte("#!\n"), "", false},
		{"text", []byte("hello\n"), "", false},
		{"a cut ELF header", host[:20], "", false},
		{"nothing", nil, "", false},
	} {
		got, script := interpreterOf(bytes.NewReader(c.data))
		if got != c.want || script != c.script {
			t.Errorf("%s: got %q (script %v), want %q (script %v)", c.what, got, script, c.want, c.script)
		}
	}
}

func TestMissingInterpreter(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!"+filepath.Join(dir, "nope")+"\n"), 0o755)
	if got, want := missingInterpreter(script, script), script+" is a script for "+filepath.Join(dir, "nope")+", which the image does not have"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	there := filepath.Join(dir, "there")
	os.WriteFile(there, []byte("#!/bin/sh\n"), 0o755)
	if got := missingInterpreter(there, there); got != "" {
		t.Errorf("an interpreter that exists: %q", got)
	}
}

// FuzzInterpreterOf feeds what an image's program file may hold to the
// reader of its interpreter: it must not panic or hang.
func FuzzInterpreterOf(f *testing.F) {
	if b, err := os.ReadFile("/bin/true"); err == nil {
		f.Add(b[:min(len(b), 8192)])
	}
	f.Add([]byte("#!/bin/sh\n"))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		interpreterOf(bytes.NewReader(data))
	})
}
