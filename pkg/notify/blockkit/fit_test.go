package blockkit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

func texts(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func rawSection(text string) *slack.SectionBlock {
	return &slack.SectionBlock{Type: slack.MBTSection, Text: md(text)}
}

func TestFitLimits(t *testing.T) {
	many := func(n int, b func(i int) slack.Block) []slack.Block {
		out := make([]slack.Block, n)
		for i := range out {
			out[i] = b(i)
		}
		return out
	}
	fields := make([]*slack.TextBlockObject, 12)
	for i := range fields[1:] {
		fields[i+1] = md(fmt.Sprintf("*F%d*\nvalue", i+1))
	}
	fields[0] = md("*F0*\n" + strings.Repeat("v", 2500))
	ctxElems := make([]slack.MixedElement, 15)
	for i := range ctxElems {
		ctxElems[i] = md(fmt.Sprintf("c%d", i))
	}
	buttons := make([]slack.BlockElement, 30)
	for i := range buttons {
		buttons[i] = &slack.ButtonBlockElement{Type: slack.METButton, ActionID: fmt.Sprintf("b%d", i), Text: plain("B")}
	}
	bigButton := &slack.ButtonBlockElement{
		Type: slack.METButton, ActionID: strings.Repeat("a", 300), Value: strings.Repeat("v", 2500),
		Text: plain(strings.Repeat("t", 100)),
		Confirm: &slack.ConfirmationBlockObject{
			Title: plain(strings.Repeat("T", 150)), Text: md(strings.Repeat("x", 500)),
			Confirm: plain(strings.Repeat("y", 40)), Deny: plain(strings.Repeat("n", 40)),
		},
	}

	tests := []struct {
		name  string
		in    []slack.Block
		check func(t *testing.T, out []slack.Block)
	}{
		{"60 blocks → 50 with marker", many(60, func(int) slack.Block { return Divider() }), func(t *testing.T, out []slack.Block) {
			wantLen(t, out, MaxBlocks)
			wantMarker(t, out[len(out)-1], "… 11 more blocks not shown")
		}},
		{"exactly 50 blocks untouched", many(50, func(int) slack.Block { return Divider() }), func(t *testing.T, out []slack.Block) {
			wantLen(t, out, 50)
			if _, ok := out[49].(*slack.DividerBlock); !ok {
				t.Fatalf("last block is %T", out[49])
			}
		}},
		{"header clipped to 150", []slack.Block{&slack.HeaderBlock{Type: slack.MBTHeader, Text: plain(strings.Repeat("h", 200))}}, func(t *testing.T, out []slack.Block) {
			h := out[0].(*slack.HeaderBlock).Text.Text
			if Len(h) != MaxHeaderText || !strings.HasSuffix(h, "…") {
				t.Fatalf("header %d chars: %q", Len(h), h)
			}
		}},
		{"section text to 3000 with marker", []slack.Block{rawSection(strings.Repeat("s", 5000))}, func(t *testing.T, out []slack.Block) {
			s := out[0].(*slack.SectionBlock).Text.Text
			if Len(s) > MaxSectionText || !strings.HasSuffix(s, " more chars") {
				t.Fatalf("section %d chars, ends %q", Len(s), s[len(s)-30:])
			}
		}},
		{"12 fields → 10, each ≤ 2000", []slack.Block{&slack.SectionBlock{Type: slack.MBTSection, Fields: fields}}, func(t *testing.T, out []slack.Block) {
			f := out[0].(*slack.SectionBlock).Fields
			if len(f) != MaxFields {
				t.Fatalf("%d fields", len(f))
			}
			for _, x := range f {
				if Len(x.Text) > MaxFieldText {
					t.Fatalf("field of %d chars", Len(x.Text))
				}
			}
			if got := f[9].Text; got != "_… 3 more fields_" {
				t.Fatalf("last field %q", got)
			}
		}},
		{"15 context elements → 10", []slack.Block{slack.NewContextBlock("", ctxElems...)}, func(t *testing.T, out []slack.Block) {
			e := out[0].(*slack.ContextBlock).ContextElements.Elements
			if len(e) != MaxContextElements {
				t.Fatalf("%d elements", len(e))
			}
			if got := e[9].(*slack.TextBlockObject).Text; got != "… 6 more items" {
				t.Fatalf("last element %q", got)
			}
		}},
		{"30 buttons → 25", []slack.Block{slack.NewActionBlock("acts", buttons...)}, func(t *testing.T, out []slack.Block) {
			if n := len(out[0].(*slack.ActionBlock).Elements.ElementSet); n != MaxActionElements {
				t.Fatalf("%d buttons", n)
			}
		}},
		{"button and confirm texts clipped", []slack.Block{slack.NewActionBlock("", bigButton)}, func(t *testing.T, out []slack.Block) {
			b := out[0].(*slack.ActionBlock).Elements.ElementSet[0].(*slack.ButtonBlockElement)
			for _, c := range []struct {
				what string
				s    string
				max  int
			}{
				{"text", b.Text.Text, MaxButtonText}, {"action_id", b.ActionID, MaxID}, {"value", b.Value, MaxButtonValue},
				{"title", b.Confirm.Title.Text, MaxConfirmTitle}, {"confirm text", b.Confirm.Text.Text, MaxConfirmText},
				{"confirm", b.Confirm.Confirm.Text, MaxConfirmButton}, {"deny", b.Confirm.Deny.Text, MaxConfirmButton},
			} {
				if Len(c.s) > c.max {
					t.Errorf("%s has %d chars, max %d", c.what, Len(c.s), c.max)
				}
			}
		}},
		{"total text budget", many(10, func(int) slack.Block { return rawSection(strings.Repeat("t", 2900)) }), func(t *testing.T, out []slack.Block) {
			total := 0
			for _, b := range out {
				total += textLen(b)
			}
			if total > MaxTotalText {
				t.Fatalf("total text %d > %d", total, MaxTotalText)
			}
			wantLen(t, out, 6) // 4 whole, the 5th cut to what is left, the marker
			wantMarker(t, out[5], "… 5 more blocks not shown")
		}},
		{"an overflowing section is cut to the budget, not dropped", []slack.Block{Header("h"), rawSection(strings.Repeat("a", 3000)), rawSection(strings.Repeat("b", 3000)), rawSection(strings.Repeat("c", 3000)), rawSection(strings.Repeat("d", 3000)), Divider()}, func(t *testing.T, out []slack.Block) {
			wantLen(t, out, 6)
			total := 0
			for _, b := range out {
				total += textLen(b)
			}
			if total > MaxTotalText {
				t.Fatalf("total text %d > %d", total, MaxTotalText)
			}
			if s := out[4].(*slack.SectionBlock).Text.Text; !strings.HasPrefix(s, "ddd") || !strings.HasSuffix(s, " more chars") {
				t.Fatalf("fifth block: %d chars", Len(s))
			}
			wantMarker(t, out[5], "… 1 more block not shown")
		}},
		{"nil and empty blocks dropped", []slack.Block{nil, (*slack.SectionBlock)(nil), Fields(), Context(" "), Code(nil, 5), &slack.SectionBlock{Type: slack.MBTSection}, Divider()}, func(t *testing.T, out []slack.Block) {
			wantLen(t, out, 1)
		}},
		{"value blocks handled like pointers", []slack.Block{slack.HeaderBlock{Type: slack.MBTHeader, Text: plain(strings.Repeat("h", 200))}}, func(t *testing.T, out []slack.Block) {
			if Len(out[0].(*slack.HeaderBlock).Text.Text) != MaxHeaderText {
				t.Fatal("value header not clipped")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(tc.in)
			out := Fit(tc.in)
			after, _ := json.Marshal(tc.in)
			if string(before) != string(after) {
				t.Fatal("Fit modified its input")
			}
			tc.check(t, out)
		})
	}
}

func wantLen(t *testing.T, out []slack.Block, n int) {
	t.Helper()
	if len(out) != n {
		t.Fatalf("%d blocks, want %d", len(out), n)
	}
}

func wantMarker(t *testing.T, b slack.Block, want string) {
	t.Helper()
	c, ok := b.(*slack.ContextBlock)
	if !ok {
		t.Fatalf("last block is %T, want the marker context", b)
	}
	if got := c.ContextElements.Elements[0].(*slack.TextBlockObject).Text; got != "_"+want+"_" {
		t.Fatalf("marker %q, want %q", got, want)
	}
}

func TestCode(t *testing.T) {
	lines := texts(1000, func(i int) string { return fmt.Sprintf("2026-11-26 12:00:%02d ERROR stage %d failed <task>", i%60, i) })
	s := Code(lines, 0).Text.Text
	if Len(s) > MaxSectionText {
		t.Fatalf("code block of %d chars", Len(s))
	}
	if !strings.HasPrefix(s, "```\n… ") || !strings.HasSuffix(s, "stage 999 failed &lt;task&gt;\n```") {
		t.Fatalf("code block should start with the omitted count and end with the last line:\n%s", s)
	}
	s = Code(lines, 3).Text.Text
	want := "```\n… 997 earlier lines\n" + strings.Join([]string{
		"2026-11-26 12:00:37 ERROR stage 997 failed &lt;task&gt;",
		"2026-11-26 12:00:38 ERROR stage 998 failed &lt;task&gt;",
		"2026-11-26 12:00:39 ERROR stage 999 failed &lt;task&gt;"}, "\n") + "\n```"
	if s != want {
		t.Fatalf("Code(lines, 3) =\n%s\nwant\n%s", s, want)
	}
	s = Code([]string{"a", "b ``` c", strings.Repeat("z", 5000)}, 0).Text.Text
	if Len(s) > MaxSectionText || strings.Count(s, "```") != 2 || !strings.Contains(s, "… 2 earlier lines") {
		t.Fatalf("long last line: %d chars, %d fences: %q…", Len(s), strings.Count(s, "```"), s[:60])
	}
}

func TestList(t *testing.T) {
	items := texts(200, func(i int) string { return fmt.Sprintf("job-%03d failed", i) })
	if got := List(items[:3], 5, "jobs").Text.Text; got != "• job-000 failed\n• job-001 failed\n• job-002 failed" {
		t.Fatalf("short list: %q", got)
	}
	if got := List(items, 2, "jobs").Text.Text; got != "• job-000 failed\n• job-001 failed\n_… 198 more jobs_" {
		t.Fatalf("capped list: %q", got)
	}
	long := texts(200, func(i int) string { return strings.Repeat("w", 50) })
	got := List(long, 0, "rows").Text.Text
	if Len(got) > MaxSectionText || !strings.HasSuffix(got, " more rows_") {
		t.Fatalf("list of %d chars ending %q", Len(got), got[len(got)-20:])
	}
}

func TestFallback(t *testing.T) {
	if got := Fallback([]slack.Block{Divider(), Section("first line\nsecond"), Header("The header")}); got != "The header" {
		t.Fatalf("Fallback = %q", got)
	}
	if got := Fallback([]slack.Block{Section("first line\nsecond")}); got != "first line" {
		t.Fatalf("Fallback = %q", got)
	}
	if got := Fallback([]slack.Block{(*slack.HeaderBlock)(nil)}); got != "" {
		t.Fatalf("Fallback = %q", got)
	}
}

func TestLink(t *testing.T) {
	if got := Link("https://x.example/a b|c", "Q <1> | 2"); got != "<https://x.example/a%20b%7Cc|Q &lt;1&gt; ¦ 2>" {
		t.Fatalf("Link = %q", got)
	}
	if got := Link("https://x.example", ""); got != "<https://x.example>" {
		t.Fatalf("Link = %q", got)
	}
}
