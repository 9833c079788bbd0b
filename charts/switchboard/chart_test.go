// The chart's tests: helm lint, helm template with the defaults and with every optional feature,
// every rendered object decoded strictly into the Kubernetes API types (an unknown field is an
// error), the settings that make the deployment secure and disruption-tolerant checked, the
// fleet settings (a shared session key from a Secret, the pod IP as replica address, Redis)
// checked, the values schema shown to reject bad values, and the rendered config accepted by the
// gateway.
package chart_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/switchboard-mcp/switchboard/config"
)

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, _ := filepath.Abs("../../bin/helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm missing (run: make helm; make test does): %v", err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	err := cmd.Run()
	if err != nil {
		return out.String() + stderr.String(), err
	}
	return out.String(), nil
}

// everything turns on every optional feature.
var everything = []string{
	"--set", "autoscaling.enabled=true",
	"--set", "serviceMonitor.enabled=true",
	"--set", "networkPolicy.enabled=true",
	"--set", "ingress.enabled=true",
	"--set", "httpRoute.enabled=true",
	"--set", "httpRoute.parentRefs[0].name=gw",
	"--set", "httpRoute.hostnames[0]=mcp.example.com",
	"--set", "secretEnv.CONSUL_HTTP_TOKEN.secret=consul-acl",
	"--set", "secretEnv.CONSUL_HTTP_TOKEN.key=token",
	"--set", "env.OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318",
	"--set", "redis.address=redis-master.redis.svc:6379",
	"--set", "redis.existingSecret=redis",
}

