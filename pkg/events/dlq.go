package events

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead letter on dlibot.dlq.<function>. The dead letter's body
// and other headers are the original message's, unchanged, so it can be
// inspected and republished as is.
const (
	// HeaderDLQReason is why the message was dead-lettered: the handler's
	// Drop reason, "max deliveries exceeded" (with the last failure), or
	// "malformed: <decode error>".
	HeaderDLQReason = "Dlibot-Dlq-Reason"
	// HeaderDLQSubject is the subject the original was published on.
	HeaderDLQSubject = "Dlibot-Dlq-Subject"
	// HeaderDLQDeliveries is the original's delivery count (decimal).
	HeaderDLQDeliveries = "Dlibot-Dlq-Deliveries"
	// HeaderDLQFunction is the function that gave up.
	HeaderDLQFunction = "Dlibot-Dlq-Function"
	// HeaderDLQStream is the stream holding the original.
	HeaderDLQStream = "Dlibot-Dlq-Stream"
	// HeaderDLQSequence is the original's stream sequence (decimal).
	HeaderDLQSequence = "Dlibot-Dlq-Sequence"
	// HeaderDLQTime is when the message was dead-lettered (RFC 3339).
	HeaderDLQTime = "Dlibot-Dlq-Time"
)

// ReasonMaxDeliveries is the dead-letter reason when a message ran out of
// deliveries.
const ReasonMaxDeliveries = "max deliveries exceeded"

const maxReasonLen = 1024

// cleanReason makes reason a single header line of bounded length.
func cleanReason(reason string) string {
	reason = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r < ' ' {
			return ' '
		}
		return r
	}, reason)
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	return reason
}

// DeadLetter builds the DLQ copy of an original message: subject
// [DLQSubject](function), the original body and headers (without Nats-*
// headers and earlier Dlibot-Dlq-* headers) plus the Dlibot-Dlq-* headers.
// reason is flattened to one line of at most 1024 bytes.
func DeadLetter(function, subject string, header nats.Header, body []byte, reason string, deliveries int, stream string, seq uint64, now time.Time) *nats.Msg {
	m := nats.NewMsg(DLQSubject(function))
	for k, vs := range header {
		if strings.HasPrefix(strings.ToLower(k), "nats-") || strings.HasPrefix(strings.ToLower(k), "dlibot-dlq-") {
			continue
		}
		m.Header[k] = append([]string(nil), vs...)
	}
	m.Header.Set(HeaderDLQReason, cleanReason(reason))
	m.Header.Set(HeaderDLQSubject, subject)
	m.Header.Set(HeaderDLQDeliveries, strconv.Itoa(deliveries))
	m.Header.Set(HeaderDLQFunction, function)
	if stream != "" {
		m.Header.Set(HeaderDLQStream, stream)
		m.Header.Set(HeaderDLQSequence, strconv.FormatUint(seq, 10))
	}
	m.Header.Set(HeaderDLQTime, now.UTC().Format(time.RFC3339Nano))
	m.Data = body
	return m
}

// publishDeadLetter stores m with a Nats-Msg-Id naming the original, so a
// crash between the store and the Term does not store it twice within the
// DLQ stream's duplicate window. It tries three times (the DLQ is a
// separate hop from the handler's retries).
func publishDeadLetter(ctx context.Context, js jetstream.JetStream, m *nats.Msg, msgID string) error {
	var err error
	delay := 50 * time.Millisecond
	for i := range 3 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			delay *= 4
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = js.PublishMsg(pctx, m, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("events: store dead letter on %s: %w", m.Subject, err)
}
