package pinning

// RowKind says what a row of a side-by-side diff shows.
type RowKind string

const (
	RowSame    RowKind = "same"    // the line is in both
	RowChanged RowKind = "changed" // a pinned line replaced by a held one
	RowRemoved RowKind = "removed" // a pinned line the held definition drops
	RowAdded   RowKind = "added"   // a held line the pin does not have
	RowGap     RowKind = "gap"     // unchanged lines left out (Skipped says how many)
)

// Row is one row of a side-by-side diff: a line of the pinned definition on the left, of the
// held one on the right, numbered from 1 (0: no line on that side).
type Row struct {
	Kind         RowKind
	OldNo, NewNo int
	Old, New     string
	Skipped      int // for RowGap
}

// maxRows bounds a side-by-side diff: an operator reads it, and a hostile upstream chooses its
// size. Rows past it are cut, and Diff's cut reports so.
const maxRows = 2000

// Diff is h as an operator compares it: the hashed fields that changed and a side-by-side diff
// of their pretty JSON (the pin on the left, empty for a new tool; the held definition on the
// right), with diffContext unchanged lines around each change and the rest folded into gap rows.
// It is bounded like the unified diff of GET /admin/pins (maxDiffCells) and by maxRows; cut
// reports rows left out. The text is the upstream's: whoever shows it must escape it.
func (h HeldChange) Diff() (fields []string, rows []Row, cut bool) {
	var old string
	if h.Pinned != nil {
		fields = changedFields(h.Pinned.Def, h.Def)
		old = pretty(h.Pinned.Def)
	}
	ops := diffLines(splitLines(old), splitLines(pretty(h.Def)))
	oldNo, newNo := 0, 0
	emit := func(r Row) bool {
		if len(rows) == maxRows {
			cut = true
			return false
		}
		rows = append(rows, r)
		return true
	}
	for i := 0; i < len(ops); {
		if ops[i].kind == opSame {
			j := i
			for j < len(ops) && ops[j].kind == opSame {
				j++
			}
			// Keep diffContext lines after the previous change and before the next one.
			keepHead, keepTail := diffContext, diffContext
			if i == 0 {
				keepHead = 0
			}
			if j == len(ops) {
				keepTail = 0
			}
			n := j - i
			fold := n > keepHead+keepTail+1 // folding one line saves nothing
			for k := i; k < j; k++ {
				oldNo++
				newNo++
				switch {
				case !fold || k-i < keepHead || j-k <= keepTail:
					if !emit(Row{Kind: RowSame, OldNo: oldNo, NewNo: newNo, Old: ops[k].line, New: ops[k].line}) {
						return fields, rows, cut
					}
				case k-i == keepHead:
					if !emit(Row{Kind: RowGap, Skipped: n - keepHead - keepTail}) {
						return fields, rows, cut
					}
				}
			}
			i = j
			continue
		}
		// A change: deletions then additions (diffLines' order), paired row by row.
		var dels, adds []string
		for i < len(ops) && ops[i].kind == opDel {
			dels = append(dels, ops[i].line)
			i++
		}
		for i < len(ops) && ops[i].kind == opAdd {
			adds = append(adds, ops[i].line)
			i++
		}
		for k := range max(len(dels), len(adds)) {
			r := Row{Kind: RowChanged}
			if k < len(dels) {
				oldNo++
				r.OldNo, r.Old = oldNo, dels[k]
			} else {
				r.Kind = RowAdded
			}
			if k < len(adds) {
				newNo++
				r.NewNo, r.New = newNo, adds[k]
			} else {
				r.Kind = RowRemoved
			}
			if !emit(r) {
				return fields, rows, cut
			}
		}
	}
	return fields, rows, cut
}
