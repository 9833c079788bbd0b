package pinning

import (
	"fmt"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	t.Parallel()
	lines := func(n int, change map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if s, ok := change[i]; ok {
				if s != "" {
					b.WriteString(s + "\n")
				}
				continue
			}
			fmt.Fprintf(&b, "line %d\n", i)
		}
		return b.String()
	}
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{"equal", lines(5, nil), lines(5, nil), ""},
		{"one line changed, context of three", lines(10, nil), lines(10, map[int]string{5: "line five"}),
			"--- a\n+++ b\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n"},
		{"from nothing", "", "x\ny\n", "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n"},
		{"a line removed at the start", lines(3, nil), lines(3, map[int]string{1: ""}),
			"--- a\n+++ b\n@@ -1,3 +1,2 @@\n-line 1\n line 2\n line 3\n"},
		{"two changes far apart are two hunks", lines(20, nil), lines(20, map[int]string{2: "two", 18: "eighteen"}),
			"--- a\n+++ b\n@@ -1,5 +1,5 @@\n line 1\n-line 2\n+two\n line 3\n line 4\n line 5\n" +
				"@@ -15,6 +15,6 @@\n line 15\n line 16\n line 17\n-line 18\n+eighteen\n line 19\n line 20\n"},
		{"two changes close together are one hunk", lines(12, nil), lines(12, map[int]string{3: "three", 9: "nine"}),
			"--- a\n+++ b\n@@ -1,12 +1,12 @@\n line 1\n line 2\n-line 3\n+three\n line 4\n line 5\n line 6\n line 7\n line 8\n-line 9\n+nine\n line 10\n line 11\n line 12\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := unifiedDiff("a", "b", tc.a, tc.b); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestUnifiedDiffIsBounded(t *testing.T) {
	t.Parallel()
	// Two large definitions with nothing in common: no LCS table of 4e8 cells, a cut text.
	var a, b strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&a, "old line %d with some words on it\n", i)
		fmt.Fprintf(&b, "new line %d with some words on it\n", i)
	}
	d := unifiedDiff("pinned", "held", a.String(), b.String())
	if len(d) > maxDiffBytes+100 || !strings.HasSuffix(d, "(diff cut at 32 KiB)\n") {
		t.Errorf("diff of %d bytes ending %q", len(d), d[max(0, len(d)-60):])
	}
	if !strings.HasPrefix(d, "--- pinned\n+++ held\n@@ ") || !strings.Contains(d, "\n-old line 0 ") {
		t.Errorf("diff starts %q", d[:200])
	}
}
