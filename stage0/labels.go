package stage0

import (
	"regexp"
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

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`)

// checkLabelKey says what is wrong with a label or annotation key.
func checkLabelKey(what, k string) error {
	if len(k) > MaxLabelLen || !labelKeyRE.MatchString(k) {
		return errdefs.New(ErrUsage, "%s key %q is not valid: use up to %d letters, digits and . _ / -, starting and ending with a letter or digit", what, k, MaxLabelLen)
	}
	return nil
}

// parseLabels reads --label KEY=VALUE values. A value is at most
// MaxLabelLen printable characters without a comma, which separates the
// filters of list --filter; it may be empty.
func parseLabels(kvs []string) (map[string]string, error) {
	return parsePairs("label", kvs, func(k, v string) error {
		if len(v) > MaxLabelLen || strings.ContainsRune(v, ',') || !printable(v) {
			return errdefs.New(ErrUsage, "label %s: value %q is not valid: use up to %d printable characters, without a comma", k, v, MaxLabelLen)
		}
		return nil
	})
}

// parseAnnotations reads --annotation KEY=VALUE values. A value is any
// UTF-8 text up to MaxAnnotationLen bytes, without NUL.
func parseAnnotations(kvs []string) (map[string]string, error) {
	return parsePairs("annotation", kvs, func(k, v string) error {
		if len(v) > MaxAnnotationLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return errdefs.New(ErrUsage, "annotation %s: the value is not valid: use up to %d bytes of UTF-8 text without NUL", k, MaxAnnotationLen)
		}
		return nil
	})
}

func parsePairs(what string, kvs []string, checkValue func(k, v string) error) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errdefs.New(ErrUsage, "--%s %q is not KEY=VALUE", what, kv)
		}
		if err := checkLabelKey(what, k); err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, errdefs.New(ErrUsage, "%s %s is given twice: give it once", what, k)
		}
		if err := checkValue(k, v); err != nil {
			return nil, err
		}
		out[k] = v
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
