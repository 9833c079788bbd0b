package router

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/sessions"
)

// clientSession is what mcp-go's MCPServer sees of a 2025-11-25 client while one request of
// it is handled (or while its GET stream is open): the sealed ticket's contents, a channel for
// the notifications mcp-go sends, and the session state kept in sessions.State. It lives as
// long as that request; nothing of it stays behind.
type clientSession struct {
	ticket sessions.Ticket
	// key is what mcp-go registers a GET stream's session under: unique per stream, since one
	// session may hold several.
	key   string
	state sessions.State
	notes chan mcp.JSONRPCNotification
	// ask sends a server-to-client request on the response stream of the request being
	// handled; nil when there is none (a GET stream, a request that cannot stream).
	ask func(ctx context.Context, method string, params any) (json.RawMessage, error)
	// answered, once set, says where notifications go that arrive after the request was
	// answered (an upstream may write a call's last ones after its result): the session's GET
	// stream on this replica, or nowhere (nil: mcp-go then drops them).
	answered atomic.Pointer[func() chan<- mcp.JSONRPCNotification]

	mu        sync.Mutex
	level     mcp.LoggingLevel
	levelRead bool // level holds what the state had, or what this request set
}

var (
	_ server.SessionWithLogging         = (*clientSession)(nil)
	_ server.SessionWithClientInfo      = (*clientSession)(nil)
	_ server.SessionWithProtocolVersion = (*clientSession)(nil)
)

func newClientSession(t sessions.Ticket, state sessions.State) *clientSession {
	return &clientSession{ticket: t, key: t.ID, state: state, notes: make(chan mcp.JSONRPCNotification, 64)}
}

func (s *clientSession) SessionID() string { return s.key }
func (s *clientSession) Initialize()       {}
func (s *clientSession) Initialized() bool { return true }
func (s *clientSession) NotificationChannel() chan<- mcp.JSONRPCNotification {
	if later := s.answered.Load(); later != nil {
		return (*later)()
	}
	return s.notes
}

// stateContext bounds a state operation that mcp-go's interfaces give no context for.
func stateContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Second)
}

func (s *clientSession) expires() time.Time { return s.ticket.ExpiresAt() }

// SetLogLevel records logging/setLevel in session state, so the next request sees it on any
// replica. mcp-go answers success either way; a level that could not be stored is logged by
// the state's caller next time it is read (the session then gets every message, as if unset).
func (s *clientSession) SetLogLevel(level mcp.LoggingLevel) {
	ctx, cancel := stateContext()
	defer cancel()
	_ = s.state.SetLogLevel(ctx, s.ticket.ID, string(level), s.expires())
	s.mu.Lock()
	s.level, s.levelRead = level, true
	s.mu.Unlock()
}

// GetLogLevel is the level the client set, read once per request; a session that set none
// gets every message the upstream sends (the upstream applies its own default), which is what
// the client would get from the upstream itself.
func (s *clientSession) GetLogLevel() mcp.LoggingLevel {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.levelRead {
		ctx, cancel := stateContext()
		defer cancel()
		level, _ := s.state.LogLevel(ctx, s.ticket.ID)
		s.level, s.levelRead = mcp.LoggingLevel(level), true
	}
	if s.level == "" {
		return mcp.LoggingLevelDebug
	}
	return s.level
}

func (s *clientSession) ProtocolVersion() string { return s.ticket.Protocol }

func (s *clientSession) GetClientInfo() mcp.Implementation {
	var info mcp.Implementation
	_ = json.Unmarshal(s.ticket.ClientInfo, &info)
	return info
}

func (s *clientSession) SetClientInfo(mcp.Implementation) {} // sealed in the ticket at initialize

func (s *clientSession) GetClientCapabilities() mcp.ClientCapabilities {
	var caps mcp.ClientCapabilities
	_ = json.Unmarshal(s.ticket.Capabilities, &caps)
	return caps
}

func (s *clientSession) SetClientCapabilities(mcp.ClientCapabilities) {} // sealed in the ticket

// ticketFrom returns the ticket of the 2025-11-25 session whose request ctx is, if any.
func ticketFrom(ctx context.Context) (sessions.Ticket, bool) {
	if s, ok := server.ClientSessionFromContext(ctx).(*clientSession); ok {
		return s.ticket, true
	}
	return sessions.Ticket{}, false
}

// relay asks the client a server-to-client request an upstream sent during a call, on the
// call's response stream. Only what the client declared it supports is asked.
func (s *clientSession) relay(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	caps := s.GetClientCapabilities()
	var declared bool
	switch mcp.MCPMethod(method) {
	case mcp.MethodSamplingCreateMessage:
		declared = caps.Sampling != nil
	case mcp.MethodElicitationCreate:
		declared = caps.Elicitation != nil
	case mcp.MethodListRoots:
		declared = caps.Roots != nil
	default:
		return nil, fmt.Errorf("the gateway does not pass %s on to clients", method)
	}
	if !declared {
		return nil, fmt.Errorf("the client did not declare support for %s", method)
	}
	if s.ask == nil {
		return nil, fmt.Errorf("%s cannot be asked outside a request", method)
	}
	if len(params) == 0 {
		return s.ask(ctx, method, nil)
	}
	return s.ask(ctx, method, params)
}
