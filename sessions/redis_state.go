package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"
)

// RedisState is State in Redis, shared by every replica. Keys carry the session id in a hash
// tag, so a Cluster keeps one session's keys on one node; each expires with its session.
//
// "Was this session ended?" is asked on every request, so its answers are kept here for a
// second (endedFor): a DELETE on any replica is published and marks the session ended on every
// replica at once; only a replica that missed that message (it was reconnecting) serves the
// session for up to that second more.
type RedisState struct {
	rdb     redis.UniversalClient
	timeout time.Duration

	mu    sync.Mutex
	ended *simplelru.LRU[string, endedAnswer]
	now   func() time.Time
}

type endedAnswer struct {
	ended bool
	until time.Time
}

// endedFor is how long an answer of Ended is reused.
const endedFor = time.Second

var _ State = (*RedisState)(nil)

// NewRedisState keeps state in rdb; timeout bounds each command.
func NewRedisState(rdb redis.UniversalClient, timeout time.Duration) *RedisState {
	lru, _ := simplelru.NewLRU[string, endedAnswer](100_000, nil)
	return &RedisState{rdb: rdb, timeout: timeout, ended: lru, now: time.Now}
}

const (
	keyPrefix      = "switchboard:session:{"
	updatesChannel = "switchboard:resources:updated"
	endedChannel   = "switchboard:sessions:ended"
)

// remember keeps an answer of Ended until until.
func (r *RedisState) remember(id string, ended bool, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended.Add(id, endedAnswer{ended: ended, until: until})
}

func key(id, what string) string { return keyPrefix + id + "}:" + what }

func (r *RedisState) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// ttl is how long a key of a session that expires then should live (at least a second).
func ttl(expires time.Time) time.Duration { return max(time.Until(expires), time.Second) }

func (r *RedisState) End(ctx context.Context, id string, expires time.Time) error {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key(id, "ended"), "1", ttl(expires))
		p.Del(ctx, key(id, "level"), key(id, "subs"))
		return nil
	})
	if err != nil {
		return err
	}
	r.remember(id, true, expires)
	// The session is ended in Redis already; the message only spares the others a second.
	return r.rdb.Publish(ctx, endedChannel, fmt.Sprintf("%d %s", expires.Unix(), id)).Err()
}

func (r *RedisState) Ended(ctx context.Context, id string) (bool, error) {
	r.mu.Lock()
	a, ok := r.ended.Get(id)
	r.mu.Unlock()
	if ok && r.now().Before(a.until) {
		return a.ended, nil
	}
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	n, err := r.rdb.Exists(ctx, key(id, "ended")).Result()
	if err != nil {
		return false, err
	}
	if n > 0 {
		// Ended for good: the key's TTL says until when; a second is enough to ask again.
		r.remember(id, true, r.now().Add(endedFor))
		return true, nil
	}
	r.remember(id, false, r.now().Add(endedFor))
	return false, nil
}

func (r *RedisState) SetLogLevel(ctx context.Context, id, level string, expires time.Time) error {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	return r.rdb.Set(ctx, key(id, "level"), level, ttl(expires)).Err()
}

func (r *RedisState) LogLevel(ctx context.Context, id string) (string, error) {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	level, err := r.rdb.Get(ctx, key(id, "level")).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return level, err
}

func (r *RedisState) Subscribe(ctx context.Context, id, uri string, expires time.Time) error {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	k := key(id, "subs")
	n, err := r.rdb.SCard(ctx, k).Result()
	if err != nil {
		return err
	}
	if n >= MaxSubscriptions {
		if member, err := r.rdb.SIsMember(ctx, k, uri).Result(); err != nil || !member {
			return errors.Join(ErrTooManySubscriptions, err)
		}
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, k, uri)
		p.Expire(ctx, k, ttl(expires))
		return nil
	})
	return err
}

func (r *RedisState) Unsubscribe(ctx context.Context, id, uri string) error {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	return r.rdb.SRem(ctx, key(id, "subs"), uri).Err()
}

func (r *RedisState) Subscribed(ctx context.Context, id, uri string) (bool, error) {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	return r.rdb.SIsMember(ctx, key(id, "subs"), uri).Result()
}

func (r *RedisState) PublishUpdate(ctx context.Context, uri string) error {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	return r.rdb.Publish(ctx, updatesChannel, uri).Err()
}

// Updates subscribes to the updates channel (and to ended sessions) until ctx ends; go-redis
// reconnects a broken subscription by itself, and a lost message is a missed notification (or
// an ended session served for up to a second more), never a failed call.
func (r *RedisState) Updates(ctx context.Context, fn func(uri string)) {
	sub := r.rdb.Subscribe(ctx, updatesChannel, endedChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			if msg.Channel == endedChannel {
				var unix int64
				var id string
				if _, err := fmt.Sscanf(msg.Payload, "%d %s", &unix, &id); err == nil {
					r.remember(id, true, time.Unix(unix, 0))
				}
				continue
			}
			fn(msg.Payload)
		}
	}
}
