package backoff

import (
	"testing"
	"time"
)

func TestBackoffGrowsToItsCapAndResets(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	var last time.Duration
	for i := range 10 {
		d := b.Next()
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
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}
