package toolsearch

import (
	"math"
	"sync"
)

// Index ranks a fixed set of tools: a corpus's, or a subset of them. It is immutable once built:
// any number of goroutines may call Search at once. Besides what it shares with its corpus it
// holds 4 bytes per term of the corpus, 4 per tool and 8 per distinct term of each tool.
type Index struct {
	shared   *shared
	docs     []uint32  // view position -> corpus doc, ascending
	offsets  []uint32  // term t's postings are postings[offsets[t]:offsets[t+1]]
	postings []posting // grouped by term, each group by ascending view position
	scratch  sync.Pool // of *accumulator, sized to docs
}

// posting is one term's contribution to the score of the doc at view position doc.
type posting struct {
	doc    uint32
	weight float32 // idf * tf / (k1 + tf), tf the term's combined, normalized field frequency
}

// Index indexes the docs of c that keep reports true for (all of them when keep is nil), with
// every statistic computed from those docs alone. keep is called once per doc, in order, before
// Index returns. Hits point into the docs given to NewCorpus.
func (c *Corpus) Index(keep func(i int) bool) *Index {
	ix := &Index{shared: c.shared, docs: make([]uint32, 0, c.Len())}
	nterms := c.shared.terms.count
	offsets := make([]uint32, nterms+1)
	var avg [numFields]float64
	for d := range c.Len() {
		if keep != nil && !keep(d) {
			continue
		}
		ix.docs = append(ix.docs, uint32(d))
		for _, e := range c.entries[c.starts[d]:c.starts[d+1]] {
			offsets[e.term+1]++ // df, until the prefix sum below
		}
		for f, l := range c.lengths[d] {
			avg[f] += float64(l)
		}
	}
	n := len(ix.docs)
	for f := range avg {
		avg[f] /= float64(max(n, 1))
	}

	// idf, then each term's next free posting, in one slice.
	idf := make([]float32, nterms)
	for t := range nterms {
		df := float64(offsets[t+1])
		idf[t] = float32(math.Log(1 + (float64(n)-df+0.5)/(df+0.5)))
		offsets[t+1] += offsets[t]
	}
	next := make([]uint32, nterms)
	copy(next, offsets)
	postings := make([]posting, offsets[nterms])
	for v, d := range ix.docs {
		var norm [numFields]float64 // turns a field's raw frequency into its weighted, normalized share
		for f, l := range c.lengths[d] {
			if l > 0 {
				norm[f] = fieldWeight[f] / (1 - b + b*float64(l)/avg[f])
			}
		}
		for _, e := range c.entries[c.starts[d]:c.starts[d+1]] {
			var tf float64
			for f, k := range e.tf {
				tf += float64(k) * norm[f]
			}
			postings[next[e.term]] = posting{doc: uint32(v), weight: idf[e.term] * float32(tf/(k1+tf))}
			next[e.term]++
		}
	}
	ix.offsets, ix.postings = offsets, postings
	ix.scratch.New = func() any { return &accumulator{scores: make([]float64, n)} }
	return ix
}

// Len is the number of tools in the index.
func (ix *Index) Len() int { return len(ix.docs) }
