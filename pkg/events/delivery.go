package events

import (
	"context"
	"time"
)

// Handler handles one CloudEvent and says what to do with it. It is called
// with a context carrying the [Delivery] (see [DeliveryFrom]); it must be
// safe for concurrent use. The same Handler serves the JetStream consumer,
// Lambda (no Delivery there) and tests.
type Handler func(ctx context.Context, e Event) Outcome

// Delivery describes the JetStream delivery an event arrived in.
type Delivery struct {
	// Function is the consuming function's name.
	Function string
	// Subject is the NATS subject the event was published on.
	Subject string
	// Stream is the stream holding the message.
	Stream string
	// StreamSeq is the message's sequence in Stream.
	StreamSeq uint64
	// Attempt is the delivery count, 1 on the first delivery.
	Attempt int
	// MaxDeliver is the number of deliveries allowed before the message goes
	// to the DLQ; Attempt == MaxDeliver is the last try.
	MaxDeliver int
	// Published is when JetStream stored the message.
	Published time.Time
}

type deliveryKey struct{}

type progressKey struct{}

// WithDelivery returns ctx carrying d. progress, if non-nil, is what
// [InProgress] calls; the consumer passes a function that extends the ack
// deadline and the dedup claim. Tests and adapters use it to fake a
// delivery.
func WithDelivery(ctx context.Context, d Delivery, progress func() error) context.Context {
	ctx = context.WithValue(ctx, deliveryKey{}, &d)
	if progress != nil {
		ctx = WithProgress(ctx, progress)
	}
	return ctx
}

// WithProgress returns ctx whose [InProgress] calls progress. The consumer
// and [Deduper] install theirs; hosts may add one (e.g. a Lambda adapter
// that logs).
func WithProgress(ctx context.Context, progress func() error) context.Context {
	return context.WithValue(ctx, progressKey{}, progress)
}

// DeliveryFrom returns the delivery of the event being handled, if the
// handler runs under a consumer (or [WithDelivery]).
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(*Delivery)
	if !ok {
		return Delivery{}, false
	}
	return *d, true
}

// InProgress tells JetStream the handler is still working on the event, so
// the message is not redelivered when [Config.AckWait] passes, and renews
// the dedup claim's lease. Long handlers call it at least once per AckWait.
// Outside a consumer (Lambda, plain tests) it does nothing and returns nil.
func InProgress(ctx context.Context) error {
	progress, ok := ctx.Value(progressKey{}).(func() error)
	if !ok || progress == nil {
		return nil
	}
	return progress()
}
