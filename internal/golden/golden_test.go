package golden

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps Errorf's message.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheck: the same bytes pass; other bytes (even one trailing newline
// less) fail with a message naming the file.
func TestCheck(t *testing.T) {
	if *update {
		t.Skip("-update rewrites files; nothing to compare")
	}
	for _, tc := range []struct {
		got  string
		fail bool
	}{
		{"hello\n", false},
		{"hello", true},
		{"goodbye\n", true},
	} {
		r := &recorder{TB: t}
		Check(r, "hello.golden.txt", []byte(tc.got))
		if failed := len(r.errs) > 0; failed != tc.fail {
			t.Errorf("Check(%q): failed %v, want %v (%v)", tc.got, failed, tc.fail, r.errs)
		}
		if tc.fail && len(r.errs) > 0 && !strings.Contains(r.errs[0], "hello.golden.txt") {
			t.Errorf("message %q does not name the file", r.errs[0])
		}
	}
}
