package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
)

// Rate is a number of events per unit of time, written "N/s", "N/m" or "N/h". The zero Rate
// means none was set.
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
