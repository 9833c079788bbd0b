package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/config"
)

// testCA signs certificates for the tests: servers for 127.0.0.1, and clients.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// issue returns a PEM certificate and key with the given serial: a server certificate for
// 127.0.0.1, or a client certificate.
func (ca *testCA) issue(t *testing.T, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "switchboard"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func (ca *testCA) clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, 77, true)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncLog is a logger whose output the test reads.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tlsServer is an HTTP server on 127.0.0.1 served the way the gateway serves (serve with a
// certFiles config), answering every request with the protocol it came over.
type tlsServer struct {
	addr  string
	certs *certFiles
	log   *syncLog
}

func newTLSServer(t *testing.T, files config.TLS, admin bool, h http.Handler) *tlsServer {
	t.Helper()
	log := &syncLog{}
	certs, err := newCertFiles(files, time.Hour, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: certs.serverConfig(admin), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: stdlog.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = serve(srv, ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return &tlsServer{addr: ln.Addr().String(), certs: certs, log: log}
}

// client is an HTTP client that trusts ca, speaks HTTP/2 when offered and presents cert if any.
func client(ca *testCA, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ca.pool}
	if cert != nil { // sent whatever CAs the server names, as curl --cert does
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// get makes a request and returns the serial of the certificate the server presented on that
// connection, the protocol, and whether the connection was one used before.
func get(c *http.Client, addr string) (serial int64, proto string, reused bool, err error) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/", nil)
	resp, err := c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		return 0, "", false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), resp.Proto, reused, nil
}

// pairFiles writes a server pair with serial into dir and returns the config naming it.
func pairFiles(t *testing.T, ca *testCA, dir string, serial int64) config.TLS {
	t.Helper()
	files := config.TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	c, k := ca.issue(t, serial, false)
	writeFile(t, files.CertFile, c)
	writeFile(t, files.KeyFile, k)
	return files
}

func TestCertRotationServesNewConnectionsAndKeepsOpenOnes(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	files := pairFiles(t, ca, t.TempDir(), 1)
	srv := newTLSServer(t, files, false, nil)

	open := client(ca, nil)
	if serial, proto, _, err := get(open, srv.addr); err != nil || serial != 1 || proto != "HTTP/2.0" {
		t.Fatalf("first request: serial %d, %s, %v; want serial 1 over HTTP/2.0", serial, proto, err)
	}

	pairFiles(t, ca, filepath.Dir(files.CertFile), 2)
	srv.certs.reload()

	if serial, _, _, err := get(client(ca, nil), srv.addr); err != nil || serial != 2 {
		t.Errorf("a new connection after the rotation: serial %d, %v; want 2", serial, err)
	}
	serial, _, reused, err := get(open, srv.addr)
	if err != nil || !reused || serial != 1 {
		t.Errorf("the connection open before the rotation: serial %d, reused %v, %v; want it still open with serial 1", serial, reused, err)
	}
	if !strings.Contains(srv.log.String(), "TLS certificate reloaded") || !strings.Contains(srv.log.String(), "serial=2") {
		t.Errorf("the reload is not logged with the new serial:\n%s", srv.log)
	}
}

func TestBadNewPairKeepsTheOldOne(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	files := pairFiles(t, ca, dir, 1)
	srv := newTLSServer(t, files, false, nil)
	c := func() *http.Client { return client(ca, nil) }

	for _, bad := range []struct {
		name  string
		write func()
	}{
		{"a key that is not PEM", func() { writeFile(t, files.KeyFile, []byte("rotating...")) }},
		{"a new certificate with the old key (read half-way through a swap)", func() {
			cert, _ := ca.issue(t, 3, false)
			writeFile(t, files.CertFile, cert)
		}},
	} {
		bad.write()
		srv.certs.reload()
		srv.certs.reload() // the same bad contents again: not logged again
		if serial, _, _, err := get(c(), srv.addr); err != nil || serial != 1 {
			t.Errorf("after %s: serial %d, %v; want the old pair (1) still served", bad.name, serial, err)
		}
	}
	if n := strings.Count(srv.log.String(), "do not load"); n != 2 {
		t.Errorf("logged %d failed loads, want 2 (one per bad change):\n%s", n, srv.log)
	}

	if err := os.Remove(files.KeyFile); err != nil {
		t.Fatal(err)
	}
	srv.certs.reload()
	if serial, _, _, err := get(c(), srv.addr); err != nil || serial != 1 {
		t.Errorf("with the key file gone: serial %d, %v; want the old pair (1) still served", serial, err)
	}
	if !strings.Contains(srv.log.String(), "reading the TLS files failed") {
		t.Errorf("a missing file is not logged:\n%s", srv.log)
	}

	pairFiles(t, ca, dir, 4) // a good pair at last: picked up at the next poll
	srv.certs.reload()
	if serial, _, _, err := get(c(), srv.addr); err != nil || serial != 4 {
		t.Errorf("after a good pair: serial %d, %v; want 4", serial, err)
	}
}

// TestKubernetesSecretSwap: the kubelet writes a Secret's new contents into a new directory and
// swaps the ..data symlink the files point through.
func TestKubernetesSecretSwap(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	vol := t.TempDir()
	version := func(name string, serial int64) {
		pairFiles(t, ca, filepath.Join(vol, name), serial)
	}
	if err := os.Mkdir(filepath.Join(vol, "..v1"), 0o700); err != nil {
		t.Fatal(err)
	}
	version("..v1", 1)
	if err := os.Symlink("..v1", filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(vol, f)); err != nil {
			t.Fatal(err)
		}
	}
	srv := newTLSServer(t, config.TLS{CertFile: filepath.Join(vol, "tls.crt"), KeyFile: filepath.Join(vol, "tls.key")}, false, nil)

	if err := os.Mkdir(filepath.Join(vol, "..v2"), 0o700); err != nil {
		t.Fatal(err)
	}
	version("..v2", 2)
	if err := os.Symlink("..v2", filepath.Join(vol, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(vol, "..data_tmp"), filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(vol, "..v1")); err != nil {
		t.Fatal(err)
	}
	srv.certs.reload()
	if serial, _, _, err := get(client(ca, nil), srv.addr); err != nil || serial != 2 {
		t.Errorf("after the swap: serial %d, %v; want 2", serial, err)
	}
}

func TestRunPollsTheFiles(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	files := pairFiles(t, ca, t.TempDir(), 1)
	certs, err := newCertFiles(files, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); certs.Run(ctx) }()
	pairFiles(t, ca, filepath.Dir(files.CertFile), 2)
	deadline := time.Now().Add(10 * time.Second)
	for certs.current.Load().leaf.SerialNumber.Int64() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the rotation was not picked up by Run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca, clientCA, stranger := newTestCA(t), newTestCA(t), newTestCA(t)
	dir := t.TempDir()
	files := pairFiles(t, ca, dir, 1)
	files.ClientCAFile = filepath.Join(dir, "client-ca.crt")
	writeFile(t, files.ClientCAFile, clientCA.pem)
	mcp := newTLSServer(t, files, false, nil)
	admin := newTLSServer(t, files, true, nil)
	good, wrong := clientCA.clientCert(t), stranger.clientCert(t)

	for _, tc := range []struct {
		name    string
		srv     *tlsServer
		cert    *tls.Certificate
		refused string // "" when the request must succeed
	}{
		{"mcp, no client certificate", mcp, nil, "certificate required"},
		{"mcp, a certificate of another CA", mcp, &wrong, "unknown certificate authority"},
		{"mcp, a certificate of client_ca_file", mcp, &good, ""},
		{"admin, no client certificate (probes)", admin, nil, ""},
		{"admin, a certificate of another CA", admin, &wrong, "unknown certificate authority"},
		{"admin, a certificate of client_ca_file", admin, &good, ""},
	} {
		// Over HTTP/1.1: with TLS 1.3 the server's alert comes after the client's handshake, and
		// HTTP/2's client reports it only as a connection that could not be established.
		c := client(ca, tc.cert)
		c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
		_, _, _, err := get(c, tc.srv.addr)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: got %v, want refused with %q", tc.name, err, tc.refused)
		}
	}

	// A new client CA is trusted by new handshakes, the old one no longer.
	writeFile(t, files.ClientCAFile, stranger.pem)
	mcp.certs.reload()
	if _, _, _, err := get(client(ca, &wrong), mcp.addr); err != nil {
		t.Errorf("a certificate of the new client CA: %v", err)
	}
	if _, _, _, err := get(client(ca, &good), mcp.addr); err == nil {
		t.Error("a certificate of the replaced client CA is still accepted")
	}
}

