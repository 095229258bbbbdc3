package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"podctl/stage0"
)

// Flags whose values stage0 parses (stage0.ParseMemory, ParseMount, ...)
// are read by these pflag.Values, which parse each value once, as the flag
// is read, into the typed field the options hold.

// typedFlag is a flag whose value parse makes a T, kept in *p.
type typedFlag[T any] struct {
	p     *T
	parse func(string) (T, error)
	// show writes the value back, "" for none (so --help shows no default).
	show func(T) string
	typ  string
}

func (f typedFlag[T]) Set(s string) error {
	v, err := f.parse(s)
	if err != nil {
		return err
	}
	*f.p = v
	return nil
}

func (f typedFlag[T]) String() string {
	if f.p == nil {
		return ""
	}
	return f.show(*f.p)
}

func (f typedFlag[T]) Type() string { return f.typ }

// listFlag is a repeatable flag whose values parse makes Ts, appended to
// *p in the order given.
type listFlag[T fmt.Stringer] struct {
	p     *[]T
	parse func(string) (T, error)
}

func (f listFlag[T]) Set(s string) error {
	v, err := f.parse(s)
	if err != nil {
		return err
	}
	*f.p = append(*f.p, v)
	return nil
}

func (f listFlag[T]) String() string {
	if f.p == nil {
		return ""
	}
	var parts []string
	for _, v := range *f.p {
		parts = append(parts, v.String())
	}
	return strings.Join(parts, ",")
}

func (f listFlag[T]) Type() string { return "stringArray" }

// list registers a repeatable flag whose values parse makes.
func list[T fmt.Stringer](fs *pflag.FlagSet, p *[]T, name string, parse func(string) (T, error), usage string) {
	fs.Var(listFlag[T]{p: p, parse: parse}, name, usage)
}

// secretParser parses the values of a secret flag.
func secretParser(flag string) func(string) (stage0.Secret, error) {
	return func(s string) (stage0.Secret, error) { return stage0.ParseSecret(flag, s) }
}

// flagError is the error to show for a flag that did not parse. A usage
// error of stage0's parsers names the flag and says what to give, as one
// line: it is shown alone, not wrapped in pflag's "invalid argument".
func flagError(err error) (error, bool) {
	var ive *pflag.InvalidValueError
	if errors.As(err, &ive) && errors.Is(ive.Unwrap(), stage0.ErrUsage) {
		return ive.Unwrap(), true
	}
	return err, false
}
