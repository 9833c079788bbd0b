// Package bridge is `switchboard stdio --upstream URL`: a desktop host's stdio MCP client relayed
// to a remote gateway's Streamable HTTP endpoint, message for message. It does not speak MCP
// itself; it moves JSON-RPC messages: each line from the client is POSTed, and what the gateway
// answers (a JSON body, or every message of an SSE stream) is written to the client, one per
// line; a GET stream, open once the session is initialized, brings what the gateway sends unasked
// (list_changed, resource updates). The server's requests (sampling, elicitation, roots) and the
// client's answers cross like any other message. What the transport needs is kept here: the
// session id and protocol version the gateway gave, the bearer token, a new session when the
// gateway no longer knows the old one, the GET stream's reconnects, and DELETE at the end.
package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/internal/backoff"
	"github.com/switchboard-mcp/switchboard/internal/jsonl"
)

// Options configure Run.
type Options struct {
	// URL is the gateway's MCP endpoint, http:// or https:// (".../mcp", or a virtual server's
	// ".../mcp/NAME").
	URL string
	// Token, when set, is sent as "Authorization: Bearer TOKEN" on every request. Never logged.
	Token string
	// Client sends the requests. Nil: one with no overall timeout (calls and the GET stream
	// last as long as they last).
	Client *http.Client
	// MaxMessageBytes bounds one message either way: a longer line from the client is answered
	// with a JSON-RPC error, a longer one from the gateway is dropped (a request it answered
	// gets an error). Default 32 MiB.
	MaxMessageBytes int
	// MaxInFlight bounds the client's requests relayed at once; one beyond is answered with an
	// error at once. Default 64.
	MaxInFlight int
	// Grace is how long the requests in flight when the client's input ends may take to be
	// answered before the session is deleted. Default 10s.
	Grace time.Duration
	// Log gets what goes wrong (to stderr: stdout carries JSON-RPC only). Nil: discarded.
	Log *slog.Logger
}

// Errors of the bridge itself, answered to a request on the client's behalf.
const (
	codeBridge  = -32000 // the gateway could not be reached or refused the request
	maxRetries  = 3      // of a request refused with 503 and Retry-After (a replica draining)
	maxRetryGap = 5 * time.Second
)

// errSessionGone: the gateway answered 404 to a session it no longer knows.
var errSessionGone = errors.New("the gateway no longer knows the session")

// Run relays the client on in and out to opts.URL until in ends (then nil) or ctx ends (then
// ctx's error), then deletes the session. It fails at once on a URL that is not http(s).
func Run(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--upstream wants the http:// or https:// URL of a gateway's MCP endpoint, got %q", opts.URL)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 32 << 20
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &bridge{opts: opts, log: opts.Log, out: jsonl.NewWriter(out), ctx: ctx, cancel: cancel,
		slots: make(chan struct{}, opts.MaxInFlight)}
	err = b.pump(jsonl.NewReader(in, opts.MaxMessageBytes))
	if err == nil {
		b.finish(opts.Grace)
	}
	cancel()
	b.wg.Wait()
	b.deleteSession()
	return err
}

// bridge is one client's relay.
type bridge struct {
	opts   Options
	log    *slog.Logger
	out    *jsonl.Writer
	ctx    context.Context // ends with the relay
	cancel context.CancelFunc
	slots  chan struct{} // one per request in flight

	wg       sync.WaitGroup // the requests in flight and the GET stream
	requests sync.WaitGroup // the requests in flight

	mu          sync.Mutex
	session     string // Mcp-Session-Id the gateway gave; "" before initialize
	protocol    string // the protocol version initialize negotiated
	initialize  []byte // the client's initialize, sent again to open a new session
	initialized []byte // the client's notifications/initialized, likewise
	listening   bool   // the GET stream runs
	writeErr    error

	renewMu sync.Mutex // one new session at a time
}

// envelope is what the bridge reads of a message to relay it.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (e envelope) isRequest() bool { return e.Method != "" && len(e.ID) > 0 }

// pump reads the client's messages until in ends (nil), a read fails, or the relay ends.
func (b *bridge) pump(rd *jsonl.Reader) error {
	lines := jsonl.Lines(b.ctx, rd)
	for {
		select {
		case <-b.ctx.Done():
			if err := b.writeError(); err != nil {
				return err
			}
			return b.ctx.Err()
		case l := <-lines:
			switch {
			case errors.Is(l.Err, jsonl.ErrTooLong):
				b.reply(nil, mcp.INVALID_REQUEST, fmt.Sprintf("message over %d bytes: not sent", b.opts.MaxMessageBytes))
			case errors.Is(l.Err, io.EOF):
				return nil
			case l.Err != nil:
				return fmt.Errorf("reading the client's messages: %w", l.Err)
			default:
				b.relay(l.Line)
			}
		}
	}
}

