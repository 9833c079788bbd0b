package middleware

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr puts the client's address in the request's context, for ClientAddrFrom: the TCP
// peer's, or, when the peer is in trusted (proxies whose X-Forwarded-For is believed), the
// right-most address of X-Forwarded-For that is not itself trusted. Only the proxies' own
// entries are believed: anything left of the first untrusted one is what the client wrote. A
// header with an entry that is not an address is ignored (the peer it is), so a client cannot
// make up an address by malforming it. A header whose entries are all trusted gives its
// left-most. Addresses are in canonical form (IPv4-mapped IPv6 as IPv4, no zone). A peer that
// is not an IP address (a Unix socket) gives no address at all.
func ClientAddr(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if addr, ok := clientAddr(r, trusted); ok {
				r = fill(r, func(s *scope) { s.clientAddr = addr.String() })
			}
			next.ServeHTTP(w, r)
		})
	}
}

// WithClientAddr returns ctx carrying addr as the client's address, for tests and work that
// starts outside an HTTP request; ClientAddr does it for requests.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return with(ctx, func(s *scope) { s.clientAddr = addr })
}

// ClientAddrFrom returns the client's address that ClientAddr found, or "" when it found none.
func ClientAddrFrom(ctx context.Context) string {
	return scopeOf(ctx).clientAddr
}

// clientAddr is the client's address of r; ok is false when the peer's is unknown.
func clientAddr(r *http.Request, trusted []netip.Prefix) (_ netip.Addr, ok bool) {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok || !isTrusted(peer, trusted) {
		return peer, ok
	}
	// Walk from the right: the last header line holds the entries the nearest proxy added.
	lines := r.Header.Values("X-Forwarded-For")
	var leftmost netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, entry = rest[:j], rest[j+1:]
			} else {
				rest, entry = "", rest
			}
			addr, ok := parseAddr(strings.TrimSpace(entry))
			if !ok {
				return peer, true // malformed: believe none of it
			}
			if !isTrusted(addr, trusted) {
				return addr, true
			}
			leftmost = addr
		}
	}
	if leftmost.IsValid() {
		return leftmost, true
	}
	return peer, true
}

// parseAddr reads "ADDR", "ADDR:PORT" or "[ADDR]:PORT", in canonical form.
func parseAddr(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = ap.Addr()
	}
	return addr.Unmap().WithZone(""), true
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