// render runs helm template and decodes every object strictly into its Kubernetes type.
func render(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, err := helm(t, append([]string{"template", "sb", ".", "--namespace", "mcp"}, args...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objects := map[string]any{}
	for _, doc := range strings.Split(out, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
			continue
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var obj any
		switch head.Kind {
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "Service":
			obj = &corev1.Service{}
		case "ConfigMap":
			obj = &corev1.ConfigMap{}
		case "Secret":
			obj = &corev1.Secret{}
		case "ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "HorizontalPodAutoscaler":
			obj = &autoscalingv2.HorizontalPodAutoscaler{}
		case "NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		case "Ingress":
			obj = &networkingv1.Ingress{}
		default: // custom resources (ServiceMonitor, HTTPRoute): no Go types here; kept as maps
			obj = &map[string]any{}
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", head.Kind, err, doc)
		}
		objects[head.Kind] = obj
	}
	return objects
}

func TestLint(t *testing.T) {
	if out, err := helm(t, "lint", "."); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	if out, err := helm(t, append([]string{"lint", "."}, everything...)...); err != nil {
		t.Fatalf("helm lint with everything on: %v\n%s", err, out)
	}
}

func TestDefaultsAreSecureAndDisruptionTolerant(t *testing.T) {
	objs := render(t)
	for _, kind := range []string{"Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "PodDisruptionBudget"} {
		if objs[kind] == nil {
			t.Errorf("no %s rendered", kind)
		}
	}
	for _, kind := range []string{"HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy", "Ingress", "HTTPRoute"} {
		if objs[kind] != nil {
			t.Errorf("%s rendered though it is off by default", kind)
		}
	}
	d := objs["Deployment"].(*appsv1.Deployment)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	check := func(ok bool, what string) {
		if !ok {
			t.Error(what)
		}
	}
	check(pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot, "pod may run as root")
	check(pod.SecurityContext.SeccompProfile != nil && pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, "no RuntimeDefault seccomp profile")
	check(c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem, "root filesystem writable")
	check(c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation, "privilege escalation allowed")
	check(c.SecurityContext.Capabilities != nil && len(c.SecurityContext.Capabilities.Drop) == 1 && c.SecurityContext.Capabilities.Drop[0] == "ALL", "capabilities not dropped")
	check(c.LivenessProbe != nil && c.LivenessProbe.HTTPGet.Path == "/healthz", "no liveness probe on /healthz")
	check(c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Path == "/readyz", "no readiness probe on /readyz")
	check(c.StartupProbe != nil, "no startup probe")
	check(c.Resources.Requests.Cpu() != nil && !c.Resources.Requests.Cpu().IsZero() && !c.Resources.Limits.Memory().IsZero(), "no resources")
	check(pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil, "no pod anti-affinity")
	check(len(pod.TopologySpreadConstraints) == 1, "no topology spread")
	check(d.Spec.Template.Annotations["checksum/config"] != "", "no config checksum: config changes would not roll the pods")
	check(pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken, "service account token mounted")
	check(d.Spec.Replicas != nil && *d.Spec.Replicas == 2, "not 2 replicas by default")

	// The drain fits in the grace period.
	cm := objs["ConfigMap"].(*corev1.ConfigMap)
	cfg := acceptedConfig(t, cm.Data["switchboard.yaml"])
	check(int64(cfg.ShutdownGrace.D().Seconds()) < *pod.TerminationGracePeriodSeconds,
		fmt.Sprintf("terminationGracePeriodSeconds %d is not longer than shutdown_grace %v", *pod.TerminationGracePeriodSeconds, cfg.ShutdownGrace.D()))

	pdb := objs["PodDisruptionBudget"].(*policyv1.PodDisruptionBudget)
	check(pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.IntValue() == 1, "PDB does not keep a replica")
	svc := objs["Service"].(*corev1.Service)
	check(len(svc.Spec.Ports) == 2, "the Service does not expose the MCP and admin ports")
}

func TestEveryOptionalFeature(t *testing.T) {
	objs := render(t, everything...)
	d := objs["Deployment"].(*appsv1.Deployment)
	if d.Spec.Replicas != nil {
		t.Error("replicas set although the HPA manages them")
	}
	var sawSecret bool
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "CONSUL_HTTP_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == "consul-acl" {
			sawSecret = true
		}
	}
	if !sawSecret {
		t.Error("secretEnv did not become a secretKeyRef")
	}
	hpa := objs["HorizontalPodAutoscaler"].(*autoscalingv2.HorizontalPodAutoscaler)
	if hpa.Spec.MaxReplicas != 10 || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
		t.Errorf("HPA: %+v", hpa.Spec)
	}
	ing := objs["Ingress"].(*networkingv1.Ingress)
	if ing.Annotations["nginx.ingress.kubernetes.io/proxy-buffering"] != "off" || ing.Spec.Rules[0].HTTP.Paths[0].Path != "/mcp" {
		t.Errorf("Ingress is not SSE-friendly or misses /mcp: %+v", ing)
	}
	np := objs["NetworkPolicy"].(*networkingv1.NetworkPolicy)
	if len(np.Spec.Ingress) != 2 {
		t.Errorf("NetworkPolicy: %+v", np.Spec)
	}
	route := *objs["HTTPRoute"].(*map[string]any)
	b, _ := json.Marshal(route)
	if !strings.Contains(string(b), `"request":"3600s"`) || !strings.Contains(string(b), `"value":"/mcp"`) {
		t.Errorf("HTTPRoute lacks the long timeout or /mcp: %s", b)
	}
	sm := *objs["ServiceMonitor"].(*map[string]any)
	b, _ = json.Marshal(sm)
	if !strings.Contains(string(b), `"path":"/metrics"`) || !strings.Contains(string(b), `"port":"admin"`) {
		t.Errorf("ServiceMonitor: %s", b)
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	for _, bad := range [][]string{
		{"--set", "replicaCount=0"},
		{"--set", "service.mcpPort=70000"},
		{"--set", "image.pullPolicy=Sometimes"},
		{"--set", "secretEnv.X.secret=s"}, // no key
		{"--set", "nosuchvalue=1"},
		{"--set", "httpRoute.requestTimeout=forever"},
		{"--set", "sessions.key=abc"}, // the key belongs in a Secret, not in values
		{"--set", "redis.address=redis-master"},
	} {
		if out, err := helm(t, append([]string{"template", "sb", "."}, bad...)...); err == nil || !strings.Contains(out, "schema") {
			t.Errorf("%v accepted (err %v):\n%.300s", bad, err, out)
		}
	}
}

// podEnv is what the pod's environment gives the variables the chart itself sets; every other
// ${ENV} reference resolves to "placeholder".
var podEnv = map[string]string{
	"SWITCHBOARD_SESSION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, config.SessionKeySize)),
	"POD_IP":                  "10.1.2.3",
}

// acceptedConfig parses a rendered switchboard.yaml the way the gateway does, in the pod's
// environment (podEnv).
func acceptedConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text), func(name string) (string, bool) {
		if v, ok := podEnv[name]; ok {
			return v, true
		}
		return "placeholder", true
	})
	if err != nil {
		t.Fatalf("the gateway refuses the rendered config:\n%v\n%s", err, text)
	}
	return cfg
}

