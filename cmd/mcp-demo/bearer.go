package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
)

// verifiedToken is what the verified bearer token of a request says.
type verifiedToken struct {
	Sub string   `json:"sub"`
	Aud []string `json:"aud"`
}

type verifiedKey struct{}

// verifiedFrom returns the verified token of the request ctx belongs to, or nil.
func verifiedFrom(ctx context.Context) *verifiedToken {
	v, _ := ctx.Value(verifiedKey{}).(*verifiedToken)
	return v
}

// tokenLog appends the SHA-256 of each distinct bearer token it is shown to a file, so tests
// can tell which tokens reached this server without it keeping them.
type tokenLog struct {
	mu   sync.Mutex
	f    *os.File
	seen map[string]bool
}

func openTokenLog(path string) (*tokenLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &tokenLog{f: f, seen: map[string]bool{}}, nil
}

func (l *tokenLog) add(token string) {
	if l == nil {
		return
	}
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen[h] {
		l.seen[h] = true
		fmt.Fprintln(l.f, h)
	}
}

// verifyBearer admits a request with a bearer token only when the token is a JWT signed by a
// key of the key set at jwksURL, for audience (and from issuer, when set), unexpired; its sub
// and aud go into the request's context for whoami. A request without a token is admitted
// unless it is a tools/call: that is a gateway's session traffic (initialize, lists, pings,
// the GET stream), which carries no user. Every token shown is recorded in log, if set.
func verifyBearer(jwksURL, issuer, audience string, log *tokenLog, next http.Handler) http.Handler {
	keys := oidc.NewRemoteKeySet(context.Background(), jwksURL)
	verifier := oidc.NewVerifier(issuer, keys, &oidc.Config{
		ClientID: audience, SkipIssuerCheck: issuer == "", SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(why string) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized: "+why, http.StatusUnauthorized)
		}
		raw, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !hasBearer {
			if r.Method == http.MethodPost && isToolCall(r) {
				refuse("tools/call needs a bearer token")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		log.add(raw)
		tok, err := verifier.Verify(r.Context(), raw)
		if err != nil {
			refuse(err.Error())
			return
		}
		ctx := context.WithValue(r.Context(), verifiedKey{}, &verifiedToken{Sub: tok.Subject, Aud: tok.Audience})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isToolCall reports whether r's body is a tools/call request, or cannot be read as another
// message; it leaves the body for the next handler.
func isToolCall(r *http.Request) bool {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 16<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	var msg struct {
		Method string `json:"method"`
	}
	return err != nil || json.Unmarshal(body, &msg) != nil || msg.Method == "tools/call"
}