func TestServerTLSDefaults(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := newTLSServer(t, pairFiles(t, ca, t.TempDir(), 1), false, nil)
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want string // what the handshake or request gives
	}{
		{"TLS 1.1 is refused", &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, "protocol version"},
		{"TLS 1.2 with HTTP/2", &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS12}, "HTTP/2.0"},
		{"TLS 1.3 with HTTP/2", &tls.Config{RootCAs: ca.pool}, "HTTP/2.0"},
		{"HTTP/1.1 when the client offers only that", &tls.Config{RootCAs: ca.pool, NextProtos: []string{"http/1.1"}}, "HTTP/1.1"},
		{"a client without the CA", &tls.Config{}, "certificate signed by unknown authority"},
	} {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc.cfg, ForceAttemptHTTP2: len(tc.cfg.NextProtos) == 0}}
		_, proto, _, err := get(c, srv.addr)
		got := proto
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestServerSentEventsOverHTTP2: each event reaches the client when it is flushed, while the
// response goes on (MCP's SSE streams).
func TestServerSentEventsOverHTTP2(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	release := make(chan struct{})
	srv := newTLSServer(t, pairFiles(t, ca, t.TempDir(), 1), false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
		}
		<-release // the stream stays open: the events must have arrived without its end
	}))
	defer close(release)
	resp, err := client(ca, nil).Get("https://" + srv.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Errorf("proto %s, want HTTP/2.0", resp.Proto)
	}
	lines := bufio.NewScanner(resp.Body)
	for i := range 3 {
		for lines.Scan() && lines.Text() == "" {
		}
		if want := fmt.Sprintf("data: event %d", i); lines.Text() != want {
			t.Fatalf("read %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
}

func TestNewCertFilesRefusesWhatDoesNotLoad(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	files := pairFiles(t, ca, dir, 1)
	writeFile(t, files.KeyFile, []byte("nope"))
	if _, err := newCertFiles(files, time.Hour, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "tls.cert_file and tls.key_file") {
		t.Errorf("got %v, want an error naming the files' keys", err)
	}
	files = pairFiles(t, ca, dir, 1)
	files.ClientCAFile = filepath.Join(dir, "missing.crt")
	if _, err := newCertFiles(files, time.Hour, slog.New(slog.DiscardHandler)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want a missing client_ca_file", err)
	}
}
