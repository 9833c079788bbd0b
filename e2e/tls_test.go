package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// tlsPKI is a test CA that keeps its key, so a test can issue the gateway a new certificate
// (rotation) and clients certificates (mutual TLS). The server pair lives at fixed paths the
// gateway's config names; rotate writes a new one over them.
type tlsPKI struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	dir    string
	CAFile string
	// CertFile and KeyFile are the gateway's pair.
	CertFile, KeyFile string
}

func newTLSPKI(t testing.TB, name string) *tlsPKI {
	t.Helper()
	dir := t.TempDir()
	key, cert := newCert(t, name, nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid = true, true
		c.KeyUsage = x509.KeyUsageCertSign
	})
	p := &tlsPKI{caCert: cert, caKey: key, pool: x509.NewCertPool(), dir: dir, CAFile: filepath.Join(dir, "ca.crt"),
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	p.pool.AddCert(cert)
	writePEM(t, p.CAFile, "CERTIFICATE", cert.Raw)
	p.rotate(t)
	return p
}

// rotate issues a new server certificate for 127.0.0.1 and localhost (a new key and serial)
// and writes it over the gateway's pair, each file replaced whole; it returns its serial.
func (p *tlsPKI) rotate(t testing.TB) string {
	t.Helper()
	key, cert := newCert(t, "switchboard", p.caCert, p.caKey, func(c *x509.Certificate) {
		c.DNSNames = []string{"localhost"}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	staged := t.TempDir()
	certFile, keyFile := writePair(t, staged, "new", cert, key)
	for from, to := range map[string]string{certFile: p.CertFile, keyFile: p.KeyFile} {
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	return cert.SerialNumber.String()
}

// clientCert issues a client certificate signed by this CA.
func (p *tlsPKI) clientCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, cert := newCert(t, "mcp-client", p.caCert, p.caKey, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// httpsClient trusts the CAs in roots (nil: the system's), presents cert when given (whatever
// CAs the server names, as curl --cert does; Go's client would otherwise send none that the
// server's CAs did not sign), and speaks HTTP/2 when the server offers it (a custom TLS config
// turns that off unless asked).
func httpsClient(roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// startTLSGateway runs switchboard with tlsYAML (the tls section) and yamlBody on loopback
// ports and waits until /readyz answers 200 over HTTPS.
func startTLSGateway(t testing.TB, pki *tlsPKI, tlsYAML, yamlBody string) *gateway {
	t.Helper()
	ports := freePorts(t, 2)
	listen, adminListen := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	cfg := fmt.Sprintf("listen: %s\nadmin_listen: %s\n%s\n%s", listen, adminListen, tlsYAML, yamlBody)
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, bin.switchboard, "serve", "--config", path)
	t.Cleanup(func() {
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("the gateway has a data race:\n%s", p.out.String())
		}
	})
	g := &gateway{URL: "https://" + listen + "/mcp", Admin: "https://" + adminListen, proc: p}
	probe := httpsClient(pki.pool, nil)
	eventually(t, 60*time.Second, "gateway readiness over https", func() error {
		g.mustBeRunning(t)
		resp, err := probe.Get(g.Admin + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("readyz %d: %s", resp.StatusCode, b)
		}
		return nil
	})
	return g
}

// dialTLS opens an MCP session over Streamable HTTP with hc; legacy as in dialMCP.
func dialTLS(t testing.TB, url string, hc *http.Client, legacy bool, onNotify func(mcp.JSONRPCNotification)) (*client.Client, error) {
	t.Helper()
	opts := []transport.StreamableHTTPCOption{transport.WithHTTPBasicClient(hc)}
	var copts []client.ClientOption
	if legacy {
		//lint:ignore SA1019 the 2025-11-25 era is the one under test here
		opts = append(opts, transport.WithContinuousListening())
		copts = append(copts, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	}
	tr, err := transport.NewStreamableHTTP(url, opts...)
	if err != nil {
		return nil, err
	}
	c := client.NewClient(tr, copts...)
	if onNotify != nil {
		c.OnNotification(onNotify)
	}
	if err := c.Start(context.Background()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e-tls", Version: "1"}
	if legacy {
		init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	}
	if _, err := c.Initialize(ctx, init); err != nil {
		_ = c.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

// rawGet requests url with hc and reports the protocol, the serial of the certificate the
// server presented on that connection, and whether the connection was open before.
func rawGet(hc *http.Client, url string) (proto, serial string, reused bool, err error) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", "", false, err
	}
	resp, err := hc.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		return "", "", false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.Proto, "", reused, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber.String(), reused, nil
}

// TestTLSServesMCPOverHTTP2: with tls set, MCP clients of both eras call tools over HTTPS and
// HTTP/2, progress streams (SSE) arrive on the way, the admin listener serves HTTPS too, and a
// client that does not trust the CA is refused.
func TestTLSServesMCPOverHTTP2(t *testing.T) {
	t.Parallel()
	pki := newTLSPKI(t, "e2e TLS CA")
	demo := startDemoHTTP(t, "demo", false)
	g := startTLSGateway(t, pki, fmt.Sprintf("tls: {cert_file: %s, key_file: %s}", pki.CertFile, pki.KeyFile),
		fmt.Sprintf("upstreams: [{name: up, url: %s}]", demo.URL))

	if out := g.logs(); !strings.Contains(out, "MCP endpoint https://") || !strings.Contains(out, "(admin: https://") {
		t.Errorf("the banner does not say https:\n%s", out)
	}

	hc := httpsClient(pki.pool, nil)
	for _, legacy := range []bool{true, false} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			rec := &recorder{}
			c, err := dialTLS(t, g.URL, hc, legacy, rec.handle)
			if err != nil {
				t.Fatal(err)
			}
			if got := text(call(t, c, "up__echo", map[string]any{"text": "over tls"})); got != "over tls" {
				t.Errorf("echo over https: %q", got)
			}
			chattyNamed(t, c, "up__chatty", "tls", 5)
			if legacy { // the 2026-07-28 era carries no progress stream to compare
				eventually(t, 5*time.Second, "progress over the SSE response", func() error {
					rec.mu.Lock()
					defer rec.mu.Unlock()
					if len(rec.progress) != 5 {
						return fmt.Errorf("%d progress notifications, want 5", len(rec.progress))
					}
					return nil
				})
			}
		})
	}

	// A raw request from an HTTP/2-capable client negotiates HTTP/2, on both listeners.
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, g.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("initialize: %s %d (ALPN %v), want HTTP/2.0 200 over h2", resp.Proto, resp.StatusCode, resp.TLS)
	}
	for _, path := range []string{"/readyz", "/metrics"} {
		if proto, _, _, err := rawGet(hc, g.Admin+path); err != nil || proto != "HTTP/2.0" {
			t.Errorf("admin %s: %s, %v; want HTTP/2.0 over TLS", path, proto, err)
		}
	}
	plain, err := http.Get("http" + strings.TrimPrefix(g.Admin, "https") + "/readyz")
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Errorf("the admin listener answered plain HTTP: %s", b)
		}
	}

	// A client without the test CA does not trust the gateway.
	_, err = httpsClient(nil, nil).Get(g.Admin + "/readyz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client without the CA: %v, want x509: certificate signed by unknown authority", err)
	}
	if _, err := dialTLS(t, g.URL, httpsClient(nil, nil), true, nil); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("an MCP client without the CA: %v, want unknown authority", err)
	}
}

