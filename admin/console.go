package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// The console's templates and assets ship inside the binary: no build step, nothing fetched.
//
//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ConsolePath is where the console is served; its fragments and actions are under
// ConsolePath+"console/".
const ConsolePath = "/admin/"

// refreshEvery is how often a visible console refreshes its panels.
const refreshEvery = 3 * time.Second

// ConsoleOptions are what the console shows and does, as funcs of the gateway's (so admin
// imports none of its components). Every func is called on each refresh, concurrently, and must
// return fast; nil funcs show their panel as not available. Text in the values may come from
// upstreams (names, descriptions, errors): the templates escape all of it.
type ConsoleOptions struct {
	Overview  func(ctx context.Context) Overview
	Upstreams func() []UpstreamState
	Catalog   func() CatalogState
	Pins      func() PinsState
	Cache     func() CacheState
	// Rates samples the process's counters; nil: no rates shown.
	Rates *Rates

	// Approve and Reject settle the held change of an exposed tool (hash "": whatever is held),
	// returning what happened, for the operator.
	Approve, Reject func(ctx context.Context, tool, hash string) (string, error)
	// Purge drops cached results of an upstream or of one exposed tool.
	Purge func(ctx context.Context, upstream, tool string) (int, error)

	// Principal names the admin principal of a request ("" when anonymous: auth off or a
	// loopback admin listener). Tokens against cross-site requests are bound to it.
	Principal func(r *http.Request) string
	// Audit is told of every action with its outcome (err nil: done) after it ran.
	Audit func(r *http.Request, a Action, err error)
	// CSRFKey keys the tokens (shared by replicas behind one balancer); nil: a random key of
	// this process.
	CSRFKey []byte
}

// Action is one operator action of the console.
type Action struct {
	Name     string // "pins/approve", "pins/reject", "cache/purge"
	Tool     string // the exposed tool acted on, if any
	Upstream string // the upstream purged, if any
	Hash     string // the held definition approved or rejected, if named
	Result   string // what happened, for the log
}

// Overview is the state of this replica.
type Overview struct {
	Ready    bool
	NotReady string // why not, when not ready
	Replica  Replica
	Consul   *Dependency // nil: not configured
	Redis    *Dependency // nil: not configured
}

// Replica is who this replica is: each replica serves its own console and sees its own state.
type Replica struct {
	Address, Hostname, Version string
	Started                    time.Time
	Tools, Upstreams           int
	CatalogChanged             time.Time // zero: never
	StreamsOpen                int
}

// Dependency is the state of a service the gateway uses.
type Dependency struct {
	OK     bool
	State  string // "reachable", "unreachable", "waiting for its first answer", ...
	Detail string // the last error, or what it is used for
	Since  time.Time
}

// UpstreamState is one upstream and its instances.
type UpstreamState struct {
	Name, Namespace, Timeout string
	Tools                    int // exposed tools
	Instances                []InstanceState
}

// InstanceState is one instance of an upstream.
type InstanceState struct {
	ID        string
	Source    string // "static" (the config file) or "consul"
	Connected bool
	Breaker   string // closed, half-open, open
	InFlight  int64
	LastError string
	Since     time.Time
}

// Health is up (a session, breaker closed), degraded (a session, breaker not closed) or down.
func (i InstanceState) Health() string {
	switch {
	case !i.Connected:
		return "down"
	case i.Breaker != "closed":
		return "degraded"
	}
	return "up"
}

// CatalogState is every exposed tool.
type CatalogState struct {
	Tools []ToolState
	// Unmatched says what a principal no policy matches may call ("every tool", "nothing").
	Unmatched string
	AuthOff   bool // auth.mode none: every caller sees every tool
}

// ToolState is one exposed tool.
type ToolState struct {
	Name, Upstream, Tool, Title, Description string
	RateLimit, Cache                         string // "" when none
	Idempotent, Held                         bool
	Policies                                 []string // the policies whose allow list names it
	Servers                                  []string // the servers (root, virtual) that select it
}

// PinsState is every held definition change.
type PinsState struct {
	Mode string // pinning.mode: off, warn, hold
	Held []HeldPin
}

// HeldPin is one held change, with its side-by-side diff.
type HeldPin struct {
	Tool, Service, UpstreamTool, Kind, Hash string
	FirstSeen                               time.Time
	RejectedAt                              time.Time // zero: awaiting a decision
	Fields                                  []string
	Rows                                    []DiffRow
	Cut                                     bool // rows past the bound were left out
}

// DiffRow is one row of a side-by-side diff (pinning.Row).
type DiffRow struct {
	Kind         string // same, changed, removed, added, gap
	OldNo, NewNo int
	Old, New     string
	Skipped      int
}

