package manifest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseImage checks that no image manifest crashes the parser, and that
// one it accepts encodes and parses again to the same manifest.
func FuzzParseImage(f *testing.F) {
	f.Add([]byte(imageSeed))
	f.Add([]byte(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/busybox","labels":[{"name":"os","value":"linux"}],"app":{"exec":["/bin/sh"],"user":"0","group":"0"}}`))
	f.Add([]byte(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","app":{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[{"name":"resource/memory"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ParseImage(data)
		if err != nil {
			checkOneLine(t, err)
			return
		}
		again := func(b []byte) []byte {
			im, err := ParseImage(b)
			if err != nil {
				t.Fatalf("%s does not parse again: %v", b, err)
			}
			out, err := json.Marshal(im)
			if err != nil {
				t.Fatalf("%s parsed again does not encode: %v", b, err)
			}
			return out
		}
		first, err := json.Marshal(im)
		if err != nil {
			// appc refuses to encode some manifests it decodes (a bad
			// isolator value may re-encode differently); podctl never
			// encodes an image manifest, it keeps the bytes.
			return
		}
		if second := again(first); !bytes.Equal(first, second) {
			t.Fatalf("manifest changed in a round trip:\n%s\n%s", first, second)
		}
	})
}

// FuzzParsePod checks that no pod manifest crashes the parser, and that one
// it accepts encodes and parses again to the same manifest, as prepare
// writes it and list, status and stage1 read it back.
func FuzzParsePod(f *testing.F) {
	f.Add([]byte(podSeed))
	f.Add([]byte(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[],"volumes":null,"isolators":null,"annotations":null,"ports":null}`))
	f.Add([]byte(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"a","image":{"id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0"},"app":{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[{"name":"resource/cpu"}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pm, err := ParsePod(data)
		if err != nil {
			checkOneLine(t, err)
			return
		}
		for _, ra := range pm.Apps {
			// Each app's name is a folder of the pod directory.
			if n := ra.Name.String(); n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
				t.Fatalf("accepted app name %q is not one path element", n)
			}
			if ra.App == nil || ra.Image.ID.Empty() {
				t.Fatalf("accepted app %q without app section or image ID", ra.Name)
			}
		}
		first, err := json.Marshal(pm)
		if err != nil {
			// Parts podctl does not read may still be incomplete (a
			// volume without a kind): appc will not encode them.
			return
		}
		pm2, err := ParsePod(first)
		if err != nil {
			t.Fatalf("%s does not parse again: %v", first, err)
		}
		second, err := json.Marshal(pm2)
		if err != nil {
			t.Fatalf("%s parsed again does not encode: %v", first, err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("manifest changed in a round trip:\n%s\n%s", first, second)
		}
	})
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if bytes.ContainsAny([]byte(err.Error()), "\r\n") {
		t.Fatalf("error %q is not one line", err)
	}
}
