package blockkit

import (
	"strconv"
	"strings"

	"github.com/slack-go/slack"
)

// Header returns a header block with plain text, clipped to MaxHeaderText characters.
func Header(text string) *slack.HeaderBlock {
	return &slack.HeaderBlock{
		Type: slack.MBTHeader,
		Text: plain(Clip(text, MaxHeaderText)),
	}
}

// Section returns a section block with mrkdwn text (escape outside values with Escape), truncated
// to MaxSectionText characters with a "… N more chars" marker.
func Section(mrkdwn string) *slack.SectionBlock {
	return &slack.SectionBlock{Type: slack.MBTSection, Text: md(Truncate(mrkdwn, MaxSectionText))}
}

// Field is one label/value pair of a fields section. Label and Value are plain values: Fields
// escapes them.
type Field struct {
	Label string
	Value string
}

// Fields returns a section block showing the pairs two per row as "*Label*\nValue". Empty values
// show as "–". Past MaxFields pairs the last field says "… N more fields". It returns nil when pairs
// is empty, which Fit drops.
func Fields(pairs ...Field) *slack.SectionBlock {
	if len(pairs) == 0 {
		return nil
	}
	shown := pairs
	var more int
	if len(pairs) > MaxFields {
		shown, more = pairs[:MaxFields-1], len(pairs)-(MaxFields-1)
	}
	fields := make([]*slack.TextBlockObject, 0, len(shown)+1)
	for _, p := range shown {
		v := p.Value
		if strings.TrimSpace(v) == "" {
			v = "–"
		}
		fields = append(fields, md(Truncate("*"+Escape(p.Label)+"*\n"+Escape(v), MaxFieldText)))
	}
	if more > 0 {
		fields = append(fields, md("_"+More(more, "fields")+"_"))
	}
	return &slack.SectionBlock{Type: slack.MBTSection, Fields: fields}
}

// Context returns a context block: small grey mrkdwn lines, e.g. "jobwatch · queue etl · 12:04 UTC".
// Past MaxContextElements the last element says "… N more". Empty elements are skipped; with none
// left it returns nil, which Fit drops.
func Context(mrkdwn ...string) *slack.ContextBlock {
	elems := make([]slack.MixedElement, 0, len(mrkdwn))
	var texts []string
	for _, t := range mrkdwn {
		if strings.TrimSpace(t) != "" {
			texts = append(texts, t)
		}
	}
	if len(texts) == 0 {
		return nil
	}
	if len(texts) > MaxContextElements {
		more := len(texts) - (MaxContextElements - 1)
		texts = append(texts[:MaxContextElements-1:MaxContextElements-1], More(more, ""))
	}
	for _, t := range texts {
		elems = append(elems, md(Truncate(t, MaxContextText)))
	}
	return &slack.ContextBlock{Type: slack.MBTContext, ContextElements: slack.ContextElements{Elements: elems}}
}

// Divider returns a divider block.
func Divider() *slack.DividerBlock { return &slack.DividerBlock{Type: slack.MBTDivider} }

// Code returns a section showing lines in a ``` code block, escaped. It keeps the last lines (the
// tail of a log is what explains a failure): at most maxLines of them (0 = no line limit) and as many
// as fit in MaxSectionText, starting with "… N earlier lines" when any were left out. A single line
// longer than the section limit is truncated. Lines containing ``` are defused so they cannot close
// the block. It returns nil for no lines, which Fit drops.
func Code(lines []string, maxLines int) *slack.SectionBlock {
	if len(lines) == 0 {
		return nil
	}
	const open, close = "```\n", "\n```"
	budget := MaxSectionText - len(open) - len(close)
	start := 0
	if maxLines > 0 && len(lines) > maxLines {
		start = len(lines) - maxLines
	}
	esc := make([]string, len(lines)-start)
	for i, l := range lines[start:] {
		esc[i] = strings.ReplaceAll(Escape(strings.TrimRight(l, "\r\n")), "```", "ˋˋˋ")
	}
	// Walk back from the last line while the lines and the marker fit.
	used := 0
	first := len(esc)
	for first > 0 {
		l := Len(esc[first-1]) + 1
		marker := 0
		if start+first-1 > 0 {
			marker = Len(earlier(start+first-1)) + 1
		}
		if used+l+marker > budget {
			break
		}
		used += l
		first--
	}
	if first == len(esc) { // the last line alone is too long
		last := esc[len(esc)-1]
		marker := ""
		if len(lines) > 1 {
			marker = earlier(len(lines)-1) + "\n"
		}
		return &slack.SectionBlock{Type: slack.MBTSection, Text: md(open + marker + Truncate(last, budget-Len(marker)) + close)}
	}
	var b strings.Builder
	b.WriteString(open)
	if omitted := start + first; omitted > 0 {
		b.WriteString(earlier(omitted))
		b.WriteByte('\n')
	}
	b.WriteString(strings.Join(esc[first:], "\n"))
	b.WriteString(close)
	return &slack.SectionBlock{Type: slack.MBTSection, Text: md(b.String())}
}

func earlier(n int) string { return Ellipsis + " " + strconv.Itoa(n) + " earlier lines" }

