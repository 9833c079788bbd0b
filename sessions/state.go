package sessions

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// State is what changes during a session, kept where every replica sees it: Redis when the
// gateway has one (RedisState), else a bounded table in this process (MemoryState). Every entry
// lives until the session's expiry and no longer.
type State interface {
	// End records that the session ended (DELETE), until it would have expired.
	End(ctx context.Context, id string, expires time.Time) error
	// Ended reports whether the session was ended.
	Ended(ctx context.Context, id string) (bool, error)
	// SetLogLevel records the level the client set with logging/setLevel.
	SetLogLevel(ctx context.Context, id, level string, expires time.Time) error
	// LogLevel is the level the client set, or "" when it set none.
	LogLevel(ctx context.Context, id string) (string, error)
	// Subscribe and Unsubscribe record the client's resource subscriptions.
	Subscribe(ctx context.Context, id, uri string, expires time.Time) error
	Unsubscribe(ctx context.Context, id, uri string) error
	// Subscribed reports whether the session is subscribed to uri.
	Subscribed(ctx context.Context, id, uri string) (bool, error)
	// PublishUpdate tells every replica (this one too) that the resource uri changed.
	PublishUpdate(ctx context.Context, uri string) error
	// Updates calls fn with each published uri until ctx ends.
	Updates(ctx context.Context, fn func(uri string))
}

// MaxSubscriptions bounds the resource subscriptions of one session.
const MaxSubscriptions = 1024

// ErrTooManySubscriptions refuses a subscription beyond MaxSubscriptions.
var ErrTooManySubscriptions = errors.New("too many resource subscriptions in this session")

// MemoryState is State in this process, for a gateway without Redis: at most a fixed number of
// sessions' state, the least recently used dropped first (its log level and subscriptions are
// forgotten; an ended session would be served again, which is why a fleet wants Redis).
type MemoryState struct {
	mu          sync.Mutex
	sessions    *simplelru.LRU[string, *memoryEntry]
	now         func() time.Time
	handlers    map[int]func(string) // by registration, for Updates to remove its own
	nextHandler int
}

type memoryEntry struct {
	expires time.Time
	ended   bool
	level   string
	subs    map[string]struct{}
}

var _ State = (*MemoryState)(nil)

// NewMemoryState keeps the state of at most entries sessions.
func NewMemoryState(entries int) *MemoryState {
	lru, _ := simplelru.NewLRU[string, *memoryEntry](max(entries, 1), nil)
	return &MemoryState{sessions: lru, now: time.Now}
}

// entry returns id's entry, making one that lives until expires when create is set; nil when
// there is none (or it expired).
func (m *MemoryState) entry(id string, expires time.Time, create bool) *memoryEntry {
	e, ok := m.sessions.Get(id)
	if ok && !m.now().Before(e.expires) {
		m.sessions.Remove(id)
		ok = false
	}
	if !ok {
		if !create {
			return nil
		}
		e = &memoryEntry{expires: expires}
		m.sessions.Add(id, e)
	}
	return e
}

func (m *MemoryState) End(_ context.Context, id string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(id, expires, true)
	e.ended, e.level, e.subs = true, "", nil
	return nil
}

func (m *MemoryState) Ended(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(id, time.Time{}, false)
	return e != nil && e.ended, nil
}

func (m *MemoryState) SetLogLevel(_ context.Context, id, level string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entry(id, expires, true).level = level
	return nil
}

func (m *MemoryState) LogLevel(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entry(id, time.Time{}, false); e != nil {
		return e.level, nil
	}
	return "", nil
}

func (m *MemoryState) Subscribe(_ context.Context, id, uri string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(id, expires, true)
	if e.subs == nil {
		e.subs = map[string]struct{}{}
	}
	if _, ok := e.subs[uri]; !ok && len(e.subs) >= MaxSubscriptions {
		return ErrTooManySubscriptions
	}
	e.subs[uri] = struct{}{}
	return nil
}

func (m *MemoryState) Unsubscribe(_ context.Context, id, uri string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entry(id, time.Time{}, false); e != nil {
		delete(e.subs, uri)
	}
	return nil
}

func (m *MemoryState) Subscribed(_ context.Context, id, uri string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(id, time.Time{}, false)
	if e == nil {
		return false, nil
	}
	_, ok := e.subs[uri]
	return ok, nil
}

func (m *MemoryState) PublishUpdate(_ context.Context, uri string) error {
	m.mu.Lock()
	handlers := make([]func(string), 0, len(m.handlers))
	for _, fn := range m.handlers {
		handlers = append(handlers, fn)
	}
	m.mu.Unlock()
	for _, fn := range handlers {
		fn(uri)
	}
	return nil
}

func (m *MemoryState) Updates(ctx context.Context, fn func(uri string)) {
	m.mu.Lock()
	m.nextHandler++
	id := m.nextHandler
	if m.handlers == nil {
		m.handlers = map[int]func(string){}
	}
	m.handlers[id] = fn
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock() // a loop that ends (and is started again) leaves no handler behind
	delete(m.handlers, id)
	m.mu.Unlock()
}

// Len is the number of sessions with state.
func (m *MemoryState) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions.Len()
}
