package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Sentinel errors, matched with errors.Is on the *Error values the notifiers return.
var (
	// ErrRateLimited: Slack answered 429 (or "ratelimited") and the bounded retries did not get
	// through. Retryable; RetryAfter says when.
	ErrRateLimited = errors.New("rate limited by Slack")
	// ErrUnavailable: Slack or the network failed (5xx, timeout, connection refused,
	// internal_error…). Retryable. The message may or may not have been posted.
	ErrUnavailable = errors.New("Slack unavailable")
	// ErrAuth: the token is invalid, revoked or expired (invalid_auth, not_authed, token_revoked…).
	// Not retryable: fix SLACK_BOT_TOKEN.
	ErrAuth = errors.New("Slack rejected the bot token")
	// ErrPermission: the token lacks a scope or the action is restricted (missing_scope,
	// restricted_action…). Not retryable.
	ErrPermission = errors.New("Slack denied the action")
	// ErrChannelNotFound: the channel does not exist or the bot cannot see it. Not retryable.
	ErrChannelNotFound = errors.New("channel not found")
	// ErrNotInChannel: the bot is not a member of the channel (invite it). Not retryable.
	ErrNotInChannel = errors.New("bot is not in the channel")
	// ErrChannelArchived: the channel is archived. Not retryable.
	ErrChannelArchived = errors.New("channel is archived")
	// ErrMessageTooLong: Slack found the message too long (msg_too_long, msg_blocks_too_long) despite
	// blockkit.Fit. Not retryable.
	ErrMessageTooLong = errors.New("message too long")
	// ErrInvalidMessage: the message or file is malformed (no_text, invalid_blocks…). Not retryable.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrEmptyMessage: a message with neither text nor blocks. Not retryable.
	ErrEmptyMessage = fmt.Errorf("%w: no text and no blocks", ErrInvalidMessage)
	// ErrMessageNotFound: the message to update (or thread to reply to) does not exist. Not
	// retryable.
	ErrMessageNotFound = errors.New("message not found")
	// ErrCantUpdate: the message cannot be edited (posted by someone else, edit window closed). Not
	// retryable.
	ErrCantUpdate = errors.New("message cannot be updated")
	// ErrNoChannel: no channel given and no default channel configured. Not retryable.
	ErrNoChannel = errors.New("no channel: set the message's channel or SLACK_CHANNEL")
	// ErrSlack: any other error Slack answered with (see Error.Code). Not retryable.
	ErrSlack = errors.New("Slack API error")
)

// Error is the error every notifier operation returns. It carries the retry decision, decided here
// where the cause is known.
type Error struct {
	// Op is the operation: "post", "reply", "update" or "upload".
	Op string
	// Channel is the channel the operation targeted.
	Channel string
	// Code is Slack's error code (e.g. "channel_not_found"), "http_<status>" for an HTTP failure,
	// "paced" when the channel's next free slot is further away than the notifier waits, or empty for
	// transport and local errors.
	Code string
	// Retryable reports whether sending again later may succeed.
	Retryable bool
	// RetryAfter is how long to wait before retrying, when Slack said so (429 Retry-After); zero
	// otherwise.
	RetryAfter time.Duration
	// Kind is one of the Err… sentinels.
	Kind error
	// Err is the underlying error, when there is one.
	Err error
}

// hints say what to do about the permanent failures an operator can fix.
var hints = map[error]string{
	ErrAuth:            "check SLACK_BOT_TOKEN",
	ErrPermission:      "add the missing scope to the Slack app, e.g. chat:write or files:write, and reinstall it",
	ErrChannelNotFound: "check the channel ID in SLACK_CHANNEL or the routing, and that the bot can see the channel",
	ErrNotInChannel:    "invite the bot to the channel with /invite",
	ErrChannelArchived: "unarchive the channel or route to another one",
	ErrNoChannel:       "",
}

// Error describes the failure without the token.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("notify: slack " + e.Op)
	if e.Channel != "" {
		b.WriteString(" to " + e.Channel)
	}
	b.WriteString(": ")
	head := ""
	if e.Kind != nil {
		head = e.Kind.Error()
	}
	var detail string
	if e.Err != nil {
		msg := e.Err.Error()
		switch {
		case strings.HasPrefix(msg, head):
			head = msg
		case msg != e.Code:
			detail = msg
		}
	}
	b.WriteString(head)
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if detail != "" {
		b.WriteString(": " + detail)
	}
	if e.RetryAfter > 0 && !strings.Contains(detail, "retry after") {
		b.WriteString("; retry after " + e.RetryAfter.String())
	}
	if !e.Retryable {
		b.WriteString("; not retryable")
		if h := hints[e.Kind]; h != "" {
			b.WriteString(" (" + h + ")")
		}
	}
	return b.String()
}

