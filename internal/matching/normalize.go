package matching

import (
	"strings"
	"unicode"
)

// poPrefixes are the words ERPs and portals put before a PO number, after separators are removed ("PO#",
// "P.O.", "PO No." become "PO", "PONO"). Each is removed only when a digit follows it, so a PO number that
// merely starts with the letters (POLAND-7) keeps them. No two can match the same text.
var poPrefixes = []string{"PURCHASEORDER", "PONUMBER", "PONO", "PONR", "PO"}

// POKey is a PO number reduced to what identifies it: ASCII letters upper-cased, everything but ASCII
// letters and digits removed (spaces, dashes, underscores, dots, '#', ...), a leading PO prefix ("PO",
// "PO#", "P.O.", "PO No.", "Purchase Order") removed when a digit follows it, and leading zeros removed.
// "po-0045 00012", "PO#4500012" and "PO-4500012" all have the key "4500012". A number with no letter or
// digit, or only zeros, has the empty key, which matches nothing.
//
// The SQL function po_key (migration 005_matching.sql) computes the same key for the index that narrows
// what a single invoice's match loads; TestPOKeyMatchesSQL keeps the two equal.
func POKey(s string) string { return string(appendPOKey(nil, s)) }

// appendPOKey appends POKey(s) to dst without allocating beyond dst.
func appendPOKey(dst []byte, s string) []byte {
	start := len(dst)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			dst = append(dst, c-'a'+'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			dst = append(dst, c)
		}
	}
	b := dst[start:]
	for _, p := range poPrefixes {
		if len(b) > len(p) && string(b[:len(p)]) == p && b[len(p)] >= '0' && b[len(p)] <= '9' {
			b = b[len(p):]
			break
		}
	}
	for len(b) > 0 && b[0] == '0' {
		b = b[1:]
	}
	n := copy(dst[start:], b)
	return dst[:start+n]
}

// poSteps are the normalisations a PO number needed to reach its key, for the reasons a person reads.
type poSteps struct {
	lower, space, dash, underscore, dot, other, zeros bool
	prefix                                            string
}

func (s poSteps) union(o poSteps) poSteps {
	s.lower, s.space, s.dash, s.underscore = s.lower || o.lower, s.space || o.space, s.dash || o.dash, s.underscore || o.underscore
	s.dot, s.other, s.zeros = s.dot || o.dot, s.other || o.other, s.zeros || o.zeros
	if s.prefix == "" {
		s.prefix = o.prefix
	}
	return s
}

// describe says what was done, e.g. "ignoring case, removing spaces and dashes, the prefix PO and leading
// zeros".
func (s poSteps) describe() string {
	var parts []string
	if s.lower {
		parts = append(parts, "ignoring case")
	}
	var removed []string
	for _, r := range []struct {
		on   bool
		what string
	}{{s.space, "spaces"}, {s.dash, "dashes"}, {s.underscore, "underscores"}, {s.dot, "dots"}, {s.other, "other punctuation"}} {
		if r.on {
			removed = append(removed, r.what)
		}
	}
	if s.prefix != "" {
		removed = append(removed, "prefix "+s.prefix)
	}
	if s.zeros {
		removed = append(removed, "leading zeros")
	}
	if len(removed) > 0 {
		parts = append(parts, "removing "+andList(removed))
	}
	if len(parts) == 0 {
		return "comparing them as they are"
	}
	return strings.Join(parts, ", ")
}

func poKey(s string) (string, poSteps) {
	var st poSteps
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			st.lower = true
			b = append(b, c-'a'+'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b = append(b, c)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			st.space = true
		case c == '-':
			st.dash = true
		case c == '_':
			st.underscore = true
		case c == '.':
			st.dot = true
		default:
			st.other = true
		}
	}
	for _, p := range poPrefixes {
		if len(b) > len(p) && string(b[:len(p)]) == p && b[len(p)] >= '0' && b[len(p)] <= '9' {
			st.prefix = p
			b = b[len(p):]
			break
		}
	}
	n := 0
	for n < len(b) && b[n] == '0' {
		n++
	}
	if n > 0 {
		st.zeros = true
		b = b[n:]
	}
	return string(b), st
}

