// Package tokenexchange gets tokens of the calling user toward an upstream with OAuth 2.0 Token
// Exchange (RFC 8693): the caller's verified access token goes to the authorization server as
// the subject token, and the token it issues (same user, the upstream's audience) is what the
// upstream sees. Exchanged tokens are cached per user until shortly before they expire.
package tokenexchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// RFC 8693 names.
const (
	GrantType            = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// Bounds of an Exchanger.
const (
	// CacheEntries bounds the cache: one entry per user (issuer and subject) of the credential,
	// the least recently used evicted first.
	CacheEntries = 10_000
	// RequestTimeout bounds one exchange, whoever waits for it.
	RequestTimeout = 10 * time.Second
	// maxRenewMargin is how long before expiry a token is exchanged again at most; a short-lived
	// token is renewed after 90 % of its lifetime instead.
	maxRenewMargin = 30 * time.Second
	// maxResponseBytes bounds the token endpoint's answer.
	maxResponseBytes = 64 << 10
)

// Config is one credential: where and as whom to exchange, and for what.
type Config struct {
	// Name of the credential, for errors and logs.
	Name string
	// TokenURL is the authorization server's token endpoint.
	TokenURL string
	// ClientID and ClientSecret authenticate the gateway (client_secret_basic). ClientSecret is
	// a secret: it is never part of an error.
	ClientID, ClientSecret string
	// Audience is sent as "audience" when set.
	Audience string
	// Scopes are sent, space-separated, as "scope" when any.
	Scopes []string
}

// Subject is the user whose token is exchanged.
type Subject struct {
	// Issuer and Subject identify the user (the verified token's iss and sub); they key the
	// cache.
	Issuer, Subject string
	// Token is the user's verified access token, the subject token. A secret.
	Token string
}

// ErrRefused is an exchange that did not give a token: the authorization server refused it
// (an *Error says why), could not be reached, or answered something unusable.
var ErrRefused = errors.New("token exchange failed")

// Error is the authorization server's refusal: an HTTP status and, when it sent one, the
// OAuth error code (RFC 6749 section 5.2: invalid_grant, invalid_target, invalid_client, ...).
// errors.Is(err, ErrRefused) holds. Its text carries neither token nor secret.
type Error struct {
	Credential  string
	Status      int
	Code        string // "" when the answer was not an OAuth error
	Description string // the server's error_description, only when it is short and printable
}

func (e *Error) Error() string {
	s := fmt.Sprintf("token exchange for credential %q refused with HTTP %d", e.Credential, e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return ErrRefused }

// Exchanger exchanges tokens for one credential. It is safe for concurrent use: concurrent
// calls for the same user share one exchange, and tokens are cached per user (at most
// CacheEntries users) until shortly before they expire. Failures are not cached.
type Exchanger struct {
	cfg    Config
	client *http.Client
	cache  *lru.Cache[userKey, cached]
	flight singleflight.Group
	// timeout is RequestTimeout; now is time.Now. Tests change them.
	timeout time.Duration
	now     func() time.Time
}

type userKey struct{ issuer, subject string }

type cached struct {
	token   string
	renewAt time.Time
}

// New returns an Exchanger for cfg that posts with client (nil: a client of its own).
func New(cfg Config, client *http.Client) *Exchanger {
	if client == nil {
		client = &http.Client{}
	}
	cache, _ := lru.New[userKey, cached](CacheEntries) // only fails for a size below 1
	return &Exchanger{cfg: cfg, client: client, cache: cache, timeout: RequestTimeout, now: time.Now}
}

// Token returns a token of s's user for the credential's audience: a cached one while it is
// fresh, else a new exchange. Errors wrap ErrRefused (an *Error when the server answered with
// one), or are ctx's error when the caller stopped waiting; the exchange itself goes on for
// the others waiting for it, within RequestTimeout.
func (e *Exchanger) Token(ctx context.Context, s Subject) (string, error) {
	key := userKey{s.Issuer, s.Subject}
	if c, ok := e.cache.Get(key); ok && e.now().Before(c.renewAt) {
		return c.token, nil
	}
	ch := e.flight.DoChan(s.Issuer+"\x00"+s.Subject, func() (any, error) {
		if c, ok := e.cache.Get(key); ok && e.now().Before(c.renewAt) {
			return c.token, nil // another flight just finished
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.timeout)
		defer cancel()
		started := e.now()
		tok, lifetime, err := e.exchange(ctx, s.Token)
		if err != nil {
			return "", err
		}
		if lifetime > 0 {
			e.cache.Add(key, cached{token: tok, renewAt: started.Add(lifetime - min(maxRenewMargin, lifetime/10))})
		}
		return tok, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// exchange posts one token exchange request and returns the issued token and its lifetime
// (0: unknown, so it is not cached).
func (e *Exchanger) exchange(ctx context.Context, subjectToken string) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":           {GrantType},
		"subject_token":        {subjectToken},
		"subject_token_type":   {TokenTypeAccessToken},
		"requested_token_type": {TokenTypeAccessToken},
	}
	if e.cfg.Audience != "" {
		form.Set("audience", e.cfg.Audience)
	}
	if len(e.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(e.cfg.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("%w: credential %q: building the request: %v", ErrRefused, e.cfg.Name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// client_secret_basic: both parts form-encoded first (RFC 6749 section 2.3.1).
	req.SetBasicAuth(url.QueryEscape(e.cfg.ClientID), url.QueryEscape(e.cfg.ClientSecret))
	resp, err := e.client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("%w: credential %q: %s", ErrRefused, e.cfg.Name, e.transportError(ctx, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", 0, fmt.Errorf("%w: credential %q: reading the answer: %s", ErrRefused, e.cfg.Name, e.transportError(ctx, err))
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, e.refusal(resp, body, subjectToken)
	}
	var ok struct {
		AccessToken     string          `json:"access_token"`
		IssuedTokenType string          `json:"issued_token_type"`
		TokenType       string          `json:"token_type"`
		ExpiresIn       json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || ok.AccessToken == "" {
		return "", 0, fmt.Errorf("%w: credential %q: the answer has no access_token", ErrRefused, e.cfg.Name)
	}
	switch ok.IssuedTokenType {
	case "", TokenTypeAccessToken, TokenTypeJWT:
	default:
		return "", 0, fmt.Errorf("%w: credential %q: issued_token_type %q is not an access token", ErrRefused, e.cfg.Name, printable(ok.IssuedTokenType))
	}
	if ok.TokenType != "" && !strings.EqualFold(ok.TokenType, "bearer") {
		return "", 0, fmt.Errorf("%w: credential %q: token_type %q is not Bearer", ErrRefused, e.cfg.Name, printable(ok.TokenType))
	}
	return ok.AccessToken, lifetime(ok.ExpiresIn, ok.AccessToken, e.now()), nil
}

// refusal is the *Error of a non-200 answer.
func (e *Exchanger) refusal(resp *http.Response, body []byte, subjectToken string) error {
	out := &Error{Credential: e.cfg.Name, Status: resp.StatusCode}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" || json.Valid(body) {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &oe) == nil {
			out.Code = printable(oe.Error)
			out.Description = printable(oe.Description)
		}
	}
	// A server that echoes what it was sent must not make the error carry it.
	for _, secret := range []string{subjectToken, e.cfg.ClientSecret} {
		if secret != "" && (strings.Contains(out.Code, secret) || strings.Contains(out.Description, secret)) {
			out.Code, out.Description = "", ""
		}
	}
	return out
}

// printable keeps s when it is short and of the characters RFC 6749 allows in error codes and
// descriptions (printable ASCII), else returns "".
func printable(s string) string {
	if len(s) > 200 {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return ""
		}
	}
	return s
}

// transportError names a failure to reach the token endpoint without the URL's query or the
// request (which net/http errors quote).
func (e *Exchanger) transportError(ctx context.Context, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("the token endpoint did not answer within %s", e.timeout)
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "the token endpoint cannot be reached: " + ue.Err.Error()
	}
	return "the token endpoint cannot be reached"
}

// lifetime is how long an issued token lives: expires_in when the server sent it (a number, or
// a string of one), else the exp of a JWT access token read without verification (the token
// came straight from the server; only its lifetime is read), else 0.
func lifetime(expiresIn json.RawMessage, token string, now time.Time) time.Duration {
	var seconds float64
	var str string
	if json.Unmarshal(expiresIn, &seconds) != nil && json.Unmarshal(expiresIn, &str) == nil {
		seconds, _ = strconv.ParseFloat(str, 64)
	}
	if seconds > 0 {
		return time.Duration(seconds * float64(time.Second))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return 0
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return 0
	}
	return max(time.Unix(claims.Exp, 0).Sub(now), 0)
}
