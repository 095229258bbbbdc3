package main

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/mds"
)

// The content types appc's metadata service answers with, exactly.
const (
	typeJSON = "application/json"
	typeText = "text/plain; charset=us-ascii"
)

// apiPrefix follows the token in every path the service answers.
const apiPrefix = "/acMetadata/v1/"

// maxForm bounds a signing request's body: what an app signs is a token
// or a document, not a file.
const maxForm = 1 << 20

// server answers one pod's requests. Everything it serves is computed
// when it starts, from its Config; only signing depends on a request.
type server struct {
	token   []byte
	uuid    string
	podKey  []byte
	hostKey []byte
	// manifest and annotations are the pod's, as JSON.
	manifest, annotations []byte
	apps                  map[string]*appData
}

// appData is what the service says of one app.
type appData struct {
	imageManifest []byte
	imageID       string
	annotations   []byte
}

// newServer reads what c serves. The pod manifest and image manifests
// come from podctl (the pod's own file and the store), but are parsed
// here with the same care as any input.
func newServer(c *mds.Config) (*server, error) {
	var pm schema.PodManifest
	if err := json.Unmarshal(c.PodManifest, &pm); err != nil {
		return nil, fmt.Errorf("reading the pod manifest: %w", err)
	}
	uuid, err := types.NewUUID(c.UUID)
	if err != nil {
		return nil, fmt.Errorf("reading the pod's UUID: %w", err)
	}
	s := &server{
		token:    []byte(c.Token),
		uuid:     uuid.String(),
		podKey:   mds.PodKey(c.HostKey, uuid.String()),
		hostKey:  c.HostKey,
		manifest: c.PodManifest,
		apps:     map[string]*appData{},
	}
	if s.annotations, err = json.Marshal(pm.Annotations); err != nil {
		return nil, fmt.Errorf("encoding the pod's annotations: %w", err)
	}
	for _, ra := range pm.Apps {
		raw, ok := c.ImageManifests[ra.Name.String()]
		if !ok {
			return nil, fmt.Errorf("no image manifest for app %s", ra.Name)
		}
		var im schema.ImageManifest
		if err := json.Unmarshal(raw, &im); err != nil {
			return nil, fmt.Errorf("reading the image manifest of app %s: %w", ra.Name, err)
		}
		// The image's annotations, with the pod's for the app over them.
		annots := append(types.Annotations(nil), im.Annotations...)
		for _, a := range ra.Annotations {
			annots.Set(a.Name, a.Value)
		}
		if annots == nil {
			annots = types.Annotations{}
		}
		ab, err := json.Marshal(annots)
		if err != nil {
			return nil, fmt.Errorf("encoding the annotations of app %s: %w", ra.Name, err)
		}
		s.apps[ra.Name.String()] = &appData{imageManifest: raw, imageID: ra.Image.ID.String(), annotations: ab}
	}
	return s, nil
}

// ServeHTTP answers /TOKEN/acMetadata/v1/... . A wrong or missing token
// is refused before anything else is looked at.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if subtle.ConstantTimeCompare([]byte(tok), s.token) != 1 {
		http.Error(w, "wrong or missing token: use the URL in $AC_METADATA_URL", http.StatusUnauthorized)
		return
	}
	path, ok := strings.CutPrefix("/"+rest, apiPrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch path {
	case "pod/annotations":
		s.get(w, r, typeJSON, s.annotations)
	case "pod/manifest":
		s.get(w, r, typeJSON, s.manifest)
	case "pod/uuid":
		s.get(w, r, typeText, []byte(s.uuid))
	case "pod/hmac/sign":
		s.sign(w, r)
	case "pod/hmac/verify":
		s.verify(w, r)
	default:
		s.app(w, r, path)
	}
}

// app answers apps/NAME/annotations, apps/NAME/image/manifest and
// apps/NAME/image/id.
func (s *server) app(w http.ResponseWriter, r *http.Request, path string) {
	rest, ok := strings.CutPrefix(path, "apps/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, entry, _ := strings.Cut(rest, "/")
	a, ok := s.apps[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch entry {
	case "annotations":
		s.get(w, r, typeJSON, a.annotations)
	case "image/manifest":
		s.get(w, r, typeJSON, a.imageManifest)
	case "image/id":
		s.get(w, r, typeText, []byte(a.imageID))
	default:
		http.NotFound(w, r)
	}
}

// get answers a GET (or HEAD) with body.
func (s *server) get(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	reply(w, http.StatusOK, contentType, body)
}

func reply(w http.ResponseWriter, code int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	w.Write(body)
}

// form reads a POSTed form, at most maxForm bytes; it answers the
// request itself and returns false if it cannot.
func form(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the request is not a form of at most 1 MiB: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// sign answers with the base64 HMAC-SHA512 of the form's content under
// the pod's key.
func (s *server) sign(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	if !r.PostForm.Has("content") {
		http.Error(w, "the form has no content to sign", http.StatusBadRequest)
		return
	}
	sig := mds.Sign(s.podKey, []byte(r.PostForm.Get("content")))
	reply(w, http.StatusOK, typeText, []byte(base64.StdEncoding.EncodeToString(sig)))
}

// verify answers 200 if the form's signature is the HMAC of its content
// under the key of the pod its uuid names, 403 if not.
func (s *server) verify(w http.ResponseWriter, r *http.Request) {
	if !form(w, r) {
		return
	}
	for _, k := range []string{"content", "uuid", "signature"} {
		if !r.PostForm.Has(k) {
			http.Error(w, "the form has no "+k, http.StatusBadRequest)
			return
		}
	}
	uuid, err := types.NewUUID(r.PostForm.Get("uuid"))
	if err != nil {
		http.Error(w, "uuid is not a pod UUID", http.StatusBadRequest)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(r.PostForm.Get("signature"))
	if err != nil {
		http.Error(w, "signature is not base64", http.StatusBadRequest)
		return
	}
	want := mds.Sign(mds.PodKey(s.hostKey, uuid.String()), []byte(r.PostForm.Get("content")))
	if subtle.ConstantTimeCompare(sig, want) != 1 {
		reply(w, http.StatusForbidden, typeText, []byte("the signature does not match"))
		return
	}
	reply(w, http.StatusOK, typeText, nil)
}
