package toolsearch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// realTools is a small catalog written like real MCP servers' tools.
var realTools = []Doc{
	{Name: "weather__get_forecast", Original: "get_forecast", Title: "Get forecast",
		Description: "Get the weather forecast for a location: temperature, rain and wind for the next days.",
		Params:      []Param{{"city", "City name, e.g. Paris"}, {"days", "How many days to forecast"}}},
	{Name: "weather__get_alerts", Original: "get_alerts", Title: "Get alerts",
		Description: "Get active weather alerts for a US state.",
		Params:      []Param{{"state", "Two-letter US state code"}}},
	{Name: "github__create_pull_request", Original: "create_pull_request", Title: "Create pull request",
		Description: "Create a new pull request in a GitHub repository.",
		Params:      []Param{{"owner", "Repository owner"}, {"repo", "Repository name"}, {"title", "Title"}, {"head", "Branch with the changes"}, {"base", "Branch to merge into"}}},
	{Name: "github__list_issues", Original: "list_issues", Title: "List issues",
		Description: "List issues in a GitHub repository, filtered by state and labels.",
		Params:      []Param{{"owner", "Repository owner"}, {"repo", "Repository name"}, {"state", "open, closed or all"}, {"labels", "Labels to filter by"}}},
	{Name: "github__search_code", Original: "search_code", Title: "Search code",
		Description: "Search for code across GitHub repositories.",
		Params:      []Param{{"q", "Search query"}, {"pageToken", "Token of the next page of results"}}},
	{Name: "slack__post_message", Original: "post_message", Title: "Post message",
		Description: "Post a message to a Slack channel.",
		Params:      []Param{{"channel_id", "The ID of the channel"}, {"text", "The message text"}}},
	{Name: "slack__list_channels", Original: "list_channels", Title: "List channels",
		Description: "List the public channels of the Slack workspace.",
		Params:      []Param{{"limit", "Maximum number of channels"}}},
	{Name: "fs__read_file", Original: "read_file", Title: "Read file",
		Description: "Read the complete contents of a file from the file system.",
		Params:      []Param{{"path", "Path of the file"}}},
	{Name: "fs__write_file", Original: "write_file", Title: "Write file",
		Description: "Create a new file or overwrite an existing one with new content.",
		Params:      []Param{{"path", "Path of the file"}, {"content", "What to write"}}},
	{Name: "fs__list_directory", Original: "list_directory", Title: "List directory",
		Description: "List the files and directories in a directory.",
		Params:      []Param{{"path", "Path of the directory"}}},
	{Name: "time__get_current_time", Original: "get_current_time", Title: "Current time",
		Description: "Get the current time in a timezone.",
		Params:      []Param{{"timezone", "IANA timezone name, e.g. Europe/Paris"}}},
	{Name: "time__convert_time", Original: "convert_time", Title: "Convert time",
		Description: "Convert a time from one timezone to another.",
		Params:      []Param{{"source_timezone", "IANA name"}, {"time", "HH:MM"}, {"target_timezone", "IANA name"}}},
	{Name: "db__run_query", Original: "run_query", Title: "Run query",
		Description: "Run a read-only query against the database and return the rows.",
		Params:      []Param{{"sql", "The statement"}}},
	{Name: "calendar__create_event", Original: "create_event", Title: "Create event",
		Description: "Create a calendar event and invite people to it.",
		Params:      []Param{{"summary", "Title of the event"}, {"start", "Start time"}, {"end", "End time"}, {"attendeeEmails", "Who to invite"}}},
}

// names returns the Names of the hits' docs.
func names(docs []Doc, hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = docs[h.Index].Name
	}
	return out
}

