package admin

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ago says how long ago t was, in the largest unit that fits ("3m ago"); "never" for zero.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// clock is t as the console prints it before its script says how long ago it was.
func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// pct is a ratio as a percentage with one decimal.
func pct(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }

// rate is a per-second figure with two significant decimals.
func rate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// Sparkline geometry: a viewBox of sparkWidth by sparkHeight, one point per sample interval.
const (
	sparkWidth  = 300
	sparkHeight = 40
)

// spark is the points attribute of an SVG polyline of values scaled to top (the largest value
// of the chart), the newest at the right edge; "" without values. Numbers only.
func spark(values []float64, top float64) string {
	if len(values) == 0 {
		return ""
	}
	step := float64(sparkWidth) / float64(sampleKeep-2)
	var b strings.Builder
	x0 := float64(sparkWidth) - step*float64(len(values)-1)
	for i, v := range values {
		y := float64(sparkHeight - 1)
		if top > 0 {
			y -= v / top * (sparkHeight - 2)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x0+step*float64(i), y)
	}
	return b.String()
}