func TestRenderedConfigIsAccepted(t *testing.T) {
	for _, args := range [][]string{nil, everything} {
		cm := render(t, args...)["ConfigMap"].(*corev1.ConfigMap)
		acceptedConfig(t, cm.Data["switchboard.yaml"])
	}
}

// envVar returns the container's variable name, or nil.
func envVar(d *appsv1.Deployment, name string) *corev1.EnvVar {
	for i, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return &d.Spec.Template.Spec.Containers[0].Env[i]
		}
	}
	return nil
}

// secretRef returns the Secret name and key the variable name is read from ("" when it is not).
func secretRef(d *appsv1.Deployment, name string) (secret, key string) {
	e := envVar(d, name)
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return "", ""
	}
	return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
}

// rawConfig is the rendered switchboard.yaml as written, before ${ENV} expansion.
func rawConfig(t *testing.T, objs map[string]any) map[string]any {
	t.Helper()
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(objs["ConfigMap"].(*corev1.ConfigMap).Data["switchboard.yaml"]), &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestFleetSettings: every replica gets the same session key (so any replica serves any session
// behind a balancer with no affinity), reaches the others at its pod IP, and shares Redis when
// one is set.
func TestFleetSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		args       []string
		wantSecret string // the Secret SWITCHBOARD_SESSION_KEY comes from
		chartMade  bool   // the chart renders that Secret
		wantRedis  string // config.redis.address; "" for no redis key at all
		wantPass   bool   // the Redis password comes from redis.existingSecret
	}{
		{name: "defaults", wantSecret: "sb-switchboard-session", chartMade: true},
		{name: "existing session secret", args: []string{"--set", "sessions.existingSecret=fleet-key"}, wantSecret: "fleet-key"},
		{name: "redis", args: []string{"--set", "redis.address=redis-master.redis.svc:6379"},
			wantSecret: "sb-switchboard-session", chartMade: true, wantRedis: "redis-master.redis.svc:6379"},
		{name: "redis with password", args: []string{"--set", "redis.address=redis-master.redis.svc:6379", "--set", "redis.existingSecret=redis"},
			wantSecret: "sb-switchboard-session", chartMade: true, wantRedis: "redis-master.redis.svc:6379", wantPass: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, tc.args...)
			d := objs["Deployment"].(*appsv1.Deployment)

			if name, key := secretRef(d, "SWITCHBOARD_SESSION_KEY"); name != tc.wantSecret || key != "session-key" {
				t.Errorf("SWITCHBOARD_SESSION_KEY comes from Secret %q key %q, want %q key session-key", name, key, tc.wantSecret)
			}
			secret, _ := objs["Secret"].(*corev1.Secret)
			switch {
			case tc.chartMade && secret == nil:
				t.Error("no Secret rendered for the session key")
			case tc.chartMade:
				if secret.Name != tc.wantSecret {
					t.Errorf("the Secret is named %q, the Deployment reads %q", secret.Name, tc.wantSecret)
				}
				if _, err := config.DecodeSessionKey(string(secret.Data["session-key"])); err != nil {
					t.Errorf("the Secret's session-key is not a key the gateway takes: %v", err)
				}
				if secret.Annotations["helm.sh/resource-policy"] != "keep" {
					t.Error("the session key Secret is not kept on uninstall: a reinstall would end every session")
				}
			case secret != nil:
				t.Errorf("a Secret %q rendered although sessions.existingSecret is set", secret.Name)
			}

			ip := envVar(d, "POD_IP")
			if ip == nil || ip.ValueFrom == nil || ip.ValueFrom.FieldRef == nil || ip.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Errorf("POD_IP is not the pod IP from the downward API: %+v", ip)
			}

			raw := rawConfig(t, objs)
			sessions, _ := raw["sessions"].(map[string]any)
			if sessions["key"] != "${SWITCHBOARD_SESSION_KEY}" || sessions["replica_address"] != "${POD_IP}:9090" {
				t.Errorf("config sessions: %v; want key ${SWITCHBOARD_SESSION_KEY}, replica_address ${POD_IP}:9090", sessions)
			}
			cfg := acceptedConfig(t, objs["ConfigMap"].(*corev1.ConfigMap).Data["switchboard.yaml"])
			if cfg.Sessions.Key != podEnv["SWITCHBOARD_SESSION_KEY"] || cfg.Sessions.ReplicaAddress != "10.1.2.3:9090" {
				t.Errorf("the gateway reads sessions.key %q, replica_address %q", cfg.Sessions.Key, cfg.Sessions.ReplicaAddress)
			}

			switch {
			case tc.wantRedis == "" && raw["redis"] != nil:
				t.Errorf("redis rendered though none is set: %v", raw["redis"])
			case tc.wantRedis != "" && (cfg.Redis == nil || cfg.Redis.Address != tc.wantRedis):
				t.Errorf("the gateway reads redis %+v, want address %s", cfg.Redis, tc.wantRedis)
			}
			name, key := secretRef(d, "SWITCHBOARD_REDIS_PASSWORD")
			if tc.wantPass {
				redis, _ := raw["redis"].(map[string]any)
				if redis["password"] != "${SWITCHBOARD_REDIS_PASSWORD}" || name != "redis" || key != "redis-password" {
					t.Errorf("Redis password: config %v, from Secret %q key %q; want ${SWITCHBOARD_REDIS_PASSWORD} from redis/redis-password", redis["password"], name, key)
				}
			} else if name != "" {
				t.Errorf("SWITCHBOARD_REDIS_PASSWORD read from Secret %q though redis.existingSecret is unset", name)
			}
		})
	}
}

