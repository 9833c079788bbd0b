package upstream

import "testing"

func TestLineLoggerSplitsLines(t *testing.T) {
	t.Parallel()
	var got []string
	l := &lineLogger{log: nil}
	l.emit = func(line string) { got = append(got, line) }
	_, _ = l.Write([]byte("one\ntw"))
	_, _ = l.Write([]byte("o\nthree"))
	if len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("got %q", got)
	}
}