// relay sends one message of the client's. Initialize, notifications and answers are sent in
// order, before the next line is read (the client's initialized must reach the gateway before
// its next request); requests go on their own goroutines, as the answer to one may need the
// client's answer to a request of the gateway's first.
func (b *bridge) relay(line []byte) {
	var msg envelope
	if err := json.Unmarshal(line, &msg); err != nil {
		b.reply(nil, mcp.PARSE_ERROR, "parse error: the message is not JSON")
		return
	}
	switch {
	case msg.Method == string(mcp.MethodInitialize) && len(msg.ID) > 0:
		b.mu.Lock()
		b.initialize = line
		b.mu.Unlock()
		b.send(b.ctx, line, msg)
	case !msg.isRequest():
		if msg.Method == string(mcp.MethodNotificationInitialized) {
			b.mu.Lock()
			b.initialized = line
			b.mu.Unlock()
		}
		b.send(b.ctx, line, msg)
		if msg.Method == string(mcp.MethodNotificationInitialized) {
			b.listen()
		}
	default:
		select {
		case b.slots <- struct{}{}:
		default:
			b.reply(msg.ID, codeBridge, fmt.Sprintf("%d requests are in flight already: wait for some answers, then send it again", cap(b.slots)))
			return
		}
		b.requests.Add(1)
		b.wg.Go(func() {
			defer b.requests.Done()
			defer func() { <-b.slots }()
			b.send(b.ctx, line, msg)
		})
	}
}

// finish waits until the requests in flight are answered, or grace passes.
func (b *bridge) finish(grace time.Duration) {
	done := make(chan struct{})
	go func() { b.requests.Wait(); close(done) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		b.log.Warn("the client closed its input; requests still in flight after the grace period are dropped", "grace", grace)
	}
}

// send POSTs one message and writes what the gateway answers; a request the gateway did not
// answer gets a JSON-RPC error naming why. A session the gateway forgot is opened again (once)
// and the message sent on it; a 503 with Retry-After (a replica draining) is tried again.
func (b *bridge) send(ctx context.Context, line []byte, msg envelope) {
	renewed := false
	for attempt := 1; ; attempt++ {
		session := b.sessionID()
		err := b.post(ctx, line, msg, session)
		var retry retryAfter
		switch {
		case err == nil:
			return
		case errors.Is(err, errSessionGone) && !renewed && msg.Method != string(mcp.MethodInitialize):
			renewed = true
			if err = b.renew(ctx, session); err == nil {
				continue
			}
		case errors.As(err, &retry) && attempt < maxRetries:
			select {
			case <-time.After(retry.wait):
				continue
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if ctx.Err() != nil {
			return // the relay ends; nobody reads an answer
		}
		b.log.Warn("a message to the gateway failed", "method", msg.Method, "err", err)
		if msg.isRequest() {
			b.reply(msg.ID, codeBridge, "switchboard bridge: "+err.Error())
		}
		return
	}
}

// retryAfter is a 503 the gateway asked to try again later.
type retryAfter struct{ wait time.Duration }

func (r retryAfter) Error() string {
	return fmt.Sprintf("the gateway is unavailable (HTTP 503), retry after %v", r.wait)
}

// post sends one message on session and writes the gateway's answer to the client. It returns
// nil once the request is answered (or the message accepted), else why not.
func (b *bridge) post(ctx context.Context, line []byte, msg envelope, session string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.opts.URL, bytes.NewReader(line))
	if err != nil {
		return err
	}
	b.headers(req, session, msg)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := b.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("the gateway is unreachable: %w", err)
	}
	defer resp.Body.Close()
	if msg.Method == string(mcp.MethodInitialize) && resp.StatusCode == http.StatusOK {
		b.mu.Lock()
		b.session = resp.Header.Get(mcp.HeaderSessionID)
		b.mu.Unlock()
	}
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode == http.StatusOK:
		answered, err := b.relayBody(resp, msg)
		if err == nil && msg.isRequest() && !answered {
			err = errors.New("the gateway ended its answer without a response")
		}
		return err
	case resp.StatusCode == http.StatusNotFound && session != "":
		return errSessionGone
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return retryAfter{wait: min(max(time.Duration(secs)*time.Second, 100*time.Millisecond), maxRetryGap)}
	}
	return b.refused(resp, msg)
}

