package cache

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-mcp/switchboard/config"
)

// RedisOptions turns the config into go-redis options: one address is a standalone server,
// several are a Cluster, several with a master name are Sentinels. Timeouts are short and
// retries off: the cache must fail fast and open, never hold a call.
func RedisOptions(c *config.Redis) (*redis.UniversalOptions, error) {
	o := &redis.UniversalOptions{
		Addrs:        c.Addresses,
		MasterName:   c.MasterName,
		Username:     c.Username,
		Password:     c.Password,
		DB:           c.DB,
		DialTimeout:  2 * c.Timeout.D(),
		ReadTimeout:  c.Timeout.D(),
		WriteTimeout: c.Timeout.D(),
		PoolTimeout:  c.Timeout.D(),
		MaxRetries:   -1, // no retries
	}
	if c.Address != "" {
		o.Addrs = []string{c.Address}
	}
	if c.TLS != nil {
		t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading cache.redis.tls.ca_file: %w", err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("cache.redis.tls.ca_file holds no PEM certificate")
			}
		}
		o.TLSConfig = t
	}
	return o, nil
}
