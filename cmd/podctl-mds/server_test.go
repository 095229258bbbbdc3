package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"podctl/internal/mds"
)

const (
	testUUID  = "6733c736-6a1b-4b5d-9d1b-1b4c2a1e0f11"
	otherUUID = "0c8f7c9e-2f6a-4d3c-8c0e-5b1f3b7b9a22"
	testToken = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	imageID   = "sha512-" + "ab" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
)

var testPodManifest = `{"acVersion":"0.8.11","acKind":"PodManifest",
"apps":[{"name":"web","image":{"id":"` + imageID + `"},
  "annotations":[{"name":"lorem","value":"pod"},{"name":"extra","value":"x"}]}],
"annotations":[{"name":"ip-address","value":"10.1.2.3"}]}`

var testImageManifest = `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/web",
"annotations":[{"name":"lorem","value":"ipsum"},{"name":"homepage","value":"https://example.com"}]}`

func testConfig(uuid string) *mds.Config {
	key := bytes.Repeat([]byte{7}, mds.HostKeySize)
	return &mds.Config{
		UUID: uuid, Token: testToken, HostKey: key,
		PodManifest:    json.RawMessage(testPodManifest),
		ImageManifests: map[string]json.RawMessage{"web": json.RawMessage(testImageManifest)},
	}
}