// headers sets what every request of the session carries: the token, the session id, the
// protocol version, and the 2026-07-28 era's Mcp-Method and Mcp-Name.
func (b *bridge) headers(req *http.Request, session string, msg envelope) {
	if b.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.opts.Token)
	}
	if session != "" {
		req.Header.Set(mcp.HeaderSessionID, session)
	}
	b.mu.Lock()
	protocol := b.protocol
	b.mu.Unlock()
	var params struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	_ = json.Unmarshal(msg.Params, &params)
	var declared string
	if json.Unmarshal(params.Meta[mcp.MetaKeyProtocolVersion], &declared) == nil && mcp.IsModernProtocol(declared) {
		protocol = declared // a 2026-07-28 request says its version itself
		req.Header.Set(mcp.HeaderMethod, msg.Method)
		if name, ok := mcp.ExtractHeaderName(mcp.MCPMethod(msg.Method), msg.Params); ok && mcp.MethodRequiresNameHeader(mcp.MCPMethod(msg.Method)) {
			if v, ok := mcp.EncodeHeaderValue(name); ok {
				req.Header.Set(mcp.HeaderName, v)
			}
		}
	}
	if protocol != "" && msg.Method != string(mcp.MethodInitialize) {
		req.Header.Set(mcp.HeaderProtocolVersion, protocol)
	}
}

// relayBody writes the messages of a 200 answer to the client: a JSON body, or each message of
// an SSE stream. It reports whether the answer to msg (a request) was among them.
func (b *bridge) relayBody(resp *http.Response, msg envelope) (answered bool, err error) {
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mediaType == "text/event-stream" {
		err = readEvents(resp.Body, b.opts.MaxMessageBytes, func(data []byte) bool {
			if b.answers(data, msg) {
				answered = true
			}
			b.forward(data)
			return !answered // the stream may stay open; the answer ends this request
		})
		if err != nil && !answered {
			return false, fmt.Errorf("the gateway's stream broke before the answer (the call may have run): %w", err)
		}
		return answered, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(b.opts.MaxMessageBytes)+1))
	if err != nil {
		return false, fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if len(body) > b.opts.MaxMessageBytes {
		return false, fmt.Errorf("the gateway's answer is over %d bytes", b.opts.MaxMessageBytes)
	}
	answered = b.answers(body, msg)
	b.forward(body)
	return answered, nil
}

// answers reports whether data is the response to msg, and learns the protocol version from
// the answer to initialize.
func (b *bridge) answers(data []byte, msg envelope) bool {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if json.Unmarshal(data, &m) != nil || m.Method != "" || !msg.isRequest() || !sameID(m.ID, msg.ID) {
		return false
	}
	if msg.Method == string(mcp.MethodInitialize) && m.Result.ProtocolVersion != "" {
		b.mu.Lock()
		b.protocol = m.Result.ProtocolVersion
		b.mu.Unlock()
	}
	return true
}

