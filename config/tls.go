package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
)

// TLS serves the MCP listener and the admin listener over HTTPS, with a certificate read from
// files. The gateway reads the files again every few seconds and serves a changed pair to new
// connections (Kubernetes rotates a mounted Secret in place); a pair that does not load is
// logged and the previous one kept.
type TLS struct {
	// CertFile is the PEM certificate chain, leaf first (a kubernetes.io/tls Secret's tls.crt).
	// Required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile (tls.key). Required.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile holds PEM CA certificates. Set: MCP clients must present a certificate signed
	// by one of them (mutual TLS); the admin listener checks one if presented, since probes and
	// the other replicas have none. Empty: no client certificate is asked for.
	ClientCAFile string `yaml:"client_ca_file"`
}

// scheme is the scheme clients use to reach listen: https when tls is set.
func (c *Config) scheme() string {
	if c.TLS != nil {
		return "https"
	}
	return "http"
}

// ParseClientCAs reads the PEM CA certificates of a client_ca_file: every block must be a
// CERTIFICATE that parses, and there must be at least one. The gateway loads the file with it
// too, so what validates is what serves.
func ParseClientCAs(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want CERTIFICATE", n+1, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	return pool, nil
}

// validateTLS checks the tls section (the files exist, are readable and load as a pair and a
// CA pool, as the gateway will load them) and an https public_url. It only reads files.
func (c *Config) validateTLS() Errors {
	var errs Errors
	fail := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme == "https" && checkHTTPURL(c.PublicURL) == nil { // else reported already
		if msg := checkHTTPSURL(u); msg != "" {
			fail("public_url", "%s, got %q", msg, c.PublicURL)
		}
	}
	t := c.TLS
	if t == nil {
		return errs
	}
	read := func(key, path string) []byte {
		if path == "" {
			fail("tls."+key, "required")
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			fail("tls."+key, "%v", err)
		}
		return b
	}
	certPEM, keyPEM := read("cert_file", t.CertFile), read("key_file", t.KeyFile)
	if certPEM != nil && keyPEM != nil {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			fail("tls", "cert_file and key_file are not a certificate and its key: %v", err)
		}
	}
	if t.ClientCAFile != "" {
		if b := read("client_ca_file", t.ClientCAFile); b != nil {
			if _, err := ParseClientCAs(b); err != nil {
				fail("tls.client_ca_file", "%v", err)
			}
		}
	}
	return errs
}

// checkHTTPSURL says what is wrong with an https public_url ("" when nothing): clients and the
// protected resource metadata build URLs from it, so it is a bare origin with an optional path.
func checkHTTPSURL(u *url.URL) string {
	switch {
	case u.Hostname() == "":
		return "want https://host[:port][/path], the host is missing"
	case u.User != nil:
		return "want https://host[:port][/path], without user info"
	case u.RawQuery != "" || u.Fragment != "":
		return "want https://host[:port][/path], without a query or fragment"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "want a port from 1 to 65535"
		}
	}
	return ""
}

// tlsWarnings are the TLS settings that are valid but will not work as written:
//   - tls is set but public_url is http: clients (and the metadata 401 answers point to) would
//     speak plain HTTP to a listener that speaks only TLS;
//   - public_url is https, tls is not set and nothing implies a TLS-terminating proxy: no
//     trusted_proxies, and public_url names listen's own port (a proxy in front usually listens
//     on 443 and forwards to another port);
//   - client_ca_file without admin_listen: the admin endpoints then need a client certificate,
//     which Kubernetes probes and the other replicas' hand-over of answers do not present.
func (c *Config) tlsWarnings() []FieldError {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return nil
	}
	var out []FieldError
	switch {
	case c.TLS != nil && u.Scheme == "http":
		out = append(out, FieldError{Path: "public_url", Msg: fmt.Sprintf(
			"is %s but tls is set: listen serves only HTTPS, so clients following public_url would fail; make it https://", c.PublicURL)})
	case c.TLS == nil && u.Scheme == "https" && len(c.TrustedProxies) == 0 && httpsPort(u) == listenPort(c.Listen):
		out = append(out, FieldError{Path: "public_url", Msg: fmt.Sprintf(
			"is https on listen's port %s but tls is not set: listen serves plain HTTP; set tls, or put a TLS-terminating proxy in front (and list it in trusted_proxies)", httpsPort(u))})
	}
	if c.TLS != nil && c.TLS.ClientCAFile != "" && c.AdminListen == "" {
		out = append(out, FieldError{Path: "tls.client_ca_file", Msg: "the admin endpoints are on listen, so /healthz and /readyz need a client certificate too (probes have none) and replicas cannot hand answers to each other: set admin_listen"})
	}
	return out
}

// httpsPort is the port an https URL connects to.
func httpsPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "443"
}

// listenPort is the port of a host:port ("" if it has none).
func listenPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}
