package authn

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/switchboard-mcp/switchboard/glob"
	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

const audience = "https://mcp.example.test"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newAuth returns a running issuer and an authenticated echo handler (it answers the subject).
func newAuth(t testing.TB) (*oidctest.Issuer, http.Handler, *Verifier) {
	t.Helper()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	v := NewVerifier(VerifierConfig{Issuer: iss.URL, Audience: audience, Skew: 30 * time.Second}, quiet)
	ready := make(chan struct{})
	go v.Run(context.Background(), func() { close(ready) })
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("discovery did not succeed")
	}
	a := NewAuthenticator(v, AuthenticatorConfig{PublicURL: "https://gw.example.test", Resource: audience, Issuer: iss.URL, RequiredScopes: []string{"mcp"}})
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, PrincipalFrom(r.Context()).Subject)
	}))
	return iss, h, v
}

func do(h http.Handler, target, authz string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestTokens(t *testing.T) {
	t.Parallel()
	iss, h, _ := newAuth(t)
	good := func() map[string]any { return iss.Claims("alice", audience, "mcp weather:read") }
	with := func(change func(map[string]any)) string {
		c := good()
		change(c)
		return iss.Sign("rsa-1", c)
	}
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := x509.MarshalPKIXPublicKey(iss.PublicKey("rsa-1"))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(mustJSON(good())) + "."

	tests := []struct {
		name      string
		target    string
		authz     string
		status    int
		wantError string // the error= of WWW-Authenticate
	}{
		{"valid RSA", "/mcp", "Bearer " + iss.Sign("rsa-1", good()), 200, ""},
		{"valid EC", "/mcp", "Bearer " + iss.Sign("ec-1", good()), 200, ""},
		{"scheme is case-insensitive", "/mcp", "bearer " + iss.Sign("rsa-1", good()), 200, ""},
		{"no token", "/mcp", "", 401, ""},
		{"other scheme", "/mcp", "Basic YWxpY2U6c2VjcmV0", 401, "invalid_token"},
		{"garbage", "/mcp", "Bearer not-a-jwt", 401, "invalid_token"},
		{"bad signature", "/mcp", "Bearer " + tamper(iss.Sign("rsa-1", good())), 401, "invalid_token"},
		{"key not in the JWKS", "/mcp", "Bearer " + oidctest.SignWith(jose.RS256, stranger, "rsa-1", good()), 401, "invalid_token"},
		{"unknown key id", "/mcp", "Bearer " + oidctest.SignWith(jose.RS256, stranger, "rsa-9", good()), 401, "invalid_token"},
		{"alg none", "/mcp", "Bearer " + none, 401, "invalid_token"},
		{"HS256 with the public key", "/mcp", "Bearer " + oidctest.SignWith(jose.HS256, pub, "rsa-1", good()), 401, "invalid_token"},
		{"expired", "/mcp", "Bearer " + with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), 401, "invalid_token"},
		{"not yet valid", "/mcp", "Bearer " + with(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), 401, "invalid_token"},
		{"wrong issuer", "/mcp", "Bearer " + with(func(c map[string]any) { c["iss"] = "https://evil.example.test" }), 401, "invalid_token"},
		{"wrong audience", "/mcp", "Bearer " + with(func(c map[string]any) { c["aud"] = "https://other.example.test" }), 401, "invalid_token"},
		{"token in the query", "/mcp?access_token=" + iss.Sign("rsa-1", good()), "", 401, "invalid_request"},
		{"missing scope", "/mcp", "Bearer " + with(func(c map[string]any) { c["scope"] = "weather:read" }), 403, "insufficient_scope"},
		{"expired within the skew", "/mcp", "Bearer " + with(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }), 200, ""},
		{"not yet valid within the skew", "/mcp", "Bearer " + with(func(c map[string]any) { c["nbf"] = time.Now().Add(10 * time.Second).Unix() }), 200, ""},
		{"not yet valid past the skew", "/mcp", "Bearer " + with(func(c map[string]any) { c["nbf"] = time.Now().Add(2 * time.Minute).Unix() }), 401, "invalid_token"},
		{"no expiry", "/mcp", "Bearer " + with(func(c map[string]any) { delete(c, "exp") }), 401, "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := do(h, tc.target, tc.authz)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body.String())
			}
			if tc.status == 200 {
				if rec.Body.String() != "alice" {
					t.Errorf("principal %q, want alice", rec.Body.String())
				}
				return
			}
			www := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(www, `Bearer resource_metadata="https://gw.example.test/.well-known/oauth-protected-resource/mcp"`) ||
				!strings.Contains(www, `scope="mcp"`) {
				t.Errorf("WWW-Authenticate: %s", www)
			}
			if tc.wantError != "" && !strings.Contains(www, `error="`+tc.wantError+`"`) {
				t.Errorf("want error=%q in %s", tc.wantError, www)
			}
			if tc.wantError == "" && strings.Contains(www, "error=") {
				t.Errorf("no error= expected without credentials: %s", www)
			}
		})
	}
}

