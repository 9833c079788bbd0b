package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a store in Redis: standalone, Sentinel or Cluster, whichever the client is.
type Redis struct {
	client redis.UniversalClient
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store using client.
func NewRedis(client redis.UniversalClient) *Redis { return &Redis{client: client} }

// Get returns the value stored under key.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := r.client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Set stores value under key for ttl.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return r.client.Set(ctx, key, value, ttl).Err()
}

// DeletePrefix removes every key starting with prefix (SCAN and UNLINK, on every master of a
// cluster) and returns how many. prefix must not contain glob characters; keys built by Key
// never do.
func (r *Redis) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	var count atomic.Int64
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			n, err := c.Unlink(ctx, batch...).Result()
			count.Add(n)
			batch = batch[:0]
			return err
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	}
	switch c := r.client.(type) {
	case *redis.ClusterClient:
		err := c.ForEachMaster(ctx, scan)
		return int(count.Load()), err
	case *redis.Client:
		err := scan(ctx, c)
		return int(count.Load()), err
	default:
		return 0, errors.New("purge needs a standalone, sentinel or cluster client")
	}
}
