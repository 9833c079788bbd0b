package telemetry

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/switchboard-mcp/switchboard/callrecord"
)

// Audit writes one JSON line per call: time, principal subject and client, session, exposed
// tool, upstream instance, outcome, duration, cache hit, and a hash of the arguments. Never an
// argument value, a result or a token. Safe for concurrent use.
type Audit struct {
	mu  sync.Mutex
	out io.Writer
}

var _ callrecord.Observer = (*Audit)(nil)

// NewAudit returns an audit log writing to out.
func NewAudit(out io.Writer) *Audit { return &Audit{out: out} }

// RotatingFile is an audit sink on disk, rotated at maxMB megabytes, keeping maxBackups old
// files (lumberjack: a well-kept rotating writer).
func RotatingFile(path string, maxMB, maxBackups int) io.WriteCloser {
	return &lumberjack.Logger{Filename: path, MaxSize: maxMB, MaxBackups: maxBackups}
}

type auditLine struct {
	Time       string  `json:"time"`
	Subject    string  `json:"subject,omitempty"`
	Client     string  `json:"client,omitempty"`
	Session    string  `json:"session,omitempty"`
	RequestID  string  `json:"request_id,omitempty"`
	Method     string  `json:"method,omitempty"`
	Tool       string  `json:"tool"`
	Upstream   string  `json:"upstream,omitempty"`
	Instance   string  `json:"instance,omitempty"`
	Outcome    string  `json:"outcome"`
	DurationMs float64 `json:"duration_ms"`
	CacheHit   bool    `json:"cache_hit"`
	ArgsHash   string  `json:"args_sha256,omitempty"`
	Reason     string  `json:"reason,omitempty"`
}

// ObserveCall writes the call's line.
func (a *Audit) ObserveCall(c callrecord.Record) {
	line, _ := json.Marshal(auditLine{
		Time: c.Time.UTC().Format(time.RFC3339Nano), Subject: c.Subject, Client: c.ClientID, Session: c.Session, RequestID: c.RequestID,
		Method: c.Method, Tool: c.Tool, Upstream: c.Upstream, Instance: c.Instance, Outcome: c.Outcome,
		DurationMs: float64(c.Duration.Microseconds()) / 1000, CacheHit: c.CacheHit, ArgsHash: c.ArgsHash(),
		Reason: c.Reason,
	})
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.out.Write(line)
}

// Observers fans a call out to several observers.
type Observers []callrecord.Observer

// ObserveCall tells every observer.
func (os Observers) ObserveCall(c callrecord.Record) {
	for _, o := range os {
		o.ObserveCall(c)
	}
}
