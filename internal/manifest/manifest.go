// Package manifest parses appc image and pod manifests from bytes podctl
// does not trust: an image's manifest, or a pod's manifest read back from
// its directory.
//
// appc's own decoding (github.com/appc/spec) dereferences an isolator's
// value without checking that one was given, so a manifest with an
// isolator of a known name and no "value" (or "value": null) makes it
// panic, and a resource quantity such as "1e-999999999" keeps its
// arbitrary-precision parser busy for minutes. The parsers here read the
// raw JSON first, with the same field matching encoding/json gives appc,
// and refuse such a manifest in one line before appc's code sees it. After appc has decoded a manifest,
// they check what podctl relies on and appc does not: every isolator has
// a value podctl can read, and every app of a pod has its app section.
package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// rawIsolator is an isolator as appc's decoder first reads it: a pointer
// to the raw value, nil when "value" is missing or null.
type rawIsolator struct {
	Name  json.RawMessage  `json:"name"`
	Value *json.RawMessage `json:"value"`
}

// UnmarshalJSON decodes into a fresh value, as appc's Isolator does:
// encoding/json reuses the elements of a slice decoded twice (a key given
// twice), and a value left from the first time must not hide a missing one.
func (r *rawIsolator) UnmarshalJSON(b []byte) error {
	var v struct {
		Name  json.RawMessage  `json:"name"`
		Value *json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = rawIsolator(v)
	return nil
}

// rawApp is the part of an app section that holds isolators.
type rawApp struct {
	Isolators []rawIsolator `json:"isolators"`
}

// rawImage mirrors the fields of schema.ImageManifest that lead to
// isolators.
type rawImage struct {
	App *rawApp `json:"app"`
}

// rawRuntimeApp mirrors the fields of schema.RuntimeApp that lead to
// isolators.
type rawRuntimeApp struct {
	Name json.RawMessage `json:"name"`
	App  *rawApp         `json:"app"`
}

// rawAppList decodes into a fresh slice, as appc's AppList does.
type rawAppList []rawRuntimeApp

func (l *rawAppList) UnmarshalJSON(b []byte) error {
	var v []rawRuntimeApp
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = v
	return nil
}

// rawPod mirrors the fields of schema.PodManifest that lead to isolators.
type rawPod struct {
	Apps      rawAppList    `json:"apps"`
	Isolators []rawIsolator `json:"isolators"`
}

// ParseImage parses and checks an image manifest.
func ParseImage(data []byte) (*schema.ImageManifest, error) {
	var raw rawImage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, oneLine(err)
	}
	if raw.App != nil {
		if err := checkRaw(raw.App.Isolators, "app"); err != nil {
			return nil, err
		}
	}
	var im schema.ImageManifest
	if err := im.UnmarshalJSON(data); err != nil {
		return nil, oneLine(err)
	}
	if im.App != nil {
		if err := checkValues(im.App.Isolators, "app"); err != nil {
			return nil, err
		}
	}
	return &im, nil
}

// ParsePod parses and checks a pod manifest.
func ParsePod(data []byte) (*schema.PodManifest, error) {
	var raw rawPod
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, oneLine(err)
	}
	if err := checkRaw(raw.Isolators, "pod"); err != nil {
		return nil, err
	}
	for i, a := range raw.Apps {
		if a.App == nil {
			continue
		}
		if err := checkRaw(a.App.Isolators, appWhere(i, a.Name)); err != nil {
			return nil, err
		}
	}
	var pm schema.PodManifest
	if err := pm.UnmarshalJSON(data); err != nil {
		return nil, oneLine(err)
	}
	if pm.ACVersion.Empty() {
		// appc's decoder lets it pass, but will not encode it again.
		return nil, errors.New("acVersion must be set")
	}
	if err := checkValues(pm.Isolators, "pod"); err != nil {
		return nil, err
	}
	for i, ra := range pm.Apps {
		// A missing field never reaches appc's checks, which only run on
		// what is given; a name is a folder of the pod, an ID an image.
		if ra.Name.Empty() {
			return nil, fmt.Errorf("app #%d has no name", i+1)
		}
		if ra.Image.ID.Empty() {
			return nil, fmt.Errorf("app %q names no image ID", ra.Name)
		}
		if ra.App == nil {
			return nil, fmt.Errorf("app %q has no app section", ra.Name)
		}
		if err := checkValues(ra.App.Isolators, fmt.Sprintf("app %q", ra.Name)); err != nil {
			return nil, err
		}
	}
	return &pm, nil
}

