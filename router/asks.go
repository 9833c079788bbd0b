package router

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/sessions"
)

// asks are the server-to-client requests (sampling, elicitation, roots) this replica sent on a
// call's response stream and is waiting on. The client answers with a new POST that the
// balancer may hand to any replica, so the request id the client sees is sealed and names the
// replica waiting (its address), the wait (a number) and the session; a replica that gets an
// answer that is not its own forwards it to that replica's /internal/answers, sealed with the
// session key (which is what authenticates replicas to each other).
type asks struct {
	sealer  *sessions.Sealer
	self    string      // host:port of this replica's admin listener, as the others reach it
	peerTLS *tls.Config // nil: the admin listeners speak plain HTTP
	client  *http.Client
	max     int // waits at once; a request beyond gets an error, not a queue

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan clientAnswer
}

// clientAnswer is a client's JSON-RPC response to a server-to-client request.
type clientAnswer struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// askMessage is the JSON-RPC request id asks the client method with params (nil: none).
func askMessage(id, method string, params any) map[string]any {
	req := map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	return req
}

// result is what the asking call gets of the client's answer to method.
func (a clientAnswer) result(method string) (json.RawMessage, error) {
	if a.Error != nil {
		return nil, fmt.Errorf("%s error %d: %s", method, a.Error.Code, a.Error.Message)
	}
	return a.Result, nil
}

// askID is what the request id the client sees seals.
type askID struct {
	Replica string `json:"r"`
	N       uint64 `json:"n"`
	Session string `json:"s"`
}

// forwarded is the body of a POST to another replica's /internal/answers, sealed.
type forwarded struct {
	N       uint64       `json:"n"`
	Session string       `json:"s"`
	Answer  clientAnswer `json:"a"`
}

const (
	askIDPrefix     = "sb-"
	askPurpose      = "switchboard ask id"
	forwardPurpose  = "switchboard forwarded answer"
	answersPath     = "/internal/answers"
	maxForwardBytes = 8 << 20

	askForwardTimeout = 5 * time.Second
)

var errNotWaiting = errors.New("no request of this session is waiting for that answer (answered already, timed out, or not this session's)")

func newAsks(sealer *sessions.Sealer, self string) *asks {
	return &asks{sealer: sealer, self: self, max: 10_000, waiting: map[uint64]chan clientAnswer{},
		client: peerClient(nil, askForwardTimeout)}
}

// overTLS makes forwards go over HTTPS with peerTLS (nil: plain HTTP); call it before use.
func (a *asks) overTLS(peerTLS *tls.Config) *asks {
	a.peerTLS, a.client = peerTLS, peerClient(peerTLS, askForwardTimeout)
	return a
}

// start reserves a wait for session and returns the request id to send, the channel its answer
// arrives on, and a func to call when no longer waiting.
func (a *asks) start(session string) (id string, answers <-chan clientAnswer, stop func(), err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.waiting) >= a.max {
		return "", nil, nil, fmt.Errorf("%d requests are already waiting for clients' answers on this replica", a.max)
	}
	a.next++
	n := a.next
	ch := make(chan clientAnswer, 1)
	a.waiting[n] = ch
	plain, _ := json.Marshal(askID{Replica: a.self, N: n, Session: session})
	id = askIDPrefix + base64.RawURLEncoding.EncodeToString(a.sealer.SealBytes(askPurpose, plain))
	return id, ch, func() { a.mu.Lock(); delete(a.waiting, n); a.mu.Unlock() }, nil
}

// isAskID reports whether a JSON-RPC id is one this gateway sent.
func isAskID(raw json.RawMessage) bool {
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.HasPrefix(s, askIDPrefix)
}

// deliver hands the answer with request id raw, posted by a client of session, to the replica
// waiting for it: this one, or another by a forward.
func (a *asks) deliver(ctx context.Context, session string, raw json.RawMessage, ans clientAnswer) error {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return errNotWaiting
	}
	sealed, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, askIDPrefix))
	if err != nil {
		return errNotWaiting
	}
	plain, err := a.sealer.OpenBytes(askPurpose, sealed)
	var id askID
	if err != nil || json.Unmarshal(plain, &id) != nil || id.Session != session {
		return errNotWaiting // not ours, or another session's: the same answer, nothing leaks
	}
	if id.Replica == a.self {
		return a.local(id.N, session, ans)
	}
	return a.forward(ctx, id.Replica, forwarded{N: id.N, Session: session, Answer: ans})
}

func (a *asks) local(n uint64, session string, ans clientAnswer) error {
	a.mu.Lock()
	ch, ok := a.waiting[n]
	delete(a.waiting, n)
	a.mu.Unlock()
	if !ok {
		return errNotWaiting
	}
	ch <- ans // buffered, one answer per wait
	return nil
}

func (a *asks) forward(ctx context.Context, replica string, f forwarded) error {
	plain, _ := json.Marshal(f)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, peerURL(a.peerTLS, replica, answersPath),
		bytes.NewReader(a.sealer.SealBytes(forwardPurpose, plain)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("the replica waiting for this answer (%s) is unreachable: %w", replica, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode == http.StatusNotFound {
		return errNotWaiting
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the replica waiting for this answer (%s) refused it: HTTP %d", replica, resp.StatusCode)
	}
	return nil
}

// ServeHTTP is /internal/answers: an answer another replica got for a request this one sent.
// Only a body sealed with the session key is accepted.
func (a *asks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	sealed, err := io.ReadAll(io.LimitReader(r.Body, maxForwardBytes))
	if err != nil {
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return
	}
	plain, err := a.sealer.OpenBytes(forwardPurpose, sealed)
	var f forwarded
	if err != nil || json.Unmarshal(plain, &f) != nil {
		http.Error(w, "not sealed by a replica of this gateway", http.StatusForbidden)
		return
	}
	if err := a.local(f.N, f.Session, f.Answer); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
