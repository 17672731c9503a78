package blockkit

import (
	"regexp"
	"strings"

	"github.com/slack-go/slack"
)

// Plain renders blocks as readable plain text, one block after another, each line ending in "\n":
// a header is underlined with "=", fields show as "Label: value", context lines start with "· ",
// a divider is a line of "-", buttons show as "[Label]" with their action id and value, and mrkdwn
// links <url|label> become "label (url)". Entities are unescaped. Block types it does not know show as
// "[<type> block]". The rendering is deterministic.
func Plain(blocks []slack.Block) string {
	var b strings.Builder
	for _, bl := range blocks {
		switch v := deref(bl).(type) {
		case nil:
		case slack.HeaderBlock:
			t := textOf(v.Text)
			b.WriteString(t + "\n" + strings.Repeat("=", max(3, Len(t))) + "\n")
		case slack.SectionBlock:
			if v.Text != nil {
				writeLines(&b, "", textOf(v.Text))
			}
			for _, f := range v.Fields {
				writeLines(&b, "", fieldText(textOf(f)))
			}
			if v.Accessory != nil && v.Accessory.ButtonElement != nil {
				b.WriteString(buttonText(v.Accessory.ButtonElement) + "\n")
			}
		case slack.ContextBlock:
			var parts []string
			for _, e := range v.ContextElements.Elements {
				switch e := e.(type) {
				case *slack.TextBlockObject:
					parts = append(parts, textOf(e))
				case *slack.ImageBlockElement:
					parts = append(parts, "[image: "+e.AltText+"]")
				}
			}
			writeLines(&b, "· ", strings.Join(parts, " · "))
		case slack.DividerBlock:
			b.WriteString(strings.Repeat("-", 40) + "\n")
		case slack.ActionBlock:
			if v.Elements == nil {
				continue
			}
			for _, e := range v.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && btn != nil {
					b.WriteString(buttonText(btn) + "\n")
				} else {
					b.WriteString("[" + string(e.ElementType()) + "]\n")
				}
			}
		case slack.ImageBlock:
			b.WriteString("[image: " + v.AltText + "] " + v.ImageURL + "\n")
		default:
			b.WriteString("[" + string(bl.BlockType()) + " block]\n")
		}
	}
	return b.String()
}

func buttonText(btn *slack.ButtonBlockElement) string {
	s := "[" + textOf(btn.Text) + "]"
	if btn.Style != "" {
		s += " (" + string(btn.Style) + ")"
	}
	if btn.ActionID != "" {
		s += " action=" + btn.ActionID
	}
	if btn.Value != "" {
		s += " value=" + btn.Value
	}
	if btn.URL != "" {
		s += " url=" + btn.URL
	}
	if c := btn.Confirm; c != nil {
		s += " confirm=\"" + textOf(c.Title) + "\""
	}
	return s
}

// fieldText turns "*Label*\nvalue" into "Label: value".
func fieldText(t string) string {
	label, value, ok := strings.Cut(t, "\n")
	if ok && len(label) > 2 && strings.HasPrefix(label, "*") && strings.HasSuffix(label, "*") {
		return label[1:len(label)-1] + ": " + value
	}
	return t
}

var linkRE = regexp.MustCompile(`<([^<>|]+)\|([^<>]*)>|<([^<>|]+)>`)

// textOf returns the text of t for reading: links as "label (url)", entities unescaped.
func textOf(t *slack.TextBlockObject) string {
	if t == nil {
		return ""
	}
	s := t.Text
	if t.Type == slack.MarkdownType {
		s = linkRE.ReplaceAllStringFunc(s, func(m string) string {
			sm := linkRE.FindStringSubmatch(m)
			if sm[1] != "" {
				return sm[2] + " (" + sm[1] + ")"
			}
			return sm[3]
		})
	}
	return Unescape(s)
}

func writeLines(b *strings.Builder, prefix, s string) {
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(prefix + l + "\n")
	}
}