// TestRefusalReasons: every refusal is told why, for the audit log and the metric; never the token.
func TestRefusalReasons(t *testing.T) {
	t.Parallel()
	iss, _, v := newAuth(t)
	var got []string
	a := NewAuthenticator(v, AuthenticatorConfig{PublicURL: "https://gw.example.test", Resource: audience, Issuer: iss.URL, RequiredScopes: []string{"mcp"},
		Refused: func(r *http.Request, status int, reason string) {
			got = append(got, fmt.Sprintf("%d %s %v", status, reason, PrincipalFrom(r.Context()) != nil))
		}})
	h := a.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	good := func() map[string]any { return iss.Claims("alice", audience, "mcp") }
	with := func(change func(map[string]any)) string {
		c := good()
		change(c)
		return iss.Sign("rsa-1", c)
	}
	for _, tc := range []struct{ target, authz, want string }{
		{"/mcp", "", "401 missing_token false"},
		{"/mcp", "Basic YWxpY2U6c2VjcmV0", "401 malformed_token false"},
		{"/mcp", "Bearer not-a-jwt", "401 malformed_token false"},
		{"/mcp?access_token=x", "", "401 token_in_url false"},
		{"/mcp", "Bearer " + tamper(iss.Sign("rsa-1", good())), "401 bad_signature false"},
		{"/mcp", "Bearer " + with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "401 expired_token false"},
		{"/mcp", "Bearer " + with(func(c map[string]any) { c["aud"] = "https://other.example.test" }), "401 wrong_audience false"},
		{"/mcp", "Bearer " + with(func(c map[string]any) { c["iss"] = "https://evil.example.test" }), "401 invalid_token false"},
		{"/mcp", "Bearer " + with(func(c map[string]any) { c["scope"] = "other" }), "403 insufficient_scope true"},
	} {
		got = nil
		do(h, tc.target, tc.authz)
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s %.40s: refused %v, want [%s]", tc.target, tc.authz, got, tc.want)
		}
	}
}

