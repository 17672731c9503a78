package events

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestSubjectBuilders(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"obs plain", ObsSubject("raw-data"), "dlibot.in.obs.raw-data"},
		{"obs dotted bucket", ObsSubject("raw.data"), "dlibot.in.obs.raw%2Edata"},
		{"metrics wildcard queue", MetricsSubject("q*"), "dlibot.in.metrics.q%2A"},
		{"metrics gt queue", MetricsSubject(">"), "dlibot.in.metrics.%3E"},
		{"metrics space", MetricsSubject("my queue"), "dlibot.in.metrics.my%20queue"},
		{"metrics empty", MetricsSubject(""), "dlibot.in.metrics.%"},
		{"tick", TickSubject("jobwatch"), "dlibot.in.tick.jobwatch"},
		{"out", OutSubject("jobwatch", "incident"), "dlibot.out.jobwatch.incident"},
		{"dlq", DLQSubject("obsimport"), "dlibot.dlq.obsimport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestEscapeTokenMakesOneToken(t *testing.T) {
	names := []string{"a", "raw.data", "a.b.c", "*", ">", "a b", "tab\there", "%", "%2E", "ünïcode", "x\x00y", "", "under_score-dash", "CAPS.1"}
	for _, n := range names {
		tok := EscapeToken(n)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Errorf("EscapeToken(%q) = %q is not a single literal token", n, tok)
		}
		back, err := UnescapeToken(tok)
		if err != nil || back != n {
			t.Errorf("UnescapeToken(EscapeToken(%q)) = %q, %v", n, back, err)
		}
		// The subject matches exactly the single-token wildcard filter.
		subj := ObsSubject(n)
		if got := strings.Count(subj, "."); got != 3 {
			t.Errorf("ObsSubject(%q) = %q has %d dots, want 3", n, subj, got)
		}
		if !subjectMatches(SubjectsObs, subj) {
			t.Errorf("%q does not match %q", subj, SubjectsObs)
		}
	}
	// Distinct names give distinct tokens.
	seen := map[string]string{}
	for _, n := range names {
		tok := EscapeToken(n)
		if prev, ok := seen[tok]; ok {
			t.Errorf("%q and %q both escape to %q", prev, n, tok)
		}
		seen[tok] = n
	}
}

// subjectMatches reports whether subject matches filter (NATS wildcards).
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, ft := range f {
		if ft == ">" {
			return len(s) > i
		}
		if i >= len(s) || ft != "*" && ft != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

func TestUnescapeTokenRejects(t *testing.T) {
	for _, tok := range []string{"", "a.b", "a*", "%2", "%G0", "%41" /* needless */, "%2e" /* lower hex */, "a%"} {
		if _, err := UnescapeToken(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("UnescapeToken(%q) err = %v, want ErrInvalidToken", tok, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"jobwatch", "obs_import-2", strings.Repeat("a", 64)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", ">", strings.Repeat("a", 65), "ü"} {
		if err := ValidName(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidToken", bad, err)
		}
	}
}

func TestSubjectsAreValidForNATS(t *testing.T) {
	// nats.Conn rejects subjects with whitespace or empty tokens; the
	// builders never produce them.
	for _, s := range []string{ObsSubject(" "), MetricsSubject("a..b"), TickSubject("")} {
		if strings.Contains(s, "..") || strings.HasSuffix(s, ".") || strings.ContainsAny(s, " \t") {
			t.Errorf("bad subject %q", s)
		}
		m := nats.NewMsg(s)
		if m.Subject != s {
			t.Errorf("subject changed: %q", m.Subject)
		}
	}
}
