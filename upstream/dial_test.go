package upstream

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

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

func TestCappedBodyAllowsExactlyMax(t *testing.T) {
	t.Parallel()
	read := func(body string, max int64) (string, error) {
		// OneByteReader makes the cap meet the body's end in every possible place.
		b := &cappedBody{ReadCloser: io.NopCloser(iotest.OneByteReader(strings.NewReader(body))), left: max, max: max}
		got, err := io.ReadAll(b)
		return string(got), err
	}
	if got, err := read("12345", 5); err != nil || got != "12345" {
		t.Errorf("a body of exactly the cap: %q, %v", got, err)
	}
	if got, err := read("123456", 5); !errors.Is(err, ErrResponseTooLarge) || got != "12345" {
		t.Errorf("a body one byte over the cap: %q, %v; want ErrResponseTooLarge", got, err)
	}
}
