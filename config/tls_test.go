package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tlsFiles are a self-signed certificate and key, a second key that is not its own, and a CA
// file, written to a temporary directory.
type tlsFiles struct {
	dir                     string
	cert, key, otherKey, ca string
}

func newTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	f := tlsFiles{dir: dir, cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"),
		otherKey: filepath.Join(dir, "other.key"), ca: filepath.Join(dir, "ca.crt")}
	key := writeKey(t, f.key)
	writeKey(t, f.otherKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gw"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{"gw"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for _, p := range []string{f.cert, f.ca} {
		if err := os.WriteFile(p, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func writeKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestTLSParse(t *testing.T) {
	t.Parallel()
	f := newTLSFiles(t)
	cfg, err := Parse([]byte("tls: {cert_file: "+f.cert+", key_file: "+f.key+", client_ca_file: "+f.ca+"}\n"+
		"upstreams: [{name: a, url: 'http://h/mcp'}]"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.CertFile != f.cert || cfg.TLS.KeyFile != f.key || cfg.TLS.ClientCAFile != f.ca {
		t.Errorf("tls: got %+v", cfg.TLS)
	}
	if cfg.PublicURL != "https://127.0.0.1:8080" {
		t.Errorf("public_url default with tls: got %q, want https://127.0.0.1:8080", cfg.PublicURL)
	}
}

func TestTLSReportsEveryError(t *testing.T) {
	t.Parallel()
	f := newTLSFiles(t)
	garbage := filepath.Join(f.dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(f.dir, "missing.pem")
	const up = "\nupstreams: [{name: a, url: 'http://h/mcp'}]"
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error text
	}{
		{"no files", "tls: {client_ca_file: " + f.ca + "}", []string{"tls.cert_file: required", "tls.key_file: required"}},
		{"unreadable cert", "tls: {cert_file: " + missing + ", key_file: " + f.key + "}", []string{"tls.cert_file: open " + missing}},
		{"key of another certificate", "tls: {cert_file: " + f.cert + ", key_file: " + f.otherKey + "}",
			[]string{"tls: cert_file and key_file are not a certificate and its key: tls: private key does not match public key"}},
		{"key as certificate", "tls: {cert_file: " + f.key + ", key_file: " + f.key + "}", []string{"tls: cert_file and key_file are not a certificate and its key"}},
		{"client CA not PEM", "tls: {cert_file: " + f.cert + ", key_file: " + f.key + ", client_ca_file: " + garbage + "}",
			[]string{"tls.client_ca_file: no PEM certificate in it"}},
		{"client CA is a key", "tls: {cert_file: " + f.cert + ", key_file: " + f.key + ", client_ca_file: " + f.key + "}",
			[]string{`tls.client_ca_file: PEM block 1 is a "EC PRIVATE KEY", want CERTIFICATE`}},
		{"client CA missing", "tls: {cert_file: " + f.cert + ", key_file: " + f.key + ", client_ca_file: " + missing + "}",
			[]string{"tls.client_ca_file: open " + missing}},
		{"https public_url without host", "public_url: 'https://:8443'", []string{`public_url: want https://host[:port][/path], the host is missing, got "https://:8443"`}},
		{"https public_url with user info", "public_url: 'https://me@gw.example.com'", []string{"public_url: want https://host[:port][/path], without user info"}},
		{"https public_url with a query", "public_url: 'https://gw.example.com/?x=1'", []string{"public_url: want https://host[:port][/path], without a query or fragment"}},
		{"https public_url with a bad port", "public_url: 'https://gw.example.com:99999'", []string{"public_url: want a port from 1 to 65535"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml+up), env(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestTLSWarnings(t *testing.T) {
	t.Parallel()
	f := newTLSFiles(t)
	tlsOn := "tls: {cert_file: " + f.cert + ", key_file: " + f.key + "}\n"
	const up = "upstreams: [{name: a, url: 'http://h/mcp'}]\n"
	tests := []struct {
		name string
		yaml string
		want string // "" for no TLS warning
	}{
		{"tls with the default public_url", tlsOn, ""},
		{"tls with an https public_url", tlsOn + "public_url: https://gw.example.com\n", ""},
		{"tls with an http public_url", tlsOn + "public_url: http://gw.example.com\n", "public_url: is http://gw.example.com but tls is set"},
		{"plain http", "public_url: http://gw.example.com\n", ""},
		{"https at a proxy on 443", "listen: 127.0.0.1:8080\npublic_url: https://gw.example.com\n", ""},
		{"https on listen's port without tls", "listen: 127.0.0.1:8443\npublic_url: https://gw.example.com:8443\n", "public_url: is https on listen's port 8443 but tls is not set"},
		{"https on 443 without tls", "listen: 127.0.0.1:443\npublic_url: https://gw.example.com\n", "public_url: is https on listen's port 443 but tls is not set"},
		{"https on listen's port behind a trusted proxy", "listen: 127.0.0.1:8443\npublic_url: https://gw.example.com:8443\ntrusted_proxies: [10.0.0.0/8]\n", ""},
		{"mutual TLS with a separate admin listener", "tls: {cert_file: " + f.cert + ", key_file: " + f.key + ", client_ca_file: " + f.ca + "}\nadmin_listen: 127.0.0.1:9090\n", ""},
		{"mutual TLS with admin on listen", "tls: {cert_file: " + f.cert + ", key_file: " + f.key + ", client_ca_file: " + f.ca + "}\n", "tls.client_ca_file: the admin endpoints are on listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(tc.yaml+up), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cfg.Warnings() {
				got = append(got, w.String())
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("warned: %q", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("warnings %q, want one with %q", got, tc.want)
			}
		})
	}
}
