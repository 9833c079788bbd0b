package sessions

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisState is State in Redis, shared by every replica. Keys carry the session id in a hash
// tag, so a Cluster keeps one session's keys on one node; each expires with its session.
type RedisState struct {
	rdb     redis.UniversalClient
	timeout time.Duration
}

var _ State = (*RedisState)(nil)

// NewRedisState keeps state in rdb; timeout bounds each command.
func NewRedisState(rdb redis.UniversalClient, timeout time.Duration) *RedisState {
	return &RedisState{rdb: rdb, timeout: timeout}
}

const (
	keyPrefix      = "switchboard:session:{"
	updatesChannel = "switchboard:resources:updated"
)

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
	return err
}

func (r *RedisState) Ended(ctx context.Context, id string) (bool, error) {
	ctx, cancel := r.bounded(ctx)
	defer cancel()
	n, err := r.rdb.Exists(ctx, key(id, "ended")).Result()
	return n > 0, err
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

// Updates subscribes to the updates channel until ctx ends; go-redis reconnects a broken
// subscription by itself, and a lost message is a missed notification, never a failed call.
func (r *RedisState) Updates(ctx context.Context, fn func(uri string)) {
	sub := r.rdb.Subscribe(ctx, updatesChannel)
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
			fn(msg.Payload)
		}
	}
}
