// Package oidctest is a real OIDC issuer for tests: an HTTP server with a discovery document, a
// JWKS of real RSA and EC keys that can rotate, a token endpoint for the client-credentials and
// token exchange (RFC 8693) grants, and a signer for access tokens. Nothing in it is mocked: tokens are verified with the same cryptography as
// a production IdP's.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Issuer is a running OIDC issuer.
type Issuer struct {
	URL    string
	server *httptest.Server

	mu   sync.Mutex
	keys map[string]key // kid -> signing key; all of them are published in the JWKS

	// ClientID and ClientSecret are what the token endpoint accepts (client_credentials).
	ClientID, ClientSecret string
	// TokensIssued counts client-credentials tokens handed out.
	TokensIssued atomic.Int64
	// TokenTTL is the lifetime of client-credentials tokens.
	TokenTTL time.Duration

	ex exchanges // the token exchange grant (exchange.go)
}

type key struct {
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

// New starts an issuer on a free loopback port with one RSA ("rsa-1") and one EC ("ec-1") key.
func New() *Issuer { return NewAt("127.0.0.1:0") }

// NewAt starts an issuer on addr (host:port), so a test can choose the address before the
// issuer exists.
func NewAt(addr string) *Issuer {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	iss := &Issuer{URL: "http://" + ln.Addr().String(), keys: map[string]key{}, ClientID: "gateway", ClientSecret: "gateway-secret", TokenTTL: time.Hour}
	iss.AddRSAKey("rsa-1")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	iss.keys["ec-1"] = key{alg: jose.ES256, signer: ec}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("GET /jwks", iss.jwks)
	mux.HandleFunc("POST /token", iss.token)
	iss.server = httptest.NewUnstartedServer(mux)
	iss.server.Listener.Close()
	iss.server.Listener = ln
	iss.server.Start() // URL was set before: clients may be waiting on this address already
	return iss
}

// Close stops the issuer.
func (iss *Issuer) Close() { iss.server.Close() }

// AddRSAKey generates an RSA key published under kid.
func (iss *Issuer) AddRSAKey(kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys[kid] = key{alg: jose.RS256, signer: k}
}

// RemoveKey stops publishing kid (its tokens stop verifying once verifiers refetch the JWKS).
func (iss *Issuer) RemoveKey(kid string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	delete(iss.keys, kid)
}

// Sign returns a JWS of claims signed with the key kid.
func (iss *Issuer) Sign(kid string, claims map[string]any) string {
	iss.mu.Lock()
	k, ok := iss.keys[kid]
	iss.mu.Unlock()
	if !ok {
		panic("oidctest: no key " + kid)
	}
	return SignWith(k.alg, k.signer, kid, claims)
}

// SignWith signs claims with any key, published or not.
func SignWith(alg jose.SignatureAlgorithm, signingKey any, kid string, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signingKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return s
}

// Claims returns the usual claims of an access token from this issuer for sub and audience,
// valid for an hour; tests change what they need.
func (iss *Issuer) Claims(sub, audience string, scopes string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": iss.URL, "sub": sub, "aud": audience, "azp": "test-client",
		"scope": scopes, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// PublicKey returns the public key of kid, for algorithm-confusion tests.
func (iss *Issuer) PublicKey(kid string) crypto.PublicKey {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.keys[kid].signer.Public()
}

func (iss *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                iss.URL,
		"jwks_uri":                              iss.URL + "/jwks",
		"token_endpoint":                        iss.URL + "/token",
		"authorization_endpoint":                iss.URL + "/authorize",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", GrantTokenExchange},
	})
}

func (iss *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	iss.mu.Lock()
	set := jose.JSONWebKeySet{}
	for kid, k := range iss.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
	}
	iss.mu.Unlock()
	writeJSON(w, set)
}

// token implements the client_credentials grant: the client authenticates with HTTP Basic or
// form fields; the token is a JWT for the requested audience, or an opaque-looking one.
func (iss *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == GrantTokenExchange {
		iss.exchange(w, r)
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != iss.ClientID || secret != iss.ClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	n := iss.TokensIssued.Add(1)
	writeJSON(w, map[string]any{
		"access_token": fmt.Sprintf("cc-token-%d", n),
		"token_type":   "Bearer",
		"expires_in":   int(iss.TokenTTL.Seconds()),
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
