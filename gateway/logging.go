package gateway

import (
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/telemetry"
)

// newLogger builds the gateway's log from the config, its lines batched by b.
func newLogger(c config.Log, b *logBuffer) *slog.Logger {
	var w io.Writer = b
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	h = flushOnWarn{h, b}
	return slog.New(middleware.LogHandler(h)) // request_id in every record logged with a request's context
}

// auditSinks returns the audit log's writers (none: the audit log is off) and how to close them.
func auditSinks(c config.Audit, stdout io.Writer) (io.Writer, func()) {
	var ws []io.Writer
	closeAll := func() {}
	if c.Stdout {
		ws = append(ws, stdout)
	}
	if c.File != "" {
		f := telemetry.RotatingFile(c.File, c.MaxSizeMB, c.MaxBackups)
		ws = append(ws, f)
		closeAll = func() { _ = f.Close() }
	}
	if len(ws) == 0 {
		return nil, closeAll
	}
	return io.MultiWriter(ws...), closeAll
}

// newRedis returns the gateway's one Redis client (cache, session state, limits), or nil when
// none is configured.
func newRedis(c *config.Redis) (redis.UniversalClient, error) {
	if c == nil {
		return nil, nil
	}
	opts, err := cache.RedisOptions(c)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

// newCache returns the response cache: in rdb when there is one, else in process.
func newCache(c config.Cache, rdb redis.UniversalClient, timeout time.Duration, log *slog.Logger) *cache.Cache {
	if rdb == nil {
		return cache.New(cache.NewMemory(c.MemoryBytes), 0, log) // in process: nothing to time out
	}
	return cache.New(cache.NewRedis(rdb), timeout, log)
}