// CacheState is the response cache.
type CacheState struct {
	Store                   string // "redis" or "in-process memory"
	Available               bool
	ReadErrors, WriteErrors uint64
	Upstreams               []string // what purge by upstream may name
	Tools                   []string // the exposed tools with a cache rule
}

// Console serves the operator console at ConsolePath: a page of panels that refresh while
// visible, and the actions (approve, reject, purge) as POSTs protected against cross-site
// requests. It has no authentication of its own: the gateway mounts it behind its admin auth.
type Console struct {
	opts  ConsoleOptions
	tmpl  *template.Template
	csrf  *csrf
	asset map[string]string // file -> its URL, versioned by content
}

// NewConsole returns the console over opts.
func NewConsole(opts ConsoleOptions) *Console {
	c := &Console{opts: opts, csrf: newCSRF(opts.CSRFKey), asset: map[string]string{}}
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(path)
			sum := sha256.Sum256(b)
			name := strings.TrimPrefix(path, "static/")
			c.asset[name] = ConsolePath + "console/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		}
		return nil
	})
	c.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"ago":     ago,
		"pct":     pct,
		"rate":    rate,
		"asset":   func(name string) string { return c.asset[name] },
		"join":    strings.Join,
		"spark":   spark,
		"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"clock":   clock,
	}).ParseFS(templateFS, "templates/*.html"))
	return c
}

// Run samples the rates every few seconds until ctx ends (at once without rates).
func (c *Console) Run(ctx context.Context) {
	if c.opts.Rates != nil {
		c.opts.Rates.Run(ctx)
	}
}

// panels are the console's panels, in page order.
var panels = []string{"overview", "upstreams", "pins", "cache", "catalog"} // the long one last

// Register adds the console to mux: GET /admin/ (the page), GET /admin/console/panel/{name}
// (one panel's fragment) and the POST actions. Mount Static too.
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ConsolePath+"{$}", c.page)
	mux.HandleFunc("GET "+ConsolePath+"console/panel/{name}", c.panel)
	mux.HandleFunc("POST "+ConsolePath+"console/pins/approve", c.settle("pins/approve", c.opts.Approve))
	mux.HandleFunc("POST "+ConsolePath+"console/pins/reject", c.settle("pins/reject", c.opts.Reject))
	mux.HandleFunc("POST "+ConsolePath+"console/cache/purge", c.purge)
}

// StaticPattern is the pattern Static serves.
const StaticPattern = "GET " + ConsolePath + "console/static/"

// Static serves the console's stylesheet and script at StaticPattern. They are the same for
// everyone and carry no data, so the gateway serves them outside the admin auth: the page that
// tells a browser without a token how to reach the console is styled too.
func (c *Console) Static() http.Handler {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(ConsolePath+"console/static/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable") // the URL names the content
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// view is what every template gets: the panel's data and the request's token.
type view struct {
	CSRF         string
	RefreshMs    int64
	Panels       []string
	Overview     *overviewView
	Upstreams    []UpstreamState
	HasUpstreams bool
	Catalog      *CatalogState
	Pins         *PinsState
	Cache        *cacheView
	Unavailable  map[string]bool
}

type overviewView struct {
	Overview
	Now                 time.Time
	HasRates            bool
	Minute, FiveMinutes Window
	CallsSpark          string
	ErrorsSpark         string
}

type cacheView struct {
	CacheState
	HasRates    bool
	FiveMinutes Window
	Total       Window // since the process started
}

// data reads what the named panels show.
func (c *Console) data(r *http.Request, names ...string) view {
	v := view{CSRF: c.csrf.token(c.principal(r)), RefreshMs: refreshEvery.Milliseconds(), Panels: panels, Unavailable: map[string]bool{}}
	for _, name := range names {
		switch name {
		case "overview":
			if c.opts.Overview == nil {
				v.Unavailable[name] = true
				continue
			}
			o := &overviewView{Overview: c.opts.Overview(r.Context()), Now: time.Now()}
			if c.opts.Rates != nil {
				o.HasRates = true
				o.Minute, o.FiveMinutes = c.opts.Rates.Last(time.Minute), c.opts.Rates.Last(5*time.Minute)
				calls, errs := c.opts.Rates.Series()
				top := 0.0
				for _, x := range calls {
					top = max(top, x)
				}
				o.CallsSpark, o.ErrorsSpark = spark(calls, top), spark(errs, top)
			}
			v.Overview = o
		case "upstreams":
			if c.opts.Upstreams == nil {
				v.Unavailable[name] = true
				continue
			}
			v.Upstreams = c.opts.Upstreams()
			v.HasUpstreams = true
		case "catalog":
			if c.opts.Catalog == nil {
				v.Unavailable[name] = true
				continue
			}
			s := c.opts.Catalog()
			v.Catalog = &s
		case "pins":
			if c.opts.Pins == nil {
				v.Unavailable[name] = true
				continue
			}
			s := c.opts.Pins()
			v.Pins = &s
		case "cache":
			if c.opts.Cache == nil {
				v.Unavailable[name] = true
				continue
			}
			cv := &cacheView{CacheState: c.opts.Cache()}
			if c.opts.Rates != nil {
				cv.HasRates = true
				cv.FiveMinutes, cv.Total = c.opts.Rates.Last(5*time.Minute), c.opts.Rates.Total()
			}
			v.Cache = cv
		}
	}
	return v
}

func (c *Console) principal(r *http.Request) string {
	if c.opts.Principal == nil {
		return ""
	}
	return c.opts.Principal(r)
}

// securityHeaders keep the console's pages from being framed or running anything but its own
// script, should an escaping bug ever let markup through.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// render executes the named template into a buffer first, so a failure is a clean 500, and
// answers 304 when the browser already has the same bytes (a panel that did not change).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v any) {
	var b bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&b, name, v); err != nil {
		http.Error(w, "rendering the console: "+err.Error(), http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status == http.StatusOK {
		sum := sha256.Sum256(b.Bytes())
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "page", c.data(r, panels...))
}

func (c *Console) panel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	for _, p := range panels {
		if p == name {
			c.render(w, r, http.StatusOK, "panel-"+name, c.data(r, name))
			return
		}
	}
	http.NotFound(w, r)
}

