package tokenexchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

const gatewayAudience = "https://gateway.test"

// newIssuer is a real issuer whose token exchange accepts tokens for the gateway and issues
// tokens for "tickets".
func newIssuer(t testing.TB) *oidctest.Issuer {
	t.Helper()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	iss.SetSubjectAudience(gatewayAudience)
	iss.SetExchangeAudiences("tickets")
	return iss
}

func newExchanger(iss *oidctest.Issuer, secret string) *Exchanger {
	return New(Config{Name: "tickets", TokenURL: iss.URL + "/token", ClientID: iss.ClientID, ClientSecret: secret,
		Audience: "tickets", Scopes: []string{"tickets.read"}}, nil)
}

// userOf returns the subject of sub's access token for the gateway.
func userOf(iss *oidctest.Issuer, sub string) Subject {
	return Subject{Issuer: iss.URL, Subject: sub, Token: iss.Sign("rsa-1", iss.Claims(sub, gatewayAudience, "mcp"))}
}

// claimsOf reads a JWT's claims without verifying it (the issuer's tests verify).
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenIsTheUsersForTheAudienceAndCached(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	e := newExchanger(iss, iss.ClientSecret)
	alice, bob := userOf(iss, "alice"), userOf(iss, "bob")
	ctx := context.Background()

	a1, err := e.Token(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, a1)
	if c["sub"] != "alice" || c["aud"] != "tickets" || c["scope"] != "tickets.read" {
		t.Errorf("exchanged token: sub %v aud %v scope %v, want alice, tickets, tickets.read", c["sub"], c["aud"], c["scope"])
	}
	for range 5 {
		if again, err := e.Token(ctx, alice); err != nil || again != a1 {
			t.Fatalf("a second call did not reuse the cached token: %v", err)
		}
	}
	if n := iss.Exchanges("alice"); n != 1 {
		t.Errorf("alice: %d exchanges, want 1", n)
	}
	b1, err := e.Token(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if b1 == a1 || claimsOf(t, b1)["sub"] != "bob" {
		t.Errorf("bob got alice's token or another subject's: %v", claimsOf(t, b1)["sub"])
	}
	if seen := iss.SubjectTokensSeen(); len(seen) != 2 || seen[0] != alice.Token || seen[1] != bob.Token {
		t.Errorf("the issuer was not sent each user's own token as subject_token")
	}
}

func TestTokenIsRenewedBeforeItExpires(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	iss.SetExchangeTTL(100 * time.Second)
	e := newExchanger(iss, iss.ClientSecret)
	var clock atomic.Int64
	start := time.Now()
	e.now = func() time.Time { return start.Add(time.Duration(clock.Load())) }
	alice := userOf(iss, "alice")

	first, err := e.Token(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	// 10 % of 100 s is less than 30 s: renewed 10 s before expiry.
	for _, tc := range []struct {
		at        time.Duration
		exchanges int64
	}{{50 * time.Second, 1}, {89 * time.Second, 1}, {91 * time.Second, 2}} {
		clock.Store(int64(tc.at))
		tok, err := e.Token(context.Background(), alice)
		if err != nil {
			t.Fatal(err)
		}
		if n := iss.Exchanges("alice"); n != tc.exchanges {
			t.Errorf("at %s: %d exchanges, want %d", tc.at, n, tc.exchanges)
		}
		if (tok == first) != (tc.exchanges == 1) {
			t.Errorf("at %s: renewed %v, want %v", tc.at, tok != first, tc.exchanges > 1)
		}
	}
}

func TestConcurrentCallsShareOneExchange(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	e := newExchanger(iss, iss.ClientSecret)
	alice := userOf(iss, "alice")
	var wg sync.WaitGroup
	tokens := make([]string, 50)
	for i := range tokens {
		wg.Go(func() {
			tok, err := e.Token(context.Background(), alice)
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	if n := iss.Exchanges("alice"); n != 1 {
		t.Errorf("%d exchanges for 50 concurrent calls of one user, want 1", n)
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Fatal("concurrent calls got different tokens")
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	iss.RefuseExchange("mallory")
	other := oidctest.New() // another issuer's token: a signature this issuer cannot verify
	t.Cleanup(other.Close)
	tests := []struct {
		name   string
		secret string
		sub    Subject
		status int
		code   string
	}{
		{"refused user", iss.ClientSecret, userOf(iss, "mallory"), http.StatusBadRequest, "invalid_grant"},
		{"wrong client secret", "not-the-secret", userOf(iss, "alice"), http.StatusUnauthorized, "invalid_client"},
		{"token for another audience", iss.ClientSecret,
			Subject{Issuer: iss.URL, Subject: "alice", Token: iss.Sign("rsa-1", iss.Claims("alice", "https://elsewhere.test", "mcp"))}, http.StatusBadRequest, "invalid_grant"},
		{"token signed by another key", iss.ClientSecret,
			Subject{Issuer: iss.URL, Subject: "alice", Token: other.Sign("rsa-1", iss.Claims("alice", gatewayAudience, "mcp"))}, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := newExchanger(iss, tc.secret).Token(context.Background(), tc.sub)
			var oe *Error
			if !errors.As(err, &oe) || !errors.Is(err, ErrRefused) {
				t.Fatalf("want an *Error wrapping ErrRefused, got %v", err)
			}
			if oe.Status != tc.status || oe.Code != tc.code {
				t.Errorf("got HTTP %d %q, want %d %q", oe.Status, oe.Code, tc.status, tc.code)
			}
			if msg := err.Error(); strings.Contains(msg, tc.sub.Token) || strings.Contains(msg, tc.secret) || !strings.Contains(msg, tc.code) {
				t.Errorf("error text names a secret or not the code: %s", msg)
			}
		})
	}

	t.Run("audience the issuer does not know", func(t *testing.T) {
		t.Parallel()
		e := New(Config{Name: "x", TokenURL: iss.URL + "/token", ClientID: iss.ClientID, ClientSecret: iss.ClientSecret, Audience: "nowhere"}, nil)
		_, err := e.Token(context.Background(), userOf(iss, "alice"))
		if oe := (*Error)(nil); !errors.As(err, &oe) || oe.Code != "invalid_target" {
			t.Errorf("want invalid_target, got %v", err)
		}
	})
	t.Run("failures are not cached", func(t *testing.T) {
		t.Parallel()
		e := newExchanger(iss, iss.ClientSecret)
		mallory := userOf(iss, "mallory")
		for range 2 {
			if _, err := e.Token(context.Background(), mallory); err == nil {
				t.Fatal("mallory got a token")
			}
		}
		if e.cache.Len() != 0 {
			t.Error("a failure was cached")
		}
	})
}

// answering is a token endpoint that answers every request with status and body.
func answering(t *testing.T, status int, body string, delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm() // a body read to its end lets the server see the client leave
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestUnusableAnswers(t *testing.T) {
	t.Parallel()
	subject := Subject{Issuer: "i", Subject: "alice", Token: "the-subject-token"}
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"error echoing the subject token", `{"error":"invalid_grant","error_description":"bad token the-subject-token"}`, 400, `HTTP 400`},
		{"error echoing the secret", `{"error":"invalid_client","error_description":"secret sekrit is wrong"}`, 401, `HTTP 401`},
		{"not JSON", `<html>oops</html>`, 502, `HTTP 502`},
		{"no access_token", `{"token_type":"Bearer"}`, 200, "no access_token"},
		{"a refresh token", `{"access_token":"x","issued_token_type":"urn:ietf:params:oauth:token-type:refresh_token","token_type":"N_A"}`, 200, "is not an access token"},
		{"not a bearer token", `{"access_token":"x","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"DPoP"}`, 200, "is not Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := New(Config{Name: "c", TokenURL: answering(t, tc.status, tc.body, 0), ClientID: "gw", ClientSecret: "sekrit"}, nil)
			_, err := e.Token(context.Background(), subject)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want ErrRefused with %q, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "the-subject-token") || strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error text carries a secret: %v", err)
			}
		})
	}
}

func TestTimeoutAndUnreachable(t *testing.T) {
	t.Parallel()
	subject := Subject{Issuer: "i", Subject: "alice", Token: "t"}
	e := New(Config{Name: "c", TokenURL: answering(t, 200, `{"access_token":"late"}`, time.Minute), ClientID: "gw"}, nil)
	e.timeout = 100 * time.Millisecond
	if _, err := e.Token(context.Background(), subject); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "did not answer within 100ms") {
		t.Errorf("slow token endpoint: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	e.timeout = time.Second // the exchange goes on after the caller left, for others waiting
	if _, err := e.Token(ctx, subject); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRefused) {
		t.Errorf("a caller that stops waiting gets its context's error: %v", err)
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	e = New(Config{Name: "c", TokenURL: srv.URL + "/token", ClientID: "gw"}, nil)
	if _, err := e.Token(context.Background(), subject); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("unreachable token endpoint: %v", err)
	}
}

func TestLifetime(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	jwt := func(exp int64) string {
		p, _ := json.Marshal(map[string]any{"exp": exp})
		return "e30." + base64.RawURLEncoding.EncodeToString(p) + ".sig"
	}
	tests := []struct {
		name      string
		expiresIn string
		token     string
		want      time.Duration
	}{
		{"number", `300`, "opaque", 300 * time.Second},
		{"string", `"300"`, "opaque", 300 * time.Second},
		{"from the JWT's exp", ``, jwt(now.Unix() + 120), 120 * time.Second},
		{"opaque without expires_in", ``, "opaque", 0},
		{"expired JWT", ``, jwt(now.Unix() - 5), 0},
		{"nonsense", `"soon"`, "opaque", 0},
	}
	for _, tc := range tests {
		if got := lifetime(json.RawMessage(tc.expiresIn), tc.token, now); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkCachedExchange is the cost, on the call path, of finding a user's cached token,
// with every core asking at once: one user, and 1,000 users spread over the calls.
func BenchmarkCachedExchange(b *testing.B) {
	for _, users := range []int{1, 1000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			iss := newIssuer(b)
			e := newExchanger(iss, iss.ClientSecret)
			subjects := make([]Subject, users)
			for i := range subjects {
				subjects[i] = userOf(iss, fmt.Sprintf("user-%d", i))
				if _, err := e.Token(context.Background(), subjects[i]); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1))
				for pb.Next() {
					if _, err := e.Token(context.Background(), subjects[i%users]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
