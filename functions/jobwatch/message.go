package jobwatch

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
	"github.com/slack-go/slack"
)

var kindTitle = map[string]string{KindFlink: "Flink job", KindSpark: "Spark batch", KindSQL: "SQL job"}

var incidentTitle = map[string]string{
	IncidentFailed:   "failed",
	IncidentBilling:  "stopped for arrears",
	IncidentUnknown:  "is in an unknown status",
	IncidentStuck:    "is stuck",
	IncidentFlapping: "is flapping",
	IncidentSlow:     "is running far longer than usual",
	IncidentStopped:  "stopped without a stop request",
}

var incidentEmoji = map[string]string{
	IncidentFailed: ":red_circle:", IncidentBilling: ":moneybag:", IncidentUnknown: ":grey_question:",
	IncidentStuck: ":hourglass:", IncidentFlapping: ":repeat:", IncidentSlow: ":turtle:", IncidentStopped: ":octagonal_sign:",
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// fmtDur prints a duration as "1h 2m 3s", "4m 5s", "6s".
func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = -d
	}
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h >= 24:
		return fmt.Sprintf("%dd %dh %dm", h/24, h%24, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm %ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

func (w *Watcher) consoleURL(r *Incident) string {
	u := w.cfg.ConsoleURL
	for k, v := range map[string]string{"{kind}": r.JobKind, "{id}": r.JobID, "{queue}": r.Queue, "{region}": w.cfg.Region} {
		u = strings.ReplaceAll(u, k, v)
	}
	return u
}

func jobLabel(r *Incident) string {
	if r.JobName == "" || r.JobName == r.JobID {
		return r.JobID
	}
	return fmt.Sprintf("%s (%s)", r.JobName, r.JobID)
}

func shortName(r *Incident) string {
	if r.JobName != "" {
		return r.JobName
	}
	return r.JobID
}

// rootMessage is the alert (or the summary / self-watch message) as posted
// and as edited while open.
func (w *Watcher) rootMessage(r *Incident, now time.Time) notify.Message {
	switch r.Kind {
	case "summary":
		return w.summaryMessage(r)
	case "selfwatch":
		return w.selfwatchMessage(r)
	}
	title := fmt.Sprintf("%s %s %s: %s", incidentEmoji[r.Kind], kindTitle[r.JobKind], incidentTitle[r.Kind], shortName(r))
	if r.Late {
		title += " (detected late)"
	}
	blocks := []slack.Block{
		blockkit.Header(title),
		blockkit.Fields(
			blockkit.Field{Label: "Job", Value: jobLabel(r)}, blockkit.Field{Label: "Kind", Value: kindTitle[r.JobKind]},
			blockkit.Field{Label: "Queue", Value: r.Queue}, blockkit.Field{Label: "Status", Value: r.Status},
			blockkit.Field{Label: "Started", Value: fmtTime(r.Started)}, blockkit.Field{Label: problemLabel(r), Value: fmtTime(r.FailedAt)},
		),
	}
	if r.StatusDesc != "" {
		blocks = append(blocks, blockkit.Section("*status_desc*\n"+blockkit.Escape(r.StatusDesc)))
	}
	if r.Kind == IncidentBilling {
		blocks = append(blocks, blockkit.Section("DLI stopped this job because the account is in arrears. Top up the balance; DLI resumes it (job_arrearage_recovering)."))
	}
	if r.Detail != "" {
		blocks = append(blocks, blockkit.Section(blockkit.Escape(r.Detail)))
	}
	if len(r.LogTail) > 0 {
		blocks = append(blocks, blockkit.Section(fmt.Sprintf("*Last %d log lines*", len(r.LogTail))), blockkit.Code(r.LogTail, len(r.LogTail)))
	}
	ctx := []string{"jobwatch", "incident `" + blockkit.Escape(r.Key) + "`"}
	if r.Late {
		ctx = append(ctx, "detected late at "+fmtTime(r.Detected)+" (jobwatch was not polling)")
	}
	ctx = append(ctx, blockkit.Link(w.consoleURL(r), "Open in DLI console"))
	blocks = append(blocks, blockkit.Context(ctx...))
	return notify.Message{Channel: r.Channel, Text: blockkit.Unescape(title), Blocks: blocks}
}

func problemLabel(r *Incident) string {
	switch r.Kind {
	case IncidentFailed, IncidentFlapping, IncidentBilling:
		return "Failed"
	case IncidentStopped:
		return "Stopped"
	}
	return "Detected"
}

// resolvedMessage is the original alert edited once resolved.
func (w *Watcher) resolvedMessage(r *Incident) notify.Message {
	if r.Kind == "selfwatch" {
		title := ":large_green_circle: Resolved: jobwatch can see DLI again"
		return notify.Message{Text: title, Blocks: []slack.Block{
			blockkit.Header(title),
			blockkit.Section(fmt.Sprintf("Polling DLI failed from %s to %s (%s). Failures and recoveries from that time are reported as *detected late*.",
				fmtTime(r.FailedAt), fmtTime(r.Recovered), fmtDur(r.Recovered.Sub(r.FailedAt)))),
			blockkit.Context("jobwatch", "resolved "+fmtTime(r.Recovered)),
		}}
	}
	title := fmt.Sprintf(":large_green_circle: Resolved: %s %s %s", kindTitle[r.JobKind], shortName(r), incidentTitle[r.Kind])
	blocks := []slack.Block{
		blockkit.Header(title),
		blockkit.Fields(
			blockkit.Field{Label: "Job", Value: jobLabel(r)}, blockkit.Field{Label: "Kind", Value: kindTitle[r.JobKind]},
			blockkit.Field{Label: "Queue", Value: r.Queue}, blockkit.Field{Label: "Was", Value: r.Status},
			blockkit.Field{Label: problemLabel(r), Value: fmtTime(r.FailedAt)}, blockkit.Field{Label: "Recovered", Value: fmtTime(r.Recovered)},
			blockkit.Field{Label: "Time to recover", Value: fmtDur(r.Recovered.Sub(r.FailedAt))},
		),
		blockkit.Context("jobwatch", "incident `"+blockkit.Escape(r.Key)+"`", blockkit.Link(w.consoleURL(r), "Open in DLI console")),
	}
	return notify.Message{Text: blockkit.Unescape(title), Blocks: blocks}
}

// recoveryReply is the thread reply when the job recovers.
func (w *Watcher) recoveryReply(r *Incident) notify.Message {
	if r.Kind == "selfwatch" {
		t := fmt.Sprintf(":large_green_circle: jobwatch can see DLI again (blind for %s). Catching up now; what happened meanwhile is marked late.", fmtDur(r.Recovered.Sub(r.FailedAt)))
		return notify.Message{Text: t}
	}
	t := fmt.Sprintf(":large_green_circle: *%s* recovered after %s: %s.", blockkit.Escape(shortName(r)), fmtDur(r.Recovered.Sub(r.FailedAt)), blockkit.Escape(r.RecoveryNote))
	if r.RecoveredLate {
		t += " _Detected late: jobwatch was not polling when it happened._"
	}
	return notify.Message{Text: t}
}

func (w *Watcher) updateReply(r *Incident) notify.Message {
	return notify.Message{Text: fmt.Sprintf("%s *%s* %s: %s", incidentEmoji[r.Kind], blockkit.Escape(shortName(r)), incidentTitle[r.Kind], blockkit.Escape(r.UpdateNote))}
}

func (w *Watcher) reminderReply(r *Incident, now time.Time) notify.Message {
	return notify.Message{Text: fmt.Sprintf(":bell: Reminder: *%s* %s since %s (%s ago); status %s.",
		blockkit.Escape(shortName(r)), incidentTitle[r.Kind], fmtTime(r.FailedAt), fmtDur(now.Sub(r.FailedAt)), blockkit.Escape(r.Status))}
}

func (w *Watcher) summaryMessage(r *Incident) notify.Message {
	title := fmt.Sprintf(":clipboard: jobwatch started: %d jobs were already failing", r.SummaryCount)
	items := make([]string, 0, len(r.Summary))
	for _, it := range r.Summary {
		name := it.Name
		if name == "" {
			name = it.ID
		}
		items = append(items, fmt.Sprintf("%s *%s* (%s) on %s: `%s`", kindTitle[it.Kind], blockkit.Escape(name), blockkit.Escape(it.ID), blockkit.Escape(it.Queue), blockkit.Escape(it.Status)))
	}
	max := w.cfg.SummaryMax
	blocks := []slack.Block{
		blockkit.Header(title),
		blockkit.Section("These jobs had already failed when jobwatch first looked. They are recorded, not alerted one by one; a new failure of any of them will alert."),
	}
	if max > 0 {
		blocks = append(blocks, blockkit.List(items, max, "jobs"))
	}
	if more := r.SummaryCount - len(r.Summary); more > 0 {
		blocks = append(blocks, blockkit.Context(fmt.Sprintf("%d more not listed", more)))
	}
	blocks = append(blocks, blockkit.Context("jobwatch", "first poll "+fmtTime(r.Detected)))
	return notify.Message{Channel: r.Channel, Text: title, Blocks: blocks}
}

func (w *Watcher) selfwatchMessage(r *Incident) notify.Message {
	title := ":warning: jobwatch cannot see DLI since " + fmtTime(r.FailedAt)
	blocks := []slack.Block{
		blockkit.Header(title),
		blockkit.Section(fmt.Sprintf("Every poll since %s failed, so failures are not being detected. jobwatch keeps trying and will say here when it can see DLI again, then report what it missed (marked late).", fmtTime(r.FailedAt))),
	}
	if r.Detail != "" {
		blocks = append(blocks, blockkit.Section("*Last error*\n"+blockkit.Escape(r.Detail)))
	}
	blocks = append(blocks, blockkit.Context("jobwatch", "self-watch"))
	return notify.Message{Channel: r.Channel, Text: title, Blocks: blocks}
}

var secretRE = regexp.MustCompile(`(?i)((?:password|passwd|secret|token|access[_-]?key|secret[_-]?key|\bak\b|\bsk\b)\s*[=:]\s*)\S+`)

// redactLines hides key=value secrets in log lines before they reach Slack.
func redactLines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = secretRE.ReplaceAllString(l, "${1}<redacted>")
	}
	return out
}
