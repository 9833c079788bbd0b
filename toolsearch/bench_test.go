package toolsearch

import (
	"testing"
	"unsafe"
)

// benchCatalog is the benchmarks' catalog: 1,000 generated tools over a 3,000-word vocabulary,
// 20 to 40 words of description and one to five parameters each, and 256 queries of two to four
// words of a description or, one in eight, a tool's exposed name.
func benchCatalog() ([]Doc, []string) {
	g := newGenerator(42, 3000)
	docs := g.catalog(1000)
	return docs, g.queries(docs, 256)
}

// BenchmarkBuild tokenizes and indexes 1,000 tools. index-bytes is the memory the index keeps.
func BenchmarkBuild(b *testing.B) {
	docs, _ := benchCatalog()
	b.ReportAllocs()
	for b.Loop() {
		Build(docs)
	}
	ix := Build(docs)
	b.ReportMetric(float64(indexBytes(ix)+sharedBytes(ix.shared)), "index-bytes")
}

// BenchmarkCorpusIndex builds the index of a view from a corpus of 1,000 tools, as the gateway
// does per caller when the corpus is kept with the catalog: all of them, or every other one.
// index-bytes is the memory the index keeps beyond what it shares with the corpus.
func BenchmarkCorpusIndex(b *testing.B) {
	docs, _ := benchCatalog()
	c := NewCorpus(docs)
	for _, bc := range []struct {
		name string
		keep func(int) bool
	}{
		{"1000", nil},
		{"500", func(i int) bool { return i%2 == 0 }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Index(bc.keep)
			}
			b.ReportMetric(float64(indexBytes(c.Index(bc.keep))), "index-bytes")
		})
	}
}

// BenchmarkSearch searches an index of 1,000 tools, limit 10.
func BenchmarkSearch(b *testing.B) {
	docs, queries := benchCatalog()
	ix := Build(docs)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ix.Search(queries[i%len(queries)], 10)
		i++
	}
}

// indexBytes is the memory of ix's own arrays, without what it shares with its corpus.
func indexBytes(ix *Index) int {
	return 4*cap(ix.docs) + 4*cap(ix.offsets) + int(unsafe.Sizeof(posting{}))*cap(ix.postings)
}

// sharedBytes is the memory of the names, vocabulary and exact names a corpus and its indexes
// share, counting the names' string headers, not their bytes (the docs' own).
func sharedBytes(s *shared) int {
	tableBytes := func(t *table) int { return int(unsafe.Sizeof(slot{}))*cap(t.slots) + cap(t.arena) }
	return int(unsafe.Sizeof(""))*cap(s.names) + tableBytes(s.terms) + tableBytes(s.exact) +
		int(unsafe.Sizeof(exactDoc{}))*cap(s.exactDocs)
}