// TestTLSRotation: a new pair written over the files is served to new connections within a
// few seconds, without a restart; a connection open before keeps working on the old one, and
// so does an MCP session; a pair that does not load leaves the current one served.
func TestTLSRotation(t *testing.T) {
	t.Parallel()
	pki := newTLSPKI(t, "e2e rotation CA")
	first := serialOf(t, pki.CertFile)
	demo := startDemoHTTP(t, "demo", false)
	g := startTLSGateway(t, pki, fmt.Sprintf("tls: {cert_file: %s, key_file: %s}", pki.CertFile, pki.KeyFile),
		fmt.Sprintf("upstreams: [{name: up, url: %s}]", demo.URL))

	open := httpsClient(pki.pool, nil) // its connection stays open across the rotation
	if _, serial, _, err := rawGet(open, g.Admin+"/readyz"); err != nil || serial != first {
		t.Fatalf("before the rotation: serial %s, %v; want %s", serial, err, first)
	}
	session, err := dialTLS(t, g.URL, httpsClient(pki.pool, nil), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	call(t, session, "up__echo", map[string]any{"text": "before"})

	second := pki.rotate(t)
	eventually(t, 30*time.Second, "the rotated certificate served to a new connection", func() error {
		_, serial, _, err := rawGet(httpsClient(pki.pool, nil), g.Admin+"/readyz")
		if err != nil {
			return err
		}
		if serial != second {
			return fmt.Errorf("serial %s, want %s", serial, second)
		}
		return nil
	})
	_, serial, reused, err := rawGet(open, g.Admin+"/readyz")
	if err != nil || !reused || serial != first {
		t.Errorf("the connection open before the rotation: serial %s, reused %v, %v; want it still open on serial %s", serial, reused, err, first)
	}
	if got := text(call(t, session, "up__echo", map[string]any{"text": "after"})); got != "after" {
		t.Errorf("the MCP session opened before the rotation: %q", got)
	}
	if !strings.Contains(g.logs(), "TLS certificate reloaded") {
		t.Errorf("the reload is not logged:\n%s", g.proc.out.String())
	}

	// A key that does not load: logged, and the current pair stays.
	if err := os.WriteFile(pki.KeyFile, []byte("-----BEGIN EC PRIVATE KEY-----\ntruncated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the bad pair logged", func() error {
		if !strings.Contains(g.logs(), "do not load; still serving the certificate loaded before") {
			return errors.New("not logged yet")
		}
		return nil
	})
	if _, serial, _, err := rawGet(httpsClient(pki.pool, nil), g.Admin+"/readyz"); err != nil || serial != second {
		t.Errorf("after a bad pair: serial %s, %v; want %s still served", serial, err, second)
	}
	c, err := dialTLS(t, g.URL, httpsClient(pki.pool, nil), false, nil)
	if err != nil {
		t.Fatalf("a new MCP client after a bad pair: %v", err)
	}
	call(t, c, "up__echo", map[string]any{"text": "still"})
	g.mustBeRunning(t)
}

// serialOf is the serial of the PEM certificate in path.
func serialOf(t testing.TB, path string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".crt")+".key")
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf.SerialNumber.String()
}

