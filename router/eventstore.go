package router

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/server"
)

// eventStore keeps the recent SSE events of each session so that a client can resume a stream
// (Last-Event-ID) and, as important here, so that mcp-go's Streamable HTTP server delivers the
// last notifications before a response instead of dropping them. Unlike mcp-go's in-memory
// store it is bounded: per session, the newest maxEvents events and at most maxBytes; older ones
// are forgotten (a resume from them fails cleanly with an unknown event id).
type eventStore struct {
	mu        sync.Mutex
	seq       int64
	sessions  map[string]*eventLog
	maxEvents int
	maxBytes  int
}

type eventLog struct {
	events []storedEvent
	bytes  int
}

type storedEvent struct {
	id, stream string
	message    json.RawMessage
}

var _ server.EventStore = (*eventStore)(nil)

func newEventStore(maxEvents, maxBytes int) *eventStore {
	return &eventStore{sessions: map[string]*eventLog{}, maxEvents: maxEvents, maxBytes: maxBytes}
}

func (s *eventStore) StoreEvent(_ context.Context, sessionID, streamID string, message json.RawMessage) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.sessions[sessionID]
	if log == nil {
		log = &eventLog{}
		s.sessions[sessionID] = log
	}
	s.seq++
	id := strconv.FormatInt(s.seq, 10)
	msg := append(json.RawMessage(nil), message...)
	log.events = append(log.events, storedEvent{id: id, stream: streamID, message: msg})
	log.bytes += len(msg)
	for len(log.events) > 1 && (len(log.events) > s.maxEvents || log.bytes > s.maxBytes) {
		log.bytes -= len(log.events[0].message)
		log.events[0] = storedEvent{}
		log.events = log.events[1:]
	}
	return id, nil
}

func (s *eventStore) ReplayEventsAfter(_ context.Context, sessionID, lastEventID string, send func(eventID string, message json.RawMessage) error) (string, error) {
	s.mu.Lock()
	var stream string
	var tail []storedEvent
	if log := s.sessions[sessionID]; log != nil {
		for i, ev := range log.events {
			if ev.id == lastEventID {
				stream = ev.stream
				for _, later := range log.events[i+1:] {
					if later.stream == stream {
						tail = append(tail, later)
					}
				}
				break
			}
		}
	}
	s.mu.Unlock()
	if stream == "" {
		return "", fmt.Errorf("%w: %s", server.ErrUnknownEventID, lastEventID)
	}
	for _, ev := range tail {
		if err := send(ev.id, ev.message); err != nil {
			return "", err
		}
	}
	return stream, nil
}

func (s *eventStore) PurgeSession(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sessionID)
	return nil
}
