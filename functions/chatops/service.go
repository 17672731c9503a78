package chatops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/functions/chatops/command"
	"github.com/dlibot/dlibot/functions/chatops/policy"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// DLI is the part of the DLI API chatops uses; *dli.Client satisfies it.
type DLI interface {
	ListQueues(ctx context.Context, typ dli.QueueType) ([]dli.Queue, error)
	GetQueue(ctx context.Context, name string) (dli.Queue, error)
	ScaleQueue(ctx context.Context, name string, dir dli.ScaleDirection, cus int) error
	ListPlans(ctx context.Context, queue string) ([]dli.Plan, error)
	CreatePlan(ctx context.Context, queue string, spec dli.PlanSpec) error
	DeletePlan(ctx context.Context, queue string, id int64) error
	ListFlinkJobs(ctx context.Context, q dli.FlinkJobQuery) (dli.FlinkJobPage, error)
	GetFlinkJob(ctx context.Context, id int64) (dli.FlinkJob, error)
	StopFlinkJobs(ctx context.Context, ids []int64, triggerSavepoint bool) ([]dli.FlinkResult, error)
	RunFlinkJobs(ctx context.Context, ids []int64, resumeSavepoint bool) ([]dli.FlinkResult, error)
	ListBatches(ctx context.Context, q dli.BatchQuery) (dli.BatchPage, error)
	GetBatch(ctx context.Context, id string) (dli.SparkBatch, error)
	BatchLogs(ctx context.Context, id string, q dli.LogQuery) (dli.BatchLog, error)
	CancelBatch(ctx context.Context, id string) error
	SubmitSQL(ctx context.Context, req dli.SQLRequest) (dli.SQLSubmission, error)
	SQLJobStatus(ctx context.Context, jobID string) (dli.SQLJob, error)
	PreviewSQLResult(ctx context.Context, jobID, queue string) (dli.SQLResult, error)
	CancelSQLJob(ctx context.Context, jobID string) error
	ListSQLJobs(ctx context.Context, q dli.SQLJobQuery) (dli.SQLJobPage, error)
}

// Options builds a Service.
type Options struct {
	// Config is chatops' configuration; required.
	Config *Config
	// Policy is the validated policy; required.
	Policy *policy.Policy
	// DLI is the DLI client; required.
	DLI DLI
	// JS enables confirmations, approvals, reverts and the shared replay
	// guard (KV bucket dlibot_chatops); nil runs read-only.
	JS jetstream.JetStream
	// Secrets are the Slack signing secrets, current first (rotation).
	Secrets []string
	// Notifier posts to channels when a response_url is spent or expired
	// (revert and SQL notices) and uploads long output; nil disables both.
	Notifier notify.Notifier
	// Publish stores audit events; nil logs them only.
	Publish func(ctx context.Context, subject string, e events.Event) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HTTPClient posts to response URLs; default a 10s-timeout client.
	// Redirects are never followed.
	HTTPClient *http.Client
	// Groups resolves Slack user-group membership; nil means none (set it
	// with NewSlackGroups when grants name groups).
	Groups interface {
		Groups(ctx context.Context, user string) []string
	}
	// Lambda says the process may be frozen as soon as an answer is
	// returned (AWS Lambda). With JS, a command or click still running
	// after the ack budget is then stored as deferred work in the KV bucket
	// before "working…" is answered, and the tick completes it if this
	// invocation does not; without JS the "working…" answer says its
	// result may not follow. False (`dlibot serve`, `dlibot dev`) keeps
	// the result in a goroutine of this process.
	Lambda bool
}

// Service is the chatops function: HTTP handlers for commands and clicks,
// and a tick handler for reverts and SQL watches.
type Service struct {
	cfg      Config
	pol      *policy.Policy
	dli      DLI
	st       store
	replay   replayGuard
	secrets  []string
	notifier notify.Notifier
	publish  func(ctx context.Context, subject string, e events.Event) error
	log      *slog.Logger
	now      func() time.Time
	resp     *responder
	groups   groupResolver
	lambda   bool

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup // every background goroutine (Close waits)
	inflight sync.WaitGroup // commands and clicks still running (tests wait)

	mu       sync.Mutex
	watching map[string]bool // SQL job ids polled in this process
}

