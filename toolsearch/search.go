package toolsearch

import (
	"slices"
	"sort"
	"strings"
)

// Limits of Search.
const (
	// DefaultLimit is the number of hits Search returns for a limit <= 0.
	DefaultLimit = 10
	// MaxLimit caps the number of hits Search returns.
	MaxLimit = 50
	// MaxQueryBytes is how much of a query Search reads; the rest is ignored.
	MaxQueryBytes = 1024
)

// maxQueryTerms caps the distinct known terms of a query Search scores, in the order they come.
const maxQueryTerms = 32

// accumulator is one search's scratch: a score per view position, the positions it touched, and
// room for the query's words. Between searches every score is zero and touched is empty.
type accumulator struct {
	scores  []float64
	touched []uint32
	buf     []byte
}

// Search returns the tools that best match query, best first: at most limit of them, DefaultLimit
// when limit <= 0 and never more than MaxLimit. Equal scores are ordered by Name, then by
// position. A query with no word known to the index, such as an empty one or one of stop words
// only, returns nil unless it is the name of a tool of the index. Only the first MaxQueryBytes
// bytes of query, and its first 32 distinct known terms, count.
func (ix *Index) Search(query string, limit int) []Hit {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if len(query) > MaxQueryBytes {
		query = query[:MaxQueryBytes]
	}

	acc := ix.scratch.Get().(*accumulator)
	defer ix.release(acc)
	var termsArr [maxQueryTerms]int32
	terms := termsArr[:0]
	acc.buf = tokenize(query, acc.buf, func(tok []byte) {
		id, ok := ix.shared.terms.get(tok)
		if ok && len(terms) < maxQueryTerms && !slices.Contains(terms, id) {
			terms = append(terms, id)
		}
	})
	exactHead := int32(-1)
	acc.buf = appendLower(acc.buf[:0], strings.TrimSpace(query))
	if len(acc.buf) > 0 {
		if h, ok := ix.shared.exact.get(acc.buf); ok {
			exactHead = h
		}
	}
	if len(terms) == 0 && exactHead < 0 {
		return nil
	}

	scores := acc.scores
	for _, t := range terms {
		for _, p := range ix.postings[ix.offsets[t]:ix.offsets[t+1]] {
			if scores[p.doc] == 0 {
				acc.touched = append(acc.touched, p.doc)
			}
			scores[p.doc] += float64(p.weight)
		}
	}
	if exactHead >= 0 {
		var best float64
		for _, v := range acc.touched {
			best = max(best, scores[v])
		}
		for l := exactHead; l >= 0; l = ix.shared.exactDocs[l].next {
			v, ok := slices.BinarySearch(ix.docs, uint32(ix.shared.exactDocs[l].doc))
			if !ok {
				continue // not in this view
			}
			if scores[v] == 0 {
				acc.touched = append(acc.touched, uint32(v))
			}
			scores[v] += best + 1
		}
	}

	// The best limit of the touched, by insertion: limit is small and most lose at once.
	hits := make([]Hit, 0, min(limit, len(acc.touched)))
	for _, v := range acc.touched {
		h := Hit{Index: int(v), Score: scores[v]}
		if len(hits) == limit && !ix.before(h, hits[limit-1]) {
			continue
		}
		i := sort.Search(len(hits), func(i int) bool { return ix.before(h, hits[i]) })
		if len(hits) < limit {
			hits = append(hits, Hit{})
		}
		copy(hits[i+1:], hits[i:len(hits)-1])
		hits[i] = h
	}
	if len(hits) == 0 {
		return nil
	}
	for i := range hits {
		hits[i].Index = int(ix.docs[hits[i].Index])
	}
	return hits
}

// before reports whether h ranks ahead of o, both at view positions.
func (ix *Index) before(h, o Hit) bool {
	if h.Score != o.Score {
		return h.Score > o.Score
	}
	hd, od := ix.docs[h.Index], ix.docs[o.Index]
	if hn, on := ix.shared.names[hd], ix.shared.names[od]; hn != on {
		return hn < on
	}
	return hd < od
}

// release zeroes what acc touched and returns it to the pool.
func (ix *Index) release(acc *accumulator) {
	for _, v := range acc.touched {
		acc.scores[v] = 0
	}
	acc.touched = acc.touched[:0]
	ix.scratch.Put(acc)
}
