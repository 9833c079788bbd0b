package toolsearch

import (
	"unicode"
	"unicode/utf8"
)

// maxTokenBytes bounds a token. Longer runs of letters and digits (hashes, base64, glued URLs)
// are dropped rather than indexed: nobody searches for them, and one odd description should not
// grow every index built over it.
const maxTokenBytes = 64

// class is what a rune is to the tokenizer.
type class uint8

const (
	sep    class = 1 << iota // ends a word: spaces, punctuation, '_', '-', symbols, invalid UTF-8
	lower                    // a lower-case letter, or a letter without case (Arabic, Devanagari, ...)
	upper                    // an upper-case or title-case letter: may start a new word
	digit                    // a decimal digit: sticks to the letters it touches (s3, ipv4, base64)
	mark                     // a combining mark: continues the word, leaves case boundaries alone
	single                   // a Han, Hiragana or Katakana character, a word by itself
)

// classOf classifies r. Han, Hiragana and Katakana characters are words of their own because
// those scripts put no spaces between words; single characters match far better than a whole
// sentence as one token would.
func classOf(r rune) class {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z':
			return lower
		case 'A' <= r && r <= 'Z':
			return upper
		case '0' <= r && r <= '9':
			return digit
		}
		return sep
	}
	switch {
	case unicode.IsUpper(r) || unicode.IsTitle(r):
		return upper
	case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana):
		return single
	case unicode.IsLetter(r):
		return lower
	case unicode.IsDigit(r):
		return digit
	case unicode.IsMark(r):
		return mark
	}
	return sep
}

// asciiClass is classOf for ASCII, looked up rather than computed: tokenizing is most of Build.
var asciiClass = func() (t [utf8.RuneSelf]class) {
	for c := range t {
		t[c] = classOf(rune(c))
	}
	return t
}()

// inRun reports for each byte whether it is an ASCII lower-case letter or digit, the bytes
// eachWord copies in runs.
var inRun = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = asciiClass[c]&(lower|digit) != 0
	}
	return t
}()

// classAt returns the class and size of the rune at s[i], and the rune itself.
func classAt(s string, i int) (class, rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], rune(c), 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return classOf(r), r, size
}

// eachWord calls fn with each word of s in order, lowercased into buf; buf is scratch space and
// eachWord returns it, maybe grown, for reuse. fn may change the slice it gets, which is only
// valid during the call. A word is a maximal run of letters, digits and marks, cut again where
// case says a new word starts: before an upper-case letter that follows a lower-case one
// (getForecast), or that follows an upper-case letter or a digit and precedes a lower-case one
// (HTTPServer, base64Encode). So snake_case, kebab-case, camelCase, PascalCase and a namespace
// separator such as "__" all split the same way. Words longer than maxTokenBytes are dropped.
func eachWord(s string, buf []byte, fn func(word []byte)) []byte {
	buf = buf[:0]
	in := false    // inside a word, whose lowercased bytes are in buf
	var last class // class of the current word's last rune that was not a mark
	for i := 0; i < len(s); {
		// Most text is runs of ASCII lower-case letters and digits: copy them whole.
		if j := i; inRun[s[j]] {
			for j++; j < len(s) && inRun[s[j]]; j++ {
			}
			if room := maxTokenBytes + 1 - len(buf); room > 0 {
				buf = append(buf, s[i:min(j, i+room)]...)
			}
			in, last, i = true, asciiClass[s[j-1]], j
			continue
		}
		c, r, size := sep, rune(s[i]), 1
		if r < utf8.RuneSelf {
			c = asciiClass[r]
		} else {
			c, r, size = classAt(s, i)
		}
		switch c {
		case sep, single:
			if in {
				buf, in = flush(buf, fn), false
			}
			if c == single {
				buf = flush(utf8.AppendRune(buf, unicode.ToLower(r)), fn)
			}
		default:
			switch {
			case !in:
				last = sep // nothing before the word counts
			case c == upper && startsWord(last, s, i+size):
				buf = flush(buf, fn)
			}
			in = true
			if c != mark {
				last = c
			}
			switch {
			case len(buf) > maxTokenBytes:
				// Dropped at its end; no need to copy more of it.
			case r < utf8.RuneSelf && c == upper:
				buf = append(buf, byte(r)+'a'-'A')
			default:
				buf = utf8.AppendRune(buf, unicode.ToLower(r))
			}
		}
		i += size
	}
	if in {
		buf = flush(buf, fn)
	}
	return buf
}

// flush hands the word in buf to fn unless it is too long, and returns buf emptied.
func flush(buf []byte, fn func(word []byte)) []byte {
	if len(buf) <= maxTokenBytes {
		fn(buf)
	}
	return buf[:0]
}

// startsWord reports whether an upper-case letter that follows a rune of class last, and is
// followed by s[next:], begins a new word.
func startsWord(last class, s string, next int) bool {
	switch last {
	case lower:
		return true
	case upper, digit:
		if next == len(s) {
			return false
		}
		c, _, _ := classAt(s, next)
		return c == lower
	}
	return false
}

// tokenize calls fn with each token of s: every word of eachWord, stop words dropped, the rest
// stemmed. The slice fn gets is only valid during the call. buf is scratch space; tokenize
// returns it, maybe grown, for reuse.
func tokenize(s string, buf []byte, fn func(tok []byte)) []byte {
	return eachWord(s, buf, func(word []byte) {
		if !isStopWord(word) {
			fn(stem(word))
		}
	})
}

func isStopWord(word []byte) bool {
	_, ok := stopWords[string(word)]
	return ok
}

// stopWords are English function words that carry nothing a tool could be told apart by. The list
// is short on purpose: words like "all", "new", "not" or "get" stay, and a word shared by many
// tools loses weight through its document frequency anyway. "s" and "t" are what apostrophes
// leave behind ("what's", "don't").
var stopWords = map[string]struct{}{
	"a": {}, "an": {}, "and": {}, "any": {}, "are": {}, "as": {}, "at": {}, "be": {}, "been": {},
	"but": {}, "by": {}, "can": {}, "could": {}, "do": {}, "does": {}, "for": {}, "from": {},
	"has": {}, "have": {}, "how": {}, "i": {}, "if": {}, "in": {}, "into": {}, "is": {}, "it": {},
	"its": {}, "me": {}, "my": {}, "of": {}, "on": {}, "or": {}, "our": {}, "please": {},
	"s": {}, "should": {}, "so": {}, "some": {}, "t": {}, "than": {}, "that": {}, "the": {},
	"their": {}, "them": {}, "then": {}, "there": {}, "these": {}, "they": {}, "this": {},
	"those": {}, "to": {}, "was": {}, "we": {}, "were": {}, "what": {}, "when": {}, "where": {},
	"which": {}, "who": {}, "why": {}, "will": {}, "with": {}, "would": {}, "you": {}, "your": {},
}

// appendLower appends s, lowercased rune by rune, to dst.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += size
	}
	return dst
}