func tamper(jwt string) string {
	parts := strings.Split(jwt, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	claims = []byte(strings.Replace(string(claims), "alice", "mallory", 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(claims)
	return strings.Join(parts, ".")
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	iss, h, _ := newAuth(t)
	old := iss.Sign("rsa-1", iss.Claims("alice", audience, "mcp"))
	unseen := iss.Sign("rsa-1", iss.Claims("eve", audience, "mcp"))
	if rec := do(h, "/mcp", "Bearer "+old); rec.Code != 200 {
		t.Fatalf("before rotation: %d", rec.Code)
	}
	// The IdP rotates: a new key appears, the old one is withdrawn.
	iss.AddRSAKey("rsa-2")
	iss.RemoveKey("rsa-1")
	fresh := iss.Sign("rsa-2", iss.Claims("bob", audience, "mcp"))
	if rec := do(h, "/mcp", "Bearer "+fresh); rec.Code != 200 || rec.Body.String() != "bob" {
		t.Fatalf("token signed with the new key: %d %s", rec.Code, rec.Body.String())
	}
	// A token of the withdrawn key that the gateway never saw is refused: the key set was
	// refetched for the new key id, and the old key is gone from it. (go-oidc stores a refetched
	// key set just after answering the request that asked for it; give it that moment.)
	time.Sleep(100 * time.Millisecond)
	if rec := do(h, "/mcp", "Bearer "+unseen); rec.Code != 401 {
		t.Fatalf("token of a withdrawn key: %d %s", rec.Code, rec.Body.String())
	}
	// One verified before the rotation stays valid until it expires (it is cached).
	if rec := do(h, "/mcp", "Bearer "+old); rec.Code != 200 {
		t.Fatalf("cached token after rotation: %d", rec.Code)
	}
}

func TestNotReadyUntilDiscovery(t *testing.T) {
	t.Parallel()
	ln := freeAddr(t)
	v := NewVerifier(VerifierConfig{Issuer: "http://" + ln, Audience: audience}, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	go v.Run(ctx, func() { close(ready) })
	if _, err := v.Verify(ctx, "x.y.z"); err != ErrNotReady {
		t.Fatalf("before discovery: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(v.NotReadyReason(), "discovery of http://"+ln+" failing") {
		if time.Now().After(deadline) {
			t.Fatalf("while the IdP is down the reason is %q, want it to say discovery is failing", v.NotReadyReason())
		}
		time.Sleep(20 * time.Millisecond)
	}
	iss := oidctest.NewAt(ln) // the IdP comes up
	defer iss.Close()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("never became ready: %s", v.NotReadyReason())
	}
	if p, err := v.Verify(ctx, iss.Sign("ec-1", iss.Claims("carol", audience, "mcp"))); err != nil || p.Subject != "carol" {
		t.Fatalf("after discovery: %v %+v", err, p)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	a := NewAuthenticator(nil, AuthenticatorConfig{PublicURL: "https://gw", Resource: audience, Issuer: "https://idp", RequiredScopes: []string{"mcp"}, ScopesSupported: []string{"weather:read", "mcp"}})
	rec := httptest.NewRecorder()
	a.ServeMetadata(rec, httptest.NewRequest(http.MethodGet, MetadataPath, nil))
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
		BearerMethods        []string `json:"bearer_methods_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Resource != audience || doc.AuthorizationServers[0] != "https://idp" || len(doc.ScopesSupported) != 2 || doc.BearerMethods[0] != "header" {
		t.Errorf("metadata: %s", rec.Body.String())
	}
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	pols := &Rules{Separator: "__", Policies: Policies{
		{Scope: "weather:read", Allow: globs(t, "weather__*", "clock__now")},
		{Claims: map[string]string{"groups": "analysts"}, Allow: globs(t, "sql__*")},
	}}
	alice := &Principal{Scopes: []string{"mcp", "weather:read"}}
	bob := &Principal{Scopes: []string{"mcp"}, Claims: map[string]json.RawMessage{"groups": json.RawMessage(`["staff","analysts"]`)}}
	carol := &Principal{Scopes: []string{"mcp"}}
	tests := []struct {
		who  *Principal
		tool string
		want bool
	}{
		{alice, "weather__forecast", true}, {alice, "clock__now", true}, {alice, "clock__set", false}, {alice, "sql__query", false},
		{bob, "sql__query", true}, {bob, "weather__forecast", false},
		{carol, "anything", true}, // no policy matches: every tool
		{nil, "anything", true},   // auth off
	}
	for _, tc := range tests {
		if got := pols.Allows(tc.who, tc.tool); got != tc.want {
			t.Errorf("%+v may use %s: got %v, want %v", tc.who, tc.tool, got, tc.want)
		}
	}
}

func TestDefaultPolicyDeny(t *testing.T) {
	t.Parallel()
	rules := &Rules{Separator: "__", DenyUnmatched: true, Policies: Policies{{Scope: "weather:read", Allow: globs(t, "weather__*")}}}
	carol := &Principal{Scopes: []string{"mcp"}}
	if rules.Allows(carol, "weather__forecast") || rules.ResourceView(carol)("weather", "weather+file:///a") {
		t.Error("default_policy deny: a principal no policy matches sees something")
	}
	if rules.ViewKey(carol) != "none" {
		t.Errorf("view key %q, want none", rules.ViewKey(carol))
	}
	if !rules.Allows(nil, "anything") {
		t.Error("auth off must see everything")
	}
}

func TestResourceView(t *testing.T) {
	t.Parallel()
	rules := &Rules{Separator: "__", Policies: Policies{
		{Scope: "whole", Allow: globs(t, "everything__*")},
		{Scope: "tools-only", Allow: globs(t, "everything__echo", "everything__?")},
		{Scope: "some", Allow: globs(t, "fx__echo"), AllowResources: glob.CompileURIList([]string{"everything+demo://resource/static/*"})},
		{Scope: "wide", Allow: globs(t, "*")},
	}}
	who := func(scope string) *Principal { return &Principal{Scopes: []string{scope}} }
	for _, tc := range []struct {
		scope, namespace, uri string
		want                  bool
	}{
		{"whole", "everything", "everything+demo://resource/1", true},
		{"whole", "fx", "fx+file:///x", false},
		{"tools-only", "everything", "everything+demo://resource/1", false},
		{"some", "everything", "everything+demo://resource/static/document/1", true},
		{"some", "everything", "everything+demo://resource/dynamic/1", false},
		{"some", "fx", "fx+file:///x", false},
		{"wide", "anything", "anything+x://y", true},
		{"wide", "", "x://y", true},
		{"whole", "", "x://y", false},
	} {
		if got := rules.ResourceView(who(tc.scope))(tc.namespace, tc.uri); got != tc.want {
			t.Errorf("%s reading %s (namespace %q): %v, want %v", tc.scope, tc.uri, tc.namespace, got, tc.want)
		}
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer x", "Bearer  a==", "Basic x", "Bearer ", "Bearer a b", "Bearer =="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := ParseBearer(header)
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n,\"") || !strings.Contains(header, tok) {
			t.Fatalf("ParseBearer(%q) = %q", header, tok)
		}
	})
}

// BenchmarkVerify compares a token's first sight (signature, claims) with the cached path.
func BenchmarkVerify(b *testing.B) {
	iss, _, v := newAuth(b)
	ctx := context.Background()
	b.Run("first-sight-RS256", func(b *testing.B) {
		// A verifier that remembers one token, over a pool of many: every verification is a
		// first sight, without signing b.N tokens.
		fresh := NewVerifier(VerifierConfig{Issuer: iss.URL, Audience: audience, CacheSize: 1}, quiet)
		ready := make(chan struct{})
		go fresh.Run(ctx, func() { close(ready) })
		<-ready
		tokens := make([]string, 64)
		for i := range tokens {
			c := iss.Claims("alice", audience, "mcp")
			c["jti"] = i
			tokens[i] = iss.Sign("rsa-1", c)
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := fresh.Verify(ctx, tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		tok := iss.Sign("rsa-1", iss.Claims("alice", audience, "mcp"))
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func globs(t *testing.T, patterns ...string) glob.List {
	t.Helper()
	l, err := glob.CompileList(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
