package toolsearch

import (
	"slices"
	"testing"
)

// FuzzSearch: whatever a client sends as the query and whatever an upstream puts in a tool's
// name, description and parameters, Search does not panic and returns at most the limit of
// distinct valid hits in non-increasing score order, all in the view.
func FuzzSearch(f *testing.F) {
	for _, seed := range []struct {
		query, text string
		limit       int
	}{
		{"weather forecast", "Get the forecast", 5},
		{"", "", 0},
		{"weather__get_forecast", "weather__get_forecast", -1},
		{"getForecast HTTPServer ipv4", "ДелатьЗапрос 天气预报", 100},
		{"the of and", "a the", 3},
		{"caresses ponies hopping", "e\u0301cole \xff\xfe", 1},
	} {
		f.Add(seed.query, seed.text, seed.limit)
	}
	base := newGenerator(7, 500).catalog(40)
	f.Fuzz(func(t *testing.T, query, text string, limit int) {
		docs := append(base[:len(base):len(base)], Doc{
			Name:        text,
			Original:    text,
			Title:       text,
			Description: text + " " + query,
			Params:      []Param{{Name: text, Description: query}},
		})
		c := NewCorpus(docs)
		hits := c.Index(nil).Search(query, limit)
		checkHits(t, hits, len(docs), limit)
		if again := Build(docs).Search(query, limit); !slices.Equal(again, hits) {
			t.Fatalf("a second build found %v, the first %v", again, hits)
		}
		odd := func(i int) bool { return i%2 == 1 }
		hits = c.Index(odd).Search(query, limit)
		checkHits(t, hits, len(docs), limit)
		for _, h := range hits {
			if !odd(h.Index) {
				t.Fatalf("hit %d is outside the view", h.Index)
			}
		}
	})
}
