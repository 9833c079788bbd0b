package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/switchboard-mcp/switchboard/config"
)

// tlsPollInterval is how often the TLS files are read for a change. The kubelet updates a
// mounted Secret a minute or more after it changed, so a few seconds more do not matter.
const tlsPollInterval = 5 * time.Second

// nextProtos are offered in ALPN: HTTP/2 first, so clients that speak it get one connection for
// all their streams.
var nextProtos = []string{"h2", "http/1.1"}

// certFiles is the TLS material of the listeners, loaded from config.TLS's files and read again
// every poll: a change in their contents (a rotation, or Kubernetes swapping the Secret volume's
// symlink) is loaded and served to new handshakes; connections already open keep the pair they
// negotiated. A change that does not load is logged once and the previous material is kept.
// Handshakes may run concurrently with Run.
type certFiles struct {
	files config.TLS
	every time.Duration
	log   *slog.Logger

	current atomic.Pointer[certSnapshot]
	// Only Run touches these: what was last logged as unusable, so a bad rotation is told once.
	failedHash [sha256.Size]byte
	failedRead string
}

// certSnapshot is one loaded pair and client CA pool with the handshake configs built from them;
// immutable.
type certSnapshot struct {
	hash       [sha256.Size]byte // of the files' contents
	leaf       *x509.Certificate
	mcp, admin *tls.Config
}

// newCertFiles loads files once; an error means the listeners cannot serve TLS at all.
func newCertFiles(files config.TLS, every time.Duration, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{files: files, every: every, log: log}
	contents, hash, err := c.read()
	if err != nil {
		return nil, err
	}
	snap, err := c.load(contents, hash)
	if err != nil {
		return nil, err
	}
	c.current.Store(snap)
	return c, nil
}

// serverConfig is the tls.Config of a listener: each handshake gets the current snapshot's
// config for that listener (GetConfigForClient rather than GetCertificate, so that the client
// CA pool changes with the files too). The MCP listener requires a client certificate when
// client_ca_file is set; the admin listener verifies one if presented, since the kubelet's
// probes and the other replicas' hand-over of answers present none.
func (c *certFiles) serverConfig(admin bool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s := c.current.Load()
			if admin {
				return s.admin, nil
			}
			return s.mcp, nil
		},
	}
}

// Run reads the files every poll interval until ctx ends, loading a change.
func (c *certFiles) Run(ctx context.Context) {
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.reload()
		}
	}
}

// reload loads the files if their contents changed. A read that fails (a file missing for a
// moment during a swap) is tried again at the next poll; contents that do not load are tried
// again once they change, which is also what a pair read half-way through a swap (new
// certificate, old key) does at the next poll.
func (c *certFiles) reload() {
	contents, hash, err := c.read()
	if err != nil {
		if err.Error() != c.failedRead {
			c.failedRead = err.Error()
			c.log.Error("reading the TLS files failed; still serving the certificate loaded before", "err", err)
		}
		return
	}
	c.failedRead = ""
	if hash == c.current.Load().hash || hash == c.failedHash {
		return
	}
	snap, err := c.load(contents, hash)
	if err != nil {
		c.failedHash = hash
		c.log.Error("the changed TLS files do not load; still serving the certificate loaded before", "err", err,
			"cert_file", c.files.CertFile, "key_file", c.files.KeyFile, "client_ca_file", c.files.ClientCAFile)
		return
	}
	c.current.Store(snap)
	c.log.Info("TLS certificate reloaded", "subject", snap.leaf.Subject.String(), "serial", snap.leaf.SerialNumber.Text(16),
		"not_after", snap.leaf.NotAfter.UTC().Format(time.RFC3339), "client_ca", c.files.ClientCAFile != "")
}

// tlsContents are the bytes of the TLS files.
type tlsContents struct{ cert, key, clientCA []byte }

// read reads every file and hashes their contents (length-prefixed, so no two sets collide by
// concatenation). Reading follows symlinks, so Kubernetes' swap of the ..data link is a change
// of contents like any other.
func (c *certFiles) read() (tlsContents, [sha256.Size]byte, error) {
	var out tlsContents
	var err error
	if out.cert, err = os.ReadFile(c.files.CertFile); err != nil {
		return out, [sha256.Size]byte{}, fmt.Errorf("tls.cert_file: %w", err)
	}
	if out.key, err = os.ReadFile(c.files.KeyFile); err != nil {
		return out, [sha256.Size]byte{}, fmt.Errorf("tls.key_file: %w", err)
	}
	if c.files.ClientCAFile != "" {
		if out.clientCA, err = os.ReadFile(c.files.ClientCAFile); err != nil {
			return out, [sha256.Size]byte{}, fmt.Errorf("tls.client_ca_file: %w", err)
		}
	}
	h := sha256.New()
	for _, b := range [][]byte{out.cert, out.key, out.clientCA} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return out, sum, nil
}

// load builds a snapshot from the files' contents.
func (c *certFiles) load(in tlsContents, hash [sha256.Size]byte) (*certSnapshot, error) {
	cert, err := tls.X509KeyPair(in.cert, in.key)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file and tls.key_file: %w", err)
	}
	base := &tls.Config{
		MinVersion:   tls.VersionTLS12, // cipher suites: Go's defaults, which have no weak ones
		NextProtos:   nextProtos,
		Certificates: []tls.Certificate{cert},
	}
	snap := &certSnapshot{hash: hash, leaf: cert.Leaf, mcp: base, admin: base}
	if c.files.ClientCAFile != "" {
		pool, err := config.ParseClientCAs(in.clientCA)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		snap.mcp, snap.admin = base.Clone(), base.Clone()
		snap.mcp.ClientCAs, snap.mcp.ClientAuth = pool, tls.RequireAndVerifyClientCert
		snap.admin.ClientCAs, snap.admin.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return snap, nil
}

// setupTLS loads the TLS files when tls is set, before anything serves.
func (g *Gateway) setupTLS(cfg *config.Config) error {
	if cfg.TLS == nil {
		return nil
	}
	certs, err := newCertFiles(*cfg.TLS, tlsPollInterval, g.log)
	if err != nil {
		return err
	}
	g.certs = certs
	return nil
}

// useTLS gives the servers buildServers made their TLS configs: the first is the MCP server,
// the second, if any, the admin one.
func (g *Gateway) useTLS() {
	if g.certs == nil {
		return
	}
	for i, srv := range g.servers {
		srv.TLSConfig = g.certs.serverConfig(i > 0)
	}
}

// serve serves srv on ln, over TLS when srv has a TLS config. ServeTLS (rather than Serve on a
// tls.NewListener) is what sets up HTTP/2 on the server.
func serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
	}
	return srv.Serve(ln)
}

// scheme is how clients reach the listeners: https with tls.
func (g *Gateway) scheme() string {
	if g.certs != nil {
		return "https"
	}
	return "http"
}

// peerTLS is how this replica reaches the others' admin listeners to hand them a client's
// answer: nil (plain HTTP) without tls. The certificate is not verified: replicas reach each
// other at pod IPs, which a certificate for the service's name does not list, and the body is
// sealed with the session key (AES-256-GCM), which is what authenticates replicas to each other
// and keeps the answer secret; TLS here only speaks the listener's protocol.
func (g *Gateway) peerTLS() *tls.Config {
	if g.certs == nil {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // see above
}
