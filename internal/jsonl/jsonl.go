// Package jsonl reads and writes newline-delimited JSON-RPC messages, the framing of MCP's stdio
// transport: one message per line, each line bounded.
package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
)

// ErrTooLong is returned by Reader.Next for a line over the bound; the line was read to its end
// and dropped, so the next call reads the next line.
var ErrTooLong = errors.New("message over the size limit")

// Reader reads lines of at most max bytes (without the newline). Not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	max int
}

// NewReader reads lines from r, each at most max bytes.
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next line that is not blank, without its line ending, in a new slice. At the
// end of the input it returns io.EOF (a last line without a newline is returned first); for a line
// over the bound, ErrTooLong; a read error otherwise.
func (r *Reader) Next() ([]byte, error) {
	for {
		line, err := r.line()
		if err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)) {
			return nil, err
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Line returns the next line, blank or not, without its line ending ("\n" or "\r\n"), in a new
// slice: what a line-oriented format such as Server-Sent Events needs. Errors are Next's.
func (r *Reader) Line() ([]byte, error) {
	line, err := r.line()
	if err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// line reads up to the next newline, dropping what is beyond the bound.
func (r *Reader) line() ([]byte, error) {
	var out []byte
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			if len(out)+len(chunk) > r.max+2 { // the bound plus "\r\n"
				tooLong, out = true, nil
			} else {
				out = append(out, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case tooLong && (err == nil || errors.Is(err, io.EOF)):
			return nil, ErrTooLong
		case err != nil:
			return out, err
		}
		return out, nil
	}
}

// Writer writes one message per line; Write may be called concurrently, and each message is
// written whole with one Write of the underlying writer, so lines never interleave.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter writes lines to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes msg, which must hold no newline (compact JSON), and a newline.
func (w *Writer) Write(msg []byte) error {
	line := make([]byte, 0, len(msg)+1)
	line = append(append(line, msg...), '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.w.Write(line)
	return err
}

// Read is one result of Next, as Lines delivers it.
type Read struct {
	Line []byte
	Err  error
}

// Lines reads r in a goroutine of its own and delivers each Next on the channel, until a read
// fails for good (ErrTooLong is not: the next line is read after it) or ctx ends. A read blocks
// in the kernel, so the goroutine ends with the next line or the end of the input.
func Lines(ctx context.Context, r *Reader) <-chan Read {
	out := make(chan Read)
	go func() {
		for {
			line, err := r.Next()
			select {
			case out <- Read{line, err}:
			case <-ctx.Done():
				return
			}
			if err != nil && !errors.Is(err, ErrTooLong) {
				return
			}
		}
	}()
	return out
}
