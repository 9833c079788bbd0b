package pinning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps pins in Redis, shared by every replica: one hash of pins and one of held
// changes, each field the JSON array [service, tool], each value the JSON of a Pin or a Change.
// The keys share a hash tag, so a Cluster keeps them on one node for the swap script. Nothing
// expires: a pin is meant to outlive every replica.
//
// A swap is a script that compares both fields with what the caller last saw and writes both,
// so the first pin of a tool lands only where none is (HSETNX's rule, checked together with the
// held change) and a replica that loses the race adopts the winner's definition. Every swap
// bumps a version key; those other than a first pin are also published, so the other replicas
// reload at once, and Watch polls the version in case a message was lost.
type RedisStore struct {
	rdb  redis.UniversalClient
	poll time.Duration
}

var (
	_ Store   = (*RedisStore)(nil)
	_ Watcher = (*RedisStore)(nil)
)

const (
	redisPinsKey    = "switchboard:{pins}"
	redisHeldKey    = "switchboard:{pins}:pending"
	redisVersionKey = "switchboard:{pins}:version"
	redisChannel    = "switchboard:pins:changed"
)

// NewRedisStore keeps pins in rdb. Watch polls the version every poll (zero: 5s) besides
// listening on the channel. Callers bound each command with their context.
func NewRedisStore(rdb redis.UniversalClient, poll time.Duration) *RedisStore {
	if poll <= 0 {
		poll = 5 * time.Second
	}
	return &RedisStore{rdb: rdb, poll: poll}
}

// swapScript: KEYS pins, pending, version; ARGV field, old pin, old held, new pin, new held
// ("" is absent). Returns {1|0, pin, held} with what is stored afterwards.
var swapScript = redis.NewScript(`
local p = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local h = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if p ~= ARGV[2] or h ~= ARGV[3] then
  return {0, p, h}
end
if ARGV[4] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[4]) end
if ARGV[5] == '' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[5]) end
redis.call('INCR', KEYS[3])
return {1, ARGV[4], ARGV[5]}
`)

func field(k Key) string {
	b, _ := json.Marshal([2]string{k.Service, k.Tool})
	return string(b)
}

func parseField(f string) (Key, error) {
	var a [2]string
	if err := json.Unmarshal([]byte(f), &a); err != nil {
		return Key{}, fmt.Errorf("field %q is not [service, tool]: %w", f, err)
	}
	return Key{Service: a[0], Tool: a[1]}, nil
}

// encode returns the stored forms of e's pin and held change ("" for absent). Entries decoded
// from the store encode back to the same bytes (defs are compacted, times UTC), which is what
// the swap script compares.
func encode(e Entry) (pin, held string, err error) {
	if e.Pin != nil {
		b, err := json.Marshal(e.Pin)
		if err != nil {
			return "", "", err
		}
		pin = string(b)
	}
	if e.Held != nil {
		b, err := json.Marshal(e.Held)
		if err != nil {
			return "", "", err
		}
		held = string(b)
	}
	return pin, held, nil
}

func decode(pin, held string) (Entry, error) {
	var e Entry
	if pin != "" {
		e.Pin = new(Pin)
		if err := json.Unmarshal([]byte(pin), e.Pin); err != nil {
			return Entry{}, fmt.Errorf("a pin: %w", err)
		}
	}
	if held != "" {
		e.Held = new(Change)
		if err := json.Unmarshal([]byte(held), e.Held); err != nil {
			return Entry{}, fmt.Errorf("a held change: %w", err)
		}
	}
	return e, nil
}

// Load reads both hashes. An entry that does not parse is an error naming it, not skipped:
// skipping it would trust the tool's next definition as a first sight.
func (s *RedisStore) Load(ctx context.Context) (map[Key]Entry, error) {
	var pins, held *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		pins = p.HGetAll(ctx, redisPinsKey)
		held = p.HGetAll(ctx, redisHeldKey)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading pins: %w", err)
	}
	raw := map[string][2]string{}
	for f, v := range pins.Val() {
		r := raw[f]
		r[0] = v
		raw[f] = r
	}
	for f, v := range held.Val() {
		r := raw[f]
		r[1] = v
		raw[f] = r
	}
	entries := make(map[Key]Entry, len(raw))
	for f, r := range raw {
		k, err := parseField(f)
		if err != nil {
			return nil, fmt.Errorf("loading pins: %w", err)
		}
		e, err := decode(r[0], r[1])
		if err == nil {
			err = checkEntry(k, e)
		}
		if err != nil {
			return nil, fmt.Errorf("loading pins: %s: %w", f, err)
		}
		entries[k] = e
	}
	return entries, nil
}

// Swap runs the swap script; see RedisStore.
func (s *RedisStore) Swap(ctx context.Context, k Key, old, next Entry) (Entry, bool, error) {
	oldPin, oldHeld, err := encode(old)
	if err != nil {
		return Entry{}, false, err
	}
	newPin, newHeld, err := encode(next)
	if err != nil {
		return Entry{}, false, err
	}
	f := field(k)
	res, err := swapScript.Run(ctx, s.rdb, []string{redisPinsKey, redisHeldKey, redisVersionKey},
		f, oldPin, oldHeld, newPin, newHeld).Slice()
	if err != nil {
		return Entry{}, false, fmt.Errorf("swapping the pin of %s/%s: %w", k.Service, k.Tool, err)
	}
	if len(res) != 3 {
		return Entry{}, false, fmt.Errorf("swapping the pin of %s/%s: unexpected reply %v", k.Service, k.Tool, res)
	}
	ok, _ := res[0].(int64)
	pin, _ := res[1].(string)
	held, _ := res[2].(string)
	cur, err := decode(pin, held)
	if err != nil {
		return Entry{}, false, fmt.Errorf("the stored pin of %s/%s: %w", k.Service, k.Tool, err)
	}
	if ok == 1 && !(old.empty() && next.Held == nil) {
		// Stored already; a lost message only delays the others until their next poll.
		_ = s.rdb.Publish(ctx, redisChannel, f).Err()
	}
	return cur, ok == 1, nil
}

// Watch listens on the channel and polls the version until ctx ends. go-redis reconnects the
// subscription by itself; a poll that fails is tried again at the next tick, and the first that
// succeeds after it signals, since messages may have been missed meanwhile.
func (s *RedisStore) Watch(ctx context.Context, changed func()) {
	sub := s.rdb.Subscribe(ctx, redisChannel)
	defer sub.Close()
	ch := sub.Channel()
	version := func() (string, error) {
		pctx, cancel := context.WithTimeout(ctx, s.poll)
		defer cancel()
		v, err := s.rdb.Get(pctx, redisVersionKey).Result()
		if errors.Is(err, redis.Nil) {
			return "", nil
		}
		return v, err
	}
	last, err := version()
	failed := err != nil
	changed()
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			changed()
		case <-tick.C:
			v, err := version()
			if err != nil {
				failed = true
				continue
			}
			if v != last || failed {
				last, failed = v, false
				changed()
			}
		}
	}
}
