package sessions

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testTicket(now time.Time) Ticket {
	return Ticket{ID: NewID(), Protocol: "2025-11-25", Capabilities: json.RawMessage(`{"sampling":{}}`),
		ClientInfo: json.RawMessage(`{"name":"c","version":"1"}`), Principal: Fingerprint("https://idp", "alice"),
		Issued: now.Unix(), Expires: now.Add(time.Hour).Unix()}
}

func mustSealer(t testing.TB, key []byte, previous ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpensWhatItSealed(t *testing.T) {
	now := time.Now()
	s := mustSealer(t, RandomKey())
	want := testTicket(now)
	id, err := s.Seal(want)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(id, "alice") || strings.Contains(id, "sampling") {
		t.Errorf("the id shows what it seals: %s", id)
	}
	got, err := s.Open(id, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Principal != want.Principal || string(got.Capabilities) != string(want.Capabilities) || got.Expires != want.Expires {
		t.Errorf("opened %+v, sealed %+v", got, want)
	}
	again, _ := s.Seal(want)
	if again == id {
		t.Error("two seals of one ticket are equal: the nonce is not random")
	}
}

func TestOpenRefuses(t *testing.T) {
	now := time.Now()
	key := RandomKey()
	s := mustSealer(t, key)
	id, _ := s.Seal(testTicket(now))
	flip := []byte(id)
	flip[len(flip)-5] ^= 0x01
	for name, tc := range map[string]struct {
		id   string
		at   time.Time
		want error
	}{
		"tampered":    {string(flip), now, nil}, // ErrUnsealed or ErrMalformed: either way refused
		"expired":     {id, now.Add(2 * time.Hour), ErrExpired},
		"no prefix":   {strings.TrimPrefix(id, version), now, ErrMalformed},
		"not base64":  {version + "!!!", now, ErrMalformed},
		"too short":   {version + "AAAA", now, ErrMalformed},
		"empty":       {"", now, ErrMalformed},
		"oversized":   {version + strings.Repeat("A", 10_000), now, ErrMalformed},
		"foreign key": {mustSeal(t, mustSealer(t, RandomKey()), testTicket(now)), now, ErrUnsealed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Open(tc.id, tc.at)
			if err == nil {
				t.Fatal("opened")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func mustSeal(t *testing.T, s *Sealer, tk Ticket) string {
	id, err := s.Seal(tk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRotationOpensIDsOfThePreviousKey(t *testing.T) {
	now := time.Now()
	oldKey, newKey := RandomKey(), RandomKey()
	id := mustSeal(t, mustSealer(t, oldKey), testTicket(now))
	rotated := mustSealer(t, newKey, oldKey)
	if _, err := rotated.Open(id, now); err != nil {
		t.Errorf("the previous key's id after rotation: %v", err)
	}
	fresh := mustSeal(t, rotated, testTicket(now))
	if _, err := mustSealer(t, oldKey).Open(fresh, now); err == nil {
		t.Error("a new id opened with the old key alone: it was not sealed with the new key")
	}
	if _, err := mustSealer(t, newKey).Open(id, now); !errors.Is(err, ErrUnsealed) {
		t.Errorf("the old id without the previous key: %v, want ErrUnsealed", err)
	}
}

func TestSealBytesBindsThePurpose(t *testing.T) {
	s := mustSealer(t, RandomKey())
	sealed := s.SealBytes("a", []byte("payload"))
	if got, err := s.OpenBytes("a", sealed); err != nil || string(got) != "payload" {
		t.Errorf("OpenBytes: %q, %v", got, err)
	}
	if _, err := s.OpenBytes("b", sealed); err == nil {
		t.Error("a message sealed for one purpose opened for another")
	}
}

func TestNewSealerRejectsAWrongSizeKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
}

func TestFingerprint(t *testing.T) {
	if Fingerprint("", "") != Anonymous {
		t.Error("no principal is not anonymous")
	}
	a, b := Fingerprint("https://idp", "alice"), Fingerprint("https://idp", "bob")
	if a == b || a != Fingerprint("https://idp", "alice") || a == Fingerprint("https://other", "alice") {
		t.Error("fingerprints do not tell issuer+subject apart, or are not stable")
	}
	if Fingerprint("https://idp\x00", "x") == Fingerprint("https://idp", "\x00x") {
		t.Error("issuer and subject run together")
	}
}

// FuzzOpen: whatever a client sends as Mcp-Session-Id, Open neither panics nor accepts it.
func FuzzOpen(f *testing.F) {
	s := mustSealer(f, RandomKey())
	now := time.Now()
	id, _ := s.Seal(testTicket(now))
	f.Add(id)
	f.Add(version)
	f.Add("")
	f.Add(version + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, candidate string) {
		tk, err := s.Open(candidate, now)
		if err == nil && candidate != id {
			t.Fatalf("opened a forged id %q: %+v", candidate, tk)
		}
	})
}

// BenchmarkSealOpen is the cost sealing (initialize) and opening (every later request) adds.
func BenchmarkSealOpen(b *testing.B) {
	s := mustSealer(b, RandomKey())
	tk := testTicket(time.Now())
	id, _ := s.Seal(tk)
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = s.Seal(tk)
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		now := time.Now()
		for b.Loop() {
			if _, err := s.Open(id, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(id)), "id-bytes")
	})
}

// TestOpenRemembersOnlyWhatOpened: an id opened once opens again from memory, still expiring on
// time; a tampered copy of it is refused as before.
func TestOpenRemembersOnlyWhatOpened(t *testing.T) {
	s, err := NewSealer(RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	id, err := s.Seal(Ticket{ID: NewID(), Principal: "p", Expires: now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := s.Open(id, now); err != nil || got.Principal != "p" {
			t.Fatalf("Open = %+v, %v", got, err)
		}
	}
	if _, err := s.Open(id, now.Add(2*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("a remembered id past its expiry: %v, want ErrExpired", err)
	}
	flipped := byte('A')
	if id[len(id)-2] == 'A' {
		flipped = 'B'
	}
	tampered := id[:len(id)-2] + string(flipped) + id[len(id)-1:]
	if _, err := s.Open(tampered, now); err == nil {
		t.Error("a tampered copy of a remembered id opened")
	}
}
