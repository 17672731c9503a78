package blockkit

import (
	"reflect"
	"strings"

	"github.com/slack-go/slack"
)

// Fit returns a copy of blocks that Slack accepts: nil blocks are dropped; header, section, field,
// context, button and confirmation texts are cut to their limits (with "… N more chars" markers for
// mrkdwn text and "…" for short labels); fields, context elements and buttons past their per-block
// limits are left out; and when the message has more than MaxBlocks blocks or more than MaxTotalText
// characters of text, it keeps the leading blocks that fit and ends with a context block saying
// "… N more blocks not shown". The input is never modified. Block types Fit does not know pass
// through unchanged (they count towards MaxBlocks).
func Fit(blocks []slack.Block) []slack.Block {
	out := make([]slack.Block, 0, len(blocks))
	for _, b := range blocks {
		if isNil(b) {
			continue
		}
		if fb := fitBlock(b); fb != nil {
			out = append(out, fb)
		}
	}
	total := 0
	for i, b := range out {
		n := textLen(b)
		if i >= MaxBlocks || total+n > MaxTotalText {
			if cut := cutToBudget(b, out, i, total); cut != nil {
				rest := len(out) - i - 1
				out = append(out[:i:i], cut)
				if rest > 0 {
					out = append(out, moreBlocks(rest))
				}
				return out
			}
			return trimTail(out, i, total)
		}
		total += n
	}
	return out
}

// cutToBudget shortens a text-only section that overflows the total budget, when enough room is left
// for it to be worth showing (at least 200 characters), so one long block does not vanish whole.
func cutToBudget(b slack.Block, blocks []slack.Block, i, total int) slack.Block {
	s, ok := b.(*slack.SectionBlock)
	if !ok || i >= MaxBlocks-1 || s.Text == nil || len(s.Fields) > 0 || s.Accessory != nil {
		return nil
	}
	room := MaxTotalText - total
	if rest := len(blocks) - i - 1; rest > 0 {
		room -= textLen(moreBlocks(rest))
	}
	if room < 200 {
		return nil
	}
	c := *s
	c.Text = &slack.TextBlockObject{Type: s.Text.Type, Text: Truncate(s.Text.Text, room), Emoji: s.Text.Emoji, Verbatim: s.Text.Verbatim}
	return &c
}

// trimTail keeps blocks[:i] minus what the marker block needs and appends the marker.
func trimTail(blocks []slack.Block, i, total int) []slack.Block {
	for {
		marker := moreBlocks(len(blocks) - i)
		if i < MaxBlocks && total+textLen(marker) <= MaxTotalText {
			return append(blocks[:i:i], marker)
		}
		i--
		total -= textLen(blocks[i])
	}
}

func moreBlocks(n int) *slack.ContextBlock {
	noun := "blocks not shown"
	if n == 1 {
		noun = "block not shown"
	}
	return &slack.ContextBlock{Type: slack.MBTContext, ContextElements: slack.ContextElements{
		Elements: []slack.MixedElement{md("_" + More(n, noun) + "_")},
	}}
}

// FitText returns text cut to MaxText characters with a "… N more chars" marker.
func FitText(text string) string { return Truncate(text, MaxText) }

// Fallback derives a message's top-level text (the notification and screen-reader fallback) from its
// blocks: the first header's text, else the first section text, cut to MaxHeaderText. Slack wants a
// text with every blocks message; the notifiers use Fallback when the caller gave none.
func Fallback(blocks []slack.Block) string {
	var first string
	for _, b := range blocks {
		switch b := deref(b).(type) {
		case slack.HeaderBlock:
			if b.Text != nil && b.Text.Text != "" {
				return Clip(b.Text.Text, MaxHeaderText)
			}
		case slack.SectionBlock:
			if first == "" && b.Text != nil {
				first = b.Text.Text
			}
		}
	}
	first, _, _ = strings.Cut(first, "\n")
	return Clip(first, MaxHeaderText)
}