// TestSessionKeyIsRandom: without a cluster to look the Secret up in, each render makes a new
// key; a fixed key in the chart would be the same for everyone who installs it.
func TestSessionKeyIsRandom(t *testing.T) {
	t.Parallel()
	key := func() []byte {
		secret, ok := render(t)["Secret"].(*corev1.Secret)
		if !ok {
			t.Fatal("no Secret rendered for the session key")
		}
		return secret.Data["session-key"]
	}
	if a, b := key(), key(); bytes.Equal(a, b) {
		t.Errorf("two renders made the same session key %q", a)
	}
}

// TestFleetSettingsYieldToConfig: what the user writes in config.sessions wins (an IPv6 cluster
// needs brackets around the pod IP), and one Redis cannot be given twice.
func TestFleetSettingsYieldToConfig(t *testing.T) {
	t.Parallel()
	objs := render(t, "--set", "config.sessions.replica_address=[${POD_IP}]:9090", "--set", "config.sessions.max_age=1h")
	sessions, _ := rawConfig(t, objs)["sessions"].(map[string]any)
	if sessions["replica_address"] != "[${POD_IP}]:9090" || sessions["max_age"] != "1h" || sessions["key"] != "${SWITCHBOARD_SESSION_KEY}" {
		t.Errorf("config sessions: %v", sessions)
	}
	out, err := helm(t, "template", "sb", ".", "--set", "redis.address=r:6379", "--set", "config.cache.redis.address=r:6379")
	if err == nil || !strings.Contains(out, "config.cache.redis") {
		t.Errorf("redis.address and config.cache.redis both accepted (err %v):\n%.300s", err, out)
	}
}

// notes renders NOTES.txt, which helm template leaves out: a copy of the chart renders it through
// tpl into an object of its own.
func notes(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "templates", "NOTES.txt"), filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	tmpl := "kind: Notes\ntext: {{ tpl (.Files.Get \"notes.txt\") . | toJson }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes.yaml"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := helm(t, append([]string{"template", "sb", dir, "--show-only", "templates/notes.yaml"}, args...)...)
	if err != nil {
		t.Fatalf("rendering NOTES.txt: %v\n%s", err, out)
	}
	var doc struct{ Text string }
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return doc.Text
}

// TestNotesTellAFleetWhatToSet: the notes say no affinity is needed, and say what degrades while
// no Redis is set.
func TestNotesTellAFleetWhatToSet(t *testing.T) {
	t.Parallel()
	without := notes(t)
	with := notes(t, "--set", "redis.address=redis-master.redis.svc:6379")
	for _, text := range []string{without, with} {
		if !strings.Contains(text, "Any replica serves any session") || !strings.Contains(text, "needs no session affinity") {
			t.Errorf("the notes do not say that any replica serves any session:\n%s", text)
		}
		if strings.Contains(text, "sticky") || strings.Contains(text, "affinity: cookie") || strings.Contains(text, "upstream-hash-by") {
			t.Errorf("the notes still advise session affinity:\n%s", text)
		}
	}
	if !strings.Contains(without, "rate limits count per replica") || !strings.Contains(without, "Set redis.address") {
		t.Errorf("without Redis the notes do not say what degrades:\n%s", without)
	}
	if strings.Contains(with, "No Redis") {
		t.Errorf("the notes warn of no Redis though redis.address is set:\n%s", with)
	}
}
