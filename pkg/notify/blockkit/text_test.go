package blockkit

import (
	"fmt"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"},
		{"<!channel> ping", "&lt;!channel&gt; ping"},
		{"*bold* _it_", "*bold* _it_"},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Unescape(Escape(tc.in)); got != tc.in {
			t.Errorf("Unescape(Escape(%q)) = %q", tc.in, got)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ch…"},
		{"ümläüt ünïcödé", 6, "ümläü…"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
		{"", 5, ""},
	} {
		got := Clip(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if Len(got) > max(tc.max, 0) {
			t.Errorf("Clip(%q, %d) has %d chars", tc.in, tc.max, Len(got))
		}
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name     string
		in       string
		max      int
		want     string // exact, when set
		suffix   string // required suffix, when set
		contains []string
		absent   []string
	}{
		{name: "fits", in: "hello", max: 10, want: "hello"},
		{name: "at limit", in: strings.Repeat("a", 3000), max: 3000, want: strings.Repeat("a", 3000)},
		{name: "count marker", in: long, max: 3000, suffix: " more chars"},
		{name: "tiny max clips", in: long, max: 8, want: "xxxxxxx…"},
		{name: "prefers line break", in: strings.Repeat("line of text\n", 300), max: 1000,
			suffix: " more chars", absent: []string{"line of te\n"}},
		{name: "closes code block", in: "```\n" + strings.Repeat("log line\n", 500) + "```", max: 500,
			contains: []string{"\n```\n… "}},
		{name: "never splits entity", in: strings.Repeat("&amp;", 100), max: 60, absent: []string{"&am\n", "&a\n", "&\n"}},
		{name: "never splits link", in: strings.Repeat("y", 40) + "<https://example.com/very/long/path|label>" + long, max: 70,
			absent: []string{"<https"}},
		{name: "multibyte counted as chars", in: strings.Repeat("é", 100), max: 50, suffix: " more chars"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Truncate(tc.in, tc.max)
			if Len(got) > tc.max {
				t.Fatalf("Truncate gave %d chars, max %d: %q", Len(got), tc.max, got)
			}
			if tc.want != "" && got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if tc.suffix != "" && !strings.HasSuffix(got, tc.suffix) {
				t.Fatalf("got %q, want suffix %q", got, tc.suffix)
			}
			for _, c := range tc.contains {
				if !strings.Contains(got, c) {
					t.Errorf("got %q, want it to contain %q", got, c)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("got %q, must not contain %q", got, a)
				}
			}
		})
	}
}

// The marker's count is exact: kept characters + omitted = original length.
func TestTruncateMarkerCount(t *testing.T) {
	in := strings.Repeat("abcdefghij", 400) // 4000 chars, no line breaks
	got := Truncate(in, 3000)
	kept, marker, ok := strings.Cut(got, "\n… ")
	if !ok {
		t.Fatalf("no marker in %q", got[len(got)-40:])
	}
	var omitted int
	if _, err := fmt.Sscanf(marker, "%d more chars", &omitted); err != nil {
		t.Fatalf("marker %q: %v", marker, err)
	}
	if Len(kept)+omitted != Len(in) {
		t.Fatalf("kept %d + omitted %d != %d", Len(kept), omitted, Len(in))
	}
}

func TestMore(t *testing.T) {
	if got := More(3, "jobs"); got != "… 3 more jobs" {
		t.Fatalf("More = %q", got)
	}
	if got := More(1, ""); got != "… 1 more items" {
		t.Fatalf("More = %q", got)
	}
}