// List returns a section with one "• item" line per item (items are mrkdwn; escape outside values).
// It shows at most max items (0 = as many as fit) and as many as fit in MaxSectionText, ending with
// "… N more <noun>" when any were left out. It returns nil for no items, which Fit drops.
func List(items []string, max int, noun string) *slack.SectionBlock {
	if len(items) == 0 {
		return nil
	}
	shown := len(items)
	if max > 0 && shown > max {
		shown = max
	}
	for {
		var b strings.Builder
		for i, it := range items[:shown] {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("• ")
			b.WriteString(it)
		}
		if omitted := len(items) - shown; omitted > 0 {
			if shown > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("_" + More(omitted, noun) + "_")
		}
		if Len(b.String()) <= MaxSectionText || shown <= 1 {
			return &slack.SectionBlock{Type: slack.MBTSection, Text: md(Truncate(b.String(), MaxSectionText))}
		}
		shown--
	}
}

// Image returns an image block showing url with alt text (both required by Slack).
func Image(url, alt string) *slack.ImageBlock {
	return &slack.ImageBlock{Type: slack.MBTImage, ImageURL: url, AltText: Clip(alt, MaxImageAltText)}
}

// Style is a button or confirmation style.
type Style = slack.Style

// Button styles.
const (
	// Default is Slack's default grey button.
	Default Style = slack.StyleDefault
	// Primary is the green button, for the expected action (one per block at most).
	Primary Style = slack.StylePrimary
	// Danger is the red button, for destructive actions.
	Danger Style = slack.StyleDanger
)

// Button describes one button of an actions block.
type Button struct {
	// ActionID identifies the button in the interaction payload (block_actions); unique within the
	// message, at most MaxID characters. Required.
	ActionID string
	// Text is the plain-text label, clipped to MaxButtonText.
	Text string
	// Value is sent back with the click (e.g. a confirmation id), at most MaxButtonValue characters.
	Value string
	// URL makes a link button; optional, at most MaxURL characters.
	URL string
	// Style is Default, Primary or Danger.
	Style Style
	// Confirm, when set, makes Slack ask before sending the click.
	Confirm *Confirm
}

// Confirm is a confirmation dialog shown before a button's click is sent.
type Confirm struct {
	// Title is plain text, clipped to MaxConfirmTitle.
	Title string
	// Text is mrkdwn, truncated to MaxConfirmText.
	Text string
	// Confirm labels the confirming button (default "Confirm"), clipped to MaxConfirmButton.
	Confirm string
	// Deny labels the cancelling button (default "Cancel"), clipped to MaxConfirmButton.
	Deny string
	// Danger makes the confirming button red.
	Danger bool
}

// Actions returns an actions block with the buttons, in order, under blockID (optional, at most
// MaxID characters). Buttons past MaxActionElements are left out by Fit.
func Actions(blockID string, buttons ...Button) *slack.ActionBlock {
	elems := make([]slack.BlockElement, 0, len(buttons))
	for _, b := range buttons {
		elems = append(elems, button(b))
	}
	return &slack.ActionBlock{Type: slack.MBTAction, BlockID: blockID, Elements: &slack.BlockElements{ElementSet: elems}}
}

// SectionButton returns a section with mrkdwn text and one button beside it (an accessory), e.g. an
// "Open in console" link next to a summary line.
func SectionButton(mrkdwn string, b Button) *slack.SectionBlock {
	s := Section(mrkdwn)
	s.Accessory = slack.NewAccessory(button(b))
	return s
}

func button(b Button) *slack.ButtonBlockElement {
	e := &slack.ButtonBlockElement{
		Type:     slack.METButton,
		Text:     plain(Clip(b.Text, MaxButtonText)),
		ActionID: b.ActionID,
		Value:    b.Value,
		URL:      b.URL,
		Style:    b.Style,
	}
	if c := b.Confirm; c != nil {
		confirm, deny := c.Confirm, c.Deny
		if confirm == "" {
			confirm = "Confirm"
		}
		if deny == "" {
			deny = "Cancel"
		}
		e.Confirm = &slack.ConfirmationBlockObject{
			Title:   plain(Clip(c.Title, MaxConfirmTitle)),
			Text:    md(Truncate(c.Text, MaxConfirmText)),
			Confirm: plain(Clip(confirm, MaxConfirmButton)),
			Deny:    plain(Clip(deny, MaxConfirmButton)),
		}
		if c.Danger {
			e.Confirm.Style = slack.StyleDanger
		}
	}
	return e
}

// Link formats a mrkdwn link "<url|label>"; the label is escaped, and so are the characters of the
// URL that would break the link syntax.
func Link(url, label string) string {
	url = strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C", " ", "%20").Replace(url)
	if label == "" {
		return "<" + url + ">"
	}
	return "<" + url + "|" + strings.ReplaceAll(Escape(label), "|", "¦") + ">"
}

// Blocks collects blocks, leaving out nil ones (the builders return nil for empty input), so a
// message can be assembled in one expression.
func Blocks(bs ...slack.Block) []slack.Block {
	out := make([]slack.Block, 0, len(bs))
	for _, b := range bs {
		if !isNil(b) {
			out = append(out, b)
		}
	}
	return out
}

func plain(s string) *slack.TextBlockObject {
	return &slack.TextBlockObject{Type: slack.PlainTextType, Text: s}
}

func md(s string) *slack.TextBlockObject {
	return &slack.TextBlockObject{Type: slack.MarkdownType, Text: s}
}
