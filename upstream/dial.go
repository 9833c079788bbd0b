package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/switchboard-mcp/switchboard/registry"
)

// conn is one initialized MCP client session to one instance. It is replaced, never repaired:
// when it dies the instance dials a new one.
type conn struct {
	client *client.Client
	rpc    transport.Interface
	// dead is closed when the transport reports the session gone (stdio child exited, SSE stream
	// lost). Streamable HTTP has no such signal; failed calls and pings reveal it instead.
	dead      chan struct{}
	closeOnce sync.Once
	stop      func() // releases what dial acquired beyond the client (the child process)
}

func (c *conn) markDead() { c.closeOnce.Do(func() { close(c.dead) }) }

// close marks the session dead first, so that no new call starts on it, then releases it.
func (c *conn) close() {
	c.markDead()
	_ = c.client.Close()
	if c.stop != nil {
		c.stop()
	}
}

// dialer connects to one instance; http is shared by every HTTP instance so connections pool.
type dialer struct {
	http *http.Client
	log  *slog.Logger
}

// newHTTPClient returns the client for upstream HTTP traffic. It has no overall timeout: calls
// carry their own deadlines, and SSE and GET streams are long-lived by design. The response to
// a POST (one request's answer, JSON or its SSE stream) is cut off after maxResponseBytes, when
// positive, so a hostile or broken upstream cannot exhaust the gateway's memory.
func newHTTPClient(maxResponseBytes int64) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if maxResponseBytes <= 0 {
		return &http.Client{Transport: tr}
	}
	return &http.Client{Transport: cappedResponses{next: tr, max: maxResponseBytes}}
}

// ErrResponseTooLarge is an upstream answer over the size limit; the call fails with it.
var ErrResponseTooLarge = errors.New("upstream response too large")

// cappedResponses limits the body of each response to a POST.
type cappedResponses struct {
	next http.RoundTripper
	max  int64
}

func (c cappedResponses) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost {
		return resp, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: c.max, max: c.max}
	return resp, nil
}

// cappedBody reads at most max bytes, then fails every read.
type cappedBody struct {
	io.ReadCloser
	left, max int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly max bytes from a longer one.
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 {
			return 0, err // the end (exactly max bytes), a failure, or nothing yet
		}
		return 0, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, b.max)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// clientCredentials returns an HTTP client that sends the gateway's own token, obtained with the
// client-credentials grant over base and refreshed before it expires.
func clientCredentials(o *registry.OAuth2Client, base *http.Client) *http.Client {
	cc := clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL, Scopes: o.Scopes}
	if o.Audience != "" {
		cc.EndpointParams = url.Values{"audience": {o.Audience}, "resource": {o.Audience}}
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base.Transport, Timeout: 10 * time.Second})
	return &http.Client{Transport: &oauth2.Transport{Source: cc.TokenSource(ctx), Base: base.Transport}}
}

