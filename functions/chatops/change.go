package chatops

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/functions/chatops/command"
	"github.com/dlibot/dlibot/functions/chatops/policy"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// Limits of `scale --for`.
const (
	minFor = time.Minute
	maxFor = 7 * 24 * time.Hour
)

// defaultSQLQueue is the queue DLI runs SQL on when none is named.
const defaultSQLQueue = "default"

// change is a previewed change: what it does, on which queue.
type change struct {
	title   string // confirmation dialog title
	button  string // confirm button label
	summary string // mrkdwn
	fields  []blockkit.Field
	queue   string
	fromCU  int
	dryRun  string // what a --dry-run would call
}

var planName = regexp.MustCompile(`^[A-Za-z0-9_]*[A-Za-z][A-Za-z0-9_]*$`)

// prepare checks a mutating command's arguments and limits against DLI's
// current state and describes it. A non-nil reply is a refusal.
func (s *Service) prepare(ctx context.Context, cmd *command.Command, role *policy.Role) (*change, *reply) {
	fail := func(msg string) (*change, *reply) { r := errorReply(msg); return nil, &r }
	deny := func(msg string) (*change, *reply) {
		r := errorReply(msg)
		r.decision = DecisionDenied
		return nil, &r
	}
	dliFail := func(op string, err error) (*change, *reply) { r := dliError(op, err); return nil, &r }
	switch cmd.Name() {
	case "scale":
		name := cmd.Args[0]
		cu, err := parseCU(cmd.Args[1])
		if err != nil {
			return fail(err.Error())
		}
		var dur time.Duration
		if v := cmd.Flag("for"); v != "" {
			if dur, err = time.ParseDuration(v); err != nil || dur < minFor || dur > maxFor {
				return fail(fmt.Sprintf("`--for %s`: want a duration from 1m to 168h, e.g. `2h` or `90m`.", v))
			}
		}
		if !role.AllowsCU(cu) {
			return deny(fmt.Sprintf("Your role (%s) may scale to at most %d CU; %d asked.", role.Name, role.MaxCU, cu))
		}
		q, err := s.dli.GetQueue(ctx, name)
		if err != nil {
			return dliFail("queue "+name, err)
		}
		if q.CUScaleOutLimit > 0 && cu > q.CUScaleOutLimit {
			return fail(fmt.Sprintf("Queue %s may scale to at most %d CU (its scale-out limit); %d asked.", q.Name, q.CUScaleOutLimit, cu))
		}
		if q.CUScaleInLimit > 0 && cu < q.CUScaleInLimit {
			return fail(fmt.Sprintf("Queue %s may scale to no less than %d CU (its scale-in limit); %d asked.", q.Name, q.CUScaleInLimit, cu))
		}
		if cu == q.CUs {
			return fail(fmt.Sprintf("Queue %s already has %d CU.", q.Name, cu))
		}
		delta := cu - q.CUs
		dir := dli.ScaleOut
		if delta < 0 {
			dir = dli.ScaleIn
		}
		c := &change{title: "Scale queue " + q.Name + "?", button: fmt.Sprintf("Scale to %d CU", cu), queue: q.Name, fromCU: q.CUs,
			summary: fmt.Sprintf("scale queue *%s* from *%d* to *%d* CU", blockkit.Escape(q.Name), q.CUs, cu),
			fields: []blockkit.Field{{Label: "Current", Value: fmt.Sprintf("%d CU (%s)", q.CUs, s.cost(q.CUs))},
				{Label: "Target", Value: fmt.Sprintf("%d CU (%s)", cu, s.cost(cu))},
				{Label: "Delta", Value: signed(delta) + " CU"},
				{Label: "Cost delta", Value: "≈ " + s.costDelta(delta)}},
			dryRun: fmt.Sprintf("PUT /v1.0/{project_id}/queues/%s/action {\"action\":%q,\"cu_count\":%d}", q.Name, dir, abs(delta))}
		if dur > 0 {
			c.fields = append(c.fields, blockkit.Field{Label: "Reverts", Value: fmt.Sprintf("to %d CU after %s", q.CUs, shortDuration(dur))})
		}
		return c, nil
	case "plan add":
		queue, name := cmd.Args[0], cmd.Args[1]
		if !planName.MatchString(name) || len(name) > 128 || strings.HasPrefix(name, "_") {
			return fail(fmt.Sprintf("`%s` is not a plan name: letters, digits and underscores, not only digits, not starting with _.", name))
		}
		cu, err := parseCU(cmd.Args[2])
		if err != nil {
			return fail(err.Error())
		}
		h, m, err := parseHHMM(cmd.Args[3])
		if err != nil {
			return fail(err.Error())
		}
		days, err := parseDays(cmd.Args[4:])
		if err != nil {
			return fail(err.Error())
		}
		if !role.AllowsCU(cu) {
			return deny(fmt.Sprintf("Your role (%s) may plan at most %d CU; %d asked.", role.Name, role.MaxCU, cu))
		}
		q, err := s.dli.GetQueue(ctx, queue)
		if err != nil {
			return dliFail("queue "+queue, err)
		}
		if q.CUScaleOutLimit > 0 && cu > q.CUScaleOutLimit {
			return fail(fmt.Sprintf("Queue %s may scale to at most %d CU; the plan asks %d.", q.Name, q.CUScaleOutLimit, cu))
		}
		return &change{title: "Add plan to " + q.Name + "?", button: "Add plan", queue: q.Name, fromCU: q.CUs,
			summary: fmt.Sprintf("add scheduled CU change *%s* to queue *%s*", blockkit.Escape(name), blockkit.Escape(q.Name)),
			fields: []blockkit.Field{{Label: "Target", Value: fmt.Sprintf("%d CU (%s)", cu, s.cost(cu))},
				{Label: "At", Value: fmt.Sprintf("%02d:%02d", h, m)}, {Label: "Days", Value: weekdays(days)},
				{Label: "Now", Value: fmt.Sprintf("%d CU", q.CUs)}}}, nil
	case "plan rm":
		queue := cmd.Args[0]
		id, err := strconv.ParseInt(cmd.Args[1], 10, 64)
		if err != nil || id <= 0 {
			return fail(fmt.Sprintf("`%s` is not a plan id (see `/dli plans %s`).", cmd.Args[1], queue))
		}
		plans, err := s.dli.ListPlans(ctx, queue)
		if err != nil {
			return dliFail("plans of "+queue, err)
		}
		for _, p := range plans {
			if p.ID == id {
				return &change{title: "Delete plan " + p.Name + "?", button: "Delete plan", queue: queue,
					summary: fmt.Sprintf("delete scheduled CU change *%s* (%d) of queue *%s*", blockkit.Escape(p.Name), id, blockkit.Escape(queue)),
					fields: []blockkit.Field{{Label: "Target", Value: fmt.Sprintf("%d CU", p.TargetCU)},
						{Label: "At", Value: fmt.Sprintf("%02d:%02d %s", p.StartHour, p.StartMinute, weekdays(p.RepeatDays))}}}, nil
			}
		}
		return fail(fmt.Sprintf("Queue %s has no plan %d (see `/dli plans %s`).", queue, id, queue))
	case "flink stop", "flink start":
		id, err := parseFlinkID(cmd.Args[0])
		if err != nil {
			return fail(err.Error())
		}
		j, err := s.dli.GetFlinkJob(ctx, id)
		if err != nil {
			return dliFail("Flink job "+cmd.Args[0], err)
		}
		verb, how := "Stop", ""
		if cmd.Name() == "flink start" {
			verb = "Start"
			if cmd.Bool("resume") {
				how = " from its latest savepoint"
			}
		} else if cmd.Bool("savepoint") {
			how = " after taking a savepoint"
		}
		return &change{title: fmt.Sprintf("%s Flink job %d?", verb, id), button: verb + " job", queue: j.Queue,
			summary: fmt.Sprintf("%s Flink job *%d* (%s) on queue *%s*%s", strings.ToLower(verb), id, blockkit.Escape(j.Name), blockkit.Escape(j.Queue), how),
			fields:  []blockkit.Field{{Label: "Status", Value: string(j.Status)}, {Label: "Queue", Value: j.Queue}}}, nil
	case "spark cancel":
		b, err := s.dli.GetBatch(ctx, cmd.Args[0])
		if err != nil {
			return dliFail("Spark job "+cmd.Args[0], err)
		}
		if b.State.Terminal() {
			return fail(fmt.Sprintf("Spark job %s has already ended (%s).", b.ID, b.State))
		}
		return &change{title: "Cancel Spark job?", button: "Cancel job", queue: b.Queue,
			summary: fmt.Sprintf("cancel Spark job *%s* (%s) on queue *%s*", blockkit.Escape(b.Name), blockkit.Escape(b.ID), blockkit.Escape(b.Queue)),
			fields:  []blockkit.Field{{Label: "State", Value: string(b.State)}, {Label: "Running for", Value: fmtDuration(b.Duration)}}}, nil
	case "sql cancel":
		j, err := s.dli.SQLJobStatus(ctx, cmd.Args[0])
		if err != nil {
			return dliFail("SQL job "+cmd.Args[0], err)
		}
		if j.Status.Terminal() {
			return fail(fmt.Sprintf("SQL job %s has already ended (%s).", cmd.Args[0], j.Status))
		}
		return &change{title: "Cancel SQL job?", button: "Cancel job", queue: j.Queue,
			summary: fmt.Sprintf("cancel SQL job *%s* on queue *%s*", blockkit.Escape(cmd.Args[0]), blockkit.Escape(j.Queue)),
			fields:  []blockkit.Field{{Label: "Status", Value: string(j.Status)}, {Label: "Statement", Value: blockkit.Clip(j.Statement, 200)}}}, nil
	case "sql":
		queue := cmd.Flag("queue")
		if queue == "" {
			queue = defaultSQLQueue
		}
		return &change{title: "Run this SQL?", button: "Run statement", queue: queue,
			summary: fmt.Sprintf("run a statement that writes, on queue *%s*:\n```%s```", blockkit.Escape(queue), blockkit.Escape(blockkit.Clip(cmd.Args[0], 2500)))}, nil
	}
	return fail(fmt.Sprintf("`%s` changes nothing.", cmd.Name()))
}