// PartKey is a part number compared across ERP and portal: ASCII letters upper-cased, everything but ASCII
// letters and digits removed ("hb-m8/40" and "HB M8 40" are the same part). The SQL function part_key
// (migration 005_matching.sql) computes the same key.
func PartKey(s string) string { return string(appendPartKey(nil, s)) }

func appendPartKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			dst = append(dst, c-'a'+'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			dst = append(dst, c)
		}
	}
	return dst
}

// legalSuffixes are the company-form words left off a buyer entity or customer name when comparing them.
var legalSuffixes = map[string]bool{
	"inc": true, "incorporated": true, "corp": true, "corporation": true, "co": true, "company": true,
	"ltd": true, "limited": true, "llc": true, "llp": true, "lp": true, "plc": true,
	"gmbh": true, "mbh": true, "ag": true, "kg": true, "kgaa": true, "ug": true, "ev": true,
	"sa": true, "sas": true, "sarl": true, "srl": true, "spa": true, "sl": true, "sau": true,
	"bv": true, "nv": true, "ab": true, "oy": true, "oyj": true, "as": true, "asa": true, "aps": true,
	"pty": true, "pte": true, "pvt": true, "kk": true, "se": true, "sp": true, "zoo": true,
}

// EntityKey is a company name or ID reduced for comparison: lower case, "&" read as "and", dots and
// apostrophes dropped ("S.A." is "sa"), other punctuation and whitespace as word breaks, runs of single
// letters joined ("S A" is "sa"), a leading "the" and trailing legal forms (Inc, Ltd, GmbH, Corp, LLC,
// S.A., "GmbH & Co. KG", ...) removed, and the words joined without spaces. "Acme Corp.", "ACME
// Corporation" and "acme" have the same key. A name that is only a legal form keeps it.
func EntityKey(s string) string {
	var words []string
	var w strings.Builder
	flush := func() {
		if w.Len() > 0 {
			words = append(words, w.String())
			w.Reset()
		}
	}
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '.' || r == '\'' || r == '\u2019':
		case r == '&' || r == '+':
			flush()
			words = append(words, "and")
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			w.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	// Join runs of single letters: "s a" → "sa", "p l c" → "plc".
	joined := words[:0:0]
	for i := 0; i < len(words); {
		if len([]rune(words[i])) == 1 {
			j := i
			var sb strings.Builder
			for j < len(words) && len([]rune(words[j])) == 1 {
				sb.WriteString(words[j])
				j++
			}
			joined = append(joined, sb.String())
			i = j
			continue
		}
		joined = append(joined, words[i])
		i++
	}
	words = joined
	if len(words) > 1 && words[0] == "the" {
		words = words[1:]
	}
	for len(words) > 1 {
		last := words[len(words)-1]
		if legalSuffixes[last] || last == "and" {
			words = words[:len(words)-1]
			continue
		}
		break
	}
	return strings.Join(words, "")
}

// andList joins "a", "b", "c" as "a, b and c".
func andList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

const asciiSpace = " \t\n\r\f\v"

// Open reports whether a PO with this portal status still takes invoices: every status but
// ClosedStatuses, compared as the SQL loaders do (lower(btrim(x)) with ASCII case and whitespace only).
func Open(status string) bool {
	s := strings.Trim(status, asciiSpace)
	for _, c := range ClosedStatuses {
		if equalFoldASCII(s, c) {
			return false
		}
	}
	return true
}

// ClosedStatuses are the portal statuses (lower case) of POs that take no more invoices; every other status
// is open. The SQL loaders use the same list.
var ClosedStatuses = []string{"closed", "cancelled", "canceled", "fully invoiced"}

// equalFoldASCII compares s with lower, which is lower-case ASCII, ignoring ASCII case only.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Currency is a currency code as compared: ASCII upper case, without surrounding ASCII whitespace (the SQL
// loaders use upper(btrim(x)) COLLATE "C").
func Currency(s string) string {
	s = strings.Trim(s, asciiSpace)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
