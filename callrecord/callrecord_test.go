package callrecord

import (
	"encoding/json"
	"testing"
)

func TestArgsHash(t *testing.T) {
	t.Parallel()
	hash := func(args string) string { return Record{Args: json.RawMessage(args)}.ArgsHash() }
	a, b := hash(`{"city":"Paris","days":3}`), hash(`{ "days": 3, "city": "Paris" }`)
	if len(a) != 16 || a != b {
		t.Errorf("the same arguments hash to %q and %q; want one 16-digit hash", a, b)
	}
	if c := hash(`{"city":"Rome","days":3}`); c == a {
		t.Error("other arguments, the same hash")
	}
	if got := hash(`not json`); got != "" {
		t.Errorf("arguments that are not JSON hash to %q, want none", got)
	}
}