// checkHits fails t unless hits are a valid answer of an index of n docs for limit.
func checkHits(t testing.TB, hits []Hit, n, limit int) {
	t.Helper()
	want := DefaultLimit
	if limit > 0 {
		want = min(limit, MaxLimit)
	}
	if len(hits) > want {
		t.Fatalf("%d hits for limit %d, want at most %d", len(hits), limit, want)
	}
	seen := map[int]bool{}
	for i, h := range hits {
		if h.Index < 0 || h.Index >= n {
			t.Fatalf("hit %d: index %d out of [0, %d)", i, h.Index, n)
		}
		if seen[h.Index] {
			t.Fatalf("hit %d: doc %d found twice", i, h.Index)
		}
		seen[h.Index] = true
		if !(h.Score > 0) {
			t.Fatalf("hit %d: score %v, want > 0", i, h.Score)
		}
		if i > 0 && h.Score > hits[i-1].Score {
			t.Fatalf("hit %d: score %v above the previous hit's %v", i, h.Score, hits[i-1].Score)
		}
	}
}

func TestSearchFindsWhatAUserMeans(t *testing.T) {
	t.Parallel()
	ix := Build(realTools)
	for _, tc := range []struct{ query, want string }{
		{"will it rain in Paris in the next days", "weather__get_forecast"},
		{"weather forecast", "weather__get_forecast"},
		{"open a new pull request", "github__create_pull_request"},
		{"send a message to a slack channel", "slack__post_message"},
		{"read file contents", "fs__read_file"},
		{"which files are in this directory", "fs__list_directory"},
		{"convert timezones", "time__convert_time"},
		{"issues labeled bug", "github__list_issues"},
		{"invite people to a meeting", "calendar__create_event"},
		{"database rows", "db__run_query"},
		{"postMessage", "slack__post_message"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			hits := ix.Search(tc.query, 5)
			checkHits(t, hits, len(realTools), 5)
			if got := names(realTools, hits); len(got) == 0 || got[0] != tc.want {
				t.Errorf("Search(%q) = %q, want %s first", tc.query, got, tc.want)
			}
		})
	}
}

// TestSearchDescriptionWordsAmongManyTools: among 300 generated tools sharing one Zipf
// vocabulary, five consecutive words of a tool's description find that tool first. When no other
// tool has all five words that is the right answer, and it comes first for nearly every tool; a
// tool that has one of the words in its name (weighted 3 + 2 with its title) may come ahead
// of it. Even then, or when other tools have all five words too, the tool is in the top 3.
func TestSearchDescriptionWordsAmongManyTools(t *testing.T) {
	t.Parallel()
	docs := newGenerator(1, 3000).catalog(300)
	terms := make([]map[string]bool, len(docs))
	for d := range docs {
		terms[d] = docTerms(docs[d])
	}
	ix := Build(docs)
	rng := rand.New(rand.NewPCG(2, 3))
	distinctive, first := 0, 0
	for d, doc := range docs {
		var words []string
		for _, w := range strings.Fields(strings.TrimSuffix(doc.Description, ".")) {
			if _, stop := stopWords[w]; !stop {
				words = append(words, w)
			}
		}
		start := rng.IntN(len(words) - 4)
		query := strings.Join(words[start:start+5], " ")
		hits := ix.Search(query, 10)
		checkHits(t, hits, len(docs), 10)
		rank := slices.IndexFunc(hits, func(h Hit) bool { return h.Index == d })
		if rank < 0 || rank > 2 {
			t.Errorf("Search(%q) ranks %s at %d, want it in the top 3: %q", query, doc.Name, rank, names(docs, hits))
		}
		if !onlyOneHasAll(terms, tokens(query)) {
			continue
		}
		distinctive++
		if rank == 0 {
			first++
		} else {
			t.Logf("Search(%q) ranks %s at %d, after %q", query, doc.Name, rank, names(docs, hits[:rank]))
		}
	}
	if distinctive < len(docs)*9/10 {
		t.Fatalf("only %d of %d queries are a single tool's: the generator lost its long tail", distinctive, len(docs))
	}
	if first < distinctive*97/100 {
		t.Errorf("%d of %d tools came first for five words of their own description only they have", first, distinctive)
	}
}

