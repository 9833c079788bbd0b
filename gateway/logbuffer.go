package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBuffer batches log lines on their way to w: they are written out every flushEvery, at once
// for a warning or worse (flushOnWarn), when 64 KiB are waiting, and on Close. Unbatched, the
// access log's line per request is a write to stderr per request, a few percent of a call's CPU
// (docs/BENCHMARKS.md); proxies batch theirs the same way (Envoy flushes its access log once a
// second). What a crash can lose is the last flushEvery of info lines; warnings and errors are
// already out.
type logBuffer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closed bool // lines are written out at once
	stop   chan struct{}
	done   chan struct{}
}

const flushEvery = 100 * time.Millisecond

func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushLoop()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil && b.closed {
		err = b.w.Flush()
	}
	return n, err
}

// Flush writes out what is waiting.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

func (b *logBuffer) flushLoop() {
	defer close(b.done)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			b.Flush()
			return
		case <-tick.C:
			b.Flush()
		}
	}
}

// Close flushes and stops the flushing; later lines are written out at once.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	_ = b.w.Flush()
}

// flushOnWarn passes records on to h, and flushes b after each warning or worse, so those are
// out at once.
type flushOnWarn struct {
	slog.Handler
	b *logBuffer
}

func (f flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		f.b.Flush()
	}
	return err
}

func (f flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{f.Handler.WithAttrs(attrs), f.b}
}

func (f flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{f.Handler.WithGroup(name), f.b}
}
