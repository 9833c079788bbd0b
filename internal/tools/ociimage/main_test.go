package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestImage builds an image from a stand-in binary and reads it back: non-root user, the
// entrypoint and command, the binary executable at /switchboard, a writable /tmp.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "switchboard")
	if err := os.WriteFile(fake, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image")
	if b, err := exec.Command("go", "run", ".", "-binary", fake, "-out", out, "-tag", "switchboard:test").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "switchboard:test" {
		t.Fatalf("index: %+v", m)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	if cfg.Config.User != "65532:65532" || cfg.Config.Entrypoint[0] != "/switchboard" || cfg.Config.Cmd[0] != "serve" {
		t.Errorf("config: %+v", cfg.Config)
	}
	layers, _ := img.Layers()
	rc, _ := layers[0].Uncompressed()
	defer rc.Close()
	found := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = h.Mode
	}
	if found["switchboard"] != 0o755 || found["tmp/"] != 0o1777 {
		t.Errorf("layer: %v", found)
	}
}
