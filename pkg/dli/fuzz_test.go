package dli

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "7", "-1", "Thu, 26 Nov 2026 12:00:30 GMT", "99999999999999999999", "1e3"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, negative", s, d)
		}
	})
}

func FuzzParseFlexBool(f *testing.F) {
	for _, s := range []string{"true", "false", `"true"`, "TRUE", "yes", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parseFlexBool(s)
		if err == nil && b != strings.EqualFold(strings.Trim(strings.TrimSpace(s), `"`), "true") {
			t.Fatalf("parseFlexBool(%q) = %v", s, b)
		}
	})
}

func FuzzParseWeekday(f *testing.F) {
	for _, s := range []string{"MONDAY", "friday", "Sun", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseWeekday(s)
		if err == nil && (d < time.Sunday || d > time.Saturday || !strings.EqualFold(weekdayNames[d], s)) {
			t.Fatalf("parseWeekday(%q) = %v", s, d)
		}
	})
}
