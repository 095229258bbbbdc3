package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority of one test, and a server certificate
// it signed for 127.0.0.0/8 addresses and localhost.
type testCA struct {
	pemPath string
	server  tls.Certificate
}

func newTestCA(t *testing.T, ips ...net.IP) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "podctl test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCA{pemPath: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(c.pemPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	c.server = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
	return c
}

// serveTLS serves h over HTTPS on l with the CA's server certificate.
func (c *testCA) serveTLS(t *testing.T, l net.Listener, h http.Handler) *httptest.Server {
	t.Helper()
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{c.server}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// files serves the files of dir, and counts what it was asked for.
func files(dir string) http.Handler {
	return http.FileServer(http.Dir(dir))
}

// An ACI is fetched from an https:// URL with its signature (URL.asc),
// over TLS checked against the CA the system trusts (here SSL_CERT_FILE),
// and imported as an image file is: signature checked, refused without
// one unless --insecure-options=image; plain http:// and an unknown CA
// need --insecure-options=http and tls. run takes the URL too.
func TestFetchHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	ca := newTestCA(t)
	site := t.TempDir()
	signed := filepath.Join(site, "ace.aci")
	writeAceACI(t, signed, "example.com/ace", "1.0")
	unsigned := filepath.Join(site, "unsigned.aci")
	copyFile(t, signed, unsigned)
	signer := newGPG(t, "Builds <builds@example.com>")
	key, _ := signer.exportKey(t.TempDir(), "builds.asc")
	signer.signFile(signed, signed+".asc")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := ca.serveTLS(t, l, files(site))
	plain := httptest.NewServer(files(site))
	t.Cleanup(plain.Close)

	// Not yet trusting the CA, nor the key.
	e.refused("certificate", "fetch", srv.URL+"/ace.aci")
	e.environ = append(e.environ, "SSL_CERT_FILE="+ca.pemPath)
	e.refused("not trusted for example.com/ace", "fetch", srv.URL+"/ace.aci")
	e.refused("has no signature", "fetch", srv.URL+"/unsigned.aci")
	e.refused("404 Not Found", "fetch", srv.URL+"/missing.aci")
	e.refused("plain HTTP", "fetch", "--insecure-options=image", plain.URL+"/unsigned.aci")
	e.storeEmpty()

	e.must("trust", "--prefix=example.com/ace", key)
	id := strings.TrimSpace(e.must("fetch", "--full", srv.URL+"/ace.aci"))
	if !strings.HasPrefix(id, "sha512-") {
		t.Fatalf("fetch printed %q", id)
	}
	if r := e.podctl("run", srv.URL+"/ace.aci"); r.code != 0 || !strings.Contains(r.stdout, "app=ace uid=1234") {
		t.Errorf("run URL: %s", r)
	}
	if got := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image,http", plain.URL+"/unsigned.aci")); got != id {
		t.Errorf("the same image over http has ID %s, want %s", got, id)
	}
	// The CA no longer trusted: tls skips the check.
	e.environ = nil
	e.refused("certificate", "fetch", srv.URL+"/ace.aci")
	e.must("fetch", "--insecure-options=tls", srv.URL+"/ace.aci")
}

// listen443 listens on port 443 of 127.0.0.1: appc discovery asks
// https://NAME with no port, and tests talk to no other address than
// 127.0.0.1 and those they give to namespaces of their own. No other test
// takes the port.
func listen443(t *testing.T) (net.Listener, net.IP) {
	t.Helper()
	ip := net.IPv4(127, 0, 0, 1)
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "443"))
	if err != nil {
		t.Fatalf("discovery needs port 443 of 127.0.0.1, which is taken: %v", err)
	}
	return l, ip
}

// An image name is found by appc discovery: the ac-discovery meta tag of
// https://NAME?ac-discovery=1 gives the ACI's and signature's URLs; an ACI
// that holds another image than the one asked for is refused.
func TestFetchDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l, ip := listen443(t)
	ca := newTestCA(t, ip)
	host := ip.String()
	name := host + "/ace"
	site := t.TempDir()
	aci := filepath.Join(site, "ace-1.0-linux-amd64.aci")
	writeAceACI(t, aci, name, "1.0")
	wrong := filepath.Join(site, "ace-2.0-linux-amd64.aci")
	writeAceACI(t, wrong, "example.com/other", "2.0")
	signer := newGPG(t, "Builds <builds@example.com>")
	key, _ := signer.exportKey(t.TempDir(), "builds.asc")
	signer.signFile(aci, aci+".asc")
	signer.signFile(wrong, wrong+".asc")
	mux := http.NewServeMux()
	mux.HandleFunc("/ace", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ac-discovery") != "1" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `<html><head><meta name="ac-discovery" content="%s https://%s/images/ace-{version}-{os}-{arch}.{ext}"></head></html>`, name, host)
	})
	mux.Handle("/images/", http.StripPrefix("/images/", files(site)))
	ca.serveTLS(t, l, mux)
	e.environ = append(e.environ, "SSL_CERT_FILE="+ca.pemPath)

	e.refused("not trusted for "+name, "fetch", name+":1.0")
	e.must("trust", "--root", key)
	id := strings.TrimSpace(e.must("fetch", "--full", name+":1.0"))
	if out := e.must("image", "list", "--full", "--no-legend", "--fields=id,name"); !strings.Contains(out, id+"  "+name+":1.0") {
		t.Errorf("image list after discovery:\n%s", out)
	}
	e.refused("holds image example.com/other, not "+name, "fetch", name+":2.0")
	e.refused("404 Not Found", "fetch", name+":3.0")
	e.refused("discovering image "+host+"/nothing", "fetch", host+"/nothing:1.0")
}
