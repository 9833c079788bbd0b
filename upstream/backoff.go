package upstream

import (
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing waits between min and max, with jitter so that many
// instances failing together do not retry in lockstep.
type backoff struct {
	min, max time.Duration
	current  time.Duration
}

func (b *backoff) next() time.Duration {
	if b.current == 0 {
		b.current = b.min
	} else {
		b.current = min(b.current*2, b.max)
	}
	// Full jitter on the upper half: wait in [current/2, current).
	half := b.current / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.current = 0 }