// docTerms returns the set of terms of every field of d.
func docTerms(d Doc) map[string]bool {
	m := map[string]bool{}
	add := func(s string) {
		for _, tok := range tokens(s) {
			m[tok] = true
		}
	}
	add(d.Name)
	add(d.Title)
	add(d.Description)
	for _, p := range d.Params {
		add(p.Name)
		add(p.Description)
	}
	return m
}

// onlyOneHasAll reports whether exactly one of the docs' term sets has every one of query.
func onlyOneHasAll(docs []map[string]bool, query []string) bool {
	n := 0
	for _, terms := range docs {
		if !slices.ContainsFunc(query, func(q string) bool { return !terms[q] }) {
			n++
		}
	}
	return n == 1
}

func TestSearchFindsParameter(t *testing.T) {
	t.Parallel()
	ix := Build(realTools)
	for _, tc := range []struct{ query, want string }{
		{"sql", "db__run_query"},
		{"attendee emails", "calendar__create_event"},
		{"page token", "github__search_code"},
	} {
		if got := names(realTools, ix.Search(tc.query, 3)); len(got) == 0 || got[0] != tc.want {
			t.Errorf("Search(%q) = %q, want %s first", tc.query, got, tc.want)
		}
	}

	// Among generated tools, a parameter name no description uses.
	docs := newGenerator(4, 3000).catalog(300)
	docs[123].Params = append(docs[123].Params, Param{Name: "isbnCode", Description: "of the book"})
	got := names(docs, Build(docs).Search("isbn", 5))
	if len(got) == 0 || got[0] != docs[123].Name {
		t.Errorf(`Search("isbn") = %q, want %s (parameter isbnCode) first`, got, docs[123].Name)
	}
}

// TestSearchRareWordOutranksCommonOne: IDF matters. "data" is in every tool but one and "zebra"
// in one, so a query of both ranks the zebra tool above one that says "data" twice. By term
// frequency alone it would be the other way round.
func TestSearchRareWordOutranksCommonOne(t *testing.T) {
	t.Parallel()
	docs := []Doc{
		{Name: "a__common", Description: "export data data records"},
		{Name: "a__rare", Description: "export zebra records"},
	}
	for i := range 40 {
		docs = append(docs, Doc{Name: fmt.Sprintf("filler__tool%d", i), Description: fmt.Sprintf("export data records batch%d", i)})
	}
	hits := Build(docs).Search("data zebra", 3)
	if got := names(docs, hits); len(got) < 2 || got[0] != "a__rare" || got[1] != "a__common" {
		t.Errorf(`Search("data zebra") = %q, want a__rare, then a__common`, got)
	}
}

func TestSearchExactNameFirst(t *testing.T) {
	t.Parallel()
	docs := append(slices.Clone(realTools),
		// Says "weather", "get" and "forecast" more than weather__get_forecast does.
		Doc{Name: "weather__forecast_report", Original: "forecast_report", Title: "Get weather forecast",
			Description: "Get weather forecast: get the weather forecast, a weather forecast report."},
		Doc{Name: "meteo__get_forecast", Original: "get_forecast", Title: "Forecast", Description: "Forecast for a region."},
		// Nothing but stop words.
		Doc{Name: "do__it", Original: "it", Description: "Does it."},
	)
	ix := Build(docs)
	for _, tc := range []struct {
		query string
		want  []string // the first hits, in order
	}{
		{"weather__get_forecast", []string{"weather__get_forecast"}},
		{"  WEATHER__Get_Forecast ", []string{"weather__get_forecast"}},
		{"weather__forecast_report", []string{"weather__forecast_report"}},
		// Two tools are called get_forecast upstream; both come first, by score.
		{"get_forecast", []string{"weather__get_forecast", "meteo__get_forecast"}},
		{"do__it", []string{"do__it"}},
		{"it", []string{"do__it"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			hits := ix.Search(tc.query, 10)
			checkHits(t, hits, len(docs), 10)
			if got := names(docs, hits); len(got) < len(tc.want) || !slices.Equal(got[:len(tc.want)], tc.want) {
				t.Errorf("Search(%q) = %q, want %q first", tc.query, got, tc.want)
			}
		})
	}
}

