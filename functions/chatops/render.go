package chatops

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/functions/chatops/command"
	"github.com/dlibot/dlibot/functions/chatops/policy"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

func errorReply(msg string) reply {
	return reply{text: "⚠️ " + msg, blocks: blockkit.Blocks(blockkit.Section("⚠️ " + blockkit.Escape(msg))), outcome: OutcomeError, reason: msg}
}

func infoReply(msg string) reply {
	return reply{text: msg, blocks: blockkit.Blocks(blockkit.Section(blockkit.Escape(msg))), outcome: OutcomeOK}
}

// dliError turns a DLI failure into a user message that names the DLI
// error code and request id (for support), never a stack trace.
func dliError(op string, err error) reply {
	var de *dli.Error
	msg := fmt.Sprintf("%s failed: %v", op, err)
	if errors.As(err, &de) {
		switch {
		case errors.Is(err, dli.ErrNotFound):
			msg = fmt.Sprintf("%s: not found in DLI", op)
		case errors.Is(err, dli.ErrAuth):
			msg = fmt.Sprintf("%s: DLI refused dlibot's credentials", op)
		default:
			msg = fmt.Sprintf("%s failed: %s", op, de.Message)
		}
		if de.Code != "" {
			msg += " (" + de.Code + ")"
		}
		if de.RequestID != "" {
			msg += " · request " + de.RequestID
		}
	} else if errors.Is(err, errContext) {
		msg = fmt.Sprintf("%s: DLI did not answer in time", op)
	}
	r := errorReply(msg)
	if de != nil && de.RequestID != "" {
		r.ids = append(r.ids, de.RequestID)
	}
	return r
}

var errContext = errors.New("timeout")

func denied(name string, role *policy.Role) reply {
	if role == nil {
		return errorReply(fmt.Sprintf("You have no dlibot role here, so `%s` is not allowed. Ask an admin to grant you one in the chatops policy.", name))
	}
	return errorReply(fmt.Sprintf("Your role (%s) does not allow `%s`. `/dli help` lists what you may run.", role.Name, name))
}

// helpList is `/dli help`: only the commands the role allows.
func helpList(role *policy.Role) reply {
	var lines []string
	for _, sp := range command.Specs {
		if role.Allows(sp.Name) {
			lines = append(lines, fmt.Sprintf("`/dli %s` — %s", blockkit.Escape(sp.Usage()), blockkit.Escape(sp.Summary)))
		}
	}
	if len(lines) == 0 {
		return denied("help", role)
	}
	ctx := "role " + role.Name + " · `/dli <command> --help` for details"
	if role.Allows(command.SQLWrite) {
		ctx += " · SQL: any statement"
	} else if role.Allows("sql") {
		ctx += " · SQL: read-only statements"
	}
	return reply{text: "dlibot commands you may run", outcome: OutcomeOK, blocks: blockkit.Blocks(
		blockkit.Header("dlibot commands you may run"),
		blockkit.Section(strings.Join(lines, "\n")),
		blockkit.Context(ctx),
	)}
}

// helpFor is `<command> --help`.
func helpFor(sp *command.Spec, role *policy.Role) reply {
	var b strings.Builder
	fmt.Fprintf(&b, "*/dli %s*\n%s", blockkit.Escape(sp.Usage()), blockkit.Escape(sp.Summary))
	for _, f := range sp.Flags {
		v := ""
		if f.Value != "" {
			v = " " + f.Value
		}
		fmt.Fprintf(&b, "\n• `--%s%s` %s", f.Name, v, blockkit.Escape(f.Help))
	}
	if sp.Example != "" {
		fmt.Fprintf(&b, "\nExample: `/dli %s`", blockkit.Escape(sp.Example))
	}
	note := "You may run it."
	if !role.Allows(sp.Name) {
		note = fmt.Sprintf("Your role (%s) does not allow it.", roleName(role))
	}
	if sp.Mutating {
		note += " It asks for a Confirm click before changing anything."
	}
	return reply{text: "/dli " + sp.Usage(), outcome: OutcomeOK, blocks: blockkit.Blocks(blockkit.Section(b.String()), blockkit.Context(note))}
}

// table renders rows as a monospace table in one section: the first rows
// that fit TableRows and the section limit, then "… N more <noun>".
func table(headers []string, rows [][]string, maxRows int, noun string) []slack.Block {
	if len(rows) == 0 {
		return blockkit.Blocks(blockkit.Section("_no " + noun + "_"))
	}
	const maxCell = 40
	widths := make([]int, len(headers))
	cell := func(s string) string {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "`", "'")
		return blockkit.Clip(s, maxCell)
	}
	shown := rows
	if len(shown) > maxRows {
		shown = shown[:maxRows]
	}
	for i, h := range headers {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range shown {
		for i := range headers {
			if i < len(r) {
				widths[i] = max(widths[i], utf8.RuneCountInString(cell(r[i])))
			}
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		for i := range headers {
			c := ""
			if i < len(cells) {
				c = cell(cells[i])
			}
			b.WriteString(c)
			if i < len(headers)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	lines := []string{line(headers)}
	size := len(lines[0]) + 8
	n := 0
	for _, r := range shown {
		l := blockkit.Escape(line(r))
		if size+utf8.RuneCountInString(l)+1 > blockkit.MaxSectionText-40 {
			break
		}
		lines = append(lines, l)
		size += utf8.RuneCountInString(l) + 1
		n++
	}
	blocks := []slack.Block{blockkit.Section("```\n" + strings.Join(lines, "\n") + "\n```")}
	if more := len(rows) - n; more > 0 {
		blocks = append(blocks, blockkit.Context(blockkit.More(more, noun)))
	}
	return blocks
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	d = d.Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	if d >= time.Minute {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.String()
}

func (s *Service) cost(cu int) string {
	return fmt.Sprintf("%.2f %s/h", float64(cu)*s.cfg.CUPrice, s.cfg.Currency)
}

func (s *Service) costDelta(delta int) string {
	sign := "+"
	if delta < 0 {
		sign = "−"
		delta = -delta
	}
	return fmt.Sprintf("%s%.2f %s/h", sign, float64(delta)*s.cfg.CUPrice, s.cfg.Currency)
}

func signed(n int) string {
	if n >= 0 {
		return fmt.Sprintf("+%d", n)
	}
	return fmt.Sprintf("−%d", -n)
}

func weekdays(ds []time.Weekday) string {
	if len(ds) == 0 {
		return "once"
	}
	if len(ds) == 7 {
		return "daily"
	}
	s := append([]time.Weekday(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return (s[i]+6)%7 < (s[j]+6)%7 })
	out := make([]string, len(s))
	for i, d := range s {
		out[i] = d.String()[:3]
	}
	return strings.Join(out, " ")
}