// TestTLSClientCertificates: with client_ca_file, an MCP client must present a certificate of
// that CA; the admin listener still answers probes, which present none.
func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	pki := newTLSPKI(t, "e2e server CA")
	clients, stranger := newTLSPKI(t, "e2e client CA"), newTLSPKI(t, "e2e stranger CA")
	demo := startDemoHTTP(t, "demo", false)
	g := startTLSGateway(t, pki, fmt.Sprintf("tls: {cert_file: %s, key_file: %s, client_ca_file: %s}", pki.CertFile, pki.KeyFile, clients.CAFile),
		fmt.Sprintf("upstreams: [{name: up, url: %s}]", demo.URL))

	good, wrong := clients.clientCert(t), stranger.clientCert(t)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want string // in the error; "" when the client must get through
	}{
		{"no client certificate", nil, "certificate required"},
		{"a certificate of another CA", &wrong, "unknown certificate authority"},
		{"a certificate of client_ca_file", &good, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := httpsClient(pki.pool, tc.cert)
			if tc.want != "" {
				// Over HTTP/1.1: with TLS 1.3 the server's alert arrives after the client's
				// handshake, and HTTP/2's client reports only a connection it could not establish.
				hc.Transport.(*http.Transport).ForceAttemptHTTP2 = false
			}
			c, err := dialTLS(t, g.URL, hc, true, nil)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("initialize: %v, want refused with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := text(call(t, c, "up__echo", map[string]any{"text": "mtls"})); got != "mtls" {
				t.Errorf("echo with a client certificate: %q", got)
			}
		})
	}
	if proto, _, _, err := rawGet(httpsClient(pki.pool, nil), g.Admin+"/readyz"); err != nil {
		t.Errorf("/readyz without a client certificate (a probe): %s %v, want 200", proto, err)
	}
	if _, _, _, err := rawGet(httpsClient(pki.pool, &wrong), g.Admin+"/readyz"); err == nil {
		t.Error("the admin listener accepted a client certificate of another CA")
	}
	if out := g.logs(); strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("the gateway printed a private key:\n%s", out)
	}
}

