package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// nginx is the balancer the fleet tests put in front of several gateways: a real reverse proxy
// that spreads requests round-robin with no affinity, as a Kubernetes Service or a cloud load
// balancer does. Whatever a client relies on across requests must then survive landing on
// another replica.
var nginxPeer peer

// needNginx returns Debian's nginx binary (in /usr/sbin, which a non-root PATH may lack).
func needNginx(t testing.TB) string {
	t.Helper()
	return nginxPeer.need(t, func() (string, error) {
		path, err := exec.LookPath("nginx")
		if err == nil {
			return path, nil
		}
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			return "/usr/sbin/nginx", nil
		}
		return "", fmt.Errorf("nginx is not installed (install it with: make nginx; Debian: apt-get install nginx): %v", err)
	})
}

// balancerConf is nginx's whole configuration: every path it writes is under Dir, so it runs as
// any user and never reads /etc/nginx or writes /var. The upstream has no ip_hash, hash or
// sticky directive: plain round-robin, so consecutive requests of one client go to different
// backends.
var balancerConf = template.Must(template.New("nginx.conf").Parse(`
{{- if .Root}}user root;
{{end -}}
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log notice;
events { worker_connections 1024; }
http {
  access_log {{.Dir}}/access.log;
  client_body_temp_path {{.Dir}}/client_body;
  proxy_temp_path {{.Dir}}/proxy;
  fastcgi_temp_path {{.Dir}}/fastcgi;
  uwsgi_temp_path {{.Dir}}/uwsgi;
  scgi_temp_path {{.Dir}}/scgi;
  client_max_body_size 64m;

  upstream gateways {
{{- range .Backends}}
    server {{.}};
{{- end}}
    keepalive 16;
  }

  server {
    listen {{.Listen}};
    location / {
      proxy_pass http://gateways;
      proxy_http_version 1.1;
      # Upstream keepalive: no "Connection: close" towards the backends.
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      # Streamable HTTP answers with SSE streams: pass every event on as it comes, both ways.
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_cache off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`))

// startBalancer runs nginx on a free loopback port in front of backends (host:port each) until
// the test ends, and returns its base URL ("http://127.0.0.1:PORT"). Its error log is printed if
// the test fails.
func startBalancer(t testing.TB, backends []string) (url string) {
	t.Helper()
	if len(backends) == 0 {
		t.Fatal("startBalancer: no backends")
	}
	nginx := needNginx(t)
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := filepath.Join(dir, "nginx.conf")
	f, err := os.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	err = balancerConf.Execute(f, struct {
		Dir, Listen string
		Backends    []string
		Root        bool // as root, workers would run as nobody, who cannot enter the 0700 temp dir
	}{dir, listen, backends, os.Geteuid() == 0})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("writing %s: %v", conf, err)
	}
	errorLog := filepath.Join(dir, "error.log")
	// -e: the error log before the configuration is read (else nginx tries /var/log/nginx).
	cmd := exec.Command(nginx, "-p", dir, "-c", conf, "-e", errorLog, "-g", "daemon off;")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown: open SSE streams do not hold it up.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			logged, _ := os.ReadFile(errorLog)
			t.Logf("nginx output:\n%s\nnginx error log:\n%s\nnginx.conf:\n%s", out.String(), logged, readFile(conf))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			logged, _ := os.ReadFile(errorLog)
			t.Fatalf("nginx exited: %v\n%s\n%s", cmd.ProcessState, out.String(), logged)
		default:
		}
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx is not listening on %s after 10s: %v", listen, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readFile is path's contents, or the error reading it, for a failure message.
func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestBalancerRoundRobins proves the balancer has no affinity: one client, on one kept-alive
// connection, has its requests answered by the backends in turn.
func TestBalancerRoundRobins(t *testing.T) {
	var backends []string
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", name, r.Host)
		}))
		t.Cleanup(srv.Close)
		backends = append(backends, srv.Listener.Addr().String())
	}
	url := startBalancer(t, backends)
	host := strings.TrimPrefix(url, "http://")

	var got []string
	for range 6 {
		resp, err := http.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		name, gotHost, _ := strings.Cut(string(body), " ")
		if gotHost != host {
			t.Errorf("backend %s saw Host %q, want the client's %q", name, gotHost, host)
		}
		got = append(got, name)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("backends answering in order: %v; want them alternating (round-robin, no affinity)", got)
		}
	}
}
