package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/sessions"
)

// sessionOptions builds the sealed sessions of the 2025-11-25 era from cfg: the sealer, the
// session state (Redis when configured, else in process), and how refusals are audited.
func (g *Gateway) sessionOptions(cfg *config.Config, observer callrecord.Observer) (router.SessionOptions, error) {
	sealer, err := newSealer(cfg.Sessions)
	if err != nil {
		return router.SessionOptions{}, err
	}
	if cfg.Sessions.Key == "" && g.opts.stdio == nil { // a stdio client's session is never sealed
		g.log.Warn("sessions.key is not set: session ids are sealed with a random key of this process, so sessions will not survive a restart or move between replicas; set it (base64 of 32 bytes) on every replica")
	}
	var state sessions.State = sessions.NewMemoryState(cfg.Sessions.StateEntries)
	if g.redis != nil {
		state = sessions.NewRedisState(g.redis, redisTimeout(cfg))
	}
	self := cfg.Sessions.ReplicaAddress
	if self == "" && g.adminLn != nil { // stdio without admin_listen: no replica asks this one
		self = replicaAddress(g.adminLn.Addr())
	}
	return router.SessionOptions{
		Sealer:                 sealer,
		State:                  state,
		MaxAge:                 cfg.Sessions.MaxAge.D(),
		MaxStreamsPerPrincipal: cfg.Sessions.MaxStreamsPerPrincipal,
		ReplicaAddress:         self,
		PeerTLS:                g.peerTLS(),
		Principal:              principalFingerprint,
		Refused: func(ctx context.Context, reason string) {
			rec := refusalRecord(ctx, callrecord.OutcomeSessionRefused, reason)
			g.log.Warn("session id refused", "reason", reason, "subject", rec.Subject, "request_id", rec.RequestID)
			observer.ObserveCall(rec)
		},
	}, nil
}

// refusalRecord is the record of a request refused before it became a call.
func refusalRecord(ctx context.Context, outcome, reason string) callrecord.Record {
	rec := callrecord.Record{Time: time.Now(), Outcome: outcome, Reason: reason,
		RequestID: middleware.RequestIDFrom(ctx), Method: middleware.RPCMethodFrom(ctx)}
	if p := authn.PrincipalFrom(ctx); p != nil {
		rec.Subject, rec.ClientID = p.Subject, p.ClientID
	}
	return rec
}

// auditRefusal records a request authentication refused (401, 403), with the MCP method and
// the name it asked for (read from the body, which the envelope check kept); never the token.
func (g *Gateway) auditRefusal(r *http.Request, status int, reason string) {
	outcome := callrecord.OutcomeUnauthenticated
	if status == http.StatusForbidden {
		outcome = callrecord.OutcomeForbidden
	}
	rec := refusalRecord(r.Context(), outcome, reason)
	if r.Body != nil {
		var msg struct {
			Params struct {
				Name string `json:"name"`
				URI  string `json:"uri"`
			} `json:"params"`
		}
		if body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)); err == nil && json.Unmarshal(body, &msg) == nil {
			rec.Tool = cmp.Or(msg.Params.Name, msg.Params.URI)
		}
	}
	g.observer.ObserveCall(rec)
}

func newSealer(c config.Sessions) (*sessions.Sealer, error) {
	if c.Key == "" {
		return sessions.NewSealer(sessions.RandomKey())
	}
	key, err := config.DecodeSessionKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("sessions.key: %w", err)
	}
	var previous [][]byte
	for i, k := range c.PreviousKeys {
		b, err := config.DecodeSessionKey(k)
		if err != nil {
			return nil, fmt.Errorf("sessions.previous_keys[%d]: %w", i, err)
		}
		previous = append(previous, b)
	}
	return sessions.NewSealer(key, previous...)
}

// principalFingerprint names the request's principal for session binding: issuer and subject
// of the token, or anonymous when authentication is off.
func principalFingerprint(ctx context.Context) string {
	if p := authn.PrincipalFrom(ctx); p != nil {
		return sessions.Fingerprint(p.Issuer, p.Subject)
	}
	return sessions.Anonymous
}

// replicaAddress is where the other replicas reach this one's admin listener: its address,
// with an unspecified host (0.0.0.0, ::) replaced by this host's first non-loopback address.
func replicaAddress(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return net.JoinHostPort(ipn.IP.String(), fmt.Sprint(tcp.Port))
			}
		}
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
