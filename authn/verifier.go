package authn

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/switchboard-mcp/switchboard/internal/backoff"
)

// Errors of Verify. Callers use errors.Is.
var (
	// ErrNotReady: the issuer's discovery document has not been fetched yet.
	ErrNotReady = errors.New("identity provider not reachable yet")
	// ErrInvalidToken: the token is malformed, badly signed, expired, or not for us.
	ErrInvalidToken = errors.New("invalid token")
)

// VerifierConfig configures token verification.
type VerifierConfig struct {
	Issuer   string
	Audience string   // this resource (RFC 8707); tokens must name it in aud
	Algs     []string // accepted signing algorithms; never "none", never HMAC
	Skew     time.Duration
	// CacheSize bounds the verified-token cache (entries).
	CacheSize int
	// HTTPClient fetches discovery and keys. Nil: a client with a 10s timeout.
	HTTPClient *http.Client
}

// DefaultAlgs are the asymmetric algorithms accepted by default.
var DefaultAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Verifier verifies bearer tokens against an OIDC issuer. Safe for concurrent use.
type Verifier struct {
	cfg      VerifierConfig
	log      *slog.Logger
	verifier atomic.Pointer[oidc.IDTokenVerifier] // nil until discovery succeeded
	lastErr  atomic.Pointer[string]
	cache    *lru.Cache[[sha256.Size]byte, *Principal]
	now      func() time.Time
}

// NewVerifier returns a Verifier that is not ready until Run has fetched the issuer's discovery
// document.
func NewVerifier(cfg VerifierConfig, log *slog.Logger) *Verifier {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if len(cfg.Algs) == 0 {
		cfg.Algs = DefaultAlgs
	}
	cache, _ := lru.New[[sha256.Size]byte, *Principal](cfg.CacheSize) // only fails for size <= 0
	v := &Verifier{cfg: cfg, log: log.With("issuer", cfg.Issuer), cache: cache, now: time.Now}
	msg := "discovery not attempted yet"
	v.lastErr.Store(&msg)
	return v
}

// Run fetches the issuer's discovery document, retrying with capped back-off until it succeeds
// or ctx ends; onReady runs once it has. Keys are then fetched, and refetched on rotation (an
// unknown key id), by go-oidc's remote key set.
func (v *Verifier) Run(ctx context.Context, onReady func()) {
	bo := backoff.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second}
	for {
		provider, err := oidc.NewProvider(oidc.ClientContext(ctx, v.cfg.HTTPClient), v.cfg.Issuer)
		if err == nil {
			keyCtx := oidc.ClientContext(context.WithoutCancel(ctx), v.cfg.HTTPClient)
			var claims struct {
				JWKS string `json:"jwks_uri"`
			}
			_ = provider.Claims(&claims)
			keys := oidc.NewRemoteKeySet(keyCtx, claims.JWKS)
			v.verifier.Store(oidc.NewVerifier(v.cfg.Issuer, keys, &oidc.Config{
				ClientID:             v.cfg.Audience,
				SupportedSigningAlgs: v.cfg.Algs,
				// Expiry and not-before are checked in Verify, with our skew: go-oidc allows
				// none on exp and a fixed 5 minutes on nbf.
				SkipExpiryCheck: true,
			}))
			v.lastErr.Store(nil)
			v.log.Info("identity provider discovered")
			onReady()
			return
		}
		msg := fmt.Sprintf("discovery of %s failing: %v", v.cfg.Issuer, err)
		if old := v.lastErr.Load(); old == nil || *old != msg {
			v.log.Warn("identity provider unreachable; not ready", "err", err)
		}
		v.lastErr.Store(&msg)
		select {
		case <-ctx.Done():
			return
		case <-time.After(bo.Next()):
		}
	}
}

// NotReadyReason says why the verifier cannot verify yet, or "" when it can.
func (v *Verifier) NotReadyReason() string {
	if v.verifier.Load() != nil {
		return ""
	}
	if msg := v.lastErr.Load(); msg != nil {
		return *msg
	}
	return "discovery not attempted yet"
}

// Verify checks a raw bearer token: signature by a key of the issuer's JWKS with an accepted
// algorithm, issuer, audience, expiry (with the configured skew) and not-before. A token seen
// before is answered from a bounded cache until it expires, without cryptography.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	key := sha256.Sum256([]byte(raw))
	if p, ok := v.cache.Get(key); ok {
		if v.now().Before(p.Expiry.Add(v.cfg.Skew)) {
			return p, nil
		}
		v.cache.Remove(key)
	}
	verifier := v.verifier.Load()
	if verifier == nil {
		return nil, ErrNotReady
	}
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var claims rawClaims
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var times struct {
		Exp *float64 `json:"exp"`
		Nbf *float64 `json:"nbf"`
	}
	_ = json.Unmarshal(claims, &times)
	now := v.now()
	switch {
	case times.Exp == nil:
		return nil, fmt.Errorf("%w: no exp claim", ErrInvalidToken)
	case now.After(tok.Expiry.Add(v.cfg.Skew)):
		return nil, fmt.Errorf("%w: expired at %s", ErrInvalidToken, tok.Expiry.UTC().Format(time.RFC3339))
	case times.Nbf != nil && now.Add(v.cfg.Skew).Before(time.Unix(int64(*times.Nbf), 0)):
		return nil, fmt.Errorf("%w: not valid before %s", ErrInvalidToken, time.Unix(int64(*times.Nbf), 0).UTC().Format(time.RFC3339))
	}
	p, err := principalFromClaims(claims, tok.Expiry)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	v.cache.Add(key, p)
	return p, nil
}

// rawClaims keeps the token's claims as JSON for principalFromClaims.
type rawClaims []byte

func (r *rawClaims) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}
