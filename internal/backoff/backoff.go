// Package backoff computes capped exponential waits with jitter between retries.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields exponentially growing waits between Min and Max, with jitter so that many
// clients failing together do not retry in lockstep. The zero value needs Min and Max set; it is
// not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	current  time.Duration
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	if b.current == 0 {
		b.current = b.Min
	} else {
		b.current = min(b.current*2, b.Max)
	}
	// Full jitter on the upper half: wait in [current/2, current).
	half := b.current / 2
	return half + rand.N(half+1)
}

// Reset starts over from Min.
func (b *Backoff) Reset() { b.current = 0 }