func TestSearchLimit(t *testing.T) {
	t.Parallel()
	var docs []Doc
	for i := range 80 {
		docs = append(docs, Doc{Name: fmt.Sprintf("ns__report%02d", i), Description: "Monthly report " + strings.Repeat("x ", i)})
	}
	ix := Build(docs)
	for _, tc := range []struct{ limit, want int }{
		{0, DefaultLimit},
		{-3, DefaultLimit},
		{1, 1},
		{7, 7},
		{MaxLimit, MaxLimit},
		{1000, MaxLimit},
	} {
		if got := len(ix.Search("monthly report", tc.limit)); got != tc.want {
			t.Errorf("Search(limit %d) gave %d hits, want %d", tc.limit, got, tc.want)
		}
	}
	if got := len(ix.Search("report00", 10)); got != 1 {
		t.Errorf("a query only one tool matches gave %d hits, want 1", got)
	}
}

func TestSearchNothingToLookFor(t *testing.T) {
	t.Parallel()
	ix := Build(realTools)
	for _, q := range []string{"", "   ", "the of and to", "What is it?", "!!! ---", "__", "xyzzy plugh"} {
		if hits := ix.Search(q, 10); hits != nil {
			t.Errorf("Search(%q) = %q, want nothing", q, names(realTools, hits))
		}
	}
	if hits := Build(nil).Search("weather", 10); hits != nil {
		t.Errorf("an empty index found %v", hits)
	}
}

func TestSearchIsDeterministic(t *testing.T) {
	t.Parallel()
	g := newGenerator(5, 3000)
	docs := g.catalog(500)
	queries := g.queries(docs, 200)
	a, b := Build(docs), Build(slices.Clone(docs))
	for _, q := range queries {
		if x, y := a.Search(q, 20), b.Search(q, 20); !slices.Equal(x, y) {
			t.Fatalf("Search(%q): two builds of one catalog differ:\n%v\n%v", q, x, y)
		}
	}

	// Equal scores come out by name, whatever the order of the docs.
	same := []Doc{
		{Name: "ns__gamma", Description: "Quarterly sales report."},
		{Name: "ns__alpha", Description: "Quarterly sales report."},
		{Name: "ns__beta", Description: "Quarterly sales report."},
	}
	want := []string{"ns__alpha", "ns__beta", "ns__gamma"}
	for range 10 {
		rand.Shuffle(len(same), func(i, j int) { same[i], same[j] = same[j], same[i] })
		hits := Build(same).Search("sales report", 10)
		if got := names(same, hits); !slices.Equal(got, want) {
			t.Fatalf("ties came out as %q, want %q", got, want)
		}
		if hits[0].Score != hits[2].Score {
			t.Fatalf("equal tools scored %v and %v", hits[0].Score, hits[2].Score)
		}
	}
}

