// Command ociimage builds the gateway's container image without a container engine: the static
// binary (and the build machine's CA bundle, for HTTPS to IdPs and upstreams) on an empty base,
// running as a non-root user, written as an OCI image layout directory (load it with any OCI tool,
// or push it with one). It uses go-containerregistry, offline.
//
//	ociimage -binary bin/switchboard-linux-amd64 -out bin/image -tag switchboard:0.1.0
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const nonRoot = 65532

func main() {
	binary := flag.String("binary", "bin/switchboard-linux-amd64", "static linux/amd64 switchboard binary")
	out := flag.String("out", "bin/image", "OCI layout directory to write")
	tag := flag.String("tag", "switchboard:dev", "image reference name recorded in the layout")
	caBundle := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include (skipped if absent)")
	flag.Parse()

	var files []file
	bin, err := os.ReadFile(*binary)
	if err != nil {
		log.Fatal(err)
	}
	files = append(files, file{"switchboard", 0o755, bin})
	if ca, err := os.ReadFile(*caBundle); err == nil {
		files = append(files, file{"etc/ssl/certs/ca-certificates.crt", 0o644, ca})
	}
	files = append(files, file{"tmp/", 0o1777, nil})
	layerTar, err := tarOf(files)
	if err != nil {
		log.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		log.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		log.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible
	cfg.Config.Entrypoint = []string{"/switchboard"}
	cfg.Config.Cmd = []string{"serve", "--config", "/etc/switchboard/switchboard.yaml"}
	cfg.Config.User = fmt.Sprintf("%d:%d", nonRoot, nonRoot)
	cfg.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "9090/tcp": {}}
	cfg.Config.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		log.Fatal(err)
	}
	os.RemoveAll(*out)
	p, err := layout.Write(*out, empty.Index)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": *tag})); err != nil {
		log.Fatal(err)
	}
	digest, _ := img.Digest()
	fmt.Printf("%s: OCI image %s (%s)\n", *out, *tag, digest)
}

type file struct {
	name string
	mode int64
	data []byte
}

// tarOf builds a layer: root-owned files with fixed times, so the image is reproducible.
func tarOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if f.data == nil {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), tw.Close()
}
