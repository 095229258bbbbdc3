package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"

	"podctl/stage1/seccomp/custom"
	"podctl/stage1/seccomp/profile"
)

// seccomp-program
//
// assembles an app's own seccomp filter (custom.AssembleRequest, JSON on
// stdin, at most 1 MiB) into the BPF program its exec helper loads, a JSON
// list of instructions on stdout. podctl keeps the assembler out of every
// process of a pod's start (kit.AssembleFilters).
func init() {
	verbs["seccomp-program"] = seccompProgramVerb
}

func seccompProgramVerb([]string) int {
	prog, err := seccompProgram(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		return fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(prog); err != nil {
		return fail(err)
	}
	return 0
}

// seccompProgram reads a request and assembles its filter, which it checks
// first: stdin is podctl's, but a filter comes from an image's isolators.
func seccompProgram(r io.Reader) (any, error) {
	var req custom.AssembleRequest
	if err := json.NewDecoder(r).Decode(&req); err != nil {
		return nil, errors.New("seccomp-program: reading the request: " + err.Error())
	}
	if req.Filter == nil {
		return nil, errors.New("seccomp-program: the request names no filter")
	}
	return profile.CustomProgram(req.Filter, req.Tracing)
}