// dial connects to inst and completes the MCP handshake within connectTimeout. life bounds the
// session itself (the SSE stream, the child process); it outlives the dial.
//
// onNotify gets the upstream's notifications; onRequest answers the requests it sends its client
// (sampling, elicitation, roots), which the gateway declares it can handle.
func (d *dialer) dial(life context.Context, inst registry.Instance, connectTimeout time.Duration,
	onNotify func(mcp.JSONRPCNotification), onRequest transport.RequestHandler) (*conn, error) {
	c := &conn{dead: make(chan struct{})}
	var tr transport.Interface
	switch inst.Transport {
	case registry.StreamableHTTP:
		opts := []transport.StreamableHTTPCOption{
			transport.WithHTTPBasicClient(d.http),
			transport.WithHTTPHeaders(inst.Headers),
			// The standing GET stream is how an idle upstream tells us its tools changed.
			//lint:ignore SA1019 upstream sessions are pinned to 2025-11-25, where the GET stream is the way
			transport.WithContinuousListening(),
		}
		if inst.Credentials != "" {
			// Each call's own caller token, per request over the shared session (credentials.go).
			opts = append(opts, transport.WithHTTPHeaderFunc(bearerHeader))
		}
		h, err := transport.NewStreamableHTTP(inst.URL, opts...)
		if err != nil {
			return nil, err
		}
		tr = h
	case registry.SSE:
		s, err := transport.NewSSE(inst.URL,
			transport.WithHTTPClient(d.http),
			transport.WithHeaders(inst.Headers),
			// The call's own deadline governs; the transport's 60s default would cut long tools.
			transport.WithResponseTimeout(24*time.Hour),
		)
		if err != nil {
			return nil, err
		}
		tr = s
	case registry.Stdio:
		s, stop, err := d.spawn(inst, c.markDead)
		if err != nil {
			return nil, err
		}
		tr, c.stop = s, stop
	default:
		return nil, fmt.Errorf("unknown transport %q", inst.Transport)
	}

	c.rpc = tr
	c.client = client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	c.client.OnNotification(onNotify)
	c.client.OnConnectionLost(func(error) { c.markDead() })
	if err := c.client.Start(life); err != nil {
		c.close()
		return nil, fmt.Errorf("starting transport: %w", err)
	}
	if b, ok := tr.(transport.BidirectionalInterface); ok {
		b.SetRequestHandler(onRequest) // after Start, which installs the client library's own
	}
	ctx, cancel := context.WithTimeout(life, connectTimeout)
	defer cancel()
	_, err := c.client.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{
		ProtocolVersion: mcp.LATEST_LEGACY_PROTOCOL_VERSION,
		ClientInfo:      mcp.Implementation{Name: "switchboard", Version: Version},
		// The gateway passes these on to the client of the call that asks.
		Capabilities: mcp.ClientCapabilities{
			Roots: &struct {
				ListChanged bool `json:"listChanged,omitempty"`
			}{},
			Sampling:    &mcp.SamplingCapability{},
			Elicitation: &mcp.ElicitationCapability{Form: &struct{}{}},
		},
	}})
	if err != nil {
		c.close()
		return nil, fmt.Errorf("initializing: %w", err)
	}
	return c, nil
}

// Version is reported to upstreams in initialize; main sets it at build time.
var Version = "dev"

// spawn starts a stdio instance in its own process group, so that stopping it also stops any
// children it started (npx starts node, for one). onExit runs when the process exits.
func (d *dialer) spawn(inst registry.Instance, onExit func()) (*transport.Stdio, func(), error) {
	cmd := exec.Command(inst.Command[0], inst.Command[1:]...)
	cmd.Dir = inst.Dir
	// Children get a minimal environment: the gateway's secrets are not theirs.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range inst.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	// Our own pipe, not StdoutPipe: cmd.Wait must not close the reader under the transport.
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = stdoutW
	cmd.Stderr = &lineLogger{log: d.log.With("stream", "stderr")}
	if err := cmd.Start(); err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", inst.Command[0], err)
	}
	stdoutW.Close()

	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		d.log.Info("stdio upstream exited", "pid", cmd.Process.Pid, "status", exitStatus(err))
		close(exited)
		onExit()
	}()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		stdoutR.Close()
	}
	return transport.NewIO(stdoutR, stdin, nil), stop, nil
}

func exitStatus(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.String()
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}

// lineLogger logs what a child writes to stderr, one record per line.
type lineLogger struct {
	log     *slog.Logger
	emit    func(line string) // nil: log the line
	partial []byte
}

func (l *lineLogger) line(s string) {
	if l.emit != nil {
		l.emit(s)
		return
	}
	l.log.Info("upstream says", "line", s)
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 64<<10 { // a child that never ends a line does not grow us without bound
		l.line(string(l.partial))
		l.partial = l.partial[:0]
	}
	return len(p), nil
}
