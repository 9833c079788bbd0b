package oidctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// RFC 8693 names.
const (
	GrantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// exchanges is the token exchange endpoint's state: its settings and what it counted.
type exchanges struct {
	mu sync.Mutex
	// subjectAudience is what a subject token must carry in aud ("" accepts any).
	subjectAudience string
	// audiences are those a client may ask for (empty: any).
	audiences []string
	ttl       time.Duration
	refused   map[string]bool  // subjects refused with invalid_grant
	count     map[string]int64 // exchanges issued per subject
	seen      []string         // subject tokens presented, in order
	n         int64
}

// SetSubjectAudience makes the token exchange accept only subject tokens whose aud contains
// aud: tokens issued for the gateway. Empty: any audience.
func (iss *Issuer) SetSubjectAudience(aud string) {
	iss.ex.mu.Lock()
	defer iss.ex.mu.Unlock()
	iss.ex.subjectAudience = aud
}

// SetExchangeAudiences limits the audiences a client may ask for; others are refused with
// invalid_target. None: any.
func (iss *Issuer) SetExchangeAudiences(auds ...string) {
	iss.ex.mu.Lock()
	defer iss.ex.mu.Unlock()
	iss.ex.audiences = auds
}

// SetExchangeTTL sets the lifetime of exchanged tokens (default an hour).
func (iss *Issuer) SetExchangeTTL(d time.Duration) {
	iss.ex.mu.Lock()
	defer iss.ex.mu.Unlock()
	iss.ex.ttl = d
}

// RefuseExchange makes the token exchange refuse sub's tokens with invalid_grant, as an IdP does
// for a user not allowed to reach the audience.
func (iss *Issuer) RefuseExchange(sub string) {
	iss.ex.mu.Lock()
	defer iss.ex.mu.Unlock()
	if iss.ex.refused == nil {
		iss.ex.refused = map[string]bool{}
	}
	iss.ex.refused[sub] = true
}

// Exchanges returns how many tokens the token exchange issued for sub.
func (iss *Issuer) Exchanges(sub string) int64 {
	iss.ex.mu.Lock()
	defer iss.ex.mu.Unlock()
	return iss.ex.count[sub]
}

// exchange implements the token exchange grant (RFC 8693) for a confidential client
// (client_secret_basic or form fields): the subject token must be one of this issuer's access
// tokens, signed by a published key, unexpired, for the subject audience; the issued token is
// a JWT with the subject's sub and aud = the requested audience.
func (iss *Issuer) exchange(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, description string) {
		w.WriteHeader(status)
		writeJSON(w, map[string]string{"error": code, "error_description": description})
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != iss.ClientID || secret != iss.ClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	f := r.PostForm
	subjectToken := f.Get("subject_token")
	if subjectToken == "" {
		fail(http.StatusBadRequest, "invalid_request", "subject_token is required")
		return
	}
	if t := f.Get("subject_token_type"); t != TokenTypeAccessToken && t != TokenTypeJWT {
		fail(http.StatusBadRequest, "invalid_request", "unsupported subject_token_type")
		return
	}
	if t := f.Get("requested_token_type"); t != "" && t != TokenTypeAccessToken {
		fail(http.StatusBadRequest, "invalid_request", "unsupported requested_token_type")
		return
	}

	iss.ex.mu.Lock()
	defer iss.ex.mu.Unlock()
	iss.ex.seen = append(iss.ex.seen, subjectToken)
	claims, err := iss.verify(subjectToken)
	if err != nil {
		fail(http.StatusBadRequest, "invalid_grant", "the subject token is not valid: "+err.Error())
		return
	}
	var sub string
	_ = json.Unmarshal(claims["sub"], &sub)
	if want := iss.ex.subjectAudience; want != "" && !audienceHas(claims["aud"], want) {
		fail(http.StatusBadRequest, "invalid_grant", "the subject token is not for this client's audience")
		return
	}
	if iss.ex.refused[sub] {
		fail(http.StatusBadRequest, "invalid_grant", "the subject may not be exchanged for this audience")
		return
	}
	audience := f.Get("audience")
	if audience == "" || (len(iss.ex.audiences) > 0 && !slices.Contains(iss.ex.audiences, audience)) {
		fail(http.StatusBadRequest, "invalid_target", "the requested audience is unknown")
		return
	}
	ttl := iss.ex.ttl
	if ttl == 0 {
		ttl = time.Hour
	}
	if iss.ex.count == nil {
		iss.ex.count = map[string]int64{}
	}
	iss.ex.count[sub]++
	iss.ex.n++
	now := time.Now()
	out := map[string]any{
		"iss": iss.URL, "sub": sub, "aud": audience, "azp": id, "client_id": id,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"jti": fmt.Sprintf("exchanged-%d", iss.ex.n),
	}
	if s := f.Get("scope"); s != "" {
		out["scope"] = s
	}
	writeJSON(w, map[string]any{
		"access_token":      iss.Sign("rsa-1", out),
		"issued_token_type": TokenTypeAccessToken,
		"token_type":        "Bearer",
		"expires_in":        int(ttl.Round(time.Second).Seconds()),
	})
}

// SubjectTokensSeen returns the subject tokens the token exchange was handed, in order.
func (iss *Issuer) SubjectTokensSeen() []string {
	iss.ex.mu.Lock()
	defer iss.ex.mu.Unlock()
	return slices.Clone(iss.ex.seen)
}

// verify checks that token is a JWS by one of this issuer's published keys, from this issuer,
// and not expired, and returns its claims.
func (iss *Issuer) verify(token string) (map[string]json.RawMessage, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("not a signed JWT")
	}
	iss.mu.Lock()
	k, ok := iss.keys[jws.Signatures[0].Header.KeyID]
	iss.mu.Unlock()
	if !ok || string(k.alg) != jws.Signatures[0].Header.Algorithm {
		return nil, fmt.Errorf("unknown signing key")
	}
	payload, err := jws.Verify(k.signer.Public())
	if err != nil {
		return nil, fmt.Errorf("bad signature")
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("bad claims")
	}
	var issuer string
	var exp int64
	_ = json.Unmarshal(claims["iss"], &issuer)
	_ = json.Unmarshal(claims["exp"], &exp)
	switch {
	case issuer != iss.URL:
		return nil, fmt.Errorf("another issuer's token")
	case exp == 0 || time.Now().After(time.Unix(exp, 0)):
		return nil, fmt.Errorf("expired")
	}
	return claims, nil
}

// audienceHas reports whether an aud claim (a string or a list) contains want.
func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return slices.Contains(many, want)
}