func sameID(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

// refused turns an answer other than 200/202 into the error to tell the client: the gateway's
// own JSON-RPC error when it wrote one (a malformed message), else the status and its reason.
func (b *bridge) refused(resp *http.Response, msg envelope) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var rpc struct {
		JSONRPC string          `json:"jsonrpc"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &rpc) == nil && rpc.JSONRPC == "2.0" && len(rpc.Error) > 0 && msg.isRequest() {
		b.forward(body) // the gateway's own answer (a malformed message)
		return nil
	}
	reason := strings.TrimSpace(strings.SplitN(string(body), "\n", 2)[0])
	if www := resp.Header.Get("WWW-Authenticate"); www != "" {
		reason = www // what the token lacks, never the token
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("the gateway refused the token (HTTP 401; set the token's environment variable): %s", reason)
	case http.StatusForbidden:
		return fmt.Errorf("the gateway refused the request (HTTP 403): %s", reason)
	}
	return fmt.Errorf("the gateway answered HTTP %d: %s", resp.StatusCode, reason)
}

// renew opens a new session in place of stale, which the gateway no longer knows (it expired,
// or the gateway's session key rotated): the client's initialize and initialized are sent again
// and their answers kept from the client, which goes on as if nothing happened (a log level it
// set and its subscriptions are not carried over).
func (b *bridge) renew(ctx context.Context, stale string) error {
	b.renewMu.Lock()
	defer b.renewMu.Unlock()
	b.mu.Lock()
	current, init, initialized := b.session, b.initialize, b.initialized
	b.mu.Unlock()
	if current != stale {
		return nil // another request opened one already
	}
	if init == nil {
		return errors.New("the gateway no longer knows the session, and the client never initialized one")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.opts.URL, bytes.NewReader(init))
	if err != nil {
		return err
	}
	b.headers(req, "", envelope{Method: string(mcp.MethodInitialize)})
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := b.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("opening a new session: the gateway is unreachable: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, int64(b.opts.MaxMessageBytes)))
	resp.Body.Close()
	session := resp.Header.Get(mcp.HeaderSessionID)
	if resp.StatusCode != http.StatusOK || session == "" {
		return fmt.Errorf("opening a new session: the gateway answered HTTP %d", resp.StatusCode)
	}
	b.mu.Lock()
	b.session = session
	b.mu.Unlock()
	if initialized != nil {
		_ = b.post(ctx, initialized, envelope{Method: string(mcp.MethodNotificationInitialized)}, session)
	}
	b.log.Info("the gateway no longer knew the session (expired, or its key rotated): opened a new one")
	return nil
}

// listen starts the GET stream once: it brings what the gateway sends unasked, and is opened
// again when it ends (a replica draining closes it; the balancer sends the next to another).
func (b *bridge) listen() {
	b.mu.Lock()
	if b.listening || b.session == "" {
		b.mu.Unlock()
		return
	}
	b.listening = true
	b.mu.Unlock()
	b.wg.Go(func() {
		wait := backoff.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second}
		for b.ctx.Err() == nil {
			session := b.sessionID()
			got, err := b.stream(session)
			switch {
			case errors.Is(err, errNoStream):
				b.log.Info("the gateway offers no GET stream: only answers to requests come back")
				return
			case errors.Is(err, errSessionGone):
				if rerr := b.renew(b.ctx, session); rerr != nil {
					err = rerr
				}
			}
			if got {
				wait.Reset()
			}
			if err != nil && b.ctx.Err() == nil {
				b.log.Debug("the GET stream ended; opening it again", "err", err)
			}
			select {
			case <-time.After(wait.Next()):
			case <-b.ctx.Done():
			}
		}
	})
}

var errNoStream = errors.New("the gateway offers no GET stream")

// stream holds one GET stream open, writing its messages to the client; it reports whether any
// came.
func (b *bridge) stream(session string) (got bool, err error) {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.opts.URL, nil)
	if err != nil {
		return false, err
	}
	b.headers(req, session, envelope{})
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.opts.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusMethodNotAllowed:
		return false, errNoStream
	case http.StatusNotFound:
		return false, errSessionGone
	default:
		return false, fmt.Errorf("GET answered HTTP %d", resp.StatusCode)
	}
	err = readEvents(resp.Body, b.opts.MaxMessageBytes, func(data []byte) bool {
		got = true
		b.forward(data)
		return true
	})
	return got, err
}

// deleteSession ends the session on the gateway (DELETE), if there is one.
func (b *bridge) deleteSession() {
	session := b.sessionID()
	if session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, b.opts.URL, nil)
	if err != nil {
		return
	}
	b.headers(req, session, envelope{})
	resp, err := b.opts.Client.Do(req)
	if err != nil {
		b.log.Warn("ending the session failed: the gateway is unreachable", "err", err)
		return
	}
	resp.Body.Close()
}

func (b *bridge) sessionID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.session
}

// forward writes one message of the gateway's to the client, as one line.
func (b *bridge) forward(data []byte) {
	var line bytes.Buffer
	if err := json.Compact(&line, data); err != nil {
		b.log.Warn("dropped a message of the gateway's that is not JSON", "err", err)
		return
	}
	b.write(line.Bytes())
}

// reply writes a JSON-RPC error answering id (null when unknown) to the client.
func (b *bridge) reply(id json.RawMessage, code int, text string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": text}})
	b.write(msg)
}

// write sends a line to the client; a failed write ends the relay (the client is gone).
func (b *bridge) write(line []byte) {
	if err := b.out.Write(line); err != nil {
		b.mu.Lock()
		if b.writeErr == nil {
			b.writeErr = fmt.Errorf("writing to the client: %w", err)
		}
		b.mu.Unlock()
		b.cancel()
	}
}

func (b *bridge) writeError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writeErr
}

// readEvents reads Server-Sent Events from r and calls fn with the data of each message event
// (its data lines joined), until fn returns false, r ends (nil) or a read fails. An event over
// max bytes is dropped.
func readEvents(r io.Reader, max int, fn func(data []byte) bool) error {
	rd := jsonl.NewReader(r, max)
	var data []byte
	event, has, tooLong := "", false, false
	for {
		line, err := rd.Line()
		switch {
		case errors.Is(err, jsonl.ErrTooLong):
			tooLong = true
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if len(line) == 0 { // the event ends
			if has && !tooLong && (event == "" || event == "message") && !fn(data) {
				return nil
			}
			data, event, has, tooLong = nil, "", false, false
			continue
		}
		field, value, _ := strings.Cut(string(line), ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			if tooLong {
				continue
			}
			if has {
				data = append(data, '\n')
			}
			data, has = append(data, value...), true
			if len(data) > max {
				data, tooLong = nil, true
			}
		case "event":
			event = value
		}
	}
}
