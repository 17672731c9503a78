package events

import "time"

// Result is how a delivery ended, as reported to an [Observer].
type Result string

// The results.
const (
	// ResultAck: the handler returned Ack.
	ResultAck Result = "ack"
	// ResultRetry: the handler returned Retry (or panicked, or the dedup
	// claim is held by another delivery); the message is redelivered.
	ResultRetry Result = "retry"
	// ResultDrop: the handler returned Drop; the message went to the DLQ.
	ResultDrop Result = "drop"
	// ResultDuplicate: the event was already handled; acked without calling
	// the handler.
	ResultDuplicate Result = "duplicate"
	// ResultMalformed: the message is not a CloudEvent; it went to the DLQ.
	ResultMalformed Result = "malformed"
	// ResultPanic: the handler panicked; the message is redelivered.
	ResultPanic Result = "panic"
	// ResultExhausted: the message ran out of deliveries; it went to the
	// DLQ.
	ResultExhausted Result = "exhausted"
)

// Observer receives the consumer's metrics hooks. pkg/host implements it
// with Prometheus; methods are called concurrently and must not block.
type Observer interface {
	// Received is called for every delivery; ceType is "" when the message
	// could not be decoded.
	Received(function, ceType string)
	// Handled is called when a delivery ends, with how long the handler ran
	// (0 when it was not called).
	Handled(function, ceType string, result Result, took time.Duration)
	// DeadLettered is called when a copy was stored on the DLQ subject.
	DeadLettered(function, ceType, reason string)
}

// NopObserver is an [Observer] that does nothing.
type NopObserver struct{}

// Received does nothing.
func (NopObserver) Received(string, string) {}

// Handled does nothing.
func (NopObserver) Handled(string, string, Result, time.Duration) {}

// DeadLettered does nothing.
func (NopObserver) DeadLettered(string, string, string) {}
