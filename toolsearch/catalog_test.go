package toolsearch

import (
	"math/rand/v2"
	"strings"
)

// commonWords are words real tool descriptions use a lot; the generated vocabulary starts with
// them, so they are also the most frequent words of a generated catalog.
var commonWords = strings.Fields(`
	file files user users repository issue issues message messages channel data record records
	list search query results result id name value values text content page pages item items
	project projects task tasks event events time date status state account accounts email
	document documents folder path directory image images report reports table tables row rows
	column database request response api key token url link links comment comments label labels
	branch commit commits pull review team teams member members group groups order orders
	customer customers invoice payment product products price stock weather forecast city
	location map route ticket tickets incident alert alerts metric metrics log logs service
	services deployment cluster node pod container secret config setting settings schedule
	calendar meeting note notes contact contacts share upload download version release tag
	tags summary details information number count total limit offset filter sort format type
	`)

// verbs start generated tool names.
var verbs = strings.Fields(`get list create update delete search send fetch run set add remove
	find read write export import sync archive restore`)

// namespaces are generated tools' upstream namespaces.
var namespaces = strings.Fields(`github gitlab slack jira linear notion drive gmail calendar
	weather maps stripe shopify postgres mysql redis s3 k8s docker sentry datadog grafana
	pagerduty zendesk hubspot salesforce figma trello asana confluence`)

// generator makes deterministic catalogs whose tools share a Zipf-distributed vocabulary of a
// few thousand words, like a real catalog: a few words everywhere, most words in few tools. The
// distribution (s = 1.07, v = 10) puts about a sixth of a description's words among the 20 most
// common: flatter at the head than English prose, because stop words are not in the vocabulary.
type generator struct {
	rng   *rand.Rand
	vocab []string
	zipf  *rand.Zipf
}

func newGenerator(seed uint64, vocabSize int) *generator {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &generator{rng: rng}
	seen := map[string]bool{}
	for _, w := range commonWords {
		if !seen[w] {
			seen[w] = true
			g.vocab = append(g.vocab, w)
		}
	}
	// Made-up words of two or three consonant-vowel syllables: they end in a vowel other than y,
	// so no stemming rule touches them and each is one distinct term.
	const consonants, vowels = "bcdfghklmnprstvz", "aeiou"
	for len(g.vocab) < vocabSize {
		var w strings.Builder
		for range 2 + rng.IntN(2) {
			w.WriteByte(consonants[rng.IntN(len(consonants))])
			w.WriteByte(vowels[rng.IntN(len(vowels))])
		}
		if _, stop := stopWords[w.String()]; !seen[w.String()] && !stop {
			seen[w.String()] = true
			g.vocab = append(g.vocab, w.String())
		}
	}
	g.zipf = rand.NewZipf(rng, 1.07, 10, uint64(len(g.vocab)-1))
	return g
}

func (g *generator) word() string { return g.vocab[g.zipf.Uint64()] }

// words returns n vocabulary words with a stop word now and then, as prose has.
func (g *generator) words(n int) []string {
	fillers := []string{"the", "a", "of", "for", "to", "with", "in", "and", "from", "by"}
	out := make([]string, 0, n+n/3)
	for range n {
		if g.rng.IntN(4) == 0 {
			out = append(out, fillers[g.rng.IntN(len(fillers))])
		}
		out = append(out, g.word())
	}
	return out
}

// catalog returns n tools with unique exposed names: a namespace, "__", a verb and one or two
// nouns; a title; a description of 20 to 40 words; one to five parameters named in snake_case
// or camelCase, each described in 4 to 10 words.
func (g *generator) catalog(n int) []Doc {
	docs := make([]Doc, 0, n)
	names := map[string]bool{}
	for len(docs) < n {
		verb, noun := verbs[g.rng.IntN(len(verbs))], g.word()
		original := verb + "_" + noun
		if g.rng.IntN(2) == 0 {
			original += "_" + g.word()
		}
		name := namespaces[g.rng.IntN(len(namespaces))] + "__" + original
		if names[name] {
			continue
		}
		names[name] = true
		params := make([]Param, 1+g.rng.IntN(5))
		for i := range params {
			pname := g.word()
			switch g.rng.IntN(3) {
			case 0:
				pname += "_" + g.word()
			case 1:
				w := g.word()
				pname += strings.ToUpper(w[:1]) + w[1:]
			}
			params[i] = Param{Name: pname, Description: strings.Join(g.words(4+g.rng.IntN(7)), " ")}
		}
		docs = append(docs, Doc{
			Name:        name,
			Original:    original,
			Title:       strings.ToUpper(verb[:1]) + verb[1:] + " " + strings.ReplaceAll(strings.TrimPrefix(original, verb+"_"), "_", " "),
			Description: strings.Join(g.words(20+g.rng.IntN(21)), " ") + ".",
			Params:      params,
		})
	}
	return docs
}

// queries returns n queries a user might type: two to four consecutive words of a random tool's
// description, now and then a tool's exposed name.
func (g *generator) queries(docs []Doc, n int) []string {
	out := make([]string, n)
	for i := range out {
		d := docs[g.rng.IntN(len(docs))]
		if g.rng.IntN(8) == 0 {
			out[i] = d.Name
			continue
		}
		words := strings.Fields(strings.TrimSuffix(d.Description, "."))
		k := min(len(words), 2+g.rng.IntN(3))
		start := g.rng.IntN(len(words) - k + 1)
		out[i] = strings.Join(words[start:start+k], " ")
	}
	return out
}