// fitBlock returns a limited copy of one block (nil to drop it).
func fitBlock(b slack.Block) slack.Block {
	switch v := deref(b).(type) {
	case slack.HeaderBlock:
		v.Text = fitText(v.Text, MaxHeaderText, true)
		v.BlockID = Clip(v.BlockID, MaxID)
		return &v
	case slack.SectionBlock:
		v.Text = fitText(v.Text, MaxSectionText, false)
		if len(v.Fields) > 0 {
			fields := make([]*slack.TextBlockObject, 0, min(len(v.Fields), MaxFields))
			for i, f := range v.Fields {
				if i == MaxFields-1 && len(v.Fields) > MaxFields {
					fields = append(fields, md("_"+More(len(v.Fields)-i, "fields")+"_"))
					break
				}
				fields = append(fields, fitText(f, MaxFieldText, false))
			}
			v.Fields = fields
		}
		if v.Accessory != nil && v.Accessory.ButtonElement != nil {
			acc := *v.Accessory
			acc.ButtonElement = fitButton(acc.ButtonElement)
			v.Accessory = &acc
		}
		if v.Text == nil && len(v.Fields) == 0 {
			return nil // Slack rejects an empty section
		}
		v.BlockID = Clip(v.BlockID, MaxID)
		return &v
	case slack.ContextBlock:
		in := v.ContextElements.Elements
		elems := make([]slack.MixedElement, 0, min(len(in), MaxContextElements))
		for i, e := range in {
			if i == MaxContextElements-1 && len(in) > MaxContextElements {
				elems = append(elems, md(More(len(in)-i, "")))
				break
			}
			if t, ok := e.(*slack.TextBlockObject); ok && t != nil {
				e = fitText(t, MaxContextText, false)
			}
			elems = append(elems, e)
		}
		if len(elems) == 0 {
			return nil
		}
		v.ContextElements = slack.ContextElements{Elements: elems}
		v.BlockID = Clip(v.BlockID, MaxID)
		return &v
	case slack.ActionBlock:
		if v.Elements == nil || len(v.Elements.ElementSet) == 0 {
			return nil
		}
		in := v.Elements.ElementSet
		elems := make([]slack.BlockElement, 0, min(len(in), MaxActionElements))
		for _, e := range in[:min(len(in), MaxActionElements)] {
			if btn, ok := e.(*slack.ButtonBlockElement); ok && btn != nil {
				e = fitButton(btn)
			}
			elems = append(elems, e)
		}
		v.Elements = &slack.BlockElements{ElementSet: elems}
		v.BlockID = Clip(v.BlockID, MaxID)
		return &v
	case slack.ImageBlock:
		v.AltText = Clip(v.AltText, MaxImageAltText)
		return &v
	case slack.DividerBlock:
		return &v
	default:
		return b
	}
}

func fitButton(b *slack.ButtonBlockElement) *slack.ButtonBlockElement {
	c := *b
	c.Text = fitText(c.Text, MaxButtonText, true)
	c.ActionID = Clip(c.ActionID, MaxID)
	c.Value = Clip(c.Value, MaxButtonValue)
	if c.Confirm != nil {
		cf := *c.Confirm
		cf.Title = fitText(cf.Title, MaxConfirmTitle, true)
		cf.Text = fitText(cf.Text, MaxConfirmText, false)
		cf.Confirm = fitText(cf.Confirm, MaxConfirmButton, true)
		cf.Deny = fitText(cf.Deny, MaxConfirmButton, true)
		c.Confirm = &cf
	}
	return &c
}

// fitText returns a copy of t within max characters; clip selects "…" over a "… N more" marker.
func fitText(t *slack.TextBlockObject, max int, clip bool) *slack.TextBlockObject {
	if t == nil {
		return nil
	}
	c := *t
	if clip || c.Type == slack.PlainTextType && max < 200 {
		c.Text = Clip(c.Text, max)
	} else {
		c.Text = Truncate(c.Text, max)
	}
	return &c
}

// textLen counts the characters of text a block carries, for MaxTotalText.
func textLen(b slack.Block) int {
	n := 0
	tl := func(t *slack.TextBlockObject) {
		if t != nil {
			n += Len(t.Text)
		}
	}
	switch v := deref(b).(type) {
	case slack.HeaderBlock:
		tl(v.Text)
	case slack.SectionBlock:
		tl(v.Text)
		for _, f := range v.Fields {
			tl(f)
		}
	case slack.ContextBlock:
		for _, e := range v.ContextElements.Elements {
			if t, ok := e.(*slack.TextBlockObject); ok {
				tl(t)
			}
		}
	case slack.ActionBlock:
		if v.Elements != nil {
			for _, e := range v.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && btn != nil {
					tl(btn.Text)
				}
			}
		}
	}
	return n
}

// deref turns the pointer forms of the block types Fit knows into values, so one switch covers both.
func deref(b slack.Block) slack.Block {
	if isNil(b) {
		return nil
	}
	switch v := b.(type) {
	case *slack.HeaderBlock:
		return *v
	case *slack.SectionBlock:
		return *v
	case *slack.ContextBlock:
		return *v
	case *slack.ActionBlock:
		return *v
	case *slack.ImageBlock:
		return *v
	case *slack.DividerBlock:
		return *v
	}
	return b
}

// isNil reports a nil interface or a typed nil pointer (what the builders return for empty input).
func isNil(b slack.Block) bool {
	if b == nil {
		return true
	}
	v := reflect.ValueOf(b)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
