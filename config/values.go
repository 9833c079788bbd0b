package config

import (
	"fmt"
	"time"

	"github.com/switchboard-mcp/switchboard/ratelimit"
)

// Duration is a Go duration written as a string ("30s", "1m30s"). It must be positive.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) parseScalar(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("want a positive duration like \"30s\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// Rate is a rate limit as the config writes it: "N/s", "N/m" or "N/h".
type Rate struct{ ratelimit.Rate }

// ParseRate parses "N/s", "N/m" or "N/h" with N a positive number.
func ParseRate(s string) (Rate, error) {
	r, err := ratelimit.ParseRate(s)
	return Rate{r}, err
}

func (r *Rate) parseScalar(s string) error {
	v, err := ParseRate(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}
