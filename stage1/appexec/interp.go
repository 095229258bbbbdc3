package appexec

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"
)

// missingInterpreter says why executing the program at path failed with
// ENOENT although the file is there: the kernel gives the same error when
// the program's dynamic loader (an ELF file's PT_INTERP) or a script's
// interpreter (its #! line) is missing, which would otherwise read as the
// program itself missing. It returns "" when neither explains it. It runs
// in the app's root. file is the program's file from the calling thread's
// working directory, path its name in the app's.
func missingInterpreter(file, path string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	interp, script := interpreterOf(f)
	if interp == "" {
		return ""
	}
	if _, err := os.Stat(interp); err == nil {
		return ""
	}
	if script {
		return fmt.Sprintf("%s is a script for %s, which the image does not have", path, interp)
	}
	return fmt.Sprintf("%s needs the dynamic loader %s, which the image does not have", path, interp)
}

// maxInterp bounds what is read of an interpreter's name: the kernel takes
// no more than a page for PT_INTERP, and less for a #! line.
const maxInterp = 4096

// interpreterOf returns the interpreter a program file names, and whether
// it is a script's: the dynamic loader of an ELF file, or the first word
// of a #! line. The file is the image's: anything may be in it. It runs
// in a native pod's init, the pod's PID 1 (appexec.Resolved's
// ExplainExecFailure): should debug/elf panic on a file it was never
// fuzzed with, the answer is that nothing explains the failure, and the
// init goes on.
func interpreterOf(r io.ReaderAt) (interp string, script bool) {
	defer func() {
		if recover() != nil {
			interp, script = "", false
		}
	}()
	head := make([]byte, 256)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	if line, ok := bytes.CutPrefix(head, []byte("#!")); ok {
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return "", false
		}
		return fields[0], true
	}
	if !bytes.HasPrefix(head, []byte(elf.ELFMAG)) {
		return "", false
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		return "", false
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), maxInterp))
		if err != nil {
			return "", false
		}
		name, _, _ := bytes.Cut(b, []byte{0})
		return string(name), false
	}
	return "", false
}
