package pinning

import (
	"fmt"
	"strings"
)

// Bounds of a diff: an operator reads it, and a hostile upstream chooses its size.
const (
	// maxDiffCells bounds the LCS table (lines of old times lines of new, after the common
	// head and tail are set aside); beyond it the middle is shown as removed then added.
	maxDiffCells = 1 << 20
	// maxDiffBytes bounds the text of one diff; the rest is cut with a note.
	maxDiffBytes = 32 << 10
	// diffContext is the number of unchanged lines shown around each change.
	diffContext = 3
)

type opKind byte

const (
	opSame opKind = ' '
	opDel  opKind = '-'
	opAdd  opKind = '+'
)

type op struct {
	kind opKind
	line string
}

// unifiedDiff returns a unified diff of the lines of a and b, labelled by from and to, with
// diffContext lines of context; "" when they are equal. It is bounded by maxDiffCells and
// maxDiffBytes.
func unifiedDiff(from, to, a, b string) string {
	ops := diffLines(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
	changed := false
	for start := 0; start < len(ops); {
		// Find the next change, and the end of its hunk: changes closer than 2*context merge.
		i := start
		for i < len(ops) && ops[i].kind == opSame {
			i++
		}
		if i == len(ops) {
			break
		}
		changed = true
		lo := max(i-diffContext, start)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != opSame {
				end = j + 1
				continue
			}
			if j-end >= 2*diffContext {
				break
			}
		}
		hi := min(end+diffContext, len(ops))
		writeHunk(&out, ops, lo, hi)
		if out.Len() > maxDiffBytes {
			s := out.String()[:maxDiffBytes]
			return s[:strings.LastIndexByte(s, '\n')+1] + "... (diff cut at 32 KiB)\n"
		}
		start = hi
	}
	if !changed {
		return ""
	}
	return out.String()
}

// writeHunk writes ops[lo:hi] with its header; line numbers are counted from the ops before lo.
func writeHunk(out *strings.Builder, ops []op, lo, hi int) {
	aStart, bStart := 1, 1
	for _, o := range ops[:lo] {
		if o.kind != opAdd {
			aStart++
		}
		if o.kind != opDel {
			bStart++
		}
	}
	var aLen, bLen int
	for _, o := range ops[lo:hi] {
		if o.kind != opAdd {
			aLen++
		}
		if o.kind != opDel {
			bLen++
		}
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
	for _, o := range ops[lo:hi] {
		out.WriteByte(byte(o.kind))
		out.WriteString(o.line)
		out.WriteByte('\n')
	}
}

// hunkRange is a hunk's start,length in unified diff's spelling (an empty range names the line
// before it).
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffLines is an edit script from a to b: the longest common subsequence of lines (dynamic
// programming over what remains after the common head and tail), deletions before additions
// within a change.
func diffLines(a, b []string) []op {
	var head, tail int
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	ops := make([]op, 0, len(a)+len(b))
	for _, l := range a[:head] {
		ops = append(ops, op{opSame, l})
	}
	ma, mb := a[head:len(a)-tail], b[head:len(b)-tail]
	if len(ma)*len(mb) > maxDiffCells {
		for _, l := range ma {
			ops = append(ops, op{opDel, l})
		}
		for _, l := range mb {
			ops = append(ops, op{opAdd, l})
		}
	} else {
		ops = append(ops, lcsOps(ma, mb)...)
	}
	for _, l := range a[len(a)-tail:] {
		ops = append(ops, op{opSame, l})
	}
	return ops
}

func lcsOps(a, b []string) []op {
	n, m := len(a), len(b)
	// l[i][j] is the LCS length of a[i:] and b[j:], flattened.
	l := make([]int32, (n+1)*(m+1))
	at := func(i, j int) int32 { return l[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i*(m+1)+j] = at(i+1, j+1) + 1
			} else {
				l[i*(m+1)+j] = max(at(i+1, j), at(i, j+1))
			}
		}
	}
	var ops []op
	var adds []op
	flush := func() { ops = append(ops, adds...); adds = adds[:0] }
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			flush()
			ops = append(ops, op{opSame, a[i]})
			i++
			j++
		case at(i+1, j) >= at(i, j+1):
			ops = append(ops, op{opDel, a[i]})
			i++
		default:
			adds = append(adds, op{opAdd, b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, op{opDel, a[i]})
	}
	flush()
	for ; j < m; j++ {
		ops = append(ops, op{opAdd, b[j]})
	}
	return ops
}
