package toolsearch

import "math"

// Corpus is a catalog's tools, tokenized once, from which Index builds the index of any subset
// (a caller's view) without reading text again. It is immutable: any number of goroutines may
// call its methods at once. It holds about 16 bytes per distinct term of each tool, besides the
// vocabulary and names its indexes share.
type Corpus struct {
	shared  *shared
	entries []entry  // each doc's distinct terms, by ascending doc
	starts  []uint32 // doc d's entries are entries[starts[d]:starts[d+1]]
	lengths [][numFields]uint32
}

// shared is what a corpus and all its indexes read.
type shared struct {
	names []string // the docs' Names, for ties
	terms *table   // stemmed token -> term id
	// exact maps a lowercased Name or Original to the head of a chain in exactDocs.
	exact     *table
	exactDocs []exactDoc
}

// entry counts one term's occurrences in each field of one doc.
type entry struct {
	term uint32
	tf   [numFields]uint16 // saturating
}

// exactDoc is a link of a chain of docs with the same lowercased name; next < 0 ends it.
type exactDoc struct {
	doc, next int32
}

// NewCorpus tokenizes docs. Hits of its indexes point into docs by position. It keeps the docs'
// Names, not the docs.
func NewCorpus(docs []Doc) *Corpus {
	textBytes := 0
	for d := range docs {
		textBytes += len(docs[d].Name) + len(docs[d].Title) + len(docs[d].Description)
		for _, p := range docs[d].Params {
			textBytes += len(p.Name) + len(p.Description)
		}
	}
	bl := builder{
		// A catalog has about three terms per tool and half as many again lowercased words. The
		// tables grow if not, but growing the arena leaves its old copies to the collector.
		terms: newTable(64+len(docs)*3, 1024+len(docs)*24),
		words: newTable(64+len(docs)*5, 1024+len(docs)*40),
		Corpus: Corpus{
			entries: make([]entry, 0, textBytes/8), // a distinct term of a doc takes 8 bytes of text or more
			starts:  make([]uint32, 1, len(docs)+1),
			lengths: make([][numFields]uint32, len(docs)),
		},
	}
	for d := range docs {
		bl.add(d, &docs[d])
	}
	c := &bl.Corpus
	c.shared = &shared{names: make([]string, len(docs)), terms: bl.terms}
	for d := range docs {
		c.shared.names[d] = docs[d].Name
	}
	c.shared.exact, c.shared.exactDocs = exactNames(docs)
	return c
}

// Len is the number of docs.
func (c *Corpus) Len() int { return len(c.lengths) }

// builder is a Corpus being made.
type builder struct {
	Corpus
	terms *table
	// words caches what each lowercased word came to: its term id, or -1 for a stop word. Text
	// repeats its words, so most words cost one lookup instead of a stop-word lookup, stemming
	// and a term lookup.
	words *table
	slot  []int32 // term id -> its entry of the latest doc having it, if in the current doc
	buf   []byte
	key   []byte
}

func (bl *builder) add(d int, doc *Doc) {
	docStart := int32(len(bl.entries))
	field := fieldName
	count := func(word []byte) {
		id, ok := bl.words.get(word)
		if !ok {
			id = bl.term(word)
		}
		if id < 0 {
			return
		}
		s := bl.slot[id]
		if s < docStart {
			s = int32(len(bl.entries))
			bl.entries = append(bl.entries, entry{term: uint32(id)})
			bl.slot[id] = s
		}
		if tf := &bl.entries[s].tf[field]; *tf < math.MaxUint16 {
			*tf++
		}
		bl.lengths[d][field]++
	}
	bl.buf = eachWord(doc.Name, bl.buf, count)
	field = fieldTitle
	bl.buf = eachWord(doc.Title, bl.buf, count)
	field = fieldDescription
	bl.buf = eachWord(doc.Description, bl.buf, count)
	for _, p := range doc.Params {
		field = fieldParamName
		bl.buf = eachWord(p.Name, bl.buf, count)
		field = fieldParamDescription
		bl.buf = eachWord(p.Description, bl.buf, count)
	}
	bl.starts = append(bl.starts, uint32(len(bl.entries)))
}

// term returns the term id of a lowercased word not seen before, -1 for a stop word, adding the
// term if it is new, and remembers the answer in words. It stems word in place.
func (bl *builder) term(word []byte) int32 {
	if isStopWord(word) {
		bl.words.put(word, -1)
		return -1
	}
	bl.key = append(bl.key[:0], word...) // stem changes word
	tok := stem(word)
	id, ok := bl.terms.get(tok)
	if !ok {
		id = int32(bl.terms.count)
		bl.terms.put(tok, id)
		bl.slot = append(bl.slot, -1)
	}
	bl.words.put(bl.key, id)
	return id
}

// exactNames chains the docs under their lowercased Name and Original.
func exactNames(docs []Doc) (*table, []exactDoc) {
	heads := newTable(2*len(docs), 64*len(docs))
	links := make([]exactDoc, 0, 2*len(docs))
	var name, orig []byte
	link := func(key []byte, d int) {
		head, ok := heads.get(key)
		if !ok {
			head = -1
		}
		links = append(links, exactDoc{doc: int32(d), next: head})
		heads.set(key, int32(len(links)-1))
	}
	for d := range docs {
		name = appendLower(name[:0], docs[d].Name)
		if len(name) > 0 {
			link(name, d)
		}
		orig = appendLower(orig[:0], docs[d].Original)
		if len(orig) > 0 && string(orig) != string(name) {
			link(orig, d)
		}
	}
	return heads, links
}
