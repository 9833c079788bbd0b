package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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

// Rate is a number of events per unit of time, written "N/s", "N/m" or "N/h".
type Rate struct {
	// PerSecond is the rate in events per second.
	PerSecond float64
	// Text is the rate as written.
	Text string
}

// ParseRate parses "N/s", "N/m" or "N/h" with N a positive number.
func ParseRate(s string) (Rate, error) {
	n, unit, ok := strings.Cut(s, "/")
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
	v, err := strconv.ParseFloat(n, 64)
	if !ok || per == 0 || err != nil || v <= 0 {
		return Rate{}, fmt.Errorf("want a rate like \"20/s\", \"600/m\" or \"1000/h\", got %q", s)
	}
	return Rate{PerSecond: v / per, Text: s}, nil
}

func (r *Rate) parseScalar(s string) error {
	v, err := ParseRate(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}
