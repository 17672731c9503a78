package blockkit

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Ellipsis ends every shortened text.
const Ellipsis = "…"

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes s safe to embed in mrkdwn or a message's text: it replaces "&", "<" and ">" with
// their entities, as Slack requires, so outside values cannot form links, mentions or broadcasts
// (<!channel>). It does not touch *, _ or ~ formatting characters.
func Escape(s string) string { return mrkdwnEscaper.Replace(s) }

var mrkdwnUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// Unescape reverses Escape.
func Unescape(s string) string { return mrkdwnUnescaper.Replace(s) }

// Len is the length of s as Slack counts it for its limits, in characters (runes).
func Len(s string) int { return utf8.RuneCountInString(s) }

// Clip shortens s to at most max characters, ending it with "…" when anything was cut. It is meant
// for short plain labels (headers, buttons, dialog titles) where a count would not fit. Clip never
// returns more than max characters; with max ≤ 0 it returns "".
func Clip(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if Len(s) <= max {
		return s
	}
	if max == 1 {
		return Ellipsis
	}
	return strings.TrimRight(prefixRunes(s, max-1), " \n\t") + Ellipsis
}

// Truncate shortens s to at most max characters. When anything is cut, the text ends with an
// explicit marker "… N more chars" (N = the characters left out), so a reader knows the message is
// incomplete. The cut prefers a line break near the end, never splits an &entity; or a <link|label>,
// and closes a ``` code block it cuts into. When max is too small for the marker, Truncate falls back
// to Clip.
func Truncate(s string, max int) string {
	n := Len(s)
	if n <= max {
		return s
	}
	// The marker for the worst case (everything cut) has the most digits, so reserving its length
	// leaves room for the real marker.
	reserve := Len(moreChars(n)) + 1 // +1 for the line break before the marker
	const fence = "```"
	keep := max - reserve - (len(fence) + 1) // room to close a code block
	if keep < 1 {
		return Clip(s, max)
	}
	prefix := safeCut(prefixRunes(s, keep))
	if strings.Count(prefix, fence)%2 == 1 {
		prefix = strings.TrimRight(prefix, "\n") + "\n" + fence
	}
	omitted := n - Len(prefixOnlyText(prefix, s))
	return strings.TrimRight(prefix, " \n\t") + "\n" + moreChars(omitted)
}

// prefixOnlyText returns the part of prefix that is a real prefix of s (without a closing fence we
// may have added), so the omitted count refers to the original text.
func prefixOnlyText(prefix, s string) string {
	for len(prefix) > 0 && !strings.HasPrefix(s, prefix) {
		prefix = prefix[:len(prefix)-1]
	}
	return prefix
}

func moreChars(n int) string { return Ellipsis + " " + strconv.Itoa(n) + " more chars" }

// More is the marker line for n omitted items of a kind, e.g. More(3, "jobs") = "… 3 more jobs".
func More(n int, noun string) string {
	if noun == "" {
		noun = "items"
	}
	return Ellipsis + " " + strconv.Itoa(n) + " more " + noun
}

// prefixRunes returns the first n runes of s.
func prefixRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// safeCut moves a cut back so that it does not split an entity (&amp;) or a <…> link, and to the
// last line break when one is near the end (within the last eighth of the text), else to the last
// space within 40 bytes, so words are not split.
func safeCut(p string) string {
	if i := strings.LastIndexByte(p, '<'); i >= 0 && strings.LastIndexByte(p, '>') < i {
		p = p[:i]
	}
	if i := strings.LastIndexByte(p, '&'); i >= 0 && i >= len(p)-6 && !strings.Contains(p[i:], ";") {
		p = p[:i]
	}
	if i := strings.LastIndexByte(p, '\n'); i > 0 && i >= len(p)-len(p)/8 {
		return p[:i]
	}
	if i := strings.LastIndexByte(p, ' '); i > 0 && i >= len(p)-40 {
		return p[:i]
	}
	return p
}
