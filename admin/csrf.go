package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
)

// csrf protects the console's actions from other sites: a token in each form (and in a header
// for fetch), bound to the admin principal by an HMAC with a key of the gateway's, checked on
// every POST together with the browser's Sec-Fetch-Site and Origin (http.CrossOriginProtection).
// A token does not expire; it opens nothing without the principal's own credentials.
type csrf struct {
	key    []byte
	origin *http.CrossOriginProtection
}

// csrfField is the form field, csrfHeader the header, that carry the token.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// ErrCSRF is an action refused as a possible cross-site request: from another origin, or
// without the console's token.
var ErrCSRF = errors.New("refused as a possible cross-site request")

// newCSRF keys tokens with key; nil: a random key of this process (tokens then work on this
// replica only, until it restarts).
func newCSRF(key []byte) *csrf {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &csrf{key: key, origin: http.NewCrossOriginProtection()}
}

// token is the token of the principal named who ("" when anonymous).
func (c *csrf) token(who string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("switchboard console csrf\x00" + who))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// check refuses a cross-origin request and one whose token is not who's.
func (c *csrf) check(r *http.Request, who string) error {
	if err := c.origin.Check(r); err != nil {
		return fmt.Errorf("%w: %v", ErrCSRF, err)
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	if !hmac.Equal([]byte(got), []byte(c.token(who))) {
		return fmt.Errorf("%w: it has no valid console token (reload the console and try again)", ErrCSRF)
	}
	return nil
}
