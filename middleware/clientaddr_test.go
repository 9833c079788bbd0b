package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

var testProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

// serveAddr runs ClientAddr(trusted) for a request from peer with the X-Forwarded-For lines
// given, and returns the address the handler inside saw.
func serveAddr(t testing.TB, trusted []netip.Prefix, peer string, xff ...string) string {
	t.Helper()
	var seen string
	h := ClientAddr(trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = ClientAddrFrom(r.Context())
	}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.RemoteAddr = peer
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	return seen
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"direct", "192.0.2.7:51000", nil, "192.0.2.7"},
		{"an untrusted peer's header is ignored", "192.0.2.7:51000", []string{"198.51.100.1"}, "192.0.2.7"},
		{"a trusted proxy without a header", "10.1.2.3:443", nil, "10.1.2.3"},
		{"behind a trusted proxy", "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the right-most untrusted entry", "10.1.2.3:443", []string{"203.0.113.9, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"a forged left part is not believed", "10.1.2.3:443", []string{"10.0.0.1, 203.0.113.9"}, "203.0.113.9"},
		{"several header lines", "10.1.2.3:443", []string{"203.0.113.9", "198.51.100.1, 10.0.0.5"}, "198.51.100.1"},
		{"every entry trusted: the left-most", "10.1.2.3:443", []string{"10.0.0.9, 10.0.0.5"}, "10.0.0.9"},
		{"an entry with a port", "10.1.2.3:443", []string{"198.51.100.1:5000"}, "198.51.100.1"},
		{"IPv6 behind a proxy", "[fd00::1]:443", []string{"2001:DB8::1"}, "2001:db8::1"},
		{"a bracketed IPv6 entry with a port", "10.1.2.3:443", []string{"[2001:db8::1]:80"}, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:192.0.2.7]:51000", nil, "192.0.2.7"},
		{"IPv4-mapped trusted peer", "[::ffff:10.1.2.3]:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a zone is dropped", "[fe80::1%eth0]:51000", nil, "fe80::1"},
		{"malformed: garbage", "10.1.2.3:443", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"malformed: an empty entry", "10.1.2.3:443", []string{"198.51.100.1,,10.0.0.5"}, "10.1.2.3"},
		{"malformed: a trailing comma", "10.1.2.3:443", []string{"198.51.100.1,"}, "10.1.2.3"},
		{"malformed: unknown", "10.1.2.3:443", []string{"unknown"}, "10.1.2.3"},
		{"malformed: an address range", "10.1.2.3:443", []string{"198.51.100.0/24"}, "10.1.2.3"},
		{"a malformed line anywhere", "10.1.2.3:443", []string{"junk", "198.51.100.1"}, "198.51.100.1"},
		{"a peer that is no address", "@", []string{"198.51.100.1"}, ""},
		{"no peer", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := serveAddr(t, testProxies, tc.peer, tc.xff...); got != tc.want {
				t.Errorf("peer %q, X-Forwarded-For %q: client %q, want %q", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func TestClientAddrTrustsNothingByDefault(t *testing.T) {
	t.Parallel()
	if got := serveAddr(t, nil, "10.1.2.3:443", "198.51.100.1"); got != "10.1.2.3" {
		t.Errorf("without trusted proxies the header was believed: %q", got)
	}
}

func TestClientAddrFromWithout(t *testing.T) {
	t.Parallel()
	if got := ClientAddrFrom(httptest.NewRequest(http.MethodGet, "/", nil).Context()); got != "" {
		t.Errorf("a context without ClientAddr gave %q", got)
	}
}

// FuzzClientAddr: whatever the peer and the header, the address is the peer's or one the header
// holds, in canonical form; an untrusted peer's header is never believed.
func FuzzClientAddr(f *testing.F) {
	for _, seed := range [][2]string{
		{"10.1.2.3:443", "203.0.113.9, 198.51.100.1, 10.9.9.9"},
		{"192.0.2.7:51000", "198.51.100.1"},
		{"[fd00::1]:443", "[2001:db8::1]:80,fd00::2"},
		{"10.1.2.3:443", "198.51.100.1,,"},
		{"[::ffff:10.1.2.3]:443", "::ffff:198.51.100.1%x"},
		{"@", "1.2.3.4"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		got := serveAddr(t, testProxies, peer, strings.Split(xff, "\n")...)
		peerAddr, peerOK := parseAddr(peer)
		if !peerOK {
			if got != "" {
				t.Fatalf("peer %q is no address, yet the client is %q", peer, got)
			}
			return
		}
		addr, err := netip.ParseAddr(got)
		if err != nil || addr.String() != got || addr.Is4In6() || addr.Zone() != "" {
			t.Fatalf("client %q is not an address in canonical form", got)
		}
		if got == peerAddr.String() {
			return
		}
		if !isTrusted(peerAddr, testProxies) {
			t.Fatalf("untrusted peer %q: the header's %q was believed", peer, got)
		}
		for _, line := range strings.Split(xff, "\n") {
			for _, entry := range strings.Split(line, ",") {
				if a, ok := parseAddr(strings.TrimSpace(entry)); ok && a.String() == got {
					return
				}
			}
		}
		t.Fatalf("client %q is neither the peer %q nor in X-Forwarded-For %q", got, peer, xff)
	})
}
