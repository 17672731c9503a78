package events

import (
	"errors"
	"fmt"
	"strings"
)

// Stream names and the subjects they capture (contract).
const (
	// StreamIn stores every input event: object events, metrics, ticks.
	StreamIn = "DLIBOT_IN"
	// StreamOut stores events the functions emit.
	StreamOut = "DLIBOT_OUT"
	// StreamDLQ stores dead letters, one subject per function.
	StreamDLQ = "DLIBOT_DLQ"

	// SubjectsIn is the subject filter of [StreamIn].
	SubjectsIn = "dlibot.in.>"
	// SubjectsOut is the subject filter of [StreamOut].
	SubjectsOut = "dlibot.out.>"
	// SubjectsDLQ is the subject filter of [StreamDLQ].
	SubjectsDLQ = "dlibot.dlq.>"

	// SubjectsObs matches every object event subject (one token per bucket).
	SubjectsObs = "dlibot.in.obs.*"
	// SubjectsMetrics matches every metrics subject (one token per queue).
	SubjectsMetrics = "dlibot.in.metrics.*"
)

// ErrInvalidToken reports a name that cannot be used where dlibot needs a
// plain identifier (function names, durable names, KV keys).
var ErrInvalidToken = errors.New("events: invalid name")

// ObsSubject is the subject of object events of bucket:
// dlibot.in.obs.<bucket>, with bucket escaped by [EscapeToken].
func ObsSubject(bucket string) string { return "dlibot.in.obs." + EscapeToken(bucket) }

// MetricsSubject is the subject of load samples of a DLI queue:
// dlibot.in.metrics.<queue>, with queue escaped by [EscapeToken].
func MetricsSubject(queue string) string { return "dlibot.in.metrics." + EscapeToken(queue) }

// TickSubject is the subject of schedule ticks for a function:
// dlibot.in.tick.<function>.
func TickSubject(function string) string { return "dlibot.in.tick." + EscapeToken(function) }

// OutSubject is the subject of an event a function emits:
// dlibot.out.<function>.<event>, e.g. dlibot.out.jobwatch.incident.
func OutSubject(function, event string) string {
	return "dlibot.out." + EscapeToken(function) + "." + EscapeToken(event)
}

// DLQSubject is the dead-letter subject of a function: dlibot.dlq.<function>.
func DLQSubject(function string) string { return "dlibot.dlq." + EscapeToken(function) }

// tokenSafe reports whether b may appear unescaped in a subject token.
// Only letters, digits, '-' and '_' are kept: '.', '*', '>', whitespace,
// '%' and every other byte are escaped.
func tokenSafe(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

// EscapeToken turns any string into one valid NATS subject token, reversibly:
// bytes other than letters, digits, '-' and '_' become %XX (upper-case hex),
// so "raw.data" becomes "raw%2Edata" and cannot split into two tokens or act
// as a wildcard. The empty string becomes "%" (which no non-empty name
// escapes to). Plain names ("etl", "raw-data") are unchanged.
func EscapeToken(s string) string {
	if s == "" {
		return "%"
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !tokenSafe(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if tokenSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
	return b.String()
}

// UnescapeToken reverses [EscapeToken]. It fails on a token that
// EscapeToken cannot have produced.
func UnescapeToken(tok string) (string, error) {
	if tok == "%" {
		return "", nil
	}
	if tok == "" {
		return "", fmt.Errorf("%w: empty subject token", ErrInvalidToken)
	}
	if !strings.Contains(tok, "%") {
		for i := 0; i < len(tok); i++ {
			if !tokenSafe(tok[i]) {
				return "", fmt.Errorf("%w: byte %q in subject token %q", ErrInvalidToken, tok[i], tok)
			}
		}
		return tok, nil
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if tokenSafe(c) {
			b.WriteByte(c)
			continue
		}
		if c != '%' || i+2 >= len(tok) {
			return "", fmt.Errorf("%w: bad escape in subject token %q", ErrInvalidToken, tok)
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("%w: bad escape in subject token %q", ErrInvalidToken, tok)
		}
		v := hi<<4 | lo
		if tokenSafe(v) {
			return "", fmt.Errorf("%w: needless escape in subject token %q", ErrInvalidToken, tok)
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ValidName checks a name used verbatim in durable consumer names, KV
// bucket names and KV keys (a function name, a filter label): 1–64 bytes of
// letters, digits, '-' and '_'.
func ValidName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%w: %q must be 1-64 characters", ErrInvalidToken, s)
	}
	for i := 0; i < len(s); i++ {
		if !tokenSafe(s[i]) {
			return fmt.Errorf("%w: %q may only contain letters, digits, '-' and '_'", ErrInvalidToken, s)
		}
	}
	return nil
}
