package stage0

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"podctl/internal/errdefs"
)

// Labels and annotations are the user's key-value pairs on a pod (--label,
// --annotation). They go into the pod manifest's userLabels and
// userAnnotations, appc's fields for exactly this, which take any string as
// a key; podctl's own annotations (podctl.io/...) stay apart in
// annotations. Labels are for selecting pods (list --filter label=), so
// their keys and values are short and plain; annotations carry any text.
const (
	// MaxLabelLen bounds a label's key and its value.
	MaxLabelLen = 253
	// MaxAnnotationLen bounds an annotation's value.
	MaxAnnotationLen = 64 * 1024
)

// validLabelKey reports whether k is `^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`,
// checked by hand: a regular expression compiled as the package is loaded
// costs every podctl process's start.
func validLabelKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || i == len(k)-1 || (c != '.' && c != '_' && c != '/' && c != '-')) {
			return false
		}
	}
	return k != ""
}

// checkLabelKey says what is wrong with a label or annotation key.
func checkLabelKey(what, k string) error {
	if len(k) > MaxLabelLen || !validLabelKey(k) {
		return errdefs.New(ErrUsage, "%s key %q is not valid: use up to %d letters, digits and . _ / -, starting and ending with a letter or digit", what, k, MaxLabelLen)
	}
	return nil
}

// ParseLabel reads a --label KEY=VALUE value. A value is at most
// MaxLabelLen printable characters without a comma, which separates the
// filters of list --filter; it may be empty.
func ParseLabel(kv string) (KeyValue, error) {
	return parsePair("label", kv, func(k, v string) error {
		if len(v) > MaxLabelLen || strings.ContainsRune(v, ',') || !printable(v) {
			return errdefs.New(ErrUsage, "label %s: value %q is not valid: use up to %d printable characters, without a comma", k, v, MaxLabelLen)
		}
		return nil
	})
}

// ParseAnnotation reads an --annotation KEY=VALUE value. A value is any
// UTF-8 text up to MaxAnnotationLen bytes, without NUL.
func ParseAnnotation(kv string) (KeyValue, error) {
	return parsePair("annotation", kv, func(k, v string) error {
		if len(v) > MaxAnnotationLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return errdefs.New(ErrUsage, "annotation %s: the value is not valid: use up to %d bytes of UTF-8 text without NUL", k, MaxAnnotationLen)
		}
		return nil
	})
}

func parsePair(what, kv string, checkValue func(k, v string) error) (KeyValue, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return KeyValue{}, errdefs.New(ErrUsage, "--%s %q is not KEY=VALUE", what, kv)
	}
	if err := checkLabelKey(what, k); err != nil {
		return KeyValue{}, err
	}
	if err := checkValue(k, v); err != nil {
		return KeyValue{}, err
	}
	return KeyValue{Key: k, Value: v}, nil
}

// pairMap makes a map of a pod's labels or annotations (what), refusing a
// key given twice; it is nil when there are none.
func pairMap(what string, kvs []KeyValue) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		if _, dup := out[kv.Key]; dup {
			return nil, errdefs.New(ErrUsage, "%s %s is given twice: give it once", what, kv.Key)
		}
		out[kv.Key] = kv.Value
	}
	return out, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