// shortDuration prints 2h0m0s as 2h and 1h30m0s as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func parseCU(s string) (int, error) {
	cu, err := strconv.Atoi(s)
	if err != nil || cu <= 0 || cu%16 != 0 {
		return 0, fmt.Errorf("`%s` is not a CU count: DLI wants a positive multiple of 16 (16, 32, 48, …)", s)
	}
	return cu, nil
}

func parseHHMM(s string) (int, int, error) {
	hs, ms, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(ms) != 2 {
		return 0, 0, fmt.Errorf("`%s` is not a time of day: want HH:MM, e.g. 07:30", s)
	}
	return h, m, nil
}

var dayNames = map[string][]time.Weekday{
	"mon": {time.Monday}, "tue": {time.Tuesday}, "wed": {time.Wednesday}, "thu": {time.Thursday},
	"fri": {time.Friday}, "sat": {time.Saturday}, "sun": {time.Sunday},
	"daily":    {time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday},
	"weekdays": {time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
	"weekends": {time.Saturday, time.Sunday},
}

func parseDays(args []string) ([]time.Weekday, error) {
	seen := map[time.Weekday]bool{}
	var out []time.Weekday
	for _, a := range args {
		for _, part := range strings.Split(strings.ToLower(a), ",") {
			if part == "" {
				continue
			}
			key := part
			if len(key) > 3 && dayNames[key] == nil {
				key = key[:3]
			}
			ds, ok := dayNames[key]
			if !ok {
				names := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun", "daily", "weekdays", "weekends"}
				msg := fmt.Sprintf("`%s` is not a day: use mon…sun, daily, weekdays or weekends", part)
				if sug := command.Suggest(part, names); sug != "" {
					msg += fmt.Sprintf(" (did you mean `%s`?)", sug)
				}
				return nil, errors.New(msg)
			}
			for _, d := range ds {
				if !seen[d] {
					seen[d] = true
					out = append(out, d)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("name at least one day: mon…sun, daily, weekdays or weekends")
	}
	return out, nil
}

// request handles a mutating command: preview, dry run, or a stored
// confirmation with buttons.
func (s *Service) request(ctx context.Context, req request, cmd *command.Command, role *policy.Role) reply {
	ch, refusal := s.prepare(ctx, cmd, role)
	if refusal != nil {
		return *refusal
	}
	if cmd.Bool("dry-run") {
		blocks := blockkit.Blocks(
			blockkit.Section("🧪 *Dry run:* would "+ch.summary+"."),
			blockkit.Fields(ch.fields...),
			blockkit.Section("DLI call: `"+blockkit.Escape(ch.dryRun)+"`"),
			blockkit.Context(s.approvalNote(ch.queue)+" · nothing was changed"),
		)
		return reply{text: "Dry run: would " + ch.summary, blocks: blocks, outcome: OutcomeOK, decision: DecisionDryRun}
	}
	if s.ReadOnly() {
		r := errorReply(fmt.Sprintf("`%s` changes DLI and %s.", cmd.Name(), ErrNeedsNATS))
		r.decision = DecisionUnavailable
		return r
	}
	now := s.now()
	p := &pending{ID: newID(), Stage: StageConfirm, Text: req.Text, User: req.User, UserName: req.UserName, Channel: req.Channel,
		Team: req.Team, Role: role.Name, Created: now, Expires: now.Add(s.cfg.ConfirmTTL), Queue: ch.queue,
		Protected: s.pol.Protected(ch.queue), FromCU: ch.fromCU, ResponseURL: req.ResponseURL, Since: req.Received, Summary: ch.summary}
	if err := s.st.putPending(ctx, p, s.cfg.ConfirmTTL); err != nil {
		s.log.Error("chatops: storing confirmation failed", "err", err)
		return errorReply("Could not store the confirmation (NATS KV); nothing was changed. Try again.")
	}
	return reply{text: "Confirm: " + ch.summary, outcome: OutcomePending, decision: DecisionConfirmRequested, ids: nil,
		blocks: s.confirmBlocks(p, ch), confirmation: p.ID}
}

func (s *Service) approvalNote(queue string) string {
	if s.pol.Protected(queue) {
		return "queue " + queue + " is protected: a second person must approve"
	}
	return "chatops"
}

func (s *Service) confirmBlocks(p *pending, ch *change) []slack.Block {
	note := fmt.Sprintf("expires in %s", roundMinutes(s.cfg.ConfirmTTL))
	if p.Protected {
		note += " · protected queue: after you confirm, a second person must approve"
	}
	return blockkit.Blocks(
		blockkit.Section(fmt.Sprintf("<@%s> asks to %s.", p.User, ch.summary)),
		blockkit.Fields(ch.fields...),
		blockkit.Actions("pending:"+p.ID,
			blockkit.Button{ActionID: actionConfirm, Text: ch.button, Value: p.ID, Style: blockkit.Primary,
				Confirm: &blockkit.Confirm{Title: ch.title, Text: "This changes DLI now.", Confirm: "Yes", Deny: "Back", Danger: true}},
			blockkit.Button{ActionID: actionCancel, Text: "Cancel", Value: p.ID},
		),
		blockkit.Context(note),
	)
}

func roundMinutes(d time.Duration) string {
	return fmt.Sprintf("%d min", int(d.Round(time.Minute).Minutes()))
}

// click handles one button click.
func (s *Service) click(ctx context.Context, c *clickAction) {
	received := time.Now()
	start := s.now()
	a := &AuditRecord{User: c.User, UserName: c.UserName, Channel: c.Channel, Team: c.Team, TriggerID: c.TriggerID, Confirmation: c.Value}
	r := s.within(ctx, c.ResponseURL, a, start, &deferred{Kind: kindClick, Click: c}, func(ctx context.Context) reply { return s.act(ctx, c, a) })
	if r.working && !r.noStore {
		// the result replaces the clicked message when it is ready (no
		// interim post: it could overtake the result)
		return
	}
	m := r.message()
	m.ReplaceOriginal = !r.newMessage
	final := true
	if r.working {
		// the result may not follow: say so in a message of its own (the
		// result, if it comes, replaces the clicked one)
		m.ReplaceOriginal, final = false, false
	}
	// post in the background and wait for it only as long as Slack waits
	// for the acknowledgement
	posted := make(chan struct{})
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer close(posted)
		pctx, cancel := context.WithTimeout(s.bgCtx, 10*time.Second)
		defer cancel()
		if err := s.resp.post(pctx, c.ResponseURL, m, final); err != nil {
			s.log.Warn("chatops: click answer not delivered", "err", err)
		}
	}()
	wait := time.NewTimer(max(0, clickAckLimit-time.Since(received)))
	defer wait.Stop()
	select {
	case <-posted:
	case <-wait.C:
	}
}

// clickAckLimit is how long a click's handler may take before it answers
// Slack 200 (Slack waits 3 s).
const clickAckLimit = 2700 * time.Millisecond

// act decides and runs a click. It fills the audit record's command fields.
func (s *Service) act(ctx context.Context, c *clickAction, a *AuditRecord) reply {
	p, rev, err := s.st.getPending(ctx, c.Value)
	switch {
	case errors.Is(err, ErrNeedsNATS):
		r := errorReply(ErrNeedsNATS.Error())
		r.decision = DecisionUnavailable
		return r
	case errors.Is(err, errGone):
		r := errorReply("This request is unknown, expired or already used. Run the command again.")
		r.decision = DecisionExpired
		return r
	case err != nil:
		s.log.Error("chatops: reading confirmation failed", "err", err)
		return errorReply("Could not read the confirmation (NATS KV). Try again.")
	}
	auditFromPending(a, p)
	key := "pending." + p.ID
	if !s.now().Before(p.Expires) {
		_ = s.st.claim(ctx, key, rev)
		r := errorReply(fmt.Sprintf("This request expired at %s. Run the command again.", fmtTime(p.Expires)))
		r.decision = DecisionExpired
		return r
	}
	refuse := func(decision, msg string) reply {
		r := errorReply(msg)
		r.decision = decision
		r.newMessage = true // keep the buttons for the right person
		return r
	}
	claim := func() *reply {
		if err := s.st.claim(ctx, key, rev); err != nil {
			r := errorReply("This request was already answered.")
			if !errors.Is(err, errClaimed) {
				s.log.Error("chatops: claiming confirmation failed", "err", err)
				r = errorReply("Could not claim the confirmation (NATS KV). Try again.")
			}
			r.decision = DecisionExpired
			return &r
		}
		return nil
	}
	switch c.Action {
	case actionConfirm, actionCancel:
		if p.Stage != StageConfirm {
			return refuse(DecisionDenied, "This request waits for approval; use Approve or Deny.")
		}
		if c.User != p.User {
			return refuse(DecisionDenied, fmt.Sprintf("Only <@%s>, who asked, can confirm or cancel this.", p.User))
		}
		if r := claim(); r != nil {
			return *r
		}
		return s.afterClaim(ctx, c, p, a)
	case actionApprove, actionDeny:
		if p.Stage != StageApprove {
			return refuse(DecisionDenied, "This request has no approval step.")
		}
		a.Approver = c.User
		if c.Action == actionApprove && c.User == p.User {
			return refuse(DecisionSelfApproval, "You cannot approve your own request; someone else with the right role must.")
		}
		if c.User != p.User {
			cmd, err := command.Parse(p.Text)
			if err != nil {
				return errorReply("The stored command no longer parses.")
			}
			role := s.role(ctx, c.User, c.Channel)
			if role != nil {
				a.Role = role.Name
			}
			if !role.Allows(cmd.Name()) || (cmd.Name() == "sql" && !role.Allows(command.SQLWrite)) || !cuAllowed(cmd, role) {
				return refuse(DecisionDenied, fmt.Sprintf("Your role (%s) may not approve `%s`.", roleName(role), cmd.Name()))
			}
		}
		if r := claim(); r != nil {
			return *r
		}
		return s.afterClaim(ctx, c, p, a)
	}
	return errorReply("Unknown action.")
}

// auditFromPending fills the audit record's command fields from the
// confirmation a click answers.
func auditFromPending(a *AuditRecord, p *pending) {
	a.Text, a.Role, a.Requester = p.Text, p.Role, p.User
	if cmd, err := command.Parse(p.Text); err == nil {
		a.Command = cmd.Name()
	}
}

// afterClaim carries out a click whose confirmation p it consumed (also
// when the tick resumes a deferred click). The claim is recorded first, so
// a taker resumes here instead of clicking again.
func (s *Service) afterClaim(ctx context.Context, c *clickAction, p *pending, a *AuditRecord) reply {
	if err := s.claimed(ctx, p); err != nil {
		s.log.Error("chatops: recording the claimed confirmation failed", "err", err)
		return notSent(err)
	}
	switch c.Action {
	case actionConfirm, actionCancel:
		if c.Action == actionCancel {
			return reply{text: "Cancelled: " + p.Summary, blocks: blockkit.Blocks(blockkit.Section("✖️ Cancelled: " + p.Summary + ".")),
				outcome: OutcomeNone, decision: DecisionCancelled, replace: true}
		}
		if p.Protected {
			return s.askApproval(ctx, p, c)
		}
		r := s.execute(ctx, p)
		r.decision = DecisionConfirmed
		return r
	case actionApprove, actionDeny:
		a.Approver = c.User
		if c.Action == actionDeny {
			who := "rejected"
			if c.User == p.User {
				who = "withdrawn"
			}
			return reply{text: "Request " + who, blocks: blockkit.Blocks(blockkit.Section(fmt.Sprintf("✖️ <@%s> %s the request to %s.", c.User, who, p.Summary))),
				outcome: OutcomeNone, decision: DecisionRejected, inChannel: true, replace: true}
		}
		r := s.execute(ctx, p)
		r.decision = DecisionApproved
		r.inChannel = true
		r.text = fmt.Sprintf("Approved by <@%s>: %s", c.User, r.text)
		r.blocks = append([]slack.Block{blockkit.Context(fmt.Sprintf("approved by <@%s> · requested by <@%s>", c.User, p.User))}, r.blocks...)
		return r
	}
	return errorReply("Unknown action.")
}

// cuAllowed checks the role's CU ceiling for scale and plan add.
func cuAllowed(cmd *command.Command, role *policy.Role) bool {
	var raw string
	switch cmd.Name() {
	case "scale":
		raw = cmd.Args[1]
	case "plan add":
		raw = cmd.Args[2]
	default:
		return true
	}
	cu, err := strconv.Atoi(raw)
	return err == nil && role.AllowsCU(cu)
}

// askApproval turns a confirmed request on a protected queue into an
// approval request posted in the channel.
func (s *Service) askApproval(ctx context.Context, p *pending, c *clickAction) reply {
	now := s.now()
	ap := *p
	ap.ID, ap.Stage, ap.Created, ap.Expires = newID(), StageApprove, now, now.Add(s.cfg.ConfirmTTL)
	if err := s.effect(ctx, "posting the approval request to "+p.Summary, ""); err != nil {
		return notSent(err)
	}
	if err := s.st.putPending(ctx, &ap, s.cfg.ConfirmTTL); err != nil {
		s.log.Error("chatops: storing approval failed", "err", err)
		return errorReply("Could not store the approval request (NATS KV); nothing was changed.")
	}
	ask := reply{inChannel: true, text: fmt.Sprintf("<@%s> asks for approval to %s", p.User, p.Summary), blocks: blockkit.Blocks(
		blockkit.Section(fmt.Sprintf("🔐 <@%s> asks for approval to %s.", p.User, ap.Summary)),
		blockkit.Actions("approval:"+ap.ID,
			blockkit.Button{ActionID: actionApprove, Text: "Approve", Value: ap.ID, Style: blockkit.Primary,
				Confirm: &blockkit.Confirm{Title: "Approve this change?", Text: "It runs as soon as you approve.", Confirm: "Approve", Deny: "Back", Danger: true}},
			blockkit.Button{ActionID: actionDeny, Text: "Deny", Value: ap.ID, Style: blockkit.Danger},
		),
		blockkit.Context(fmt.Sprintf("queue %s is protected · the requester cannot approve · expires in %s", p.Queue, roundMinutes(s.cfg.ConfirmTTL))),
	)}
	if err := s.resp.post(ctx, c.ResponseURL, ask.message(), false); err != nil {
		s.log.Warn("chatops: approval request not posted", "err", err)
		return errorReply("Could not post the approval request to the channel; nothing was changed.")
	}
	return reply{text: "Waiting for approval", blocks: blockkit.Blocks(blockkit.Section(fmt.Sprintf("⏳ Confirmed. Waiting for a second person to approve: %s.", p.Summary))),
		outcome: OutcomePending, decision: DecisionApprovalAsked, confirmation: ap.ID, replace: true}
}
