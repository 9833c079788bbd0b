package toolsearch

import (
	"slices"
	"strings"
	"testing"
)

// tokens returns the tokens of s as strings.
func tokens(s string) []string {
	var out []string
	tokenize(s, nil, func(tok []byte) { out = append(out, string(tok)) })
	return out
}

func TestTokenize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"exposed name", "weather__get_forecast", []string{"weather", "get", "forecast"}},
		{"snake case", "get_forecast_for_city", []string{"get", "forecast", "citi"}},
		{"camel case", "getForecast", []string{"get", "forecast"}},
		{"pascal case", "GetForecast", []string{"get", "forecast"}},
		{"kebab case", "get-forecast", []string{"get", "forecast"}},
		{"acronym then word", "HTTPServer parseJSONBody", []string{"http", "server", "parse", "json", "bodi"}},
		{"all caps", "LIST_ISSUES", []string{"list", "issue"}},
		{"other separators", "repo/owner.name:tag@v1 (draft)", []string{"repo", "owner", "name", "tag", "v1", "draft"}},
		{"digits stay with letters", "ipv4_address s3Bucket base64Encode", []string{"ipv4", "address", "s3", "bucket", "base64", "encode"}},
		{"numbers alone", "2024-01-31 top10", []string{"2024", "01", "31", "top10"}},
		{"accented letters", "Prévisions météo", []string{"prévisions", "météo"}},
		{"combining mark", "e\u0301cole", []string{"e\u0301cole"}},
		{"word starting with a mark", "x \u0301B", []string{"x", "\u0301b"}},
		{"cyrillic camel case", "ДелатьЗапрос", []string{"делать", "запрос"}},
		{"greek", "Καιρός σήμερα", []string{"καιρός", "σήμερα"}},
		{"han characters", "天气预报API", []string{"天", "气", "预", "报", "api"}},
		{"stop words", "What's the weather in a city, and how to get it?", []string{"weather", "citi", "get"}},
		{"only stop words", "the of and to", nil},
		{"punctuation only", "!!! --- __", nil},
		{"empty", "", nil},
		{"overlong token", strings.Repeat("ab", 40) + " ok", []string{"ok"}},
		{"invalid utf-8", "bad\xffbytes", []string{"bad", "byte"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tokens(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("tokens(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestStemMeetsInflections checks what stemming is for: the forms a query and a description use
// for one word meet in one term.
func TestStemMeetsInflections(t *testing.T) {
	t.Parallel()
	for _, forms := range [][]string{
		{"forecast", "forecasts"},
		{"query", "queries"},
		{"file", "files", "filing"},
		{"create", "creates", "created", "creating"},
		{"list", "lists", "listed", "listing"},
		{"run", "runs", "running"},
		{"get", "gets", "getting"},
		{"address", "addresses"},
		{"message", "messages"},
		{"agree", "agreed"},
		{"update", "updates", "updated", "updating"},
		{"hop", "hopping", "hopped"},
	} {
		t.Run(forms[0], func(t *testing.T) {
			t.Parallel()
			want := tokens(forms[0])
			for _, f := range forms[1:] {
				if got := tokens(f); !slices.Equal(got, want) {
					t.Errorf("tokens(%q) = %q, want %q like %q", f, got, want, forms[0])
				}
			}
		})
	}
}

func TestStem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"caresses", "caress"},
		{"ponies", "poni"},
		{"caress", "caress"},
		{"cats", "cat"},
		{"feed", "feed"},
		{"agreed", "agree"},
		{"plastered", "plaster"},
		{"bled", "bled"},
		{"motoring", "motor"},
		{"sing", "sing"},
		{"conflated", "conflate"},
		{"troubled", "trouble"},
		{"sized", "size"},
		{"hopping", "hop"},
		{"falling", "fall"},
		{"hissing", "hiss"},
		{"fizzed", "fizz"},
		{"failing", "fail"},
		{"filing", "file"},
		{"happy", "happi"},
		{"sky", "sky"},
		{"is", "is"},
		{"v2s", "v2s"},
		{"météos", "météos"},
	} {
		if got := string(stem([]byte(tc.in))); got != tc.want {
			t.Errorf("stem(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