// New builds a Service. With opts.JS it creates the KV bucket.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Config == nil || o.Policy == nil || o.DLI == nil {
		return nil, errors.New("chatops: Options.Config, Policy and DLI are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{cfg: *o.Config, pol: o.Policy, dli: newReadCache(o.DLI, o.Config.ReadCacheTTL, o.Now), secrets: nonEmptyStrings(o.Secrets), notifier: o.Notifier,
		publish: o.Publish, log: o.Logger, now: o.Now, watching: map[string]bool{}, lambda: o.Lambda}
	s.resp = newResponder(&s.cfg, o.HTTPClient, o.Now)
	if o.Groups != nil {
		s.groups = o.Groups
	} else {
		s.groups = staticGroups(nil)
	}
	if o.JS != nil {
		kv, err := ensureBucket(ctx, o.JS)
		if err != nil {
			return nil, err
		}
		s.st = store{kv: kv}
		s.replay = kvReplay{kv: kv}
	} else {
		s.replay = newMemReplay(s.cfg.ReplayCacheSize)
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// NewSlackGroups returns a group resolver over Slack's usergroups.list
// (bot token needs usergroups:read), cached for cfg.GroupCacheTTL.
func NewSlackGroups(cfg *Config, token, apiURL string, now func() time.Time, log *slog.Logger) interface {
	Groups(ctx context.Context, user string) []string
} {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return newSlackGroups(token, apiURL, cfg.GroupCacheTTL, now, log)
}

func nonEmptyStrings(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ReadOnly reports whether the service runs without NATS.
func (s *Service) ReadOnly() bool { return s.st.kv == nil }

// Close stops background work (SQL pollers, revert timers) and waits for
// it, at most until ctx is done.
func (s *Service) Close(ctx context.Context) error {
	s.bgCancel()
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request is one slash command.
type request struct {
	User, UserName, Channel, Team string
	Text, ResponseURL, TriggerID  string
	Received                      time.Time
}

// reply is an answer to show, with what the audit record needs.
type reply struct {
	text      string
	blocks    []slack.Block
	inChannel bool
	replace   bool
	outcome   string
	reason    string
	ids       []string
	decision  string // overrides the audit decision when set
	// confirmation is the pending action created (audit).
	confirmation string
	// newMessage posts a click's answer as a new message instead of
	// replacing the clicked one (keeps the buttons for the right person).
	newMessage bool
	// working marks the interim "working…" answer of a slow command.
	working bool
	// noStore marks a "working…" answer whose result could not be stored
	// for later (Lambda): it says so.
	noStore bool
}

func (r reply) message() message {
	m := message{ResponseType: "ephemeral", Text: r.text, Blocks: blockkit.Fit(r.blocks), ReplaceOriginal: r.replace}
	if r.inChannel {
		m.ResponseType = "in_channel"
	}
	if m.Text == "" {
		m.Text = blockkit.Fallback(m.Blocks)
	}
	m.Text = blockkit.FitText(m.Text)
	return m
}

// ServeCommand handles POST /slack/commands.
func (s *Service) ServeCommand(w http.ResponseWriter, r *http.Request) {
	body, err := s.readVerified(r)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed form body"})
		return
	}
	if form.Get("ssl_check") == "1" {
		w.WriteHeader(http.StatusOK)
		return
	}
	req := request{User: form.Get("user_id"), UserName: form.Get("user_name"), Channel: form.Get("channel_id"),
		Team: form.Get("team_id"), Text: form.Get("text"), ResponseURL: form.Get("response_url"),
		TriggerID: form.Get("trigger_id"), Received: s.now()}
	if req.User == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "missing user_id"})
		return
	}
	rep := s.handle(r.Context(), req)
	writeJSON(w, http.StatusOK, rep.message())
}

