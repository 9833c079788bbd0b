package chart_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// secretFiles writes what a kubernetes.io/tls Secret with a ca.crt holds (a self-signed
// certificate as tls.crt and ca.crt, its key as tls.key) into a directory standing for /tls.
func secretFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchboard.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{
		"tls.crt": cert, "ca.crt": cert,
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTLSSecret: tls.existingSecret mounts the Secret at /tls (whole, so renewals reach the pod),
// points config.tls at its files, switches the probes (and the ServiceMonitor, and the Ingress's
// backend) to HTTPS, and the gateway accepts the config with the Secret's files in place.
func TestTLSSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		args     []string
		clientCA string // config.tls.client_ca_file wanted
	}{
		{name: "server certificate", args: []string{"--set", "tls.existingSecret=sb-tls"}},
		{name: "mutual TLS", args: []string{"--set", "tls.existingSecret=sb-tls", "--set", "tls.clientCAKey=ca.crt"}, clientCA: "/tls/ca.crt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, append(tc.args, "--set", "serviceMonitor.enabled=true", "--set", "ingress.enabled=true")...)
			d := objs["Deployment"].(*appsv1.Deployment)
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]

			var vol *corev1.Volume
			for i, v := range pod.Volumes {
				if v.Name == "tls" {
					vol = &pod.Volumes[i]
				}
			}
			switch {
			case vol == nil || vol.Secret == nil || vol.Secret.SecretName != "sb-tls":
				t.Errorf("no volume of Secret sb-tls: %+v", pod.Volumes)
			case vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode&0o007 != 0:
				t.Errorf("the key is readable by others: defaultMode %v", vol.Secret.DefaultMode)
			case len(vol.Secret.Items) > 0:
				t.Errorf("the Secret is projected item by item: %+v", vol.Secret.Items)
			}
			var mounted bool
			for _, m := range c.VolumeMounts {
				if m.Name == "tls" {
					mounted = m.MountPath == "/tls" && m.ReadOnly && m.SubPath == ""
				}
			}
			if !mounted {
				t.Errorf("the tls volume is not mounted read-only at /tls without subPath (which the kubelet never updates): %+v", c.VolumeMounts)
			}

			for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
					t.Errorf("the %s probe is not HTTPS: %+v", name, p)
				}
			}

			raw := rawConfig(t, objs)
			tlsCfg, _ := raw["tls"].(map[string]any)
			if tlsCfg["cert_file"] != "/tls/tls.crt" || tlsCfg["key_file"] != "/tls/tls.key" || (tlsCfg["client_ca_file"] != nil) != (tc.clientCA != "") ||
				(tc.clientCA != "" && tlsCfg["client_ca_file"] != tc.clientCA) {
				t.Errorf("config tls: %v; want the Secret's files under /tls (client_ca_file %q)", tlsCfg, tc.clientCA)
			}
			text := objs["ConfigMap"].(*corev1.ConfigMap).Data["switchboard.yaml"]
			cfg := acceptedConfig(t, strings.ReplaceAll(text, "/tls/", secretFiles(t)+"/"))
			if cfg.TLS == nil || (cfg.TLS.ClientCAFile != "") != (tc.clientCA != "") {
				t.Errorf("the gateway reads tls %+v", cfg.TLS)
			}

			sm, _ := json.Marshal(*objs["ServiceMonitor"].(*map[string]any))
			if !strings.Contains(string(sm), `"scheme":"https"`) || !strings.Contains(string(sm), `"insecureSkipVerify":true`) {
				t.Errorf("the ServiceMonitor does not scrape over HTTPS: %s", sm)
			}
			ing := objs["Ingress"].(*networkingv1.Ingress)
			if ing.Annotations["nginx.ingress.kubernetes.io/backend-protocol"] != "HTTPS" || ing.Annotations["nginx.ingress.kubernetes.io/proxy-buffering"] != "off" {
				t.Errorf("the Ingress does not speak HTTPS to the pods (or lost its SSE annotations): %v", ing.Annotations)
			}
			if n := notes(t, tc.args...); !strings.Contains(n, "https://127.0.0.1:8080/mcp") {
				t.Errorf("the notes do not give an https URL:\n%s", n)
			}
		})
	}
}

// TestNoTLSByDefault: without tls.existingSecret nothing of TLS is rendered and the probes stay
// plain HTTP; config.tls keys a user sets win over the chart's.
func TestNoTLSByDefault(t *testing.T) {
	t.Parallel()
	objs := render(t, "--set", "serviceMonitor.enabled=true", "--set", "ingress.enabled=true")
	d := objs["Deployment"].(*appsv1.Deployment)
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "tls" {
			t.Errorf("a tls volume without tls.existingSecret: %+v", v)
		}
	}
	if p := d.Spec.Template.Spec.Containers[0].ReadinessProbe; p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("readiness probe scheme %q without TLS", p.HTTPGet.Scheme)
	}
	if raw := rawConfig(t, objs); raw["tls"] != nil {
		t.Errorf("config tls without tls.existingSecret: %v", raw["tls"])
	}
	sm, _ := json.Marshal(*objs["ServiceMonitor"].(*map[string]any))
	if strings.Contains(string(sm), "https") {
		t.Errorf("the ServiceMonitor scrapes HTTPS without TLS: %s", sm)
	}
	if ing := objs["Ingress"].(*networkingv1.Ingress); ing.Annotations["nginx.ingress.kubernetes.io/backend-protocol"] != "" {
		t.Errorf("backend-protocol without TLS: %v", ing.Annotations)
	}

	objs = render(t, "--set", "tls.existingSecret=sb-tls", "--set", "config.tls.cert_file=/tls/fullchain.pem")
	tlsCfg, _ := rawConfig(t, objs)["tls"].(map[string]any)
	if tlsCfg["cert_file"] != "/tls/fullchain.pem" || tlsCfg["key_file"] != "/tls/tls.key" {
		t.Errorf("config tls: %v; want the user's cert_file and the chart's key_file", tlsCfg)
	}
	if out, err := helm(t, "template", "sb", ".", "--set", "tls.clientCAKey=../etc/passwd"); err == nil || !strings.Contains(out, "schema") {
		t.Errorf("a clientCAKey with a path accepted (err %v):\n%.300s", err, out)
	}
}
