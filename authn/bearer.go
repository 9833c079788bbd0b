package authn

import "strings"

// ParseBearer returns the token of an Authorization header value using the Bearer scheme
// (RFC 6750 section 2.1: the scheme is case-insensitive, the token is b64token characters).
// ok is false when the header is absent, of another scheme, or malformed.
func ParseBearer(header string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" || len(token) > maxTokenBytes {
		return "", false
	}
	end := len(token)
	for end > 0 && token[end-1] == '=' { // b64token may end in padding
		end--
	}
	if end == 0 {
		return "", false
	}
	for i := 0; i < end; i++ {
		c := token[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return "", false
		}
	}
	return token, true
}

// maxTokenBytes bounds what is hashed and parsed for one request.
const maxTokenBytes = 16 << 10