// ServeInteraction handles POST /slack/interactions (button clicks). It
// answers 200 at once when the work is done or handed to the background;
// results go to the click's response_url.
func (s *Service) ServeInteraction(w http.ResponseWriter, r *http.Request) {
	body, err := s.readVerified(r)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	c, err := decodeInteraction(body)
	if err != nil {
		s.log.Warn("chatops: interaction refused", "err", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed interaction payload"})
		return
	}
	if c.Type != "block_actions" {
		w.WriteHeader(http.StatusOK)
		return
	}
	s.click(r.Context(), c)
	w.WriteHeader(http.StatusOK)
}

func (s *Service) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusUnauthorized
	var ve *verifyError
	if errors.As(err, &ve) {
		status = ve.status
	}
	s.log.Warn("chatops: request refused", "path", r.URL.Path, "status", status, "reason", err.Error(), "remote", r.RemoteAddr)
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// role resolves the caller's role.
func (s *Service) role(ctx context.Context, user, channel string) *policy.Role {
	sub := policy.Subject{User: user, Channel: channel}
	if s.pol.HasGroupGrants() {
		sub.Groups = s.groups.Groups(ctx, user)
	}
	return s.pol.Resolve(sub)
}

// handle runs one slash command and returns the immediate answer. The
// audit record is emitted when the final answer is known (maybe later).
func (s *Service) handle(ctx context.Context, req request) reply {
	a := &AuditRecord{User: req.User, UserName: req.UserName, Channel: req.Channel, Team: req.Team,
		Text: req.Text, TriggerID: req.TriggerID}
	fn, now := s.commandFn(ctx, req, a)
	if now != nil {
		s.emitAudit(ctx, a, req.Received)
		return *now
	}
	return s.within(ctx, req.ResponseURL, a, req.Received, &deferred{Kind: kindCommand, Req: &req}, fn)
}

// commandFn checks a slash command (parse, help, policy) and returns the
// work to run, or the answer when there is none to run (the audit
// decision is then in a).
func (s *Service) commandFn(ctx context.Context, req request, a *AuditRecord) (func(context.Context) reply, *reply) {
	answer := func(r reply) (func(context.Context) reply, *reply) { return nil, &r }
	cmd, err := command.Parse(req.Text)
	if err != nil {
		a.Decision, a.Reason = DecisionInvalid, err.Error()
		return answer(errorReply(err.Error()))
	}
	a.Command = cmd.Name()
	role := s.role(ctx, req.User, req.Channel)
	if role != nil {
		a.Role = role.Name
	}
	if cmd.Help {
		a.Decision = DecisionHelp
		return answer(helpFor(cmd.Spec, role))
	}
	if !role.Allows(cmd.Name()) {
		a.Decision, a.Reason = DecisionDenied, "command not allowed for role"
		return answer(denied(cmd.Name(), role))
	}
	mutating := cmd.Spec.Mutating
	if cmd.Name() == "sql" && !command.ReadOnlySQL(cmd.Args[0]) {
		if !role.Allows(command.SQLWrite) {
			a.Decision, a.Reason = DecisionDenied, "statement is not read-only; role lacks sql write"
			return answer(errorReply(fmt.Sprintf("Only SELECT, SHOW, DESCRIBE and EXPLAIN statements are allowed for your role (%s). Ask someone with `sql write`.", roleName(role))))
		}
		mutating = true
	}
	if !mutating {
		return func(ctx context.Context) reply { return s.read(ctx, req, cmd, role) }, nil
	}
	return func(ctx context.Context) reply { return s.request(ctx, req, cmd, role) }, nil
}

// fillAudit completes an audit record from the final answer.
func fillAudit(a *AuditRecord, r reply) {
	a.Outcome, a.Reason, a.DLIIDs = r.outcome, r.reason, r.ids
	if a.Decision == "" || r.decision != "" {
		a.Decision = r.decision
	}
	if r.confirmation != "" {
		a.Confirmation = r.confirmation
	}
	if a.Decision == "" {
		a.Decision = DecisionAllowed
	}
}

// within runs fn for at most AckBudget; a slower fn answers "working…"
// now, and its result goes to responseURL when it is ready. The audit
// record is completed from fn's reply either way. In Lambda, tmpl (the
// command or click) is stored as deferred work before "working…" is
// answered, so the result follows even if this process is frozen.
func (s *Service) within(ctx context.Context, responseURL string, a *AuditRecord, start time.Time, tmpl *deferred, fn func(context.Context) reply) reply {
	done := make(chan reply, 1)
	rn := newRun(s)
	wctx, cancel := context.WithTimeout(s.bgCtx, s.cfg.CommandTimeout)
	rn.cancel = cancel
	if tmpl != nil {
		tmpl.Since, tmpl.Audit = start, *a // a as known before fn fills it
	}
	s.bg.Add(1)
	s.inflight.Add(1)
	go func() {
		defer s.bg.Done()
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("chatops: command panicked", "panic", fmt.Sprint(p), "command", a.Command)
				done <- errorReply("Something went wrong on our side; the error is logged.")
			}
		}()
		done <- fn(withRun(wctx, rn))
	}()
	finish := func(r reply) {
		fillAudit(a, r)
		s.emitAudit(ctx, a, start)
	}
	t := time.NewTimer(s.cfg.AckBudget)
	defer t.Stop()
	select {
	case r := <-done:
		rn.end()
		finish(r)
		s.inflight.Done()
		return r
	case <-t.C:
	}
	select {
	case r := <-done: // finished while the timer fired
		rn.end()
		finish(r)
		s.inflight.Done()
		return r
	default:
	}
	working := s.deferReply(ctx, rn, tmpl)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.inflight.Done()
		r := <-done
		actx, cancel := context.WithTimeout(s.bgCtx, time.Second)
		err := rn.adopt(actx)
		cancel()
		if err == nil {
			s.settle(ctx, rn, r, a)
			return
		}
		if errors.Is(err, errLostRun) {
			rn.end()
			return // a tick has it
		}
		rn.end()
		finish(r)
		r.replace = true
		if err := s.resp.post(s.bgCtx, responseURL, r.message(), true); err != nil {
			s.log.Warn("chatops: delayed answer not delivered", "err", err, "command", a.Command, "user", a.User)
		}
	}()
	return working
}

func roleName(r *policy.Role) string {
	if r == nil {
		return "none"
	}
	return r.Name
}
