package cache

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"
)

// Memory is an in-process store bounded in bytes: when an entry would exceed the bound, the least
// recently used entries go first. Safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	order    *list.List // front: most recently used; values are *memEntry
	byKey    map[string]*list.Element
	now      func() time.Time
}

type memEntry struct {
	key     string
	value   []byte
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store holding at most maxBytes of keys and values.
func NewMemory(maxBytes int) *Memory {
	return &Memory{maxBytes: maxBytes, order: list.New(), byKey: map[string]*list.Element{}, now: time.Now}
}

// Get returns the value stored under key, if present and not expired.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byKey[key]
	if !ok {
		return nil, false, nil
	}
	e := el.Value.(*memEntry)
	if !m.now().Before(e.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.order.MoveToFront(el)
	return e.value, true, nil
}

// Set stores value under key for ttl. A value larger than the whole store is not stored.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	size := len(key) + len(value)
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byKey[key]; ok {
		m.remove(el)
	}
	if size > m.maxBytes {
		return nil
	}
	for m.bytes+size > m.maxBytes {
		m.remove(m.order.Back())
	}
	m.byKey[key] = m.order.PushFront(&memEntry{key: key, value: value, expires: m.now().Add(ttl)})
	m.bytes += size
	return nil
}

// DeletePrefix removes every entry whose key starts with prefix and returns how many.
func (m *Memory) DeletePrefix(_ context.Context, prefix string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for key, el := range m.byKey {
		if strings.HasPrefix(key, prefix) {
			m.remove(el)
			n++
		}
	}
	return n, nil
}

func (m *Memory) remove(el *list.Element) {
	e := el.Value.(*memEntry)
	m.order.Remove(el)
	delete(m.byKey, e.key)
	m.bytes -= len(e.key) + len(e.value)
}

// Bytes is the size of what the store holds.
func (m *Memory) Bytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}
