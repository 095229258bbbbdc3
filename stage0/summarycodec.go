package stage0

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage1"
)

// A summary's data is read for every exited pod a list shows, so it is
// not JSON, whose reflective decoding was a quarter of such a list's CPU
// time, but lines that a hand-written scanner reads in one pass:
//
//	n NAME                   the pod's name
//	l KEY VALUE              a label (one line each)
//	a KEY VALUE              an annotation (one line each)
//	r RESULT MESSAGE EXIT    the pod's result; EXIT is - when it has none
//	f FLAVOR                 the stage1 flavor
//	c TIME                   created
//	s TIME                   started
//	w JSON                   the networks, when there were any
//	u JSON                   the private users, when there were any
//	o JSON                   the pod file it came from, if any
//	m                        the pod is mutable
//	i PID                    a running pod's stage1 pid, when it has one
//	g RECORD                 a running pod's cgroup record, when it has one
//	p NAME IMAGE-NAME IMAGE-ID STATE EXIT SIGNAL REASON MESSAGE STARTED FINISHED RESTARTS VERSION
//	                         an app (one line each, in the manifest's order)
//	e                        the end: a summary without it is not whole
//
// Strings are Go-quoted (strconv.Quote), so that no byte of a value can
// end a field or a line; numbers are decimal; a TIME is RFC 3339 with
// nanoseconds, as time.Time.MarshalText writes it, or - for none. The
// rare nested values (w, u, o) stay JSON, decoded only when present.
// Anything else, a line or a field too many or too few, or a value not
// written as encodeSummary writes it, makes the summary unreadable, and
// the pod is read from its files.

// encodeSummary is s as a summary's data.
func encodeSummary(s *podSummary) ([]byte, error) {
	b := make([]byte, 0, 512)
	str := func(v string) { b = append(b, ' '); b = strconv.AppendQuote(b, v) }
	num := func(v int) { b = append(b, ' '); b = strconv.AppendInt(b, int64(v), 10) }
	numPtr := func(v *int) {
		if v == nil {
			b = append(b, " -"...)
			return
		}
		num(*v)
	}
	tm := func(t *time.Time) error {
		if t == nil {
			b = append(b, " -"...)
			return nil
		}
		text, err := t.MarshalText()
		if err != nil {
			return err
		}
		b = append(append(b, ' '), text...)
		return nil
	}
	jsonLine := func(key byte, v any) error {
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b = append(b, key)
		str(string(j))
		b = append(b, '\n')
		return nil
	}
	b = append(b, 'n')
	str(s.Name)
	b = append(b, '\n')
	for _, kv := range []struct {
		key byte
		m   map[string]string
	}{{'l', s.Labels}, {'a', s.Annotations}} {
		// In key order: the same pod gives the same bytes.
		for _, k := range slices.Sorted(maps.Keys(kv.m)) {
			b = append(b, kv.key)
			str(k)
			str(kv.m[k])
			b = append(b, '\n')
		}
	}
	if r := s.Result; r != nil {
		b = append(b, 'r')
		str(r.Result)
		str(r.Message)
		numPtr(r.ExitCode)
		b = append(b, '\n')
	}
	b = append(b, 'f')
	str(s.Flavor)
	b = append(b, "\nc"...)
	if err := tm(s.CreatedAt); err != nil {
		return nil, err
	}
	b = append(b, "\ns"...)
	if err := tm(s.StartedAt); err != nil {
		return nil, err
	}
	b = append(b, '\n')
	if len(s.Networks) > 0 {
		if err := jsonLine('w', s.Networks); err != nil {
			return nil, err
		}
	}
	if s.PrivateUsers != nil {
		if err := jsonLine('u', s.PrivateUsers); err != nil {
			return nil, err
		}
	}
	if s.Source != nil {
		if err := jsonLine('o', s.Source); err != nil {
			return nil, err
		}
	}
	if s.Mutable {
		b = append(b, "m\n"...)
	}
	if s.Pid != 0 {
		b = append(b, 'i')
		num(s.Pid)
		b = append(b, '\n')
	}
	if s.CgroupRecord != "" {
		b = append(b, 'g')
		str(s.CgroupRecord)
		b = append(b, '\n')
	}
	for _, a := range s.Apps {
		b = append(b, 'p')
		str(a.Name)
		str(a.ImageName)
		str(a.ImageID)
		str(a.State)
		numPtr(a.ExitCode)
		str(a.Signal)
		str(a.Reason)
		str(a.Message)
		if err := tm(a.StartedAt); err != nil {
			return nil, err
		}
		if err := tm(a.FinishedAt); err != nil {
			return nil, err
		}
		num(a.RestartCount)
		str(a.ImageVersion)
		b = append(b, '\n')
	}
	return append(b, "e\n"...), nil
}

// errSummary is a summary's data that does not read as encodeSummary
// writes it.
var errSummary = errors.New("malformed summary")

// summaryScanner reads the fields of a summary's line.
type summaryScanner struct {
	line []byte
	err  error
}

// next is the line's next field, raw; it fails if there is none.
func (sc *summaryScanner) next() []byte {
	if sc.err != nil {
		return nil
	}
	if len(sc.line) < 2 || sc.line[0] != ' ' {
		sc.err = errSummary
		return nil
	}
	rest := sc.line[1:]
	end := 0
	if rest[0] == '"' {
		// A quoted field ends at the first unescaped quote.
		end = 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(rest) {
			sc.err = errSummary
			return nil
		}
		end++
	} else {
		for end < len(rest) && rest[end] != ' ' {
			end++
		}
	}
	f := rest[:end]
	sc.line = rest[end:]
	return f
}

