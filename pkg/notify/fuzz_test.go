package notify_test

import (
	"testing"

	"github.com/dlibot/dlibot/pkg/notify"
)

// ParseRef either fails or returns a Ref that formats back to its input.
func FuzzParseRef(f *testing.F) {
	f.Add("C1/1700000000.000100")
	f.Add("C1/1.0/2.0")
	f.Add("//")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := notify.ParseRef(s)
		if err != nil {
			return
		}
		if r.String() != s && (r.ThreadTS != r.TS) {
			t.Fatalf("ParseRef(%q) = %+v, formats as %q", s, r, r.String())
		}
	})
}
