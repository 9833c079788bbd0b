package gateway

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogBufferBatchesInfoAndFlushesWarnings(t *testing.T) {
	out := &syncLog{}
	b := newLogBuffer(out)
	log := slog.New(flushOnWarn{slog.NewTextHandler(b, nil), b})

	log.Info("an access line")
	log.Warn("a warning")
	if got := out.String(); !strings.Contains(got, "an access line") || !strings.Contains(got, "a warning") {
		t.Fatalf("after a warning, written: %q; want both lines at once", got)
	}
	log.Info("a later line")
	deadline := time.Now().Add(10 * flushEvery)
	for !strings.Contains(out.String(), "a later line") {
		if time.Now().After(deadline) {
			t.Fatalf("an info line not written within %v: %q", 10*flushEvery, out.String())
		}
		time.Sleep(flushEvery / 4)
	}
	b.Close()
	log.Info("after close")
	if !strings.Contains(out.String(), "after close") {
		t.Errorf("a line after Close was not written at once: %q", out.String())
	}
}