// roundRobin sends each request to the next of hosts, like a balancer without affinity in
// front of replicas that share one certificate.
type roundRobin struct {
	hosts []string
	n     atomic.Uint64
	next  http.RoundTripper
}

func (r *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	host := r.hosts[r.n.Add(1)%uint64(len(r.hosts))]
	req.URL.Host, req.Host = host, host
	return r.next.RoundTrip(req)
}

// TestTLSFleetHandsAnswersOverHTTPS: two replicas with tls and one session key, a client whose
// requests alternate between them. A client's answer to an upstream's sampling request that
// lands on the other replica is handed over to the admin listener of the one waiting, over
// HTTPS, in both eras (2025-11-25: /internal/answers; 2026-07-28: /internal/resume).
func TestTLSFleetHandsAnswersOverHTTPS(t *testing.T) {
	t.Parallel()
	pki := newTLSPKI(t, "e2e fleet CA")
	demo := startDemoHTTP(t, "demo", false)
	body := fmt.Sprintf("sessions: {key: %q}\nupstreams: [{name: demo, url: %s}]", sessionKey(t), demo.URL)
	tlsYAML := fmt.Sprintf("tls: {cert_file: %s, key_file: %s}", pki.CertFile, pki.KeyFile)
	gws := []*gateway{startTLSGateway(t, pki, tlsYAML, body), startTLSGateway(t, pki, tlsYAML, body)}
	var hosts []string
	for _, g := range gws {
		hosts = append(hosts, strings.TrimSuffix(strings.TrimPrefix(g.URL, "https://"), "/mcp"))
	}

	for _, legacy := range []bool{true, false} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			hc := httpsClient(pki.pool, nil)
			hc.Transport = &roundRobin{hosts: hosts, next: hc.Transport}
			opts := []transport.StreamableHTTPCOption{transport.WithHTTPBasicClient(hc)}
			copts := []client.ClientOption{client.WithSamplingHandler(answerAs("tls-fleet"))}
			init := mcp.InitializeRequest{}
			init.Params.ClientInfo = mcp.Implementation{Name: "tls-fleet", Version: "1"}
			init.Params.Capabilities.Sampling = &mcp.SamplingCapability{}
			if legacy {
				//lint:ignore SA1019 the 2025-11-25 era is the one under test here
				opts = append(opts, transport.WithContinuousListening())
				copts = append(copts, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
				init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
			}
			tr, err := transport.NewStreamableHTTP(gws[0].URL, opts...)
			if err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr, copts...)
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			ctx, cancel := contextWithTimeout(30 * time.Second)
			defer cancel()
			if _, err := c.Initialize(ctx, init); err != nil {
				t.Fatal(err)
			}
			for i := range 6 { // several, so that answers land on either replica
				res, err := callErr(c, "demo__sample", map[string]any{"text": fmt.Sprintf("question %d", i)})
				if err != nil || res.IsError || text(res) != "from tls-fleet" {
					t.Fatalf("sampling call %d: %v %s", i, err, textOf(res))
				}
			}
		})
	}
	for _, path := range []string{"/internal/answers", "/internal/resume"} {
		handed := 0
		for _, g := range gws {
			handed += strings.Count(g.logs(), "path="+path+" status=")
		}
		if handed == 0 {
			t.Errorf("nothing was handed between the replicas on %s: the cross-replica path over HTTPS went untested", path)
		}
	}
}
