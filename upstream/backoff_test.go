package upstream

import (
	"testing"
	"time"
)

func TestBackoffGrowsToItsCapAndResets(t *testing.T) {
	t.Parallel()
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	var last time.Duration
	for i := range 10 {
		d := b.next()
		if d < b.current/2 || d > b.current {
			t.Fatalf("step %d: wait %v outside [%v, %v]", i, d, b.current/2, b.current)
		}
		if b.current > time.Second {
			t.Fatalf("step %d: %v over the cap", i, b.current)
		}
		last = b.current
	}
	if last != time.Second {
		t.Errorf("after 10 steps the back-off is %v, want the cap", last)
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}

func TestLineLoggerSplitsLines(t *testing.T) {
	t.Parallel()
	var got []string
	l := &lineLogger{log: nil}
	l.emit = func(line string) { got = append(got, line) }
	_, _ = l.Write([]byte("one\ntw"))
	_, _ = l.Write([]byte("o\nthree"))
	if len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("got %q", got)
	}
}
