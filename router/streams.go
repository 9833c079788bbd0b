package router

import (
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// streams are the GET streams open on this replica: the only per-session memory the gateway
// keeps, and bounded (per principal, oldest closed first). Unsolicited notifications reach
// clients through them: list_changed by mcp-go's broadcast to registered sessions, resource
// updates by ResourceUpdated.
type streams struct {
	perPrincipal int

	mu          sync.Mutex
	byPrincipal map[string][]*stream // by owner, oldest first
	closed      bool                 // draining: no stream opens, every open one is closed
}

// stream is one open GET stream.
type stream struct {
	session *clientSession
	owner   string        // whose cap it counts against
	done    chan struct{} // closed to end the stream (cap reached, draining)
	once    sync.Once
}

func (s *stream) end() { s.once.Do(func() { close(s.done) }) }

func newStreams(perPrincipal int) *streams {
	return &streams{perPrincipal: max(perPrincipal, 1), byPrincipal: map[string][]*stream{}}
}

// open adds a stream of session owned by owner (the principal; for anonymous callers their
// address), ending the owner's oldest when it has too many. It returns nil while draining.
func (t *streams) open(session *clientSession, owner string) *stream {
	st := &stream{session: session, owner: owner, done: make(chan struct{})}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	p := owner
	list := append(t.byPrincipal[p], st)
	for len(list) > t.perPrincipal {
		list[0].end()
		list = list[1:]
	}
	t.byPrincipal[p] = list
	return st
}

// close removes st (its handler returned).
func (t *streams) close(st *stream) {
	st.end()
	t.mu.Lock()
	defer t.mu.Unlock()
	p := st.owner
	list := t.byPrincipal[p]
	for i, s := range list {
		if s == st {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(t.byPrincipal, p)
	} else {
		t.byPrincipal[p] = list
	}
}

// endSession ends every stream of the session id (it was deleted).
func (t *streams) endSession(id string) {
	t.each(func(st *stream) {
		if st.session.ticket.ID == id {
			st.end()
		}
	})
}

// notesOf returns where to send a notification for session id: its newest stream here, or nil.
func (t *streams) notesOf(id string) chan<- mcp.JSONRPCNotification {
	t.mu.Lock()
	defer t.mu.Unlock()
	var newest *stream
	for _, list := range t.byPrincipal {
		for _, st := range list {
			if st.session.ticket.ID == id {
				newest = st
			}
		}
	}
	if newest == nil {
		return nil
	}
	return newest.session.notes
}

// closeAll ends every stream and refuses new ones, so clients reconnect to another replica.
func (t *streams) closeAll() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.each((*stream).end)
}

// each calls fn for every open stream, outside the lock.
func (t *streams) each(fn func(*stream)) {
	t.mu.Lock()
	var all []*stream
	for _, list := range t.byPrincipal {
		all = append(all, list...)
	}
	t.mu.Unlock()
	for _, st := range all {
		fn(st)
	}
}

// len is the number of open streams.
func (t *streams) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, list := range t.byPrincipal {
		n += len(list)
	}
	return n
}