// Unwrap returns Kind and Err, so errors.Is matches both the sentinel and the cause.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// IsRetryable reports whether err is worth retrying later: a retryable *Error, or a context deadline
// or cancellation (the work was interrupted, not refused). nil is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// RetryAfter returns the wait Slack asked for, if err carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// codeKinds maps Slack error codes to a sentinel and whether retrying can help.
var codeKinds = map[string]struct {
	kind      error
	retryable bool
}{
	"ratelimited":         {ErrRateLimited, true},
	"rate_limited":        {ErrRateLimited, true},
	"internal_error":      {ErrUnavailable, true},
	"fatal_error":         {ErrUnavailable, true},
	"service_unavailable": {ErrUnavailable, true},
	"request_timeout":     {ErrUnavailable, true},
	"team_added_to_org":   {ErrUnavailable, true},

	"invalid_auth":     {ErrAuth, false},
	"not_authed":       {ErrAuth, false},
	"account_inactive": {ErrAuth, false},
	"token_revoked":    {ErrAuth, false},
	"token_expired":    {ErrAuth, false},
	"no_such_token":    {ErrAuth, false},

	"missing_scope":                            {ErrPermission, false},
	"no_permission":                            {ErrPermission, false},
	"not_allowed_token_type":                   {ErrPermission, false},
	"access_denied":                            {ErrPermission, false},
	"ekm_access_denied":                        {ErrPermission, false},
	"team_access_not_granted":                  {ErrPermission, false},
	"restricted_action":                        {ErrPermission, false},
	"restricted_action_read_only_channel":      {ErrPermission, false},
	"restricted_action_thread_only_channel":    {ErrPermission, false},
	"restricted_action_non_threadable_channel": {ErrPermission, false},
	"cannot_reply_to_message":                  {ErrPermission, false},

	"channel_not_found": {ErrChannelNotFound, false},
	"not_in_channel":    {ErrNotInChannel, false},
	"is_archived":       {ErrChannelArchived, false},

	"msg_too_long":        {ErrMessageTooLong, false},
	"msg_blocks_too_long": {ErrMessageTooLong, false},

	"no_text":                 {ErrInvalidMessage, false},
	"invalid_blocks":          {ErrInvalidMessage, false},
	"invalid_blocks_format":   {ErrInvalidMessage, false},
	"invalid_attachments":     {ErrInvalidMessage, false},
	"too_many_attachments":    {ErrInvalidMessage, false},
	"invalid_arguments":       {ErrInvalidMessage, false},
	"invalid_arg_name":        {ErrInvalidMessage, false},
	"invalid_form_data":       {ErrInvalidMessage, false},
	"invalid_charset":         {ErrInvalidMessage, false},
	"invalid_metadata_format": {ErrInvalidMessage, false},
	"metadata_too_large":      {ErrInvalidMessage, false},
	"invalid_thread_ts":       {ErrInvalidMessage, false},
	"file_not_found":          {ErrInvalidMessage, false},
	"invalid_upload":          {ErrInvalidMessage, false},

	"message_not_found": {ErrMessageNotFound, false},
	"thread_not_found":  {ErrMessageNotFound, false},

	"cant_update_message": {ErrCantUpdate, false},
	"edit_window_closed":  {ErrCantUpdate, false},
}

// defaultRetryAfter is the wait assumed for a 429 without a usable Retry-After header.
const defaultRetryAfter = time.Second

// classify turns what slack-go returned into an *Error. token is scrubbed from every message.
func classify(op, channel string, err error, token string) *Error {
	e := &Error{Op: op, Channel: channel, Err: scrub(err, token)}
	var (
		rl   *slack.RateLimitedError
		sc   slack.StatusCodeError
		sr   slack.SlackErrorResponse
		self *Error
		held *heldError
	)
	switch {
	case errors.As(err, &self):
		return self
	case errors.As(err, &held):
		e.Kind, e.Code, e.Retryable, e.RetryAfter = ErrRateLimited, "paced", true, held.wait
	case errors.As(err, &rl):
		e.Kind, e.Code, e.Retryable, e.RetryAfter = ErrRateLimited, "ratelimited", true, rl.RetryAfter
		if e.RetryAfter <= 0 {
			e.RetryAfter = defaultRetryAfter
		}
	case errors.As(err, &sc):
		e.Code = "http_" + strconv.Itoa(sc.Code)
		switch {
		case sc.Code == http.StatusTooManyRequests:
			e.Kind, e.Retryable, e.RetryAfter = ErrRateLimited, true, defaultRetryAfter
		case sc.Code >= 500:
			e.Kind, e.Retryable = ErrUnavailable, true
		case sc.Code == http.StatusUnauthorized:
			e.Kind = ErrAuth
		case sc.Code == http.StatusForbidden:
			e.Kind = ErrPermission
		default:
			e.Kind = ErrSlack
		}
	case errors.As(err, &sr):
		e.Code = sr.Err
		if k, ok := codeKinds[sr.Err]; ok {
			e.Kind, e.Retryable = k.kind, k.retryable
			if k.kind == ErrRateLimited {
				e.RetryAfter = defaultRetryAfter
			}
		} else {
			e.Kind = ErrSlack
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Retryable = ErrUnavailable, true
	default:
		// Transport failures (connection refused, reset, timeouts, a garbled response): the message may
		// or may not have arrived, and trying again later may work.
		e.Kind, e.Retryable = ErrUnavailable, true
	}
	return e
}

// scrub returns err unchanged unless its text contains the token, in which case it returns a new error
// with the token replaced (the chain is lost, the secret is not leaked).
func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "[REDACTED]"))
}

// localError is an *Error for a problem found before calling Slack.
func localError(op, channel string, err error) *Error {
	e := &Error{Op: op, Channel: channel, Err: err, Kind: ErrInvalidMessage}
	switch {
	case errors.Is(err, ErrNoChannel):
		e.Kind = ErrNoChannel
	case errors.Is(err, ErrInvalidMessage):
		e.Kind = ErrInvalidMessage
	}
	return e
}