func testServer(t *testing.T, uuid string) *server {
	t.Helper()
	s, err := newServer(testConfig(uuid))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func do(s http.Handler, method, path string, form url.Values) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

func TestServerEntries(t *testing.T) {
	s := testServer(t, testUUID)
	base := "/" + testToken + "/acMetadata/v1"
	for _, c := range []struct {
		path, ctype, body string
	}{
		{"/pod/uuid", typeText, testUUID},
		{"/pod/manifest", typeJSON, testPodManifest},
		{"/pod/annotations", typeJSON, `[{"name":"ip-address","value":"10.1.2.3"}]`},
		{"/apps/web/image/id", typeText, imageID},
		{"/apps/web/image/manifest", typeJSON, testImageManifest},
		// The image's, with the pod's for the app over them.
		{"/apps/web/annotations", typeJSON, `[{"name":"lorem","value":"pod"},{"name":"homepage","value":"https://example.com"},{"name":"extra","value":"x"}]`},
	} {
		w := do(s, "GET", base+c.path, nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != c.ctype || w.Body.String() != c.body {
			t.Errorf("GET %s: %d %q %q, want 200 %q %q", c.path, w.Code, w.Header().Get("Content-Type"), w.Body, c.ctype, c.body)
		}
	}
	for _, p := range []string{"/apps/nope/image/id", "/apps/web/other", "/pod/nothing", "/pod"} {
		if w := do(s, "GET", base+p, nil); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
	if w := do(s, "POST", base+"/pod/uuid", url.Values{}); w.Code != 405 {
		t.Errorf("POST /pod/uuid: %d, want 405", w.Code)
	}
	if w := do(s, "GET", base+"/pod/hmac/sign", nil); w.Code != 405 {
		t.Errorf("GET /pod/hmac/sign: %d, want 405", w.Code)
	}
}

func TestServerRefusesWrongToken(t *testing.T) {
	s := testServer(t, testUUID)
	for _, p := range []string{
		"/acMetadata/v1/pod/uuid",
		"/" + testToken[:len(testToken)-1] + "0/acMetadata/v1/pod/uuid",
		"/" + testToken[:10] + "/acMetadata/v1/pod/uuid",
		"/" + testToken + "x/acMetadata/v1/pod/uuid",
		"//" + testToken + "/acMetadata/v1/pod/uuid",
		"/",
	} {
		w := do(s, "GET", p, nil)
		if w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), testUUID) {
			t.Errorf("GET %s: %d %q, want 401", p, w.Code, w.Body)
		}
	}
}

func TestSignVerify(t *testing.T) {
	s := testServer(t, testUUID)
	base := "/" + testToken + "/acMetadata/v1/pod/hmac/"
	w := do(s, "POST", base+"sign", url.Values{"content": {"Old MacDonald"}})
	if w.Code != 200 || w.Header().Get("Content-Type") != typeText {
		t.Fatalf("sign: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	sig := w.Body.String()
	if b, err := base64.StdEncoding.DecodeString(sig); err != nil || len(b) != 64 {
		t.Fatalf("sign: %q is not a base64 HMAC-SHA512 (%v)", sig, err)
	}
	verify := func(s http.Handler, content, uuid, sig string) int {
		return do(s, "POST", base+"verify", url.Values{"content": {content}, "uuid": {uuid}, "signature": {sig}}).Code
	}
	if c := verify(s, "Old MacDonald", testUUID, sig); c != 200 {
		t.Errorf("verify of the pod's own signature: %d", c)
	}
	// Another pod's service, with the same host key, verifies it too.
	other := testServer(t, otherUUID)
	if c := verify(other, "Old MacDonald", testUUID, sig); c != 200 {
		t.Errorf("verify by another pod: %d", c)
	}
	if c := verify(other, "Old MacDonald", otherUUID, sig); c != 403 {
		t.Errorf("verify as the wrong pod: %d, want 403", c)
	}
	if c := verify(s, "Old MacDonalds", testUUID, sig); c != 403 {
		t.Errorf("verify of other content: %d, want 403", c)
	}
	if c := verify(s, "Old MacDonald", "not-a-uuid", sig); c != 400 {
		t.Errorf("verify with a bad uuid: %d, want 400", c)
	}
	if c := verify(s, "Old MacDonald", testUUID, "%%%"); c != 400 {
		t.Errorf("verify with a bad signature: %d, want 400", c)
	}
	// Each pod signs with its own key.
	w2 := do(other, "POST", base+"sign", url.Values{"content": {"Old MacDonald"}})
	if w2.Body.String() == sig {
		t.Error("two pods sign with the same key")
	}
	// A different host key makes different pod keys.
	c := testConfig(testUUID)
	c.HostKey = bytes.Repeat([]byte{8}, mds.HostKeySize)
	s3, err := newServer(c)
	if err != nil {
		t.Fatal(err)
	}
	if code := verify(s3, "Old MacDonald", testUUID, sig); code != 403 {
		t.Errorf("verify under another host key: %d, want 403", code)
	}
	if w := do(s, "POST", base+"sign", url.Values{"other": {"x"}}); w.Code != 400 {
		t.Errorf("sign without content: %d, want 400", w.Code)
	}
}

func TestSignRefusesLargeForm(t *testing.T) {
	s := testServer(t, testUUID)
	big := strings.Repeat("a", maxForm+10)
	w := do(s, "POST", "/"+testToken+"/acMetadata/v1/pod/hmac/sign", url.Values{"content": {big}})
	if w.Code != 400 {
		t.Errorf("sign of %d bytes: %d, want 400", len(big), w.Code)
	}
}

func TestNewServerRefusesMissingImage(t *testing.T) {
	c := testConfig(testUUID)
	c.ImageManifests = nil
	if _, err := newServer(c); err == nil {
		t.Error("a pod without its app's image manifest was served")
	}
}

// FuzzServe sends the service what a hostile app could: any method, path
// and body. It must never panic, and never answer without the token.
func FuzzServe(f *testing.F) {
	s, err := newServer(testConfig(testUUID))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("GET", "/"+testToken+"/acMetadata/v1/pod/uuid", "", false)
	f.Add("POST", "/"+testToken+"/acMetadata/v1/pod/hmac/verify", "content=a&uuid="+testUUID+"&signature=AAAA", true)
	f.Add("POST", "/"+testToken+"/acMetadata/v1/pod/hmac/sign", "content=%zz", true)
	f.Add("GET", "/"+testToken+"/acMetadata/v1/apps/web/../web/image/id", "", false)
	f.Add("GET", "/x/acMetadata/v1/pod/uuid", "", false)
	f.Fuzz(func(t *testing.T, method, path, body string, isForm bool) {
		req, err := http.NewRequest(method, "http://127.0.0.1/", strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path = path
		if isForm {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		tok, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if tok != testToken && w.Code != http.StatusUnauthorized {
			t.Fatalf("%s %q without the token: %d", method, path, w.Code)
		}
	})
}
