// Package toolsearch ranks MCP tools for a text query. The gateway's switchboard__search_tools
// builds an Index over the caller's view of the catalog and searches it, so that an LLM facing a
// catalog too big to list can still find the tool it needs.
//
// # Ranking
//
// Search scores with BM25F (Robertson and Zaragoza, "The Probabilistic Relevance Framework: BM25
// and Beyond", 2009), k1 = 1.2 and b = 0.75. A tool is five fields, weighted
//
//	exposed name (namespace included)  3.0
//	title                              2.0
//	description                        1.0
//	parameter names                    0.8
//	parameter descriptions             0.4
//
// For each query term, a tool's field frequencies are length-normalized per field (against that
// field's average length), weighted, and summed into one frequency, which is then saturated once
// and multiplied by the term's IDF, ln(1 + (N - df + 0.5) / (df + 0.5)). BM25F rather than BM25
// over each field with the scores added: a title usually restates the name and a description the
// title, and adding per-field scores would pay a tool three times for saying one word three
// times, while BM25F saturates the combined frequency once. Separate normalization keeps a long
// description from diluting a match in the name. A name carries most weight because it is what a
// tool is called by; parameter descriptions least, as they are mostly boilerplate ("The ID of
// the ..."). Every term's contribution to every tool depends only on the documents, so building
// an index computes it and Search only adds numbers.
//
// A query that is a tool's exposed name or original name (ignoring case and surrounding space)
// ranks that tool first, ahead of every tool that merely shares words with it.
//
// # Tokens
//
// Names, titles, descriptions and queries are cut into words at anything that is not a letter,
// digit or combining mark (so at '_', '-', '.', spaces and the namespace separator), and again at
// camelCase boundaries: "weather__get_forecast", "getForecast" and "get-forecast" all give "get",
// "forecast". Digits stay with the letters they touch ("s3", "ipv4", "base64"). Words are
// lowercased; Unicode letters are letters, and each Han, Hiragana or Katakana character is a word
// of its own. No Unicode normalization is applied. A short English stop-word list is dropped, and
// words of ASCII letters are stemmed with step 1 of Porter's algorithm (plurals, -ed, -ing, final
// y); see stem.
//
// # Views, cost and memory
//
// Document frequencies and average field lengths come from exactly the tools indexed, so an
// index over a caller's view ranks by that view, not by tools the caller cannot see. Build
// tokenizes the tools it is given and indexes them. When the views are subsets of one catalog,
// NewCorpus tokenizes the catalog once, and Corpus.Index builds each view's index from those
// tokens without reading any text again, several times faster than Build (bench_test.go
// measures both, and Search). An index keeps one posting (view position, weight: 8 bytes) per
// distinct term of each tool, not a matrix of tools by vocabulary.
package toolsearch

// Doc is what the index knows of one tool.
type Doc struct {
	// Name is the tool's exposed name, e.g. "weather__get_forecast". It breaks ties between equal
	// scores (ascending) and a query equal to it ranks the tool first.
	Name string
	// Original is the upstream's own name of the tool, e.g. "get_forecast"; empty when unknown.
	// A query equal to it ranks the tool first too. It adds no words: they are all in Name.
	Original string
	// Title is the tool's human-readable title; may be empty.
	Title string
	// Description is the tool's description.
	Description string
	// Params are the properties of the tool's input schema.
	Params []Param
}

// Param is one property of a tool's input schema.
type Param struct {
	Name        string
	Description string
}

// Hit is one search result.
type Hit struct {
	// Index is the position of the tool in the docs given to Build or NewCorpus.
	Index int
	// Score is the tool's BM25F score for the query; higher is better. A tool whose name the query
	// is scores the best score of any other tool plus one on top of its own, so scores never
	// increase down a result list. Scores compare only within one search.
	Score float64
}

// Build indexes docs, with every statistic computed from them alone. Hits point into docs by
// position. Build keeps the docs' Names, not the docs. An empty or nil docs gives an index that
// finds nothing. It is NewCorpus(docs).Index(nil).
func Build(docs []Doc) *Index {
	return NewCorpus(docs).Index(nil)
}

// BM25F parameters, in the package comment.
const (
	k1 = 1.2
	b  = 0.75
)

// field is one of a tool's fields.
type field uint8

const (
	fieldName field = iota
	fieldTitle
	fieldDescription
	fieldParamName
	fieldParamDescription
	numFields
)

// fieldWeight is each field's boost, in the package comment.
var fieldWeight = [numFields]float64{
	fieldName:             3.0,
	fieldTitle:            2.0,
	fieldDescription:      1.0,
	fieldParamName:        0.8,
	fieldParamDescription: 0.4,
}
