package command

import (
	"strings"
	"unicode"
)

// readOnlyVerbs are the statements viewers may run: they read and change
// nothing.
var readOnlyVerbs = map[string]bool{"SELECT": true, "SHOW": true, "DESCRIBE": true, "DESC": true, "EXPLAIN": true}

// ReadOnlySQL reports whether stmt is one read-only statement: after
// comments and opening parentheses it starts with SELECT, SHOW, DESCRIBE
// (DESC) or EXPLAIN, and it holds no second statement (a ";" outside quotes
// and comments, other than a trailing one). Anything else — including WITH
// …, which Spark SQL lets end in an INSERT — counts as writing, so the
// classification errs on the side of asking for the stronger permission.
func ReadOnlySQL(stmt string) bool {
	s := skipNoise(stmt)
	end := 0
	for end < len(s) && (s[end] == '_' || unicode.IsLetter(rune(s[end]))) {
		end++
	}
	if !readOnlyVerbs[strings.ToUpper(s[:end])] {
		return false
	}
	return !multiStatement(stmt)
}

// skipNoise drops leading white space, comments and "(".
func skipNoise(s string) string {
	for {
		t := strings.TrimLeftFunc(s, unicode.IsSpace)
		switch {
		case strings.HasPrefix(t, "--"):
			i := strings.IndexByte(t, '\n')
			if i < 0 {
				return ""
			}
			t = t[i+1:]
		case strings.HasPrefix(t, "/*"):
			i := strings.Index(t[2:], "*/")
			if i < 0 {
				return ""
			}
			t = t[2+i+2:]
		case strings.HasPrefix(t, "("):
			t = t[1:]
		default:
			return t
		}
		s = t
	}
}

// multiStatement reports a ";" outside quotes, back-quoted names and
// comments that is followed by anything but white space and comments.
func multiStatement(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '`':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			i = j
		case '-':
			if i+1 < len(s) && s[i+1] == '-' {
				j := strings.IndexByte(s[i:], '\n')
				if j < 0 {
					return false
				}
				i += j
			}
		case '/':
			if i+1 < len(s) && s[i+1] == '*' {
				j := strings.Index(s[i+2:], "*/")
				if j < 0 {
					return false
				}
				i += 2 + j + 1
			}
		case ';':
			if skipNoise(s[i+1:]) != "" {
				return true
			}
		}
	}
	return false
}
