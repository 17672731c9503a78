package blockkit

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Truncate and Clip never exceed their limit, keep valid UTF-8 and return short input unchanged.
func FuzzTruncate(f *testing.F) {
	f.Add("hello world", 5)
	f.Add("```\ncode\n```"+strings.Repeat("x", 100), 40)
	f.Add("a &amp; b <https://x|y> c", 12)
	f.Add(strings.Repeat("é\n", 500), 300)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if !utf8.ValidString(s) || max < 0 || max > 50000 {
			t.Skip()
		}
		for name, got := range map[string]string{"Truncate": Truncate(s, max), "Clip": Clip(s, max)} {
			if Len(got) > max {
				t.Fatalf("%s(%q, %d) = %d chars", name, s, max, Len(got))
			}
			if !utf8.ValidString(got) {
				t.Fatalf("%s produced invalid UTF-8", name)
			}
			if Len(s) <= max && got != s {
				t.Fatalf("%s changed a short string", name)
			}
		}
	})
}

// Whatever blocks slack-go decodes, Fit returns at most MaxBlocks blocks within the text budget,
// and never panics.
func FuzzFit(f *testing.F) {
	f.Add(`[{"type":"section","text":{"type":"mrkdwn","text":"hi"}},{"type":"divider"}]`)
	f.Add(`[{"type":"header","text":{"type":"plain_text","text":"h"}},{"type":"context","elements":[{"type":"mrkdwn","text":"c"}]}]`)
	f.Add(`[{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"b"},"action_id":"a"}]}]`)
	f.Add(`[{"type":"section","fields":[{"type":"mrkdwn","text":"a"}]},{"type":"section"}]`)
	f.Fuzz(func(t *testing.T, js string) {
		var bs slack.Blocks
		if json.Unmarshal([]byte(js), &bs) != nil {
			t.Skip()
		}
		out := Fit(bs.BlockSet)
		if len(out) > MaxBlocks {
			t.Fatalf("%d blocks", len(out))
		}
		total := 0
		for _, b := range out {
			total += textLen(b)
		}
		if total > MaxTotalText {
			t.Fatalf("total text %d", total)
		}
		_ = Plain(out)
		if _, err := json.Marshal(out); err != nil {
			t.Fatal(err)
		}
	})
}