// appWhere names the i-th app of a pod manifest for an error, by its name
// if that is a JSON string.
func appWhere(i int, name json.RawMessage) string {
	var s string
	if json.Unmarshal(name, &s) == nil && s != "" {
		return fmt.Sprintf("app %q", s)
	}
	return fmt.Sprintf("app #%d", i+1)
}

// checkRaw refuses an isolator without a value, or with a quantity that
// would take appc's parser too long.
func checkRaw(isos []rawIsolator, where string) error {
	for i, iso := range isos {
		if iso.Value == nil {
			return fmt.Errorf("%s: isolator %s has no value", where, isolatorName(i, iso.Name))
		}
		if err := checkQuantities(*iso.Value); err != nil {
			return fmt.Errorf("%s: isolator %s: %w", where, isolatorName(i, iso.Name), err)
		}
	}
	return nil
}

// Bounds of a quantity (resource isolators' request and limit). Real ones
// are a few characters ("64M", "500m", "1.5Gi"). appc's parser works with
// arbitrary precision: "1e-999999999" takes it minutes and gigabytes.
const (
	maxQuantityLen      = 64
	maxQuantityExponent = 30
)

// checkQuantities checks the request and limit of an isolator value the
// way appc's resource isolators read them; a value that is not an object
// with those fields has none to check.
func checkQuantities(value json.RawMessage) error {
	var v struct {
		Request *json.RawMessage `json:"request"`
		Limit   *json.RawMessage `json:"limit"`
	}
	if json.Unmarshal(value, &v) != nil {
		return nil
	}
	for _, q := range []struct {
		field string
		raw   *json.RawMessage
	}{{"request", v.Request}, {"limit", v.Limit}} {
		if q.raw == nil {
			continue
		}
		if err := checkQuantity(*q.raw); err != nil {
			return fmt.Errorf("%s: %w", q.field, err)
		}
	}
	return nil
}

// CheckQuantity refuses a quantity (such as a --memory value) that appc
// would take minutes or all memory to read, before appc reads it.
func CheckQuantity(s string) error { return checkQuantity(json.RawMessage(s)) }

// checkQuantity checks one quantity, seen as appc sees it: the raw JSON
// without its quotes (escapes are not decoded), spaces trimmed.
func checkQuantity(raw json.RawMessage) error {
	s := string(raw)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	s = strings.TrimSpace(s)
	if len(s) > maxQuantityLen {
		return fmt.Errorf("quantity of %d characters, more than the %d allowed", len(s), maxQuantityLen)
	}
	// The number: a sign, digits, a fraction; the rest is its suffix.
	suffix := strings.TrimLeft(strings.TrimLeft(s, "+-"), "0123456789.")
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') && suffix != "Ei" {
		n, err := strconv.ParseInt(suffix[1:], 10, 64)
		if err == nil && (n < -maxQuantityExponent || n > maxQuantityExponent) {
			return fmt.Errorf("quantity %q has an exponent beyond ±%d", s, maxQuantityExponent)
		}
	}
	return nil
}

// isolatorName names the i-th isolator for an error, by its name if that
// is a JSON string.
func isolatorName(i int, name json.RawMessage) string {
	var s string
	if json.Unmarshal(name, &s) == nil && s != "" {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("#%d", i+1)
}

// checkValues refuses an isolator appc decoded without a value, which it
// does for names it does not know: code that reads isolators may then
// assume each has one.
func checkValues(isos []types.Isolator, where string) error {
	for _, iso := range isos {
		if iso.Value() == nil {
			return fmt.Errorf("%s: isolator %q is not one podctl knows", where, iso.Name)
		}
	}
	return nil
}

// oneLine returns a decoding error as one line: appc reports a syntax
// error with the offending line drawn below it, and may quote what it
// read as it is.
func oneLine(err error) error {
	var serr *json.SyntaxError
	if errors.As(err, &serr) {
		return fmt.Errorf("%v (at byte %d)", serr, serr.Offset)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
		return errors.New(strings.Join(strings.Fields(msg), " "))
	}
	return err
}
