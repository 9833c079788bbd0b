package pinning

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"
)

// Admin serves the operator's view of held changes: GET /admin/pins, POST /admin/pins/approve
// and POST /admin/pins/reject. It has no authentication of its own: the gateway mounts it on
// the admin listener, behind its admin auth.
type Admin struct {
	pins      *Pins
	resolve   func(exposed string) (service, tool string, ok bool)
	exposedOf func(service, tool string) string
}

// NewAdmin serves p's held changes. resolve maps an exposed tool name to its upstream service
// and tool (ok false: no such tool); it must know hidden new tools too, which the catalog does
// not list. exposedOf is the reverse, "" when the tool has no exposed name now. Both are called
// concurrently.
func NewAdmin(p *Pins, resolve func(exposed string) (service, tool string, ok bool), exposedOf func(service, tool string) string) *Admin {
	return &Admin{pins: p, resolve: resolve, exposedOf: exposedOf}
}

// Register adds the three endpoints to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/pins", a.List)
	mux.HandleFunc("POST /admin/pins/approve", a.Approve)
	mux.HandleFunc("POST /admin/pins/reject", a.Reject)
}

// heldView is one held change as GET /admin/pins shows it.
type heldView struct {
	Tool         string     `json:"tool"` // the exposed name, what approve and reject take
	Service      string     `json:"service"`
	UpstreamTool string     `json:"upstream_tool"`
	Kind         Kind       `json:"kind"`
	FirstSeen    time.Time  `json:"first_seen"`
	RejectedAt   *time.Time `json:"rejected_at,omitempty"`
	Fields       []string   `json:"fields,omitempty"` // the hashed fields that differ from the pin
	Hash         string     `json:"hash"`             // of the held definition; approve may name it
	PinnedHash   string     `json:"pinned_hash,omitempty"`
	Diff         string     `json:"diff"` // unified diff, pinned to held, of the hashed fields
}

// List answers GET /admin/pins: {"held": [...]} with every held change.
func (a *Admin) List(w http.ResponseWriter, _ *http.Request) {
	held := a.pins.Held()
	views := make([]heldView, 0, len(held))
	for _, h := range held {
		v := heldView{
			Tool:         a.exposedOf(h.Service, h.Tool),
			Service:      h.Service,
			UpstreamTool: h.Tool,
			Kind:         h.Kind,
			FirstSeen:    h.FirstSeen,
			RejectedAt:   h.RejectedAt,
			Hash:         h.Hash,
		}
		var old string
		if h.Pinned != nil {
			v.PinnedHash = h.Pinned.Hash
			v.Fields = changedFields(h.Pinned.Def, h.Def)
			old = pretty(h.Pinned.Def)
		}
		v.Diff = unifiedDiff("pinned", "held", old, pretty(h.Def))
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"held": views})
}

// Approve answers POST /admin/pins/approve: the held change becomes the pin.
func (a *Admin) Approve(w http.ResponseWriter, r *http.Request) { a.settle(w, r, a.pins.Approve) }

// Reject answers POST /admin/pins/reject: the pin stays (see Pins.Reject).
func (a *Admin) Reject(w http.ResponseWriter, r *http.Request) { a.settle(w, r, a.pins.Reject) }

func (a *Admin) settle(w http.ResponseWriter, r *http.Request, decide func(context.Context, Key, string) (Status, error)) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "the body is over 64 KiB")
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	target, err := parseTarget(r.URL.Query(), body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	service, tool, ok := a.resolve(target.Tool)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown tool: "+target.Tool)
		return
	}
	st, err := decide(r.Context(), Key{Service: service, Tool: tool}, target.Hash)
	switch {
	case errors.Is(err, ErrNotHeld):
		writeError(w, http.StatusNotFound, "no held change for tool: "+target.Tool)
	case errors.Is(err, ErrStale):
		writeError(w, http.StatusConflict, "the held change of "+target.Tool+" is not "+target.Hash+"; list again")
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, "the pin store is unavailable; nothing changed, try again")
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, struct {
			Tool string `json:"tool"`
			Status
		}{target.Tool, st})
	}
}

// maxAdminBody bounds an approve or reject body.
const maxAdminBody = 64 << 10

// maxToolName bounds a tool name given to approve or reject (exposed names are far shorter).
const maxToolName = 1024

// target is what approve and reject act on.
type target struct {
	Tool string
	Hash string // "": whatever is held
}

// parseTarget reads {"tool": "EXPOSED_NAME", "hash": "..."} (hash optional) from body, or
// ?tool= and ?hash= from query; both may be given if they agree. The body is at most
// maxAdminBody (the caller bounds the read).
func parseTarget(query url.Values, body []byte) (target, error) {
	t := target{Tool: query.Get("tool"), Hash: query.Get("hash")}
	if body = bytes.TrimSpace(body); len(body) > 0 {
		var b struct {
			Tool string `json:"tool"`
			Hash string `json:"hash"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return target{}, errors.New(`the body is not {"tool": "EXPOSED_NAME"}: ` + err.Error())
		}
		if dec.More() {
			return target{}, errors.New("the body has data after its JSON object")
		}
		if t.Tool != "" && b.Tool != "" && t.Tool != b.Tool {
			return target{}, errors.New("?tool= and the body name different tools")
		}
		if t.Hash != "" && b.Hash != "" && t.Hash != b.Hash {
			return target{}, errors.New("?hash= and the body name different hashes")
		}
		t.Tool, t.Hash = cmp.Or(b.Tool, t.Tool), cmp.Or(b.Hash, t.Hash)
	}
	switch {
	case t.Tool == "":
		return target{}, errors.New(`name the tool: {"tool": "EXPOSED_NAME"} or ?tool=EXPOSED_NAME`)
	case len(t.Tool) > maxToolName || len(t.Hash) > maxToolName:
		return target{}, errors.New("the tool name or hash is too long")
	case !utf8.ValidString(t.Tool) || !utf8.ValidString(t.Hash):
		return target{}, errors.New("the tool name or hash is not UTF-8")
	}
	return t, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
