// Package sessions makes the 2025-11-25 era's Mcp-Session-Id something any replica can serve:
// the id is a sealed Ticket (AES-256-GCM) carrying what a replica needs, bound to the principal
// who opened it; and it keeps the little state that changes during a session (log level,
// resource subscriptions, whether the session was ended) in Redis or in a bounded table.
package sessions

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Ticket is what a session id seals: everything a replica needs to serve the session.
type Ticket struct {
	// ID names the session in session state and logs; random, 16 bytes hex.
	ID string `json:"i"`
	// Protocol is the negotiated protocol version.
	Protocol string `json:"v"`
	// Capabilities and ClientInfo are what the client declared in initialize, as it wrote them.
	Capabilities json.RawMessage `json:"c,omitempty"`
	ClientInfo   json.RawMessage `json:"n,omitempty"`
	// Principal is the fingerprint of who opened the session (see Fingerprint).
	Principal string `json:"p"`
	// Server is the virtual server the session was opened on ("" for /mcp): a session is
	// served only there.
	Server string `json:"s,omitempty"`
	// Issued and Expires are unix seconds.
	Issued  int64 `json:"t"`
	Expires int64 `json:"e"`
}

// ExpiresAt is when the session ends.
func (t Ticket) ExpiresAt() time.Time { return time.Unix(t.Expires, 0) }

// Anonymous is the principal fingerprint of every caller when authentication is off.
const Anonymous = "anonymous"

// Fingerprint names a principal by issuer and subject, hashed so that a session id (readable by
// no one without the key anyway) never carries a subject even if a key leaks. Not the client
// address: that changes under NAT and between networks.
func Fingerprint(issuer, subject string) string {
	if issuer == "" && subject == "" {
		return Anonymous
	}
	// The issuer's length first: no issuer and subject run together into another pair.
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d:%s%s", len(issuer), issuer, subject)))
	return hex.EncodeToString(sum[:16])
}

// NewID returns a random session id (the Ticket's ID).
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// Errors of Open. A caller answers all of them the same way (HTTP 404), so none leaks which.
var (
	ErrMalformed = errors.New("session id is malformed")
	ErrUnsealed  = errors.New("session id was not sealed by any current key (tampered or foreign)")
	ErrExpired   = errors.New("session has expired")
)

// version prefixes every sealed id, so that a later format can be told apart.
const version = "s1."

// Sealer seals tickets with the current key and opens them with it or a previous one.
type Sealer struct {
	keys []cipher.AEAD // the current key first
	// opened remembers tickets of ids opened lately, by the whole id: a session's every request
	// carries the same id, and an id that opened once with these keys opens the same again, so
	// only its expiry is checked anew. Bounded; a Sealer's keys never change.
	opened *lru.Cache[string, Ticket]
}

// openedIDs is how many opened ids a Sealer remembers (about 1 KiB each).
const openedIDs = 4096

// NewSealer returns a Sealer for key (32 bytes) that also opens ids sealed with previous keys.
func NewSealer(key []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	s.opened, _ = lru.New[string, Ticket](openedIDs)
	for _, k := range append([][]byte{key}, previous...) {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
		if len(k) != 32 {
			return nil, fmt.Errorf("session key: want 32 bytes, got %d", len(k))
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, aead)
	}
	return s, nil
}

// RandomKey returns a fresh 32-byte key, for a gateway configured without one.
func RandomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// Seal returns the session id for t.
func (s *Sealer) Seal(t Ticket) (string, error) {
	plain, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	return version + base64.RawURLEncoding.EncodeToString(s.seal(plain, []byte(version))), nil
}

// SealBytes seals an opaque message (not a session id) with the current key; purpose binds it
// to one use, so a sealed message of one kind is never accepted as another.
func (s *Sealer) SealBytes(purpose string, plain []byte) []byte {
	return s.seal(plain, []byte(purpose))
}

// OpenBytes opens what SealBytes sealed for the same purpose, with any key.
func (s *Sealer) OpenBytes(purpose string, sealed []byte) ([]byte, error) {
	return s.open(sealed, []byte(purpose))
}

func (s *Sealer) seal(plain, purpose []byte) []byte {
	aead := s.keys[0]
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(out)
	return aead.Seal(out, out, plain, purpose)
}

func (s *Sealer) open(sealed, purpose []byte) ([]byte, error) {
	for _, aead := range s.keys {
		n := aead.NonceSize()
		if len(sealed) < n+aead.Overhead() {
			return nil, ErrMalformed
		}
		if plain, err := aead.Open(nil, sealed[:n], sealed[n:], purpose); err == nil {
			return plain, nil
		}
	}
	return nil, ErrUnsealed
}

// maxIDLength bounds what Open decodes; a real id is a few hundred bytes.
const maxIDLength = 8 << 10

// Open returns the ticket sealed in id, if a current or previous key sealed it and it has not
// expired at now.
func (s *Sealer) Open(id string, now time.Time) (Ticket, error) {
	if t, ok := s.opened.Get(id); ok {
		if now.Unix() >= t.Expires {
			return Ticket{}, ErrExpired
		}
		return t, nil
	}
	rest, ok := strings.CutPrefix(id, version)
	if !ok || len(id) > maxIDLength {
		return Ticket{}, ErrMalformed
	}
	sealed, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return Ticket{}, ErrMalformed
	}
	plain, err := s.open(sealed, []byte(version))
	if err != nil {
		return Ticket{}, err
	}
	var t Ticket
	if err := json.Unmarshal(plain, &t); err != nil || t.ID == "" {
		return Ticket{}, ErrMalformed // sealed by us, so only a format change gets here
	}
	if now.Unix() >= t.Expires {
		return Ticket{}, ErrExpired
	}
	s.opened.Add(id, t)
	return t, nil
}
