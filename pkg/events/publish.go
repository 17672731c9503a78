package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher is the part of jetstream.JetStream that publishing needs.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// PublishOption configures [Publish].
type PublishOption func(*publishOpts)

type publishOpts struct {
	msgID string
}

// WithMsgID sets the Nats-Msg-Id header: JetStream stores a message with an
// id it has seen within the stream's duplicate window only once (the ack
// then reports Duplicate). Use a stable id such as "<source>/<id>".
func WithMsgID(id string) PublishOption { return func(o *publishOpts) { o.msgID = id } }

// Publish stores e on subject in JetStream as a structured CloudEvent and
// waits for the stream's ack, so a caller (the HTTP receiver) may answer
// 2xx only once the event is stored. A duplicate (same Nats-Msg-Id within
// the window) is not an error; the returned ack has Duplicate set.
func Publish(ctx context.Context, js Publisher, subject string, e Event, opts ...PublishOption) (*jetstream.PubAck, error) {
	var o publishOpts
	for _, opt := range opts {
		opt(&o)
	}
	m, err := NewMsg(subject, e)
	if err != nil {
		return nil, err
	}
	var popts []jetstream.PublishOpt
	if o.msgID != "" {
		popts = append(popts, jetstream.WithMsgID(o.msgID))
	}
	ack, err := js.PublishMsg(ctx, m, popts...)
	if err != nil {
		return nil, fmt.Errorf("events: publish %s on %s: %w", e.ID(), subject, err)
	}
	return ack, nil
}

// TickID is the CloudEvent id and Nats-Msg-Id of the tick of function for
// the period starting at periodStart: "<function>/<periodStart RFC 3339 UTC>".
func TickID(function string, periodStart time.Time) string {
	return function + "/" + periodStart.UTC().Format(time.RFC3339)
}

// PublishTick publishes the tick of function for the period starting at
// periodStart on [TickSubject]. Every replica may call it: the
// Nats-Msg-Id [TickID] lets the stream keep one tick per period as long as
// the replicas publish within DLIBOT_IN's duplicate window
// ([StreamOptions.Duplicates]); dedup on the CloudEvent id then keeps a
// second copy from being handled. It reports whether this call stored the
// tick (false: another replica's tick was already stored).
func PublishTick(ctx context.Context, js Publisher, function string, periodStart time.Time) (stored bool, err error) {
	if err := ValidName(function); err != nil {
		return false, err
	}
	id := TickID(function, periodStart)
	e, err := NewEvent(id, SourceTick, TypeTick, Tick{Function: function, PeriodStart: periodStart.UTC()})
	if err != nil {
		return false, err
	}
	ack, err := Publish(ctx, js, TickSubject(function), e, WithMsgID(id))
	if err != nil {
		return false, err
	}
	return !ack.Duplicate, nil
}
