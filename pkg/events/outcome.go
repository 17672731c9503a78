package events

import (
	"fmt"
	"time"
)

// OutcomeKind says what the consumer does with a message after its handler
// returned.
type OutcomeKind int

// The outcome kinds.
const (
	// KindAck: done; the message is acknowledged.
	KindAck OutcomeKind = iota
	// KindRetry: failed for now; the message is redelivered after a delay
	// (NakWithDelay), up to [Config.MaxDeliver] deliveries in all.
	KindRetry
	// KindDrop: failed for good; the message is terminated and copied to
	// the function's dead-letter subject with the reason.
	KindDrop
)

// String returns "ack", "retry" or "drop".
func (k OutcomeKind) String() string {
	switch k {
	case KindAck:
		return "ack"
	case KindRetry:
		return "retry"
	case KindDrop:
		return "drop"
	}
	return fmt.Sprintf("OutcomeKind(%d)", int(k))
}

// Outcome is what a [Handler] returns: [Ack], [Retry] or [Drop]. The zero
// Outcome is Ack. Long work reports progress with [InProgress] while it runs
// instead of returning.
type Outcome struct {
	kind   OutcomeKind
	after  time.Duration
	reason string
}

// Ack reports that the event was handled (or deliberately ignored); the
// message is acknowledged and the dedup claim completed.
func Ack() Outcome { return Outcome{} }

// Retry reports a transient failure: the message is redelivered after
// (NakWithDelay; a negative after counts as 0) and the dedup claim released.
// On the last allowed delivery ([Config.MaxDeliver]) the message goes to the
// DLQ with reason "max deliveries exceeded" instead.
func Retry(after time.Duration) Outcome {
	if after < 0 {
		after = 0
	}
	return Outcome{kind: KindRetry, after: after}
}

// Drop reports a permanent failure: the message is terminated (never
// redelivered) and a copy goes to dlibot.dlq.<function> carrying reason.
// reason must not contain secrets; it is stored and shown to operators.
func Drop(reason string) Outcome {
	if reason == "" {
		reason = "dropped by handler"
	}
	return Outcome{kind: KindDrop, reason: reason}
}

// Kind returns the outcome's kind.
func (o Outcome) Kind() OutcomeKind { return o.kind }

// After returns a Retry's delay (0 for other kinds).
func (o Outcome) After() time.Duration { return o.after }

// Reason returns a Drop's reason ("" for other kinds).
func (o Outcome) Reason() string { return o.reason }

// String describes the outcome, e.g. "retry after 5s" or "drop: bad rule".
func (o Outcome) String() string {
	switch o.kind {
	case KindRetry:
		return "retry after " + o.after.String()
	case KindDrop:
		return "drop: " + o.reason
	}
	return o.kind.String()
}
