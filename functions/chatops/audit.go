package chatops

import (
	"context"
	"log/slog"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
)

// Decisions recorded in the audit trail.
const (
	DecisionAllowed          = "allowed"           // a read command ran
	DecisionDenied           = "denied"            // the policy refused it
	DecisionInvalid          = "invalid"           // the text did not parse
	DecisionHelp             = "help"              // help was shown
	DecisionDryRun           = "dry_run"           // --dry-run: shown, nothing changed
	DecisionConfirmRequested = "confirm_requested" // a Confirm button was offered
	DecisionConfirmed        = "confirmed"         // the requester confirmed; it ran
	DecisionApprovalAsked    = "approval_requested"
	DecisionApproved         = "approved" // a second person approved; it ran
	DecisionRejected         = "rejected" // a second person (or the requester) declined
	DecisionCancelled        = "cancelled"
	DecisionExpired          = "expired"
	DecisionSelfApproval     = "self_approval_refused"
	DecisionUnavailable      = "unavailable" // needs NATS
	DecisionAutoRevert       = "auto_revert" // a --for revert ran
)

// Outcomes recorded in the audit trail.
const (
	OutcomeOK      = "ok"
	OutcomeError   = "error"
	OutcomePending = "pending"
	OutcomeNone    = "none"
)

// AuditRecord is the data of a dlibot.chatops.command CloudEvent, published
// on dlibot.out.chatops.command for every command and click.
type AuditRecord struct {
	// User and UserName are the Slack user who typed or clicked.
	User     string `json:"user"`
	UserName string `json:"user_name,omitempty"`
	// Channel and Team are where.
	Channel string `json:"channel"`
	Team    string `json:"team,omitempty"`
	// Text is the command text as typed (for a click, the command it
	// confirms).
	Text string `json:"text"`
	// Command is the parsed command name ("scale"), empty when it did not
	// parse.
	Command string `json:"command,omitempty"`
	// Role is the caller's effective role, empty for none.
	Role string `json:"role,omitempty"`
	// Decision is one of the Decision* values.
	Decision string `json:"decision"`
	// Reason explains a denial or failure.
	Reason string `json:"reason,omitempty"`
	// Outcome is ok, error, pending (confirmation or background work) or
	// none.
	Outcome string `json:"outcome"`
	// DLIIDs are the DLI job, plan or request ids involved.
	DLIIDs []string `json:"dli_ids,omitempty"`
	// Confirmation is the pending action's id for confirm flows.
	Confirmation string `json:"confirmation,omitempty"`
	// Requester is who asked, on an approval by someone else.
	Requester string `json:"requester,omitempty"`
	// Approver is who approved or rejected.
	Approver string `json:"approver,omitempty"`
	// TriggerID is Slack's trigger_id of the request.
	TriggerID string `json:"trigger_id,omitempty"`
	// LatencyMS is the time from receipt to the final answer, in ms.
	LatencyMS int64 `json:"latency_ms"`
	// Time is when the record was made (UTC).
	Time time.Time `json:"time"`
}

// AuditSubject is the subject of the audit events.
var AuditSubject = events.OutSubject("chatops", "command")

// emitAudit publishes a (Publish set) and always logs it.
func (s *Service) emitAudit(ctx context.Context, a *AuditRecord, start time.Time) {
	now := s.now()
	a.Time = now.UTC()
	a.LatencyMS = now.Sub(start).Milliseconds()
	if a.Outcome == "" {
		a.Outcome = OutcomeNone
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "chatops command",
		slog.String("user", a.User), slog.String("channel", a.Channel), slog.String("command", a.Command),
		slog.String("role", a.Role), slog.String("decision", a.Decision), slog.String("outcome", a.Outcome),
		slog.Any("dli_ids", a.DLIIDs), slog.Int64("latency_ms", a.LatencyMS))
	if s.publish == nil {
		return
	}
	e, err := events.NewEvent(newID(), events.FunctionSource("chatops"), events.TypeChatopsCommand, a)
	if err != nil {
		s.log.Error("chatops: audit event", "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.publish(pctx, AuditSubject, e); err != nil {
		s.log.Error("chatops: publishing audit event failed", "err", err, "decision", a.Decision, "user", a.User)
	}
}