// maxActionBody bounds an action's form.
const maxActionBody = 16 << 10

// act runs an action's checks: a bounded form, then the cross-site checks. It answers the
// refusal itself and reports whether to go on.
func (c *Console) act(w http.ResponseWriter, r *http.Request, name string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxActionBody)
	if err := r.ParseForm(); err != nil {
		c.answer(w, r, http.StatusBadRequest, "reading the form: "+err.Error())
		return false
	}
	if err := c.csrf.check(r, c.principal(r)); err != nil {
		c.audit(r, Action{Name: name, Tool: r.PostFormValue("tool"), Upstream: r.PostFormValue("upstream")}, err)
		c.answer(w, r, http.StatusForbidden, err.Error())
		return false
	}
	return true
}

func (c *Console) settle(name string, decide func(context.Context, string, string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.act(w, r, name) {
			return
		}
		a := Action{Name: name, Tool: r.PostFormValue("tool"), Hash: r.PostFormValue("hash")}
		if decide == nil {
			c.answer(w, r, http.StatusNotFound, "pinning is not available")
			return
		}
		if a.Tool == "" {
			c.answer(w, r, http.StatusBadRequest, "name the tool")
			return
		}
		msg, err := decide(r.Context(), a.Tool, a.Hash)
		a.Result = msg
		c.audit(r, a, err)
		if err != nil {
			c.answer(w, r, statusOf(err), err.Error())
			return
		}
		c.answer(w, r, http.StatusOK, msg)
	}
}

func (c *Console) purge(w http.ResponseWriter, r *http.Request) {
	if !c.act(w, r, "cache/purge") {
		return
	}
	a := Action{Name: "cache/purge", Tool: strings.TrimSpace(r.PostFormValue("tool")), Upstream: r.PostFormValue("upstream")}
	if c.opts.Purge == nil {
		c.answer(w, r, http.StatusNotFound, "the cache is not available")
		return
	}
	if (a.Tool == "") == (a.Upstream == "") {
		c.answer(w, r, http.StatusBadRequest, "give an upstream or a tool, not both")
		return
	}
	n, err := c.opts.Purge(r.Context(), a.Upstream, a.Tool)
	what := "upstream " + a.Upstream
	if a.Tool != "" {
		what = "tool " + a.Tool
	}
	a.Result = plural(n, "cached result") + " of " + what + " purged"
	c.audit(r, a, err)
	if err != nil {
		c.answer(w, r, http.StatusBadRequest, err.Error())
		return
	}
	c.answer(w, r, http.StatusOK, a.Result)
}

func (c *Console) audit(r *http.Request, a Action, err error) {
	if c.opts.Audit != nil {
		c.opts.Audit(r, a, err)
	}
}

// ActionError is an action's failure with the HTTP status to answer.
type ActionError struct {
	Status int
	Msg    string
}

func (e *ActionError) Error() string { return e.Msg }

func statusOf(err error) int {
	if ae, ok := errors.AsType[*ActionError](err); ok {
		return ae.Status
	}
	return http.StatusInternalServerError
}

// answer tells the operator how an action went: as text to the console's script (which sends
// X-Console: fetch), as a small page to a form posted without script.
func (c *Console) answer(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if r.Header.Get("X-Console") == "fetch" {
		securityHeaders(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(msg))
		return
	}
	c.render(w, r, status, "result", struct {
		OK  bool
		Msg string
	}{status == http.StatusOK, msg})
}