// str is the next field as a quoted string.
func (sc *summaryScanner) str() string {
	f := sc.next()
	if sc.err != nil {
		return ""
	}
	if len(f) < 2 || f[0] != '"' {
		sc.err = errSummary
		return ""
	}
	// Most values hold nothing to unescape.
	inner := f[1 : len(f)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c < ' ' || c >= 0x7f {
			plain = false
			break
		}
	}
	if plain {
		return string(inner)
	}
	if s, ok := unquoteCommon(inner); ok {
		return s
	}
	s, err := strconv.Unquote(string(f))
	if err != nil {
		sc.err = errSummary
	}
	return s
}

// unquoteCommon is strconv.Unquote of the quoted string whose inside is
// inner, for an inside of printable ASCII and the escapes \n, \t, \\
// and \" (a running pod's cgroup record is lines of paths); ok is false
// for anything else, which strconv.Unquote is left to read.
func unquoteCommon(inner []byte) (s string, ok bool) {
	b := make([]byte, 0, len(inner))
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '"' || c < ' ' || c >= 0x7f:
			return "", false
		case c != '\\':
			b = append(b, c)
			continue
		}
		if i++; i == len(inner) {
			return "", false
		}
		switch inner[i] {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '\\', '"':
			b = append(b, inner[i])
		default:
			return "", false
		}
	}
	return string(b), true
}

// num is the next field as a decimal int.
func (sc *summaryScanner) num() int {
	f := sc.next()
	if sc.err != nil {
		return 0
	}
	n, err := strconv.Atoi(string(f))
	if err != nil {
		sc.err = errSummary
	}
	return n
}

// numPtr is the next field as a decimal int, or nil for -.
func (sc *summaryScanner) numPtr() *int {
	f := sc.next()
	if sc.err != nil || string(f) == "-" {
		return nil
	}
	n, err := strconv.Atoi(string(f))
	if err != nil {
		sc.err = errSummary
		return nil
	}
	return &n
}

// time is the next field as a time, or nil for -.
func (sc *summaryScanner) time() *time.Time {
	f := sc.next()
	if sc.err != nil || string(f) == "-" {
		return nil
	}
	var t time.Time
	if err := t.UnmarshalText(f); err != nil {
		sc.err = errSummary
		return nil
	}
	// Only as MarshalText writes it: what is read back prints the same.
	if text, err := t.MarshalText(); err != nil || string(text) != string(f) {
		sc.err = errSummary
		return nil
	}
	return &t
}

// json decodes the next field, a quoted JSON text, into v.
func (sc *summaryScanner) json(v any) {
	s := sc.str()
	if sc.err != nil {
		return
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		sc.err = errSummary
	}
}

// decodeSummary reads a summary's data as encodeSummary writes it.
func decodeSummary(data []byte) (*podSummary, error) {
	s := &podSummary{}
	var seen [256]bool
	for len(data) > 0 && !seen['e'] {
		var line []byte
		for i, c := range data {
			if c == '\n' {
				line, data = data[:i], data[i+1:]
				break
			}
		}
		if line == nil {
			// The last line, like every other, ends with a newline.
			return nil, errSummary
		}
		if len(line) == 0 {
			return nil, errSummary
		}
		key := line[0]
		sc := &summaryScanner{line: line[1:]}
		// Lines that say one thing of the pod say it once.
		if key != 'l' && key != 'a' && key != 'p' {
			if seen[key] {
				return nil, errSummary
			}
			seen[key] = true
		}
		switch key {
		case 'n':
			s.Name = sc.str()
		case 'l', 'a':
			k, v := sc.str(), sc.str()
			m := &s.Labels
			if key == 'a' {
				m = &s.Annotations
			}
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[k] = v
		case 'r':
			s.Result = &lifecycle.PodResult{Result: sc.str(), Message: sc.str(), ExitCode: sc.numPtr()}
		case 'f':
			s.Flavor = sc.str()
		case 'c':
			s.CreatedAt = sc.time()
		case 's':
			s.StartedAt = sc.time()
		case 'e':
		case 'm':
			s.Mutable = true
		case 'i':
			// Written only for a pid, which is positive.
			if s.Pid = sc.num(); sc.err == nil && s.Pid <= 0 {
				sc.err = errSummary
			}
		case 'g':
			if s.CgroupRecord = sc.str(); sc.err == nil && s.CgroupRecord == "" {
				sc.err = errSummary
			}
		case 'w':
			var n []network.Attachment
			sc.json(&n)
			if sc.err == nil && len(n) == 0 {
				// Written only when there are networks.
				sc.err = errSummary
			}
			s.Networks = n
		case 'u':
			var u stage1.PrivateUsers
			sc.json(&u)
			s.PrivateUsers = &u
		case 'o':
			var o SourceInfo
			sc.json(&o)
			s.Source = &o
		case 'p':
			var a summaryApp
			a.Name, a.ImageName, a.ImageID, a.State = sc.str(), sc.str(), sc.str(), sc.str()
			a.ExitCode = sc.numPtr()
			a.Signal, a.Reason, a.Message = sc.str(), sc.str(), sc.str()
			a.StartedAt, a.FinishedAt = sc.time(), sc.time()
			a.RestartCount = sc.num()
			a.ImageVersion = sc.str()
			s.Apps = append(s.Apps, a)
		default:
			return nil, errSummary
		}
		if sc.err == nil && len(sc.line) != 0 {
			sc.err = errSummary
		}
		if sc.err != nil {
			return nil, fmt.Errorf("%w: line %q", sc.err, line)
		}
	}
	if len(data) > 0 || !seen['e'] || !seen['n'] || !seen['f'] || !seen['c'] || !seen['s'] {
		return nil, errSummary
	}
	return s, nil
}
