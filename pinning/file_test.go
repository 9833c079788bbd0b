package pinning

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openFile(t *testing.T, path string) *FileStore {
	t.Helper()
	fs, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fs.Close() })
	return fs
}

func TestFileStoreSurvivesARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "pins.json")
	a := toolDef("echo", "Echoes the text.")
	b := toolDef("echo", "Echoes the text and mails it to me.")
	c := toolDef("echo", "Echoes the text in capitals.")

	fs := openFile(t, path)
	p, _, _ := newPins(t, Options{Mode: ModeHold, Store: fs})
	p.Review("demo", "echo", a)
	p.Review("demo", "time", toolDef("time", "Tells the time."))
	if d := p.Review("demo", "echo", b); !d.Held {
		t.Fatalf("changed: %+v, want held", d)
	}
	if _, err := p.Approve(ctx, Key{"demo", "echo"}, ""); err != nil {
		t.Fatal(err)
	}
	if d := p.Review("demo", "echo", c); !d.Held {
		t.Fatalf("changed again: %+v, want held", d)
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}

	// A new process over the same file: the approval, the first pins and the held change are there.
	p2, _, _ := newPins(t, Options{Mode: ModeHold, Store: openFile(t, path)})
	if h := p2.Held(); len(h) != 1 || h[0].Hash != Hash(c) || h[0].Pinned.Hash != Hash(b) {
		t.Errorf("held after the restart: %+v, want echo's second change over the approved pin", h)
	}
	if d := p2.Review("demo", "echo", c); !d.Held || !sameJSON(t, d.Serve, b) {
		t.Errorf("the held change after a restart: %+v, want held with the approved definition served", d)
	}
	if d := p2.Review("demo", "echo", b); d.Held || !bytes.Equal(d.Serve, b) {
		t.Errorf("the approved definition after a restart: %+v, want it served", d)
	}
	if d := p2.Review("demo", "time", toolDef("time", "Tells the time, and your location.")); !d.Held {
		t.Errorf("a first pin was lost in the restart: %+v", d)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Errorf("the directory holds %d files, want only the pins file (no temporary left)", len(files))
	}
}

func TestFileStoreWritesFirstPinsSoon(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pins.json")
	p, _, _ := newPins(t, Options{Store: openFile(t, path)})
	for i, d := range catalog(100) {
		p.Review("svc", "tool"+string(rune('a'+i%26))+string(rune('a'+i/26)), d)
	}
	// No Close: a process killed a little after its first catalog keeps its pins.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if entries, err := decodeFile(b); err == nil && len(entries) == 100 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first pins were not written: %.200s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestACorruptFileIsAnError(t *testing.T) {
	t.Parallel()
	good := `{"version":1,"tools":[{"service":"demo","tool":"echo","pin":{"hash":"ab","def":{"name":"echo"},"since":"2026-03-01T12:00:00Z"}}]}`
	tests := []struct {
		name, body string
	}{
		{"garbage", "not json at all"},
		{"cut short", good[:len(good)/2]},
		{"empty", ""},
		{"another version", strings.Replace(good, `"version":1`, `"version":2`, 1)},
		{"an unknown field", strings.Replace(good, `"tools"`, `"tool":[],"tools"`, 1)},
		{"a pin without hash", strings.Replace(good, `"hash":"ab"`, `"hash":""`, 1)},
		{"an entry without pin", `{"version":1,"tools":[{"service":"demo","tool":"echo"}]}`},
		{"two values", good + good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "pins.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenFile(path, nil); err == nil {
				t.Error("opened without error; a corrupt file must not become an empty store")
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "pins.json")
		if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
			t.Fatal(err)
		}
		fs, err := OpenFile(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := fs.Load(context.Background()); len(e) != 1 {
			t.Errorf("loaded %v", e)
		}
	})
	t.Run("missing is empty", func(t *testing.T) {
		t.Parallel()
		fs, err := OpenFile(filepath.Join(t.TempDir(), "pins.json"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := fs.Load(context.Background()); len(e) != 0 {
			t.Errorf("loaded %v", e)
		}
	})
}

func TestAFailedFileWriteIsNotADecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	fs := openFile(t, filepath.Join(dir, "pins.json"))
	p, logs, _ := newPins(t, Options{Mode: ModeHold, Store: fs})
	p.Review("demo", "echo", toolDef("echo", "Echoes."))
	p.Review("demo", "echo", toolDef("echo", "Echoes loudly."))
	// The file's place taken by a directory: every write fails, even as root.
	path := filepath.Join(dir, "pins.json")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Approve(ctx, Key{"demo", "echo"}, ""); err == nil {
		t.Fatal("an approval that could not be written succeeded")
	}
	if d := p.Review("demo", "echo", toolDef("echo", "Echoes loudly.")); !d.Held {
		t.Errorf("after a failed approval: %+v, want still held", d)
	}
	// A held change that cannot be written is still decided in memory.
	if d := p.Review("demo", "echo", toolDef("echo", "Echoes quietly.")); !d.Held {
		t.Errorf("a change while the file is unwritable: %+v, want held", d)
	}
	if !strings.Contains(logs.String(), "pin store unreachable") {
		t.Errorf("the failure was not logged:\n%s", logs)
	}
}
