package pinning

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// FileStore keeps pins in one JSON file, for a single replica without Redis. The file is read
// once, by OpenFile, and rewritten whole on each change: to a temporary file in the same
// directory, synced, then renamed over the old one, so a crash leaves the old file or the new
// one, never half of one. First pins (a tool seen for the first time) are written in batches
// within 100 ms, so a first catalog of a thousand tools is one write, not a thousand; every
// other change (a held change, an approval, a rejection, a warn-mode re-pin) is on disk before
// Swap returns.
type FileStore struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	entries map[Key]Entry
	timer   *time.Timer // a batched write is due; nil: none
	closed  bool
}

var _ Store = (*FileStore)(nil)

// batchDelay is how long first pins wait to be written together.
const batchDelay = 100 * time.Millisecond

// fileVersion is the format of the file; another is refused.
const fileVersion = 1

type fileBody struct {
	Version int         `json:"version"`
	Tools   []fileEntry `json:"tools"`
}

type fileEntry struct {
	Service string  `json:"service"`
	Tool    string  `json:"tool"`
	Pin     *Pin    `json:"pin,omitempty"`
	Held    *Change `json:"held,omitempty"`
}

// OpenFile reads the pins in path. A missing file is an empty store (the file is created at the
// first write; its directory must exist); a file that cannot be read or parsed is an error, never
// silently an empty store, since that would trust every definition again. log, if nil, is
// slog.Default(); it receives failures of batched writes.
func OpenFile(path string, log *slog.Logger) (*FileStore, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &FileStore{path: path, log: log, entries: map[Key]Entry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pins: %w", err)
	}
	if f.entries, err = decodeFile(b); err != nil {
		return nil, fmt.Errorf("reading pins from %s: %w", path, err)
	}
	return f, nil
}

func decodeFile(b []byte) (map[Key]Entry, error) {
	var body fileBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("not a pins file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a pins file: data after the JSON value")
	}
	if body.Version != fileVersion {
		return nil, fmt.Errorf("pins file version %d, want %d", body.Version, fileVersion)
	}
	entries := make(map[Key]Entry, len(body.Tools))
	for i, t := range body.Tools {
		k := Key{Service: t.Service, Tool: t.Tool}
		e := Entry{Pin: t.Pin, Held: t.Held}
		if err := checkEntry(k, e); err != nil {
			return nil, fmt.Errorf("tools[%d]: %w", i, err)
		}
		if _, dup := entries[k]; dup {
			return nil, fmt.Errorf("tools[%d]: %s/%s twice", i, k.Service, k.Tool)
		}
		entries[k] = e
	}
	return entries, nil
}

// checkEntry refuses an entry that could not have been written by Pins.
func checkEntry(k Key, e Entry) error {
	switch {
	case k.Tool == "":
		return errors.New("no tool name")
	case e.empty():
		return errors.New("neither pin nor held change")
	case e.Pin != nil && (e.Pin.Hash == "" || len(e.Pin.Def) == 0):
		return errors.New("a pin without hash or definition")
	case e.Held != nil && (e.Held.Hash == "" || len(e.Held.Def) == 0 ||
		(e.Held.Kind != KindChanged && e.Held.Kind != KindNew)):
		return errors.New("a held change without hash, definition or kind")
	}
	return nil
}

// Load returns a copy of the entries.
func (f *FileStore) Load(context.Context) (map[Key]Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.entries), nil
}

// Swap replaces k's entry if it is old, and writes the file (first pins within 100 ms). A
// failed write leaves the entry as it was and returns the error.
func (f *FileStore) Swap(_ context.Context, k Key, old, next Entry) (Entry, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.entries[k]
	if !same(cur, old) {
		return cur, false, nil
	}
	f.entries[k] = next
	if old.empty() && next.Held == nil && !f.closed {
		if f.timer == nil {
			f.timer = time.AfterFunc(batchDelay, f.flushBatch)
		}
		return next, true, nil
	}
	if err := f.write(); err != nil {
		if old.empty() {
			delete(f.entries, k)
		} else {
			f.entries[k] = cur
		}
		return cur, false, err
	}
	return next, true, nil
}

// flushBatch writes the batched first pins; on failure it tries again later.
func (f *FileStore) flushBatch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer == nil {
		return // written meanwhile
	}
	f.timer = nil
	if err := f.write(); err != nil {
		f.log.Error("writing pins file; retrying", "error", err)
		if !f.closed {
			f.timer = time.AfterFunc(5*time.Second, f.flushBatch)
		}
	}
}

// Close writes any batched first pins; later first pins are written at once.
func (f *FileStore) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.timer == nil {
		return nil
	}
	f.timer.Stop()
	f.timer = nil
	return f.write()
}

// write replaces the file with the entries; f.mu is held. Any batched write is included.
func (f *FileStore) write() error {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	body := fileBody{Version: fileVersion, Tools: make([]fileEntry, 0, len(f.entries))}
	for k, e := range f.entries {
		body.Tools = append(body.Tools, fileEntry{Service: k.Service, Tool: k.Tool, Pin: e.Pin, Held: e.Held})
	}
	slices.SortFunc(body.Tools, func(a, b fileEntry) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Tool, b.Tool))
	})
	b, err := json.MarshalIndent(body, "", " ")
	if err != nil {
		return fmt.Errorf("encoding pins: %w", err)
	}
	if err := writeAtomic(f.path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing pins: %w", err)
	}
	return nil
}

// writeAtomic replaces path with b: a temporary file in the same directory, synced, renamed
// over path, and the directory synced so the rename itself survives a crash.
func writeAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