// TestSearchStatisticsComeFromTheView: the same tool ranks by the documents it was built with.
// In a view where "report" is everywhere, a query's rarer word decides; where "report" is rare,
// it does.
func TestSearchStatisticsComeFromTheView(t *testing.T) {
	t.Parallel()
	reportTool := Doc{Name: "bi__report", Description: "Build a report."}
	salesTool := Doc{Name: "crm__sales", Description: "Sales figures, sales sales."}
	var reports []Doc
	for i := range 30 {
		reports = append(reports, Doc{Name: fmt.Sprintf("x__r%d", i), Description: "report"})
	}
	var saleses []Doc
	for i := range 30 {
		saleses = append(saleses, Doc{Name: fmt.Sprintf("x__s%d", i), Description: "sales"})
	}
	for _, tc := range []struct {
		name string
		view []Doc
		want string
	}{
		{"report everywhere", append([]Doc{reportTool, salesTool}, reports...), "crm__sales"},
		{"sales everywhere", append([]Doc{reportTool, salesTool}, saleses...), "bi__report"},
	} {
		hits := Build(tc.view).Search("sales report", 1)
		if got := names(tc.view, hits); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: Search = %q, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSearchConcurrently(t *testing.T) {
	t.Parallel()
	g := newGenerator(6, 3000)
	docs := g.catalog(1000)
	queries := g.queries(docs, 100)
	ix := Build(docs)
	want := make([][]Hit, len(queries))
	for i, q := range queries {
		want[i] = ix.Search(q, 10)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range queries {
				i := (i + w*13) % len(queries)
				if got := ix.Search(queries[i], 10); !slices.Equal(got, want[i]) {
					t.Errorf("Search(%q) concurrently = %v, want %v", queries[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCorpusIndexIsBuildOfTheView: an index a corpus builds for a view ranks exactly as Build
// over the view's docs, and never returns a tool outside the view, not even for its exact name.
func TestCorpusIndexIsBuildOfTheView(t *testing.T) {
	t.Parallel()
	g := newGenerator(8, 3000)
	docs := g.catalog(600)
	queries := g.queries(docs, 300)
	c := NewCorpus(docs)
	for _, tc := range []struct {
		name string
		keep func(i int) bool
	}{
		{"all", nil},
		{"every third", func(i int) bool { return i%3 == 0 }},
		{"first ten", func(i int) bool { return i < 10 }},
		{"none", func(int) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var view []Doc
			var pos []int // view position -> corpus position
			for i := range docs {
				if tc.keep == nil || tc.keep(i) {
					view = append(view, docs[i])
					pos = append(pos, i)
				}
			}
			ix, want := c.Index(tc.keep), Build(view)
			if ix.Len() != len(view) {
				t.Fatalf("Len() = %d, want %d", ix.Len(), len(view))
			}
			for _, q := range queries {
				got, wantHits := ix.Search(q, 20), want.Search(q, 20)
				for i := range wantHits {
					wantHits[i].Index = pos[wantHits[i].Index]
				}
				if !slices.Equal(got, wantHits) {
					t.Fatalf("Search(%q) = %v, want %v as Build over the view", q, got, wantHits)
				}
				for _, h := range got {
					if tc.keep != nil && !tc.keep(h.Index) {
						t.Fatalf("Search(%q) found %s, outside the view", q, docs[h.Index].Name)
					}
				}
			}
		})
	}

	// The exact name of a tool outside the view finds only the view's tools with its words.
	ix := c.Index(func(i int) bool { return i != 5 })
	for _, h := range ix.Search(docs[5].Name, MaxLimit) {
		if h.Index == 5 {
			t.Fatalf("Search(%q) found it, outside the view", docs[5].Name)
		}
	}
}

// TestSearchFieldWeights: one word, in a different field of each of five otherwise alike tools,
// ranks them name, title, description, parameter name, parameter description.
func TestSearchFieldWeights(t *testing.T) {
	t.Parallel()
	docs := []Doc{
		{Name: "billing__print", Title: "Export", Description: "Export a document as PDF.", Params: []Param{{"invoice_id", "The document"}}},
		{Name: "billing__mail", Title: "Export", Description: "Export a document as PDF.", Params: []Param{{"doc_id", "The invoice"}}},
		{Name: "billing__render", Title: "Export", Description: "Export an invoice as PDF.", Params: []Param{{"doc_id", "The document"}}},
		{Name: "billing__export", Title: "Invoice", Description: "Export a document as PDF.", Params: []Param{{"doc_id", "The document"}}},
		{Name: "billing__invoice", Title: "Export", Description: "Export a document as PDF.", Params: []Param{{"doc_id", "The document"}}},
	}
	want := []string{"billing__invoice", "billing__export", "billing__render", "billing__print", "billing__mail"}
	if got := names(docs, Build(docs).Search("invoices", 10)); !slices.Equal(got, want) {
		t.Errorf(`Search("invoices") = %q, want %q`, got, want)
	}
}
