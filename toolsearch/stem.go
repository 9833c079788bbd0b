package toolsearch

// stem applies step 1 of Porter's stemmer (M. F. Porter, "An algorithm for suffix stripping",
// 1980) to a lower-case token and returns it, changed in place or grown by one byte:
//
//	1a  plurals:    caresses -> caress, queries -> queri, forecasts -> forecast (ss stays)
//	1b  -eed -ed -ing: agreed -> agree, created -> create, getting -> get, filing -> file
//	1c  final y:    query -> queri (so query and queries meet)
//
// Only step 1 runs: it folds the inflections that part a query from a description (plural,
// past, progressive) and leaves derivations alone, so "user" and "usage" stay different words.
// Tokens with anything but ASCII letters, and tokens of one or two letters, are returned as they
// are: the rules are English.
func stem(b []byte) []byte {
	if len(b) <= 2 {
		return b
	}
	for _, c := range b {
		if c < 'a' || c > 'z' {
			return b
		}
	}
	b = step1a(b)
	b = step1b(b)
	return step1c(b)
}

func step1a(b []byte) []byte {
	switch {
	case hasSuffix(b, "sses"), hasSuffix(b, "ies"):
		return b[:len(b)-2]
	case hasSuffix(b, "ss"):
		return b
	case hasSuffix(b, "s"):
		return b[:len(b)-1]
	}
	return b
}

func step1b(b []byte) []byte {
	switch {
	case hasSuffix(b, "eed"):
		if measure(b[:len(b)-3]) > 0 {
			return b[:len(b)-1]
		}
		return b
	case hasSuffix(b, "ed") && hasVowel(b[:len(b)-2]):
		return tidy(b[:len(b)-2])
	case hasSuffix(b, "ing") && hasVowel(b[:len(b)-3]):
		return tidy(b[:len(b)-3])
	}
	return b
}

// tidy repairs a stem whose -ed or -ing was just removed: creat -> create, gett -> get,
// fil -> file.
func tidy(b []byte) []byte {
	switch {
	case hasSuffix(b, "at"), hasSuffix(b, "bl"), hasSuffix(b, "iz"):
		return append(b, 'e')
	case endsDoubleConsonant(b):
		if c := b[len(b)-1]; c != 'l' && c != 's' && c != 'z' {
			return b[:len(b)-1]
		}
	case measure(b) == 1 && endsCVC(b):
		return append(b, 'e')
	}
	return b
}

func step1c(b []byte) []byte {
	if n := len(b); b[n-1] == 'y' && hasVowel(b[:n-1]) {
		b[n-1] = 'i'
	}
	return b
}

// consonant reports whether b[i] is a consonant in Porter's sense: not a, e, i, o, u, and not a
// y that follows a consonant.
func consonant(b []byte, i int) bool {
	switch b[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !consonant(b, i-1)
	}
	return true
}

// measure is Porter's m: the number of vowel-consonant sequences in b.
func measure(b []byte) int {
	m, i := 0, 0
	for i < len(b) && consonant(b, i) {
		i++
	}
	for i < len(b) {
		for i < len(b) && !consonant(b, i) {
			i++
		}
		if i == len(b) {
			break
		}
		for i < len(b) && consonant(b, i) {
			i++
		}
		m++
	}
	return m
}

func hasVowel(b []byte) bool {
	for i := range b {
		if !consonant(b, i) {
			return true
		}
	}
	return false
}

func endsDoubleConsonant(b []byte) bool {
	n := len(b)
	return n >= 2 && b[n-1] == b[n-2] && consonant(b, n-1)
}

// endsCVC reports whether b ends consonant, vowel, consonant, the last not w, x or y (hop, fil).
func endsCVC(b []byte) bool {
	n := len(b)
	if n < 3 || !consonant(b, n-3) || consonant(b, n-2) || !consonant(b, n-1) {
		return false
	}
	c := b[n-1]
	return c != 'w' && c != 'x' && c != 'y'
}

func hasSuffix(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == suffix
}
