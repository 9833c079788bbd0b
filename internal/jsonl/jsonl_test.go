package jsonl

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReaderBoundsLinesAndGoesOn(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200_000) // longer than the reader's buffer too
	in := "{\"a\":1}\r\n\n   \n" + long + "\n{\"b\":2}\n" + strings.Repeat("y", 10) + "\n{\"c\":3}"
	r := NewReader(strings.NewReader(in), 10)
	type step struct {
		line string
		err  error
	}
	want := []step{{`{"a":1}`, nil}, {"", ErrTooLong}, {`{"b":2}`, nil}, {strings.Repeat("y", 10), nil}, {`{"c":3}`, nil}, {"", io.EOF}}
	for i, w := range want {
		line, err := r.Next()
		if string(line) != w.line || !errors.Is(err, w.err) {
			t.Fatalf("step %d: got %q, %v; want %q, %v", i, line, err, w.line, w.err)
		}
	}
}

func TestReaderTooLongLastLine(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader(strings.Repeat("z", 100)), 10)
	if _, err := r.Next(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("then got %v, want EOF", err)
	}
}

func TestLineKeepsBlankLines(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("event: message\r\ndata: {}\n\n: c"), 100)
	for i, want := range []string{"event: message", "data: {}", "", ": c"} {
		line, err := r.Line()
		if err != nil || string(line) != want {
			t.Fatalf("line %d: got %q, %v; want %q", i, line, err, want)
		}
	}
	if _, err := r.Line(); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want EOF", err)
	}
}
