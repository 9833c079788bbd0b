// The chart's tests: helm lint, helm template with the defaults and with every optional feature,
// every rendered object decoded strictly into the Kubernetes API types (an unknown field is an
// error), the settings that make the deployment secure and disruption-tolerant checked, the
// values schema shown to reject bad values, and the rendered config accepted by the gateway.
package chart_test

import (
	"bytes"
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
	for _, kind := range []string{"Deployment", "Service", "ConfigMap", "ServiceAccount", "PodDisruptionBudget"} {
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
	check(*d.Spec.Replicas >= 2, "fewer than 2 replicas by default")

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
	} {
		if out, err := helm(t, append([]string{"template", "sb", "."}, bad...)...); err == nil || !strings.Contains(out, "schema") {
			t.Errorf("%v accepted (err %v):\n%.300s", bad, err, out)
		}
	}
}

// acceptedConfig parses a rendered switchboard.yaml the way the gateway does; ${ENV} references
// resolve to placeholders, as the pod's environment would provide them.
func acceptedConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text), func(string) (string, bool) { return "placeholder", true })
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
